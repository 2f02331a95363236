//! Ready-made topologies for the common shapes.
//!
//! Each is an ordinary [`Topology`]: extend it with more nodes, networks or routes.

use super::Topology;

/// One node, `a`, in its own namespace with only `lo` (Docker's `--net none`).
pub fn isolated() -> Topology {
    Topology::new().node("a", |n| n)
}

/// Nodes `a` and `b` on bridge `br0` (10.0.0.0/24, gateway 10.0.0.1 on the host).
pub fn bridge_pair() -> Topology {
    Topology::new()
        .bridge("br0", "10.0.0.0/24")
        .node("a", |n| n.on("br0"))
        .node("b", |n| n.on("br0"))
}

/// `n` containers `con1`..`conN` on a `docker0`-like bridge: 172.17.0.0/16, gateway
/// 172.17.0.1 on the host, members from 172.17.0.2.
pub fn docker_bridge(n: usize) -> Topology {
    (1..=n).fold(
        Topology::new().bridge("docker0", "172.17.0.0/16"),
        |t, i| t.node(&format!("con{i}"), |n| n.on("docker0")),
    )
}

/// The tutorial's two networks: `con1` and `con2` on `docker0` (172.18.0.0/16), `con3` on
/// the user-defined `testnet` (172.19.0.0/16). The host does not forward between them, so
/// `con3` is unreachable from `con1`.
pub fn two_networks() -> Topology {
    Topology::new()
        .bridge("docker0", "172.18.0.0/16")
        .bridge("testnet", "172.19.0.0/16")
        .node("con1", |n| n.on("docker0"))
        .node("con2", |n| n.on("docker0"))
        .node("con3", |n| n.on("testnet"))
}

/// A line `left - r1 - r2 - ... - rN - right` of point-to-point links (10.0.K.0/30), with
/// routes so that every node reaches every other.
pub fn router_line(routers: usize) -> Topology {
    assert!(routers >= 1, "router_line needs at least one router");
    let names: Vec<String> = std::iter::once("left".to_string())
        .chain((1..=routers).map(|i| format!("r{i}")))
        .chain(std::iter::once("right".to_string()))
        .collect();
    let mut t = Topology::new();
    for name in &names {
        t = if name.starts_with('r') && name != "right" {
            t.router(name, |n| n)
        } else {
            t.node(name, |n| n)
        };
    }
    for (k, pair) in names.windows(2).enumerate() {
        t = t.link(&pair[0], &pair[1], &format!("10.0.{k}.0/30"));
    }
    t
}

/// `lans` hosts `lan1`..`lanN` on a LAN behind `router`, and a `server` on its WAN side.
///
/// - `lan`: bridge inside `router` (like a home router's switch), 192.168.1.0/24, gateway
///   192.168.1.1;
/// - `router <-> server`: point-to-point WAN link 198.51.100.0/24, router .1, server .2.
///
/// Without NAT the server routes back to the LAN through the router.
pub fn lan_wan(lans: usize) -> Topology {
    let t = Topology::new()
        .router("router", |n| n)
        .bridge_with("lan", "192.168.1.0/24", |b| b.in_node("router"))
        .node("server", |n| n);
    (1..=lans)
        .fold(t, |t, i| t.node(&format!("lan{i}"), |n| n.on("lan")))
        .link("router", "server", "198.51.100.0/24")
}

/// [`lan_wan`] with the LAN masqueraded at the router, like a home router: the server
/// sees every LAN host as the router's WAN address 198.51.100.1 and has no route to the
/// LAN.
pub fn nat_lan_wan(lans: usize) -> Topology {
    let t = Topology::new()
        .router("router", |n| n)
        .bridge_with("lan", "192.168.1.0/24", |b| {
            b.in_node("router").masquerade()
        })
        .node("server", |n| n);
    (1..=lans)
        .fold(t, |t, i| t.node(&format!("lan{i}"), |n| n.on("lan")))
        .link("router", "server", "198.51.100.0/24")
}

/// Carrier-grade NAT (RFC 6598): two customers of one ISP, each behind a home router that
/// masquerades its LAN into the ISP's shared address space, behind the ISP's `cgn` router
/// that masquerades that space to its one public address. Two levels of NAT.
///
/// ```text
///   server .10 ──┬── internet 198.51.100.0/24 (a bridge, no gateway)
///                cgn .1 (wan)
///                │ isp 100.64.0.0/24 (bridge in cgn, gateway .1, masqueraded)
///         ┌──────┴───────┐
///   home1 .2 (wan)   home2 .3 (wan)
///   │ lan1 192.168.1.0/24  │ lan2 192.168.2.0/24 (bridges in the home routers, masqueraded)
///   alice .2             bob .2
/// ```
///
/// The server sees both customers as 198.51.100.1 and has no route to 100.64.0.0/24 or
/// the LANs; the home routers' default route is the CGN.
pub fn cgnat() -> Topology {
    Topology::new()
        .bridge_with("internet", "198.51.100.0/24", |b| b.no_gateway())
        .bridge_with("isp", "100.64.0.0/24", |b| b.in_node("cgn").masquerade())
        .bridge_with("lan1", "192.168.1.0/24", |b| {
            b.in_node("home1").masquerade()
        })
        .bridge_with("lan2", "192.168.2.0/24", |b| {
            b.in_node("home2").masquerade()
        })
        .router("cgn", |n| {
            n.on_with("internet", |i| i.name("wan").ip("198.51.100.1"))
        })
        .router("home1", |n| {
            n.on_with("isp", |i| i.name("wan").ip("100.64.0.2"))
        })
        .router("home2", |n| {
            n.on_with("isp", |i| i.name("wan").ip("100.64.0.3"))
        })
        .node("server", |n| n.on_ip("internet", "198.51.100.10"))
        .node("alice", |n| n.on("lan1"))
        .node("bob", |n| n.on("lan2"))
}

/// [`cgnat`] with declared NATs instead of masquerading: `carrier` at `cgn` (e.g.
/// [`Nat::cgnat`](crate::nft::Nat::cgnat)), `home` at `home1` and `home2` (e.g.
/// [`Nat::home`](crate::nft::Nat::home)). Two levels of NAT, each with the behaviour its
/// [`Nat`](crate::nft::Nat) declares; the server still sees both customers as
/// 198.51.100.1.
pub fn cgnat_nat(home: crate::nft::Nat, carrier: crate::nft::Nat) -> Topology {
    Topology::new()
        .bridge_with("internet", "198.51.100.0/24", |b| b.no_gateway())
        .bridge_with("isp", "100.64.0.0/24", |b| b.in_node("cgn"))
        .bridge_with("lan1", "192.168.1.0/24", |b| b.in_node("home1"))
        .bridge_with("lan2", "192.168.2.0/24", |b| b.in_node("home2"))
        .router("cgn", |n| {
            n.on_with("internet", |i| i.name("wan").ip("198.51.100.1"))
                .nat(carrier)
        })
        .router("home1", |n| {
            n.on_with("isp", |i| i.name("wan").ip("100.64.0.2"))
                .nat(home.clone())
        })
        .router("home2", |n| {
            n.on_with("isp", |i| i.name("wan").ip("100.64.0.3"))
                .nat(home)
        })
        .node("server", |n| n.on_ip("internet", "198.51.100.10"))
        .node("alice", |n| n.on("lan1"))
        .node("bob", |n| n.on("lan2"))
}
