//! NAT and packet filtering with nf_tables, spoken over netlink (no `nft`, `iptables` or
//! `conntrack` binary is involved).
//!
//! A [`Ruleset`] declares what `iptables -t nat ...`, `iptables -P FORWARD DROP` or
//! `docker run -p 8080:80` would have set up; [`Node::nft`](crate::Node::nft) installs it
//! in a node as one atomic nf_tables transaction, from whichever thread calls:
//!
//! ```no_run
//! use netns_test::nft::{Hook, Policy, Proto, Rule, Ruleset};
//! # #[allow(dead_code)] async fn demo(net: netns_test::Net) -> netns_test::Result<()> {
//! let rules = Ruleset::new()
//!     // iptables -t nat -A POSTROUTING -s 192.168.1.0/24 ! -o lan -j MASQUERADE
//!     .nat_masquerade("192.168.1.0/24", Some("lan"))
//!     // iptables -P FORWARD DROP
//!     .forward_policy(Policy::Drop)
//!     // iptables -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
//!     .filter(Hook::Forward, Rule::new().ct_established().accept())
//!     // iptables -A FORWARD -i lan -p tcp --dport 80 -j ACCEPT
//!     .filter(Hook::Forward, Rule::new().iif("lan").proto(Proto::Tcp).dport(80).accept());
//! net.node("router").nft().apply(&rules).await?;
//! println!("{}", net.node("router").nft().list().await?);
//! # Ok(()) }
//! ```
//!
//! Everything lives in one table, `inet netns_test` (IPv4 and IPv6 alike); [`apply`]
//! replaces its whole content atomically, so applying the same [`Ruleset`] twice is a no-op
//! and applying a changed one swaps the rules without a window where none are loaded.
//! [`flush`] removes the table; [`list`] prints every table of the namespace, like
//! `nft list ruleset`; [`conntrack`] lists and flushes the connection tracking table.
//!
//! | command                            | in a node ([`NftHandle`](crate::NftHandle))        | in the calling thread's namespace |
//! | ---------------------------------- | -------------------------------------------------- | --------------------------------- |
//! | `nft -f FILE`                      | `node.nft().apply(&rules).await`                   | [`apply`]                         |
//! | `nft list ruleset`                 | `node.nft().list().await`                          | [`list`]                          |
//! | `nft delete table inet netns_test` | `node.nft().flush().await`                         | [`flush`]                         |
//! | `nft destroy table inet NAME`      | `node.nft().delete_table(NAME).await`              | [`delete_table`]                  |
//! | `conntrack -L`                     | `node.nft().conntrack().await`                     | [`conntrack::list`]               |
//! | `conntrack -F`                     | `node.nft().flush_conntrack().await`               | [`conntrack::flush`]              |
//! | `conntrack -D ...`                 | `node.nft().expire_mappings(..).await` (NAT flows) | [`conntrack::delete`]             |
//!
//! A router's NAT tiers ([`Nat`], declared with
//! [`NodeBuilder::nat`](crate::topology::NodeBuilder::nat)) live in a table of their own,
//! `inet netns_nat` ([`NAT_TABLE`]): see [`nat`].
//!
//! The free functions act on the network namespace of the thread that calls them: a
//! thread inside a node (`node.run_blocking(|| nft::apply(&rules))`), or one that code of your own
//! moved into a namespace. The handle is the recommended way from the test body or any
//! other thread.
//!
//! Chains (created only when used):
//!
//! | chain             | nft declaration                                     | gets                       |
//! | ----------------- | --------------------------------------------------- | -------------------------- |
//! | `nat_prerouting`  | `type nat hook prerouting priority dstnat`          | [`Ruleset::dnat`], [`Ruleset::full_cone`] |
//! | `nat_output`      | `type nat hook output priority dstnat`              | [`Ruleset::dnat`]          |
//! | `nat_postrouting` | `type nat hook postrouting priority srcnat`         | masquerade, [`Ruleset::snat`], [`Ruleset::hairpin_masquerade`] |
//! | `input`, `forward`, `output` | `type filter hook ... priority filter`   | [`Ruleset::filter`], policies |
//!
//! Every rule carries a counter and its own nft text as a comment, so [`list`] (and
//! `nft list ruleset`, if you run it by hand) shows which rule matched how often.
//! [`list`] reads each rule back from its nf_tables expressions, not from the comment: a
//! rule this crate makes is printed in nft syntax, exactly as its [`Rule`] prints, in
//! whichever table it is; any other rule is printed as its raw expressions after the mark
//! `# not a rule netns-test makes, raw expressions:`.

mod apply;
mod conntrack_impl;
mod decode;
mod expr;
pub mod nat;
mod nat_apply;
mod render;
mod rule;
mod sets;
mod sock;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::{Error, Result};

pub use apply::{apply, delete_table, flush, list};
pub(crate) use apply::{apply_each_kept, Kept};
pub use nat::{Filtering, Mapping, Nat, NatMapping, NatTimeouts, Ports, NAT_TABLE};
pub(crate) use nat_apply::{apply_nat, expire_mappings, mappings, nat_timeouts};
pub use rule::Rule;
use rule::{Action, Match};

/// Listing and flushing the connection tracking table (`conntrack -L`, `conntrack -F`).
pub mod conntrack {
    pub use super::conntrack_impl::{delete, flush, list, Entry, TcpState, Tuple};
}

/// The table [`apply`] fills and [`flush`] deletes: `inet netns_test`.
pub const TABLE: &str = "netns_test";

/// An IP protocol, as matched by `meta l4proto` (iptables `-p`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP (1), IPv4 only.
    Icmp,
    /// ICMPv6 (58), IPv6 only.
    Icmpv6,
    /// Any other protocol number.
    Other(u8),
}

impl Proto {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Icmp => 1,
            Proto::Icmpv6 => 58,
            Proto::Other(n) => n,
        }
    }

    /// The protocol with this number.
    pub fn from_number(n: u8) -> Proto {
        match n {
            6 => Proto::Tcp,
            17 => Proto::Udp,
            1 => Proto::Icmp,
            58 => Proto::Icmpv6,
            n => Proto::Other(n),
        }
    }

    fn has_ports(self) -> bool {
        // tcp, udp, dccp, sctp, udplite: the ports are the first 4 bytes of the header.
        matches!(self.number(), 6 | 17 | 33 | 132 | 136)
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proto::Tcp => f.write_str("tcp"),
            Proto::Udp => f.write_str("udp"),
            Proto::Icmp => f.write_str("icmp"),
            Proto::Icmpv6 => f.write_str("ipv6-icmp"),
            Proto::Other(n) => write!(f, "{n}"),
        }
    }
}

/// The filter hook a rule or policy belongs to (iptables' built-in chains of `-t filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    /// Packets addressed to this node (`INPUT`).
    Input,
    /// Packets this node routes from one interface to another (`FORWARD`).
    Forward,
    /// Packets this node sends (`OUTPUT`).
    Output,
}

/// What happens to a packet no rule of a filter chain decided on (`iptables -P`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Let it pass (the default).
    Accept,
    /// Drop it silently.
    Drop,
}

/// How source NAT picks the mapped source port (RFC 4787 terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatMode {
    /// Keep the original source port whenever that leaves the connection unique (Linux's
    /// default, plus nft's `persistent`: a client keeps its mapped address). A peer sees
    /// the port the client bound: *endpoint-independent mapping* for every flow that does
    /// not collide, what hole punching relies on.
    PortPreserving,
    /// nft's `fully-random` (iptables `--random-fully`): every new mapping gets a random
    /// port, so each destination sees a different one: *address-and-port-dependent
    /// mapping* ("symmetric NAT").
    Random,
}

/// Anything that names an IP network: `"10.0.0.0/8"`, `"10.0.0.5"` (a /32), an
/// [`IpNet`] or an [`IpAddr`]. A string that does not parse is reported by [`apply`].
pub trait IntoNet {
    /// The network, or [`crate::Error::Parse`] for a text that names none.
    fn into_net(self) -> crate::Result<IpNet>;
}

impl IntoNet for IpNet {
    fn into_net(self) -> crate::Result<IpNet> {
        Ok(self)
    }
}
impl IntoNet for Ipv4Net {
    fn into_net(self) -> crate::Result<IpNet> {
        Ok(self.into())
    }
}
impl IntoNet for Ipv6Net {
    fn into_net(self) -> crate::Result<IpNet> {
        Ok(self.into())
    }
}
impl IntoNet for IpAddr {
    fn into_net(self) -> crate::Result<IpNet> {
        Ok(self.into())
    }
}
impl IntoNet for Ipv4Addr {
    fn into_net(self) -> crate::Result<IpNet> {
        Ok(IpAddr::V4(self).into())
    }
}
impl IntoNet for Ipv6Addr {
    fn into_net(self) -> crate::Result<IpNet> {
        Ok(IpAddr::V6(self).into())
    }
}
impl IntoNet for &str {
    fn into_net(self) -> crate::Result<IpNet> {
        crate::parse::net(self, None).ok_or_else(|| crate::Error::Parse {
            what: "network",
            input: self.to_string(),
            expected: "neither an address nor a network like \"10.0.0.0/24\"",
        })
    }
}
impl IntoNet for &String {
    fn into_net(self) -> crate::Result<IpNet> {
        self.as_str().into_net()
    }
}
impl IntoNet for String {
    fn into_net(self) -> crate::Result<IpNet> {
        self.as_str().into_net()
    }
}

/// The chains a ruleset may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum ChainKind {
    NatPrerouting,
    NatOutput,
    NatPostrouting,
    Input,
    Forward,
    Output,
}

impl ChainKind {
    const ALL: [ChainKind; 6] = [
        ChainKind::NatPrerouting,
        ChainKind::NatOutput,
        ChainKind::NatPostrouting,
        ChainKind::Input,
        ChainKind::Forward,
        ChainKind::Output,
    ];

    fn name(self) -> &'static str {
        match self {
            ChainKind::NatPrerouting => "nat_prerouting",
            ChainKind::NatOutput => "nat_output",
            ChainKind::NatPostrouting => "nat_postrouting",
            ChainKind::Input => "input",
            ChainKind::Forward => "forward",
            ChainKind::Output => "output",
        }
    }

    fn is_nat(self) -> bool {
        matches!(
            self,
            ChainKind::NatPrerouting | ChainKind::NatOutput | ChainKind::NatPostrouting
        )
    }

    /// NF_INET_* hook number.
    fn hook(self) -> u32 {
        match self {
            ChainKind::NatPrerouting => 0,
            ChainKind::Input => 1,
            ChainKind::Forward => 2,
            ChainKind::NatOutput | ChainKind::Output => 3,
            ChainKind::NatPostrouting => 4,
        }
    }

    fn hook_name(self) -> &'static str {
        ["prerouting", "input", "forward", "output", "postrouting"][self.hook() as usize]
    }

    /// NF_IP_PRI_NAT_DST (-100), NF_IP_PRI_NAT_SRC (100), NF_IP_PRI_FILTER (0).
    fn priority(self) -> i32 {
        match self {
            ChainKind::NatPrerouting | ChainKind::NatOutput => -100,
            ChainKind::NatPostrouting => 100,
            _ => 0,
        }
    }

    fn priority_name(self) -> &'static str {
        match self {
            ChainKind::NatPrerouting | ChainKind::NatOutput => "dstnat",
            ChainKind::NatPostrouting => "srcnat",
            _ => "filter",
        }
    }

    fn of_hook(hook: Hook) -> ChainKind {
        match hook {
            Hook::Input => ChainKind::Input,
            Hook::Forward => ChainKind::Forward,
            Hook::Output => ChainKind::Output,
        }
    }
}

/// A declarative nf_tables ruleset: NAT, filter rules and chain policies, for one network
/// namespace. Install it with [`apply`]; print it (`{}`) to see the nft text it stands for.
///
/// ```
/// use netns_test::nft::{Policy, Proto, Ruleset};
/// let rules = Ruleset::new()
///     .nat_masquerade("10.1.1.0/24", Some("samplebr"))
///     .dnat(Proto::Tcp, None, 8080, "172.17.0.2:80".parse().unwrap())
///     .forward_policy(Policy::Drop);
/// let text = rules.to_string();
/// assert!(text.contains(r#"ip saddr 10.1.1.0/24 oifname != "samplebr" counter masquerade"#));
/// assert!(text.contains("fib daddr type local tcp dport 8080 counter dnat ip to 172.17.0.2:80"));
/// assert!(text.contains("type filter hook forward priority filter; policy drop;"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruleset {
    table: String,
    policies: Vec<(ChainKind, Policy)>,
    rules: Vec<(ChainKind, Rule)>,
}

impl Default for Ruleset {
    fn default() -> Self {
        Ruleset::new()
    }
}

impl Ruleset {
    /// An empty ruleset for the table `inet netns_test` ([`TABLE`]).
    pub fn new() -> Ruleset {
        Ruleset::named(TABLE)
    }

    /// An empty ruleset for another table `inet NAME`, so that independent parts of a test
    /// can [`apply`] their rules without replacing each other's. Remove it with
    /// [`delete_table`].
    pub fn named(table: &str) -> Ruleset {
        Ruleset {
            table: table.to_string(),
            policies: Vec::new(),
            rules: Vec::new(),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn push(mut self, chain: ChainKind, rule: Rule) -> Ruleset {
        self.rules.push((chain, rule));
        self
    }

    /// Masquerades connections from `src`: their source address becomes the address of
    /// the interface they leave through, unless that is `not_out_iface` (the LAN's own
    /// bridge). Docker's rule for a bridge network:
    ///
    /// `iptables -t nat -A POSTROUTING -s 10.1.1.0/24 ! -o samplebr -j MASQUERADE`, nft
    /// `ip saddr 10.1.1.0/24 oifname != "samplebr" masquerade`. IPv6 networks work alike.
    pub fn nat_masquerade(self, src: impl IntoNet, not_out_iface: Option<&str>) -> Ruleset {
        let mut rule = Rule::new().src(src);
        if let Some(iface) = not_out_iface {
            rule = rule.not_oif(iface);
        }
        rule.action = Action::Masquerade;
        self.push(ChainKind::NatPostrouting, rule)
    }

    /// Source NAT to a fixed address: connections from `src` (leaving through `out_iface`,
    /// if given) get source address `to` and a source port from `ports` (any, if `None`),
    /// chosen as `mode` says.
    ///
    /// `iptables -t nat -A POSTROUTING -s 10.0.0.0/24 -o eth0 -j SNAT --to-source
    /// 198.51.100.1:1024-65535 --persistent` (or `--random-fully`), nft `ip saddr
    /// 10.0.0.0/24 oifname "eth0" snat ip to 198.51.100.1:1024-65535 persistent`.
    pub fn snat(
        self,
        src: impl IntoNet,
        out_iface: Option<&str>,
        to: IpAddr,
        ports: Option<RangeInclusive<u16>>,
        mode: NatMode,
    ) -> Ruleset {
        let mut rule = Rule::new().src(src);
        if let Some(iface) = out_iface {
            rule = rule.oif(iface);
        }
        rule.action = Action::Snat {
            to,
            ports: ports.map(|r| (*r.start(), *r.end())),
            mode,
        };
        self.push(ChainKind::NatPostrouting, rule)
    }

    /// Publishes a port, like `docker run -p 8080:80`: `proto` connections to `dport` on
    /// `dst` (any of this node's own addresses if `None`) are redirected to `to`, both when
    /// they arrive from outside (prerouting) and when this node itself connects (output;
    /// not for loopback destinations, as Docker's rules with its userland proxy on:
    /// [`Ruleset::publish`] adds those).
    ///
    /// `iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -p tcp --dport 8080 -j
    /// DNAT --to-destination 172.17.0.2:80` plus the same in `OUTPUT` with `! -d
    /// 127.0.0.0/8`; nft `fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80`.
    pub fn dnat(self, proto: Proto, dst: Option<IpAddr>, dport: u16, to: SocketAddr) -> Ruleset {
        let mut base = Rule::new();
        base = match dst {
            Some(ip) => base.dst(ip),
            None => base.dst_local(),
        };
        base = base.proto(proto).dport(dport);
        if !matches!(proto, Proto::Tcp | Proto::Udp) {
            base = base.with(Match::Invalid(format!(
                "dnat forwards TCP or UDP ports, not {proto}"
            )));
        }
        base.action = Action::Dnat { to };
        let mut out = base.clone();
        if dst.is_none() {
            let lo: IpNet = if to.is_ipv6() {
                "::1/128".parse().expect("cidr")
            } else {
                "127.0.0.0/8".parse().expect("cidr")
            };
            out.matches.insert(
                0,
                Match::Net {
                    dst: true,
                    net: lo,
                    neg: true,
                },
            );
        }
        self.push(ChainKind::NatPrerouting, base)
            .push(ChainKind::NatOutput, out)
    }

    /// Destination NAT of every `proto` connection to an address in `dst`, arriving from
    /// outside, to `to` (prerouting only): how a NAT64 router hands connections to its
    /// translator. nft `ip6 daddr 64:ff9b::/96 meta l4proto tcp dnat ip6 to
    /// [fd00:6::1]:6464`, `ip6tables -t nat -A PREROUTING -d 64:ff9b::/96 -p tcp -j DNAT
    /// --to-destination [fd00:6::1]:6464`.
    pub fn dnat_net(self, proto: Proto, dst: impl IntoNet, to: SocketAddr) -> Ruleset {
        let mut rule = Rule::new().dst(dst).proto(proto);
        if !matches!(proto, Proto::Tcp | Proto::Udp) {
            rule = rule.with(Match::Invalid(format!(
                "dnat forwards TCP or UDP ports, not {proto}"
            )));
        }
        rule.action = Action::Dnat { to };
        self.push(ChainKind::NatPrerouting, rule)
    }

    /// NPTv6-style prefix translation (RFC 6296) between the LAN prefix `inside` and the
    /// outside prefix `outside` (same length): connections from `inside` leaving through
    /// any interface but `lan_iface` get their source prefix replaced by `outside`, host
    /// bits kept, and connections from outside to an address in `outside` are sent to the
    /// same host bits in `inside`. nft `ip6 saddr fd00:6::/64 oifname != "lan6" snat ip6
    /// prefix to fd00:99::/64` and `ip6 daddr fd00:99::/64 iifname != "lan6" dnat ip6
    /// prefix to fd00:6::/64`; ip6tables' `NETMAP` target. The kernel keeps a conntrack
    /// entry per connection (unlike the stateless `ip6tables -j NPT`), with the same
    /// addresses on the wire. Needs prefix NAT in nf_tables (`NF_NAT_RANGE_NETMAP`,
    /// Linux 5.8).
    pub fn nptv6(self, inside: impl IntoNet, outside: impl IntoNet, lan_iface: &str) -> Ruleset {
        let (inside, outside) = (inside.into_net(), outside.into_net());
        let mut out = Rule::new().not_oif(lan_iface);
        let mut back = Rule::new().not_iif(lan_iface);
        match (inside, outside) {
            (Ok(i), Ok(o)) if i.prefix_len() == o.prefix_len() => {
                out = out.src(i);
                back = back.dst(o);
                out.action = Action::NatPrefix { dnat: false, to: o };
                back.action = Action::NatPrefix { dnat: true, to: i };
            }
            (Ok(i), Ok(o)) => {
                let e = format!(
                    "NPTv6 maps prefixes of one length: {i} is a /{}, {o} a /{}",
                    i.prefix_len(),
                    o.prefix_len()
                );
                out = out.with(Match::Invalid(e.clone()));
                back = back.with(Match::Invalid(e));
            }
            (Err(e), _) | (_, Err(e)) => {
                out = out.with(Match::Invalid(e.to_string()));
                back = back.with(Match::Invalid(e.to_string()));
            }
        }
        self.push(ChainKind::NatPostrouting, out)
            .push(ChainKind::NatPrerouting, back)
    }

    /// Whether the ruleset translates prefixes ([`Ruleset::nptv6`]), which older kernels
    /// refuse.
    pub(crate) fn has_prefix_nat(&self) -> bool {
        self.rules
            .iter()
            .any(|(_, r)| matches!(r.action, Action::NatPrefix { .. }))
    }

    /// A published port, like `docker run -p 8080:80` with Docker's userland proxy off:
    /// [`Ruleset::dnat`] of `proto` connections to `dport` on any of this node's own
    /// addresses to `to`, a member of bridge `bridge`, also when this node itself connects
    /// to a loopback address (`curl http://127.0.0.1:8080/`). Such a connection leaves
    /// through `bridge` with a 127.0.0.0/8 source, which is masqueraded to the bridge's
    /// address so that `to` can answer. The kernel routes it only where the bridge has
    /// `net.ipv4.conf.BRIDGE.route_localnet=1` (the planner sets it for published ports,
    /// as Docker does).
    ///
    /// IPv6 has no `route_localnet` to let the kernel route a `::1` source out through a
    /// bridge, so for an IPv6 `to` the output rule skips `::1` as [`Ruleset::dnat`] does.
    ///
    /// `iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -p tcp --dport 8080 -j
    /// DNAT --to-destination 172.17.0.2:80`, the same in `OUTPUT`, and `iptables -t nat -A
    /// POSTROUTING -m conntrack --ctstate DNAT -s 127.0.0.0/8 -o docker0 -j MASQUERADE`;
    /// nft `fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80` in both hooks and
    /// `ct status dnat ip saddr 127.0.0.0/8 oifname "docker0" masquerade`.
    pub fn publish(self, proto: Proto, dport: u16, to: SocketAddr, bridge: &str) -> Ruleset {
        let mut rules = self.dnat(proto, None, dport, to);
        if to.is_ipv6() {
            return rules;
        }
        if let Some((_, out)) = rules.rules.last_mut() {
            out.matches.retain(|m| {
                !matches!(
                    m,
                    Match::Net {
                        dst: true,
                        neg: true,
                        ..
                    }
                )
            });
        }
        let mut masq = Rule::new()
            .ct_dnat()
            .src("127.0.0.0/8".parse::<IpNet>().expect("cidr"))
            .oif(bridge);
        masq.action = Action::Masquerade;
        if rules
            .rules
            .iter()
            .any(|(c, r)| *c == ChainKind::NatPostrouting && *r == masq)
        {
            return rules;
        }
        rules.push(ChainKind::NatPostrouting, masq)
    }

    /// *Endpoint-independent filtering* (RFC 4787; "full cone" in RFC 3489) for `host`'s
    /// `proto` ports `ports`: whatever arrives from anywhere at one of this node's own
    /// addresses on one of those ports goes to `host`, on the same port.
    ///
    /// Combined with port-preserving source NAT (masquerade, or [`Ruleset::snat`] with
    /// [`NatMode::PortPreserving`]), which maps `host:P` to `PUBLIC:P`, any external endpoint
    /// can then reach `host` at the public endpoint it uses towards everyone. Without it,
    /// Linux conntrack filters *address-and-port-dependently*: only the address and port
    /// `host` sent to may answer.
    ///
    /// The mapping is static: it exists before `host` sends anything, like a port mapping
    /// obtained with PCP or UPnP-IGD (how full-cone behaviour is usually had on Linux).
    ///
    /// `iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -p udp --dport
    /// 4000:4010 -j DNAT --to-destination 192.168.1.2`, nft `fib daddr type local udp dport
    /// 4000-4010 dnat ip to 192.168.1.2`.
    pub fn full_cone(self, host: IpAddr, proto: Proto, ports: RangeInclusive<u16>) -> Ruleset {
        let mut rule = Rule::new().dst_local().proto(proto).dport_range(ports);
        if !matches!(proto, Proto::Tcp | Proto::Udp) {
            rule = rule.with(Match::Invalid(format!(
                "full_cone maps TCP or UDP ports, not {proto}"
            )));
        }
        rule.action = Action::DnatAddr { to: host };
        self.push(ChainKind::NatPrerouting, rule)
    }

    /// *Hairpinning* (RFC 4787 section 6) for the LAN `subnet` on interface `lan_iface`: a
    /// LAN host that connects to this node's public address at a published port reaches the
    /// LAN host behind it, and sees the answers come from where it connected to.
    ///
    /// Without it, the published port's DNAT sends the connection back into the LAN with
    /// the client's own address as source, so the server answers the client directly, from
    /// its own address, and the client drops what it never asked for (unless the LAN's
    /// bridge passes bridged traffic through netfilter, `br_netfilter`, which un-NATs the
    /// answer on its way). With it, such connections are masqueraded to this node's LAN
    /// address, so the answers come back through it.
    ///
    /// nft `ct status dnat ip saddr 192.168.1.0/24 oifname "lan" masquerade`: only
    /// connections that were DNATed, so LAN hosts talking to each other directly keep their
    /// addresses even where bridged traffic passes the hooks.
    pub fn hairpin_masquerade(self, subnet: impl IntoNet, lan_iface: &str) -> Ruleset {
        let mut rule = Rule::new().ct_dnat().src(subnet).oif(lan_iface);
        rule.action = Action::Masquerade;
        self.push(ChainKind::NatPostrouting, rule)
    }

    /// A home router's input filter for what arrives from outside for the router itself:
    /// new TCP and UDP connections to this node that come in on any interface but
    /// `lan_ifaces` and `lo` are dropped, unless a socket of the node would receive them (a
    /// service running on the router, see [`Rule::local_socket`]). Replies to the node's
    /// own connections, forwarded traffic (published ports among it) and ICMP pass.
    ///
    /// ```text
    /// iifname != "lan" iifname != "lo" ct state new socket transparent 0-1 counter accept
    /// iifname != "lan" iifname != "lo" ct state new meta l4proto tcp counter drop
    /// iifname != "lan" iifname != "lo" ct state new meta l4proto udp counter drop
    /// ```
    ///
    /// Why a NAT needs it: connection tracking keeps (confirms) an entry for every packet
    /// that survives all hooks. A peer's first hole-punching packet that reaches the NAT
    /// before the host behind it has sent anything is delivered to the router itself, and
    /// its entry is kept; the host's own flow to that peer then collides with the entry,
    /// the NAT gives it another source port, and the peer's NAT drops everything from that
    /// port. Dropped in the input hook, the packet leaves no entry. The topology adds
    /// these rules to every router that masquerades or source-NATs (see
    /// [`NodeBuilder::no_wan_guard`](crate::topology::NodeBuilder::no_wan_guard)).
    ///
    /// Needs `nft_socket` (`CONFIG_NFT_SOCKET`) in the kernel.
    pub fn wan_guard(self, lan_ifaces: &[&str]) -> Ruleset {
        let outside = || {
            let rule = lan_ifaces
                .iter()
                .chain(&["lo"])
                .fold(Rule::new(), |r, lan| r.not_iif(lan));
            rule.ct_new()
        };
        self.filter(Hook::Input, outside().local_socket().accept())
            .filter(Hook::Input, outside().proto(Proto::Tcp).drop())
            .filter(Hook::Input, outside().proto(Proto::Udp).drop())
    }

    /// The interfaces this ruleset's source NAT rules name: those NATed traffic must not
    /// leave through (`oifname != "lan"`: the LAN) and those it must (`oifname "wan"`:
    /// the WAN). Hairpin rules (`ct status dnat`) are not source NAT towards outside and
    /// are left out.
    pub(crate) fn nat_ifaces(&self) -> (Vec<String>, Vec<String>) {
        let (mut lan, mut wan) = (Vec::new(), Vec::new());
        for (chain, rule) in &self.rules {
            let snat = matches!(rule.action, Action::Masquerade | Action::Snat { .. });
            let hairpin = rule.matches.iter().any(|m| matches!(m, Match::CtStatus(_)));
            if *chain != ChainKind::NatPostrouting || !snat || hairpin {
                continue;
            }
            for m in &rule.matches {
                if let Match::Iface {
                    out: true,
                    name,
                    neg,
                } = m
                {
                    let side = if *neg { &mut lan } else { &mut wan };
                    if !side.contains(name) {
                        side.push(name.clone());
                    }
                }
            }
        }
        (lan, wan)
    }

    /// The policy of a filter chain (`iptables -P INPUT|FORWARD|OUTPUT DROP`).
    pub fn policy(mut self, hook: Hook, policy: Policy) -> Ruleset {
        let chain = ChainKind::of_hook(hook);
        self.policies.retain(|(c, _)| *c != chain);
        self.policies.push((chain, policy));
        self
    }

    /// The policy of the forward chain (`iptables -P FORWARD DROP`, Docker's default).
    pub fn forward_policy(self, policy: Policy) -> Ruleset {
        self.policy(Hook::Forward, policy)
    }

    /// Appends a filter rule (`iptables -A INPUT|FORWARD|OUTPUT ...`). Rules are evaluated
    /// in the order they were added; the first verdict wins.
    pub fn filter(self, hook: Hook, rule: Rule) -> Ruleset {
        self.push(ChainKind::of_hook(hook), rule)
    }

    /// Whether it has no rules and no policies.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.policies.is_empty()
    }

    /// The chains in use, in creation order, with their policy and rules.
    fn chains(&self) -> Vec<(ChainKind, Option<Policy>, Vec<&Rule>)> {
        ChainKind::ALL
            .iter()
            .filter_map(|&c| {
                let policy = self.policies.iter().find(|(k, _)| *k == c).map(|(_, p)| *p);
                let rules: Vec<&Rule> = self
                    .rules
                    .iter()
                    .filter(|(k, _)| *k == c)
                    .map(|(_, r)| r)
                    .collect();
                (policy.is_some() || !rules.is_empty()).then_some((c, policy, rules))
            })
            .collect()
    }

    fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if self.table.is_empty() || self.table.len() > 255 || self.table.contains('\0') {
            problems.push(format!("{:?} is not a table name", self.table));
        }
        for (chain, rule) in &self.rules {
            if let Err(e) = rule.validate() {
                problems.push(format!("rule `{rule}` for chain {}: {e}", chain.name()));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Nft {
                what: format!(
                    "invalid ruleset for table inet {}:\n  - {}",
                    self.table,
                    problems.join("\n  - ")
                ),
                source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
                detail: String::new(),
            })
        }
    }
}

impl fmt::Display for Ruleset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "table inet {} {{", self.table)?;
        for (chain, policy, rules) in self.chains() {
            writeln!(f, "\tchain {} {{", chain.name())?;
            write!(
                f,
                "\t\ttype {} hook {} priority {};",
                if chain.is_nat() { "nat" } else { "filter" },
                chain.hook_name(),
                chain.priority_name()
            )?;
            if let Some(p) = policy {
                write!(
                    f,
                    " policy {};",
                    if p == Policy::Drop { "drop" } else { "accept" }
                )?;
            }
            writeln!(f)?;
            for rule in rules {
                writeln!(f, "\t\t{rule}")?;
            }
            writeln!(f, "\t}}")?;
        }
        write!(f, "}}")
    }
}
