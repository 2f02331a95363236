//! Seed 004 (Docker Networking Cookbook, "Exploring network namespaces"): the host `net1`
//! gets two namespaces, `ns_1` and `ns_2`, each holding its own bridge (`edge_bridge1`,
//! `edge_bridge2`) that must be created from inside the namespace:
//!
//! ```text
//! user@net1:~$ sudo ip netns exec ns_1 ip link add edge_bridge1 type bridge
//! user@net1:~$ sudo ip netns exec ns_1 ip link show
//! 2: edge_bridge1: <BROADCAST,MULTICAST> mtu 1500 ...
//! user@net1:~$ sudo ip netns exec ns_1 ip route
//! user@net1:~$
//! ```
//!
//! Each edge bridge is a layer-2 segment between `net1` (through a veth pair, the book's
//! `edge_veth1`/`host_veth1`) and a machine on the far side (the book's `net2` behind `eth1`,
//! `net3` behind `eth2`). The seed gives no addresses; these are used here:
//!
//! | segment | lives in | `net1` (the test's host) | far side |
//! | --- | --- | --- | --- |
//! | `edge_bridge1`, 10.10.1.0/24, no address on the bridge | `ns_1` | `host_veth1` 10.10.1.1 | `net2` 10.10.1.2 |
//! | `edge_bridge2`, 10.10.2.0/24, no address on the bridge | `ns_2` | `host_veth2` 10.10.2.1 | `net3` 10.10.2.2 |
//!
//! `net1` forwards between the two segments, so that, as the book says, there is
//! "connectivity to all of the networks attached to all three hosts"; `net2` and `net3`
//! get a route to each other's segment via `net1`.

use std::process::Stdio;

use netns_test::{netns_test, Net, Node, Topology};

fn edge_bridges() -> Topology {
    Topology::new()
        .node("ns_1", |n| n)
        .node("ns_2", |n| n)
        // Bridges inside a namespace, without a gateway address: pure layer 2, as in the
        // book, where `ip netns exec ns_1 ip route` is empty.
        .bridge_with("edge_bridge1", "10.10.1.0/24", |b| {
            b.in_node("ns_1").no_gateway()
        })
        .bridge_with("edge_bridge2", "10.10.2.0/24", |b| {
            b.in_node("ns_2").no_gateway()
        })
        .host(|h| {
            h.forwarding()
                .on_with("edge_bridge1", |a| a.name("host_veth1").ip("10.10.1.1"))
                .on_with("edge_bridge2", |a| a.name("host_veth2").ip("10.10.2.1"))
        })
        .node("net2", |n| n.on_ip("edge_bridge1", "10.10.1.2"))
        .node("net3", |n| n.on_ip("edge_bridge2", "10.10.2.2"))
}

/// `ping -c 1 -W 1 TO` from inside `from`: true if the echo reply came back within 1 s.
async fn ping(from: &Node, to: &str) -> anyhow::Result<bool> {
    let status = from
        .tokio_command("ping")
        .args(["-c", "1", "-W", "1", to])
        .stdout(Stdio::null())
        .status()
        .await?;
    Ok(status.success())
}

#[netns_test(topology = edge_bridges())]
async fn each_edge_bridge_lives_in_its_namespace(net: Net) -> anyhow::Result<()> {
    // user@net1:~$ sudo ip netns exec ns_1 ip link show   ->   edge_bridge1
    let ns_1 = net.node("ns_1").output("ip", ["-o", "link", "show"])?;
    assert!(ns_1.contains(": edge_bridge1: "), "{ns_1}");
    assert!(!ns_1.contains("edge_bridge2"), "{ns_1}");
    let ns_2 = net.node("ns_2").output("ip", ["-o", "link", "show"])?;
    assert!(ns_2.contains(": edge_bridge2: "), "{ns_2}");

    // The host (net1) has neither bridge, only its ends of the veth pairs: the very
    // command that shows each bridge in its namespace says there is no such device here.
    let host = net.host();
    for (bridge, owner) in [("edge_bridge1", "ns_1"), ("edge_bridge2", "ns_2")] {
        net.node(owner).output("ip", ["link", "show", bridge])?;
        let shown = host
            .tokio_command("ip")
            .args(["link", "show", bridge])
            .output()
            .await?;
        let err = String::from_utf8_lossy(&shown.stderr);
        assert!(
            shown.status.code() == Some(1)
                && err.contains(&format!("Device \"{bridge}\" does not exist")),
            "{bridge} must not exist on the host: {}, {err}",
            shown.status
        );
    }
    let host_links = host.output("ip", ["-o", "link", "show"])?;
    assert!(host_links.contains(": host_veth1@if"), "{host_links}");
    assert!(host_links.contains(": host_veth2@if"), "{host_links}");

    // The ports of edge_bridge1 (the far ends of host_veth1 and of net2's eth0) are in ns_1.
    let ports = net
        .node("ns_1")
        .output("ip", ["-o", "link", "show", "master", "edge_bridge1"])?;
    assert_eq!(ports.lines().count(), 2, "{ports}");

    // user@net1:~$ sudo ip netns exec ns_1 ip route
    // user@net1:~$            (empty: no interface in ns_1 has an IP address)
    assert_eq!(net.node("ns_1").output("ip", ["route"])?, "");
    assert_eq!(net.node("ns_2").output("ip", ["route"])?, "");
    // (where an interface has one, the same command lists its route)
    let net2_routes = net.node("net2").output("ip", ["route"])?;
    assert!(
        net2_routes.contains("10.10.1.0/24 dev eth0"),
        "{net2_routes}"
    );
    Ok(())
}

#[netns_test(topology = edge_bridges())]
async fn interface_names_may_overlap_across_namespaces(net: Net) -> anyhow::Result<()> {
    // The book: "edge_bridge1 and edge_bridge2 still exist in this output [on the host]...
    // they now also exist inside the namespaces ns_1 and ns_2. ... since the namespaces are
    // totally isolated even the interface names can overlap."
    let host = net.host();
    host.output("ip", ["link", "add", "edge_bridge1", "type", "bridge"])?;
    host.output("ip", ["link", "show", "edge_bridge1"])?;
    net.node("ns_1")
        .output("ip", ["link", "show", "edge_bridge1"])?;

    // Two different devices: the host's has no ports, ns_1's has two.
    let host_ports = host.output("ip", ["-o", "link", "show", "master", "edge_bridge1"])?;
    assert_eq!(host_ports, "");
    let ns_1_ports = net
        .node("ns_1")
        .output("ip", ["-o", "link", "show", "master", "edge_bridge1"])?;
    assert_eq!(ns_1_ports.lines().count(), 2, "{ns_1_ports}");

    // And every container-like node calls its interface eth0.
    for name in ["net2", "net3"] {
        assert_eq!(net.node(name).ifaces()[0].name, "eth0");
    }
    Ok(())
}

#[netns_test(topology = edge_bridges())]
async fn every_host_reaches_every_network_through_the_edge_bridges(net: Net) -> anyhow::Result<()> {
    let (net1, net2, net3) = (net.host(), net.node("net2"), net.node("net3"));
    // net1 <-> net2 across edge_bridge1 (in ns_1), net1 <-> net3 across edge_bridge2 (in ns_2).
    assert!(ping(&net1, "10.10.1.2").await?, "net1 -> net2");
    assert!(ping(&net1, "10.10.2.2").await?, "net1 -> net3");
    assert!(ping(&net2, "10.10.1.1").await?, "net2 -> net1");
    // net2 <-> net3: through both edge bridges, routed by net1.
    assert!(ping(&net2, "10.10.2.2").await?, "net2 -> net3");
    assert!(ping(&net3, "10.10.1.2").await?, "net3 -> net2");

    let routes = net2.output("ip", ["route"])?;
    assert!(
        routes.contains("10.10.2.0/24 via 10.10.1.1 dev eth0"),
        "{routes}"
    );
    Ok(())
}

/// `labs/edge_bridges.toml` is this lab: `netns-test lab examples/labs/edge_bridges.toml` opens it.
#[test]
fn the_lab_file_declares_this_topology() {
    netns_test_examples::assert_lab_file("edge_bridges.toml", edge_bridges());
}
