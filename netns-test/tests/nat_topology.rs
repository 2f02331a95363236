//! NAT and filtering declared in the topology, observed in the kernel: what a server on
//! the far side sees, which routes exist, what gets through.

use std::net::SocketAddr;
use std::time::Duration;

use netns_test::reach::{Outcome, Probe};
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

/// `ip route` in `node`: its output, or a panic naming the node and what `ip` said (a
/// failed command must not read as an empty table).
fn ip_route(node: &Node) -> String {
    node.output("ip", ["route"])
        .unwrap_or_else(|e| panic!("ip route in {}: {e}", node.name()))
}

#[netns_test(topology = presets::nat_lan_wan(2))]
async fn a_masqueraded_lan_is_seen_as_the_routers_wan_address(net: Net) -> anyhow::Result<()> {
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
        routes.contains("198.51.100.0/24 dev "),
        "the server's table is read (its WAN link is there):\n{routes}"
    );
    assert!(
        !routes.contains("192.168.1.0"),
        "the server has no route into the NATed LAN:\n{routes}"
    );
    // And nothing from the WAN gets in unasked, although lan1 answers pings (from the
    // router, which has a way to it) ...
    let (router, lan1) = (net.node("router"), net.node("lan1"));
    router.assert_reaches(&lan1, Probe::Icmp).await;
    server.assert_cannot_reach(&lan1, Probe::Icmp).await;
    // ... for lack of a route only: given one, the server gets in (masquerading changes
    // what leaves the LAN, not what may enter it).
    let router_wan = router.ip_on("router<->server");
    server.route().add("192.168.1.0/24", router_wan).await?;
    server.assert_reaches(&lan1, Probe::Icmp).await;
    server.route().del("192.168.1.0/24").await?;
    server.assert_cannot_reach(&lan1, Probe::Icmp).await;
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

/// A router whose LAN has an IPv4 and an IPv6 subnet, without NAT, on an internet whose
/// IPv4 subnet's text sorts before its IPv6 one's.
fn dual_stack_routed_lan() -> Topology {
    Topology::new()
        .bridge_with("internet", "198.51.100.0/24", |b| {
            b.no_gateway().ipv6("2001:db8:1::/64")
        })
        .bridge_with("lan", "192.168.1.0/24", |b| {
            b.in_node("router").ipv6("fd00:1::/64")
        })
        .router("router", |n| n.on("internet"))
        .node("pc", |n| n.on("lan"))
        .node("public", |n| n.on("internet"))
}

/// Both families of a routed LAN are reachable from the public side: the public node has a
/// route to each of the LAN's subnets, not to whichever sorted first.
#[netns_test(topology = dual_stack_routed_lan())]
async fn a_dual_stack_routed_lan_is_reached_over_both_families(net: Net) -> anyhow::Result<()> {
    let (public, pc) = (net.node("public"), net.node("pc"));
    let pc6 = pc.ip6().expect("pc has an IPv6 address");
    public.assert_reaches(pc.ip(), Probe::Icmp).await;
    public
        .assert_reaches(std::net::IpAddr::V6(pc6), Probe::Icmp)
        .await;
    let routes = public.route().list().await?;
    for lan in ["192.168.1.0/24", "fd00:1::/64"] {
        assert!(
            routes.iter().any(|r| r.dest.to_string() == lan),
            "public has no route to {lan}: {routes:?}"
        );
    }
    Ok(())
}

/// [`presets::nat_lan_wan`] with a LAN host `web` whose TCP port 80 is published as the
/// router's 8080.
fn nat_lan_wan_published() -> Topology {
    presets::nat_lan_wan(0).node("web", |n| n.on("lan").publish(8080, 80))
}

/// A masquerading router is a home router towards its WAN side: new connections to the
/// router itself from outside are dropped (no reset, no port unreachable, and no conntrack
/// entry left behind), unless the router runs a service there; published ports, replies and
/// ICMP pass, and the LAN side is untouched.
#[netns_test(topology = nat_lan_wan_published())]
async fn a_masquerading_router_drops_unsolicited_traffic_to_itself_but_serves_its_services(
    net: Net,
) -> anyhow::Result<()> {
    let (router, server, web) = (net.node("router"), net.node("server"), net.node("web"));
    let wan = router.ip_on("router<->server");
    let wait = Duration::from_millis(700);

    // Positive controls: the router answers pings from outside, and a published port
    // reaches the LAN host behind it.
    server.assert_reaches(wan, Probe::Icmp).await;
    let listener = web.run(tokio::net::TcpListener::bind("0.0.0.0:80")).await?;
    web.spawn(async move { while listener.accept().await.is_ok() {} });
    server.assert_reaches(wan, Probe::Tcp(8080)).await;

    // Closed ports of the router: silence from outside, where a plain Linux box refuses.
    for probe in [Probe::Tcp(9), Probe::Udp(9)] {
        let r = server.reach(wan, probe).within(wait).result().await;
        assert_eq!(r.outcome, Outcome::Timeout, "{r}");
    }
    let ours = router
        .nft()
        .conntrack()
        .await?
        .into_iter()
        .find(|e| e.orig.src == server.ip() && e.orig.dst == wan && e.orig.dport == 9);
    assert_eq!(ours, None, "a dropped packet must leave no conntrack entry");
    // From the LAN, the same ports refuse, as before.
    let lan_side = router.ip_on("lan");
    let r = web
        .reach(lan_side, Probe::Tcp(9))
        .within(wait)
        .result()
        .await;
    assert_eq!(r.outcome, Outcome::Refused, "{r}");

    // Services the router runs itself are reached from outside: TCP and UDP.
    let listener = router
        .run(tokio::net::TcpListener::bind("0.0.0.0:7000"))
        .await?;
    router.spawn(async move { while listener.accept().await.is_ok() {} });
    let _echo = router.udp_echo(7001)?;
    server.assert_reaches(wan, Probe::Tcp(7000)).await;
    server.assert_reaches(wan, Probe::Udp(7001)).await;
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
async fn an_internal_network_has_no_way_out(net: Net) -> netns_test::Result<()> {
    let (db, web, cache, outside) = (
        net.node("db"),
        net.node("web"),
        net.node("cache"),
        net.node("outside"),
    );
    let routes = ip_route(&db);
    assert!(routes.contains("172.30.0.0/24 dev eth0"), "{routes}");
    assert!(
        !routes.contains("default"),
        "no default route on an internal network:\n{routes}"
    );
    db.assert_reaches(&cache, Probe::Icmp).await;
    db.assert_reaches("172.30.0.1", Probe::Icmp).await;
    // outside answers pings (web, on the normal network, reaches it), db does not get there.
    web.assert_reaches(&outside, Probe::Icmp).await;
    db.assert_cannot_reach(&outside, Probe::Icmp).await;
    // Not only for lack of a default route: with one, the host still forwards nothing out
    // of the internal network.
    db.route()
        .add("default", "172.30.0.1".parse().unwrap())
        .await?;
    db.assert_cannot_reach(&outside, Probe::Icmp).await;
    // Nor into it: db answers pings (cache, on its network, reaches it), web does not.
    cache.assert_reaches(&db, Probe::Icmp).await;
    web.assert_cannot_reach(&db, Probe::Icmp).await;
    // Without the host's rules (the internal drops, and the masquerade with them) the
    // very same probes go through: the rules, not the wiring, kept them apart.
    net.host().nft().flush().await?;
    web.assert_reaches(&db, Probe::Icmp).await;
    db.assert_reaches(&web, Probe::Icmp).await;
    Ok(())
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
    // web listens on 8081 too, which is not published: kept open until the end, so that a
    // wrongly published 8081 would reach it.
    let unpublished = web
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:8081").await })
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
    // Port 8081 is not published: outside's connection to the host's 8081 is refused by
    // the host itself (it is not forwarded to web, where 8081 is open) ...
    let outside = net.node("outside");
    let r = outside
        .reach("203.0.113.1", Probe::Tcp(8081))
        .within(Duration::from_secs(2))
        .result()
        .await;
    assert_eq!(r.outcome, Outcome::Refused, "{r}");
    // ... while web's 8081 does accept: the host reaches it directly, and it is the first
    // and only connection web's 8081 ever saw.
    net.host().assert_reaches(&web, Probe::Tcp(8081)).await;
    let first = tokio::time::timeout(Duration::from_secs(2), unpublished.accept())
        .await
        .expect("web's 8081 accepted the host's connection")?
        .1;
    assert_eq!(
        first.ip().to_string(),
        "172.17.0.1",
        "8081 was reached from {first}"
    );
    Ok(())
}

/// `curl localhost:8080` on a Docker host: the host's own connections to 127.0.0.1 reach
/// the published port too (DNAT in output, the 127.0.0.1 source masqueraded to the
/// bridge's address, `route_localnet=1` on the bridge), as with Docker's userland proxy
/// off. Only the published port: 127.0.0.1:8081 stays the host's own.
#[netns_test(topology = Topology::new()
    .bridge_with("docker0", "172.17.0.0/16", |b| b.masquerade())
    .node("web", |n| n.on("docker0").publish(8080, 80)))]
async fn a_published_port_answers_at_127_0_0_1_in_the_host(net: Net) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let web = net.node("web");
    let listener = web
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:80").await })
        .await?;
    let served = web.spawn(async move {
        let mut peers = Vec::new();
        for _ in 0..2 {
            let (mut s, peer) = listener.accept().await?;
            // The request first: closing with it unread would reset the connection.
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                let mut buf = [0u8; 512];
                match s.read(&mut buf).await? {
                    0 => break,
                    n => request.extend_from_slice(&buf[..n]),
                }
            }
            s.write_all(format!("HTTP/1.0 200 OK\r\n\r\nweb sees {peer}").as_bytes())
                .await?;
            peers.push(peer.ip());
        }
        Ok::<_, std::io::Error>(peers)
    });
    let mut stream = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect("127.0.0.1:8080"),
    )
    .await??;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    assert!(answer.contains("web sees 172.17.0.1:"), "{answer}");
    let page = net
        .host()
        .output("curl", ["-sS", "--max-time", "5", "http://127.0.0.1:8080/"])?;
    assert!(page.starts_with("web sees 172.17.0.1:"), "{page}");
    let peers = tokio::time::timeout(Duration::from_secs(5), served)
        .await?
        .expect("server task")?;
    assert_eq!(peers, ["172.17.0.1".parse::<std::net::IpAddr>()?; 2]);
    // The rules and the sysctl that do it, and nothing wider.
    let rules = net.host().output("nft", ["list", "ruleset"])?;
    assert!(
        rules.contains("oifname \"docker0\" ct status dnat ip saddr 127.0.0.0/8 counter packets 2"),
        "{rules}"
    );
    let sysctl = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{name}/route_localnet"))
            .map(|v| v.trim().to_string())
    };
    assert_eq!(sysctl("docker0")?, "1");
    assert_eq!(sysctl("all")?, "0");
    // 8081 is not published: nothing listens on the host's own 127.0.0.1:8081.
    let refused = tokio::net::TcpStream::connect("127.0.0.1:8081").await;
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    Ok(())
}

#[netns_test(topology = Topology::new()
    .bridge_with("docker0", "172.18.0.0/16", |b| b.masquerade())
    .bridge_with("testnet", "172.19.0.0/16", |b| b.masquerade())
    .node("con1", |n| n.on("docker0"))
    .node("con3", |n| n.on("testnet")))]
async fn the_hosts_bridges_are_isolated_although_it_forwards(net: Net) -> anyhow::Result<()> {
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );
    let (con1, con3, host) = (net.node("con1"), net.node("con3"), net.host());
    // Both targets answer: con3 pings, and con1 accepts on port 80 (seen from the host,
    // which is on both networks).
    let _web = con1
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:80").await })
        .await?;
    host.assert_reaches(&con3, Probe::Icmp).await;
    host.assert_reaches(&con1, Probe::Tcp(80)).await;
    // Both still reach the host.
    con1.assert_reaches("172.18.0.1", Probe::Icmp).await;
    con3.assert_reaches("172.19.0.1", Probe::Icmp).await;
    // Across the two bridges, nothing.
    con1.assert_cannot_reach(&con3, Probe::Icmp).await;
    con3.assert_cannot_reach(&con1, Probe::Tcp(80)).await;
    // The isolation is the host's drop rules: without them it routes between the two.
    host.nft().flush().await?;
    con1.assert_reaches(&con3, Probe::Icmp).await;
    con3.assert_reaches(&con1, Probe::Tcp(80)).await;
    Ok(())
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
