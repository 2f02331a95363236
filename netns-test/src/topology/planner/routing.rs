//! Routes: default routes via gateways, static routes, routes through forwarding nodes.

use super::*;

/// One L3 segment: the nodes with an address in one subnet.
#[derive(Debug)]
struct Segment {
    /// Members: (node, its address there).
    members: Vec<(usize, IpAddr)>,
}

impl Planner<'_> {
    /// Docker's rule: the default routes via the gateways [`Planner::attachments`] found,
    /// unless the node declares its own or asks for none.
    pub(super) fn default_routes(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in &specs {
            let i = self.node_ix[&spec.name];
            let has_default = spec
                .routes
                .iter()
                .any(|(d, _)| d == "default" || d == "0.0.0.0/0");
            if !spec.default_route || has_default {
                self.gateways[i].0 = None;
            }
            let has_default6 = spec.routes.iter().any(|(d, _)| d == "::/0");
            if !spec.default_route || has_default6 {
                self.gateways[i].1 = None;
            }
            if let Some(gw) = self.gateways[i].0 {
                self.plan.routes.push(PlannedRoute {
                    node: i,
                    dest: "0.0.0.0/0".parse().expect("cidr"),
                    via: gw,
                });
            }
            if let Some(gw) = self.gateways[i].1 {
                self.plan.routes.push(PlannedRoute {
                    node: i,
                    dest: "::/0".parse().expect("cidr"),
                    via: gw,
                });
            }
        }
    }

    pub(super) fn static_routes(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in &specs {
            let i = self.node_ix[&spec.name];
            for (dest, via) in &spec.routes {
                let what = format!("node {:?} route {dest} via {via}", spec.name);
                let via_ip = match via.parse::<IpAddr>() {
                    Ok(ip) => ip,
                    Err(_) => {
                        self.err(
                            what.clone(),
                            format!("{what}: {via:?} is not an IP address"),
                        );
                        continue;
                    }
                };
                let dest_net = crate::parse::net(dest, Some(via_ip.is_ipv6()));
                let Some(dest_net) = dest_net else {
                    self.err(
                        what.clone(),
                        format!("{what}: {dest:?} is neither \"default\", an address nor a CIDR"),
                    );
                    continue;
                };
                if dest_net.addr().is_ipv4() != via_ip.is_ipv4() {
                    self.err(
                        what.clone(),
                        format!("{what}: destination and gateway are of different IP families"),
                    );
                    continue;
                }
                let on_link = self.plan.nodes[i]
                    .ifaces
                    .iter()
                    .flat_map(|f| &f.addrs)
                    .any(|a| a.contains(&via_ip));
                if !on_link {
                    self.err(what.clone(), format!(
                        "{what}: {via_ip} is not on any subnet of {:?}: the next hop must be a neighbour",
                        spec.name
                    ));
                    continue;
                }
                self.plan.routes.push(PlannedRoute {
                    node: i,
                    dest: dest_net.trunc(),
                    via: via_ip,
                });
            }
        }
    }

    /// Routes through forwarding nodes to every subnet a node is not on, unless its
    /// default route already leads there through the same next hop.
    pub(super) fn auto_routes(&mut self) {
        // Segments: subnet -> members (node, address).
        let mut segs: BTreeMap<String, (IpNet, Vec<(usize, IpAddr)>)> = BTreeMap::new();
        for (n, node) in self.plan.nodes.iter().enumerate() {
            for a in node.ifaces.iter().flat_map(|i| &i.addrs) {
                segs.entry(a.trunc().to_string())
                    .or_insert_with(|| (a.trunc(), Vec::new()))
                    .1
                    .push((n, a.addr()));
            }
        }
        let segments: Vec<Segment> = segs
            .values()
            .map(|(_, m)| Segment { members: m.clone() })
            .collect();
        let nets: Vec<IpNet> = segs.values().map(|(n, _)| *n).collect();
        let mut hidden: HashSet<IpNet> = self
            .topo
            .bridges
            .iter()
            .filter(|b| b.masquerade)
            .filter_map(|b| self.bridge_ix.get(&b.name))
            .flat_map(|&b| self.plan.bridges[b].addrs.iter().map(|a| a.trunc()))
            .collect();
        // NPTv6: the LAN's IPv6 prefix is hidden, its outside prefix is routed to the
        // node holding the bridge.
        let mut translated: Vec<(usize, IpNet)> = Vec::new();
        for b in &self.topo.bridges {
            let (Some(outside), Some(&ix)) = (&b.nptv6, self.bridge_ix.get(&b.name)) else {
                continue;
            };
            let Ok(outside) = outside.parse::<Ipv6Net>() else {
                continue;
            };
            let bridge = &self.plan.bridges[ix];
            hidden.extend(
                bridge
                    .addrs
                    .iter()
                    .filter(|a| a.addr().is_ipv6())
                    .map(|a| a.trunc()),
            );
            translated.push((bridge.node, IpNet::V6(outside.trunc())));
        }
        let mut extra = Vec::new();
        for src in 0..self.plan.nodes.len() {
            // BFS over nodes, once per family: a forwarding node reached over an IPv4
            // segment must still be reached over IPv6 segments for the IPv6 routes. First
            // hop remembered per (family, reached node).
            let mut first_hop: HashMap<(bool, usize), IpAddr> = HashMap::new();
            for v4 in [true, false] {
                let mut queue = VecDeque::from([src]);
                let mut seen = HashSet::from([src]);
                while let Some(x) = queue.pop_front() {
                    for (s, seg) in segments.iter().enumerate() {
                        if nets[s].addr().is_ipv4() != v4 || !seg.members.iter().any(|m| m.0 == x) {
                            continue;
                        }
                        for &(y, ip) in &seg.members {
                            if seen.contains(&y) || !self.plan.nodes[y].forwarding {
                                continue;
                            }
                            seen.insert(y);
                            let hop = if x == src { ip } else { first_hop[&(v4, x)] };
                            first_hop.insert((v4, y), hop);
                            queue.push_back(y);
                        }
                    }
                }
            }
            let direct: HashSet<usize> = (0..nets.len())
                .filter(|&s| segments[s].members.iter().any(|m| m.0 == src))
                .collect();
            for (s, net) in nets.iter().enumerate() {
                // A masqueraded subnet is hidden behind its NAT: nobody outside routes to it.
                if direct.contains(&s) || hidden.contains(net) {
                    continue;
                }
                // The nearest forwarding node on that segment, in BFS order of discovery.
                let v4 = net.addr().is_ipv4();
                let hop = segments[s]
                    .members
                    .iter()
                    .find_map(|m| first_hop.get(&(v4, m.0)).copied());
                let Some(via) = hop else { continue };
                let default = if via.is_ipv4() {
                    self.gateways[src].0
                } else {
                    self.gateways[src].1
                };
                let has_route = self.plan.routes.iter().any(|r| {
                    r.node == src && (r.dest == *net || (r.dest.prefix_len() == 0 && r.via == via))
                });
                if default == Some(via) || has_route {
                    continue;
                }
                extra.push(PlannedRoute {
                    node: src,
                    dest: *net,
                    via,
                });
            }
            for &(owner, outside) in &translated {
                let Some(&via) = first_hop.get(&(false, owner)) else {
                    continue;
                };
                if src != owner && self.gateways[src].1 != Some(via) {
                    extra.push(PlannedRoute {
                        node: src,
                        dest: outside,
                        via,
                    });
                }
            }
        }
        self.plan.routes.extend(extra);
    }
}
