//! nftables rules from the topology: masquerade, published ports, internal networks,
//! isolation between the host's bridges.

use super::*;

impl Planner<'_> {
    /// The nftables rules that Docker's iptables rules become: masquerade, published
    /// ports, internal networks, isolation between the host's bridges.
    pub(super) fn netfilter(&mut self) {
        self.bridge_rules();
        self.published_ports();
        self.host_bridge_isolation();
        self.nats();
        self.nat64s();
        self.wan_guards();
        self.routed_between_bridges();
    }

    /// Each bridge's hairpin, masquerade and internal-network rules, at its owner.
    fn bridge_rules(&mut self) {
        for spec in &self.topo.bridges {
            let Some(&b) = self.bridge_ix.get(&spec.name) else {
                continue;
            };
            let owner = self.plan.bridges[b].node;
            let name = spec.name.clone();
            let subnets: Vec<IpNet> = self.plan.bridges[b]
                .addrs
                .iter()
                .map(|a| a.trunc())
                .collect();
            if spec.hairpin {
                if subnets.is_empty() {
                    self.err(format!("bridge {name:?}"), format!("bridge {name:?}: hairpin needs a gateway on the bridge to masquerade to; drop no_gateway()"));
                }
                self.plan.nodes[owner].forwarding = true;
                for net in &subnets {
                    add_rules(&mut self.plan, owner, &|r| {
                        r.hairpin_masquerade(*net, &name)
                    });
                }
            }
            if spec.masquerade {
                if subnets.is_empty() {
                    self.err(format!("bridge {name:?}"), format!("bridge {name:?}: masquerade needs a gateway on the bridge; drop no_gateway()"));
                }
                self.plan.nodes[owner].forwarding = true;
                for &net in &subnets {
                    add_rules(&mut self.plan, owner, &|r| {
                        r.nat_masquerade(net, Some(&name))
                    });
                }
            }
            if let Some(outside) = &spec.nptv6 {
                let inside = subnets.iter().find(|n| matches!(n, IpNet::V6(_))).copied();
                match (inside, outside.parse::<Ipv6Net>()) {
                    (None, _) => self.err(format!("bridge {name:?}"), format!("bridge {name:?}: nptv6 needs an IPv6 gateway on the bridge: give it an IPv6 subnet and drop no_gateway()")),
                    (_, Err(_)) => self.err(format!("bridge {name:?}"), format!("bridge {name:?}: nptv6 prefix {outside:?} is not an IPv6 CIDR like \"fd00:99::/64\"")),
                    (Some(inside), Ok(o)) if inside.prefix_len() != o.prefix_len() => self.err(format!("bridge {name:?}"), format!("bridge {name:?}: nptv6 maps prefixes of one length: {inside} is a /{}, {o} a /{}", inside.prefix_len(), o.prefix_len())),
                    (Some(inside), Ok(o)) => {
                        self.plan.nodes[owner].forwarding = true;
                        let o = IpNet::V6(o.trunc());
                        add_rules(&mut self.plan, owner, &|r| r.nptv6(inside, o, &name));
                    }
                }
            }
            if spec.internal {
                // Docker's: -i BR ! -o BR -j DROP; -o BR ! -i BR -j DROP (traffic between
                // members may pass the forward hook too, where bridges are filtered).
                add_rules(&mut self.plan, owner, &|r| {
                    r.filter(Hook::Forward, Rule::new().iif(&name).not_oif(&name).drop())
                        .filter(Hook::Forward, Rule::new().oif(&name).not_iif(&name).drop())
                });
            }
        }
    }

    /// Published ports, at the node holding the gateway of the node's first network.
    fn published_ports(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in specs {
            if spec.publish.is_empty() {
                continue;
            }
            let node = self.node_ix[&spec.name];
            let first = spec
                .attach
                .iter()
                .find_map(|a| self.bridge_ix.get(&a.network).map(|&b| (a, b)));
            let Some((attach, b)) = first.filter(|(_, b)| !self.plan.bridges[*b].addrs.is_empty())
            else {
                self.err(format!("node {:?}", spec.name), format!(
                    "node {:?} publishes ports but is on no bridge network with a gateway: attach it to one",
                    spec.name
                ));
                continue;
            };
            let owner = self.plan.bridges[b].node;
            let Some(ip) = self.plan.nodes[node]
                .ifaces
                .iter()
                .filter(|i| i.network == attach.network)
                .flat_map(|i| &i.addrs)
                .map(|a| a.addr())
                .find(IpAddr::is_ipv4)
            else {
                continue;
            };
            self.plan.nodes[owner].forwarding = true;
            self.plan.bridges[b].route_localnet = true;
            let bridge = self.plan.bridges[b].name.clone();
            for &(proto, host_port, port) in &spec.publish {
                let to = std::net::SocketAddr::new(ip, port);
                add_rules(&mut self.plan, owner, &|r| {
                    r.publish(proto, host_port, to, &bridge)
                });
            }
        }
    }

    /// Isolation between the host's bridges once it forwards.
    fn host_bridge_isolation(&mut self) {
        if self.plan.nodes[0].forwarding {
            let host_bridges: Vec<String> = self
                .plan
                .bridges
                .iter()
                .filter(|b| b.node == 0 && self.topo.bridges.iter().any(|s| s.name == b.name))
                .map(|b| b.name.clone())
                .collect();
            for a in &host_bridges {
                for b in &host_bridges {
                    let routed = self
                        .topo
                        .routed_between
                        .iter()
                        .any(|(x, y)| (x == a && y == b) || (x == b && y == a));
                    if a != b && !routed {
                        add_rules(&mut self.plan, 0, &|r| {
                            r.filter(Hook::Forward, Rule::new().iif(a).oif(b).drop())
                        });
                    }
                }
            }
        }
    }

    /// The bridges `Topology::route_between` names exist.
    fn routed_between_bridges(&mut self) {
        for (a, b) in &self.topo.routed_between {
            for n in [a, b] {
                if !self.bridge_ix.contains_key(n) {
                    self.err(
                        format!("route_between({a:?}, {b:?})"),
                        format!("route_between({a:?}, {b:?}): there is no bridge network {n:?}"),
                    );
                }
            }
        }
    }

    /// Each declared NAT, with the bridges its node holds as LANs.
    fn nats(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in specs {
            let Some(nat) = &spec.nat else { continue };
            let node = self.node_ix[&spec.name];
            let lans: Vec<String> = self
                .plan
                .bridges
                .iter()
                .filter(|b| b.node == node)
                .map(|b| b.name.clone())
                .collect();
            if nat.mapping != crate::nft::Mapping::None && lans.is_empty() {
                self.err(format!("node {:?}", spec.name), format!(
                    "node {:?} declares a NAT but holds no bridge to be its LAN: add one with `bridge_with(NAME, SUBNET, |b| b.in_node({:?}))`",
                    spec.name, spec.name
                ));
                continue;
            }
            if let Err(e) = nat.validate() {
                self.err(
                    format!("node {:?}", spec.name),
                    format!("node {:?}: {e}", spec.name),
                );
                continue;
            }
            self.plan.nodes[node].forwarding = true;
            self.plan.nodes[node].nat = Some((nat.clone(), lans));
        }
    }

    /// Each declared NAT64: the translator's address on the router's IPv6-only LAN, the
    /// DNAT of TCP to the prefix there, and DNS64 for the LAN's members.
    fn nat64s(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in specs {
            let Some(nat64) = &spec.nat64 else { continue };
            let node = self.node_ix[&spec.name];
            let who = format!("node {:?}", spec.name);
            let prefix = match nat64.parse() {
                Ok(p) => p,
                Err(e) => {
                    self.err(who.clone(), format!("{who}: {e}"));
                    continue;
                }
            };
            let lans: Vec<(String, Ipv6Addr)> = self
                .plan
                .bridges
                .iter()
                .filter(|b| b.node == node)
                .filter_map(|b| {
                    b.addrs.iter().find_map(|a| match a {
                        IpNet::V6(n) => Some((b.name.clone(), n.addr())),
                        IpNet::V4(_) => None,
                    })
                })
                .collect();
            let Some((_, listen)) = lans.first().cloned() else {
                self.err(who.clone(), format!(
                    "{who} declares NAT64 but holds no bridge with an IPv6 gateway to be its LAN: add one with `bridge_with(NAME, \"fd00:6::/64\", |b| b.in_node({:?}))`",
                    spec.name
                ));
                continue;
            };
            let has_v4 = self.plan.nodes[node]
                .ifaces
                .iter()
                .flat_map(|i| &i.addrs)
                .any(|a| a.addr().is_ipv4());
            if !has_v4 {
                self.err(who.clone(), format!(
                    "{who} declares NAT64 but has no IPv4 address to translate to: link it to an IPv4 network"
                ));
                continue;
            }
            let listen = std::net::SocketAddr::new(IpAddr::V6(listen), super::super::nat64::PORT);
            self.plan.nodes[node].forwarding = true;
            add_rules(&mut self.plan, node, &|r| {
                r.dnat_net(crate::nft::Proto::Tcp, prefix, listen).dnat_net(
                    crate::nft::Proto::Udp,
                    prefix,
                    listen,
                )
            });
            self.plan.nodes[node].nat64 = Some(super::super::PlannedNat64 { prefix, listen });
            for (lan, _) in &lans {
                for n in 0..self.plan.nodes.len() {
                    if n != node && self.plan.nodes[n].ifaces.iter().any(|i| &i.network == lan) {
                        self.plan.nodes[n].dns64 = Some(prefix);
                    }
                }
            }
        }
    }

    /// A home router's input filter ([`Ruleset::wan_guard`]) for every node but the host
    /// that NATs towards outside: the LANs are the bridges it masquerades, the interfaces
    /// its own NAT rules exclude, and, where those rules name the WAN interface, every
    /// other interface of the node. The host keeps Docker's behaviour (no input rules).
    fn wan_guards(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in specs {
            let node = self.node_ix[&spec.name];
            if node == 0 || !spec.wan_guard || spec.net_of.is_some() {
                continue;
            }
            let Some(rules) = &self.plan.nodes[node].rules else {
                continue;
            };
            let (mut lan, wan) = rules.nat_ifaces();
            let masqueraded = self.topo.bridges.iter().filter(|b| {
                b.masquerade
                    && self
                        .bridge_ix
                        .get(&b.name)
                        .is_some_and(|&i| self.plan.bridges[i].node == node)
            });
            for b in masqueraded {
                if !lan.contains(&b.name) {
                    lan.push(b.name.clone());
                }
            }
            if !wan.is_empty() {
                let held = self.plan.bridges.iter().filter(|b| b.node == node);
                let names = self.plan.nodes[node]
                    .ifaces
                    .iter()
                    .map(|i| &i.name)
                    .chain(held.map(|b| &b.name));
                for name in names {
                    if !wan.contains(name) && !lan.contains(name) {
                        lan.push(name.clone());
                    }
                }
            }
            if lan.is_empty() && wan.is_empty() {
                continue;
            }
            let lan: Vec<&str> = lan.iter().map(String::as_str).collect();
            let rules = self.plan.nodes[node].rules.take().unwrap_or_default();
            self.plan.nodes[node].rules = Some(rules.wan_guard(&lan));
        }
    }
}

/// Adds to `node`'s ruleset what `f` adds.
fn add_rules(plan: &mut Plan, node: usize, f: &dyn Fn(Ruleset) -> Ruleset) {
    let rules = plan.nodes[node].rules.take().unwrap_or_default();
    plan.nodes[node].rules = Some(f(rules));
}
