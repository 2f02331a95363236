//! The 50 two-node TCP tests of `throughput/cases.rs` in the default mode: libtest, and a
//! sandbox process per test. `scripts/harness-throughput.sh` compares it with
//! `throughput_harness`, the same tests in harness mode.

#[path = "throughput/cases.rs"]
mod cases;
