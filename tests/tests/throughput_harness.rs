//! The 50 two-node TCP tests of `throughput/cases.rs` in harness mode: one process, a
//! thread and a fresh network per test; `throughput_default` runs the same tests in the
//! default mode.

#[path = "throughput/cases.rs"]
mod cases;

netns_test::main!();
