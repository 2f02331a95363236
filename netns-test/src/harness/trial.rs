//! One test in harness mode: a libtest-mimic trial that runs the test on a thread of its
//! own, in a network namespace of its own, and waits for it at most its timeout.

use std::os::fd::AsFd;
use std::panic::catch_unwind;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libtest_mimic::{Completion, Trial};

use super::registry::Registered;
use super::{exit_guard, pause};
use crate::diag::{self, Diag};
use crate::environment::explain;
use crate::error::Error;
use crate::net::{Lab, Net};
use crate::sandbox::spec::{test_name, timeout, TestSpec, ENV_TIMEOUT};
use crate::sandbox::verdict::{panic_message, verdict, Caught};
use crate::sandbox::{self, TestResult};
use crate::{kernel, sys};

/// The trial of one registered test.
pub(super) fn trial(test: &'static Registered, lab: &Lab) -> Trial {
    let lab = lab.clone();
    Trial::ignorable_test(test_name(test.spec.path), move || {
        run(test, &lab).map_err(Into::into)
    })
    .with_ignored_flag(test.ignore)
}

/// The trial of a test that cannot run: the process could not enter its namespaces.
pub(super) fn cannot_run(test: &'static Registered, why: &Error) -> Trial {
    let name = test_name(test.spec.path);
    let msg = format!("netns-test: test {name} cannot run: {why}");
    Trial::test(name, move || Err(msg.into())).with_ignored_flag(test.ignore)
}

/// What the test's thread tells the trial.
enum Msg {
    /// The network is built and the body starts; the diagnostics, for the timeout.
    Ready(Arc<Mutex<Option<Diag>>>),
    /// The test failed and pauses for at most this long (`NETNS_TEST_PAUSE_ON_FAILURE`):
    /// its clock stops.
    Paused(Duration),
    /// The test's outcome: passed or ignored, or why it failed.
    Done(Result<Completion, String>),
}

/// Runs one test on a thread of its own and waits for it, at most its timeout.
fn run(test: &'static Registered, lab: &Lab) -> Result<Completion, String> {
    let name = test_name(test.spec.path);
    let timeout = timeout(&test.spec)?;
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
    let mut deadline = Instant::now() + timeout;
    let mut diag = None;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Msg::Ready(d)) => diag = Some(d),
            Ok(Msg::Paused(limit)) => deadline = Instant::now() + limit + diag::DUMP_GRACE,
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
    exit_guard::enter_test(test_name(test.spec.path));
    let net = match setup(test, lab) {
        Ok(net) => net,
        Err(e) => {
            let _ = tx.send(Msg::Done(Err(e)));
            return;
        }
    };
    // Capture starts after the build, before the body; the folder is written on failure.
    let diag = Diag::start(test.spec.path, timeout, &net, false);
    let diag = Arc::new(Mutex::new(Some(diag)));
    let _ = tx.send(Msg::Ready(Arc::clone(&diag)));
    // Held until the report: the network lives as long as the test, whatever the body
    // does with its own handle.
    let keep = net.clone();
    let caught = Caught::run(|| (test.body)(net).into_outcome());
    // `None` once the timeout took it: the test has been reported already.
    let diag = diag.lock().unwrap_or_else(|e| e.into_inner()).take();
    report(&test.spec, &caught, diag, tx, &keep);
    drop(keep);
}

/// Sends the test's outcome to its trial and writes or removes its diagnostics; `diag` is
/// `None` once the timeout took it (the test has been reported then). A failure pauses
/// first when `NETNS_TEST_PAUSE_ON_FAILURE` asks for it, with `net` up.
fn report(spec: &TestSpec, caught: &Caught, diag: Option<Diag>, tx: &Sender<Msg>, net: &Net) {
    let keep = spec.keep_artifacts;
    let done = |outcome| {
        let _ = tx.send(Msg::Done(outcome));
    };
    if let Some(reason) = caught.ignored() {
        if let Some(d) = diag {
            done(Ok(Completion::ignored_with(reason)));
            d.passed(keep);
        }
        return;
    }
    match (verdict(spec.should_panic, caught.end()), diag) {
        (Ok(()), Some(d)) if d.keeps_when_passing(keep) => {
            d.passed(keep);
            done(Ok(Completion::Completed));
        }
        // Reported first: closing the capture sockets waits for an RCU grace period.
        (Ok(()), Some(d)) => {
            done(Ok(Completion::Completed));
            d.passed(keep);
        }
        (Err(why), Some(d)) => {
            d.failed(&why);
            if let Some(limit) = sandbox::pause::requested().and_then(|r| r.limit()) {
                let _ = tx.send(Msg::Paused(limit));
                pause::hold(test_name(spec.path), net, limit);
            }
            done(Err(why));
        }
        (verdict, None) => done(verdict.map(|()| Completion::Completed)),
    }
}

/// The test's network: its topology, evaluated here (a panic in it fails the test), built
/// with this thread's new network namespace as its `host` node.
fn setup(test: &Registered, lab: &Lab) -> Result<Net, String> {
    let name = test_name(test.spec.path);
    let topology = catch_unwind(test.topology).map_err(|payload| {
        format!(
            "netns-test: the topology expression of test {name} panicked: {}",
            panic_message(&*payload)
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
