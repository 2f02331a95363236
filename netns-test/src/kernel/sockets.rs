//! A node's sockets, as `ss -tunap` lists them: TCP and UDP, IPv4 and IPv6, read over
//! `NETLINK_SOCK_DIAG` (`inet_diag`), with the processes that hold each one (found by
//! socket inode in `/proc/PID/fd`). Plain data for the diagnostics.
//!
//! The requests and answers are the kernel's fixed structs (`inet_diag_req_v2`,
//! `inet_diag_msg`, 56 and 72 bytes), written and read here as bytes.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr as NlAddr};

/// `SOCK_DIAG_BY_FAMILY`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// Every TCP state (`1 << TCP_ESTABLISHED` ... `1 << TCP_CLOSING`).
const ALL_STATES: u32 = 0xfff;
/// The size of `inet_diag_msg`.
const DIAG_MSG: usize = 72;

/// One socket of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SocketEntry {
    /// `tcp` or `udp`.
    pub(crate) proto: &'static str,
    /// As `ss` names it: `LISTEN`, `ESTAB`, `UNCONN`...
    pub(crate) state: &'static str,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
    pub(crate) recv_q: u32,
    pub(crate) send_q: u32,
    pub(crate) inode: u32,
    /// `name[pid]` of every process holding it (PIDs as this process's `/proc` shows them).
    pub(crate) owners: Vec<String>,
}

/// The TCP and UDP sockets of the calling thread's network namespace, with their owners
/// from `owners` ([`socket_owners`]).
pub(crate) fn read_sockets(owners: &HashMap<u32, Vec<String>>) -> io::Result<Vec<SocketEntry>> {
    let mut sock = Socket::new(NETLINK_SOCK_DIAG)?;
    sock.bind_auto()?;
    sock.connect(&NlAddr::new(0, 0))?;
    let mut all = Vec::new();
    for (family, proto, name) in [
        (libc::AF_INET, libc::IPPROTO_TCP, "tcp"),
        (libc::AF_INET6, libc::IPPROTO_TCP, "tcp"),
        (libc::AF_INET, libc::IPPROTO_UDP, "udp"),
        (libc::AF_INET6, libc::IPPROTO_UDP, "udp"),
    ] {
        sock.send(&request(family as u8, proto as u8), 0)?;
        dump(&sock, name, &mut all)?;
    }
    for s in &mut all {
        s.owners = owners.get(&s.inode).cloned().unwrap_or_default();
    }
    all.sort_by(|a, b| (a.proto, a.local.port(), a.state).cmp(&(b.proto, b.local.port(), b.state)));
    Ok(all)
}

/// A dump request for every socket of `family` and `proto`.
fn request(family: u8, proto: u8) -> Vec<u8> {
    let len = 16 + 56;
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b.extend_from_slice(&1u32.to_ne_bytes()); // seq
    b.extend_from_slice(&0u32.to_ne_bytes()); // pid
    b.extend_from_slice(&[family, proto, 0, 0]);
    b.extend_from_slice(&ALL_STATES.to_ne_bytes());
    b.resize(len, 0); // inet_diag_sockid: any
    b
}

/// Reads the answers to one dump request until `NLMSG_DONE`.
fn dump(sock: &Socket, proto: &'static str, out: &mut Vec<SocketEntry>) -> io::Result<()> {
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        sock.recv(&mut buf, 0)?;
        let mut at = 0;
        while at + 16 <= buf.len() {
            let len = u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as usize;
            let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().expect("2 bytes"));
            if len < 16 || at + len > buf.len() {
                return Err(io::Error::other("a malformed sock_diag answer"));
            }
            match kind {
                NLMSG_DONE => return Ok(()),
                NLMSG_ERROR => {
                    let errno = buf
                        .get(at + 16..at + 20)
                        .map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes")))
                        .unwrap_or(0);
                    // A protocol the kernel has no diag module for lists nothing.
                    if errno == -libc::ENOENT {
                        return Ok(());
                    }
                    return Err(io::Error::from_raw_os_error(-errno));
                }
                _ => {
                    if let Some(e) = parse(&buf[at + 16..at + len], proto) {
                        out.push(e);
                    }
                }
            }
            at += (len + 3) & !3;
        }
    }
}

/// One `inet_diag_msg`.
fn parse(m: &[u8], proto: &'static str) -> Option<SocketEntry> {
    if m.len() < DIAG_MSG {
        return None;
    }
    let u32_at = |i: usize| u32::from_ne_bytes(m[i..i + 4].try_into().expect("4 bytes"));
    let port = |i: usize| u16::from_be_bytes([m[i], m[i + 1]]);
    let addr = |i: usize| -> IpAddr {
        if m[0] as i32 == libc::AF_INET {
            IpAddr::V4(Ipv4Addr::new(m[i], m[i + 1], m[i + 2], m[i + 3]))
        } else {
            let b: [u8; 16] = m[i..i + 16].try_into().expect("16 bytes");
            IpAddr::V6(Ipv6Addr::from(b))
        }
    };
    Some(SocketEntry {
        proto,
        state: state_name(proto, m[1]),
        local: SocketAddr::new(addr(8), port(4)),
        peer: SocketAddr::new(addr(24), port(6)),
        recv_q: u32_at(60),
        send_q: u32_at(64),
        inode: u32_at(68),
        owners: Vec::new(),
    })
}

/// A TCP state as `ss` names it; UDP sockets are `UNCONN` or `ESTAB` (connected).
fn state_name(proto: &str, state: u8) -> &'static str {
    match (proto, state) {
        ("udp", 1) => "ESTAB",
        ("udp", _) => "UNCONN",
        (_, 1) => "ESTAB",
        (_, 2) => "SYN-SENT",
        (_, 3) => "SYN-RECV",
        (_, 4) => "FIN-WAIT-1",
        (_, 5) => "FIN-WAIT-2",
        (_, 6) => "TIME-WAIT",
        (_, 7) => "CLOSE",
        (_, 8) => "CLOSE-WAIT",
        (_, 9) => "LAST-ACK",
        (_, 10) => "LISTEN",
        (_, 11) => "CLOSING",
        _ => "?",
    }
}

/// Socket inode -> `name[pid]` of every process (in this process's `/proc`) that holds
/// it. Socket inodes are unique across network namespaces, so one reading serves every
/// node; a socket opened by a thread standing in a node belongs to that node.
pub(crate) fn socket_owners() -> HashMap<u32, Vec<String>> {
    let mut owners: HashMap<u32, Vec<String>> = HashMap::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return owners;
    };
    for p in procs.flatten() {
        let name = p.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let base = p.path();
        let comm = std::fs::read_to_string(base.join("comm")).unwrap_or_default();
        let who = format!("{}[{pid}]", comm.trim());
        let Ok(fds) = std::fs::read_dir(base.join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            if let Some(ino) = t
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|n| n.parse::<u32>().ok())
            {
                let list = owners.entry(ino).or_default();
                if !list.contains(&who) {
                    list.push(who.clone());
                }
            }
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `inet_diag_msg` of a TCP listener on 10.0.0.3:7000 reads back as `ss` shows it.
    #[test]
    fn a_diag_message_reads_as_ss_shows_it() {
        let mut m = vec![0u8; DIAG_MSG];
        m[0] = libc::AF_INET as u8;
        m[1] = 10;
        m[4..6].copy_from_slice(&7000u16.to_be_bytes());
        m[8..12].copy_from_slice(&[10, 0, 0, 3]);
        m[60..64].copy_from_slice(&2u32.to_ne_bytes());
        m[68..72].copy_from_slice(&4242u32.to_ne_bytes());
        let e = parse(&m, "tcp").expect("parsed");
        assert_eq!(e.state, "LISTEN");
        assert_eq!(e.local, "10.0.0.3:7000".parse().unwrap());
        assert_eq!(e.peer, "0.0.0.0:0".parse().unwrap());
        assert_eq!((e.recv_q, e.inode), (2, 4242));
        assert_eq!(request(2, 6).len(), 72);
    }
}
