//! Subnets and addresses: parsing, pools, duplicates.

use super::names::link_name;
use super::*;

impl Planner<'_> {
    /// Parses every network's subnets and checks that no two overlap.
    pub(super) fn subnets(&mut self) -> BTreeMap<String, (Option<Ipv4Net>, Option<Ipv6Net>)> {
        let mut out = BTreeMap::new();
        let mut all: Vec<(String, IpNet)> = Vec::new();
        let nets: Vec<(String, String, Option<String>, &str)> = self
            .topo
            .bridges
            .iter()
            .map(|b| {
                (
                    b.name.clone(),
                    b.subnet.clone(),
                    b.subnet6.clone(),
                    "bridge",
                )
            })
            .chain(
                self.topo
                    .links
                    .iter()
                    .map(|l| (link_name(l), l.subnet.clone(), l.subnet6.clone(), "link")),
            )
            .chain(
                self.topo
                    .overlays
                    .iter()
                    .map(|o| (o.name.clone(), o.subnet.clone(), None, "overlay")),
            )
            .collect();
        for (name, v4, v6, kind) in nets {
            // An IPv6 CIDR as the subnet makes the network IPv6-only.
            let v6_only = kind != "overlay" && v4.parse::<Ipv6Net>().is_ok();
            if v6_only && v6.is_some() {
                self.err(format!("{kind} {name:?}"), format!(
                    "{kind} {name:?}: subnet {v4:?} is IPv6, which makes the network IPv6-only, and .ipv6(..) gives it a second IPv6 subnet: give an IPv4 subnet for a dual-stack network, or drop .ipv6(..)"
                ));
            }
            let (v4, v6) = if v6_only {
                (None, Some(v4))
            } else {
                (Some(v4), v6)
            };
            let v4 = v4.and_then(|v4| match v4.parse::<Ipv4Net>() {
                Ok(n) => Some(n.trunc()),
                Err(_) => {
                    self.err(
                        format!("{kind} {name:?}"),
                        if kind == "overlay" {
                            format!("{kind} {name:?}: subnet {v4:?} is not an IPv4 CIDR like \"10.0.0.0/24\"")
                        } else {
                            format!("{kind} {name:?}: subnet {v4:?} is neither an IPv4 CIDR like \"10.0.0.0/24\" nor an IPv6 one like \"fd00:1::/64\" (IPv6-only)")
                        },
                    );
                    None
                }
            });
            let v6 = v6.and_then(|s| match s.parse::<Ipv6Net>() {
                Ok(n) => Some(n.trunc()),
                Err(_) => {
                    self.err(format!("{kind} {name:?}"), format!(
                        "{kind} {name:?}: IPv6 subnet {s:?} is not an IPv6 CIDR like \"fd00:1::/64\""
                    ));
                    None
                }
            });
            for net in v4.map(IpNet::V4).into_iter().chain(v6.map(IpNet::V6)) {
                if let Some((other, o)) = all
                    .iter()
                    .find(|(_, o)| o.contains(&net.network()) || net.contains(&o.network()))
                {
                    self.err(format!("{kind} {name:?}"), format!(
                        "{kind} {name:?}: subnet {net} overlaps {o} of {other:?}: give each network its own range"
                    ));
                }
                all.push((name.clone(), net));
            }
            out.insert(name, (v4, v6));
        }
        out
    }

    /// Parses `s` as an address inside `net` that is not its network or broadcast address.
    pub(super) fn parse_in(&mut self, s: &str, net: IpNet, what: &str) -> Option<IpAddr> {
        let Ok(ip) = s.parse::<IpAddr>() else {
            self.err(what, format!("{what}: {s:?} is not an IP address"));
            return None;
        };
        if !net.contains(&ip) {
            self.err(
                what,
                format!("{what}: {ip} is outside the subnet {net}: pick an address inside it"),
            );
            return None;
        }
        let edge = match net {
            IpNet::V4(n) if n.prefix_len() < 31 => {
                ip == IpAddr::V4(n.network()) || ip == IpAddr::V4(n.broadcast())
            }
            IpNet::V6(n) if n.prefix_len() < 127 => ip == IpAddr::V6(n.network()),
            _ => false,
        };
        if edge {
            self.err(
                what,
                format!(
                "{what}: {ip} is the network or broadcast address of {net}: pick a host address"
            ),
            );
            return None;
        }
        Some(ip)
    }

    pub(super) fn take(&mut self, ip: IpAddr, who: String) -> bool {
        if let Some(prev) = self.taken.get(&ip) {
            let msg = format!(
                "address {ip} is given to both {prev} and {who}: each address may be used once"
            );
            self.err(format!("address {ip}"), msg);
            return false;
        }
        self.taken.insert(ip, who);
        true
    }

    pub(super) fn alloc(&mut self, net: IpNet, network: &str, what: &str) -> Option<IpAddr> {
        let free = match net {
            IpNet::V4(n) => n
                .hosts()
                .map(IpAddr::V4)
                .find(|ip| !self.taken.contains_key(ip)),
            IpNet::V6(n) => v6_hosts(n).find(|ip| !self.taken.contains_key(ip)),
        };
        match free {
            Some(ip) => {
                self.taken.insert(ip, what.to_string());
                Some(ip)
            }
            None => {
                self.err(what, format!(
                    "{what}: the address pool of {network:?} ({net}) is exhausted: use a larger subnet"
                ));
                None
            }
        }
    }
}

pub(super) fn first_v6(net: Ipv6Net) -> Ipv6Addr {
    v6_hosts(net)
        .next()
        .and_then(|ip| match ip {
            IpAddr::V6(ip) => Some(ip),
            IpAddr::V4(_) => None,
        })
        .expect("an IPv6 subnet has hosts")
}

/// Host addresses of an IPv6 subnet from `::1` (the subnet-router anycast `::` excluded).
pub(super) fn v6_hosts(net: Ipv6Net) -> impl Iterator<Item = IpAddr> {
    let base = u128::from(net.network());
    let size: u128 = if net.prefix_len() == 0 {
        u128::MAX
    } else {
        (1u128 << (128 - net.prefix_len())) - 1
    };
    let start = if net.prefix_len() >= 127 { 0 } else { 1 };
    (start..=size.min(1 << 20)).map(move |i| IpAddr::V6(Ipv6Addr::from(base + i)))
}
