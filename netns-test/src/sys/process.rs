//! Process-wide steps of the harness mode: forking the single-threaded harness into its
//! PID namespace, signal dispositions and exit handlers.

use std::io;

use nix::sys::signal::{SigHandler, Signal};
use nix::unistd::ForkResult;

/// `fork()` of a process that runs a single thread (the caller checks it), so that the
/// child may run any code after the fork, as the parent would have.
pub(crate) fn fork_single_threaded() -> io::Result<ForkResult> {
    // SAFETY: the caller guarantees that the process runs a single thread, so no lock
    // held by another thread can be inherited by the child.
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
