//! Misuses of `#[netns_test]` and the errors they produce, one per file in `ui/`.
//!
//! After changing a message, regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p netns-test-suite --test compile_fail` and review the
//! `.stderr` files.

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
}
