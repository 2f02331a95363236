//! NAT and filtering declared in the topology, observed in the kernel: what a server on
//! the far side sees, which routes exist, what gets through.

use std::net::SocketAddr;
use std::time::Duration;

use netns_test::reach::Probe;
use netns_test::{netns_test, presets, Net, Node, Topology};

/// The source address `server` sees for a TCP connection from `client` to `to`.
async fn seen_by(server: &Node, client: &Node, to: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = server
        .run(async move { tokio::net::TcpListener::bind(to).await })
        .await?;
    let accept = server.spawn(async move { listener.accept().await.map(|(_, peer)| peer) });
    client
        .run(async move {
            tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(to)).await?
        })
        .await?;
    accept.await.expect("accept task")
}

fn ip_route(node: &Node) -> String {
    let out = node.command("ip").arg("route").output().expect("ip route");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[netns_test(topology = presets::nat_lan_wan(2))]
async fn a_masqueraded_lan_is_seen_as_the_routers_wan_address(net: Net) -> std::io::Result<()> {
    let server = net.node("server");
    for lan in ["lan1", "lan2"] {
        let peer = seen_by(
            &server,
            &net.node(lan),
            "198.51.100.2:8000".parse().unwrap(),
        )
        .await?;
        assert_eq!(
            peer.ip().to_string(),
            "198.51.100.1",
            "{lan} is hidden behind the router"
        );
    }
    let routes = ip_route(&server);
    assert!(
        !routes.contains("192.168.1.0"),
        "the server has no route into the NATed LAN:\n{routes}"
    );
    // And nothing from the WAN gets in unasked.
    server
        .assert_cannot_reach(&net.node("lan1"), Probe::Icmp)
        .await;
    Ok(())
}

#[netns_test(topology = presets::lan_wan(1))]
async fn without_masquerade_the_server_sees_the_lan_address(net: Net) -> std::io::Result<()> {
    let peer = seen_by(
        &net.node("server"),
        &net.node("lan1"),
        "198.51.100.2:8000".parse().unwrap(),
    )
    .await?;
    assert_eq!(peer.ip().to_string(), "192.168.1.2");
    Ok(())
}

fn internal_and_normal() -> Topology {
    Topology::new()
        .bridge_with("backend", "172.30.0.0/24", |b| b.internal())
        .bridge_with("frontend", "172.31.0.0/24", |b| b.masquerade())
        .node("db", |n| n.on("backend"))
        .node("cache", |n| n.on("backend"))
        .node("web", |n| n.on("frontend"))
        .node("outside", |n| n)
        .link("host", "outside", "203.0.113.0/24")
}

#[netns_test(topology = internal_and_normal())]
async fn an_internal_network_has_no_way_out(net: Net) {
    let (db, web) = (net.node("db"), net.node("web"));
    assert!(
        !ip_route(&db).contains("default"),
        "no default route on an internal network"
    );
    db.assert_reaches(&net.node("cache"), Probe::Icmp).await;
    db.assert_reaches("172.30.0.1", Probe::Icmp).await;
    db.assert_cannot_reach(&net.node("outside"), Probe::Icmp)
        .await;
    // A normal network next to it goes out, masqueraded, but not into the internal one.
    web.assert_reaches(&net.node("outside"), Probe::Icmp).await;
    web.assert_cannot_reach(&db, Probe::Icmp).await;
}

#[netns_test(topology = Topology::new()
    .bridge_with("docker0", "172.17.0.0/16", |b| b.masquerade())
    .node("web", |n| n.on("docker0").publish(8080, 80))
    .node("outside", |n| n)
    .link("host", "outside", "203.0.113.0/24"))]
async fn a_published_port_reaches_the_container_from_outside_and_from_the_host(
    net: Net,
) -> std::io::Result<()> {
    let web = net.node("web");
    let listener = web
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:80").await })
        .await?;
    let served = web.spawn(async move {
        let mut peers = Vec::new();
        for _ in 0..2 {
            peers.push(listener.accept().await?.1);
        }
        Ok::<_, std::io::Error>(peers)
    });
    // From the outside, to the host's public address.
    net.node("outside")
        .run(async {
            tokio::net::TcpStream::connect("203.0.113.1:8080")
                .await
                .map(drop)
        })
        .await?;
    // From the host itself (the test body runs there), to its docker0 address.
    tokio::net::TcpStream::connect("172.17.0.1:8080").await?;
    let peers = served.await.expect("server task")?;
    assert_eq!(
        peers[0].ip().to_string(),
        "203.0.113.2",
        "DNAT keeps the client's address"
    );
    assert_eq!(peers[1].ip().to_string(), "172.17.0.1");
    // Port 8081 is not published.
    net.node("outside")
        .assert_cannot_reach("203.0.113.1", Probe::Tcp(8081))
        .await;
    Ok(())
}

#[netns_test(topology = Topology::new()
    .bridge_with("docker0", "172.18.0.0/16", |b| b.masquerade())
    .bridge_with("testnet", "172.19.0.0/16", |b| b.masquerade())
    .node("con1", |n| n.on("docker0"))
    .node("con3", |n| n.on("testnet")))]
async fn the_hosts_bridges_are_isolated_although_it_forwards(net: Net) {
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );
    net.node("con1")
        .assert_cannot_reach(&net.node("con3"), Probe::Icmp)
        .await;
    net.node("con3")
        .assert_cannot_reach(&net.node("con1"), Probe::Tcp(80))
        .await;
    // Both still reach the host.
    net.node("con1")
        .assert_reaches("172.18.0.1", Probe::Icmp)
        .await;
}

#[test]
fn publishing_from_a_node_without_a_gateway_is_explained() {
    let err = Topology::new()
        .node("lonely", |n| n.publish(8080, 80))
        .plan()
        .expect_err("invalid");
    assert!(
        err.to_string()
            .contains("node \"lonely\" publishes ports but is on no bridge network with a gateway"),
        "{err}"
    );
}
