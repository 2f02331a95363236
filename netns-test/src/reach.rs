//! Who reaches whom: reachability and isolation in one line, and failures that explain
//! themselves.
//!
//! | instead of                                         | write                                                        |
//! | -------------------------------------------------- | ------------------------------------------------------------ |
//! | `ping -c1 -W1 b` in node `a`                       | `a.ping(&b).await?`                                          |
//! | `ping -c1 -W1 b && echo BUG` (isolation)           | `a.assert_cannot_reach(&b, Probe::Icmp).await`               |
//! | `nc -z -w1 b 80`                                   | `a.assert_reaches(&b, Probe::Tcp(80)).await`                 |
//! | `echo x \| nc -u -w1 b 53`                          | `a.assert_reaches(&b, Probe::Udp(53)).await`                 |
//! | `sleep 1` before talking to a server               | `b.wait_for_port(Probe::Tcp(8080), Duration::from_secs(5))`  |
//! | a loop of `ping`s over every pair (`pingAll`)      | `net.assert_matrix(Probe::Icmp, TABLE).await`                |
//!
//! Every probe runs from a socket opened inside the source node's namespace, waits on that
//! socket with a bounded deadline and re-sends on a timer while it waits (no sleeps):
//!
//! - [`Probe::Icmp`]: ICMP or ICMPv6 echo over an unprivileged ICMP datagram socket (the
//!   runtime allows them in every node with `net.ipv4.ping_group_range`);
//! - [`Probe::Tcp`]: a TCP connect; reached when the handshake completes (the connection
//!   is then closed: a server under test sees it as one accepted connection);
//! - [`Probe::Udp`]: a datagram to the port; reached when any datagram comes back. Run
//!   [`Node::udp_echo`] in the target when the node has no UDP service of its own.
//!
//! A probe that does not reach says why: no answer within the deadline (timeout), refused
//! (TCP RST, ICMP port unreachable from the target), network or host unreachable (from
//! `errno` and the ICMP error that came back, with the router that sent it), prohibited (a
//! firewall rule), and shows the source's routes toward the destination and its addresses.
//!
//! # What proves isolation
//!
//! [`Node::assert_cannot_reach`], a matrix's `n` and the `check_*` negatives pass only when
//! the probe was sent and stopped before the target: silence ([`Outcome::Timeout`]), no
//! route ([`Outcome::NetUnreachable`], a blackhole route included), an unreachable host
//! ([`Outcome::HostUnreachable`]) or a firewall rule on the way ([`Outcome::Prohibited`],
//! which includes an ICMP port unreachable sent by a *router*: a `reject` rule in between).
//! See [`Outcome::is_blocked`]. Two other answers fail them:
//!
//! - **Refused** ([`Outcome::Refused`]): the target's own stack answered, with a TCP reset
//!   or an ICMP destination unreachable whose source is the target's address (port
//!   unreachable, or its own firewall's reject). The path exists; only nothing listens. So
//!   `a.assert_cannot_reach(&b, Probe::Tcp(80))` against a closed port of a reachable `b`
//!   fails: to assert isolation, probe a port where something listens (start the server,
//!   or [`Node::udp_echo`]) or use [`Probe::Icmp`]. A TCP reset carries no sender, so every
//!   reset counts as refused, also one sent by a `reject` rule on a router on the way (the
//!   project's [`crate::nft::Rule::reject`] answers TCP with a reset): drop instead of
//!   rejecting, or probe by UDP or ICMP, where a router's answer is told apart by its
//!   source.
//! - **Could not probe** ([`Outcome::Failed`]): the probe was never sent: an unknown node
//!   or name (`"con2x"`), no address of the probed family at the target or at the source
//!   (an IPv6 probe to or from an IPv4-only node), a socket that could not be opened (an
//!   ICMP socket refused by `net.ipv4.ping_group_range`), an unexpected `errno`. The error
//!   names it and the remedy; every check, positive or negative, fails on it.
//!
//! # The isolation wait
//!
//! A negative probe waits [`ISOLATION_WAIT`] (300 ms) for the answer that must not come.
//! On a loaded machine, raise it for every negative check that uses the default with the
//! environment variable `NETNS_TEST_ISOLATION_WAIT` (`"300ms"`, `"2s"`, `"1m"`, or a whole
//! number of seconds; at least the default and at most 60 s; empty means unset; any other
//! value fails the check, naming the variable). A wait given in the code
//! ([`Node::check_cannot_reach_within`], [`Matrix::isolation_wait`]) is used as given. A
//! failing negative check says how long it waited and where that came from.
//!
//! Routers rate-limit the ICMP errors they send (Linux: a burst of two or three per source,
//! then about one a second), so after a few unanswerable probes through the same router an
//! "unreachable" may show up as a timeout instead; either way it is "not reached". A host
//! rate-limits its own port unreachable answers the same way: a negative UDP check is only
//! as good as the positive control next to it (the same port answering from where it may).
//!
//! Probes are `async`: in a synchronous test body run them with [`Net::block_on`]:
//!
//! ```no_run
//! use netns_test::reach::Probe;
//! use netns_test::{netns_test, presets, Net};
//!
//! #[netns_test(topology = presets::bridge_pair())]
//! fn sync_body(net: Net) {
//!     let (a, b) = (net.node("a"), net.node("b"));
//!     net.block_on(a.assert_reaches(&b, Probe::Icmp));
//! }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::net::{Net, Node, RouteEntry};
use crate::sys;

/// How long a probe that is expected to reach waits for an answer by default. It returns as
/// soon as the answer comes, so a passing check costs the round trip, not this.
pub const REACH_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a probe that is expected *not* to reach waits before it concludes that nothing
/// answers (by default). Inside one machine an answer takes microseconds to a few
/// milliseconds; raise it on a very loaded machine with the environment variable
/// [`ISOLATION_WAIT_ENV`] (for every check), or in the code with
/// [`Matrix::isolation_wait`] and [`Node::check_cannot_reach_within`].
pub const ISOLATION_WAIT: Duration = Duration::from_millis(300);

/// The environment variable that raises the default isolation wait:
/// `NETNS_TEST_ISOLATION_WAIT=2s` (see the [module documentation](self)).
pub const ISOLATION_WAIT_ENV: &str = "NETNS_TEST_ISOLATION_WAIT";

/// The longest isolation wait the environment variable may ask for.
const ISOLATION_WAIT_MAX: Duration = Duration::from_secs(60);

/// Where the wait of a negative probe came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WaitFrom {
    /// [`ISOLATION_WAIT`].
    Default,
    /// [`ISOLATION_WAIT_ENV`].
    Env,
    /// The code: `check_cannot_reach_within`, `Matrix::isolation_wait`.
    Given,
}

/// Parses a value of [`ISOLATION_WAIT_ENV`]: `"300ms"`, `"2s"`, `"1m"` or whole seconds.
fn parse_isolation_wait(value: &str) -> Result<Duration, String> {
    let v = value.trim();
    let bad = |why: &str| {
        format!(
            "{ISOLATION_WAIT_ENV}={value:?} {why}: write a duration like \"500ms\", \"2s\" or \"1m\" (a whole number of seconds without a unit), from the default {} up to {}; it raises the wait of every negative reachability check",
            fmt_dur(ISOLATION_WAIT),
            fmt_dur(ISOLATION_WAIT_MAX)
        )
    };
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    if num.is_empty() {
        return Err(bad("is not a duration"));
    }
    let factor: u64 = match unit {
        "" | "s" => 1000,
        "ms" => 1,
        "m" => 60_000,
        _ => return Err(bad("is not a duration")),
    };
    let ms = num
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| bad("is too large"))?;
    let d = Duration::from_millis(ms);
    if d < ISOLATION_WAIT {
        return Err(bad(&format!(
            "is shorter than the default {}: the variable only raises the wait (a shorter one lets a slow answer pass for isolation)",
            fmt_dur(ISOLATION_WAIT)
        )));
    }
    if d > ISOLATION_WAIT_MAX {
        return Err(bad(&format!(
            "is {}, longer than {}: every negative check would wait that long",
            fmt_dur(d),
            fmt_dur(ISOLATION_WAIT_MAX)
        )));
    }
    Ok(d)
}

/// The default isolation wait in effect: [`ISOLATION_WAIT_ENV`] if set (and not empty),
/// else [`ISOLATION_WAIT`]. Read at every check, so a test may set the variable itself.
fn default_isolation_wait() -> Result<(Duration, WaitFrom), String> {
    match std::env::var(ISOLATION_WAIT_ENV) {
        Err(std::env::VarError::NotPresent) => Ok((ISOLATION_WAIT, WaitFrom::Default)),
        Err(std::env::VarError::NotUnicode(v)) => Err(format!(
            "{ISOLATION_WAIT_ENV}={v:?} is not UTF-8: write a duration like \"2s\""
        )),
        Ok(v) if v.trim().is_empty() => Ok((ISOLATION_WAIT, WaitFrom::Default)),
        Ok(v) => parse_isolation_wait(&v).map(|d| (d, WaitFrom::Env)),
    }
}

/// One sentence on how long a negative probe waited and how to change it.
fn wait_note(wait: Duration, from: WaitFrom) -> String {
    let w = fmt_dur(wait);
    match from {
        WaitFrom::Default => format!(
            "the probe waited up to {w} for an answer (the default isolation wait; on a loaded machine raise it with {ISOLATION_WAIT_ENV}, e.g. {ISOLATION_WAIT_ENV}=2s)"
        ),
        WaitFrom::Env => format!(
            "the probe waited up to {w} for an answer (the isolation wait set by {ISOLATION_WAIT_ENV})"
        ),
        WaitFrom::Given => format!(
            "the probe waited up to {w} for an answer (the wait given in the code; {ISOLATION_WAIT_ENV} changes only the default)"
        ),
    }
}

/// What a probe sends, and what counts as reaching.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Probe {
    /// ICMP echo (`ping`), or ICMPv6 echo when the target address is IPv6. Reached on an
    /// echo reply.
    Icmp,
    /// TCP connect to the port (`nc -z`). Reached when the handshake completes.
    Tcp(u16),
    /// A UDP datagram to the port. Reached when any datagram comes back (see
    /// [`Node::udp_echo`]).
    Udp(u16),
}

impl Probe {
    fn describe(self, v6: bool) -> String {
        match self {
            Probe::Icmp if v6 => "ICMPv6 echo".to_string(),
            Probe::Icmp => "ICMP echo".to_string(),
            Probe::Tcp(p) => format!("TCP port {p}"),
            Probe::Udp(p) => format!("UDP port {p}"),
        }
    }

    fn port(self) -> u16 {
        match self {
            Probe::Icmp => 0,
            Probe::Tcp(p) | Probe::Udp(p) => p,
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(false))
    }
}

// ---------------------------------------------------------------------------------------
// Targets

/// Where a probe goes: a node (its first IPv4 address, else its first IPv6 address), an
/// address, or a name (a node of the topology, looked up in the test's [`Net`] whatever
/// the source's own resolver knows, or an address in text).
///
/// Every probing method takes `impl Into<Target>`: pass `&node`, `node.ip()`, an
/// `Ipv6Addr`, `"con2"` or `"10.0.0.3"`; [`Target::v6`] picks a node's IPv6 address.
#[derive(Clone, Debug)]
pub struct Target(TargetKind);

#[derive(Clone, Debug)]
enum TargetKind {
    Node(Node, Option<bool>),
    Addr(IpAddr),
    Name(String),
}

impl Target {
    /// The node's first IPv4 address.
    pub fn v4(node: &Node) -> Target {
        Target(TargetKind::Node(node.clone(), Some(false)))
    }

    /// The node's first IPv6 address.
    pub fn v6(node: &Node) -> Target {
        Target(TargetKind::Node(node.clone(), Some(true)))
    }

    /// The address and a label naming it (`con3 (172.19.0.2)`), or why there is none.
    fn resolve(&self, names: &Names) -> (String, Result<IpAddr, String>) {
        match &self.0 {
            TargetKind::Node(node, v6) => {
                let addr = node_addr(node, *v6);
                let label = match &addr {
                    Ok(a) => format!("{} ({a})", node.name()),
                    Err(_) => node.name().to_string(),
                };
                (label, addr)
            }
            TargetKind::Addr(a) => (names.label(*a), Ok(*a)),
            TargetKind::Name(s) => match s.parse::<IpAddr>() {
                Ok(a) => (names.label(a), Ok(a)),
                Err(_) => match names.net.as_ref().map(|net| net.try_node(s)) {
                    Some(Ok(node)) => Target::from(node).resolve(names),
                    Some(Err(e)) => (s.clone(), Err(e.to_string())),
                    None => (s.clone(), Err(format!("no network to look {s:?} up in"))),
                },
            },
        }
    }
}

impl From<&Node> for Target {
    fn from(n: &Node) -> Target {
        Target(TargetKind::Node(n.clone(), None))
    }
}
impl From<Node> for Target {
    fn from(n: Node) -> Target {
        Target(TargetKind::Node(n, None))
    }
}
impl From<IpAddr> for Target {
    fn from(a: IpAddr) -> Target {
        Target(TargetKind::Addr(a))
    }
}
impl From<Ipv4Addr> for Target {
    fn from(a: Ipv4Addr) -> Target {
        Target(TargetKind::Addr(a.into()))
    }
}
impl From<Ipv6Addr> for Target {
    fn from(a: Ipv6Addr) -> Target {
        Target(TargetKind::Addr(a.into()))
    }
}
impl From<&str> for Target {
    fn from(s: &str) -> Target {
        Target(TargetKind::Name(s.to_string()))
    }
}
impl From<String> for Target {
    fn from(s: String) -> Target {
        Target(TargetKind::Name(s))
    }
}
impl From<&String> for Target {
    fn from(s: &String) -> Target {
        Target(TargetKind::Name(s.clone()))
    }
}

/// A node's first address of a family (`None`: IPv4, else IPv6).
fn node_addr(node: &Node, v6: Option<bool>) -> Result<IpAddr, String> {
    let find = |want_v6: bool| {
        node.addrs()
            .map(|a| a.addr())
            .find(|a| a.is_ipv6() == want_v6)
    };
    match v6 {
        Some(true) => find(true).ok_or_else(|| {
            format!(
                "node {:?} has no IPv6 address, so there is nothing to probe over IPv6: give its network an IPv6 subnet (e.g. `.bridge_with(\"br0\", \"10.0.0.0/24\", |b| b.ipv6(\"fd00:1::/64\"))`) or probe its IPv4 address",
                node.name()
            )
        }),
        Some(false) => find(false).ok_or_else(|| {
            format!(
                "node {:?} has no IPv4 address, so there is nothing to probe over IPv4: attach it to a network with an IPv4 subnet, or probe its IPv6 address (`Target::v6`)",
                node.name()
            )
        }),
        None => find(false).or_else(|| find(true)).ok_or_else(|| {
            format!(
                "node {:?} has no address: attach it to a network",
                node.name()
            )
        }),
    }
}

/// Node names and their addresses, from the topology (not from a node's resolver: a
/// node may not know every name, a test does).
#[derive(Default)]
struct Names {
    by_addr: HashMap<IpAddr, String>,
    /// The network node names are looked up in.
    net: Option<Net>,
}

impl Names {
    fn from_net(net: &Net) -> Names {
        let mut names = Names {
            net: Some(net.clone()),
            ..Names::default()
        };
        for node in net.nodes() {
            for a in node.addrs() {
                names.add(a.addr(), node.name());
            }
        }
        names
    }

    /// The names of the network `node` belongs to (none once it is torn down): that
    /// network's, never another's, when a process has several (a `Lab`, the harness mode).
    fn of(node: &Node) -> Names {
        node.network()
            .map_or_else(Names::default, |net| Names::from_net(&net))
    }

    /// Whether two addresses belong to the same node of the topology.
    fn same_node(&self, a: IpAddr, b: IpAddr) -> bool {
        a == b
            || matches!((self.by_addr.get(&a), self.by_addr.get(&b)), (Some(x), Some(y)) if x == y)
    }

    fn add(&mut self, addr: IpAddr, name: &str) {
        self.by_addr.entry(addr).or_insert_with(|| name.to_string());
    }

    fn label(&self, addr: IpAddr) -> String {
        match self.by_addr.get(&addr) {
            Some(n) => format!("{n} ({addr})"),
            None => addr.to_string(),
        }
    }

    /// `172.18.0.1 (host)` or `172.18.0.1`.
    fn addr_named(&self, addr: IpAddr) -> String {
        match self.by_addr.get(&addr) {
            Some(n) => format!("{addr} ({n})"),
            None => addr.to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Outcomes

/// What happened to a probe.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The target answered: an echo reply, a completed handshake, a datagram back.
    Reached,
    /// No answer within the deadline.
    Timeout,
    /// Refused by the target itself: a TCP reset (`ECONNREFUSED`), or an ICMP destination
    /// unreachable whose source is the target (port unreachable: nothing listens; or
    /// administratively prohibited: its own firewall rejects it). The packet got there, so
    /// this is neither reached (nothing accepted it) nor isolation (the path exists): every
    /// check fails on it, [`Node::assert_cannot_reach`] included. A TCP reset carries no
    /// sender: one sent by a `reject` rule on a router counts as refused too.
    Refused,
    /// Network unreachable (`ENETUNREACH`): no route, here or at a router on the way; or a
    /// blackhole route in the source (`EINVAL`).
    NetUnreachable,
    /// Host unreachable (`EHOSTUNREACH`): a router (or the source itself) could not
    /// deliver it.
    HostUnreachable,
    /// Blocked by a firewall rule before the target: an ICMP "administratively
    /// prohibited" or "port unreachable" sent by a router on the way (a `reject` rule in
    /// between), or `EPERM`/`EACCES` when a rule or a `prohibit` route in the source
    /// stopped it.
    Prohibited,
    /// The probe could not be sent, in words naming the node, name, address family or
    /// `errno` and the remedy: an unknown node or name, no address of the probed family at
    /// the target or the source, a socket that could not be opened, an unexpected error.
    /// Every check fails on it, the negative ones included.
    Failed(String),
}

impl Outcome {
    /// True for [`Outcome::Reached`]: the probe got through to something that answers.
    pub fn is_reached(&self) -> bool {
        matches!(self, Outcome::Reached)
    }

    /// True for [`Outcome::Refused`]: the target's own stack answered that nothing listens
    /// (or that its own firewall rejects it).
    pub fn is_refused(&self) -> bool {
        matches!(self, Outcome::Refused)
    }

    /// True when the probe was sent and stopped before the target's stack: a timeout, an
    /// unreachable network or host, a firewall rule on the way. These, and only these,
    /// satisfy [`Node::check_cannot_reach`] and a matrix's `n`.
    pub fn is_blocked(&self) -> bool {
        matches!(
            self,
            Outcome::Timeout
                | Outcome::NetUnreachable
                | Outcome::HostUnreachable
                | Outcome::Prohibited
        )
    }

    /// The outcome of an error, given the ICMP error behind it (if any) and whether that
    /// ICMP error came from the target itself (an address of the target's node).
    fn classify(e: &io::Error, icmp: Option<&IcmpNotice>, icmp_from_target: bool) -> Outcome {
        if let Some(n) = icmp.filter(|n| n.is_dest_unreachable()) {
            if icmp_from_target {
                return Outcome::Refused;
            }
            if n.is_prohibited() || n.is_port_unreachable() {
                return Outcome::Prohibited;
            }
        }
        match e.raw_os_error() {
            Some(libc::ECONNREFUSED) => Outcome::Refused,
            Some(libc::ENETUNREACH) => Outcome::NetUnreachable,
            Some(libc::EHOSTUNREACH | libc::EHOSTDOWN) => Outcome::HostUnreachable,
            Some(libc::EACCES | libc::EPERM) => Outcome::Prohibited,
            Some(libc::ETIMEDOUT) => Outcome::Timeout,
            _ => Outcome::Failed(format!("unexpected error {}", errno_text(e))),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Reached => f.write_str("reached"),
            Outcome::Timeout => f.write_str("timeout"),
            Outcome::Refused => f.write_str("refused: the path exists, nothing listens"),
            Outcome::NetUnreachable => f.write_str("network unreachable"),
            Outcome::HostUnreachable => f.write_str("host unreachable"),
            Outcome::Prohibited => f.write_str("prohibited"),
            Outcome::Failed(s) => write!(f, "could not probe: {s}"),
        }
    }
}

/// `EACCES (Permission denied)`.
fn errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let errno = nix::errno::Errno::from_raw(n);
            format!("{errno:?} ({})", errno.desc())
        }
        None => e.to_string(),
    }
}

/// An ICMP error that came back for a probe (read from the socket's error queue).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IcmpNotice {
    /// Who sent it: a router on the way, the target, or the source itself.
    pub from: Option<IpAddr>,
    /// The node that has that address, if one does.
    pub from_node: Option<String>,
    /// ICMPv6 rather than ICMP.
    pub v6: bool,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
}

impl IcmpNotice {
    /// ICMP destination unreachable (type 3), ICMPv6 destination unreachable (type 1).
    fn is_dest_unreachable(&self) -> bool {
        self.icmp_type == if self.v6 { 1 } else { 3 }
    }

    /// Port (or protocol) unreachable: what a host answers when nothing listens, and what
    /// a `reject` rule sends.
    fn is_port_unreachable(&self) -> bool {
        if self.v6 {
            self.icmp_type == 1 && self.code == 4
        } else {
            self.icmp_type == 3 && matches!(self.code, 2 | 3)
        }
    }

    fn is_prohibited(&self) -> bool {
        if self.v6 {
            self.icmp_type == 1 && matches!(self.code, 1 | 5 | 6)
        } else {
            self.icmp_type == 3 && matches!(self.code, 9 | 10 | 13)
        }
    }

    fn meaning(&self) -> String {
        let (t, c) = (self.icmp_type, self.code);
        let s = if self.v6 {
            match (t, c) {
                (1, 0) => "destination unreachable, no route",
                (1, 1) => "destination unreachable, administratively prohibited",
                (1, 2) => "destination unreachable, beyond scope of source address",
                (1, 3) => "destination unreachable, address unreachable",
                (1, 4) => "destination unreachable, port unreachable",
                (1, 5) => "destination unreachable, source address failed policy",
                (1, 6) => "destination unreachable, reject route",
                (1, _) => "destination unreachable",
                (2, _) => "packet too big",
                (3, _) => "time exceeded (hop limit)",
                (4, _) => "parameter problem",
                _ => "",
            }
        } else {
            match (t, c) {
                (3, 0) => "destination unreachable, net unreachable",
                (3, 1) => "destination unreachable, host unreachable",
                (3, 2) => "destination unreachable, protocol unreachable",
                (3, 3) => "destination unreachable, port unreachable",
                (3, 4) => "destination unreachable, fragmentation needed",
                (3, 6) => "destination unreachable, network unknown",
                (3, 7) => "destination unreachable, host unknown",
                (3, 9) => "destination unreachable, network administratively prohibited",
                (3, 10) => "destination unreachable, host administratively prohibited",
                (3, 13) => "destination unreachable, communication administratively prohibited",
                (3, _) => "destination unreachable",
                (11, _) => "time exceeded (TTL)",
                (12, _) => "parameter problem",
                _ => "",
            }
        };
        let kind = if self.v6 { "ICMPv6" } else { "ICMP" };
        if s.is_empty() {
            format!("{kind} type {t} code {c}")
        } else {
            format!("{kind} {s} (type {t} code {c})")
        }
    }
}

/// The result of one probe from one node to one target.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProbeResult {
    /// The source node.
    pub from: String,
    /// The target as named in messages: `con3 (172.19.0.2)`.
    pub to: String,
    /// The target address, when it could be resolved.
    pub addr: Option<IpAddr>,
    /// The probe.
    pub probe: Probe,
    /// What happened.
    pub outcome: Outcome,
    /// Time to the answer (or to giving up).
    pub elapsed: Duration,
    /// The deadline the probe had.
    pub wait: Duration,
    /// Echo requests, connection attempts or datagrams sent.
    pub sent: u32,
    /// The `errno` of a failure, if there was one.
    pub errno: Option<i32>,
    /// The ICMP error that came back, if any.
    pub icmp: Option<IcmpNotice>,
}

impl ProbeResult {
    fn v6(&self) -> bool {
        self.addr.is_some_and(|a| a.is_ipv6())
    }

    fn probe_name(&self) -> String {
        self.probe.describe(self.v6())
    }

    /// What happened, in words: `timeout: no answer within 300 ms (3 echo requests sent)`.
    pub fn what_happened(&self) -> String {
        let elapsed = fmt_dur(self.elapsed);
        let unit = |n: u32| -> String {
            let (one, many) = match self.probe {
                Probe::Icmp => ("echo request", "echo requests"),
                Probe::Tcp(_) => ("connection attempt", "connection attempts"),
                Probe::Udp(_) => ("datagram", "datagrams"),
            };
            format!("{n} {}", if n == 1 { one } else { many })
        };
        let sock = self
            .addr
            .map(|a| SocketAddr::new(a, self.probe.port()).to_string())
            .unwrap_or_default();
        let icmp = self.icmp.as_ref().map(|n| match n.from {
            Some(from) => match &n.from_node {
                Some(node) => format!("; {} from {node} ({from})", n.meaning()),
                None => format!("; {} from {from}", n.meaning()),
            },
            None => format!("; {}", n.meaning()),
        });
        let icmp = icmp.unwrap_or_default();
        match &self.outcome {
            Outcome::Reached => match self.probe {
                Probe::Icmp => format!("echo reply after {elapsed}"),
                Probe::Tcp(_) => format!("connected to {sock} after {elapsed}"),
                Probe::Udp(_) => format!("answer from {sock} after {elapsed}"),
            },
            Outcome::Timeout => {
                let hint = match self.probe {
                    Probe::Udp(p) => format!(
                        "; is something answering on UDP port {p} there? (Node::udp_echo)"
                    ),
                    Probe::Tcp(_) => "; no SYN-ACK, no reset".to_string(),
                    Probe::Icmp => String::new(),
                };
                let errno = if self.errno == Some(libc::ETIMEDOUT) {
                    ", ETIMEDOUT"
                } else {
                    ""
                };
                format!(
                    "timeout: no answer within {} ({} sent{errno}{hint})",
                    fmt_dur(self.wait),
                    unit(self.sent)
                )
            }
            Outcome::Refused => {
                let target_fw = self.icmp.as_ref().is_some_and(IcmpNotice::is_prohibited);
                match self.probe {
                    _ if target_fw => format!(
                        "refused: the path exists, the target's own firewall rejects it{icmp}; after {elapsed}"
                    ),
                    Probe::Tcp(_) if icmp.is_empty() => format!(
                        "refused: the path exists, nothing listens on {sock} (TCP reset, ECONNREFUSED; a rule rejecting with a reset looks the same); after {elapsed}"
                    ),
                    Probe::Tcp(_) => format!(
                        "refused: the path exists, nothing listens on {sock}{icmp}; after {elapsed}"
                    ),
                    Probe::Udp(_) if icmp.is_empty() => format!(
                        "refused: the path exists, nothing listens on UDP {sock} (ICMP port unreachable, ECONNREFUSED); after {elapsed}"
                    ),
                    Probe::Udp(_) => format!(
                        "refused: the path exists, nothing listens on UDP {sock}{icmp}; after {elapsed}"
                    ),
                    Probe::Icmp => format!(
                        "refused: the path exists, the target does not answer echo requests (ECONNREFUSED){icmp}; after {elapsed}"
                    ),
                }
            }
            Outcome::NetUnreachable if self.errno == Some(libc::EINVAL) => format!(
                "network unreachable (EINVAL): a blackhole route in {} toward {} discards it (at once, nothing was sent)",
                self.from,
                self.addr.map(|a| a.to_string()).unwrap_or_default()
            ),
            Outcome::NetUnreachable => {
                if icmp.is_empty() {
                    format!(
                        "network unreachable (ENETUNREACH): {} has no route to {} (at once, nothing was sent)",
                        self.from,
                        self.addr.map(|a| a.to_string()).unwrap_or_default()
                    )
                } else {
                    format!("network unreachable (ENETUNREACH){icmp}; after {elapsed}")
                }
            }
            Outcome::HostUnreachable if icmp.is_empty() => format!(
                "host unreachable (EHOSTUNREACH: no neighbour answered ARP/ND, or an unreachable route); after {elapsed}"
            ),
            Outcome::HostUnreachable => {
                format!("host unreachable (EHOSTUNREACH){icmp}; after {elapsed}")
            }
            Outcome::Prohibited => {
                let on_the_way = self
                    .icmp
                    .as_ref()
                    .is_some_and(|n| n.is_port_unreachable() && !n.is_prohibited());
                let why = match self.errno {
                    _ if on_the_way => format!(
                        "{}, not from the target: a reject rule on the way",
                        icmp.trim_start_matches("; ")
                    ),
                    _ if !icmp.is_empty() => icmp.trim_start_matches("; ").to_string(),
                    Some(libc::EPERM) => format!(
                        "EPERM: a netfilter rule in {} dropped it on the way out",
                        self.from
                    ),
                    Some(libc::EACCES) => {
                        "EACCES: rejected by a rule or a prohibit route".to_string()
                    }
                    _ => "a rule rejected it".to_string(),
                };
                format!("prohibited ({why}); after {elapsed}")
            }
            Outcome::Failed(s) => format!("could not probe: {s}"),
        }
    }
}

impl fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} by {}: {}",
            self.from,
            self.to,
            self.probe_name(),
            self.what_happened()
        )
    }
}

fn fmt_dur(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        let s = format!("{:.2}", d.as_secs_f64());
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{s} s")
    }
}

// ---------------------------------------------------------------------------------------
// The path: the source's routes and addresses.

/// What the way from the source looked like when a check failed: its routes toward the
/// destination (main table, longest prefix first) and its addresses.
#[derive(Clone, Debug)]
pub struct PathReport {
    from: String,
    dest: Option<IpAddr>,
    /// Routes whose prefix holds the destination, longest first.
    matching: Vec<String>,
    /// Every route of the destination's family (shown when none matches).
    family: Vec<String>,
    addrs: Vec<String>,
    error: Option<String>,
}

impl PathReport {
    async fn of(node: &Node, dest: Option<IpAddr>, names: &Names) -> PathReport {
        PathReport::build(node, dest, names, &routes_of(node).await)
    }

    fn build(
        node: &Node,
        dest: Option<IpAddr>,
        names: &Names,
        routes: &Result<Vec<RouteEntry>, String>,
    ) -> PathReport {
        let ifname = |index: u32| -> String {
            if index == 1 {
                return "lo".to_string();
            }
            node.ifaces()
                .iter()
                .find(|i| i.index == index)
                .map_or_else(|| format!("if{index}"), |i| i.name.clone())
        };
        let fmt_route = |r: &RouteEntry| -> String {
            let mut s = r.dest.to_string();
            if let Some(via) = r.via {
                s.push_str(&format!(" via {}", names.addr_named(via)));
            }
            if let Some(dev) = r.dev {
                s.push_str(&format!(" dev {}", ifname(dev)));
            }
            if r.via.is_none() {
                s.push_str(" (on link)");
            }
            s
        };
        let addrs = node
            .ifaces()
            .iter()
            .flat_map(|i| i.addrs.iter().map(move |a| format!("{} {a}", i.name)))
            .collect();
        let mut report = PathReport {
            from: node.name().to_string(),
            dest,
            matching: Vec::new(),
            family: Vec::new(),
            addrs,
            error: None,
        };
        let Some(dest) = dest else {
            return report;
        };
        match routes {
            Ok(routes) => {
                let mut same: Vec<&RouteEntry> = routes
                    .iter()
                    .filter(|r| r.dest.addr().is_ipv6() == dest.is_ipv6())
                    .collect();
                report.family = same.iter().map(|r| fmt_route(r)).collect();
                same.retain(|r| r.dest.contains(&dest));
                same.sort_by_key(|r| std::cmp::Reverse(r.dest.prefix_len()));
                report.matching = same.iter().map(|r| fmt_route(r)).collect();
            }
            Err(e) => report.error = Some(e.clone()),
        }
        report
    }

    /// The routes toward the destination, longest prefix (the one used) first.
    pub fn routes(&self) -> &[String] {
        &self.matching
    }

    /// The source's addresses, as `eth0 172.18.0.2/16`.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    fn write(&self, f: &mut dyn fmt::Write, indent: &str) -> fmt::Result {
        let from = &self.from;
        if let Some(dest) = self.dest {
            if let Some(e) = &self.error {
                writeln!(f, "{indent}{from}'s routes: could not be listed: {e}")?;
            } else if self.matching.is_empty() {
                let fam = if dest.is_ipv6() { "IPv6" } else { "IPv4" };
                if self.family.is_empty() {
                    writeln!(
                        f,
                        "{indent}{from} has no route toward {dest}, and no {fam} route at all"
                    )?;
                } else {
                    writeln!(
                        f,
                        "{indent}{from} has no route toward {dest}; its {fam} routes: {}",
                        self.family.join("; ")
                    )?;
                }
            } else {
                writeln!(
                    f,
                    "{indent}{from}'s route toward {dest}: {}",
                    self.matching[0]
                )?;
                for r in &self.matching[1..] {
                    writeln!(f, "{indent}  (also matching: {r})")?;
                }
            }
        }
        if self.addrs.is_empty() {
            write!(f, "{indent}{from}'s addresses: none (only lo)")
        } else {
            write!(f, "{indent}{from}'s addresses: {}", self.addrs.join(", "))
        }
    }
}

impl fmt::Display for PathReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, "")
    }
}

/// The node's routes. Two route dumps on one netlink socket at once make the second fail
/// with EBUSY: retried a few times.
async fn routes_of(node: &Node) -> Result<Vec<RouteEntry>, String> {
    let mut tries = 0;
    loop {
        match node.routes().await {
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

/// A reachability claim that did not hold: who, to whom, by what, what happened, and the
/// path from the source.
#[derive(Clone, Debug)]
pub struct ReachError(Box<ReachErrorInner>);

#[derive(Clone, Debug)]
struct ReachErrorInner {
    result: ProbeResult,
    claim: Claim,
    path: PathReport,
    /// For a negative claim: where its wait came from.
    wait_from: Option<WaitFrom>,
}

/// Which claim a [`ReachError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Claim {
    Reaches,
    CannotReach,
    /// [`Node::wait_until_reaches`].
    EventuallyReaches,
    /// [`Node::wait_for_port`].
    Accepts,
}

impl ReachError {
    async fn new(node: &Node, result: ProbeResult, claim: Claim, names: &Names) -> Self {
        let path = PathReport::of(node, result.addr, names).await;
        ReachError(Box::new(ReachErrorInner {
            result,
            claim,
            path,
            wait_from: None,
        }))
    }

    fn with_wait_from(mut self, from: WaitFrom) -> Self {
        self.0.wait_from = Some(from);
        self
    }

    /// The probe and what happened to it.
    pub fn result(&self) -> &ProbeResult {
        &self.0.result
    }

    /// What happened: for a failed "reaches" claim, why it did not; for a failed
    /// "cannot reach" claim, [`Outcome::Reached`], [`Outcome::Refused`] (the target
    /// answered) or [`Outcome::Failed`] (the probe could not be sent).
    pub fn outcome(&self) -> &Outcome {
        &self.0.result.outcome
    }

    /// The source's routes and addresses at the time of the failure.
    pub fn path(&self) -> &PathReport {
        &self.0.path
    }
}

impl fmt::Display for ReachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.0.result;
        let (from, to, probe, what) = (&r.from, &r.to, r.probe_name(), r.what_happened());
        let not_sent = matches!(r.outcome, Outcome::Failed(_));
        match self.0.claim {
            Claim::Reaches if not_sent => writeln!(
                f,
                "{from} should reach {to} by {probe}, but the probe could not be sent: {}",
                what.trim_start_matches("could not probe: ")
            )?,
            Claim::Reaches => {
                writeln!(f, "{from} should reach {to} by {probe}, but did not: {what}")?
            }
            Claim::CannotReach if not_sent => writeln!(
                f,
                "{from} should NOT reach {to} by {probe}, but that was not shown: the probe could not be sent: {}",
                what.trim_start_matches("could not probe: ")
            )?,
            Claim::CannotReach if r.outcome.is_refused() => {
                writeln!(
                    f,
                    "{from} should NOT reach {to} by {probe}, but the target answered: {what}"
                )?;
                let advice = match r.probe {
                    Probe::Tcp(p) if r.icmp.is_none() => format!(
                        "probe a port where something listens (start the server on TCP port {p} first), or use Probe::Icmp; if something does listen there, a reject rule on the way answered with a reset, which carries no sender: drop instead of rejecting, or probe by UDP"
                    ),
                    Probe::Tcp(p) => format!(
                        "probe a port where something listens (start the server on TCP port {p} first), or use Probe::Icmp"
                    ),
                    Probe::Udp(p) => format!(
                        "probe a port where something answers (run Node::udp_echo({p}) in the target first), or use Probe::Icmp"
                    ),
                    Probe::Icmp => "probe a TCP or UDP port where something listens".to_string(),
                };
                writeln!(
                    f,
                    "  a refusal is not isolation: the packet got to the target, only nothing took it; to assert isolation, {advice}"
                )?
            }
            Claim::CannotReach => writeln!(
                f,
                "{from} should NOT reach {to} by {probe}, but it did: {what}"
            )?,
            Claim::EventuallyReaches if not_sent => writeln!(
                f,
                "{from} did not reach {to} by {probe}: the probe could not be sent: {}",
                what.trim_start_matches("could not probe: ")
            )?,
            Claim::EventuallyReaches => writeln!(
                f,
                "{from} did not reach {to} by {probe} within {}, retrying all along; the last try: {what}",
                fmt_dur(r.wait)
            )?,
            Claim::Accepts => writeln!(
                f,
                "nothing in {from} answered on {probe} (probed at {to}) within {}, retrying all along; the last try: {what}",
                fmt_dur(r.wait)
            )?,
        }
        if let (Some(wait_from), false) = (self.0.wait_from, not_sent) {
            writeln!(f, "  {}", wait_note(r.wait, wait_from))?;
        }
        self.0.path.write(f, "  ")
    }
}

impl std::error::Error for ReachError {}

// ---------------------------------------------------------------------------------------
// The probing engine.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
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
fn socket_in(node: &Node, domain: Domain, ty: Type, proto: Protocol) -> io::Result<Socket> {
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
async fn probe_target(
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
        n.from_node = n.from.and_then(|a| names.by_addr.get(&a).cloned());
    }
    let outcome = match run.end {
        End::Reached => Outcome::Reached,
        End::Timeout => Outcome::Timeout,
        End::NotSent(why) => Outcome::Failed(why),
        End::Error(e) => {
            let dst = *addr
                .as_ref()
                .expect("an error comes from a probe that was sent");
            classify_error(src, dst, probe, &e, run.icmp.as_ref(), names).await
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
    }
}

/// [`Outcome::classify`], and for the errors the source's own kernel returns before
/// anything is sent, a look at the source: an address family it has no address of, an
/// IPv6 link-local target without an interface, a blackhole route.
async fn classify_error(
    src: &Node,
    dst: IpAddr,
    probe: Probe,
    e: &io::Error,
    icmp: Option<&IcmpNotice>,
    names: &Names,
) -> Outcome {
    let from_target = icmp
        .and_then(|n| n.from)
        .is_none_or(|from| names.same_node(from, dst));
    let local = icmp.is_none();
    let errno = e.raw_os_error();
    if local
        && matches!(
            errno,
            Some(libc::ENETUNREACH | libc::EADDRNOTAVAIL | libc::EINVAL)
        )
    {
        if let Ok(false) = has_source_for(src, dst) {
            let (fam, other) = if dst.is_ipv6() {
                ("IPv6", "IPv4")
            } else {
                ("IPv4", "IPv6")
            };
            let give = if dst.is_ipv6() {
                "give its network an IPv6 subnet (e.g. `.bridge_with(\"br0\", \"10.0.0.0/24\", |b| b.ipv6(\"fd00:1::/64\"))`)"
            } else {
                "attach it to a network with an IPv4 subnet"
            };
            return Outcome::Failed(format!(
                "node {:?} has no {fam} address to send from (only loopback or link-local ones), so the {} to {dst} could not be sent ({}): {give}, or probe an {other} address",
                src.name(),
                probe.describe(dst.is_ipv6()),
                errno_text(e)
            ));
        }
    }
    if local && errno == Some(libc::EINVAL) {
        let link_local = matches!(dst, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80);
        if link_local || dst.is_multicast() {
            return Outcome::Failed(format!(
                "{dst} is a {} address, which the kernel refuses as a probe's destination ({}): probe one of the target's global or unique local addresses",
                if link_local { "link-local" } else { "multicast" },
                errno_text(e)
            ));
        }
        if blackholed(src, dst).await {
            return Outcome::NetUnreachable;
        }
        return Outcome::Failed(format!(
            "the kernel of node {:?} refused to send the {} to {dst}: {}",
            src.name(),
            probe.describe(dst.is_ipv6()),
            errno_text(e)
        ));
    }
    Outcome::classify(e, icmp, from_target)
}

/// Whether the node has an address it can send to `dst` from (its live addresses, from the
/// kernel): of the same family, not a loopback address (unless `dst` is one), not
/// link-local (unless `dst` is).
fn has_source_for(node: &Node, dst: IpAddr) -> io::Result<bool> {
    let addrs = sys::in_netns(node.netns(), nix::ifaddrs::getifaddrs)??;
    let is_ll = |a: &IpAddr| matches!(a, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80);
    Ok(addrs
        .filter_map(|ia| ia.address)
        .filter_map(|sa| {
            if let Some(v4) = sa.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                sa.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .any(|a| {
            a.is_ipv6() == dst.is_ipv6()
                && (dst.is_loopback() || !a.is_loopback())
                && (is_ll(&dst) || !is_ll(&a))
        }))
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

// ---------------------------------------------------------------------------------------
// Node: single probes, assertions, waiting for services.

impl Node {
    /// Probes `target` once from this node with a deadline, and says what happened; never
    /// fails. The building block of the checks below.
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::{Outcome, Probe};
    /// use std::time::Duration;
    ///
    /// #[netns_test(topology = presets::bridge_pair())]
    /// async fn no_web_server_yet(net: Net) {
    ///     let r = net.node("a").probe("b", Probe::Tcp(80), Duration::from_secs(1)).await;
    ///     assert_eq!(r.outcome, Outcome::Refused, "{r}");
    /// }
    /// ```
    pub async fn probe(
        &self,
        target: impl Into<Target>,
        probe: Probe,
        wait: Duration,
    ) -> ProbeResult {
        let names = Names::of(self);
        probe_target(self, &target.into(), probe, wait, Mode::Once, &names).await
    }

    /// Pings `target` (ICMP echo, or ICMPv6 for an IPv6 target) and returns the round-trip
    /// time; re-sends while it waits, gives up after [`REACH_TIMEOUT`]. Replaces
    /// `ping -c1 -W2 TARGET`.
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Target;
    ///
    /// #[netns_test(topology = presets::bridge_pair())]
    /// async fn a_pings_b(net: Net) -> Result<(), netns_test::reach::ReachError> {
    ///     let (a, b) = (net.node("a"), net.node("b"));
    ///     let rtt = a.ping(&b).await?; // b's first IPv4 address
    ///     a.ping("b").await?; // by name
    ///     a.ping(b.ip()).await?; // by address
    ///     println!("{rtt:?}");
    ///     Ok(())
    /// }
    /// ```
    pub async fn ping(&self, target: impl Into<Target>) -> Result<Duration, ReachError> {
        self.check_reaches_within(target, Probe::Icmp, REACH_TIMEOUT)
            .await
    }

    /// Checks that this node reaches `target` by `probe` within [`REACH_TIMEOUT`]; the
    /// error says from where to where, by what, what happened and the source's routes.
    /// The non-panicking form of [`Node::assert_reaches`].
    pub async fn check_reaches(
        &self,
        target: impl Into<Target>,
        probe: Probe,
    ) -> Result<Duration, ReachError> {
        self.check_reaches_within(target, probe, REACH_TIMEOUT)
            .await
    }

    /// [`Node::check_reaches`] with a deadline of your own.
    pub async fn check_reaches_within(
        &self,
        target: impl Into<Target>,
        probe: Probe,
        timeout: Duration,
    ) -> Result<Duration, ReachError> {
        let names = Names::of(self);
        let r = probe_target(self, &target.into(), probe, timeout, Mode::Once, &names).await;
        if r.outcome.is_reached() {
            Ok(r.elapsed)
        } else {
            Err(ReachError::new(self, r, Claim::Reaches, &names).await)
        }
    }

    /// Checks that this node does *not* reach `target` by `probe`: the probe is sent and
    /// stopped before the target (nothing answers within the isolation wait, or an
    /// unreachable or prohibited answer: [`Outcome::is_blocked`]). Returns what happened
    /// (a test may insist on, say, [`Outcome::Timeout`] rather than
    /// [`Outcome::Prohibited`]). The non-panicking form of [`Node::assert_cannot_reach`].
    ///
    /// The wait is [`ISOLATION_WAIT`], or `NETNS_TEST_ISOLATION_WAIT` when set (see the
    /// [module documentation](self)).
    ///
    /// # Errors
    /// A [`ReachError`] when the target answered ([`Outcome::Reached`]), when it refused
    /// ([`Outcome::Refused`]: the path exists, nothing listens; probe a port where
    /// something does), and when the probe could not be sent ([`Outcome::Failed`]: an
    /// unknown node or name, no address of the probed family, a socket that could not be
    /// opened, an invalid `NETNS_TEST_ISOLATION_WAIT`).
    pub async fn check_cannot_reach(
        &self,
        target: impl Into<Target>,
        probe: Probe,
    ) -> Result<Outcome, ReachError> {
        let target = target.into();
        match default_isolation_wait() {
            Ok((wait, from)) => self.cannot_reach(target, probe, wait, from).await,
            Err(why) => {
                let names = Names::of(self);
                let (to, addr) = target.resolve(&names);
                let result = ProbeResult {
                    from: self.name().to_string(),
                    to,
                    addr: addr.ok(),
                    probe,
                    outcome: Outcome::Failed(why),
                    elapsed: Duration::ZERO,
                    wait: Duration::ZERO,
                    sent: 0,
                    errno: None,
                    icmp: None,
                };
                Err(ReachError::new(self, result, Claim::CannotReach, &names).await)
            }
        }
    }

    /// [`Node::check_cannot_reach`] with a wait of your own (used as given, whatever
    /// `NETNS_TEST_ISOLATION_WAIT` says).
    pub async fn check_cannot_reach_within(
        &self,
        target: impl Into<Target>,
        probe: Probe,
        wait: Duration,
    ) -> Result<Outcome, ReachError> {
        self.cannot_reach(target.into(), probe, wait, WaitFrom::Given)
            .await
    }

    async fn cannot_reach(
        &self,
        target: Target,
        probe: Probe,
        wait: Duration,
        from: WaitFrom,
    ) -> Result<Outcome, ReachError> {
        let names = Names::of(self);
        let r = probe_target(self, &target, probe, wait, Mode::Once, &names).await;
        if r.outcome.is_blocked() {
            Ok(r.outcome)
        } else {
            Err(ReachError::new(self, r, Claim::CannotReach, &names)
                .await
                .with_wait_from(from))
        }
    }

    /// Asserts that this node reaches `target` by `probe` (within [`REACH_TIMEOUT`]);
    /// returns the time the answer took. Replaces `ping -c1 -W2 b`, `nc -z -w2 b 80`.
    ///
    /// # Panics
    /// With the [`ReachError`] message, e.g.
    ///
    /// ```text
    /// con1 should reach con3 (172.19.0.2) by ICMP echo, but did not: timeout: no answer within 2 s (7 echo requests sent)
    ///   con1's route toward 172.19.0.2: 0.0.0.0/0 via 172.18.0.1 (host) dev eth0
    ///   con1's addresses: eth0 172.18.0.2/16
    /// ```
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Probe;
    ///
    /// #[netns_test(topology = presets::bridge_pair())]
    /// async fn web(net: Net) {
    ///     let (a, b) = (net.node("a"), net.node("b"));
    ///     let l = b.run(async { tokio::net::TcpListener::bind("0.0.0.0:80").await }).await.unwrap();
    ///     a.assert_reaches(&b, Probe::Tcp(80)).await;
    ///     a.assert_reaches(&b, Probe::Icmp).await;
    ///     drop(l);
    /// }
    /// ```
    pub async fn assert_reaches(&self, target: impl Into<Target>, probe: Probe) -> Duration {
        self.check_reaches(target, probe)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Asserts that this node does not reach `target` by `probe`: the isolation claim
    /// (waits [`ISOLATION_WAIT`], or `NETNS_TEST_ISOLATION_WAIT`, for an answer that must
    /// not come). Replaces `! ping -c1 -W1 con3`.
    ///
    /// # Panics
    /// With the [`ReachError`] message when the target answers, when it refuses (a closed
    /// port proves the path exists: probe a port where something listens, or by ICMP),
    /// and when the probe cannot be sent (a misspelt node, no address of the family, a
    /// socket refused): see [`Node::check_cannot_reach`].
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Probe;
    ///
    /// #[netns_test(topology = presets::two_networks())]
    /// async fn user_networks_are_isolated(net: Net) {
    ///     net.node("con1").assert_cannot_reach("con3", Probe::Icmp).await;
    /// }
    /// ```
    pub async fn assert_cannot_reach(&self, target: impl Into<Target>, probe: Probe) -> Outcome {
        self.check_cannot_reach(target, probe)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until this node reaches `target` by `probe`, retrying through refusals and
    /// unreachable answers (a service still starting, a route about to appear), for at
    /// most `deadline`. Returns how long it took. Replaces `sleep 1` or a retry loop.
    pub async fn wait_until_reaches(
        &self,
        target: impl Into<Target>,
        probe: Probe,
        deadline: Duration,
    ) -> Result<Duration, ReachError> {
        self.wait_reaching(target.into(), probe, deadline, Claim::EventuallyReaches)
            .await
    }

    async fn wait_reaching(
        &self,
        target: Target,
        probe: Probe,
        deadline: Duration,
        claim: Claim,
    ) -> Result<Duration, ReachError> {
        let names = Names::of(self);
        let r = probe_target(self, &target, probe, deadline, Mode::Persist, &names).await;
        if r.outcome.is_reached() {
            Ok(r.elapsed)
        } else {
            Err(ReachError::new(self, r, claim, &names).await)
        }
    }

    /// Waits until something in *this* node accepts on the port of `probe` (a TCP
    /// listener, or a UDP service that answers), probing the node's first address (what
    /// other nodes connect to; `127.0.0.1` for a node without interfaces), for at most
    /// `deadline`. Returns how long it took. Replaces `sleep 1` after starting a server.
    ///
    /// The TCP probe is one real connection: the server accepts it and sees it closed.
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Probe;
    /// use std::time::Duration;
    ///
    /// #[netns_test(topology = presets::bridge_pair())]
    /// async fn server_comes_up(net: Net) -> std::io::Result<()> {
    ///     let b = net.node("b");
    ///     let mut server = b.command("python3").args(["-m", "http.server", "8080"]).spawn()?;
    ///     b.wait_for_port(Probe::Tcp(8080), Duration::from_secs(10)).await.unwrap();
    ///     net.node("a").assert_reaches(&b, Probe::Tcp(8080)).await;
    ///     server.kill()
    /// }
    /// ```
    pub async fn wait_for_port(
        &self,
        probe: Probe,
        deadline: Duration,
    ) -> Result<Duration, ReachError> {
        let own = node_addr(self, None).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        self.wait_reaching(own.into(), probe, deadline, Claim::Accepts)
            .await
    }

    /// Runs a UDP echo server in this node on `port` (`0`: any free port), on `[::]`
    /// (IPv4 and IPv6) or `0.0.0.0` where IPv6 is off, so that [`Probe::Udp`] has
    /// something that answers. It is bound when this returns (no wait needed) and stops
    /// when the guard is dropped. Replaces `socat UDP-LISTEN:PORT,fork EXEC:cat`.
    ///
    /// Call it from the test body or a node's task (it uses this node's runtime).
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Probe;
    ///
    /// #[netns_test(topology = presets::bridge_pair())]
    /// async fn dns_port_open(net: Net) -> std::io::Result<()> {
    ///     let echo = net.node("b").udp_echo(53)?;
    ///     net.node("a").assert_reaches("b", Probe::Udp(53)).await;
    ///     assert!(echo.echoed() >= 1);
    ///     Ok(())
    /// }
    /// ```
    pub fn udp_echo(&self, port: u16) -> io::Result<UdpEcho> {
        // SO_REUSEADDR: port 53 next to the node's name service on 127.0.0.11:53.
        let v6 = socket_in(self, Domain::IPV6, Type::DGRAM, Protocol::UDP).and_then(|s| {
            s.set_only_v6(false)?;
            s.set_reuse_address(true)?;
            s.bind(&SockAddr::from(SocketAddr::new(
                Ipv6Addr::UNSPECIFIED.into(),
                port,
            )))?;
            Ok(s)
        });
        let sock = match v6 {
            Ok(s) => s,
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => return Err(e),
            Err(_) => {
                let s = socket_in(self, Domain::IPV4, Type::DGRAM, Protocol::UDP)?;
                s.set_reuse_address(true)?;
                s.bind(&SockAddr::from(SocketAddr::new(
                    Ipv4Addr::UNSPECIFIED.into(),
                    port,
                )))?;
                s
            }
        };
        let addr = sock
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("UDP socket without an IP address"))?;
        let count = Arc::new(AtomicU64::new(0));
        let counter = count.clone();
        let std_sock: std::net::UdpSocket = sock.into();
        let task = self.spawn(async move {
            let Ok(sock) = tokio::net::UdpSocket::from_std(std_sock) else {
                return;
            };
            let mut buf = vec![0u8; 65536];
            let mut errors = 0u32;
            while errors < 1000 {
                match sock.recv_from(&mut buf).await {
                    Ok((n, peer)) => {
                        errors = 0;
                        counter.fetch_add(1, Ordering::Relaxed);
                        let _ = sock.send_to(&buf[..n], peer).await;
                    }
                    Err(_) => errors += 1,
                }
            }
        });
        Ok(UdpEcho {
            node: self.name().to_string(),
            addr,
            count,
            task,
        })
    }
}

/// A UDP echo server running in a node (see [`Node::udp_echo`]); stops when dropped.
#[derive(Debug)]
pub struct UdpEcho {
    node: String,
    addr: SocketAddr,
    count: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl UdpEcho {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address it is bound to (`[::]:PORT` or `0.0.0.0:PORT`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node it runs in.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// How many datagrams it has received (and echoed) so far.
    pub fn echoed(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------
// The matrix.

/// What a matrix cell expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `y`: the row node reaches the column node.
    Reach,
    /// `n`: it does not: the probe is stopped before the target (waits the isolation
    /// wait; see [`Outcome::is_blocked`]). A refusal (`r`) differs: the target answered.
    NoReach,
    /// `?`: probe and report, expect nothing (a probe that could not be sent, `!`, still
    /// differs).
    Any,
    /// `-`: do not probe.
    Skip,
}

impl Expect {
    fn symbol(self) -> &'static str {
        match self {
            Expect::Reach => "y",
            Expect::NoReach => "n",
            Expect::Any => "?",
            Expect::Skip => "-",
        }
    }

    fn parse(tok: &str) -> Option<Expect> {
        Some(match tok {
            "y" | "Y" | "yes" | "1" | "+" | "✓" => Expect::Reach,
            "n" | "N" | "no" | "0" | "x" | "X" | "✗" => Expect::NoReach,
            "?" => Expect::Any,
            "-" | "." => Expect::Skip,
            _ => return None,
        })
    }
}

/// The expected reachability between nodes: rows are sources, columns are targets.
///
/// Write it as a table (`y` reaches, `n` does not, `-` not probed, `?` probe without
/// expectation; also `1`/`0`, `yes`/`no`, `.`; `#` starts a comment):
///
/// ```no_run
/// # use netns_test::{netns_test, presets, Net};
/// use netns_test::reach::Probe;
///
/// #[netns_test(topology = presets::two_networks())]
/// async fn docker_networks(net: Net) {
///     net.assert_matrix(Probe::Icmp, "
///              con1 con2 con3
///         con1   -    y    n
///         con2   y    -    n
///         con3   n    n    -
///     ").await;
/// }
/// ```
///
/// or build it:
///
/// ```no_run
/// # use netns_test::{netns_test, presets, Net};
/// use netns_test::reach::{Matrix, Probe};
/// use std::time::Duration;
///
/// #[netns_test(topology = presets::two_networks())]
/// async fn docker_networks(net: Net) {
///     let expected = Matrix::groups(&[&["con1", "con2"], &["con3"]])
///         .expect("con3", "host", true)
///         .isolation_wait(Duration::from_millis(500));
///     net.assert_matrix(Probe::Icmp, expected).await;
/// }
/// ```
///
/// Every cell is probed concurrently: a cell expected to reach returns as soon as the
/// answer comes (or after [`Matrix::timeout`]), every other cell waits one shared
/// [`Matrix::isolation_wait`], so a whole matrix costs about one isolation wait. Each
/// column is probed at the node's first IPv4 address (first IPv6 address after
/// [`Matrix::ipv6`]). `n` holds when the probe is stopped on the way (silence, an
/// unreachable, a firewall rule on the way; the report says which); a refusal by the
/// target (`r` in the report: the path exists, nothing listens on the port) differs from
/// both `y` and `n`, and a probe that could not be sent (`!`: a column node without an
/// address of the family, a socket refused) differs from every expectation. Replaces
/// Mininet's `pingAll`, with the expectation stated.
#[derive(Clone, Debug)]
pub struct Matrix {
    rows: Vec<String>,
    cols: Vec<String>,
    cells: Vec<Vec<Expect>>,
    timeout: Duration,
    /// `None`: the default (`NETNS_TEST_ISOLATION_WAIT` or [`ISOLATION_WAIT`]).
    isolation_wait: Option<Duration>,
    v6: bool,
}

impl Matrix {
    fn square(names: &[&str], cell: impl Fn(usize, usize) -> Expect) -> Matrix {
        let n = names.len();
        Matrix {
            rows: names.iter().map(|s| s.to_string()).collect(),
            cols: names.iter().map(|s| s.to_string()).collect(),
            cells: (0..n)
                .map(|r| {
                    (0..n)
                        .map(|c| if r == c { Expect::Skip } else { cell(r, c) })
                        .collect()
                })
                .collect(),
            timeout: REACH_TIMEOUT,
            isolation_wait: None,
            v6: false,
        }
    }

    /// Every pair of `nodes` (not a node to itself), with no expectation yet (`?`): set
    /// them with [`Matrix::expect`] and [`Matrix::expect_all`].
    pub fn new(nodes: &[&str]) -> Matrix {
        Matrix::square(nodes, |_, _| Expect::Any)
    }

    /// Isolated groups: every node reaches every node of its own group and none of the
    /// others (Docker's user-defined networks).
    pub fn groups(groups: &[&[&str]]) -> Matrix {
        let names: Vec<&str> = groups.iter().flat_map(|g| g.iter().copied()).collect();
        let group: Vec<usize> = groups
            .iter()
            .enumerate()
            .flat_map(|(i, g)| std::iter::repeat_n(i, g.len()))
            .collect();
        Matrix::square(&names, |r, c| {
            if group[r] == group[c] {
                Expect::Reach
            } else {
                Expect::NoReach
            }
        })
    }

    /// Parses a table (see the type's documentation). [`Net::assert_matrix`] takes the
    /// text directly.
    pub fn parse(table: &str) -> Result<Matrix, MatrixError> {
        let bad = |line: usize, msg: String| {
            MatrixError::Invalid(format!("reachability matrix, line {line}: {msg}"))
        };
        let mut lines = table
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim()))
            .filter(|(_, l)| !l.is_empty());
        let Some((_, header)) = lines.next() else {
            return Err(MatrixError::Invalid(
                "reachability matrix: the table is empty; write a header line of column (target) node names, then one line per source node: its name and one cell (y, n, - or ?) per column".to_string(),
            ));
        };
        let cols: Vec<String> = header.split_whitespace().map(str::to_string).collect();
        check_unique(&cols, "column")?;
        let mut rows = Vec::new();
        let mut cells = Vec::new();
        for (no, line) in lines {
            let mut words = line.split_whitespace();
            let name = words.next().expect("non-empty line").to_string();
            let toks: Vec<&str> = words.collect();
            if toks.len() != cols.len() {
                return Err(bad(
                    no,
                    format!(
                        "row {name:?} has {} cells but the header names {} columns ({})",
                        toks.len(),
                        cols.len(),
                        cols.join(" ")
                    ),
                ));
            }
            let row = toks
                .iter()
                .enumerate()
                .map(|(c, t)| {
                    Expect::parse(t).ok_or_else(|| {
                        bad(
                            no,
                            format!(
                                "cell {name} -> {} is {t:?}: write y (reaches), n (does not), - (not probed) or ? (no expectation)",
                                cols[c]
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            rows.push(name);
            cells.push(row);
        }
        if rows.is_empty() {
            return Err(MatrixError::Invalid(
                "reachability matrix: a header but no rows: add one line per source node"
                    .to_string(),
            ));
        }
        check_unique(&rows, "row")?;
        Ok(Matrix {
            rows,
            cols,
            cells,
            timeout: REACH_TIMEOUT,
            isolation_wait: None,
            v6: false,
        })
    }

    /// Sets one cell: whether `from` reaches `to`.
    ///
    /// # Panics
    /// If `from` is not a row or `to` not a column of the matrix.
    pub fn expect(mut self, from: &str, to: &str, reaches: bool) -> Matrix {
        let r = self.rows.iter().position(|n| n == from);
        let c = self.cols.iter().position(|n| n == to);
        match (r, c) {
            (Some(r), Some(c)) => {
                self.cells[r][c] = if reaches {
                    Expect::Reach
                } else {
                    Expect::NoReach
                }
            }
            _ => panic!(
                "Matrix::expect({from:?}, {to:?}): the matrix has rows {} and columns {}",
                self.rows.join(", "),
                self.cols.join(", ")
            ),
        }
        self
    }

    /// Sets every cell between different nodes.
    pub fn expect_all(mut self, reaches: bool) -> Matrix {
        let want = if reaches {
            Expect::Reach
        } else {
            Expect::NoReach
        };
        for (r, row) in self.cells.iter_mut().enumerate() {
            for (c, cell) in row.iter_mut().enumerate() {
                if self.rows[r] != self.cols[c] {
                    *cell = want;
                }
            }
        }
        self
    }

    /// How long a cell expected to reach waits for its answer (default
    /// [`REACH_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Matrix {
        self.timeout = timeout;
        self
    }

    /// How long every other cell waits for an answer that should not come (default
    /// [`ISOLATION_WAIT`], or `NETNS_TEST_ISOLATION_WAIT` when set; a wait given here is
    /// used as given); the whole matrix costs about this much.
    pub fn isolation_wait(mut self, wait: Duration) -> Matrix {
        self.isolation_wait = Some(wait);
        self
    }

    /// Probes each column's first IPv6 address instead of its first IPv4 address.
    pub fn ipv6(mut self) -> Matrix {
        self.v6 = true;
        self
    }

    /// Probes every cell concurrently and compares with the expectation.
    pub async fn check(&self, net: &Net, probe: Probe) -> Result<MatrixReport, MatrixError> {
        let resolve = |names: &[String], what: &str| -> Result<Vec<Node>, MatrixError> {
            names
                .iter()
                .map(|n| {
                    net.try_node(n).map_err(|e| {
                        MatrixError::Invalid(format!("reachability matrix, {what} {n:?}: {e}"))
                    })
                })
                .collect()
        };
        let rows = resolve(&self.rows, "row")?;
        let cols = resolve(&self.cols, "column")?;
        let (isolation_wait, wait_from) = match self.isolation_wait {
            Some(w) => (w, WaitFrom::Given),
            None => default_isolation_wait()
                .map_err(|why| MatrixError::Invalid(format!("reachability matrix: {why}")))?,
        };
        let names = Names::from_net(net);
        let targets: Vec<Target> = cols
            .iter()
            .map(|n| Target(TargetKind::Node(n.clone(), Some(self.v6))))
            .collect();
        let start = Instant::now();
        let cells = (0..rows.len())
            .flat_map(|r| (0..cols.len()).map(move |c| (r, c)))
            .filter(|&(r, c)| self.cells[r][c] != Expect::Skip);
        let probes = cells.map(|(r, c)| {
            let wait = if self.cells[r][c] == Expect::Reach {
                self.timeout
            } else {
                isolation_wait
            };
            let (src, target, names) = (&rows[r], &targets[c], &names);
            async move {
                let res = probe_target(src, target, probe, wait, Mode::Once, names).await;
                (r, c, res)
            }
        });
        let done = futures::future::join_all(probes).await;
        let elapsed = start.elapsed();
        let mut results: Vec<Vec<Option<ProbeResult>>> = vec![vec![None; cols.len()]; rows.len()];
        for (r, c, res) in done {
            results[r][c] = Some(res);
        }
        let mut report = MatrixReport {
            probe,
            rows: self.rows.clone(),
            cols: self.cols.clone(),
            expected: self.cells.clone(),
            results,
            paths: Vec::new(),
            elapsed,
            timeout: self.timeout,
            isolation_wait,
            wait_from,
        };
        let wrong = report.wrong_cells();
        let mut sources: Vec<usize> = wrong.iter().map(|&(r, _)| r).collect();
        sources.dedup();
        let routes = futures::future::join_all(sources.iter().map(|&r| {
            let src = &rows[r];
            async move { (r, routes_of(src).await) }
        }))
        .await;
        report.paths = wrong
            .iter()
            .map(|&(r, c)| {
                let addr = report.results[r][c].as_ref().and_then(|p| p.addr);
                let (_, routes) = routes.iter().find(|(row, _)| *row == r).expect("fetched");
                ((r, c), PathReport::build(&rows[r], addr, &names, routes))
            })
            .collect();
        if wrong.is_empty() {
            Ok(report)
        } else {
            Err(MatrixError::Mismatch(Box::new(report)))
        }
    }

    /// [`Matrix::check`], panicking with the side-by-side rendering on a difference.
    pub async fn assert(&self, net: &Net, probe: Probe) -> MatrixReport {
        self.check(net, probe)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn check_unique(names: &[String], what: &str) -> Result<(), MatrixError> {
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(MatrixError::Invalid(format!(
                "reachability matrix: {what} {n:?} appears twice"
            )));
        }
    }
    Ok(())
}

impl FromStr for Matrix {
    type Err = MatrixError;

    fn from_str(s: &str) -> Result<Matrix, MatrixError> {
        Matrix::parse(s)
    }
}

/// Anything [`Net::check_matrix`] takes as the expectation: a table as text, or a
/// [`Matrix`].
pub trait IntoMatrix {
    /// The matrix, or why the text is not one.
    fn into_matrix(self) -> Result<Matrix, MatrixError>;
}

impl IntoMatrix for Matrix {
    fn into_matrix(self) -> Result<Matrix, MatrixError> {
        Ok(self)
    }
}
impl IntoMatrix for &Matrix {
    fn into_matrix(self) -> Result<Matrix, MatrixError> {
        Ok(self.clone())
    }
}
impl IntoMatrix for &str {
    fn into_matrix(self) -> Result<Matrix, MatrixError> {
        Matrix::parse(self)
    }
}
impl IntoMatrix for String {
    fn into_matrix(self) -> Result<Matrix, MatrixError> {
        Matrix::parse(&self)
    }
}
impl IntoMatrix for &String {
    fn into_matrix(self) -> Result<Matrix, MatrixError> {
        Matrix::parse(self)
    }
}

/// Why a matrix check failed.
#[derive(Clone, Debug)]
pub enum MatrixError {
    /// The table or the matrix does not fit the network (a typo, an unknown node).
    Invalid(String),
    /// Some cells differ from the expectation: the report renders expected and actual
    /// side by side with the differing cells marked, then explains each of them.
    Mismatch(Box<MatrixReport>),
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatrixError::Invalid(s) => f.write_str(s),
            MatrixError::Mismatch(r) => write!(f, "{r}"),
        }
    }
}

impl std::error::Error for MatrixError {}

/// What a matrix check found: every probed cell's result, and how long it took. Its
/// `Display` is the side-by-side rendering of expected and actual.
#[derive(Clone, Debug)]
pub struct MatrixReport {
    probe: Probe,
    rows: Vec<String>,
    cols: Vec<String>,
    expected: Vec<Vec<Expect>>,
    results: Vec<Vec<Option<ProbeResult>>>,
    paths: Vec<((usize, usize), PathReport)>,
    elapsed: Duration,
    timeout: Duration,
    isolation_wait: Duration,
    wait_from: WaitFrom,
}

/// The mark of an outcome in a matrix's actual grid.
fn outcome_symbol(o: &Outcome) -> &'static str {
    match o {
        Outcome::Reached => "y",
        Outcome::Refused => "r",
        Outcome::Failed(_) => "!",
        _ => "n",
    }
}

impl MatrixReport {
    fn cell(&self, from: &str, to: &str) -> Option<&ProbeResult> {
        let r = self.rows.iter().position(|n| n == from)?;
        let c = self.cols.iter().position(|n| n == to)?;
        self.results[r][c].as_ref()
    }

    /// Whether `from` reached `to` ([`Outcome::is_reached`]; a refusal is `false`); `None` if
    /// the cell was not probed. [`MatrixReport::result`] has the whole outcome.
    pub fn reached(&self, from: &str, to: &str) -> Option<bool> {
        self.cell(from, to).map(|r| r.outcome.is_reached())
    }

    /// The probe result of one cell.
    pub fn result(&self, from: &str, to: &str) -> Option<&ProbeResult> {
        self.cell(from, to)
    }

    /// The cells that differ from the expectation.
    pub fn mismatches(&self) -> impl Iterator<Item = &ProbeResult> + '_ {
        self.wrong_cells()
            .into_iter()
            .filter_map(|(r, c)| self.results[r][c].as_ref())
    }

    /// How long probing the whole matrix took (all cells concurrently).
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// How many cells were probed.
    pub fn probed(&self) -> usize {
        self.results.iter().flatten().flatten().count()
    }

    fn wrong_cells(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (r, row) in self.results.iter().enumerate() {
            for (c, res) in row.iter().enumerate() {
                let Some(res) = res else { continue };
                let o = &res.outcome;
                // A probe that could not be sent differs from every expectation; a refusal
                // is neither reaching nor isolation.
                let wrong = match self.expected[r][c] {
                    _ if matches!(o, Outcome::Failed(_)) => true,
                    Expect::Reach => !o.is_reached(),
                    Expect::NoReach => !o.is_blocked(),
                    Expect::Any | Expect::Skip => false,
                };
                if wrong {
                    out.push((r, c));
                }
            }
        }
        out
    }

    fn grid(
        &self,
        title: &str,
        cell: impl Fn(usize, usize) -> (&'static str, bool),
    ) -> Vec<String> {
        let lw = self
            .rows
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0);
        let w = self
            .cols
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(1);
        let mut out = vec![title.to_string()];
        let mut header = " ".repeat(lw);
        for c in &self.cols {
            header.push_str(&format!(" {c:>w$} "));
        }
        out.push(header);
        for (r, name) in self.rows.iter().enumerate() {
            let mut line = format!("{name:<lw$}");
            for c in 0..self.cols.len() {
                let (txt, mark) = cell(r, c);
                line.push_str(&format!(" {txt:>w$}{}", if mark { "*" } else { " " }));
            }
            out.push(line);
        }
        out
    }
}

impl fmt::Display for MatrixReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wrong = self.wrong_cells();
        let v6 = self
            .results
            .iter()
            .flatten()
            .flatten()
            .any(|r| r.addr.is_some_and(|a| a.is_ipv6()));
        let probe = self.probe.describe(v6);
        let total = self.probed();
        if wrong.is_empty() {
            writeln!(
                f,
                "reachability by {probe} (row reaches column?): all {total} probed cells as expected"
            )?;
        } else {
            writeln!(
                f,
                "reachability by {probe} (row reaches column?): {} of {total} probed cells differ, marked *",
                wrong.len()
            )?;
        }
        let expected = self.grid("expected", |r, c| (self.expected[r][c].symbol(), false));
        let actual = self.grid("actual", |r, c| match &self.results[r][c] {
            None => ("-", false),
            Some(res) => (outcome_symbol(&res.outcome), wrong.contains(&(r, c))),
        });
        let width = expected
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        for (e, a) in expected.iter().zip(&actual) {
            let pad = width - e.chars().count();
            writeln!(f, "  {e}{}  |  {}", " ".repeat(pad), a.trim_end())?;
        }
        writeln!(
            f,
            "  (y reached, n not reached, r refused: the target answered but nothing listens, ! could not probe, - not probed, ? no expectation; * differs from the expectation)"
        )?;
        if !wrong.is_empty() {
            writeln!(f, "differences:")?;
            for &(r, c) in &wrong {
                let Some(res) = &self.results[r][c] else {
                    continue;
                };
                writeln!(
                    f,
                    "  {} -> {}: expected {}, got {}: {}",
                    res.from,
                    res.to,
                    self.expected[r][c].symbol(),
                    outcome_symbol(&res.outcome),
                    res.what_happened()
                )?;
                if res.outcome.is_refused() && self.expected[r][c] == Expect::NoReach {
                    writeln!(
                        f,
                        "      a refusal is not isolation: the packet got to {}; probe a port where something listens, or by ICMP",
                        res.to
                    )?;
                }
                if let Some((_, path)) = self.paths.iter().find(|(rc, _)| *rc == (r, c)) {
                    path.write(f, "      ")?;
                    writeln!(f)?;
                }
            }
        }
        let wait_from = match self.wait_from {
            WaitFrom::Default => {
                format!(", the default: raise it on a loaded machine with {ISOLATION_WAIT_ENV}")
            }
            WaitFrom::Env => format!(", set by {ISOLATION_WAIT_ENV}"),
            WaitFrom::Given => ", set by Matrix::isolation_wait".to_string(),
        };
        write!(
            f,
            "probed {total} cells concurrently in {} (reach timeout {}; isolation wait {}{wait_from})",
            fmt_dur(self.elapsed),
            fmt_dur(self.timeout),
            fmt_dur(self.isolation_wait)
        )
    }
}

impl Net {
    /// Probes every cell of the expected matrix concurrently and compares (see
    /// [`Matrix`]). The non-panicking form of [`Net::assert_matrix`].
    pub async fn check_matrix(
        &self,
        probe: Probe,
        expected: impl IntoMatrix,
    ) -> Result<MatrixReport, MatrixError> {
        expected.into_matrix()?.check(self, probe).await
    }

    /// Asserts a whole reachability matrix: who reaches whom by `probe`, every pair probed
    /// concurrently. On a difference it panics with expected and actual side by side, the
    /// differing cells marked, and for each of them what happened and the source's routes:
    ///
    /// ```text
    /// reachability by ICMP echo (row reaches column?): 1 of 6 probed cells differ, marked *
    ///   expected          |  actual
    ///        con1 con2 con3   |       con1 con2 con3
    ///   con1    -    y    y   |  con1    -    y    n*
    ///   ...
    /// differences:
    ///   con1 -> con3 (172.19.0.2): expected y, got n: timeout: no answer within 2 s (7 echo requests sent)
    ///       con1's route toward 172.19.0.2: 0.0.0.0/0 via 172.18.0.1 (host) dev eth0
    ///       con1's addresses: eth0 172.18.0.2/16
    /// ```
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Probe;
    ///
    /// #[netns_test(topology = presets::two_networks())]
    /// async fn docker_networks(net: Net) {
    ///     let report = net.assert_matrix(Probe::Icmp, "
    ///              con1 con2 con3
    ///         con1   -    y    n
    ///         con2   y    -    n
    ///         con3   n    n    -
    ///     ").await;
    ///     println!("{report}");
    /// }
    /// ```
    pub async fn assert_matrix(&self, probe: Probe, expected: impl IntoMatrix) -> MatrixReport {
        self.check_matrix(probe, expected)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_parse() {
        let m = Matrix::parse(
            "
                  con1 con2 con3   # targets
            con1   -    y    n
            con2   1    .    0
            con3   no   yes  ?
            ",
        )
        .unwrap();
        assert_eq!(m.rows, ["con1", "con2", "con3"]);
        assert_eq!(m.cols, ["con1", "con2", "con3"]);
        use Expect::*;
        assert_eq!(
            m.cells,
            vec![
                vec![Skip, Reach, NoReach],
                vec![Reach, Skip, NoReach],
                vec![NoReach, Reach, Any]
            ]
        );
    }

    #[test]
    fn bad_tables_say_where() {
        let e = Matrix::parse("a b\na - y\nb y").unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("1 cells") && e.contains("2 columns"),
            "{e}"
        );
        let e = Matrix::parse("a b\na - maybe").unwrap_err().to_string();
        assert!(e.contains("a -> b") && e.contains("\"maybe\""), "{e}");
        let e = Matrix::parse("a a\na - -").unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
        assert!(Matrix::parse("  \n").is_err());
    }

    #[test]
    fn groups_and_builder() {
        let m = Matrix::groups(&[&["a", "b"], &["c"]]).expect("c", "a", true);
        use Expect::*;
        assert_eq!(
            m.cells,
            vec![
                vec![Skip, Reach, NoReach],
                vec![Reach, Skip, NoReach],
                vec![Reach, NoReach, Skip]
            ]
        );
        let m = Matrix::new(&["a", "b"]).expect_all(false);
        assert_eq!(m.cells, vec![vec![Skip, NoReach], vec![NoReach, Skip]]);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_dur(Duration::from_micros(250)), "0.25 ms");
        assert_eq!(fmt_dur(Duration::from_micros(2500)), "2.5 ms");
        assert_eq!(fmt_dur(Duration::from_millis(300)), "300 ms");
        assert_eq!(fmt_dur(Duration::from_secs(2)), "2 s");
        assert_eq!(fmt_dur(Duration::from_millis(2500)), "2.5 s");
    }

    #[test]
    fn icmp_notices_name_the_reason() {
        let n = notice(false, 3, 13, "10.0.0.1");
        assert!(n.is_prohibited());
        assert!(n.meaning().contains("administratively prohibited"));
        let e = io::Error::from_raw_os_error(libc::EHOSTUNREACH);
        assert_eq!(Outcome::classify(&e, Some(&n), false), Outcome::Prohibited);
        assert_eq!(Outcome::classify(&e, None, true), Outcome::HostUnreachable);
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(Outcome::classify(&e, None, true), Outcome::Refused);
    }

    fn notice(v6: bool, icmp_type: u8, code: u8, from: &str) -> IcmpNotice {
        IcmpNotice {
            from: Some(from.parse().unwrap()),
            from_node: None,
            v6,
            icmp_type,
            code,
        }
    }

    /// A refusal is the target's own answer; the same ICMP error from anyone else is a
    /// rule on the way, and only blocked outcomes satisfy a negative check.
    #[test]
    fn refusals_come_from_the_target() {
        let err = io::Error::from_raw_os_error;
        let refused = err(libc::ECONNREFUSED);
        let hostunreach = err(libc::EHOSTUNREACH);
        let port = notice(false, 3, 3, "10.0.0.3");
        let port6 = notice(true, 1, 4, "fd00::3");
        let admin = notice(false, 3, 13, "10.0.0.3");
        let admin6 = notice(true, 1, 1, "fd00::1");
        use Outcome::*;
        // A TCP reset carries no sender: refused.
        assert_eq!(Outcome::classify(&refused, None, true), Refused);
        // Port unreachable: refused from the target, blocked from a router.
        assert_eq!(Outcome::classify(&refused, Some(&port), true), Refused);
        assert_eq!(Outcome::classify(&refused, Some(&port), false), Prohibited);
        assert_eq!(Outcome::classify(&refused, Some(&port6), true), Refused);
        assert_eq!(Outcome::classify(&refused, Some(&port6), false), Prohibited);
        // The target's own firewall: the packet got there.
        assert_eq!(Outcome::classify(&hostunreach, Some(&admin), true), Refused);
        assert_eq!(
            Outcome::classify(&hostunreach, Some(&admin), false),
            Prohibited
        );
        assert_eq!(
            Outcome::classify(&hostunreach, Some(&admin6), false),
            Prohibited
        );
        // Routers that cannot deliver.
        let net = notice(false, 3, 0, "192.168.1.1");
        assert_eq!(
            Outcome::classify(&err(libc::ENETUNREACH), Some(&net), false),
            NetUnreachable
        );
        let host = notice(false, 3, 1, "10.0.0.2");
        assert_eq!(
            Outcome::classify(&hostunreach, Some(&host), false),
            HostUnreachable
        );
        assert_eq!(Outcome::classify(&err(libc::EPERM), None, true), Prohibited);
        // Anything unexpected is an error that names the errno.
        let Failed(why) = Outcome::classify(&err(libc::EMSGSIZE), None, true) else {
            panic!("EMSGSIZE is not an outcome")
        };
        assert!(why.contains("EMSGSIZE (Message too long)"), "{why}");

        for (o, blocked) in [
            (Reached, false),
            (Refused, false),
            (Failed("x".into()), false),
            (Timeout, true),
            (NetUnreachable, true),
            (HostUnreachable, true),
            (Prohibited, true),
        ] {
            assert_eq!(o.is_blocked(), blocked, "{o}");
            assert_eq!(o.is_refused(), o == Refused, "{o}");
        }
        assert_eq!(
            Refused.to_string(),
            "refused: the path exists, nothing listens"
        );
    }

    #[test]
    fn isolation_wait_values_parse() {
        let ok = |v: &str| parse_isolation_wait(v).unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert_eq!(ok("300ms"), Duration::from_millis(300));
        assert_eq!(ok("2s"), Duration::from_secs(2));
        assert_eq!(ok(" 1500ms "), Duration::from_millis(1500));
        assert_eq!(ok("1m"), Duration::from_secs(60));
        assert_eq!(ok("5"), Duration::from_secs(5));
        for (bad, why) in [
            ("abc", "is not a duration"),
            ("2h", "is not a duration"),
            ("1.5s", "is not a duration"),
            ("-1s", "is not a duration"),
            ("s", "is not a duration"),
            ("0", "shorter than the default 300 ms"),
            ("0ms", "shorter than the default 300 ms"),
            ("100ms", "shorter than the default 300 ms"),
            ("61s", "longer than 60 s"),
            ("300", "longer than 60 s"),
            ("99999999999999999999s", "is too large"),
        ] {
            let e = parse_isolation_wait(bad).unwrap_err();
            assert!(
                e.contains(&format!("NETNS_TEST_ISOLATION_WAIT={bad:?}")) && e.contains(why),
                "{bad:?}: {e}"
            );
            assert!(e.contains("\"2s\""), "{e}");
        }
    }

    fn result(probe: Probe, outcome: Outcome, icmp: Option<IcmpNotice>) -> ProbeResult {
        ProbeResult {
            from: "a".into(),
            to: "b (10.0.0.3)".into(),
            addr: Some("10.0.0.3".parse().unwrap()),
            probe,
            outcome,
            elapsed: Duration::from_micros(200),
            wait: ISOLATION_WAIT,
            sent: 1,
            errno: None,
            icmp,
        }
    }

    fn reach_error(result: ProbeResult, claim: Claim, wait_from: Option<WaitFrom>) -> String {
        ReachError(Box::new(ReachErrorInner {
            path: PathReport {
                from: result.from.clone(),
                dest: result.addr,
                matching: vec!["10.0.0.0/24 dev eth0 (on link)".into()],
                family: Vec::new(),
                addrs: vec!["eth0 10.0.0.2/24".into()],
                error: None,
            },
            result,
            claim,
            wait_from,
        }))
        .to_string()
    }

    fn has(text: &str, parts: &[&str]) {
        for p in parts {
            assert!(text.contains(p), "missing {p:?} in:\n{text}");
        }
    }

    #[test]
    fn failed_negative_checks_say_why() {
        // A closed TCP port on a reachable host.
        let msg = reach_error(
            result(Probe::Tcp(80), Outcome::Refused, None),
            Claim::CannotReach,
            Some(WaitFrom::Default),
        );
        has(
            &msg,
            &[
                "a should NOT reach b (10.0.0.3) by TCP port 80, but the target answered: refused: the path exists, nothing listens on 10.0.0.3:80 (TCP reset, ECONNREFUSED",
                "a refusal is not isolation: the packet got to the target",
                "probe a port where something listens (start the server on TCP port 80 first), or use Probe::Icmp",
                "the probe waited up to 300 ms for an answer (the default isolation wait; on a loaded machine raise it with NETNS_TEST_ISOLATION_WAIT, e.g. NETNS_TEST_ISOLATION_WAIT=2s)",
                "a's route toward 10.0.0.3: 10.0.0.0/24 dev eth0 (on link)",
            ],
        );
        // A closed UDP port: the ICMP error from the target is named.
        let mut r = result(
            Probe::Udp(53),
            Outcome::Refused,
            Some(IcmpNotice {
                from_node: Some("b".into()),
                ..notice(false, 3, 3, "10.0.0.3")
            }),
        );
        r.wait = Duration::from_secs(2);
        let msg = reach_error(r, Claim::CannotReach, Some(WaitFrom::Env));
        has(
            &msg,
            &[
                "refused: the path exists, nothing listens on UDP 10.0.0.3:53; ICMP destination unreachable, port unreachable (type 3 code 3) from b (10.0.0.3)",
                "run Node::udp_echo(53) in the target first",
                "the probe waited up to 2 s for an answer (the isolation wait set by NETNS_TEST_ISOLATION_WAIT)",
            ],
        );
        // The target's own firewall.
        let msg = reach_error(
            result(
                Probe::Icmp,
                Outcome::Refused,
                Some(notice(false, 3, 13, "10.0.0.3")),
            ),
            Claim::CannotReach,
            Some(WaitFrom::Given),
        );
        has(
            &msg,
            &[
                "refused: the path exists, the target's own firewall rejects it; ICMP destination unreachable, communication administratively prohibited",
                "probe a TCP or UDP port where something listens",
                "(the wait given in the code; NETNS_TEST_ISOLATION_WAIT changes only the default)",
            ],
        );
        // Reached: the wait is still said.
        let msg = reach_error(
            result(Probe::Icmp, Outcome::Reached, None),
            Claim::CannotReach,
            Some(WaitFrom::Default),
        );
        has(
            &msg,
            &[
                "a should NOT reach b (10.0.0.3) by ICMP echo, but it did: echo reply after 0.20 ms",
                "waited up to 300 ms",
            ],
        );
        // Not sent: no wait, the reason.
        let mut r = result(
            Probe::Icmp,
            Outcome::Failed("the topology has no node \"bx\"; its nodes are: host, a, b".into()),
            None,
        );
        (r.to, r.addr, r.sent) = ("bx".into(), None, 0);
        let msg = reach_error(r.clone(), Claim::CannotReach, Some(WaitFrom::Default));
        has(
            &msg,
            &["a should NOT reach bx by ICMP echo, but that was not shown: the probe could not be sent: the topology has no node \"bx\"; its nodes are: host, a, b"],
        );
        assert!(!msg.contains("waited"), "{msg}");
        let msg = reach_error(r, Claim::Reaches, None);
        has(
            &msg,
            &["a should reach bx by ICMP echo, but the probe could not be sent: the topology has no node"],
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

    #[test]
    fn a_reject_on_the_way_is_not_a_refusal() {
        let r = result(
            Probe::Udp(7),
            Outcome::Prohibited,
            Some(IcmpNotice {
                from_node: Some("router".into()),
                ..notice(false, 3, 3, "192.168.1.1")
            }),
        );
        has(
            &r.what_happened(),
            &["prohibited (ICMP destination unreachable, port unreachable (type 3 code 3) from router (192.168.1.1), not from the target: a reject rule on the way)"],
        );
        let mut r = result(Probe::Tcp(80), Outcome::NetUnreachable, None);
        r.errno = Some(libc::EINVAL);
        has(
            &r.what_happened(),
            &["network unreachable (EINVAL): a blackhole route in a toward 10.0.0.3 discards it"],
        );
    }

    #[test]
    fn matrices_mark_refusals_and_probes_not_sent() {
        let names = vec!["a".to_string(), "b".to_string()];
        let mut refused = result(Probe::Tcp(80), Outcome::Refused, None);
        refused.to = "b (10.0.0.3)".into();
        let mut failed = result(
            Probe::Tcp(80),
            Outcome::Failed("node \"a\" has no IPv6 address".into()),
            None,
        );
        (failed.from, failed.to, failed.addr) = ("b".into(), "a".into(), None);
        let report = MatrixReport {
            probe: Probe::Tcp(80),
            rows: names.clone(),
            cols: names,
            expected: vec![
                vec![Expect::Skip, Expect::NoReach],
                vec![Expect::Any, Expect::Skip],
            ],
            results: vec![vec![None, Some(refused)], vec![Some(failed), None]],
            paths: Vec::new(),
            elapsed: Duration::from_millis(1),
            timeout: REACH_TIMEOUT,
            isolation_wait: Duration::from_secs(2),
            wait_from: WaitFrom::Env,
        };
        assert_eq!(report.mismatches().count(), 2);
        let text = report.to_string();
        has(
            &text,
            &[
                "2 of 2 probed cells differ, marked *",
                "r refused: the target answered but nothing listens, ! could not probe",
                "a -> b (10.0.0.3): expected n, got r: refused: the path exists, nothing listens on 10.0.0.3:80",
                "a refusal is not isolation: the packet got to b (10.0.0.3)",
                "b -> a: expected ?, got !: could not probe: node \"a\" has no IPv6 address",
                "isolation wait 2 s, set by NETNS_TEST_ISOLATION_WAIT",
            ],
        );
        let row = |name: &str| {
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{name} ")) && l.contains(" - "))
                .unwrap();
            line.split_once('|')
                .unwrap()
                .1
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        assert_eq!(row("a"), ["a", "-", "r*"]);
        assert_eq!(row("b"), ["b", "!*", "-"]);
    }
}
