//! Signals and waiting on fds: the diagnostics signal that writes a byte to a wake socket
//! ([`on_signal_write_byte`]), sending a signal, and polling fds for input.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// Polls `fds` for input; returns which are readable (or hung up).
pub(crate) fn poll_readable(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: pfds is a valid array of pollfd of the given length.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(err);
    }
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// The fd the signal handler of [`on_signal_write_byte`] writes to.
static SIGNAL_WAKE_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn write_wake_byte(_sig: libc::c_int) {
    let fd = SIGNAL_WAKE_FD.load(std::sync::atomic::Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write is async-signal-safe and the byte lives through the call; errno is
        // saved and restored so that the interrupted code does not see ours.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, b"T".as_ptr().cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// Makes signal `sig` write the byte `T` to `fd` (which is kept open for the rest of the
/// process), with `SA_RESTART` so that interrupted system calls resume.
pub(crate) fn on_signal_write_byte(sig: libc::c_int, fd: OwnedFd) -> io::Result<()> {
    use std::os::fd::IntoRawFd;
    // A previous fd (a second call; not done by this crate) is leaked on purpose: a handler
    // running right now may still write to it.
    SIGNAL_WAKE_FD.store(fd.into_raw_fd(), std::sync::atomic::Ordering::SeqCst);
    // SAFETY: sigaction is plain data; all-zero is a valid value.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = write_wake_byte as *const () as libc::sighandler_t;
    sa.sa_flags = libc::SA_RESTART;
    // SAFETY: sa is a valid sigaction whose handler only does async-signal-safe work; the
    // old action is not requested.
    let r = unsafe {
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut())
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends signal `sig` to process `pid`.
pub(crate) fn send_signal(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until `fd` is readable or `timeout` (nanosecond resolution; `None`: no limit) has
/// passed; true if readable. An interrupted wait returns false.
pub(crate) fn wait_readable(
    fd: BorrowedFd<'_>,
    timeout: Option<std::time::Duration>,
) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    // SAFETY: pfd is one valid pollfd; ts is a valid timespec or null; no signal mask.
    let r = unsafe {
        libc::ppoll(
            &mut pfd,
            1,
            ts.as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec),
            std::ptr::null(),
        )
    };
    if r < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(err);
    }
    Ok(r > 0)
}
