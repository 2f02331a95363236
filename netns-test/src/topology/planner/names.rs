//! Node and interface names: nodes, shared namespaces, `ethN`, bridge ports.

use super::*;

/// Longest interface name the kernel accepts (`IFNAMSIZ - 1`).
const IFNAMSIZ: usize = 15;

impl Planner<'_> {
    pub(super) fn nodes(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in specs {
            if !valid_node_name(&spec.name) {
                self.err(format!("node name {:?}", spec.name), format!(
                    "node name {:?} is not a valid host name: use 1-63 letters, digits, '-', '_' or '.'",
                    spec.name
                ));
            }
            if self.node_ix.contains_key(&spec.name) {
                let hint = if spec.name == HOST {
                    " (\"host\" is the implicit host node: configure it with Topology::host)"
                } else {
                    ""
                };
                self.err(
                    format!("node {:?}", spec.name),
                    format!(
                        "node {:?} is declared more than once{hint}: give each node its own name",
                        spec.name
                    ),
                );
                continue;
            }
            self.node_ix
                .insert(spec.name.clone(), self.plan.nodes.len());
            self.plan.nodes.push(PlannedNode {
                name: spec.name.clone(),
                forwarding: spec.forwarding,
                ifaces: Vec::new(),
                net_of: None,
                rules: spec.firewall.clone(),
                resolv_conf: spec.resolv_conf.clone(),
                keep_port_53_free: spec.keep_port_53_free,
                nat: None,
                nat64: None,
                dns64: None,
                dummies: Vec::new(),
            });
            self.ifnames.push(HashSet::from(["lo".to_string()]));
            self.explicit.push(HashSet::new());
            self.gateways.push((None, None));
        }
    }

    /// Resolves `net_of`: the target must exist and have a namespace of its own, and the
    /// sharing node can have nothing of its own.
    pub(super) fn shared_namespaces(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in specs {
            let Some(target) = &spec.net_of else { continue };
            let what = format!("node {:?} shares the network of {target:?}", spec.name);
            let Some(&t) = self.node_ix.get(target) else {
                self.err(
                    format!("node {:?}", spec.name),
                    format!("{what}, which does not exist: declare it or use HOST"),
                );
                continue;
            };
            let i = self.node_ix[&spec.name];
            if t == i {
                self.err(
                    format!("node {:?}", spec.name),
                    format!("{what}: a node cannot share its own namespace"),
                );
                continue;
            }
            if let Some(tt) = self
                .specs()
                .find(|n| n.name == *target)
                .and_then(|n| n.net_of.clone())
            {
                self.err(
                    format!("node {:?}", spec.name),
                    format!("{what}, which shares {tt:?}'s: share {tt:?}'s directly"),
                );
                continue;
            }
            if !spec.attach.is_empty() || !spec.routes.is_empty() || spec.forwarding {
                self.err(format!("node {:?}", spec.name), format!(
                    "{what}: it has no interfaces, routes or forwarding of its own; configure {target:?} instead"
                ));
            }
            let owns_bridge = self.topo.bridges.iter().any(|b| b.owner == spec.name);
            let has_link = self
                .topo
                .links
                .iter()
                .any(|l| l.a == spec.name || l.b == spec.name);
            if owns_bridge || has_link {
                self.err(
                    format!("node {:?}", spec.name),
                    format!("{what}: put its bridges and links on {target:?} instead"),
                );
            }
            self.plan.nodes[i].net_of = Some(t);
        }
    }

    /// A node sharing another's namespace has that node's interfaces.
    pub(super) fn shared_ifaces(&mut self) {
        for i in 0..self.plan.nodes.len() {
            if let Some(t) = self.plan.nodes[i].net_of {
                self.plan.nodes[i].ifaces = self.plan.nodes[t].ifaces.clone();
            }
        }
    }

    /// Collects the interface names the topology chooses, per node, before any name is
    /// made up: a default (`ethN`, `NODE-IFNAME`) never takes a name that an attachment or
    /// a link declared later asks for.
    pub(super) fn explicit_names(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in specs {
            let node = self.node_ix[&spec.name];
            for a in &spec.attach {
                if let Some(name) = &a.ifname {
                    self.explicit[node].insert(name.clone());
                }
                if let (Some(name), Some(owner)) = (&a.peer, self.attachment_owner(a)) {
                    self.explicit[owner].insert(name.clone());
                }
            }
        }
        for l in &self.topo.links {
            let Some((x, y)) = &l.names else { continue };
            for (node, name) in [(&l.a, x), (&l.b, y)] {
                if let Some(&n) = self.node_ix.get(node) {
                    self.explicit[n].insert(name.clone());
                }
            }
        }
    }

    /// The node's own interfaces that join no network ([`NodeBuilder::iface`]): their
    /// names taken before any made up, their addresses parsed.
    pub(super) fn dummies(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in specs {
            let node = self.node_ix[&spec.name];
            for (name, addrs) in &spec.dummies {
                let what = format!("node {:?}: interface {name:?}", spec.name);
                let name = self.claim_ifname(node, name, &what);
                let mut parsed = Vec::new();
                for a in addrs {
                    match a.parse::<IpNet>() {
                        Ok(a) => parsed.push(a),
                        Err(_) => self.err(
                            what.clone(),
                            format!("{what}: {a:?} is not an address with prefix like \"10.200.0.1/32\""),
                        ),
                    }
                }
                self.plan.nodes[node].dummies.push(PlannedDummy {
                    name,
                    addrs: parsed,
                });
            }
        }
    }

    pub(super) fn next_ifname(&mut self, node: usize, wanted: Option<&str>, what: &str) -> String {
        match wanted {
            Some(name) => self.claim_ifname(node, name, what),
            None => {
                let name = (0..)
                    .map(|i| format!("eth{i}"))
                    .find(|n| !self.ifnames[node].contains(n) && !self.explicit[node].contains(n))
                    .expect("an unused ethN");
                self.ifnames[node].insert(name.clone());
                name
            }
        }
    }

    /// Takes the interface name `name`, chosen in the topology, in `node`.
    fn claim_ifname(&mut self, node: usize, name: &str, what: &str) -> String {
        if !valid_ifname(name) {
            self.err(
                what,
                format!(
                "{what}: interface name {name:?} must be 1-15 characters without '/', ':' or spaces"
            ),
            );
        } else if is_port_fallback(name) {
            self.err(what, reserved_name(what, name));
        } else if !self.ifnames[node].insert(name.to_string()) {
            let node_name = self.plan.nodes[node].name.clone();
            self.err(what, format!(
                "{what}: node {node_name:?} already has an interface named {name:?}: pick another name"
            ));
        }
        name.to_string()
    }

    /// The bridge port of `node`'s interface `ifname`, in `owner`: `wanted`, else
    /// `NODE-IFNAME`, else (too long, or taken) [`port_fallback_name`].
    pub(super) fn port_name(
        &mut self,
        owner: usize,
        node: &str,
        ifname: &str,
        wanted: Option<&str>,
        what: &str,
    ) -> String {
        if let Some(name) = wanted {
            return self.claim_ifname(owner, name, &format!("{what}: the bridge port"));
        }
        let free =
            |p: &Self, n: &str| !p.ifnames[owner].contains(n) && !p.explicit[owner].contains(n);
        let plain = format!("{node}-{ifname}");
        let name = if plain.len() <= IFNAMSIZ && free(self, &plain) {
            plain
        } else {
            (0..)
                .map(|attempt| port_fallback_name(node, ifname, attempt))
                .find(|n| free(self, n))
                .expect("an unused fallback name")
        };
        self.ifnames[owner].insert(name.clone());
        name
    }
}

fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('-')
}

pub(super) fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= IFNAMSIZ
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
}

/// The name of the bridge port of `node`'s interface `ifname` when `NODE-IFNAME` does not
/// fit or is taken: `nt` and 8 hex digits of an FNV-1a hash of both names (of the next
/// `attempt` if that is taken too). See [`AttachBuilder::peer_name`].
pub(crate) fn port_fallback_name(node: &str, ifname: &str, attempt: u32) -> String {
    let key = match attempt {
        0 => format!("{node}-{ifname}"),
        k => format!("{node}-{ifname}#{k}"),
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("nt{:08x}", (h >> 32) as u32 ^ h as u32)
}

/// Whether `name` has the shape of [`port_fallback_name`], which the topology's own names
/// may not take.
pub(super) fn is_port_fallback(name: &str) -> bool {
    name.len() == 10
        && name.starts_with("nt")
        && name[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(super) fn reserved_name(what: &str, name: &str) -> String {
    format!(
        "{what}: the name {name:?} has the shape netns-test keeps for bridge ports whose NODE-IFNAME does not fit in 15 bytes (\"nt\" and 8 hex digits): pick another name"
    )
}

pub(super) fn link_name(l: &LinkSpec) -> String {
    format!("{}<->{}", l.a, l.b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::tests::problems;

    /// The bridge ports (veth ends with a master) of `p` in `node`, by name.
    fn ports(p: &Plan, node: &str) -> Vec<String> {
        let n = p.node_index(node).unwrap();
        p.veths
            .iter()
            .flat_map(|v| &v.ends)
            .filter(|e| e.node == n && e.master.is_some())
            .map(|e| e.name.clone())
            .collect()
    }

    #[test]
    fn the_bridge_port_can_be_named() {
        let p = Topology::new()
            .bridge("samplebr", "10.1.1.0/24")
            .node("sample", |n| {
                n.on_with("samplebr", |a| a.name("veth1").peer_name("veth2"))
            })
            .plan()
            .unwrap();
        assert_eq!(p.node("sample").unwrap().ifaces[0].name, "veth1");
        assert_eq!(ports(&p, HOST), ["veth2"]);
        // Into a bridge inside a node, too; the port's name must be free there.
        let msg = problems(
            Topology::new()
                .router("r", |n| n)
                .bridge_with("lan", "10.0.0.0/24", |b| b.in_node("r"))
                .node("a", |n| n.on_with("lan", |x| x.peer_name("lan")))
                .node("b", |n| n.on_with("lan", |x| x.peer_name("bad/name"))),
        );
        assert!(
            msg.contains("node \"a\" on \"lan\": the bridge port: node \"r\" already has an interface named \"lan\": pick another name"),
            "{msg}"
        );
        assert!(msg.contains("node \"b\" on \"lan\": the bridge port: interface name \"bad/name\" must be 1-15 characters"), "{msg}");
    }

    #[test]
    fn a_bridge_port_too_long_for_node_ifname_gets_a_reserved_name_that_collides_with_nothing() {
        // "frontend-web-01-eth0" is 20 bytes: over the kernel's 15. Before, the port
        // silently became "veth0", and a link named "veth0" was then rejected.
        let p = Topology::new()
            .bridge("br0", "10.0.0.0/24")
            .node("frontend-web-01", |n| n.on("br0"))
            .node("frontend-web-02", |n| n.on("br0"))
            .node("peer", |n| n)
            .link_with(HOST, "peer", "10.9.0.0/30", |l| l.names("veth0", "veth1"))
            .plan()
            .unwrap();
        let names = ports(&p, HOST);
        assert_eq!(names.len(), 2, "{names:?}");
        for name in &names {
            assert!(is_port_fallback(name), "{name}");
            assert!(name.len() <= IFNAMSIZ);
        }
        // Two long names sharing their first 15 bytes get different ports.
        assert_ne!(names[0], names[1]);
        assert_eq!(names[0], port_fallback_name("frontend-web-01", "eth0", 0));
        // Deterministic: the same name whatever else the topology holds.
        let again = Topology::new()
            .bridge("br0", "10.0.0.0/24")
            .node("frontend-web-01", |n| n.on("br0"))
            .plan()
            .unwrap();
        assert_eq!(ports(&again, HOST)[0], names[0]);
        // The user's veth0 is the link's end in the host.
        let host = p.node(HOST).unwrap();
        assert!(host
            .ifaces
            .iter()
            .any(|i| i.name == "veth0" && i.network == "host<->peer"));
        let all: HashSet<&str> = p
            .veths
            .iter()
            .flat_map(|v| &v.ends)
            .filter(|e| e.node == 0)
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(all.len(), 3, "{all:?}");
    }

    #[test]
    fn a_default_bridge_port_leaves_names_chosen_in_the_topology_alone() {
        // "a-eth0" is both a's default port and a name the topology gives a link end, and
        // "b-eth0" is b's default port and the explicit port of c: the topology's names win
        // whatever the order, the defaults fall back.
        let p = Topology::new()
            .bridge("br0", "10.0.0.0/24")
            .node("a", |n| n.on("br0"))
            .node("b", |n| n.on("br0"))
            .node("c", |n| n.on_with("br0", |x| x.peer_name("b-eth0")))
            .node("d", |n| n)
            .link_with(HOST, "d", "10.9.0.0/30", |l| l.names("a-eth0", "eth0"))
            .plan()
            .unwrap();
        let names = ports(&p, HOST);
        assert!(is_port_fallback(&names[0]), "{names:?}");
        assert!(is_port_fallback(&names[1]), "{names:?}");
        assert_eq!(names[2], "b-eth0");
        // Defaults inside a node skip an explicit name declared later, too.
        let p = Topology::new()
            .bridge("br0", "10.0.0.0/24")
            .bridge("br1", "10.0.1.0/24")
            .node("a", |n| n.on("br0").on_with("br1", |x| x.name("eth0")))
            .plan()
            .unwrap();
        let a: Vec<&str> = p
            .node("a")
            .unwrap()
            .ifaces
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(a, ["eth1", "eth0"]);
    }

    #[test]
    fn names_of_the_reserved_port_shape_are_rejected() {
        let msg = problems(
            Topology::new()
                .bridge("nt00000000", "10.0.0.0/24")
                .bridge("br1", "10.0.1.0/24")
                .node("a", |n| n.on_with("br1", |x| x.name("nt0123abcd")))
                .node("b", |n| n.on_with("br1", |x| x.peer_name("ntdeadbeef")))
                .link_with("a", "b", "10.9.0.0/30", |l| l.names("x", "nt89abcdef")),
        );
        for (who, name) in [
            ("bridge \"nt00000000\"", "nt00000000"),
            ("node \"a\" on \"br1\"", "nt0123abcd"),
            ("node \"b\" on \"br1\": the bridge port", "ntdeadbeef"),
            ("link a<->b at \"b\"", "nt89abcdef"),
        ] {
            let expected = format!("{who}: the name {name:?} has the shape netns-test keeps for bridge ports whose NODE-IFNAME does not fit in 15 bytes (\"nt\" and 8 hex digits): pick another name");
            assert!(msg.contains(&expected), "{expected}\nnot in:\n{msg}");
        }
        // Near misses are ordinary names.
        for name in [
            "nt0123abc",
            "nt0123abcde",
            "nt0123ABCD",
            "ns0123abcd",
            "nt0123abcg",
        ] {
            assert!(!is_port_fallback(name), "{name}");
        }
    }
}
