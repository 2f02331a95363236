//! The tests run as PID 1 of a PID namespace of their own, as a sandbox's test does: when
//! the run ends, however it ends, the kernel kills every process in it, so no program a
//! test started and left running outlives the run.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::{ForkResult, Pid};

use crate::sys;

/// PID 1's end of the pipe on which it reports the run's exit code ([`done`]).
static DONE: std::sync::OnceLock<File> = std::sync::OnceLock::new();
/// PID 1's PID as the user's terminal sees it (outside the PID namespace).
static OUTER_PID: std::sync::OnceLock<libc::pid_t> = std::sync::OnceLock::new();

/// The PID of the process that runs the tests, as seen from outside it (`kill`,
/// `nsenter -t`): PID 1's outer PID in a PID namespace, else this process's.
pub(super) fn outer_pid() -> libc::pid_t {
    OUTER_PID
        .get()
        .copied()
        .unwrap_or_else(|| std::process::id() as libc::pid_t)
}

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
    let (alive_r, alive_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (done_r, done_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    match sys::fork_single_threaded()? {
        ForkResult::Child => {
            drop((alive_w, done_r));
            become_pid_1(alive_r, done_w)
        }
        ForkResult::Parent { child } => {
            drop((alive_r, done_w));
            exit_as_pid_1(child, done_r)
        }
    }
}

/// In PID 1: dies with the parent, then returns to run the tests.
fn become_pid_1(alive: OwnedFd, done: OwnedFd) -> io::Result<()> {
    let _ = DONE.set(File::from(done));
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    let mut alive = File::from(alive);
    nix::fcntl::fcntl(&alive, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    if let Ok(0) = alive.read(&mut [0u8; 1]) {
        std::process::exit(101);
    }
    // Read from the /proc of the PID namespace outside, before this one's covers it.
    if let Some(pid) = std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse().ok())
    {
        let _ = OUTER_PID.set(pid);
    }
    // This PID namespace's own /proc (best effort, as in a sandbox).
    let _ = sys::mount_proc();
    Ok(())
}

/// In the parent: exits with the code PID 1 hands over ([`done`]), or as PID 1 ended.
fn exit_as_pid_1(child: Pid, done: OwnedFd) -> ! {
    let mut done = File::from(done);
    let mut code = [0u8; 1];
    loop {
        match done.read(&mut code) {
            Ok(1) => std::process::exit(i32::from(code[0])),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Ended without reporting (a signal, `process::exit` in a test): its status
            // says how.
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
            let _ = sys::default_action(sig);
            let _ = nix::sys::signal::raise(sig);
            std::process::exit(128 + sig as i32)
        }
        other => {
            eprintln!("netns-test: waiting for the tests' process: {other:?}");
            std::process::exit(101)
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
