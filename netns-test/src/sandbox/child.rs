//! The child: builds the network, runs the body, reports to the parent.

use super::pause;
use super::report::{Report, Status};
use super::spec::{timeout, TestSpec, DEFAULT_TIMEOUT};
use super::verdict::{verdict, Caught};
use crate::diag::Diag;
use crate::error::Error;
use crate::net::{Lab, Net};
use crate::topology::Topology;
use crate::{environment, sys};

/// The test in the sandbox: the network, the diagnostics, the body, the report; then the
/// body's end again, for this process's own runner (the parent filters its output).
pub(super) fn child(
    spec: &TestSpec,
    topology: impl FnOnce() -> Topology,
    body: impl FnOnce(Net) -> Result<(), String>,
) {
    let mut status = Status::take();
    let net = match build(topology) {
        Ok(net) => net,
        Err(e) => {
            status.finish(&Report::Setup(e.to_string()));
            panic!("{e}");
        }
    };
    let diag = start_diagnostics(spec, &net);
    // Kept for a pause on failure: the body's end drops the network otherwise. Whether it
    // pauses is decided (and a refusal said) on failure only.
    let paused = pause::requested().map(|request| (net.clone(), request));
    status.send(&Report::Ready);
    let caught = run_body(net, body);
    report(spec, diag, status, &caught, paused);
    caught.resume();
}

/// The topology, built in this process's namespaces.
fn build(topology: impl FnOnce() -> Topology) -> Result<Net, Error> {
    // Before anything else opens a file: a topology of many nodes needs more than the
    // usual soft limit of 1024.
    let nofile = environment::raise_nofile();
    let topology = topology();
    prepare_mounts()?;
    Lab::in_sandbox(nofile).build_here(&topology, false)
}

/// Sets up the sandbox's mount namespace: the lab's name files (see [`Lab`]), a procfs of
/// this PID namespace and the sandbox's hostname.
fn prepare_mounts() -> Result<(), Error> {
    crate::net::mount_name_files()?;
    // A fresh /proc shows only the sandbox's processes; some container runtimes forbid it
    // (masked /proc paths), and the old one still works then.
    let _ = sys::mount_proc();
    let _ = sys::set_hostname("netns-test");
    Ok(())
}

/// Capture starts after the build, before the body; the folder is written on failure.
fn start_diagnostics(spec: &TestSpec, net: &Net) -> Diag {
    // The parent has checked the timeout already.
    let timeout = timeout(spec).unwrap_or(DEFAULT_TIMEOUT);
    Diag::start(spec.path, timeout, net, true)
}

/// Runs the body. A `harness::ignore` fails the test, with the reason: libtest has no
/// such outcome.
fn run_body(net: Net, body: impl FnOnce(Net) -> Result<(), String>) -> Caught {
    // Held until the body ends: the network lives as long as the test, whatever the body
    // does with its own handle.
    let keep = net.clone();
    let mut caught = Caught::run(|| body(net));
    drop(keep);
    if let Some(reason) = caught.ignored() {
        let why = ignored_in_default_mode(reason);
        caught.fail_with(why);
    }
    caught
}

/// The failure of a test that called `harness::ignore` in the default mode.
fn ignored_in_default_mode(reason: &str) -> String {
    format!(
        "netns-test: the test asked to be ignored at run time ({reason}), which only the \
         harness mode can report (libtest decides what is ignored before the run): it fails \
         instead of passing"
    )
}

/// Sends the body's end to the parent, which judges; the same verdict decides here
/// whether the diagnostics are kept.
fn report(
    spec: &TestSpec,
    diag: Diag,
    mut status: Status,
    caught: &Caught,
    paused: Option<(Net, pause::Request)>,
) {
    let end = caught.end();
    let report = Report::of_end(end);
    let keep = spec.keep_artifacts;
    match verdict(spec.should_panic, end) {
        // A passing test reports first: releasing the capture sockets waits for an RCU
        // grace period, which the parent need not wait for.
        Ok(()) if diag.keeps_when_passing(keep) => {
            diag.passed(keep);
            status.finish(&report);
        }
        Ok(()) => {
            status.finish(&report);
            diag.passed(keep);
        }
        Err(why) => {
            diag.failed(&why);
            if let Some((net, limit)) = paused.and_then(|(n, r)| Some((n, r.limit()?))) {
                pause::hold(&net, &mut status, limit);
            }
            status.finish(&report);
        }
    }
}
