//! The harness mode: every `#[netns_test]` of a `harness = false` test target runs in one
//! process, on threads of its own, each with a fresh network, and no process is started
//! per test.
//!
//! ```toml
//! # Cargo.toml
//! [[test]]
//! name = "network"          # tests/network.rs
//! harness = false
//! ```
//!
//! ```no_run
//! // tests/network.rs
//! use netns_test::{netns_test, presets, Net};
//!
//! #[netns_test(topology = presets::bridge_pair())]
//! fn b_has_its_address(net: Net) {
//!     assert_eq!(net.node("b").ip().to_string(), "10.0.0.3");
//! }
//!
//! netns_test::main!();
//! ```
//!
//! The same attribute, the same tests: `#[netns_test]` registers every test for this mode
//! too (in a list the linker gathers, see `linkme`), and [`main`] runs the registered ones
//! with [libtest-mimic](https://docs.rs/libtest-mimic), so the command line is libtest's
//! (a filter, `--exact`, `--skip`, `--ignored`, `--include-ignored`, `--list --format
//! terse`, `--test-threads` or `RUST_TEST_THREADS`, `--nocapture`) and `cargo test` and
//! `cargo nextest run` run the target as any other.
//!
//! What a test gets is what it gets in the default mode:
//!
//! - The process enters its user, mount and network namespaces once, first thing in
//!   [`main`] ([`Lab::enter`]); a machine that does not allow it fails every selected
//!   test with the diagnosis (cause and remedy), never passes them. The tests then run in
//!   a child that is PID 1 of a PID namespace of its own, with its own `/proc`: when the
//!   run ends, however it ends, the kernel ends every program a test left running, as a
//!   sandbox's end does.
//! - Each test runs on a thread of its own, which first moves into a network namespace of
//!   its own: the test's `host` node, where the topology is built as in a sandbox. Its
//!   network's runtime starts from that thread, so the body, `tokio::spawn`ed tasks
//!   included, sees the `host` node as in the default mode; its nodes, names, rules and
//!   node files are its own network's (the tests `harness_isolation` of the project's own
//!   suite run two such tests at the same time, with the same names, addresses and
//!   ports).
//! - `#[should_panic]` is judged as libtest does, against the body's own panic only: a
//!   topology that cannot be built or a timeout fails the test whatever it says.
//! - The timeout (the attribute's, else `NETNS_TEST_TIMEOUT`, else 60 s) fails the test
//!   "timed out after ...", with its diagnostics folder written at that moment. A thread
//!   cannot be killed: the body of a timed-out test goes on running in its own network
//!   until the process ends, which does not wait for it. The other tests are not affected.
//! - A failing test writes its diagnostics folder as in the default mode, and with
//!   `NETNS_TEST_PAUSE_ON_FAILURE` set pauses as there, its network up and its clock
//!   stopped (one test at a time; see the README).
//! - A test that finds at run time that it cannot do what it is for calls [`ignore`]: it
//!   is reported *ignored*, with the reason, instead of passing.
//! - A binary none of whose tests registered (plain `#[test]` functions, which only
//!   libtest runs) fails instead of passing with 0 tests.
//!
//! What differs, and why:
//!
//! - One process: a test that calls `std::process::exit` (whatever the code) would end
//!   every test. It does not pass unnoticed: an exit handler names the test(s) that were
//!   running, says that the others did not run, and ends the process with code 101.
//!   Under `cargo nextest run`, which starts a process per test, it fails that test alone.
//! - Output is not captured (libtest-mimic cannot capture on stable Rust): under
//!   `cargo test`, the lines of tests running at the same time interleave, and a passing
//!   test's output is shown; nextest captures each test's output as usual.
//! - The mount and PID namespaces are the run's: a body that mounts something does so for
//!   every test, `/proc/net/...` shows the main thread's network (read
//!   `/proc/thread-self/net/...`, or use the node's programs), and a program a test leaves
//!   running lives until the run ends (in the default mode, until the test's end).
//! - The file descriptor and thread limits are shared by the tests running at once.
//! - One filter on the command line (libtest takes several), and the reason of
//!   `#[ignore = "..."]` is not printed.

use libtest_mimic::Arguments;

use crate::net::Lab;
use crate::sandbox::verdict::Ignored;

mod exit_guard;
mod pause;
mod pid_namespace;
pub(crate) mod registry;
mod trial;

pub use registry::{tests, Test};

/// The `main` of a `harness = false` test target whose tests are `#[netns_test]`s:
/// `netns_test::main!();` at the end of the file.
///
/// ```no_run
/// use netns_test::{netns_test, Net};
///
/// #[netns_test]
/// fn host_has_loopback(net: Net) {
///     assert!(net.host().ifaces().is_empty());
/// }
///
/// netns_test::main!(); // fn main() { netns_test::harness::main() }
/// ```
///
/// In a target that libtest runs (without `harness = false`) it is unused: libtest's own
/// `main` replaces it, and the tests run in the default mode.
#[macro_export]
macro_rules! main {
    () => {
        fn main() {
            $crate::harness::main()
        }
    };
}

/// Runs the `#[netns_test]` tests of this binary in harness mode (see the [module
/// docs](self)) and exits: code 0 when every test that ran passed, 101 otherwise, as
/// libtest.
///
/// Call it first in `main` (or use [`main!`](crate::main!)): it enters the namespaces,
/// which a process that already runs threads cannot do. A machine that does not allow it
/// fails every selected test with the diagnosis.
pub fn main() -> ! {
    // Before anything starts a thread.
    let lab = Lab::enter();
    let mut args = Arguments::from_args();
    // As libtest: `--test-threads`, else `RUST_TEST_THREADS`, else one per CPU.
    if args.test_threads.is_none() {
        args.test_threads = std::env::var("RUST_TEST_THREADS")
            .ok()
            .and_then(|n| n.trim().parse().ok())
            .filter(|&n: &usize| n > 0);
    }
    let tests = tests();
    if tests.is_empty() && !args.list {
        // Never "0 passed" for a suite whose tests did not register.
        eprintln!(
            "netns-test: this binary has no #[netns_test] test, so netns_test::main!() has \
             nothing to run. Plain #[test] functions do not run in a `harness = false` \
             target (only libtest runs them): make them #[netns_test] functions, or remove \
             `harness = false` and netns_test::main!()."
        );
        std::process::exit(101);
    }
    let trials = match &lab {
        Ok(lab) => tests.into_iter().map(|t| trial::trial(t.0, lab)).collect(),
        Err(e) => {
            if !args.list {
                eprintln!("netns-test: no test of this binary can run: {e}");
            }
            tests
                .into_iter()
                .map(|t| trial::cannot_run(t.0, e))
                .collect()
        }
    };
    if lab.is_ok() && !args.list {
        // Still the only thread: the namespace's PID 1 is a fork of this process.
        if let Err(e) = pid_namespace::enter() {
            eprintln!(
                "netns-test: warning: the tests run without a PID namespace of their own \
                 ({e}): programs they leave running outlive this process"
            );
        }
        exit_guard::install();
    }
    let failed = libtest_mimic::run(&args, trials).has_failed();
    let code = if failed { 101 } else { 0 };
    pid_namespace::done(code);
    std::process::exit(i32::from(code))
}

/// Ends the calling test as *ignored*, with `reason`: for a test that finds at run time
/// that it cannot do what it is for (`#[ignore]` is decided before the run). Call it from
/// the test body's own thread (not from a thread or task it started).
///
/// In harness mode the test is reported `ignored (reason)` and counted as ignored. Under
/// `cargo nextest run`, which judges a test by its process's exit status alone, the
/// process exits 0 and nextest counts it as passed; its output says `ignored (reason)`.
/// In the default mode, where libtest has no such outcome, the test **fails** with the
/// reason: it never passes unnoticed.
///
/// ```no_run
/// use netns_test::{harness, netns_test, Net};
///
/// #[netns_test]
/// fn needs_two_threads(net: Net) {
///     if std::env::var_os("NEXTEST_RUN_ID").is_some() {
///         harness::ignore("nextest runs each test in a process of its own");
///     }
///     let _server = net.node("b");
///     // ...
/// }
/// # netns_test::main!();
/// ```
pub fn ignore(reason: impl Into<String>) -> ! {
    // Unwinds without the panic hook: nothing is printed as a panic.
    std::panic::resume_unwind(Box::new(Ignored(reason.into())))
}
