//! The syscall layer: the only module with `unsafe`.
//!
//! - [`spawn_sandbox`] re-executes the test binary as PID 1 of fresh user, network, mount
//!   and PID namespaces (clone with namespace flags, then exec; no Rust code runs in the
//!   forked child, only raw syscalls on memory prepared before the fork).
//! - Network namespaces for nodes are made per thread ([`new_netns`]) and entered per thread
//!   ([`enter_netns`]); a socket belongs to the netns of the thread that creates it.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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

/// Starts `cmd` as PID 1 of new user + network + mount + PID + UTS + IPC namespaces, with the
/// caller's uid/gid mapped to root inside, stdout/stderr/status on pipes, and SIGKILL
/// delivered to it when the calling thread dies.
pub(crate) fn spawn_sandbox(cmd: &SandboxCmd) -> io::Result<SandboxChild> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (st_r, st_w) = pipe()?;

    // Everything the child touches is prepared here: no allocation after the fork.
    // SAFETY: getuid/getgid/getpid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    // A pidfd of this process lets the child see whether we died before its PDEATHSIG was
    // armed (it cannot see our pid from inside its PID namespace). -1 on kernels before 5.3.
    // SAFETY: plain syscall.
    let parent = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) } as RawFd;
    let uid_map = format!("0 {uid} 1\n");
    let gid_map = format!("0 {gid} 1\n");
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
    let pid = unsafe { raw_clone(flags)? };
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
                uid_map.as_bytes(),
                gid_map.as_bytes(),
            )
        }
    }
    if parent >= 0 {
        // SAFETY: we own this fd.
        unsafe { libc::close(parent) };
    }
    drop((out_w, err_w, st_w));
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
    uid_map: &[u8],
    gid_map: &[u8],
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
        for (path, data) in [
            (c"/proc/self/setgroups", &b"deny"[..]),
            (c"/proc/self/uid_map", uid_map),
            (c"/proc/self/gid_map", gid_map),
        ] {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::write(fd, data.as_ptr().cast(), data.len()) != data.len() as isize {
                die(st, path.to_bytes());
            }
            libc::close(fd);
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
    // SAFETY: a plain socket for the ioctl, closed below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socket() returned a fresh fd.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags =
        (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: valid fd and a valid ifreq.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

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

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

fn mount(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
) -> io::Result<()> {
    let src = src.map(cstr).transpose()?;
    let target = cstr(target)?;
    let fstype = fstype.map(|s| CString::new(s).expect("no NUL in fs type"));
    // SAFETY: all pointers are valid NUL-terminated strings or null.
    let r = unsafe {
        libc::mount(
            src.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            target.as_ptr(),
            fstype.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            flags,
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mounts an empty tmpfs on `target`.
pub(crate) fn mount_tmpfs(target: &Path) -> io::Result<()> {
    mount(
        Some(Path::new("tmpfs")),
        target,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
    )
}

/// Makes every mount private to this mount namespace.
pub(crate) fn make_mounts_private() -> io::Result<()> {
    mount(None, Path::new("/"), None, libc::MS_REC | libc::MS_PRIVATE)
}

/// Mounts a fresh procfs for this PID namespace.
pub(crate) fn mount_proc() -> io::Result<()> {
    mount(
        Some(Path::new("proc")),
        Path::new("/proc"),
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
    )
}

/// Bind-mounts in-memory files over existing files (`/etc/hosts` and the like).
///
/// The files are written to a tmpfs mounted for the moment on `stage` (an existing
/// directory), bound over their targets, and the tmpfs is then detached from `stage`: the
/// bind mounts keep it alive, `stage` shows what it showed before, and nothing touches a
/// disk, so nothing can be left behind. Returns the targets that could not be bound
/// (missing, or a dangling link) with the error.
pub(crate) fn bind_memfiles(
    stage: &Path,
    files: &[(&Path, &[u8])],
) -> io::Result<Vec<(std::path::PathBuf, io::Error)>> {
    mount(
        Some(Path::new("tmpfs")),
        stage,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
    )?;
    let mut failed = Vec::new();
    for (i, (target, contents)) in files.iter().enumerate() {
        let src = stage.join(format!("file{i}"));
        let r = std::fs::write(&src, contents)
            .and_then(|()| mount(Some(&src), target, None, libc::MS_BIND));
        if let Err(e) = r {
            failed.push((target.to_path_buf(), e));
        }
    }
    let target = cstr(stage)?;
    // SAFETY: valid C string.
    if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(failed)
}

/// Sets the host name of this UTS namespace.
pub(crate) fn set_hostname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe `name`.
    if unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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

/// Borrows a raw fd that is known to stay open for `'a`.
pub(crate) fn borrow_raw<'a>(fd: RawFd) -> BorrowedFd<'a> {
    // SAFETY: callers pass fds owned by a value that outlives the borrow.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

// ---------------------------------------------------------------------------------------
// Packet capture and the diagnostics signal (used by `crate::diag`).

/// Opens an `AF_PACKET` socket in the calling thread's netns that receives every frame sent
/// or received on the interfaces `ifindexes` (a classic BPF filter drops the others in the
/// kernel): non-blocking, close-on-exec, with kernel receive timestamps (`SO_TIMESTAMPNS`).
///
/// Closing one costs an RCU grace period (`packet_release` calls `synchronize_net`), so one
/// socket serves a whole namespace.
pub(crate) fn packet_socket(ifindexes: &[u32]) -> io::Result<OwnedFd> {
    // Protocol 0 at creation: the socket receives nothing until it is bound, after its
    // filter is in place.
    // SAFETY: plain syscall with constant arguments.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socket returned a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let on: libc::c_int = 1;
    // SAFETY: the option value points to a c_int and its size is passed with it.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut prog = ifindex_filter(ifindexes)?;
    let fprog = libc::sock_fprog {
        len: prog.len() as libc::c_ushort,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: fprog points to `prog`, alive for the call (the kernel copies it), and its
    // size is passed with it.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as libc::c_ushort;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    // Every interface (ifindex 0); the filter picks.
    sll.sll_ifindex = 0;
    // SAFETY: the address points to a sockaddr_ll and its size is passed with it.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// A classic BPF program: accept whole frames whose interface is one of `ifindexes`.
fn ifindex_filter(ifindexes: &[u32]) -> io::Result<Vec<libc::sock_filter>> {
    let n = ifindexes.len();
    if n == 0 || n > 250 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a capture filter takes 1 to 250 interfaces, not {n}"),
        ));
    }
    let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    // A = skb->dev->ifindex
    let mut prog = vec![op(
        libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
        0,
        0,
        (libc::SKF_AD_OFF + libc::SKF_AD_IFINDEX) as u32,
    )];
    // if A == ifindexes[i] goto accept (at n + 2)
    for (i, &ix) in ifindexes.iter().enumerate() {
        prog.push(op(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            (n - i) as u8,
            0,
            ix,
        ));
    }
    prog.push(op(libc::BPF_RET | libc::BPF_K, 0, 0, 0));
    prog.push(op(libc::BPF_RET | libc::BPF_K, 0, 0, u32::MAX));
    Ok(prog)
}

/// One frame read from a packet socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame {
    /// Bytes stored in the buffer.
    pub len: usize,
    /// Length of the frame on the wire (more than `len` if the buffer was too small).
    pub orig_len: usize,
    /// Kernel receive time, `CLOCK_REALTIME` seconds and nanoseconds (0, 0 if none came).
    pub sec: i64,
    pub nsec: u32,
    /// The interface it was sent or received on.
    pub ifindex: u32,
}

/// Reads one frame from a non-blocking packet socket; `None` when there is none queued.
pub(crate) fn packet_recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<Frame>> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // u64 elements: cmsghdr alignment.
    let mut control = [0u64; 8];
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    // SAFETY: msghdr is plain data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    let n = loop {
        // SAFETY: msg points to `from`, to an iovec over `buf` and to `control`, all alive
        // and writable for the lengths given, for the duration of the call.
        let n = unsafe {
            libc::recvmsg(
                fd.as_raw_fd(),
                &mut msg,
                libc::MSG_TRUNC | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(None),
            _ => return Err(err),
        }
    };
    let mut frame = Frame {
        len: n.min(buf.len()),
        orig_len: n,
        sec: 0,
        nsec: 0,
        ifindex: from.sll_ifindex as u32,
    };
    // SAFETY: recvmsg filled `msg`; CMSG_FIRSTHDR/CMSG_NXTHDR stay within
    // msg_control..msg_controllen, and the timestamp is read unaligned from its data.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                frame.sec = ts.tv_sec as i64;
                frame.nsec = ts.tv_nsec as u32;
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(Some(frame))
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

// ---------------------------------------------------------------------------------------
// The link-conditions relay (used by `crate::fault`).

fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value points to a c_int and its size is passed with it.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens the `AF_PACKET` socket a relay reads and writes one interface with, in the calling
/// thread's netns: `SOCK_RAW`, every protocol, bound to `ifindex`, close-on-exec (blocking:
/// reads pass `MSG_DONTWAIT`).
///
/// Every frame carries a `virtio_net_hdr` (`PACKET_VNET_HDR`), so that GSO frames (up to
/// 64 KiB) and frames whose checksum is left to offload pass whole and still valid; frames
/// the socket itself sends are not read back (`PACKET_IGNORE_OUTGOING`, Linux 4.20, where
/// present); buffers are `bufsize` bytes (`SO_RCVBUFFORCE`, else as much as `SO_RCVBUF`
/// allows).
pub(crate) fn relay_socket(ifindex: u32, bufsize: usize) -> io::Result<OwnedFd> {
    // Protocol 0 at creation: nothing is received before the bind.
    // SAFETY: plain syscall with constant arguments.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socket returned a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let size = bufsize.min(i32::MAX as usize) as libc::c_int;
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if setsockopt_int(fd.as_fd(), libc::SOL_SOCKET, force, size).is_err() {
            setsockopt_int(fd.as_fd(), libc::SOL_SOCKET, plain, size)?;
        }
    }
    setsockopt_int(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1)?;
    match setsockopt_int(
        fd.as_fd(),
        libc::SOL_PACKET,
        libc::PACKET_IGNORE_OUTGOING,
        1,
    ) {
        // Older kernels: outgoing frames are recognised by their packet type instead.
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => {}
        r => r?,
    }
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as libc::c_ushort;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = ifindex as libc::c_int;
    // SAFETY: the address points to a sockaddr_ll and its size is passed with it.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// One frame read from a relay socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RelayFrame {
    /// Bytes stored in the buffer: the `virtio_net_hdr`, then the frame.
    pub len: usize,
    /// The frame did not fit in the buffer.
    pub truncated: bool,
    /// The frame was sent on the interface, not received (`PACKET_OUTGOING`).
    pub outgoing: bool,
}

/// Reads one frame from a relay socket without blocking; `None` when none is queued.
pub(crate) fn relay_recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<RelayFrame>> {
    loop {
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut fromlen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: buf is writable for its length; from/fromlen describe a sockaddr_ll.
        let n = unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut fromlen,
            )
        };
        if n >= 0 {
            let n = n as usize;
            return Ok(Some(RelayFrame {
                len: n.min(buf.len()),
                truncated: n > buf.len(),
                outgoing: from.sll_pkttype == libc::PACKET_OUTGOING,
            }));
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(None),
            _ => return Err(err),
        }
    }
}

/// Sends one frame (its `virtio_net_hdr` first) out of the relay socket's interface.
pub(crate) fn relay_send(fd: BorrowedFd<'_>, frame: &[u8]) -> io::Result<()> {
    loop {
        // SAFETY: frame is readable for its length.
        let n = unsafe { libc::send(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
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

/// Sets the calling thread's timer slack (how late the kernel may wake it), in ns.
pub(crate) fn set_timer_slack(ns: u64) -> io::Result<()> {
    // SAFETY: plain prctl on the calling thread.
    if unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Frames the kernel dropped on a packet socket because its receive buffer was full, since
/// the last call (`PACKET_STATISTICS`, which resets the counters).
pub(crate) fn packet_drops(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut stats = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: the option value points to a tpacket_stats and its size is passed with it.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut stats as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stats.tp_drops)
}

// ---------------------------------------------------------------------------------------
// Programs in a node (used by `crate::net`): the node's mount namespace and the pre-exec
// step that enters it.

/// What a node's programs see that differs from the sandbox: a mount namespace made once
/// per node, in which `/sys` is a sysfs of the node's network namespace and, with
/// `resolv_conf`, that file is bound over `/etc/resolv.conf` (what `ip netns exec NAME`
/// does by remounting `/sys` and binding `/etc/netns/NAME/resolv.conf`).
pub(crate) struct NodeMounts {
    /// The mount namespace.
    pub ns: OwnedFd,
    /// Why `/sys` could not be remounted (the programs then see the sandbox's), if so.
    pub sysfs: Option<io::Error>,
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
                Ok(NodeMounts { ns, sysfs })
            }
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// The pre-exec step of a program started in a node: enters its netns and its mount
/// namespace, staying in the working directory the child had.
///
/// # Safety
/// Runs between fork and exec: only async-signal-safe syscalls, on the stack and on fds
/// that the Node keeps open, which outlasts the spawn. No allocation.
unsafe fn enter_for_exec(netns: RawFd, mounts: Result<RawFd, i32>) -> io::Result<()> {
    let mounts = mounts.map_err(io::Error::from_raw_os_error)?;
    // setns(CLONE_NEWNS) moves the working directory to the namespace's root: keep its
    // path (the same file there: the namespaces differ only in /sys and resolv.conf) and,
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
            return Err(io::Error::last_os_error());
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

// ---------------------------------------------------------------------------------------
// Resource limits.

/// A resource limit of [`get_rlimit`] and [`set_rlimit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rlimit {
    /// `RLIMIT_NOFILE` (`ulimit -n`).
    Nofile,
    /// `RLIMIT_NPROC` (`ulimit -u`).
    Nproc,
}

/// The type glibc's `getrlimit` takes its resource as (an int elsewhere).
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

impl Rlimit {
    fn resource(self) -> Resource {
        match self {
            Rlimit::Nofile => libc::RLIMIT_NOFILE,
            Rlimit::Nproc => libc::RLIMIT_NPROC,
        }
    }
}

/// `getrlimit`: the soft and hard limit (`u64::MAX` for RLIM_INFINITY).
pub(crate) fn get_rlimit(limit: Rlimit) -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid out-pointer for the call.
    if unsafe { libc::getrlimit(limit.resource(), &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // rlim_t is u64 on 64-bit Linux, u32 elsewhere.
    #[allow(clippy::unnecessary_cast)]
    let wide = |v: libc::rlim_t| {
        if v == libc::RLIM_INFINITY {
            u64::MAX
        } else {
            v as u64
        }
    };
    Ok((wide(lim.rlim_cur), wide(lim.rlim_max)))
}

/// `setrlimit`: sets the soft and hard limit.
pub(crate) fn set_rlimit(limit: Rlimit, soft: u64, hard: u64) -> io::Result<()> {
    let narrow = |v: u64| libc::rlim_t::try_from(v).unwrap_or(libc::RLIM_INFINITY);
    let lim = libc::rlimit {
        rlim_cur: narrow(soft),
        rlim_max: narrow(hard),
    };
    // SAFETY: lim is a valid rlimit for the call.
    if unsafe { libc::setrlimit(limit.resource(), &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
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

/// Moves this single-threaded process into new user, mount and network namespaces, with
/// its uid and gid mapped to 0 (`unshare --user --map-root-user --mount --net`). On
/// failure, the step that failed and its error.
pub(crate) fn unshare_lab() -> Result<(), (&'static str, io::Error)> {
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWNET;
    // SAFETY: plain syscall; the caller has checked that no other thread exists.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err((
            "entering new user, mount and network namespaces (unshare)",
            io::Error::last_os_error(),
        ));
    }
    let write =
        |path: &'static str, data: String| std::fs::write(path, data).map_err(|e| (path, e));
    write("/proc/self/setgroups", "deny".to_string())?;
    write("/proc/self/uid_map", format!("0 {uid} 1\n"))?;
    write("/proc/self/gid_map", format!("0 {gid} 1\n"))?;
    Ok(())
}
