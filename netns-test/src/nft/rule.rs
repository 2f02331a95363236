//! [`Rule`]: one rule of a chain, its matches and its verdict, built with one method per
//! match as `iptables`/`nft` spell them.

use super::*;

/// One match of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Match {
    /// `ip saddr NET`, `ip6 daddr != NET`, ...
    Net { dst: bool, net: IpNet, neg: bool },
    /// `iifname "lan"`, `oifname != "lan"`.
    Iface { out: bool, name: String, neg: bool },
    /// `meta l4proto tcp`.
    Proto(Proto),
    /// `tcp dport 80`, `udp sport 1000-2000`.
    Port { dst: bool, lo: u16, hi: u16 },
    /// `ct state established,related` (a mask of NF_CT_STATE bits).
    CtState(u32),
    /// `fib daddr type local` (iptables `-m addrtype --dst-type LOCAL`).
    DstLocal,
    /// `ct status dnat` (a mask of IPS_* bits).
    CtStatus(u32),
    /// `socket transparent 0-1`: a socket of this namespace would receive the packet.
    Socket,
    /// An argument that did not parse; reported by `apply`.
    Invalid(String),
}

/// What a rule does with a packet it matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// Only count.
    None,
    Accept,
    Drop,
    Reject,
    Masquerade,
    Snat {
        to: IpAddr,
        ports: Option<(u16, u16)>,
        mode: NatMode,
    },
    Dnat {
        to: SocketAddr,
    },
    /// `dnat ip to ADDR`: the destination port is kept.
    DnatAddr {
        to: IpAddr,
    },
    /// `snat ip6 prefix to NET` (or `dnat`): the prefix is replaced, the host bits kept
    /// (NPTv6-like; `NF_NAT_RANGE_NETMAP`).
    NatPrefix {
        dnat: bool,
        to: IpNet,
    },
}

/// A filter rule: matches, then a verdict (iptables `-A CHAIN ... -j VERDICT`).
///
/// All matches must hold. Build it with the methods below and finish with [`Rule::accept`],
/// [`Rule::drop`] or [`Rule::reject`]; a rule without a verdict only counts packets.
///
/// It prints (`{}`) in nft syntax, its matches in a fixed order whatever order they were
/// added in: `iifname`, `ct`, addresses, `fib` and `socket`, `oifname`, then protocol
/// and ports. That
/// is also how [`list`] prints it when it reads it back from the kernel.
///
/// ```
/// use netns_test::nft::{Proto, Rule};
/// let r = Rule::new().iif("lan").not_dst("10.0.0.0/8").proto(Proto::Tcp).dport(443).accept();
/// assert_eq!(
///     r.to_string(),
///     r#"iifname "lan" ip daddr != 10.0.0.0/8 tcp dport 443 counter accept"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub(super) matches: Vec<Match>,
    pub(super) action: Action,
}

impl Default for Rule {
    fn default() -> Self {
        Rule::new()
    }
}

impl Rule {
    /// A rule that matches every packet and only counts it.
    pub fn new() -> Rule {
        Rule {
            matches: Vec::new(),
            action: Action::None,
        }
    }

    pub(super) fn with(mut self, m: Match) -> Rule {
        self.matches.push(m);
        self
    }

    pub(super) fn net(self, net: impl IntoNet, dst: bool, neg: bool) -> Rule {
        match net.into_net() {
            Ok(net) => self.with(Match::Net {
                dst,
                net: net.trunc(),
                neg,
            }),
            Err(e) => self.with(Match::Invalid(e.to_string())),
        }
    }

    pub(super) fn iface(self, name: &str, out: bool, neg: bool) -> Rule {
        if name.is_empty() || name.len() > 15 || name.contains('\0') {
            return self.with(Match::Invalid(format!(
                "{name:?} is not an interface name (1 to 15 bytes)"
            )));
        }
        self.with(Match::Iface {
            out,
            name: name.to_string(),
            neg,
        })
    }

    /// Source address in `net` (`-s NET`, nft `ip saddr NET`).
    pub fn src(self, net: impl IntoNet) -> Rule {
        self.net(net, false, false)
    }

    /// Source address not in `net` (`! -s NET`, nft `ip saddr != NET`).
    pub fn not_src(self, net: impl IntoNet) -> Rule {
        self.net(net, false, true)
    }

    /// Destination address in `net` (`-d NET`, nft `ip daddr NET`).
    pub fn dst(self, net: impl IntoNet) -> Rule {
        self.net(net, true, false)
    }

    /// Destination address not in `net` (`! -d NET`, nft `ip daddr != NET`).
    pub fn not_dst(self, net: impl IntoNet) -> Rule {
        self.net(net, true, true)
    }

    /// Came in on interface `name` (`-i NAME`, nft `iifname "NAME"`).
    pub fn iif(self, name: &str) -> Rule {
        self.iface(name, false, false)
    }

    /// Did not come in on interface `name` (`! -i NAME`).
    pub fn not_iif(self, name: &str) -> Rule {
        self.iface(name, false, true)
    }

    /// Goes out on interface `name` (`-o NAME`, nft `oifname "NAME"`).
    pub fn oif(self, name: &str) -> Rule {
        self.iface(name, true, false)
    }

    /// Does not go out on interface `name` (`! -o NAME`).
    pub fn not_oif(self, name: &str) -> Rule {
        self.iface(name, true, true)
    }

    /// IP protocol (`-p tcp`, nft `meta l4proto tcp`).
    pub fn proto(self, proto: Proto) -> Rule {
        self.with(Match::Proto(proto))
    }

    /// Destination port (`--dport 80`, nft `tcp dport 80`); needs [`Rule::proto`].
    pub fn dport(self, port: u16) -> Rule {
        self.with(Match::Port {
            dst: true,
            lo: port,
            hi: port,
        })
    }

    /// Destination port in a range (`--dport 1000:2000`, nft `tcp dport 1000-2000`).
    pub fn dport_range(self, ports: RangeInclusive<u16>) -> Rule {
        self.with(Match::Port {
            dst: true,
            lo: *ports.start(),
            hi: *ports.end(),
        })
    }

    /// Source port (`--sport 53`, nft `udp sport 53`); needs [`Rule::proto`].
    pub fn sport(self, port: u16) -> Rule {
        self.with(Match::Port {
            dst: false,
            lo: port,
            hi: port,
        })
    }

    /// Source port in a range (`--sport 1000:2000`).
    pub fn sport_range(self, ports: RangeInclusive<u16>) -> Rule {
        self.with(Match::Port {
            dst: false,
            lo: *ports.start(),
            hi: *ports.end(),
        })
    }

    /// Part of a connection already seen in both directions, or related to one
    /// (`-m conntrack --ctstate ESTABLISHED,RELATED`, nft `ct state established,related`).
    pub fn ct_established(self) -> Rule {
        self.with(Match::CtState(expr::CT_ESTABLISHED | expr::CT_RELATED))
    }

    /// The first packet of a connection (`--ctstate NEW`, nft `ct state new`).
    pub fn ct_new(self) -> Rule {
        self.with(Match::CtState(expr::CT_NEW))
    }

    /// Addressed to one of this node's own addresses (`-m addrtype --dst-type LOCAL`, nft
    /// `fib daddr type local`).
    pub fn dst_local(self) -> Rule {
        self.with(Match::DstLocal)
    }

    /// A socket of this node would receive the packet: a listening TCP socket or a bound
    /// UDP socket for its destination address and port, or the socket of the connection
    /// it belongs to (nft `socket transparent 0-1`, the `socket` expression, which finds a
    /// socket whether it is transparent or not; iptables `-m socket`). Only in the input
    /// chain (and prerouting); needs `nft_socket` (`CONFIG_NFT_SOCKET`) in the kernel.
    pub fn local_socket(self) -> Rule {
        self.with(Match::Socket)
    }

    /// Part of a connection whose destination was rewritten by DNAT, such as one to a
    /// published port (`-m conntrack --ctstate DNAT`, nft `ct status dnat`).
    pub fn ct_dnat(self) -> Rule {
        self.with(Match::CtStatus(expr::IPS_DST_NAT))
    }

    /// Let the packet pass (`-j ACCEPT`).
    pub fn accept(mut self) -> Rule {
        self.action = Action::Accept;
        self
    }

    /// Drop the packet silently (`-j DROP`).
    pub fn drop(mut self) -> Rule {
        self.action = Action::Drop;
        self
    }

    /// Refuse the packet: a TCP reset for TCP rules, otherwise ICMP port unreachable
    /// (`-j REJECT`, nft `reject with tcp reset` / `reject with icmpx port-unreachable`).
    pub fn reject(mut self) -> Rule {
        self.action = Action::Reject;
        self
    }

    pub(super) fn proto_of(&self) -> Option<Proto> {
        self.matches.iter().find_map(|m| match m {
            Match::Proto(p) => Some(*p),
            _ => None,
        })
    }

    /// The IP family the rule is restricted to (`Some(false)` IPv4, `Some(true)` IPv6),
    /// or an error if it mixes both.
    pub(super) fn family(&self) -> std::result::Result<Option<bool>, String> {
        let mut fam: Option<(bool, String)> = None;
        let mut see = |v6: bool, what: String| -> std::result::Result<(), String> {
            match &fam {
                Some((f, first)) if *f != v6 => Err(format!(
                    "it mixes IPv4 and IPv6: {first} and {what}; make one rule per family"
                )),
                Some(_) => Ok(()),
                None => {
                    fam = Some((v6, what));
                    Ok(())
                }
            }
        };
        for m in &self.matches {
            match m {
                Match::Net { net, .. } => see(matches!(net, IpNet::V6(_)), net.to_string())?,
                Match::Proto(Proto::Icmp) => see(false, "icmp".into())?,
                Match::Proto(Proto::Icmpv6) => see(true, "icmpv6".into())?,
                _ => {}
            }
        }
        match &self.action {
            Action::Snat { to, .. } => see(to.is_ipv6(), to.to_string())?,
            Action::Dnat { to } => see(to.is_ipv6(), to.to_string())?,
            Action::DnatAddr { to } => see(to.is_ipv6(), to.to_string())?,
            Action::NatPrefix { to, .. } => see(matches!(to, IpNet::V6(_)), to.to_string())?,
            _ => {}
        }
        Ok(fam.map(|(f, _)| f))
    }

    /// Checks the rule; `Err` says what is wrong with it.
    pub(super) fn validate(&self) -> std::result::Result<(), String> {
        for m in &self.matches {
            if let Match::Invalid(e) = m {
                return Err(e.clone());
            }
        }
        self.family()?;
        let protos = self
            .matches
            .iter()
            .filter(|m| matches!(m, Match::Proto(_)))
            .count();
        if protos > 1 {
            return Err("it names more than one protocol".into());
        }
        let proto = self.proto_of();
        for m in &self.matches {
            if let Match::Port { lo, hi, .. } = m {
                if lo > hi {
                    return Err(format!("the port range {lo}-{hi} is empty"));
                }
                match proto {
                    Some(p) if p.has_ports() => {}
                    Some(p) => return Err(format!("protocol {p} has no ports")),
                    None => {
                        return Err(
                            "a port match needs a protocol: add .proto(Proto::Tcp) or .proto(Proto::Udp)"
                                .into(),
                        )
                    }
                }
            }
        }
        if let Action::Snat {
            ports: Some((lo, hi)),
            ..
        } = &self.action
        {
            if lo > hi {
                return Err(format!("the port range {lo}-{hi} is empty"));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render::rule_text(self, f)
    }
}
