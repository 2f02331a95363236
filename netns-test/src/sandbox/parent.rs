//! The parent: plans, spawns the sandbox, relays its output, judges its report.

use std::ffi::CString;
use std::fmt::Display;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::panic::resume_unwind;
use std::time::{Duration, Instant};

use super::pause;
use super::report::Report;
use super::spec::{test_name, timeout, ShouldPanic, TestSpec, ENV_TIMEOUT};
use super::verdict::{verdict, BodyEnd};
use super::ENV_SANDBOX;
use crate::net::namespaces_needed;
use crate::topology::{Plan, Topology};
use crate::{diag, environment, sys};

/// The test as its caller runs it: checks what can be checked before any namespace
/// exists, runs the test binary again in a sandbox for this test alone, relays its output
/// and judges its report.
///
/// Panics here name the caller's location: `run_sync`/`run_async` and every function
/// here that panics are `#[track_caller]`, and no closure stands in between.
#[track_caller]
pub(super) fn parent(spec: &TestSpec, topology: impl FnOnce() -> Topology) {
    let name = test_name(spec.path);
    // A wrong topology fails here, before any namespace exists.
    let plan = or_panic(topology().plan());
    let timeout = or_panic(timeout(spec));
    let max_net_ns = check_namespaces(&plan);
    let cmd = command(name, max_net_ns);
    let child = spawn(&cmd);
    let relayed = relay(&child, name, timeout);
    judge(relayed, spec, name, timeout);
}

#[track_caller]
fn or_panic<T, E: Display>(result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{e}"),
    }
}

/// Whether the machine has the network namespaces the plan needs; its limit, if any.
#[track_caller]
fn check_namespaces(plan: &Plan) -> Option<u64> {
    let max_net_ns = environment::max_net_namespaces();
    or_panic(environment::check_net_namespaces(
        namespaces_needed(plan),
        max_net_ns,
    ));
    max_net_ns
}

/// The test binary, run for test `name` alone, with `NETNS_TEST_SANDBOX` set.
#[track_caller]
fn command(name: &str, max_net_ns: Option<u64>) -> sys::SandboxCmd {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => panic!("netns-test: cannot find the test binary: {e}"),
    };
    let cstring = |s: &[u8]| CString::new(s).expect("no NUL in arguments");
    // Terse format: the runner prints nothing before the body's output, only one
    // character after it, so that the body's lines come through whole.
    let args: [&[u8]; 7] = [
        exe.as_os_str().as_bytes(),
        name.as_bytes(),
        b"--exact",
        b"--nocapture",
        b"--include-ignored",
        b"--test-threads=1",
        b"--format=terse",
    ];
    let mut envp: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != ENV_SANDBOX && k != environment::ENV_OUTER_MAX_NET_NS)
        .map(|(k, v)| cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect();
    envp.push(cstring(format!("{ENV_SANDBOX}={name}").as_bytes()));
    if let Some(max) = max_net_ns {
        envp.push(cstring(
            format!("{}={max}", environment::ENV_OUTER_MAX_NET_NS).as_bytes(),
        ));
    }
    sys::SandboxCmd {
        exe: cstring(exe.as_os_str().as_bytes()),
        argv: args.iter().map(|a| cstring(a)).collect(),
        envp,
    }
}

/// The sandbox: new namespaces, the id maps written, the command run in them.
#[track_caller]
fn spawn(cmd: &sys::SandboxCmd) -> sys::SandboxChild {
    match sys::spawn_sandbox(cmd, |pid| {
        crate::id_map::write(pid, crate::id_map::sandbox_plan())
    }) {
        Ok(c) => c,
        Err((step, e)) => panic!("{}", environment::diagnose(&e, step)),
    }
}

/// What the parent got from the child.
struct Relayed {
    /// The child's report.
    status: Vec<Report>,
    /// How the child ended; `None` when it reported an outcome and is reaped in the
    /// background.
    exit: Option<sys::Exit>,
    timed_out: bool,
}

/// Relays the child's output until it ends or the timeout kills it.
fn relay(child: &sys::SandboxChild, name: &str, timeout: Duration) -> Relayed {
    let (status, timed_out) = read_until_end(child, name, timeout);
    let status = Report::decode(&String::from_utf8_lossy(&status));
    let exit = reap(child, !timed_out && status.iter().any(Report::is_outcome));
    Relayed {
        status,
        exit,
        timed_out,
    }
}

/// Relays stdout and stderr line by line and gathers the report, until the child closes
/// them all or the timeout ends it. Returns the report's bytes and whether it timed out.
fn read_until_end(child: &sys::SandboxChild, name: &str, timeout: Duration) -> (Vec<u8>, bool) {
    let mut deadline = Instant::now() + timeout;
    let pipes = [&child.stdout, &child.stderr, &child.status];
    let fds = pipes.map(AsFd::as_fd);
    let mut open = [true; 3];
    let mut pending: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut status = Vec::new();
    let mut timed_out = false;
    let mut buf = vec![0u8; 64 * 1024];
    // Set once the child pauses on its failure: Enter on a terminal stdin releases it.
    let mut paused = false;
    let mut enter = false;
    while open.iter().any(|&o| o) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let grace = !timed_out && ask_for_diagnostics(child, &status);
            timed_out = true;
            if grace {
                deadline = Instant::now() + diag::DUMP_GRACE;
                continue;
            }
            sys::kill(child.pid);
            break;
        }
        let live: Vec<usize> = (0..3).filter(|&i| open[i]).collect();
        let stdin = std::io::stdin();
        let mut polled: Vec<_> = live.iter().map(|&i| fds[i]).collect();
        if enter {
            polled.push(stdin.as_fd());
        }
        let ready = sys::poll_readable(&polled, left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or_else(|e| panic!("netns-test: poll: {e}"));
        if enter && ready[live.len()] {
            enter = release_on_enter(child);
        }
        for (k, &i) in live.iter().enumerate() {
            if !ready[k] {
                continue;
            }
            let n = read_some(pipes[i], &mut buf);
            if n == 0 {
                open[i] = false;
            } else if i == 2 {
                status.extend_from_slice(&buf[..n]);
                if !paused {
                    if let Some(limit) = announce_pause(child, name, &status) {
                        paused = true;
                        enter = pause::stdin_is_terminal();
                        deadline = Instant::now() + limit + diag::DUMP_GRACE;
                    }
                }
            } else {
                pending[i].extend_from_slice(&buf[..n]);
                emit_lines(&mut pending[i], i, name, false);
            }
        }
    }
    for (i, p) in pending.iter_mut().enumerate() {
        emit_lines(p, i, name, true);
    }
    (status, timed_out)
}

/// Once the child's report says it paused: prints how to enter its nodes (straight to
/// stderr, past libtest's capture: the user needs it now) and returns the pause's limit.
fn announce_pause(child: &sys::SandboxChild, name: &str, status: &[u8]) -> Option<Duration> {
    let reports = Report::decode(&String::from_utf8_lossy(status));
    let Some(Report::Paused(body)) = reports.get(1) else {
        return None;
    };
    let (text, limit) = pause::banner(name, child.pid, body, pause::stdin_is_terminal());
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
    Some(limit)
}

/// A line on stdin during a pause: releases the child. `false` once stdin has ended (no
/// more Enter to wait for).
fn release_on_enter(child: &sys::SandboxChild) -> bool {
    let mut line = [0u8; 256];
    match std::io::stdin().lock().read(&mut line) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            if line[..n].contains(&b'\n') {
                let _ = sys::send_signal(child.pid, pause::RELEASE_SIGNAL);
            }
            true
        }
    }
}

/// At the timeout: a child that runs its body writes its diagnostics on a signal and then
/// exits (see crate::diag); `true` if it was sent one, and gets a grace period for that.
fn ask_for_diagnostics(child: &sys::SandboxChild, status: &[u8]) -> bool {
    Report::decode(&String::from_utf8_lossy(status)).first() == Some(&Report::Ready)
        && sys::send_signal(child.pid, diag::DUMP_SIGNAL).is_ok()
}

/// Waits for the child, unless it `reported` its outcome.
///
/// A child that reported its outcome has released its output; what is left of its exit
/// (closing capture sockets waits for an RCU grace period, namespaces are freed
/// asynchronously anyway) need not delay the test. It is reaped in the background.
fn reap(child: &sys::SandboxChild, reported: bool) -> Option<sys::Exit> {
    let reaped_in_background = reported && {
        let pid = child.pid;
        // Without a thread to spare (a thread limit), it is waited for here.
        std::thread::Builder::new()
            .name("netns-test-reaper".to_string())
            .spawn(move || sys::wait(pid))
            .is_ok()
    };
    if reaped_in_background {
        None
    } else {
        Some(sys::wait(child.pid).unwrap_or_else(|e| panic!("netns-test: waitpid: {e}")))
    }
}

/// One read from a pipe; 0 at its end (or on an error, which ends it too).
fn read_some(mut file: &File, buf: &mut [u8]) -> usize {
    loop {
        match file.read(buf) {
            Ok(n) => return n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return 0,
        }
    }
}

/// Prints complete lines (all of it at the end) to the test's stdout or stderr, through
/// `print!` so that libtest captures it. On stdout, the child runner's own lines about
/// the one test it ran are dropped.
fn emit_lines(pending: &mut Vec<u8>, stream: usize, name: &str, all: bool) {
    let cut = if all {
        pending.len()
    } else {
        match pending.iter().rposition(|&b| b == b'\n') {
            Some(p) => p + 1,
            None => return,
        }
    };
    let chunk: Vec<u8> = pending.drain(..cut).collect();
    let text = String::from_utf8_lossy(&chunk);
    for line in text.split_inclusive('\n') {
        if stream == 0 && is_runner_chatter(line.trim_end(), name) {
            continue;
        }
        if stream == 0 {
            print!("{line}");
        } else {
            eprint!("{line}");
        }
    }
}

fn is_runner_chatter(line: &str, name: &str) -> bool {
    matches!(
        line,
        "running 1 test" | "." | "F" | "i" | "failures:" | "successes:" | ""
    ) || line.starts_with("test result: ")
        || line == format!("    {name}")
}

/// Turns the child's report into the test's outcome. Only the body's own end is judged
/// against `#[should_panic]`; every failure of the sandbox fails the test.
#[track_caller]
fn judge(report: Relayed, spec: &TestSpec, name: &str, timeout: Duration) {
    if let Some(Report::Spawn { step, errno }) = report.status.first() {
        panic!(
            "{}",
            environment::diagnose(
                &std::io::Error::from_raw_os_error(*errno),
                &format!("setting up the sandbox ({step} errno={errno})")
            )
        );
    }
    if report.timed_out {
        panic!(
            "netns-test: test {name} timed out after {timeout:?}; its sandbox and every process in it were \
             killed (raise it with #[netns_test(timeout = \"...\")] or {ENV_TIMEOUT})"
        );
    }
    let end = body_end(&report, name);
    judge_end(spec.should_panic, end);
}

/// How the body ended, from the child's report; a sandbox that did not report it fails
/// the test, saying how it ended instead.
#[track_caller]
fn body_end<'a>(report: &'a Relayed, name: &str) -> BodyEnd<'a> {
    let ready = report.status.first() == Some(&Report::Ready);
    match report.status.iter().find(|r| r.is_outcome()) {
        Some(Report::Ok) => BodyEnd::Returned,
        Some(Report::Panic(msg)) => BodyEnd::Panicked(Some(msg)),
        Some(Report::PanicPayload) => BodyEnd::Panicked(None),
        Some(Report::Err(msg)) => BodyEnd::Err(msg),
        Some(Report::Setup(msg)) => {
            panic!("netns-test could not build the topology of {name}: {msg}")
        }
        Some(Report::Ready | Report::Paused(_) | Report::Spawn { .. }) | None => match *report.exit.as_ref().expect("waited for a child that reported nothing") {
            sys::Exit::Signal(sig) => panic!(
                "netns-test: the sandbox of {name} was killed by signal {sig} ({}) before it reported an outcome",
                signal_name(sig)
            ),
            sys::Exit::Code(code) if ready => panic!(
                "netns-test: the sandbox of {name} exited with code {code} while the test ran, without \
                 reporting an outcome (std::process::exit in the test?)"
            ),
            sys::Exit::Code(code) => panic!(
                "netns-test: the sandbox of {name} exited with code {code} without running the test: \
                 the re-executed test binary did not find a test named {name:?} (is the test inside a \
                 function or macro that changes its path?)"
            ),
        },
    }
}

/// Passes, or fails the test as its body's end and `#[should_panic]` say.
#[track_caller]
fn judge_end(should_panic: ShouldPanic, end: BodyEnd<'_>) {
    match (should_panic, end) {
        // The body's own panic fails the test as it was: its message and location are in
        // the relayed output.
        (ShouldPanic::No, BodyEnd::Panicked(msg)) => {
            resume_unwind(Box::new(msg.unwrap_or("").to_string()))
        }
        (should_panic, end) => {
            if let Err(why) = verdict(should_panic, end) {
                panic!("{why}");
            }
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        _ => "see `kill -l`",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_chatter_is_recognised_but_user_lines_are_not() {
        assert!(is_runner_chatter("running 1 test", "a::b"));
        assert!(is_runner_chatter(
            "test result: ok. 1 passed; 0 failed",
            "a::b"
        ));
        assert!(!is_runner_chatter("test vectors loaded", "a::b"));
    }
}
