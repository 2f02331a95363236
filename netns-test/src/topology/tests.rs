//! The planner's tests: a topology in, its plan or its problems out.

use std::net::IpAddr;

use super::*;
use crate::error::Error;

/// The problems [`Topology::plan`] reports for `t`, one a line.
pub(super) fn problems(t: Topology) -> String {
    match t.plan() {
        Err(Error::InvalidTopology { problems }) => problems
            .iter()
            .map(|p| {
                assert!(
                    p.message.starts_with(&p.subject),
                    "the message names its subject first: {p:?}"
                );
                p.to_string()
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("expected an invalid topology, got {other:?}"),
    }
}

#[test]
fn each_problem_names_its_subject_as_a_field() {
    let e = Topology::new()
        .bridge("docker0", "172.18.0.0/33")
        .node("a", |n| n.on("lan"))
        .plan()
        .unwrap_err();
    let Error::InvalidTopology { problems } = &e else {
        panic!("expected an invalid topology, got {e:?}")
    };
    let subjects: Vec<&str> = problems.iter().map(|p| p.subject.as_str()).collect();
    assert_eq!(
        subjects,
        ["bridge \"docker0\"", "node \"a\" on \"lan\""],
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("invalid topology:\n  - bridge \"docker0\": "),
        "{e}"
    );
}

#[test]
fn docker0_members_get_sequential_addresses_and_default_route() {
    let p = Topology::new()
        .bridge("docker0", "172.18.0.0/16")
        .node("con1", |n| n.on("docker0"))
        .node("con2", |n| n.on("docker0"))
        .plan()
        .unwrap();
    let con1 = p.node("con1").unwrap();
    assert_eq!(con1.ifaces[0].name, "eth0");
    assert_eq!(con1.ifaces[0].addrs[0].to_string(), "172.18.0.2/16");
    assert_eq!(con1.ifaces[0].mac, [0x02, 0x42, 0xac, 0x12, 0, 2]);
    assert_eq!(
        p.node("con2").unwrap().ifaces[0].addrs[0].to_string(),
        "172.18.0.3/16"
    );
    assert_eq!(p.bridges[0].addrs[0].to_string(), "172.18.0.1/16");
    assert_eq!(p.nodes[0].name, HOST);
    let routes: Vec<String> = p
        .routes
        .iter()
        .map(|r| format!("{} {} {}", p.nodes[r.node].name, r.dest, r.via))
        .collect();
    assert_eq!(
        routes,
        ["con1 0.0.0.0/0 172.18.0.1", "con2 0.0.0.0/0 172.18.0.1"]
    );
    // The host side of each veth is a port of docker0.
    assert_eq!(p.veths[0].ends[1].name, "con1-eth0");
    assert_eq!(p.veths[0].ends[1].master, Some(0));
}

#[test]
fn the_same_topology_plans_the_same_every_time() {
    let t = crate::presets::lan_wan(3);
    assert_eq!(t.plan().unwrap(), t.clone().plan().unwrap());
}

#[test]
fn explicit_addresses_are_skipped_by_the_pool() {
    let p = Topology::new()
        .bridge_with("mydocker0", "172.16.0.0/16", |b| b.gateway("172.16.1.254"))
        .node("ns1", |n| n.on("mydocker0"))
        .node("ns2", |n| n.on_ip("mydocker0", "172.16.0.1"))
        .plan()
        .unwrap();
    assert_eq!(
        p.node("ns1").unwrap().ifaces[0].addrs[0].to_string(),
        "172.16.0.2/16"
    );
    assert_eq!(p.routes[0].via.to_string(), "172.16.1.254");
}

#[test]
fn dual_stack_bridge_gives_ipv6_addresses_and_default_route() {
    let p = Topology::new()
        .bridge_with("br0", "10.0.0.0/24", |b| b.ipv6("fd00:1::/64"))
        .node("a", |n| n.on("br0"))
        .plan()
        .unwrap();
    let a = p.node("a").unwrap();
    assert_eq!(a.ifaces[0].addrs[1].to_string(), "fd00:1::2/64");
    assert!(p
        .routes
        .iter()
        .any(|r| r.dest.to_string() == "::/0" && r.via.to_string() == "fd00:1::1"));
}

#[test]
fn routers_in_a_line_get_routes_to_every_subnet() {
    let p = crate::presets::router_line(3).plan().unwrap();
    let r1 = p.node_index("r1").unwrap();
    let r1_routes: Vec<String> = p
        .routes
        .iter()
        .filter(|r| r.node == r1)
        .map(|r| r.dest.to_string())
        .collect();
    // r1 is on the left host's link and r1<->r2; it needs r2<->r3 and r3's right link.
    assert_eq!(r1_routes.len(), 2, "{r1_routes:?}\n{}", p.summary());
    let left = p.node_index("left").unwrap();
    let left_routes: Vec<String> = p
        .routes
        .iter()
        .filter(|r| r.node == left)
        .map(|r| r.dest.to_string())
        .collect();
    assert_eq!(left_routes.len(), 3, "{left_routes:?}");
}

#[test]
fn duplicate_and_unknown_names_are_reported_together() {
    let msg = problems(
        Topology::new()
            .bridge("br0", "10.0.0.0/24")
            .node("a", |n| n.on("br0"))
            .node("a", |n| n.on("br1"))
            .link("a", "ghost", "10.9.0.0/30"),
    );
    assert!(
        msg.contains("node \"a\" is declared more than once"),
        "{msg}"
    );
    assert!(
        msg.contains("no bridge network \"br1\" (known: br0)"),
        "{msg}"
    );
    assert!(msg.contains("node \"ghost\" does not exist"), "{msg}");
}

#[test]
fn address_outside_subnet_is_rejected() {
    let msg = problems(
        Topology::new()
            .bridge("br0", "10.0.0.0/24")
            .node("a", |n| n.on_ip("br0", "10.0.1.5")),
    );
    assert!(
        msg.contains("node \"a\" on \"br0\": 10.0.1.5 is outside the subnet 10.0.0.0/24"),
        "{msg}"
    );
}

#[test]
fn overlapping_subnets_are_rejected() {
    let msg = problems(
        Topology::new()
            .bridge("br0", "10.0.0.0/16")
            .bridge("br1", "10.0.5.0/24"),
    );
    assert!(msg.contains("overlaps 10.0.0.0/16 of \"br0\""), "{msg}");
}

#[test]
fn exhausted_pool_names_the_network() {
    let msg = problems(
        Topology::new()
            .bridge("tiny", "10.0.0.0/30")
            .node("a", |n| n.on("tiny"))
            .node("b", |n| n.on("tiny")),
    );
    assert!(
        msg.contains(
            "node \"b\" on \"tiny\": the address pool of \"tiny\" (10.0.0.0/30) is exhausted"
        ),
        "{msg}"
    );
}

#[test]
fn duplicate_address_names_both_users() {
    let msg = problems(
        Topology::new()
            .bridge("br0", "10.0.0.0/24")
            .node("a", |n| n.on_ip("br0", "10.0.0.1")),
    );
    assert!(
        msg.contains(
            "address 10.0.0.1 is given to both gateway of \"br0\" and node \"a\" on \"br0\""
        ),
        "{msg}"
    );
}

#[test]
fn bad_cidr_and_bad_names_are_explained() {
    let msg = problems(
        Topology::new()
            .bridge("a-very-long-bridge-name", "10.0.0/24")
            .node("bad name", |n| n),
    );
    assert!(
        msg.contains("\"bad name\" is not a valid host name"),
        "{msg}"
    );
    assert!(
        msg.contains("is neither an IPv4 CIDR like \"10.0.0.0/24\" nor an IPv6 one"),
        "{msg}"
    );
    assert!(msg.contains("must be 1-15 characters"), "{msg}");
}

#[test]
fn every_node_knows_every_name_unless_scoped() {
    let p = Topology::new()
        .bridge("docker0", "172.18.0.0/16")
        .bridge_with("testnet", "172.19.0.0/16", |b| b.scoped_names())
        .node("con1", |n| n.on("docker0"))
        .node("con2", |n| n.on("docker0"))
        .node("con3", |n| n.on("testnet"))
        .node("con4", |n| n.on("testnet"))
        .plan()
        .unwrap();
    let con1 = p.names_for(p.node_index("con1").unwrap());
    assert_eq!(con1["con2"], vec!["172.18.0.3".parse::<IpAddr>().unwrap()]);
    assert!(
        !con1.contains_key("con3"),
        "con3 is known only on testnet: {con1:?}"
    );
    let con3 = p.names_for(p.node_index("con3").unwrap());
    assert!(
        con3.contains_key("con4") && con3.contains_key("con1"),
        "{con3:?}"
    );
    let host = p.names_for(0);
    assert!(
        host.contains_key("con3") && host.contains_key("con1"),
        "{host:?}"
    );
}

#[test]
fn a_node_sharing_a_namespace_has_its_interfaces_and_names() {
    let p = Topology::new()
        .bridge("docker0", "172.17.0.0/16")
        .node("web", |n| n.on("docker0"))
        .node("sidecar", |n| n.net_of("web"))
        .node("hostnet", |n| n.net_of(HOST))
        .plan()
        .unwrap();
    let sidecar = p.node("sidecar").unwrap();
    assert_eq!(sidecar.net_of, p.node_index("web"));
    assert_eq!(sidecar.ifaces, p.node("web").unwrap().ifaces);
    assert_eq!(
        p.names_for(0)["sidecar"],
        vec!["172.17.0.2".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(p.node("hostnet").unwrap().ifaces[0].name, "docker0");
}

#[test]
fn sharing_errors_name_the_fix() {
    let msg = problems(
        Topology::new()
            .bridge("br0", "10.0.0.0/24")
            .node("a", |n| n.on("br0"))
            .node("b", |n| n.net_of("a").on("br0"))
            .node("c", |n| n.net_of("b"))
            .node("d", |n| n.net_of("nobody")),
    );
    assert!(msg.contains("configure \"a\" instead"), "{msg}");
    assert!(msg.contains("share \"a\"'s directly"), "{msg}");
    assert!(msg.contains("\"nobody\", which does not exist"), "{msg}");
}

#[test]
fn hairpin_masquerades_dnated_lan_traffic_at_the_bridge_owner() {
    let p = Topology::new()
        .router("r", |n| n)
        .bridge_with("lan", "192.168.1.0/24", |b| b.in_node("r").hairpin())
        .node("web", |n| n.on("lan").publish(8080, 80))
        .plan()
        .unwrap();
    let r = p.node("r").unwrap();
    let rules = r.rules.as_ref().unwrap().to_string();
    assert!(
        rules
            .contains(r#"ct status dnat ip saddr 192.168.1.0/24 oifname "lan" counter masquerade"#),
        "{rules}"
    );
    assert!(r.forwarding);
    let msg =
        problems(Topology::new().bridge_with("sw", "10.0.0.0/24", |b| b.no_gateway().hairpin()));
    assert!(msg.contains("hairpin needs a gateway"), "{msg}");
}

#[test]
fn cgnat_hides_both_levels_of_nat_from_the_server() {
    let p = crate::presets::cgnat().plan().unwrap();
    let server = p.node_index("server").unwrap();
    assert!(
        !p.routes.iter().any(|r| r.node == server),
        "{}",
        p.summary()
    );
    for home in ["home1", "home2"] {
        let h = p.node_index(home).unwrap();
        assert!(
            p.routes.iter().any(|r| r.node == h
                && r.dest.prefix_len() == 0
                && r.via.to_string() == "100.64.0.1"),
            "{}",
            p.summary()
        );
    }
}

#[test]
fn bridge_netfilter_is_off_unless_asked_and_one_setting_per_namespace() {
    let p = crate::presets::two_networks().plan().unwrap();
    assert!(p.bridges.iter().all(|b| !b.netfilter));
    assert_eq!(
        p.bridge_netfilter(),
        [(0, false, vec!["docker0", "testnet"])]
    );
    let p = Topology::new()
        .node("r", |n| n)
        .bridge_with("docker0", "172.17.0.0/16", |b| b.bridge_netfilter(true))
        .bridge_with("lan", "10.0.0.0/24", |b| b.in_node("r"))
        .plan()
        .unwrap();
    assert_eq!(
        p.bridge_netfilter(),
        [(0, true, vec!["docker0"]), (1, false, vec!["lan"])]
    );
    // Both bridges of the host must agree: the switch is the namespace's.
    let msg = problems(
        Topology::new()
            .bridge("docker0", "172.17.0.0/16")
            .bridge_with("testnet", "172.19.0.0/16", |b| b.bridge_netfilter(true)),
    );
    assert!(
        msg.contains("bridges \"docker0\" and \"testnet\" both live in node \"host\", where bridge netfilter (net.bridge.bridge-nf-call-iptables) is one switch for the whole namespace, but \"testnet\" asks for it with bridge_netfilter(true) and \"docker0\" does not: give both the same bridge_netfilter(..), or put one of them in another node with in_node()"),
        "{msg}"
    );
    // An overlay's bridge follows the other bridges of its host.
    let p = Topology::new()
        .bridge_with("underlay", "10.0.0.0/24", |b| b.bridge_netfilter(true))
        .node("h1", |n| n.on("underlay"))
        .node("h2", |n| n.on("underlay"))
        .bridge_with("local", "10.1.0.0/24", |b| {
            b.in_node("h1").bridge_netfilter(true)
        })
        .overlay("ov", "10.2.0.0/24", 42, &["h1", "h2"])
        .plan()
        .unwrap();
    let ov: Vec<(String, bool)> = p
        .bridges
        .iter()
        .filter(|b| b.name == "ov")
        .map(|b| (p.nodes[b.node].name.clone(), b.netfilter))
        .collect();
    assert_eq!(ov, [("h1".to_string(), true), ("h2".to_string(), false)]);
}

#[test]
fn every_device_gets_an_index_of_its_own_across_the_plan() {
    // Bridges (overlay ones too), veth ends (relays' included), VXLAN devices: one counter
    // from 2, in that order, so that no veth's two ends ever share an index.
    let p = Topology::new()
        .bridge("br0", "10.0.0.0/24")
        .node("a", |n| n.on("br0"))
        .node("b", |n| n.on_with("br0", |x| x.impairable()))
        .node("c", |n| n.on_with("ov", |x| x.at("a")))
        .overlay("ov", "10.8.0.0/24", 42, &["a", "b"])
        .link_with("a", "b", "10.9.0.0/30", |l| l.impairable())
        .plan()
        .unwrap();
    let bridges: Vec<u32> = p.bridges.iter().map(|b| b.index).collect();
    assert_eq!(bridges, [2, 3, 4]);
    let ends: Vec<u32> = p
        .veths
        .iter()
        .flat_map(|v| &v.ends)
        .map(|e| e.index)
        .collect();
    assert_eq!(ends, (5..5 + ends.len() as u32).collect::<Vec<_>>());
    let vxlans: Vec<u32> = p.vxlans.iter().map(|x| x.index).collect();
    let after = 5 + ends.len() as u32;
    assert_eq!(vxlans, [after, after + 1]);
    // Two relays: two more pairs than without them.
    assert_eq!(p.relays.len(), 2);
    assert_eq!(p.veths.len(), 3 + 1 + 2);
    // The lookup by name finds each device's own index, relays' sides included.
    let devices = p
        .bridges
        .iter()
        .map(|b| (b.node, &b.name, b.index))
        .chain(
            p.veths
                .iter()
                .flat_map(|v| &v.ends)
                .map(|e| (e.node, &e.name, e.index)),
        )
        .chain(p.vxlans.iter().map(|x| (x.node, &x.name, x.index)));
    for (node, name, index) in devices {
        assert_eq!(p.ifindex(node, name), Some(index), "{name} in node {node}");
    }
    let a = p.node_index("a").unwrap();
    assert_eq!(
        p.ifindex(a, "eth0"),
        p.veths[0]
            .ends
            .iter()
            .find(|e| e.node == a)
            .map(|e| e.index)
    );
    assert_eq!(p.ifindex(a, "lo"), None);
    assert_eq!(p.ifindex(a, "eth9"), None);
}

#[test]
fn nodes_with_the_same_names_view_know_the_same_names() {
    let shared = Topology::new()
        .bridge("docker0", "172.17.0.0/16")
        .bridge_with("testnet", "172.19.0.0/16", |b| b.scoped_names())
        .node("web", |n| n.on("docker0"))
        .node("db", |n| n.on("docker0").on("testnet"))
        .node("cache", |n| n.on("testnet"))
        .node("sidecar", |n| n.net_of("web"))
        .node("lonely", |n| n)
        .node("hostnet", |n| n.net_of(HOST));
    for t in [
        shared,
        presets::two_networks(),
        presets::cgnat(),
        presets::nat_lan_wan(3),
        presets::router_line(3),
        presets::docker_bridge(4),
    ] {
        let p = t.plan().unwrap();
        for x in 0..p.nodes.len() {
            for y in 0..p.nodes.len() {
                if let (Some(a), Some(b)) = (p.names_view(x), p.names_view(y)) {
                    if a == b {
                        assert_eq!(p.names_for(x), p.names_for(y), "{x} {y}");
                    }
                }
            }
        }
        let con = p
            .nodes
            .iter()
            .position(|n| n.name != HOST && !n.ifaces.is_empty());
        assert!(con.is_some_and(|c| p.names_view(c).is_some()));
    }
}

/// A router whose LAN has an IPv4 and an IPv6 subnet and no NAT: the public node gets a
/// route to both, however the subnets' texts sort (the IPv4 internet first, then the IPv6
/// one first).
#[test]
fn a_dual_stack_routed_lan_gets_routes_for_both_families() {
    for (wan4, wan6) in [
        ("198.51.100.0/24", "2001:db8:1::/64"),
        ("203.0.113.0/24", "2001:db8:1::/64"),
        ("10.9.0.0/24", "fd00:9::/64"),
    ] {
        let p = Topology::new()
            .bridge_with("internet", wan4, |b| b.no_gateway().ipv6(wan6))
            .bridge_with("lan", "192.168.1.0/24", |b| {
                b.in_node("r").ipv6("fd00:1::/64")
            })
            .router("r", |n| n.on("internet"))
            .node("pc", |n| n.on("lan"))
            .node("public", |n| n.on("internet"))
            .plan()
            .unwrap();
        let public = p.node_index("public").unwrap();
        let r = p.node("r").unwrap();
        let r_ips: Vec<IpAddr> = r
            .ifaces
            .iter()
            .filter(|i| i.network == "internet")
            .flat_map(|i| i.addrs.iter().map(|a| a.addr()))
            .collect();
        for lan in ["192.168.1.0/24", "fd00:1::/64"] {
            let route = p
                .routes
                .iter()
                .find(|x| x.node == public && x.dest.to_string() == lan);
            let route = route.unwrap_or_else(|| {
                panic!(
                    "internet {wan4} + {wan6}: no route to {lan}\n{}",
                    p.summary()
                )
            });
            assert!(r_ips.contains(&route.via), "{route:?} via r: {r_ips:?}");
        }
    }
}

/// A router that masquerades its LAN (or source-NATs through a named WAN interface) gets
/// a home router's input filter for its WAN side; the host (Docker's model) and a router
/// with `no_wan_guard()` do not.
#[test]
fn nat_routers_guard_their_wan_side() {
    let guard_of = |t: Topology, node: &str| -> Option<String> {
        let p = t.plan().unwrap();
        let rules = p.node(node).unwrap().rules.as_ref()?.to_string();
        rules.contains("socket transparent 0-1").then_some(rules)
    };
    let home = |no_guard: bool| {
        Topology::new()
            .bridge_with("lan", "192.168.1.0/24", |b| b.in_node("r").masquerade())
            .router("r", |n| {
                let n = n.on_with("internet", |i| i.name("wan"));
                if no_guard {
                    n.no_wan_guard()
                } else {
                    n
                }
            })
            .bridge_with("internet", "198.51.100.0/24", |b| b.no_gateway())
    };
    let rules = guard_of(home(false), "r").expect("r guards its WAN side");
    for line in [
        r#"iifname != "lan" iifname != "lo" ct state new socket transparent 0-1 counter accept"#,
        r#"iifname != "lan" iifname != "lo" ct state new meta l4proto tcp counter drop"#,
        r#"iifname != "lan" iifname != "lo" ct state new meta l4proto udp counter drop"#,
    ] {
        assert!(rules.contains(line), "no `{line}` in\n{rules}");
    }
    assert_eq!(guard_of(home(true), "r"), None);

    // Source NAT through a named WAN interface, no masquerade(): every other interface
    // of the router is a LAN, the bridge it holds among them.
    let snat = Topology::new()
        .bridge_with("internet", "198.51.100.0/24", |b| b.no_gateway())
        .bridge_with("lan", "192.168.1.0/24", |b| b.in_node("r"))
        .node("pc", |n| n.on("lan"))
        .link("r", "pc", "10.9.0.0/24")
        .router("r", |n| {
            n.on_with("internet", |i| i.name("wan").ip("198.51.100.1"))
                .firewall(|r| {
                    r.snat(
                        "192.168.1.0/24",
                        Some("wan"),
                        "198.51.100.1".parse().unwrap(),
                        None,
                        crate::nft::NatMode::PortPreserving,
                    )
                })
        });
    let rules = guard_of(snat, "r").expect("r guards its WAN side");
    let line = r#"iifname != "lan" iifname != "eth0" iifname != "lo" ct state new meta l4proto udp counter drop"#;
    assert!(rules.contains(line), "no `{line}` in\n{rules}");

    // Docker's host masquerades docker0 and keeps its input open.
    let docker = Topology::new()
        .bridge_with("docker0", "172.17.0.0/16", |b| b.masquerade())
        .node("c", |n| n.on("docker0"));
    assert_eq!(guard_of(docker, HOST), None);
}

#[test]
fn an_ipv6_subnet_makes_an_ipv6_only_network() {
    let p = Topology::new()
        .router("r", |n| n)
        .bridge_with("lan6", "fd00:6::/64", |b| b.in_node("r"))
        .link("r", "wan", "fd00:9::/64")
        .node("wan", |n| n)
        .node("a", |n| n.on("lan6"))
        .node("b", |n| n.on_ip("lan6", "fd00:6::99"))
        .plan()
        .unwrap();
    let a = p.node("a").unwrap();
    assert_eq!(a.ifaces[0].addrs.len(), 1, "{}", p.summary());
    assert_eq!(a.ifaces[0].addrs[0].to_string(), "fd00:6::2/64");
    let b = p.node("b").unwrap();
    assert_eq!(b.ifaces[0].addrs[0].to_string(), "fd00:6::99/64");
    let routes: Vec<String> = p
        .routes
        .iter()
        .map(|r| format!("{} {} via {}", p.nodes[r.node].name, r.dest, r.via))
        .collect();
    assert!(
        routes.contains(&"a ::/0 via fd00:6::1".to_string()),
        "{routes:?}"
    );
    // The WAN node reaches the IPv6-only LAN through the router's end of the link.
    assert!(
        routes.contains(&"wan fd00:6::/64 via fd00:9::1".to_string()),
        "{routes:?}"
    );
    assert!(
        !routes.iter().any(|r| r.contains("0.0.0.0/0")),
        "{routes:?}"
    );
}

#[test]
fn an_ipv6_only_network_refuses_a_second_ipv6_subnet() {
    let err = Topology::new()
        .bridge_with("lan6", "fd00:6::/64", |b| b.ipv6("fd00:7::/64"))
        .plan()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is IPv6, which makes the network IPv6-only, and .ipv6(..) gives it a second IPv6 subnet"),
        "{err}"
    );
}

#[test]
fn nat64_needs_an_ipv6_lan_and_an_ipv4_address() {
    let err = Topology::new()
        .router("r", |n| n.nat64(super::Nat64::default()))
        .link("r", "s", "198.51.100.0/24")
        .node("s", |n| n)
        .plan()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("node \"r\" declares NAT64 but holds no bridge with an IPv6 gateway"),
        "{err}"
    );
    let err = Topology::new()
        .router("r", |n| n.nat64(super::Nat64::prefix("64:ff9b::/64")))
        .bridge_with("lan6", "fd00:6::/64", |b| b.in_node("r"))
        .plan()
        .unwrap_err()
        .to_string();
    assert!(err.contains("only /96 prefixes are supported"), "{err}");
    let err = Topology::new()
        .router("r", |n| n.nat64(super::Nat64::default()))
        .bridge_with("lan6", "fd00:6::/64", |b| b.in_node("r"))
        .plan()
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no IPv4 address to translate to"), "{err}");
}

#[test]
fn nptv6_routes_the_outside_prefix_and_hides_the_inside_one() {
    let p = Topology::new()
        .router("r", |n| n)
        .bridge_with("lan6", "fd00:6::/64", |b| {
            b.in_node("r").nptv6("fd00:99::/64")
        })
        .node("a", |n| n.on("lan6"))
        .node("s", |n| n)
        .link("r", "s", "fd00:9::/64")
        .plan()
        .unwrap();
    let s = p.node_index("s").unwrap();
    let routes: Vec<String> = p
        .routes
        .iter()
        .filter(|r| r.node == s)
        .map(|r| format!("{} via {}", r.dest, r.via))
        .collect();
    assert_eq!(routes, ["fd00:99::/64 via fd00:9::1"], "{}", p.summary());
    let err = Topology::new()
        .router("r", |n| n)
        .bridge_with("lan6", "fd00:6::/64", |b| {
            b.in_node("r").nptv6("fd00:99::/48")
        })
        .plan()
        .unwrap_err()
        .to_string();
    assert!(err.contains("nptv6 maps prefixes of one length"), "{err}");
}
