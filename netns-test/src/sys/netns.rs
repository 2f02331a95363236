//! Network namespaces, per thread: made ([`new_netns`]), entered ([`enter_netns`]) and
//! visited ([`in_netns`]). A socket belongs to the netns of the thread that creates it.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The calling thread's current network namespace, as an fd.
pub(crate) fn current_netns() -> io::Result<OwnedFd> {
    Ok(File::open("/proc/thread-self/ns/net")?.into())
}

/// Moves the calling thread into the network namespace `fd`.
pub(crate) fn enter_netns(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on a valid fd.
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Creates a new network namespace and returns it as an fd, leaving the calling thread in
/// the namespace it was in (`back`).
pub(crate) fn new_netns(back: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: unshare of the net namespace affects only the calling thread.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = current_netns();
    enter_netns(back)?;
    fd
}

/// Runs `f` with the calling thread inside netns `fd`, then returns to where it was.
pub(crate) fn in_netns<R>(fd: BorrowedFd<'_>, f: impl FnOnce() -> R) -> io::Result<R> {
    let back = current_netns()?;
    enter_netns(fd)?;
    let r = f();
    enter_netns(back.as_fd())?;
    Ok(r)
}

/// Brings `lo` of the calling thread's netns up (`SIOCSIFFLAGS`, one ioctl).
pub(crate) fn loopback_up() -> io::Result<()> {
    set_if_flags(
        b"lo\0",
        libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING,
    )
}

/// Sets the flags of interface `name` (NUL-terminated) of the calling thread's netns
/// (`SIOCSIFFLAGS`, one ioctl): with or without `IFF_UP`, the interface goes up or down.
pub(crate) fn set_if_flags(name: &[u8], flags: libc::c_int) -> io::Result<()> {
    assert!(name.len() <= libc::IFNAMSIZ && name.ends_with(b"\0"));
    // SAFETY: a plain socket for the ioctl, closed below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socket() returned a fresh fd.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = flags as libc::c_short;
    // SAFETY: valid fd and a valid ifreq.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
