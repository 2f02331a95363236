//! `AF_PACKET` sockets: the capture of the diagnostics (one socket per namespace, a BPF
//! filter on the captured interfaces, kernel timestamps) and the link-conditions relay
//! (one socket per interface, `virtio_net_hdr` frames), and the kernel's drop counter.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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
    setsockopt_int(fd.as_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
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
    // Every interface (ifindex 0); the filter picks.
    bind_all_protocols(&fd, 0)?;
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
    bind_all_protocols(&fd, ifindex)?;
    Ok(fd)
}

/// Binds a packet socket to every protocol (`ETH_P_ALL`) of interface `ifindex` (0: of
/// every interface).
fn bind_all_protocols(fd: &OwnedFd, ifindex: u32) -> io::Result<()> {
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
    Ok(())
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

/// The destination a redirected IPv6 TCP connection was first addressed to, before an
/// nf_tables DNAT sent it to this socket (`IP6T_SO_ORIGINAL_DST`, from conntrack).
pub(crate) fn original_dst_v6(fd: BorrowedFd<'_>) -> io::Result<std::net::SocketAddrV6> {
    /// `IP6T_SO_ORIGINAL_DST` (linux/netfilter_ipv6/ip6_tables.h), which libc lacks.
    const IP6T_SO_ORIGINAL_DST: libc::c_int = 80;
    // SAFETY: all-zero is a valid sockaddr_in6.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    // SAFETY: the option value points to a sockaddr_in6 and its size is passed with it.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_IPV6,
            IP6T_SO_ORIGINAL_DST,
            (&mut sa as *mut libc::sockaddr_in6).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::net::SocketAddrV6::new(
        std::net::Ipv6Addr::from(sa.sin6_addr.s6_addr),
        u16::from_be(sa.sin6_port),
        0,
        0,
    ))
}
