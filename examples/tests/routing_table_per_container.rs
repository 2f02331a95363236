//! Seed 002, [Shell 1-3] ("Network Namespace"): two containers `netshoot-a` (172.17.0.4) and
//! `netshoot-b` (172.17.0.3) on `docker0` (172.17.0.0/16). A host route added inside
//! `netshoot-a` at run time shows up in its routing table only: each network namespace has
//! its own.
//!
//! ```text
//! (netshoot-a)# route add -host 8.8.8.8 dev eth0
//! (netshoot-a)# route -n
//! 0.0.0.0         172.17.0.1      0.0.0.0         UG    0      0        0 eth0
//! 8.8.8.8         0.0.0.0         255.255.255.255 UH    0      0        0 eth0
//! 172.17.0.0      0.0.0.0         255.255.0.0     U     0      0        0 eth0
//! (netshoot-b)# route -n
//! 0.0.0.0         172.17.0.1      0.0.0.0         UG    0      0        0 eth0
//! 172.17.0.0      0.0.0.0         255.255.0.0     U     0      0        0 eth0
//! ```
//!
//! No traffic goes to 8.8.8.8: the tests only read routing tables (with `ip route`, and
//! with `node.route().list()`).

use netns_test::{netns_test, Net, Node, RouteEntry, Topology};

/// The tutorial's addresses: netshoot-b was started after a container that is gone, so
/// netshoot-a got 172.17.0.4 and netshoot-b 172.17.0.3.
fn netshoots() -> Topology {
    Topology::new()
        .bridge("docker0", "172.17.0.0/16")
        .node("netshoot-a", |n| n.on_ip("docker0", "172.17.0.4"))
        .node("netshoot-b", |n| n.on_ip("docker0", "172.17.0.3"))
}

/// `ip route` inside `node`, one entry per line, without trailing blanks.
async fn ip_route(node: &Node) -> anyhow::Result<Vec<String>> {
    let text = node.output("ip", ["route"])?;
    Ok(text.lines().map(|l| l.trim_end().to_string()).collect())
}

#[netns_test(topology = netshoots())]
async fn each_container_has_its_own_address_and_mac(net: Net) -> anyhow::Result<()> {
    // (netshoot-a)# ip a   ->   link/ether 02:42:ac:11:00:04 ... inet 172.17.0.4/16
    for (name, inet, ether) in [
        ("netshoot-a", "172.17.0.4/16", "02:42:ac:11:00:04"),
        ("netshoot-b", "172.17.0.3/16", "02:42:ac:11:00:03"),
    ] {
        let ip_a = net.node(name).output("ip", ["a"])?;
        assert!(
            ip_a.contains(&format!("link/ether {ether} ")),
            "{name}: {ip_a}"
        );
        assert!(
            ip_a.contains(&format!("inet {inet} brd 172.17.255.255 scope global eth0")),
            "{name}: {ip_a}"
        );
    }
    Ok(())
}

#[netns_test(topology = netshoots())]
async fn a_route_added_in_one_container_is_invisible_in_another(net: Net) -> anyhow::Result<()> {
    let a = net.node("netshoot-a");
    let b = net.node("netshoot-b");
    let b_before = ip_route(&b).await?;
    assert_eq!(
        b_before,
        [
            "default via 172.17.0.1 dev eth0",
            "172.17.0.0/16 dev eth0 proto kernel scope link src 172.17.0.3",
        ]
    );

    // (netshoot-a)# route add -host 8.8.8.8 dev eth0
    a.route().add_dev("8.8.8.8/32", "eth0").await?;

    assert_eq!(
        ip_route(&a).await?,
        [
            "default via 172.17.0.1 dev eth0",
            "8.8.8.8 dev eth0 scope link",
            "172.17.0.0/16 dev eth0 proto kernel scope link src 172.17.0.4",
        ]
    );
    // netshoot-b, and the host ([Shell 3]), see no such route.
    assert_eq!(ip_route(&b).await?, b_before);
    let host_routes = ip_route(&net.host()).await?;
    assert!(
        host_routes
            .iter()
            .any(|r| r.starts_with("172.17.0.0/16 dev docker0")),
        "the host's table is read: {host_routes:?}"
    );
    assert!(
        host_routes.iter().all(|r| !r.starts_with("8.8.8.8")),
        "{host_routes:?}"
    );

    // The same through the API: netshoot-a's table has 8.8.8.8/32 on eth0, without gateway.
    let to_8888 = |r: &RouteEntry| r.dest.to_string() == "8.8.8.8/32";
    let in_a: Vec<RouteEntry> = a
        .route()
        .list()
        .await?
        .into_iter()
        .filter(to_8888)
        .collect();
    let expected = RouteEntry {
        dest: "8.8.8.8/32".parse()?,
        via: None,
        dev: Some(a.iface("eth0").index),
    };
    assert_eq!(in_a, [expected]);
    let in_b = b.route().list().await?;
    assert!(
        in_b.iter().any(|r| r.dest.to_string() == "172.17.0.0/16"),
        "netshoot-b's table is read: {in_b:?}"
    );
    assert!(!in_b.iter().any(to_8888), "{in_b:?}");
    Ok(())
}

/// `labs/routing_table_per_container.toml` is this lab: `netns-test lab examples/labs/routing_table_per_container.toml` opens it.
#[test]
fn the_lab_file_declares_this_topology() {
    netns_test_examples::assert_lab_file("routing_table_per_container.toml", netshoots());
}
