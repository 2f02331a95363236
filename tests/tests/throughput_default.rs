//! The 50 two-node TCP tests of `throughput/cases.rs` in the default mode: libtest, and a
//! sandbox process per test; `throughput_harness` runs the same tests in harness mode.

#[path = "throughput/cases.rs"]
mod cases;
