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
//! Every form above is a shorthand of one check, [`Node::reach`], which takes the same
//! target and probe, the waits ([`ReachCheck::within`], [`ReachCheck::isolation_wait`]),
//! and ends in what to conclude: [`reaches`](ReachCheck::reaches),
//! [`cannot_reach`](ReachCheck::cannot_reach) (or their panicking `assert_` forms),
//! [`wait_until_reaches`](ReachCheck::wait_until_reaches), or the plain
//! [`result`](ReachCheck::result):
//!
//! ```no_run
//! # use netns_test::{netns_test, presets, Net};
//! use netns_test::reach::Probe;
//! use std::time::Duration;
//!
//! #[netns_test(topology = presets::bridge_pair())]
//! async fn checks(net: Net) -> Result<(), netns_test::reach::ReachError> {
//!     let (a, b) = (net.node("a"), net.node("b"));
//!     // `nc -z -w1 b 80; echo $?`: what happened, without a claim (b is there, nothing
//!     // listens).
//!     let r = a.reach(&b, Probe::Tcp(80)).within(Duration::from_secs(1)).result().await;
//!     println!("{r}");
//!     // Nobody has 10.0.0.200, and the same probe to b gets its answer.
//!     let nobody = a.reach("10.0.0.200", Probe::Icmp).isolation_wait(Duration::from_secs(1));
//!     nobody.cannot_reach().await?;
//!     a.reach(&b, Probe::Icmp).reaches().await?;
//!     Ok(())
//! }
//! ```
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
//! [`Node::assert_cannot_reach`], [`ReachCheck::cannot_reach`] and a matrix's `n` pass only
//! when the probe was stopped before the target: silence ([`Outcome::Timeout`]), no route
//! ([`Outcome::NetUnreachable`], a blackhole route included), an unreachable host
//! ([`Outcome::HostUnreachable`]) or a firewall rule on the way ([`Outcome::Prohibited`],
//! which includes an ICMP port unreachable sent by a *router*: a `reject` rule in between).
//! See [`Outcome::is_blocked`]. A source with no address of the probed family, only
//! loopback (a node attached to nothing, Docker's `--net none`), has no route out: its
//! kernel refuses to send, and that is [`Outcome::NetUnreachable`] too, the isolation such
//! a node promises; a positive check on it says "no route from a: node \"a\" has no IPv4
//! address to send from, ..." and how to attach it. Two other answers fail them:
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
//!   or name (`"con2x"`), no address of the probed family at the target (an IPv6 probe of
//!   an IPv4-only node, any probe of a node attached to nothing), a socket that could not
//!   be opened (an
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
//! ([`ReachCheck::isolation_wait`], [`Matrix::isolation_wait`]) is used as given. A
//! failing negative check says how long it waited and where that came from.
//!
//! Routers rate-limit the ICMP errors they send (Linux: a burst of two or three per source,
//! then about one a second), so after a few unanswerable probes through the same router an
//! "unreachable" may show up as a timeout instead; either way it is "not reached". A host
//! rate-limits its own port unreachable answers the same way: a negative UDP check is only
//! as good as the positive control next to it (the same port answering from where it may).
//!
//! # Which NAT a node is behind
//!
//! [`Net::classify_nat`] measures it, RFC 5780-style, against a STUN reflector with two
//! addresses and two ports in a public node ([`NatReflector`]): RFC 4787 *mapping*
//! ([`Mapping`]: endpoint-independent, address-dependent, address- and port-dependent,
//! or no NAT), *filtering* ([`Filtering`]: endpoint-independent, address-dependent,
//! address- and port-dependent), *hairpinning* and *port preservation* (and
//! [`PortAllocation`]: sequential ports), as a
//! [`NatBehaviour`]. [`Net::assert_nat`] fails naming each field measured against
//! declared; [`Net::nat_probe`] picks the reflector's node, the local port and the wait.
//! What the NATs the topology declares measure:
//!
//! | declared | mapping | filtering | hairpin | port preservation |
//! | --- | --- | --- | --- | --- |
//! | `masquerade()` | endpoint-independent | address- and port-dependent | no | yes |
//! | `snat(.., NatMode::PortPreserving)` | endpoint-independent | address- and port-dependent | no | yes |
//! | `snat(.., NatMode::Random)` | address- and port-dependent | address- and port-dependent | no | no |
//! | `masquerade()` + `full_cone(host, ..)` | endpoint-independent | endpoint-independent | no (yes with `hairpin()`) | yes |
//! | a router without NAT | no NAT | endpoint-independent | yes (its own address) | yes |
//!
//! The tiers and presets of [`NodeBuilder::nat`](crate::topology::NodeBuilder::nat)
//! measure as [`crate::nft::nat`]'s table says ([`NatBehaviour::declared`]).
//!
//! A second host on the same local port behind the same router gets another port
//! (endpoint-independent, no port preservation), and filtering address- and
//! port-dependent even behind `full_cone`, whose static range belongs to one host.
//!
//! ```no_run
//! # use netns_test::{netns_test, Net, Topology};
//! use netns_test::reach::{Filtering, Mapping, NatBehaviour};
//! # fn home() -> Topology { Topology::new() }
//!
//! #[netns_test(topology = home())]
//! async fn behind_a_home_router(net: Net) -> anyhow::Result<()> {
//!     println!("{}", net.classify_nat("alice").await?);
//!     let home = NatBehaviour::new(Mapping::EndpointIndependent, Filtering::AddressAndPortDependent)
//!         .port_preservation(true);
//!     net.assert_nat("alice", home).await;
//!     Ok(())
//! }
//! ```
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

// The files, from the bottom up: `wait` (deadlines), `outcome` (what happened to a
// probe), `path` (the source's routes and addresses), `matrix` (tables, expectations,
// what a check found and the diff), all pure; `probe` (the engine: sockets, schedules,
// the error queue); `report` (why a claim failed in words, the matrix rendering);
// `check` (the claims a test makes: `Node::reach` and the one-liners, matrices over a
// `Net`); `echo` (a UDP echo server to probe). Each uses only those before it. Apart:
// `stun` (the STUN messages, pure) and `nat` (the NAT classifier, its reflector and its
// claims).
mod check;
mod echo;
mod matrix;
mod nat;
mod nat_behaviour;
mod outcome;
mod path;
mod probe;
mod report;
mod stun;
mod wait;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::net::{Net, Node};

pub use check::ReachCheck;
pub use echo::UdpEcho;
pub use matrix::{Expect, IntoMatrix, Matrix, MatrixError, MatrixReport};
pub use nat::{
    Filtering, Mapping, NatBehaviour, NatClass, NatError, NatProbe, NatReflector, PortAllocation,
    NAT_WAIT,
};
pub use outcome::{IcmpNotice, Outcome, ProbeResult};
pub use path::PathReport;
pub use report::ReachError;
pub use wait::{ISOLATION_WAIT, ISOLATION_WAIT_ENV, REACH_TIMEOUT};

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
/// address, or a name (a node of the probing node's network, whatever the source's own
/// resolver knows, or an address in text).
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

    /// The address and a label naming it (`con3 (172.19.0.2)`), or why there is none. A
    /// name is looked up in the network of `names`.
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

/// One network's node names and their addresses, from its topology (not from a node's
/// resolver: a node may not know every name, a test does).
#[derive(Default)]
struct Names {
    /// The network names are looked up in (`None`: it is gone).
    net: Option<Net>,
    by_addr: HashMap<IpAddr, String>,
}

impl Names {
    fn from_net(net: &Net) -> Names {
        let mut names = Names {
            net: Some(net.clone()),
            by_addr: HashMap::new(),
        };
        for node in net.nodes() {
            for a in node.addrs() {
                names.add(a.addr(), node.name());
            }
        }
        names
    }

    /// The names of the network `node` belongs to (none once that network is gone): the
    /// probing node's network is the one its targets are named in.
    fn of(node: &Node) -> Names {
        node.network()
            .map_or_else(Names::default, |net| Names::from_net(&net))
    }

    /// Whether two addresses belong to the same node of the topology.
    fn same_node(&self, a: IpAddr, b: IpAddr) -> bool {
        a == b
            || matches!((self.by_addr.get(&a), self.by_addr.get(&b)), (Some(x), Some(y)) if x == y)
    }

    /// The node that has `addr`, if one does.
    fn node_of(&self, addr: IpAddr) -> Option<String> {
        self.by_addr.get(&addr).cloned()
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
