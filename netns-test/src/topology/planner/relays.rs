//! Relays of impairable links.
//!
//! A veth pair cannot get a middle inserted once it exists without moving links between
//! namespaces (~16 ms each), so a link declared impairable is planned as two pairs from the
//! start: `a:eth0 <-> relay:x` and `relay:y <-> b:eth0` (or the bridge port), with a hidden
//! node for the relay. Addresses, MACs and names at `a` and `b` stay what they would have
//! been without the relay; only the relay node and its two interfaces are new.

use super::devices::mac_from_name;
use super::*;
use crate::topology::conditions::Conditions;
use crate::topology::profiles::Profile;

impl Planner<'_> {
    /// Records the conditions declared on a link or attachment (`ends`: the end whose
    /// egress is the profile's `egress`, then the other); whether they need a relay where
    /// the kernel has no netem (anything beyond a rate limit).
    pub(super) fn declared_conditions(
        &mut self,
        what: &str,
        profile: &Profile,
        ends: [(usize, String); 2],
    ) -> bool {
        let mut impairs = false;
        for ((node, ifname), (way, c)) in ends
            .into_iter()
            .zip([("egress", profile.egress), ("ingress", profile.ingress)])
        {
            if c == Conditions::default() {
                continue;
            }
            if let Err(why) = c.validate() {
                self.err(
                    what.to_string(),
                    format!("{what}: {way} conditions {c}: {why}"),
                );
                continue;
            }
            impairs |= c.impairs();
            self.plan.conditions.push(PlannedConditions {
                node,
                ifname,
                conditions: c,
            });
        }
        impairs
    }

    /// Replaces each impairable veth by two pairs joined by a new relay node, appended to
    /// `plan.nodes`, and records the relays in `plan.relays`.
    pub(super) fn relays(&mut self) {
        let plan = &mut self.plan;
        for &v in &self.impairable {
            let [e0, e1] = plan.veths[v].ends.clone();
            let name = format!("{RELAY_PREFIX}{}-{}", plan.nodes[e0.node].name, e0.name);
            let network = plan.nodes[e0.node]
                .ifaces
                .iter()
                .find(|i| i.name == e0.name)
                .map(|i| i.network.clone())
                .unwrap_or_else(|| name.clone());
            let names = relay_ifnames(&plan.nodes[e0.node].name, &plan.nodes[e1.node].name);
            let r = plan.nodes.len();
            let end = |ifname: &str| VethEnd {
                node: r,
                name: ifname.to_string(),
                index: 0, // See indexes().
                mac: mac_from_name(&format!("{name}/{ifname}")),
                addrs: Vec::new(),
                master: None,
                down: false,
            };
            let (r0, r1) = (end(&names[0]), end(&names[1]));
            plan.nodes.push(PlannedNode {
                name: name.clone(),
                forwarding: false,
                ifaces: [&r0, &r1]
                    .iter()
                    .map(|e| PlannedIface {
                        name: e.name.clone(),
                        network: network.clone(),
                        mac: e.mac,
                        addrs: Vec::new(),
                    })
                    .collect(),
                net_of: None,
                rules: None,
                resolv_conf: None,
                keep_port_53_free: false,
                nat: None,
                nat64: None,
                dns64: None,
                dummies: Vec::new(),
            });
            plan.relays.push(PlannedRelay {
                node: r,
                sides: [
                    RelaySide {
                        node: e0.node,
                        ifname: e0.name.clone(),
                        relay_if: r0.name.clone(),
                    },
                    RelaySide {
                        node: e1.node,
                        ifname: e1.name.clone(),
                        relay_if: r1.name.clone(),
                    },
                ],
            });
            plan.veths[v] = PlannedVeth { ends: [e0, r0] };
            plan.veths.push(PlannedVeth { ends: [r1, e1] });
        }
    }
}

/// The relay's interfaces are named after the node each faces (`a`, `host`), or `side0` and
/// `side1` when a name does not fit an interface name.
fn relay_ifnames(a: &str, b: &str) -> [String; 2] {
    let fits = |n: &str| !n.is_empty() && n.len() <= 15 && n != "." && n != ".." && n != "lo";
    if fits(a) && fits(b) && a != b {
        [a.to_string(), b.to_string()]
    } else {
        ["side0".to_string(), "side1".to_string()]
    }
}

#[cfg(test)]
mod tests {
    use crate::Topology;

    #[test]
    fn an_impairable_link_gets_a_relay_in_the_middle() {
        let plain = Topology::new()
            .node("a", |n| n)
            .node("b", |n| n)
            .link("a", "b", "10.0.0.0/30")
            .plan()
            .unwrap();
        let p = Topology::new()
            .node("a", |n| n)
            .node("b", |n| n)
            .link_with("a", "b", "10.0.0.0/30", |l| l.impairable())
            .plan()
            .unwrap();
        // What the test sees at a and b is unchanged.
        for n in ["a", "b"] {
            assert_eq!(p.node(n).unwrap().ifaces, plain.node(n).unwrap().ifaces);
        }
        assert_eq!(p.routes, plain.routes);
        assert_eq!(p.relays.len(), 1);
        let relay = &p.relays[0];
        assert_eq!(p.nodes[relay.node].name, "~relay-a-eth0");
        assert_eq!(relay.sides[0].ifname, "eth0");
        assert_eq!(p.nodes[relay.sides[0].node].name, "a");
        assert_eq!(p.nodes[relay.sides[1].node].name, "b");
        assert_eq!(relay.sides[0].relay_if, "a");
        assert_eq!(relay.sides[1].relay_if, "b");
        let pairs: Vec<String> = p
            .veths
            .iter()
            .map(|v| {
                format!(
                    "{}:{}<->{}:{}",
                    p.nodes[v.ends[0].node].name,
                    v.ends[0].name,
                    p.nodes[v.ends[1].node].name,
                    v.ends[1].name
                )
            })
            .collect();
        assert_eq!(
            pairs,
            ["a:eth0<->~relay-a-eth0:a", "~relay-a-eth0:b<->b:eth0"]
        );
        // The relay resolves no name and has no address.
        assert!(!p.names_for(0).contains_key("~relay-a-eth0"));
        assert!(p.nodes[relay.node]
            .ifaces
            .iter()
            .all(|i| i.addrs.is_empty()));
    }

    #[test]
    fn declared_conditions_are_planned_per_direction_and_checked() {
        use crate::fault::{Conditions, Profile};
        use std::time::Duration;
        let p = Topology::new()
            .node("a", |n| n)
            .node("b", |n| n)
            .link_with("a", "b", "10.0.0.0/30", |l| {
                l.egress(Conditions::new().delay(Duration::from_millis(5)))
                    .ingress(Conditions::new().rate(1_000_000))
            })
            .bridge("br0", "10.1.0.0/24")
            .node("c", |n| n.on_with("br0", |x| x.profile(Profile::lte())))
            .node("d", |n| {
                n.on_with("br0", |x| x.ingress(Conditions::new().rate(5000)))
            })
            .plan()
            .unwrap();
        let planned: Vec<String> = p
            .conditions
            .iter()
            .map(|c| format!("{}:{} {}", p.nodes[c.node].name, c.ifname, c.conditions))
            .collect();
        assert_eq!(
            planned,
            // Attachments are planned before links.
            [
                "c:eth0 25 ms delay ± 5 ms, rate 10 Mbit/s",
                "host:c-eth0 25 ms delay ± 5 ms, rate 50 Mbit/s",
                "host:d-eth0 rate 5 kbit/s",
                "a:eth0 5 ms delay",
                "b:eth0 rate 1 Mbit/s",
            ]
        );
        // A delay needs a relay where netem is missing; a rate alone does not.
        let relays: Vec<&str> = p
            .relays
            .iter()
            .map(|r| p.nodes[r.node].name.as_str())
            .collect();
        assert_eq!(relays, ["~relay-c-eth0", "~relay-a-eth0"]);

        let err = Topology::new()
            .node("a", |n| n)
            .node("b", |n| n)
            .link_with("a", "b", "10.0.0.0/30", |l| {
                l.ingress(Conditions::new().duplicate(1.5))
            })
            .plan()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ingress conditions 150% duplicate: duplicate must be a probability"),
            "{err}"
        );
    }

    #[test]
    fn an_impairable_attachment_keeps_its_bridge_port() {
        let p = Topology::new()
            .bridge("br0", "10.0.0.0/24")
            .node("a", |n| n.on_with("br0", |a| a.impairable()))
            .node("b", |n| n.on("br0"))
            .plan()
            .unwrap();
        let relay = &p.relays[0];
        assert_eq!(p.nodes[relay.sides[1].node].name, "host");
        assert_eq!(relay.sides[1].ifname, "a-eth0");
        let port = p
            .veths
            .iter()
            .flat_map(|v| &v.ends)
            .find(|e| e.name == "a-eth0")
            .unwrap();
        assert_eq!(port.master, Some(0));
        assert_eq!(p.veths.len(), 3);
    }
}
