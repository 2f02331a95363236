//! Devices: bridges, overlay bridges and their VXLAN devices, the veth pairs of attachments
//! and links.

use super::addressing::{first_v6, v6_hosts};
use super::names::{is_port_fallback, link_name, reserved_name, valid_ifname};
use super::*;

impl Planner<'_> {
    pub(super) fn bridges(
        &mut self,
        subnets: &BTreeMap<String, (Option<Ipv4Net>, Option<Ipv6Net>)>,
    ) {
        for spec in &self.topo.bridges {
            if self.bridge_ix.contains_key(&spec.name)
                || self.topo.links.iter().any(|l| link_name(l) == spec.name)
            {
                self.err(
                    format!("network {:?}", spec.name),
                    format!(
                        "network {:?} is declared more than once: give each network its own name",
                        spec.name
                    ),
                );
                continue;
            }
            if !valid_ifname(&spec.name) {
                self.err(format!("bridge {:?}", spec.name), format!(
                    "bridge {:?}: the name is also the device name and must be 1-15 characters without '/', ':' or spaces",
                    spec.name
                ));
            } else if is_port_fallback(&spec.name) {
                self.err(
                    format!("bridge {:?}", spec.name),
                    reserved_name(&format!("bridge {:?}", spec.name), &spec.name),
                );
            }
            let Some(&owner) = self.node_ix.get(&spec.owner) else {
                self.err(format!("bridge {:?}", spec.name), format!(
                    "bridge {:?} is placed in node {:?}, which does not exist: declare the node or drop in_node()",
                    spec.name, spec.owner
                ));
                continue;
            };
            if !self.ifnames[owner].insert(spec.name.clone()) {
                self.err(
                    format!("bridge {:?}", spec.name),
                    format!(
                        "bridge {:?}: node {:?} already has an interface of that name",
                        spec.name, spec.owner
                    ),
                );
            }
            let (v4, v6) = subnets.get(&spec.name).copied().unwrap_or((None, None));
            let mut addrs = Vec::new();
            if let Some(net) = v4 {
                let gw = match &spec.gateway {
                    Gateway::Off => None,
                    Gateway::Auto => net.hosts().next(),
                    Gateway::At(s) => self
                        .parse_in(
                            s,
                            IpNet::V4(net),
                            &format!("gateway of bridge {:?}", spec.name),
                        )
                        .and_then(|ip| match ip {
                            IpAddr::V4(ip) => Some(ip),
                            IpAddr::V6(_) => None,
                        }),
                };
                if let Some(gw) = gw {
                    self.take(IpAddr::V4(gw), format!("gateway of {:?}", spec.name));
                    addrs.push(IpNet::V4(
                        Ipv4Net::new(gw, net.prefix_len()).expect("prefix from a parsed net"),
                    ));
                }
            }
            if let (Some(net), false) = (v6, matches!(spec.gateway, Gateway::Off)) {
                // On an IPv6-only network, gateway(..) names the IPv6 gateway.
                let gw = match (&spec.gateway, v4) {
                    (Gateway::At(s), None) => self
                        .parse_in(
                            s,
                            IpNet::V6(net),
                            &format!("gateway of bridge {:?}", spec.name),
                        )
                        .and_then(|ip| match ip {
                            IpAddr::V6(ip) => Some(ip),
                            IpAddr::V4(_) => None,
                        }),
                    _ => Some(first_v6(net)),
                };
                if let Some(gw) = gw {
                    self.take(IpAddr::V6(gw), format!("gateway of {:?}", spec.name));
                    addrs.push(IpNet::V6(
                        Ipv6Net::new(gw, net.prefix_len()).expect("prefix from a parsed net"),
                    ));
                }
            }
            self.bridge_ix
                .insert(spec.name.clone(), self.plan.bridges.len());
            self.plan.bridges.push(PlannedBridge {
                node: owner,
                name: spec.name.clone(),
                index: 0, // See indexes().
                mac: mac_from_name(&format!("{}/{}", spec.owner, spec.name)),
                addrs,
                scoped_names: spec.scoped_names,
                internal: spec.internal,
                netfilter: spec.netfilter,
                route_localnet: false,
            });
        }
    }

    /// One bridge per overlay host, registered as `NAME@HOST`.
    pub(super) fn overlay_bridges(&mut self) {
        for o in &self.topo.overlays {
            if self.bridge_ix.contains_key(&o.name) {
                self.err(format!("overlay {:?}", o.name), format!("overlay {:?}: a bridge network has that name too: give each network its own name", o.name));
            }
            if o.hosts.len() < 2 {
                self.err(
                    format!("overlay {:?}", o.name),
                    format!("overlay {:?}: an overlay joins at least two hosts", o.name),
                );
            }
            if o.vni == 0 || o.vni >= 1 << 24 {
                self.err(
                    format!("overlay {:?}", o.name),
                    format!("overlay {:?}: VNI {} is outside 1..16777215", o.name, o.vni),
                );
            }
            for host in &o.hosts {
                let Some(&h) = self.node_ix.get(host) else {
                    self.err(format!("overlay {:?}", o.name), format!("overlay {:?}: host {host:?} does not exist: declare it with Topology::node", o.name));
                    continue;
                };
                if !valid_ifname(&o.name) || !self.ifnames[h].insert(o.name.clone()) {
                    self.err(format!("overlay {:?}", o.name), format!("overlay {:?}: the name must be a free interface name (1-15 characters) in {host:?}", o.name));
                } else if is_port_fallback(&o.name) {
                    self.err(
                        format!("overlay {:?}", o.name),
                        reserved_name(&format!("overlay {:?}", o.name), &o.name),
                    );
                }
                self.bridge_ix
                    .insert(format!("{}@{host}", o.name), self.plan.bridges.len());
                self.plan.bridges.push(PlannedBridge {
                    node: h,
                    name: o.name.clone(),
                    index: 0, // See indexes().
                    mac: mac_from_name(&format!("{host}/{}", o.name)),
                    addrs: Vec::new(),
                    scoped_names: false,
                    internal: false,
                    netfilter: false,
                    route_localnet: false,
                });
            }
        }
    }

    /// Resolves the bridge netfilter switch of every node holding bridges: one sysctl per
    /// namespace, so the bridges declared in one node must agree; overlay bridges (from
    /// `declared` on) follow them.
    pub(super) fn bridge_netfilter(&mut self, declared: usize) {
        let mut first: HashMap<usize, usize> = HashMap::new();
        for b in 0..declared {
            let bridge = &self.plan.bridges[b];
            let Some(&f) = first.get(&bridge.node) else {
                first.insert(bridge.node, b);
                continue;
            };
            let other = &self.plan.bridges[f];
            if other.netfilter != bridge.netfilter {
                let (on, off) = if other.netfilter {
                    (other, bridge)
                } else {
                    (bridge, other)
                };
                let msg = format!(
                    "bridges {:?} and {:?} both live in node {:?}, where bridge netfilter (net.bridge.bridge-nf-call-iptables) is one switch for the whole namespace, but {:?} asks for it with bridge_netfilter(true) and {:?} does not: give both the same bridge_netfilter(..), or put one of them in another node with in_node()",
                    other.name, bridge.name, self.plan.nodes[bridge.node].name, on.name, off.name
                );
                let subject = format!("bridges {:?} and {:?}", other.name, bridge.name);
                self.err(subject, msg);
            }
        }
        for b in declared..self.plan.bridges.len() {
            let node = self.plan.bridges[b].node;
            self.plan.bridges[b].netfilter = first
                .get(&node)
                .is_some_and(|&f| self.plan.bridges[f].netfilter);
        }
    }

    /// The node holding the bridge an attachment plugs into, if it exists.
    pub(super) fn attachment_owner(&self, a: &AttachSpec) -> Option<usize> {
        let key = match (
            &a.at,
            self.topo.overlays.iter().any(|o| o.name == a.network),
        ) {
            (Some(host), true) => format!("{}@{host}", a.network),
            _ => a.network.clone(),
        };
        self.bridge_ix.get(&key).map(|&b| self.plan.bridges[b].node)
    }

    /// The veth pairs of the attachments to bridges: every node's explicit addresses
    /// first, so that pools skip them whatever the declaration order, then one attachment
    /// after the other.
    pub(super) fn attachments(
        &mut self,
        subnets: &BTreeMap<String, (Option<Ipv4Net>, Option<Ipv6Net>)>,
    ) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        let fixed: Vec<Vec<_>> = specs
            .iter()
            .map(|spec| self.fixed_addresses(spec, subnets))
            .collect();
        for (spec, fixed) in specs.iter().zip(fixed) {
            for (a, fixed) in spec.attach.iter().zip(fixed) {
                self.attachment(spec, a, fixed, subnets);
            }
        }
        // The bridges' own addresses appear as interfaces of their owners too.
        for b in &self.plan.bridges {
            let iface = PlannedIface {
                name: b.name.clone(),
                network: b.name.clone(),
                mac: b.mac,
                addrs: b.addrs.clone(),
            };
            self.plan.nodes[b.node].ifaces.push(iface);
        }
    }

    /// The addresses `spec` gives its attachments explicitly (IPv4, IPv6), taken.
    fn fixed_addresses(
        &mut self,
        spec: &NodeSpec,
        subnets: &BTreeMap<String, (Option<Ipv4Net>, Option<Ipv6Net>)>,
    ) -> Vec<(Option<IpAddr>, Option<IpAddr>)> {
        let mut per = Vec::new();
        for a in &spec.attach {
            let what = format!("node {:?} on {:?}", spec.name, a.network);
            let (v4, v6) = subnets.get(&a.network).copied().unwrap_or((None, None));
            let ip = match (&a.ip, v4) {
                (Some(s), Some(net)) => self
                    .parse_in(s, IpNet::V4(net), &what)
                    .filter(|ip| self.take(*ip, what.clone())),
                _ => None,
            };
            // On an IPv6-only network, ip(..) is the IPv6 address.
            let ip6_given = match (&a.ip, v4) {
                (Some(s), None) if a.ip6.is_none() => Some(s),
                _ => a.ip6.as_ref(),
            };
            let ip6 = match (ip6_given, v6) {
                (Some(s), Some(net)) => self
                    .parse_in(s, IpNet::V6(net), &what)
                    .filter(|ip| self.take(*ip, what.clone())),
                (Some(_), None) => {
                    self.err(what.clone(), format!("{what}: an IPv6 address is given but the network has no IPv6 subnet: add .ipv6(\"fd00::/64\") to the bridge"));
                    None
                }
                _ => None,
            };
            per.push((ip, ip6));
        }
        per
    }

    /// One attachment of `spec`, `a`, with its explicit addresses `(ip, ip6)`: the bridge,
    /// the addresses, the veth pair and the interface, and the node's default gateways.
    fn attachment(
        &mut self,
        spec: &NodeSpec,
        a: &AttachSpec,
        (ip, ip6): (Option<IpAddr>, Option<IpAddr>),
        subnets: &BTreeMap<String, (Option<Ipv4Net>, Option<Ipv6Net>)>,
    ) {
        let node = self.node_ix[&spec.name];
        let what = format!("node {:?} on {:?}", spec.name, a.network);
        let Some(bridge) = self.attachment_bridge(a, &what) else {
            return;
        };
        let owner = self.plan.bridges[bridge].node;
        if owner == node {
            self.err(
                what.clone(),
                format!(
                "{what}: the bridge lives in this node already; its address is the bridge's gateway"
            ),
            );
            return;
        }
        let (v4, v6) = subnets[&a.network];
        let ip = ip.or_else(|| v4.and_then(|net| self.alloc(IpNet::V4(net), &a.network, &what)));
        let ip6 = ip6.or_else(|| v6.and_then(|net| self.alloc(IpNet::V6(net), &a.network, &what)));
        let mut addrs = Vec::new();
        if let (Some(ip), Some(net)) = (ip, v4) {
            addrs.push(IpNet::new(ip, net.prefix_len()).expect("valid prefix"));
        }
        if let (Some(ip), Some(net)) = (ip6, v6) {
            addrs.push(IpNet::new(ip, net.prefix_len()).expect("valid prefix"));
        }
        let ifname = self.next_ifname(node, a.ifname.as_deref(), &what);
        let peer = self.port_name(owner, &spec.name, &ifname, a.peer.as_deref(), &what);
        let mac = match ip {
            Some(IpAddr::V4(v4)) => mac_from_ipv4(v4),
            _ => mac_from_name(&format!("{}/{}", spec.name, ifname)),
        };
        let owner_name = self.plan.nodes[owner].name.clone();
        let ends = [(node, ifname.clone()), (owner, peer.clone())];
        if self.declared_conditions(&what, &a.profile, ends) || a.impairable {
            self.impairable.push(self.plan.veths.len());
        }
        self.plan.veths.push(PlannedVeth {
            ends: [
                VethEnd {
                    node,
                    name: ifname.clone(),
                    index: 0, // See indexes().
                    mac,
                    addrs: addrs.clone(),
                    master: None,
                    down: a.down,
                },
                VethEnd {
                    node: owner,
                    name: peer.clone(),
                    index: 0, // See indexes().
                    mac: mac_from_name(&format!("{owner_name}/{peer}")),
                    addrs: Vec::new(),
                    master: Some(bridge),
                    down: false,
                },
            ],
        });
        self.plan.nodes[node].ifaces.push(PlannedIface {
            name: ifname,
            network: a.network.clone(),
            mac,
            addrs,
        });
        self.attachment_gateways(node, bridge, ip.is_some(), ip6.is_some());
    }

    /// The bridge attachment `a` plugs into (for an overlay, its bridge on the host
    /// `a.at` names), or `None` after an error.
    fn attachment_bridge(&mut self, a: &AttachSpec, what: &str) -> Option<usize> {
        let overlay_bridge = match (
            &a.at,
            self.topo.overlays.iter().find(|o| o.name == a.network),
        ) {
            (Some(host), Some(_)) => match self.bridge_ix.get(&format!("{}@{host}", a.network)) {
                Some(&b) => Some(b),
                None => {
                    self.err(what, format!("{what}: {host:?} is not one of the overlay's hosts: add it to Topology::overlay"));
                    return None;
                }
            },
            (None, Some(_)) => {
                self.err(
                    what,
                    format!(
                    "{what}: say which host the node runs on: on_with({:?}, |a| a.at(\"HOST\"))",
                    a.network
                ),
                );
                return None;
            }
            (Some(_), None) => {
                self.err(what, format!("{what}: at() is only for overlay networks"));
                return None;
            }
            (None, None) => None,
        };
        let bridge = overlay_bridge.or_else(|| self.bridge_ix.get(&a.network).copied());
        if bridge.is_none() {
            let known: Vec<&str> = self.topo.bridges.iter().map(|b| b.name.as_str()).collect();
            self.err(what, format!(
                "{what}: there is no bridge network {:?} (known: {}): declare it with Topology::bridge",
                a.network,
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ));
        }
        bridge
    }

    /// Docker's rule: the first network with a gateway gives the default route (an
    /// internal network gives none), per family the attachment has an address of.
    fn attachment_gateways(&mut self, node: usize, bridge: usize, has_v4: bool, has_v6: bool) {
        let planned = &self.plan.bridges[bridge];
        let gws: Vec<IpAddr> = if planned.internal {
            Vec::new()
        } else {
            planned.addrs.iter().map(|a| a.addr()).collect()
        };
        let slot = &mut self.gateways[node];
        for gw in gws {
            match gw {
                IpAddr::V4(_) if slot.0.is_none() && has_v4 => slot.0 = Some(gw),
                IpAddr::V6(_) if slot.1.is_none() && has_v6 => slot.1 = Some(gw),
                _ => {}
            }
        }
    }

    pub(super) fn links(&mut self) {
        for spec in &self.topo.links {
            let name = link_name(spec);
            let (Some(&a), Some(&b)) = (self.node_ix.get(&spec.a), self.node_ix.get(&spec.b))
            else {
                for n in [&spec.a, &spec.b] {
                    if !self.node_ix.contains_key(n) {
                        self.err(format!("link {name}"), format!("link {name}: node {n:?} does not exist: declare it with Topology::node"));
                    }
                }
                continue;
            };
            if a == b {
                self.err(
                    format!("link {name}"),
                    format!(
                        "link {name}: both ends are node {:?}: a link joins two different nodes",
                        spec.a
                    ),
                );
                continue;
            }
            // An IPv6 subnet makes the link IPv6-only: `ips(..)` are then IPv6 addresses.
            let (net, v6) = match spec.subnet.parse::<Ipv6Net>() {
                Ok(n6) => (IpNet::V6(n6.trunc()), None),
                Err(_) => {
                    let Ok(net) = spec.subnet.parse::<Ipv4Net>().map(|n| n.trunc()) else {
                        continue;
                    };
                    let v6 = spec
                        .subnet6
                        .as_deref()
                        .and_then(|s| s.parse::<Ipv6Net>().ok())
                        .map(|n| n.trunc());
                    (IpNet::V4(net), v6)
                }
            };
            let what = format!("link {name}");
            let mut ips: [Option<IpAddr>; 2] = [None, None];
            if let Some((ia, ib)) = &spec.ips {
                ips[0] = self.parse_in(ia, net, &format!("{what} at {:?}", spec.a));
                ips[1] = self.parse_in(ib, net, &format!("{what} at {:?}", spec.b));
            } else {
                let mut hosts: Box<dyn Iterator<Item = IpAddr>> = match net {
                    IpNet::V4(n) => Box::new(n.hosts().map(IpAddr::V4)),
                    IpNet::V6(n) => Box::new(v6_hosts(n)),
                };
                ips = [hosts.next(), hosts.next()];
                if ips[1].is_none() {
                    self.err(what.clone(), format!("{what}: subnet {net} has fewer than two host addresses: use a /30 or /31 or larger"));
                }
            }
            let ends = [(a, &spec.a, 0usize), (b, &spec.b, 1usize)];
            let mut planned = Vec::new();
            for (node, node_name, k) in ends {
                let who = format!("{what} at {node_name:?}");
                let mut addrs = Vec::new();
                if let Some(ip) = ips[k] {
                    if self.take(ip, who.clone()) {
                        addrs.push(IpNet::new(ip, net.prefix_len()).expect("valid prefix"));
                    }
                }
                if let Some(n6) = v6 {
                    let ip = v6_hosts(n6).nth(k).expect("an IPv6 subnet has two hosts");
                    if self.take(ip, who.clone()) {
                        addrs.push(IpNet::new(ip, n6.prefix_len()).expect("valid prefix"));
                    }
                }
                let wanted = spec
                    .names
                    .as_ref()
                    .map(|(x, y)| if k == 0 { x.as_str() } else { y.as_str() });
                let ifname = self.next_ifname(node, wanted, &who);
                let mac = mac_from_name(&format!("{node_name}/{ifname}"));
                self.plan.nodes[node].ifaces.push(PlannedIface {
                    name: ifname.clone(),
                    network: name.clone(),
                    mac,
                    addrs: addrs.clone(),
                });
                planned.push(VethEnd {
                    node,
                    name: ifname,
                    index: 0, // See indexes().
                    mac,
                    addrs,
                    master: None,
                    down: spec.down && k == 0,
                });
            }
            let [ea, eb]: [VethEnd; 2] = planned.try_into().expect("two ends");
            let ends = [(ea.node, ea.name.clone()), (eb.node, eb.name.clone())];
            if self.declared_conditions(&what, &spec.profile, ends) || spec.impairable {
                self.impairable.push(self.plan.veths.len());
            }
            self.plan.veths.push(PlannedVeth { ends: [ea, eb] });
        }
    }

    /// The VXLAN device of each overlay host, sending from the host's first IPv4 address.
    pub(super) fn vxlans(&mut self) {
        for o in &self.topo.overlays {
            let mut locals = Vec::new();
            for host in &o.hosts {
                let Some(&h) = self.node_ix.get(host) else {
                    continue;
                };
                let ip = self.plan.nodes[h]
                    .ifaces
                    .iter()
                    .flat_map(|i| &i.addrs)
                    .find_map(|a| match a {
                        IpNet::V4(n) => Some(n.addr()),
                        IpNet::V6(_) => None,
                    });
                match ip {
                    Some(ip) => locals.push((h, host, ip)),
                    None => self.err(format!("overlay {:?}", o.name), format!(
                        "overlay {:?}: host {host:?} has no IPv4 address to carry it: attach it to an underlay network",
                        o.name
                    )),
                }
            }
            for &(h, host, local) in &locals {
                let name = format!("vxlan{}", o.vni);
                if !self.ifnames[h].insert(name.clone()) {
                    self.err(
                        format!("overlay {:?}", o.name),
                        format!(
                        "overlay {:?}: {host:?} already has an interface {name:?}: use another VNI",
                        o.name
                    ),
                    );
                }
                self.plan.vxlans.push(PlannedVxlan {
                    node: h,
                    mac: mac_from_name(&format!("{host}/{name}")),
                    name,
                    index: 0, // See indexes().
                    vni: o.vni,
                    local,
                    remotes: locals.iter().filter(|l| l.0 != h).map(|l| l.2).collect(),
                    master: self.bridge_ix[&format!("{}@{host}", o.name)],
                });
            }
        }
    }

    /// The interface index of every device, once all exist (relays included): from 2 (1
    /// is `lo`), bridges first, then veth ends, then VXLAN devices, from one counter for
    /// the whole plan (see [`Plan::ifindex`] for why).
    pub(super) fn indexes(&mut self) {
        let mut next = 2u32;
        let mut by_name = vec![BTreeMap::new(); self.plan.nodes.len()];
        let mut assign = |node: usize, name: &str, index: &mut u32| {
            *index = next;
            by_name[node].insert(name.to_string(), next);
            next += 1;
        };
        for b in &mut self.plan.bridges {
            assign(b.node, &b.name, &mut b.index);
        }
        for e in self.plan.veths.iter_mut().flat_map(|v| &mut v.ends) {
            assign(e.node, &e.name, &mut e.index);
        }
        for x in &mut self.plan.vxlans {
            assign(x.node, &x.name, &mut x.index);
        }
        self.plan.ifindexes = by_name;
    }
}

/// A deterministic, locally administered unicast MAC derived from a name.
pub(crate) fn mac_from_name(name: &str) -> [u8; 6] {
    // FNV-1a, 64 bit.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    [0x02, b[1], b[2], b[3], b[4], b[5]]
}

/// Docker's MAC scheme: `02:42` followed by the IPv4 address.
pub(crate) fn mac_from_ipv4(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}
