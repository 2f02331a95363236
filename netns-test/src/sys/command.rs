//! Programs in a node (used by `crate::net`): the node's mount namespace and the pre-exec
//! step that enters it and the node's netns between fork and exec.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use super::cstr;

/// Sets up `cmd` so that the spawned program starts inside netns `fd` and the node's mount
/// namespace `mounts` (see [`node_mounts`]), or fails to spawn with that errno.
pub(crate) fn command_in_netns(
    cmd: &mut std::process::Command,
    fd: RawFd,
    mounts: Result<RawFd, i32>,
) {
    use std::os::unix::process::CommandExt;
    // SAFETY: see enter_for_exec.
    unsafe {
        cmd.pre_exec(move || enter_for_exec(fd, mounts));
    }
}

/// What a node's programs and threads see that differs from the sandbox: a mount namespace
/// made once per node, in which `/sys` is a sysfs of the node's network namespace,
/// `/proc/net` a link to `/proc/thread-self/net` (the network of whichever thread reads
/// it, not of the thread group leader) and, with `resolv_conf`, that file is bound over
/// `/etc/resolv.conf` (what `ip netns exec NAME` does by remounting `/sys` and binding
/// `/etc/netns/NAME/resolv.conf`).
pub(crate) struct NodeMounts {
    /// The mount namespace.
    pub ns: OwnedFd,
    /// Why `/sys` could not be remounted (the programs then see the sandbox's), if so.
    pub sysfs: Option<io::Error>,
    /// Why `/proc/net` could not be made per thread (threads then see the leader's), if so.
    pub proc_net: Option<io::Error>,
}

/// Makes the node's mount namespace (see [`NodeMounts`]) on a thread of its own, since
/// `unshare(CLONE_NEWNS)` moves the calling thread for good.
///
/// The sandbox's mounts are made shared first and the node's copies slaves of them: a
/// mount the test makes later in the sandbox shows in every node, and nothing mounted in a
/// node shows outside it.
pub(crate) fn node_mounts(
    netns: BorrowedFd<'_>,
    resolv_conf: Option<&Path>,
) -> io::Result<NodeMounts> {
    let resolv_conf = resolv_conf.map(cstr).transpose()?;
    std::thread::scope(|s| {
        s.spawn(|| -> io::Result<NodeMounts> {
            // SAFETY: raw syscalls on a valid fd and NUL-terminated strings; they change
            // only this thread (its netns, its mount namespace) and the sandbox's mount
            // propagation.
            unsafe {
                // sysfs shows the network namespace of the task that mounts it.
                if libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) != 0
                    || libc::mount(
                        std::ptr::null(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_SHARED,
                        std::ptr::null(),
                    ) != 0
                    || libc::unshare(libc::CLONE_NEWNS) != 0
                    || libc::mount(
                        std::ptr::null(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_SLAVE,
                        std::ptr::null(),
                    ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                // The sandbox's /sys is locked (inherited from the machine), so it cannot be
                // unmounted there; the new sysfs then covers it. It must keep the flags of
                // the one it covers (a user namespace may not mount a less restricted one).
                let mut flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                if libc::umount2(c"/sys".as_ptr(), libc::MNT_DETACH) != 0 {
                    let mut st: libc::statvfs = std::mem::zeroed();
                    if libc::statvfs(c"/sys".as_ptr(), &mut st) == 0
                        && st.f_flag & libc::ST_RDONLY != 0
                    {
                        flags |= libc::MS_RDONLY;
                    }
                }
                let sysfs = (libc::mount(
                    c"sysfs".as_ptr(),
                    c"/sys".as_ptr(),
                    c"sysfs".as_ptr(),
                    flags,
                    std::ptr::null(),
                ) != 0)
                    .then(io::Error::last_os_error);
                if let Some(src) = &resolv_conf {
                    if libc::mount(
                        src.as_ptr(),
                        c"/etc/resolv.conf".as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND,
                        std::ptr::null(),
                    ) != 0
                    {
                        return Err(io::Error::last_os_error());
                    }
                }
                let ns = File::open("/proc/thread-self/ns/mnt")?.into();
                let proc_net = super::mount_symlink(
                    Path::new("/tmp"),
                    Path::new("/proc/net"),
                    "thread-self/net",
                )
                .err();
                Ok(NodeMounts {
                    ns,
                    sysfs,
                    proc_net,
                })
            }
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Moves the calling thread into a node: its netns `netns` and, where there is one, its
/// mount namespace `mounts` (see [`node_mounts`]), keeping the working directory's path.
/// The thread first gets a filesystem context of its own (`unshare(CLONE_FS)`), which
/// `setns(CLONE_NEWNS)` requires and which keeps the other threads where they are.
pub(crate) fn enter_node(netns: BorrowedFd<'_>, mounts: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let Some(mounts) = mounts else {
        return super::enter_netns(netns);
    };
    // SAFETY: unshare(CLONE_FS) changes only the calling thread; enter_raw's syscalls act
    // on valid fds and the stack, and only on the calling thread.
    unsafe {
        if libc::unshare(libc::CLONE_FS) != 0 {
            return Err(io::Error::last_os_error());
        }
        enter_raw(netns.as_raw_fd(), mounts.as_raw_fd())
    }
}

/// The pre-exec step of a program started in a node: enters its netns and its mount
/// namespace, staying in the working directory the child had.
///
/// # Safety
/// Runs between fork and exec: only async-signal-safe syscalls, on the stack and on fds
/// that the Node keeps open, which outlasts the spawn. No allocation.
unsafe fn enter_for_exec(netns: RawFd, mounts: Result<RawFd, i32>) -> io::Result<()> {
    let mounts = mounts.map_err(io::Error::from_raw_os_error)?;
    // SAFETY: forwarded to the caller; a forked child has a filesystem context of its own.
    unsafe { enter_raw(netns, mounts) }
}

/// Enters netns `netns` and mount namespace `mounts`, staying in the working directory.
///
/// # Safety
/// Only async-signal-safe syscalls, on the stack and on the fds given, which must be open.
/// The calling task must not share its filesystem context (`CLONE_FS`) with another.
unsafe fn enter_raw(netns: RawFd, mounts: RawFd) -> io::Result<()> {
    // setns(CLONE_NEWNS) moves the working directory to the namespace's root: keep its
    // path (the same file there: the namespaces differ only in /sys, /proc/net
    // and resolv.conf) and,
    // for a path that is too long or gone, the directory itself.
    let mut cwd = [0u8; 4096];
    // SAFETY: raw syscalls on valid fds, the stack buffer and NUL-terminated strings.
    unsafe {
        let have_path = libc::syscall(libc::SYS_getcwd, cwd.as_mut_ptr(), cwd.len() - 1) > 0;
        let here = libc::open(
            c".".as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if libc::setns(netns, libc::CLONE_NEWNET) != 0
            || libc::setns(mounts, libc::CLONE_NEWNS) != 0
        {
            let e = io::Error::last_os_error();
            if here >= 0 {
                libc::close(here);
            }
            return Err(e);
        }
        if !(have_path && libc::chdir(cwd.as_ptr().cast()) == 0) && here >= 0 {
            libc::fchdir(here);
        }
        if here >= 0 {
            libc::close(here);
        }
    }
    Ok(())
}
