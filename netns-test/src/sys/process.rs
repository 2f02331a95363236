//! Process-wide steps of the harness mode: forking the single-threaded harness into its
//! PID namespace, signal dispositions and exit handlers.

use std::io;

use nix::sys::signal::{SigHandler, Signal};
use nix::unistd::ForkResult;

/// `fork()` of a process that runs a single thread, so that the child may run any code
/// after the fork, as the parent would have. Refuses (an error naming the thread count)
/// when the process runs more than one thread.
pub(crate) fn fork_single_threaded() -> io::Result<ForkResult> {
    let threads = super::thread_count()?;
    if threads > 1 {
        return Err(io::Error::other(format!(
            "the process already runs {threads} threads"
        )));
    }
    // SAFETY: the process runs a single thread (counted just above; only this thread
    // could start another, and it is here), so no lock held by another thread can be
    // inherited by the child.
    Ok(unsafe { nix::unistd::fork() }?)
}

/// Restores the default action of `sig`.
pub(crate) fn default_action(sig: Signal) -> nix::Result<SigHandler> {
    // SAFETY: SIG_DFL installs no handler code; it is valid for any signal.
    unsafe { nix::sys::signal::signal(sig, SigHandler::SigDfl) }
}

/// Registers `f` to run when the process calls `exit` (libc `atexit`).
pub(crate) fn at_exit(f: extern "C" fn()) -> io::Result<()> {
    // SAFETY: atexit only stores the function pointer, which stays valid for the whole
    // program; `f` takes nothing and cannot unwind (an `extern "C"` function aborts
    // instead).
    if unsafe { libc::atexit(f) } != 0 {
        return Err(io::Error::other("atexit refused the handler"));
    }
    Ok(())
}

/// Ends the process at once with `code`, without running the exit handlers again.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and does not return.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests {
    /// A unit test runs beside libtest's own threads: the fork is refused, not made.
    #[test]
    fn fork_single_threaded_refuses_a_process_with_threads() {
        let t = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(200)));
        let e = super::fork_single_threaded().expect_err("forked a multi-threaded process");
        assert!(e.to_string().contains("already runs"), "{e}");
        t.join().unwrap();
    }
}
