//! The probe engine: a socket opened in the source node's namespace, re-sent on a
//! schedule, the ICMP errors read from its error queue, and the end classified with what
//! the source's kernel and the topology know.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::outcome::errno_text;
use super::{IcmpNotice, Names, Outcome, Probe, ProbeResult, Target};
use crate::net::{Node, RouteEntry};
use crate::sys;

/// How a probe treats an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Stop at the first definite answer (reply or error).
    Once,
    /// Keep trying through errors (refused, unreachable) until reached or the deadline.
    Persist,
}

struct Run {
    end: End,
    elapsed: Duration,
    sent: u32,
    errno: Option<i32>,
    icmp: Option<IcmpNotice>,
}

/// How a probe ended, before it is classified with what is known about the target.
enum End {
    Reached,
    Timeout,
    /// An error from the socket (with the ICMP error behind it in [`Run::icmp`]).
    Error(io::Error),
    /// The probe could not be sent; the sentence says why.
    NotSent(String),
}

impl Run {
    fn reached(start: Instant, sent: u32) -> Run {
        Run {
            end: End::Reached,
            elapsed: start.elapsed(),
            sent,
            errno: None,
            icmp: None,
        }
    }

    fn failed(start: Instant, sent: u32, e: &io::Error, icmp: Option<IcmpNotice>) -> Run {
        let copy = match e.raw_os_error() {
            Some(n) => io::Error::from_raw_os_error(n),
            None => io::Error::new(e.kind(), e.to_string()),
        };
        Run {
            end: End::Error(copy),
            elapsed: start.elapsed(),
            sent,
            errno: e.raw_os_error(),
            icmp,
        }
    }

    fn timeout(start: Instant, sent: u32) -> Run {
        Run {
            end: End::Timeout,
            elapsed: start.elapsed(),
            sent,
            errno: None,
            icmp: None,
        }
    }

    fn other(start: Instant, why: String) -> Run {
        Run {
            end: End::NotSent(why),
            elapsed: start.elapsed(),
            sent: 0,
            errno: None,
            icmp: None,
        }
    }
}

/// Re-send times: `first` after the start, then doubling up to `max`.
struct Schedule {
    next: Instant,
    step: Duration,
    max: Duration,
}

impl Schedule {
    fn new(start: Instant, first: Duration, max: Duration) -> Schedule {
        Schedule {
            next: start + first,
            step: first,
            max,
        }
    }

    fn advance(&mut self) {
        self.step = (self.step * 2).min(self.max);
        self.next += self.step;
    }
}

fn tokio_instant(t: Instant) -> tokio::time::Instant {
    tokio::time::Instant::from_std(t)
}

/// Opens a socket inside the node's network namespace (the calling thread enters it for
/// the `socket()` call only).
pub(super) fn socket_in(
    node: &Node,
    domain: Domain,
    ty: Type,
    proto: Protocol,
) -> io::Result<Socket> {
    let sock = sys::in_netns(node.netns(), || Socket::new(domain, ty, Some(proto)))??;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// Why a probe's socket could not be opened, with the remedy where one is known.
fn open_failure(node: &Node, probe: Probe, v6: bool, e: &io::Error) -> String {
    let denied = matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM));
    let range = if probe == Probe::Icmp && denied {
        sys::in_netns(node.netns(), || {
            std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
        })
        .ok()
        .and_then(Result::ok)
    } else {
        None
    };
    open_failure_text(node.name(), probe, v6, e, range.as_deref())
}

/// [`open_failure`] given the node's `net.ipv4.ping_group_range`, if it was read.
fn open_failure_text(
    node: &str,
    probe: Probe,
    v6: bool,
    e: &io::Error,
    ping_group_range: Option<&str>,
) -> String {
    let family = if v6 { "IPv6" } else { "IPv4" };
    let kind = match probe {
        Probe::Icmp => "ICMP datagram",
        Probe::Tcp(_) => "TCP",
        Probe::Udp(_) => "UDP",
    };
    let mut msg = format!(
        "could not open the {family} {kind} socket for the {} in node {node:?}: {}",
        probe.describe(v6),
        errno_text(e)
    );
    match (probe, e.raw_os_error()) {
        (Probe::Icmp, Some(libc::EACCES | libc::EPERM)) => {
            let now = match ping_group_range {
                Some(r) => format!(
                    "it is \"{}\" in node {node:?}",
                    r.split_whitespace().collect::<Vec<_>>().join(" ")
                ),
                None => format!("it could not be read in node {node:?}"),
            };
            msg.push_str(&format!(
                "; unprivileged ICMP sockets need net.ipv4.ping_group_range to hold the caller's group, and {now} (the runtime sets \"0 0\" in every node): write \"0 0\" back to /proc/sys/net/ipv4/ping_group_range in the node, or probe by TCP or UDP"
            ));
        }
        (_, Some(libc::EMFILE | libc::ENFILE)) => msg.push_str(
            "; the process is out of file descriptors: raise `ulimit -n`, or close the sockets the test keeps open",
        ),
        (_, Some(libc::EAFNOSUPPORT)) => msg.push_str(&format!(
            "; the kernel does not support {family} here (booted with ipv6.disable=1?)"
        )),
        _ => {}
    }
    msg
}

fn set_recverr(sock: &Socket, v6: bool) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    if v6 {
        setsockopt(sock, sockopt::Ipv6RecvErr, &true)?;
    } else {
        setsockopt(sock, sockopt::Ipv4RecvErr, &true)?;
    }
    Ok(())
}

/// Reads the socket's error queue; returns the last ICMP error in it.
fn drain_errqueue(fd: impl AsFd) -> Option<IcmpNotice> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};
    let fd = fd.as_fd().as_raw_fd();
    let mut last = None;
    for _ in 0..16 {
        let mut data = [0u8; 64];
        let mut iov = [io::IoSliceMut::new(&mut data)];
        let mut cmsg = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
        let Ok(msg) = recvmsg::<SockaddrStorage>(
            fd,
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
        ) else {
            break;
        };
        let Ok(cmsgs) = msg.cmsgs() else { continue };
        for c in cmsgs {
            match c {
                ControlMessageOwned::Ipv4RecvErr(ee, addr)
                    if ee.ee_origin == libc::SO_EE_ORIGIN_ICMP =>
                {
                    last = Some(IcmpNotice {
                        from: addr
                            .map(|a| IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)))),
                        from_node: None,
                        v6: false,
                        icmp_type: ee.ee_type,
                        code: ee.ee_code,
                    });
                }
                ControlMessageOwned::Ipv6RecvErr(ee, addr)
                    if ee.ee_origin == libc::SO_EE_ORIGIN_ICMP6 =>
                {
                    last = Some(IcmpNotice {
                        from: addr.map(|a| IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr))),
                        from_node: None,
                        v6: true,
                        icmp_type: ee.ee_type,
                        code: ee.ee_code,
                    });
                }
                _ => {}
            }
        }
    }
    last
}

/// Probes `dst` from `src`: the whole engine.
async fn run_probe(src: &Node, dst: IpAddr, probe: Probe, wait: Duration, mode: Mode) -> Run {
    match probe {
        Probe::Tcp(port) => run_tcp(src, SocketAddr::new(dst, port), wait, mode).await,
        Probe::Icmp | Probe::Udp(_) => run_dgram(src, dst, probe, wait, mode).await,
    }
}

fn echo_request(v6: bool, seq: u16) -> [u8; 24] {
    let mut p = [0u8; 24];
    p[0] = if v6 { 128 } else { 8 };
    // Identifier (bytes 4-5) and checksum are filled in by the kernel.
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..].copy_from_slice(b"netns-test reach");
    p
}

const UDP_PAYLOAD: &[u8] = b"netns-test reach probe\n";

/// ICMP echo or UDP: one connected datagram socket, re-sent on a schedule, until an answer,
/// an error (in [`Mode::Once`]) or the deadline.
async fn run_dgram(src: &Node, dst: IpAddr, probe: Probe, wait: Duration, mode: Mode) -> Run {
    let start = Instant::now();
    let deadline = start + wait;
    let v6 = dst.is_ipv6();
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let (proto, port) = match probe {
        Probe::Icmp if v6 => (Protocol::ICMPV6, 0),
        Probe::Icmp => (Protocol::ICMPV4, 0),
        Probe::Udp(p) => (Protocol::UDP, p),
        Probe::Tcp(_) => unreachable!("TCP is not a datagram probe"),
    };
    let sock = match socket_in(src, domain, Type::DGRAM, proto) {
        Ok(s) => s,
        Err(e) => return Run::other(start, open_failure(src, probe, v6, &e)),
    };
    if let Err(e) = set_recverr(&sock, v6) {
        return Run::other(
            start,
            format!(
                "setting IP_RECVERR on the probe's socket in node {:?}: {}",
                src.name(),
                errno_text(&e)
            ),
        );
    }
    // Connecting fails at once without a route (ENETUNREACH), and filters what comes back.
    if let Err(e) = sock.connect(&SockAddr::from(SocketAddr::new(dst, port))) {
        return Run::failed(start, 0, &e, None);
    }
    let sock = match tokio::net::UdpSocket::from_std(sock.into()) {
        Ok(s) => s,
        Err(e) => {
            return Run::other(
                start,
                format!("registering the socket (is there a tokio runtime? use net.block_on): {e}"),
            )
        }
    };
    let is_reply = |b: &[u8]| match probe {
        Probe::Icmp => b.first() == Some(&if v6 { 129 } else { 0 }),
        _ => true,
    };
    let (first, max) = match mode {
        Mode::Once => (Duration::from_millis(25), Duration::from_millis(400)),
        Mode::Persist => (Duration::from_millis(10), Duration::from_millis(100)),
    };
    let mut sched = Schedule::new(start, first, max);
    let mut sent: u32 = 0;
    let mut last: Option<(io::Error, Option<IcmpNotice>)> = None;
    let mut send_now = true;
    let mut buf = [0u8; 2048];
    loop {
        if send_now {
            send_now = false;
            let res = match probe {
                Probe::Icmp => sock.send(&echo_request(v6, sent as u16)).await,
                _ => sock.send(UDP_PAYLOAD).await,
            };
            sent += 1;
            if let Err(e) = res {
                let icmp = drain_errqueue(&sock);
                if mode == Mode::Once {
                    return Run::failed(start, sent, &e, icmp);
                }
                last = Some((e, icmp));
            }
        }
        tokio::select! {
            biased;
            r = sock.recv(&mut buf) => match r {
                Ok(n) if is_reply(&buf[..n]) => return Run::reached(start, sent),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    let icmp = drain_errqueue(&sock);
                    if mode == Mode::Once {
                        return Run::failed(start, sent, &e, icmp);
                    }
                    last = Some((e, icmp));
                }
            },
            () = tokio::time::sleep_until(tokio_instant(deadline)) => {
                return match last {
                    Some((e, icmp)) => Run::failed(start, sent, &e, icmp),
                    None => Run::timeout(start, sent),
                };
            }
            () = tokio::time::sleep_until(tokio_instant(sched.next)) => {
                sched.advance();
                send_now = true;
            }
        }
    }
}

/// Why a TCP connection attempt failed.
enum AttemptError {
    /// The socket could not be opened: the sentence says why (nothing was sent).
    Open(String),
    /// The connection failed, with the ICMP error behind it, if any.
    Connect(io::Error, Option<IcmpNotice>),
}

/// One TCP connection attempt.
async fn tcp_attempt(src: &Node, addr: SocketAddr) -> Result<(), AttemptError> {
    let domain = Domain::for_address(addr);
    let sock = socket_in(src, domain, Type::STREAM, Protocol::TCP).map_err(|e| {
        AttemptError::Open(open_failure(
            src,
            Probe::Tcp(addr.port()),
            addr.is_ipv6(),
            &e,
        ))
    })?;
    // With IP_RECVERR an ICMP error that aborts the handshake is also queued on the
    // socket: a duplicate of the fd reads it after tokio has dropped the socket.
    let errs = set_recverr(&sock, addr.is_ipv6()).and_then(|()| sock.try_clone());
    let sock = tokio::net::TcpSocket::from_std_stream(sock.into());
    match sock.connect(addr).await {
        Ok(stream) => {
            drop(stream);
            Ok(())
        }
        Err(e) => Err(AttemptError::Connect(e, errs.ok().and_then(drain_errqueue))),
    }
}

/// TCP: a connection attempt, and another one on the schedule while the earlier ones are
/// unanswered (a lost SYN otherwise costs the kernel's 1 s retransmission), until one
/// connects, one fails (in [`Mode::Once`]) or the deadline.
async fn run_tcp(src: &Node, addr: SocketAddr, wait: Duration, mode: Mode) -> Run {
    let start = Instant::now();
    let deadline = start + wait;
    // A new attempt only when the earlier ones have been unanswered this long: a server
    // that answers at once sees one connection.
    let resend_after = Duration::from_millis(250);
    let (first, max) = match mode {
        Mode::Once => (resend_after, Duration::from_secs(1)),
        Mode::Persist => (Duration::from_millis(10), Duration::from_millis(100)),
    };
    let mut sched = Schedule::new(start, first, max);
    let mut attempts = FuturesUnordered::new();
    attempts.push(tcp_attempt(src, addr));
    let mut sent: u32 = 1;
    let mut last_start = start;
    let mut last: Option<(io::Error, Option<IcmpNotice>)> = None;
    loop {
        tokio::select! {
            biased;
            Some(r) = attempts.next(), if !attempts.is_empty() => match r {
                Ok(()) => return Run::reached(start, sent),
                Err(AttemptError::Open(why)) => return Run::other(start, why),
                Err(AttemptError::Connect(e, icmp)) => {
                    if mode == Mode::Once {
                        return Run::failed(start, sent, &e, icmp);
                    }
                    last = Some((e, icmp));
                }
            },
            () = tokio::time::sleep_until(tokio_instant(deadline)) => {
                return match last {
                    Some((e, icmp)) => Run::failed(start, sent, &e, icmp),
                    None => Run::timeout(start, sent),
                };
            }
            () = tokio::time::sleep_until(tokio_instant(sched.next)) => {
                sched.advance();
                let now = Instant::now();
                if attempts.is_empty() || now - last_start >= resend_after {
                    attempts.push(tcp_attempt(src, addr));
                    sent += 1;
                    last_start = now;
                }
            }
        }
    }
}

/// Probes use tokio sockets and timers: without a runtime, say what to do rather than
/// tokio's "no reactor running".
fn need_runtime() {
    if tokio::runtime::Handle::try_current().is_err() {
        panic!(
            "netns-test: reachability probes are async and run on the test's tokio runtime: in a synchronous test body, run them with net.block_on(...)"
        );
    }
}

/// Resolves and runs one probe, as a [`ProbeResult`].
pub(super) async fn probe_target(
    src: &Node,
    target: &Target,
    probe: Probe,
    wait: Duration,
    mode: Mode,
    names: &Names,
) -> ProbeResult {
    need_runtime();
    let (to, addr) = target.resolve(names);
    let mut run = match &addr {
        Ok(_) if wait.is_zero() => Run::other(
            Instant::now(),
            "the wait is zero, so no answer could come: give the probe a deadline".to_string(),
        ),
        Ok(a) => run_probe(src, *a, probe, wait, mode).await,
        Err(why) => Run::other(Instant::now(), why.clone()),
    };
    if let Some(n) = &mut run.icmp {
        n.from_node = n.from.and_then(|a| names.node_of(a));
    }
    let mut no_source = None;
    let outcome = match run.end {
        End::Reached => Outcome::Reached,
        End::Timeout => Outcome::Timeout,
        End::NotSent(why) => Outcome::Failed(why),
        End::Error(e) => {
            let dst = *addr
                .as_ref()
                .expect("an error comes from a probe that was sent");
            let (outcome, why) =
                classify_error(src, dst, probe, &e, run.icmp.as_ref(), names).await;
            no_source = why;
            outcome
        }
    };
    ProbeResult {
        from: src.name().to_string(),
        to,
        addr: addr.ok(),
        probe,
        outcome,
        elapsed: run.elapsed,
        wait,
        sent: run.sent,
        errno: run.errno,
        icmp: run.icmp,
        no_source,
    }
}

/// [`Outcome::classify`], and for the errors the source's own kernel returns before
/// anything is sent, a look at the source: an address family it has no address of (then
/// also the sentence for [`ProbeResult::no_source`]), an IPv6 link-local target without an
/// interface, a blackhole route.
async fn classify_error(
    src: &Node,
    dst: IpAddr,
    probe: Probe,
    e: &io::Error,
    icmp: Option<&IcmpNotice>,
    names: &Names,
) -> (Outcome, Option<String>) {
    let from_target = icmp
        .and_then(|n| n.from)
        .is_none_or(|from| names.same_node(from, dst));
    let local = icmp.is_none();
    let errno = e.raw_os_error();
    let link_local = matches!(dst, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80);
    if local && errno == Some(libc::EINVAL) && (link_local || dst.is_multicast()) {
        return (
            Outcome::Failed(format!(
                "{dst} is a {} address, which the kernel refuses as a probe's destination ({}): probe one of the target's global or unique local addresses",
                if link_local { "link-local" } else { "multicast" },
                errno_text(e)
            )),
            None,
        );
    }
    if local
        && matches!(
            errno,
            Some(libc::ENETUNREACH | libc::EHOSTUNREACH | libc::EADDRNOTAVAIL | libc::EINVAL)
        )
    {
        // No address of the family to send from: the kernel routes nothing out of the
        // node, which is the isolation of a `--net none` container, not a mistake.
        if let Ok(Sources::None(others)) = sources_for(src, dst) {
            return (
                Outcome::NetUnreachable,
                Some(no_source_text(src.name(), dst, &others, e)),
            );
        }
    }
    if local && errno == Some(libc::EINVAL) {
        if blackholed(src, dst).await {
            return (Outcome::NetUnreachable, None);
        }
        return (
            Outcome::Failed(format!(
                "the kernel of node {:?} refused to send the {} to {dst}: {}",
                src.name(),
                probe.describe(dst.is_ipv6()),
                errno_text(e)
            )),
            None,
        );
    }
    (Outcome::classify(e, icmp, from_target), None)
}

/// Why a node with no address of `dst`'s family sent nothing to it, and what would let it:
/// `node "a" has no IPv4 address to send from, only loopback or link-local ones (127.0.0.1)`.
fn no_source_text(node: &str, dst: IpAddr, others: &[IpAddr], e: &io::Error) -> String {
    let (fam, give) = if dst.is_ipv6() {
        (
            "IPv6",
            "give its network an IPv6 subnet (e.g. `.bridge_with(\"br0\", \"10.0.0.0/24\", |b| b.ipv6(\"fd00:1::/64\"))`)",
        )
    } else {
        ("IPv4", "attach it to a network with an IPv4 subnet")
    };
    let only = if others.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = others.iter().map(IpAddr::to_string).collect();
        format!(", only loopback or link-local ones ({})", list.join(", "))
    };
    format!(
        "node {node:?} has no {fam} address to send from{only}, so its kernel sends nothing to {dst} ({}): for it to reach anything over {fam}, {give}",
        errno_text(e)
    )
}

/// What a node has to send to an address from.
enum Sources {
    /// An address of the family that can reach it.
    Some,
    /// None: only these of the family (loopback, link-local).
    None(Vec<IpAddr>),
}

/// Whether the node has an address it can send to `dst` from (its live addresses, from the
/// kernel): of the same family, not a loopback address (unless `dst` is one), not
/// link-local (unless `dst` is).
fn sources_for(node: &Node, dst: IpAddr) -> io::Result<Sources> {
    let addrs = sys::in_netns(node.netns(), nix::ifaddrs::getifaddrs)??;
    let is_ll = |a: &IpAddr| matches!(a, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80);
    let same_family: Vec<IpAddr> = addrs
        .filter_map(|ia| ia.address)
        .filter_map(|sa| {
            if let Some(v4) = sa.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                sa.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .filter(|a| a.is_ipv6() == dst.is_ipv6())
        .collect();
    if same_family
        .iter()
        .any(|a| (dst.is_loopback() || !a.is_loopback()) && (is_ll(&dst) || !is_ll(a)))
    {
        Ok(Sources::Some)
    } else {
        Ok(Sources::None(same_family))
    }
}

/// Whether the source's route toward `dst` is a blackhole (`EINVAL` on connect): a route
/// without a gateway and without a device (IPv4), or on `lo` (IPv6).
async fn blackholed(src: &Node, dst: IpAddr) -> bool {
    let Ok(routes) = routes_of(src).await else {
        return false;
    };
    routes
        .iter()
        .filter(|r| r.dest.addr().is_ipv6() == dst.is_ipv6() && r.dest.contains(&dst))
        .max_by_key(|r| r.dest.prefix_len())
        .is_some_and(|r| r.via.is_none() && matches!(r.dev, None | Some(1)))
}
/// The node's routes. Two route dumps on one netlink socket at once make the second fail
/// with EBUSY: retried a few times.
pub(super) async fn routes_of(node: &Node) -> Result<Vec<RouteEntry>, String> {
    let mut tries = 0;
    loop {
        match node.route().list().await {
            Ok(r) => return Ok(r),
            Err(crate::Error::Netlink {
                source: rtnetlink::Error::NetlinkError(m),
                ..
            }) if m.raw_code() == -libc::EBUSY && tries < 20 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reach::outcome::tests::has;

    #[test]
    fn resends_double_up_to_the_longest_step() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let mut s = Schedule::new(start, ms(25), ms(100));
        let mut at = vec![s.next - start];
        for _ in 0..4 {
            s.advance();
            at.push(s.next - start);
        }
        assert_eq!(at, [ms(25), ms(75), ms(175), ms(275), ms(375)]);
    }

    #[test]
    fn echo_requests_carry_their_sequence() {
        let p = echo_request(false, 0x0102);
        assert_eq!((p[0], &p[6..8]), (8, &[1u8, 2][..]));
        assert_eq!(echo_request(true, 7)[0], 128);
    }

    #[test]
    fn a_source_without_an_address_is_named() {
        let e = io::Error::from_raw_os_error(libc::ENETUNREACH);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let msg = no_source_text("a", "10.0.0.1".parse().unwrap(), &[lo], &e);
        assert_eq!(
            msg,
            "node \"a\" has no IPv4 address to send from, only loopback or link-local ones (127.0.0.1), so its kernel sends nothing to 10.0.0.1 (ENETUNREACH (Network is unreachable)): for it to reach anything over IPv4, attach it to a network with an IPv4 subnet"
        );
        let msg = no_source_text("b", "fd00::1".parse().unwrap(), &[], &e);
        has(
            &msg,
            &[
                "node \"b\" has no IPv6 address to send from, so its kernel",
                "give its network an IPv6 subnet",
            ],
        );
    }

    #[test]
    fn sockets_that_cannot_be_opened_are_named() {
        let e = io::Error::from_raw_os_error(libc::EACCES);
        let msg = open_failure_text("a", Probe::Icmp, true, &e, Some("1\t0\n"));
        has(
            &msg,
            &[
                "could not open the IPv6 ICMP datagram socket for the ICMPv6 echo in node \"a\": EACCES (Permission denied)",
                "net.ipv4.ping_group_range to hold the caller's group, and it is \"1 0\" in node \"a\"",
                "write \"0 0\" back to /proc/sys/net/ipv4/ping_group_range in the node, or probe by TCP or UDP",
            ],
        );
        let msg = open_failure_text("a", Probe::Icmp, false, &e, None);
        has(&msg, &["it could not be read in node \"a\""]);
        let e = io::Error::from_raw_os_error(libc::EMFILE);
        let msg = open_failure_text("b", Probe::Tcp(80), false, &e, None);
        has(
            &msg,
            &[
                "could not open the IPv4 TCP socket for the TCP port 80 in node \"b\": EMFILE (Too many open files)",
                "raise `ulimit -n`",
            ],
        );
    }
}
