//! The sandbox's process: `clone` into fresh namespaces and re-exec of the test binary,
//! waiting for it and killing it, the status fd it reports on, and the probe of whether
//! such a clone is allowed at all.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What the sandboxed child needs, prepared before the fork.
pub(crate) struct SandboxCmd {
    pub exe: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

/// The parent's ends of the child's stdout, stderr and status pipes.
pub(crate) struct SandboxChild {
    pub pid: libc::pid_t,
    pub stdout: File,
    pub stderr: File,
    pub status: File,
}

/// The status fd number in the child.
pub(crate) const STATUS_FD: RawFd = 3;

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Starts `cmd` as PID 1 of new user + network + mount + PID + UTS + IPC namespaces, with
/// stdout/stderr/status on pipes, and SIGKILL delivered to it when the calling thread dies.
/// `map_ids` writes the uid and gid maps of the new namespace (given the child's pid) while
/// the child waits, before it runs `cmd`. On failure, the step that failed and its error.
pub(crate) fn spawn_sandbox(
    cmd: &SandboxCmd,
    map_ids: impl FnOnce(libc::pid_t) -> io::Result<()>,
) -> Result<SandboxChild, (&'static str, io::Error)> {
    let clone_step = "creating the sandbox (clone with namespace flags)";
    let (out_r, out_w) = pipe().map_err(|e| (clone_step, e))?;
    let (err_r, err_w) = pipe().map_err(|e| (clone_step, e))?;
    let (st_r, st_w) = pipe().map_err(|e| (clone_step, e))?;
    // The child waits on `go` until its uid and gid maps are written.
    let (go_r, go_w) = pipe().map_err(|e| (clone_step, e))?;

    // Everything the child touches is prepared here: no allocation after the fork.
    // A pidfd of this process lets the child see whether we died before its PDEATHSIG was
    // armed (it cannot see our pid from inside its PID namespace). -1 on kernels before 5.3.
    // SAFETY: plain syscall.
    let parent = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) } as RawFd;
    let mut argv: Vec<*const libc::c_char> = cmd.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = cmd.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    let fds = [
        (out_w.as_raw_fd(), 1),
        (err_w.as_raw_fd(), 2),
        (st_w.as_raw_fd(), STATUS_FD),
    ];

    let flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC;
    // SAFETY: the child below only calls async-signal-safe syscalls on memory prepared
    // above before it execs or exits.
    let pid = unsafe { raw_clone(flags) }.map_err(|e| (clone_step, e))?;
    if pid == 0 {
        // SAFETY: we are the freshly cloned child; see child_after_clone.
        unsafe {
            child_after_clone(
                cmd,
                &argv,
                &envp,
                &fds,
                st_w.as_raw_fd(),
                parent,
                go_r.as_raw_fd(),
            )
        }
    }
    if parent >= 0 {
        // SAFETY: we own this fd.
        unsafe { libc::close(parent) };
    }
    drop((out_w, err_w, st_w, go_r));
    let go = map_ids(pid).and_then(|()| File::from(go_w).write_all(b"1"));
    if let Err(e) = go {
        kill(pid);
        let _ = wait(pid);
        return Err(("writing the sandbox's uid and gid maps", e));
    }
    Ok(SandboxChild {
        pid,
        stdout: out_r.into(),
        stderr: err_r.into(),
        status: st_r.into(),
    })
}

/// A fork-like `clone` with namespace `flags` (no `CLONE_VM`, no new stack): 0 in the
/// child, the child's pid in the parent.
///
/// # Safety
/// The caller is multi-threaded: in the child, only async-signal-safe calls on memory
/// prepared before the clone, until `execve` or `_exit`.
unsafe fn raw_clone(flags: libc::c_int) -> io::Result<libc::pid_t> {
    // SAFETY: forwarded to the caller.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid as libc::pid_t)
}

/// Writes `msg` and the current errno to the status fd, then exits.
///
/// # Safety
/// Only async-signal-safe calls; `st` must be open.
unsafe fn die(st: RawFd, step: &[u8]) -> ! {
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let mut buf = [0u8; 160];
    let mut n = 0;
    for &b in b"spawn\n".iter().chain(step) {
        if n < buf.len() {
            buf[n] = b;
            n += 1;
        }
    }
    let mut digits = [0u8; 12];
    let mut d = 0;
    let mut e = errno;
    loop {
        digits[d] = b'0' + (e % 10) as u8;
        d += 1;
        e /= 10;
        if e == 0 {
            break;
        }
    }
    for &b in b" errno=".iter().chain(digits[..d].iter().rev()) {
        if n < buf.len() {
            buf[n] = b;
            n += 1;
        }
    }
    // SAFETY: write and _exit are async-signal-safe; buf is valid for n bytes.
    unsafe {
        libc::write(st, buf.as_ptr().cast(), n);
        libc::_exit(126)
    }
}

/// # Safety
/// Must only be called in the child right after the clone in [`spawn_sandbox`].
#[allow(clippy::too_many_arguments)]
unsafe fn child_after_clone(
    cmd: &SandboxCmd,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    fds: &[(RawFd, RawFd); 3],
    st: RawFd,
    parent: RawFd,
    go: RawFd,
) -> ! {
    // SAFETY: every call below is a raw async-signal-safe syscall on pre-built buffers.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            die(st, b"prctl(PR_SET_PDEATHSIG)");
        }
        // The parent may have died before prctl took effect.
        let mut pfd = libc::pollfd {
            fd: parent,
            events: libc::POLLIN,
            revents: 0,
        };
        if parent >= 0 && libc::poll(&mut pfd, 1, 0) > 0 {
            libc::_exit(125);
        }
        // The parent writes the uid and gid maps, then one byte; end of file means it
        // could not (it then kills this process) or died.
        let mut byte = 0u8;
        loop {
            let n = libc::read(go, (&raw mut byte).cast(), 1);
            if n == 1 {
                break;
            }
            if n == 0 || *libc::__errno_location() != libc::EINTR {
                libc::_exit(125);
            }
        }
        // Move the pipes to 1, 2 and 3. A source already at its target keeps CLOEXEC
        // unless cleared.
        for &(src, dst) in fds {
            if src == dst {
                libc::fcntl(dst, libc::F_SETFD, 0);
            } else if libc::dup2(src, dst) < 0 {
                die(st, b"dup2");
            }
        }
        libc::execve(cmd.exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
        die(STATUS_FD, b"execve");
    }
}

/// The report channel the parent set up as fd 3, close-on-exec from now on so that
/// programs the test starts do not hold it open.
pub(crate) fn take_status_fd() -> File {
    // SAFETY: plain fcntl on the fd the parent set up.
    unsafe { libc::fcntl(STATUS_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    // SAFETY: fd 3 was set up by the parent for this purpose and nothing else owns it.
    unsafe { File::from_raw_fd(STATUS_FD) }
}

/// Points stdout and stderr at /dev/null, closing this process's ends of the parent's
/// pipes.
pub(crate) fn release_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        for target in [1, 2] {
            // SAFETY: dup2 onto the standard fds, which this process owns.
            unsafe { libc::dup2(null.as_raw_fd(), target) };
        }
    }
}

/// Kills a process (the sandbox's PID 1: the kernel then kills every process in it).
pub(crate) fn kill(pid: libc::pid_t) {
    // SAFETY: plain syscall.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// How a child ended.
#[derive(Debug)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
}

/// Waits for a child to end.
pub(crate) fn wait(pid: libc::pid_t) -> io::Result<Exit> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    })
}

/// Which seccomp mode the process runs under (0 none, 1 strict, 2 filter).
pub(crate) fn seccomp_mode() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Tries to create a user namespace in a child that exits at once; returns the errno.
pub(crate) fn try_clone_userns(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: the child only calls _exit.
    let pid = unsafe { raw_clone(flags)? };
    if pid == 0 {
        // SAFETY: async-signal-safe exit in the child.
        unsafe { libc::_exit(0) };
    }
    wait(pid)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Entering a lab from `main` (see `crate::net::Lab`).

/// The number of threads of this process (`Threads:` of `/proc/self/status`).
pub(crate) fn thread_count() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no Threads: line in /proc/self/status"))
}

/// Moves this single-threaded process into new user, mount and network namespaces
/// (`unshare --user --map-root-user --mount --net`). `map_ids` writes the uid and gid maps
/// of the new namespace (given this process's pid) from a child forked before, which stays
/// in the parent namespace. On failure, the step that failed and its error.
pub(crate) fn unshare_lab(
    map_ids: impl FnOnce(libc::pid_t) -> io::Result<()>,
) -> Result<(), (&'static str, io::Error)> {
    use nix::unistd::ForkResult;
    use std::io::Read;
    let map_step = "writing the lab's uid and gid maps";
    let pid = std::process::id() as libc::pid_t;
    let (go_r, go_w) = pipe().map_err(|e| (map_step, e))?;
    let (res_r, res_w) = pipe().map_err(|e| (map_step, e))?;
    // The caller has checked that no other thread exists.
    let helper = match super::process::fork_single_threaded().map_err(|e| (map_step, e))? {
        ForkResult::Child => {
            drop((go_w, res_r));
            let mut byte = [0u8];
            let code = match File::from(go_r).read(&mut byte) {
                // The parent entered its namespaces.
                Ok(1) => match map_ids(pid) {
                    Ok(()) => 0,
                    Err(e) => {
                        let errno = e.raw_os_error().unwrap_or(0);
                        let msg = format!("{errno}\n{e}");
                        let _ = File::from(res_w).write_all(msg.as_bytes());
                        1
                    }
                },
                _ => 0,
            };
            super::process::exit_now(code)
        }
        ForkResult::Parent { child } => child.as_raw(),
    };
    drop((go_r, res_w));
    let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWNET;
    // SAFETY: plain syscall; the caller has checked that no other thread exists.
    if unsafe { libc::unshare(flags) } != 0 {
        let e = io::Error::last_os_error();
        drop(go_w);
        let _ = wait(helper);
        return Err((
            "entering new user, mount and network namespaces (unshare)",
            e,
        ));
    }
    let sent = File::from(go_w).write_all(b"1");
    let mut report = String::new();
    let _ = File::from(res_r).read_to_string(&mut report);
    let exit = wait(helper).map_err(|e| (map_step, e))?;
    sent.map_err(|e| (map_step, e))?;
    match exit {
        Exit::Code(0) => Ok(()),
        _ => {
            let (errno, msg) = report.split_once('\n').unwrap_or(("0", &report));
            let e = match errno.parse::<i32>() {
                Ok(n) if n != 0 => io::Error::new(io::Error::from_raw_os_error(n).kind(), msg),
                _ => io::Error::other(format!("the helper process ended with {exit:?}: {msg}")),
            };
            Err((map_step, e))
        }
    }
}
