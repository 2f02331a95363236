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
//! - A failing test writes its diagnostics folder as in the default mode.
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

use std::cell::Cell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Trial};

use crate::diag::{self, Diag};
use crate::error::Error;
use crate::net::{Lab, Net};
use crate::sandbox::{self, BodyEnd, TestResult, ENV_TIMEOUT};
use std::os::fd::AsFd;

use crate::environment::explain;
use crate::{kernel, sys};

pub(crate) mod registry;

use registry::{Registered, TESTS};

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
    if TESTS.is_empty() && !args.list {
        // Never "0 passed" for a suite whose tests did not register.
        eprintln!(
            "netns-test: this binary has no #[netns_test] test, so netns_test::main!() has \
             nothing to run. Plain #[test] functions do not run in a `harness = false` \
             target (only libtest runs them): make them #[netns_test] functions, or remove \
             `harness = false` and netns_test::main!()."
        );
        std::process::exit(101);
    }
    // In libtest's order: by name (the linker's order is no order at all).
    let mut tests: Vec<&'static Registered> = TESTS.iter().collect();
    tests.sort_by_key(|t| sandbox::test_name(t.spec.path));
    let trials = match &lab {
        Ok(lab) => tests.into_iter().map(|t| trial(t, lab)).collect(),
        Err(e) => {
            if !args.list {
                eprintln!("netns-test: no test of this binary can run: {e}");
            }
            tests.into_iter().map(|t| cannot_run(t, e)).collect()
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

/// The payload with which [`ignore`] unwinds the body.
pub(crate) struct Ignored(pub(crate) String);

impl Ignored {
    /// The reason, when `payload` is an [`ignore`]'s.
    pub(crate) fn reason(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
        payload.downcast_ref::<Ignored>().map(|i| i.0.as_str())
    }
}

/// The trial of one registered test.
fn trial(test: &'static Registered, lab: &Lab) -> Trial {
    let lab = lab.clone();
    Trial::ignorable_test(sandbox::test_name(test.spec.path), move || {
        run(test, &lab).map_err(Into::into)
    })
    .with_ignored_flag(test.ignore)
}

/// The trial of a test that cannot run: the process could not enter its namespaces.
fn cannot_run(test: &'static Registered, why: &Error) -> Trial {
    let name = sandbox::test_name(test.spec.path);
    let msg = format!("netns-test: test {name} cannot run: {why}");
    Trial::test(name, move || Err(msg.into())).with_ignored_flag(test.ignore)
}

/// What the test's thread tells the trial.
enum Msg {
    /// The network is built and the body starts; the diagnostics, for the timeout.
    Ready(Arc<Mutex<Option<Diag>>>),
    /// The test's outcome: passed or ignored, or why it failed.
    Done(Result<Completion, String>),
}

/// Runs one test on a thread of its own and waits for it, at most its timeout.
fn run(test: &'static Registered, lab: &Lab) -> Result<Completion, String> {
    let name = sandbox::test_name(test.spec.path);
    let timeout = sandbox::timeout(&test.spec)?;
    let (tx, rx) = mpsc::channel();
    let lab = lab.clone();
    let id = exit_guard::started(name);
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || test_thread(test, &lab, timeout, &tx));
    if let Err(e) = spawned {
        exit_guard::ended(id);
        return Err(
            explain(Error::sys(format!("starting the thread of test {name}"), e)).to_string(),
        );
    }
    let deadline = Instant::now() + timeout;
    let mut diag = None;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Msg::Ready(d)) => diag = Some(d),
            Ok(Msg::Done(result)) => {
                exit_guard::ended(id);
                return result;
            }
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => {
                exit_guard::ended(id);
                return Err(format!(
                    "netns-test: the thread of test {name} ended without reporting an outcome"
                ));
            }
        }
    }
    // The timeout: the thread cannot be stopped, only left behind.
    exit_guard::ended(id);
    let phase = if diag.is_some() {
        "while its body ran"
    } else {
        "before its network was built"
    };
    let note = diag.map_or(String::new(), |d| dump_on_timeout(&d, timeout));
    Err(format!(
        "netns-test: test {name} timed out after {timeout:?} {phase} (raise it with \
         #[netns_test(timeout = \"...\")] or {ENV_TIMEOUT}). In harness mode a test runs on a \
         thread of this process, which cannot be killed: it goes on running, in its own \
         network, until the process ends; the other tests are not affected.{note}"
    ))
}

/// Writes the diagnostics of a test that timed out, as they are now; waits for it at most
/// [`diag::DUMP_GRACE`]. Returns what the failure message adds about it.
fn dump_on_timeout(slot: &Mutex<Option<Diag>>, timeout: Duration) -> String {
    let Some(d) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return String::new();
    };
    let (tx, rx) = mpsc::channel();
    let outcome = format!(
        "timed out after {timeout:?} (harness mode: the test's thread goes on running after \
         this folder is written)"
    );
    let spawned = std::thread::Builder::new()
        .name("netns-test-dump".to_string())
        .spawn(move || {
            d.failed(&outcome);
            let _ = tx.send(());
        });
    match spawned {
        Err(e) => format!(" Its diagnostics could not be written: no thread for it ({e})."),
        Ok(_) => match rx.recv_timeout(diag::DUMP_GRACE) {
            Ok(()) => String::new(),
            Err(_) => format!(
                " Its diagnostics were not written within {:?}.",
                diag::DUMP_GRACE
            ),
        },
    }
}

/// The test's own thread: a network namespace of its own (the `host` node), the network
/// built there, the body, the verdict; the network is torn down after the report.
fn test_thread(test: &'static Registered, lab: &Lab, timeout: Duration, tx: &Sender<Msg>) {
    exit_guard::enter_test(sandbox::test_name(test.spec.path));
    let net = match setup(test, lab) {
        Ok(net) => net,
        Err(e) => {
            let _ = tx.send(Msg::Done(Err(e)));
            return;
        }
    };
    // Capture starts after the build, before the body; the folder is written on failure.
    let diag = Arc::new(Mutex::new(Some(Diag::start(
        test.spec.path,
        timeout,
        &net,
        false,
    ))));
    let _ = tx.send(Msg::Ready(Arc::clone(&diag)));
    // Held until the report: the network lives as long as the test, whatever the body
    // does with its own handle.
    let keep = net.clone();
    let outcome = catch_unwind(AssertUnwindSafe(|| (test.body)(net).into_outcome()));
    if let Some(reason) = outcome.as_ref().err().and_then(|p| Ignored::reason(&**p)) {
        let ignored = Completion::ignored_with(reason);
        // Taken, unless the timeout took it first (the test has been reported then).
        if let Some(d) = diag.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(Msg::Done(Ok(ignored)));
            d.passed(test.spec.keep_artifacts);
        }
        drop(keep);
        return;
    }
    let message = match &outcome {
        Err(payload) => sandbox::panic_message(&**payload),
        Ok(_) => None,
    };
    let end = match &outcome {
        Ok(Ok(())) => BodyEnd::Returned,
        Ok(Err(msg)) => BodyEnd::Err(msg),
        Err(_) => BodyEnd::Panicked(message.as_deref()),
    };
    let verdict = sandbox::verdict(test.spec.should_panic, end);
    // `None` once the timeout took it: the test has been reported already.
    let diag = diag.lock().unwrap_or_else(|e| e.into_inner()).take();
    let keep_artifacts = test.spec.keep_artifacts;
    match (verdict, diag) {
        (Ok(()), Some(d)) if d.keeps_when_passing(keep_artifacts) => {
            d.passed(keep_artifacts);
            let _ = tx.send(Msg::Done(Ok(Completion::Completed)));
        }
        // Reported first: closing the capture sockets waits for an RCU grace period.
        (Ok(()), Some(d)) => {
            let _ = tx.send(Msg::Done(Ok(Completion::Completed)));
            d.passed(keep_artifacts);
        }
        (Err(why), Some(d)) => {
            d.failed(&why);
            let _ = tx.send(Msg::Done(Err(why)));
        }
        (verdict, None) => {
            let _ = tx.send(Msg::Done(verdict.map(|()| Completion::Completed)));
        }
    }
    drop(keep);
}

/// The test's network: its topology, evaluated here (a panic in it fails the test), built
/// with this thread's new network namespace as its `host` node.
fn setup(test: &Registered, lab: &Lab) -> Result<Net, String> {
    let name = sandbox::test_name(test.spec.path);
    let topology = catch_unwind(test.topology).map_err(|payload| {
        format!(
            "netns-test: the topology expression of test {name} panicked: {}",
            sandbox::panic_message(&*payload)
                .as_deref()
                .unwrap_or("(a non-string payload)")
        )
    })?;
    let built = own_netns().and_then(|()| lab.build_here(&topology, true));
    built.map_err(|e| format!("netns-test could not build the topology of {name}: {e}"))
}

/// Moves the calling thread into a new, [`kernel::pool::prepare`]d network namespace
/// (only this thread: a thread's network namespace is its own).
fn own_netns() -> crate::Result<()> {
    let what = "creating the network namespace of the host node";
    let sys_err = |e| explain(Error::sys(what, e));
    let back = sys::current_netns().map_err(sys_err)?;
    let (ns, prepared) = kernel::pool::take(back.as_fd()).map_err(sys_err)?;
    sys::enter_netns(ns.as_fd()).map_err(sys_err)?;
    if !prepared {
        kernel::pool::prepare().map_err(sys_err)?;
    }
    Ok(())
}

/// The tests run as PID 1 of a PID namespace of their own, as a sandbox's test does: when
/// the run ends, however it ends, the kernel kills every process in it, so no program a
/// test started and left running outlives the run.
mod pid_namespace {
    use std::io::Read;

    use nix::sched::CloneFlags;
    use nix::sys::signal::Signal;
    use nix::sys::wait::WaitStatus;
    use nix::unistd::ForkResult;

    use super::*;

    /// PID 1's end of the pipe on which it reports the run's exit code ([`done`]).
    static DONE: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

    /// Makes a new PID namespace and forks its PID 1, which returns and runs the tests;
    /// this process waits for it and exits as it did (a signal that killed it kills this
    /// process too). PID 1 dies with this process (`PR_SET_PDEATHSIG`): a runner that
    /// kills the test binary (nextest's timeout, Ctrl-C) ends every test and program.
    ///
    /// Once every test has been reported, PID 1 says so ([`done`]) and this process exits
    /// with its code at once: the rest of PID 1's exit (closing capture sockets waits for
    /// the kernel's RCU grace periods, several ms each) goes on in the background, as a
    /// sandbox's does in the default mode, with its output already released.
    pub(super) fn enter() -> io::Result<()> {
        // Refused with more than one thread, as the fork below would be.
        let threads = sys::thread_count()?;
        if threads > 1 {
            return Err(io::Error::other(format!(
                "the process already runs {threads} threads"
            )));
        }
        nix::sched::unshare(CloneFlags::CLONE_NEWPID)?;
        // Closed by this process's death: how the child knows that its parent was gone
        // before its PR_SET_PDEATHSIG was set.
        let (alive_r, alive_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let (done_r, done_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        match crate::sys::fork_single_threaded()? {
            ForkResult::Child => {
                drop(alive_w);
                drop(done_r);
                let _ = DONE.set(std::fs::File::from(done_w));
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
                let mut alive = std::fs::File::from(alive_r);
                nix::fcntl::fcntl(
                    &alive,
                    nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
                )?;
                if let Ok(0) = alive.read(&mut [0u8; 1]) {
                    std::process::exit(101);
                }
                // This PID namespace's own /proc (best effort, as in a sandbox).
                let _ = sys::mount_proc();
                Ok(())
            }
            ForkResult::Parent { child } => {
                drop(alive_r);
                drop(done_w);
                let mut done = std::fs::File::from(done_r);
                let mut code = [0u8; 1];
                loop {
                    match done.read(&mut code) {
                        Ok(1) => std::process::exit(i32::from(code[0])),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        // Ended without reporting (a signal, `process::exit` in a test):
                        // its status says how.
                        _ => break,
                    }
                }
                let status = loop {
                    match nix::sys::wait::waitpid(child, None) {
                        Err(nix::errno::Errno::EINTR) => continue,
                        other => break other,
                    }
                };
                match status {
                    Ok(WaitStatus::Exited(_, code)) => std::process::exit(code),
                    Ok(WaitStatus::Signaled(_, sig, _)) => {
                        // Dies of the same signal, as a runner expects.
                        let _ = crate::sys::default_action(sig);
                        let _ = nix::sys::signal::raise(sig);
                        std::process::exit(128 + sig as i32)
                    }
                    other => {
                        eprintln!("netns-test: waiting for the tests' process: {other:?}");
                        std::process::exit(101)
                    }
                }
            }
        }
    }
    /// Called by PID 1 when every test has been reported: flushes its output and hands
    /// the run's exit code to the waiting parent, which exits with it at once. Without a
    /// PID namespace (nobody waits), nothing to do.
    ///
    /// Its standard output and error are released too (pointed at `/dev/null`): a runner
    /// reads them to their end, and a process's files close only once its last thread
    /// has exited, which a thread closing a capture socket holds up.
    pub(super) fn done(code: u8) {
        use std::io::Write;
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        if let Some(mut pipe) = DONE.get() {
            sys::release_stdio();
            let _ = pipe.write_all(&[code]);
        }
    }
}

/// A test that ends the process (`std::process::exit`, `libc::exit`) while tests run: an
/// exit handler reports it and makes the exit a failure (code 101), whatever its code.
mod exit_guard {
    use super::*;

    /// The tests whose thread runs and has not reported (nor timed out), by id.
    static RUNNING: Mutex<Vec<(u64, &'static str)>> = Mutex::new(Vec::new());
    static NEXT: AtomicU64 = AtomicU64::new(1);

    thread_local! {
        /// The test this thread runs, on a test's own thread.
        static THIS_TEST: Cell<Option<&'static str>> = const { Cell::new(None) };
    }

    /// Registers the exit handler, once, before the first test starts.
    pub(super) fn install() {
        if let Err(e) = crate::sys::at_exit(on_exit) {
            eprintln!(
                "netns-test: warning: no exit handler ({e}): a test that calls \
                 std::process::exit would end the suite with its own exit code"
            );
        }
    }

    /// Test `name` starts; returns its id for [`ended`].
    pub(super) fn started(name: &'static str) -> u64 {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        running().push((id, name));
        id
    }

    /// The test reported, or timed out (its thread is left behind).
    pub(super) fn ended(id: u64) {
        running().retain(|&(i, _)| i != id);
    }

    /// Marks the calling thread as the one of test `name`.
    pub(super) fn enter_test(name: &'static str) {
        THIS_TEST.with(|t| t.set(Some(name)));
    }

    fn running() -> std::sync::MutexGuard<'static, Vec<(u64, &'static str)>> {
        RUNNING.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the handler says, or `None` when no test is concerned (the harness's own
    /// exit, after every test reported).
    pub(super) fn report(exiting: Option<&str>, running: &[&str]) -> Option<String> {
        let others: Vec<&str> = running
            .iter()
            .copied()
            .filter(|&r| Some(r) != exiting)
            .collect();
        let mut out = match exiting {
            Some(me) => format!(
                "netns-test: test {me} called exit (std::process::exit or libc::exit) while it \
                 ran. In harness mode every test runs in this one process, and its exit ends \
                 them all.\n"
            ),
            None if running.is_empty() => return None,
            None => format!(
                "netns-test: the process called exit (std::process::exit or libc::exit) while \
                 {} ran: {}, or a thread it started, called it. In harness mode every test \
                 runs in this one process, and its exit ends them all.\n",
                if running.len() == 1 {
                    "this test"
                } else {
                    "these tests"
                },
                if running.len() == 1 {
                    "it"
                } else {
                    "one of them"
                },
            ),
        };
        if exiting.is_none() || !others.is_empty() {
            let list = if exiting.is_none() { running } else { &others };
            out.push_str(&format!(
                "netns-test: still running, and ended unfinished: {}\n",
                list.join(", ")
            ));
        }
        out.push_str(
            "netns-test: the tests that had not started did not run. The process exits with \
             code 101. Return from the test instead of exiting, or run it in the default mode \
             (a test target without `harness = false`), where each test has a process of its \
             own.\n",
        );
        Some(out)
    }

    extern "C" fn on_exit() {
        let me = THIS_TEST.try_with(Cell::get).ok().flatten();
        let running: Vec<&str> = match RUNNING.try_lock() {
            Ok(r) => r.iter().map(|&(_, n)| n).collect(),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                p.into_inner().iter().map(|&(_, n)| n).collect()
            }
            // Held by a trial this very moment: some test is running.
            Err(std::sync::TryLockError::WouldBlock) => vec!["(a test starting or ending)"],
        };
        if let Some(text) = report(me, &running) {
            use std::io::Write;
            let _ = io::stderr().write_all(text.as_bytes());
            crate::sys::exit_now(101);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::exit_guard::report;

    #[test]
    fn the_harness_own_exit_is_not_reported() {
        assert_eq!(report(None, &[]), None);
    }

    #[test]
    fn a_test_that_exits_is_named_with_the_tests_it_interrupts() {
        let text = report(Some("a::exits"), &["a::exits", "b::runs"]).expect("reported");
        assert!(text.contains("test a::exits called exit"), "{text}");
        assert!(text.contains("ended unfinished: b::runs\n"), "{text}");
        assert!(text.contains("had not started did not run"), "{text}");
        assert!(text.contains("code 101"), "{text}");
        let alone = report(Some("a::exits"), &["a::exits"]).expect("reported");
        assert!(!alone.contains("ended unfinished"), "{alone}");
    }

    #[test]
    fn an_exit_from_another_thread_names_the_running_tests() {
        let text = report(None, &["a", "b"]).expect("reported");
        assert!(
            text.contains("while these tests ran: one of them"),
            "{text}"
        );
        assert!(text.contains("ended unfinished: a, b\n"), "{text}");
        let one = report(None, &["a"]).expect("reported");
        assert!(
            one.contains("while this test ran: it, or a thread"),
            "{one}"
        );
    }
}
