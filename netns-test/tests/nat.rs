//! NAT, published ports, filtering and conntrack, observed in the kernel: every test looks
//! at what packets did (the peer address a server saw, a connection that fails), not only
//! at the rules.
//!
//! The lab: `lan1` (192.168.1.2) on the bridge `lan` inside `router` (192.168.1.1), and
//! `server` (198.51.100.2) on the router's WAN link (router 198.51.100.1).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use netns_test::nft::{Hook, NatMode, Policy, Proto, Rule, Ruleset};
use netns_test::{netns_test, Net, Node, Topology};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};

const LAN1: &str = "192.168.1.2";
const SERVER: &str = "198.51.100.2";
const ROUTER_WAN: &str = "198.51.100.1";

fn lab() -> Topology {
    Topology::new()
        .router("router", |n| n)
        .bridge_with("lan", "192.168.1.0/24", |b| b.in_node("router"))
        .node("lan1", |n| n.on("lan"))
        .node("server", |n| n)
        .link("router", "server", "198.51.100.0/24")
}

/// The lab with IPv6 too: LAN fd00:1::/64, WAN fd00:2::/64.
fn lab6() -> Topology {
    Topology::new()
        .router("router", |n| n)
        .bridge_with("lan", "192.168.1.0/24", |b| {
            b.in_node("router").ipv6("fd00:1::/64")
        })
        .node("lan1", |n| n.on("lan"))
        .node("server", |n| n)
        .link_with("router", "server", "198.51.100.0/24", |l| {
            l.ipv6("fd00:2::/64")
        })
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// The router's interface on the WAN link.
fn wan_iface(net: &Net) -> String {
    net.node("router")
        .ifaces()
        .iter()
        .find(|i| i.addrs.iter().any(|a| a.addr().to_string() == ROUTER_WAN))
        .expect("router has a WAN interface")
        .name
        .clone()
}

/// A TCP server in `node` on `addr` that answers every connection with the peer address it
/// sees, then closes.
async fn tcp_peer_server(node: &Node, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = node
        .run(async move { TcpListener::bind(addr).await })
        .await?;
    node.spawn(async move {
        while let Ok((mut s, peer)) = listener.accept().await {
            let _ = s.write_all(peer.to_string().as_bytes()).await;
        }
    });
    Ok(())
}

/// A UDP server in `node` on `addr` that answers every datagram with the peer address.
async fn udp_peer_server(node: &Node, addr: SocketAddr) -> anyhow::Result<()> {
    let sock = node.run(async move { UdpSocket::bind(addr).await }).await?;
    node.spawn(async move {
        let mut buf = [0u8; 64];
        while let Ok((_, peer)) = sock.recv_from(&mut buf).await {
            let _ = sock.send_to(peer.to_string().as_bytes(), peer).await;
        }
    });
    Ok(())
}

/// From `node`, connects to `to` (from source port `sport` if given) and returns what the
/// server said: the peer address it saw.
async fn tcp_ask(
    node: &Node,
    to: SocketAddr,
    sport: Option<u16>,
    timeout: Duration,
) -> std::io::Result<SocketAddr> {
    node.run(async move {
        let s = if to.is_ipv6() {
            TcpSocket::new_v6()?
        } else {
            TcpSocket::new_v4()?
        };
        if let Some(p) = sport {
            s.set_reuseaddr(true)?;
            let any: SocketAddr = if to.is_ipv6() {
                format!("[::]:{p}")
            } else {
                format!("0.0.0.0:{p}")
            }
            .parse()
            .expect("addr");
            s.bind(any)?;
        }
        let mut c = tokio::time::timeout(timeout, s.connect(to))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        let mut text = String::new();
        tokio::time::timeout(timeout, c.read_to_string(&mut text))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        text.parse::<SocketAddr>()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    })
    .await
}

/// From `node`, sends a datagram to `to` and returns the peer address the server saw.
async fn udp_ask(node: &Node, to: SocketAddr, timeout: Duration) -> std::io::Result<SocketAddr> {
    node.run(async move {
        let s = UdpSocket::bind(if to.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }).await?;
        s.connect(to).await?;
        s.send(b"who am i").await?;
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(timeout, s.recv(&mut buf))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        String::from_utf8_lossy(&buf[..n])
            .parse::<SocketAddr>()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    })
    .await
}

async fn apply_in(node: &Node, rules: &Ruleset) -> anyhow::Result<()> {
    node.nft()
        .apply(rules)
        .await
        .with_context(|| format!("applying in {}:\n{rules}", node.name()))
}

const SHORT: Duration = Duration::from_millis(700);
const LONG: Duration = Duration::from_secs(5);

/// The kind of error `r` failed with, if it failed.
fn failed_with<T>(r: &std::io::Result<T>) -> Option<std::io::ErrorKind> {
    r.as_ref().err().map(|e| e.kind())
}

/// Nothing answered: the connection timed out (dropped, or answered where the answer
/// cannot come back), rather than being refused or failing before it was sent.
fn timed_out<T>(r: &std::io::Result<T>) -> bool {
    failed_with(r) == Some(std::io::ErrorKind::TimedOut)
}

/// `iptables -t nat -A POSTROUTING -s 192.168.1.0/24 ! -o lan -j MASQUERADE`: the server
/// sees the router's WAN address; without the rule (and without a route back) the LAN host
/// cannot reach it.
#[netns_test(topology = lab(), timeout = "30s")]
async fn masquerade_hides_the_lan_behind_the_router(net: Net) -> anyhow::Result<()> {
    let (router, lan1, server) = (net.node("router"), net.node("lan1"), net.node("server"));
    server.route().del("192.168.1.0/24").await?;
    ensure!(
        !server
            .route()
            .list()
            .await?
            .iter()
            .any(|r| r.dest.to_string() != "198.51.100.0/24" && r.dest.addr().is_ipv4()),
        "the server still has a way back to the LAN: {:?}",
        server.route().list().await?
    );
    tcp_peer_server(&server, sa("0.0.0.0:80")).await?;
    let to = sa(&format!("{SERVER}:80"));

    // The SYN gets to the server, whose answer has no way back: a timeout.
    let before = tcp_ask(&lan1, to, None, SHORT).await;
    ensure!(
        timed_out(&before),
        "lan1 -> server without NAT should time out: {before:?}"
    );

    apply_in(
        &router,
        &Ruleset::new().nat_masquerade("192.168.1.0/24", Some("lan")),
    )
    .await?;
    let seen = tcp_ask(&lan1, to, None, LONG).await?;
    ensure!(
        seen.ip().to_string() == ROUTER_WAN,
        "the server saw {seen}, not the router's WAN address"
    );

    let listing = router.nft().list().await?;
    println!("{listing}");
    ensure!(listing.contains(r#"ip saddr 192.168.1.0/24 oifname != "lan" counter masquerade"#));
    let masquerade = listing
        .lines()
        .find(|l| l.contains("counter masquerade"))
        .unwrap_or_default();
    ensure!(
        !masquerade.contains("packets 0 bytes 0"),
        "the counter did not count"
    );

    // Removing the table stops new connections again.
    router.nft().flush().await?;
    router.nft().flush_conntrack().await?;
    let after = tcp_ask(&lan1, to, None, SHORT).await;
    ensure!(
        timed_out(&after),
        "lan1 -> server after flush should time out: {after:?}"
    );
    Ok(())
}

/// The same over IPv6: `ip6 saddr fd00:1::/64 oifname != "lan" masquerade`.
#[netns_test(topology = lab6(), timeout = "30s")]
async fn masquerade_works_for_ipv6(net: Net) -> anyhow::Result<()> {
    let (router, lan1, server) = (net.node("router"), net.node("lan1"), net.node("server"));
    let router_wan6 = router
        .addrs()
        .map(|a| a.addr())
        .find(|a| a.to_string().starts_with("fd00:2::"))
        .context("router has no WAN IPv6 address")?;
    let server6 = server.ip6().context("server has no IPv6 address")?;
    tcp_peer_server(&server, sa("[::]:80")).await?;
    let to = SocketAddr::new(server6.into(), 80);
    // The server listens, and lan1 reaches it: the topology gives the server a route back
    // to the LAN over IPv6 as over IPv4 ...
    let lan1_6 = std::net::IpAddr::V6(lan1.ip6().context("lan1 has no IPv6 address")?);
    ensure!(tcp_ask(&lan1, to, None, LONG).await?.ip() == lan1_6);
    // ... and not without one.
    server.route().del("fd00:1::/64").await?;
    let routes = server.route().list().await?;
    ensure!(
        routes.iter().any(|r| r.dest.to_string() == "fd00:2::/64")
            && !routes.iter().any(|r| r.dest.contains(&lan1_6)),
        "the server still has a way back to the LAN: {routes:?}"
    );

    let before = tcp_ask(&lan1, to, None, SHORT).await;
    ensure!(
        timed_out(&before),
        "lan1 -> server without NAT should time out: {before:?}"
    );

    apply_in(
        &router,
        &Ruleset::new().nat_masquerade("fd00:1::/64", Some("lan")),
    )
    .await?;
    let seen = tcp_ask(&lan1, to, None, LONG).await?;
    ensure!(
        seen.ip() == router_wan6,
        "the server saw {seen}, not the router's WAN address {router_wan6}"
    );
    Ok(())
}

/// `docker run -p 8080:80`: TCP and UDP to router:8080 reach lan1:80, from the server
/// (prerouting) and from the router itself (output).
#[netns_test(topology = lab(), timeout = "30s")]
async fn published_port_reaches_the_lan_host(net: Net) -> anyhow::Result<()> {
    let (router, lan1, server) = (net.node("router"), net.node("lan1"), net.node("server"));
    tcp_peer_server(&lan1, sa("0.0.0.0:80")).await?;
    udp_peer_server(&lan1, sa("0.0.0.0:80")).await?;
    let published = sa(&format!("{ROUTER_WAN}:8080"));
    let target = sa(&format!("{LAN1}:80"));

    // lan1 listens on 80 (the server reaches it there directly); the router's own 8080,
    // not yet published, refuses.
    ensure!(tcp_ask(&server, target, None, LONG).await?.ip().to_string() == SERVER);
    let r = tcp_ask(&server, published, None, SHORT).await;
    ensure!(
        failed_with(&r) == Some(std::io::ErrorKind::ConnectionRefused),
        "router:8080 before publishing: {r:?}"
    );

    let rules =
        Ruleset::new()
            .dnat(Proto::Tcp, None, 8080, target)
            .dnat(Proto::Udp, None, 8080, target);
    apply_in(&router, &rules).await?;

    // From outside: lan1 sees the server's own address (no masquerade).
    let seen = tcp_ask(&server, published, None, LONG).await?;
    ensure!(seen.ip().to_string() == SERVER, "lan1 saw {seen} over TCP");
    let seen = udp_ask(&server, published, LONG).await?;
    ensure!(seen.ip().to_string() == SERVER, "lan1 saw {seen} over UDP");

    // From the router itself, to its WAN and its LAN address: the output hook.
    for addr in [ROUTER_WAN, "192.168.1.1"] {
        let to = sa(&format!("{addr}:8080"));
        let seen = tcp_ask(&router, to, None, LONG)
            .await
            .with_context(|| format!("router -> {to} over TCP"))?;
        ensure!(
            seen.ip().to_string() == addr,
            "lan1 saw {seen} for the router's connection to {to}"
        );
        udp_ask(&router, to, LONG)
            .await
            .with_context(|| format!("router -> {to} over UDP"))?;
    }

    // Only the published port is redirected: lan1 listens on 8081 too (the server reaches
    // it directly), and the router's 8081 refuses by itself.
    tcp_peer_server(&lan1, sa("0.0.0.0:8081")).await?;
    tcp_ask(&server, sa(&format!("{LAN1}:8081")), None, LONG).await?;
    let r = tcp_ask(&server, sa(&format!("{ROUTER_WAN}:8081")), None, SHORT).await;
    ensure!(
        failed_with(&r) == Some(std::io::ErrorKind::ConnectionRefused),
        "router:8081, not published: {r:?}"
    );

    let entries = router.nft().conntrack().await?;
    ensure!(
        entries
            .iter()
            .any(|e| e.is_dst_nat() && e.reply.src == target.ip() && e.reply.sport == 80),
        "no DNAT entry in {entries:#?}"
    );
    Ok(())
}

/// Binds `ports` in lan1 one after the other and returns (bound port, port the server saw).
async fn mapped_ports(
    lan1: &Node,
    to: SocketAddr,
    ports: impl Iterator<Item = u16>,
) -> anyhow::Result<Vec<(u16, u16)>> {
    let mut out = Vec::new();
    for p in ports {
        let seen = tcp_ask(lan1, to, Some(p), LONG)
            .await
            .with_context(|| format!("connecting from port {p}"))?;
        ensure!(seen.ip().to_string() == ROUTER_WAN, "not SNATed: {seen}");
        out.push((p, seen.port()));
    }
    Ok(out)
}

/// SNAT with `NatMode::PortPreserving` keeps the client's source port (endpoint-independent
/// mapping as the server sees it); `NatMode::Random` (fully-random) changes it.
#[netns_test(topology = lab(), timeout = "30s")]
async fn snat_port_preserving_versus_random(net: Net) -> anyhow::Result<()> {
    let (router, lan1, server) = (net.node("router"), net.node("lan1"), net.node("server"));
    server.route().del("192.168.1.0/24").await?;
    tcp_peer_server(&server, sa("0.0.0.0:80")).await?;
    let to = sa(&format!("{SERVER}:80"));
    let wan = wan_iface(&net);
    let to_ip = ROUTER_WAN.parse()?;

    apply_in(
        &router,
        &Ruleset::new().snat(
            "192.168.1.0/24",
            Some(&wan),
            to_ip,
            None,
            NatMode::PortPreserving,
        ),
    )
    .await?;
    let kept = mapped_ports(&lan1, to, 40001..=40005).await?;
    ensure!(
        kept.iter().all(|(bound, seen)| bound == seen),
        "port-preserving SNAT changed ports: {kept:?}"
    );

    // A port range that excludes the client's port forces a mapping into the range.
    apply_in(
        &router,
        &Ruleset::new().snat(
            "192.168.1.0/24",
            Some(&wan),
            to_ip,
            Some(20000..=20009),
            NatMode::PortPreserving,
        ),
    )
    .await?;
    let ranged = mapped_ports(&lan1, to, 40011..=40013).await?;
    ensure!(
        ranged
            .iter()
            .all(|(_, seen)| (20000..=20009).contains(seen)),
        "SNAT ignored the port range: {ranged:?}"
    );

    apply_in(
        &router,
        &Ruleset::new().snat("192.168.1.0/24", Some(&wan), to_ip, None, NatMode::Random),
    )
    .await?;
    let random = mapped_ports(&lan1, to, 40021..=40025).await?;
    // Each port has a 1/64512 chance to stay the same: allow one.
    let same = random.iter().filter(|(b, s)| b == s).count();
    ensure!(same <= 1, "fully-random SNAT kept ports: {random:?}");
    println!("port-preserving: {kept:?}\nranged: {ranged:?}\nrandom: {random:?}");
    Ok(())
}

/// `iptables -P FORWARD DROP` blocks lan1 -> server; accepting tcp dport 80 (and the
/// answers) lets only that through; changes made by the test while it runs take effect.
#[netns_test(topology = lab(), timeout = "40s")]
async fn forward_filter_drops_then_allows_port_80(net: Net) -> anyhow::Result<()> {
    let (router, lan1, server) = (net.node("router"), net.node("lan1"), net.node("server"));
    tcp_peer_server(&server, sa("0.0.0.0:80")).await?;
    tcp_peer_server(&server, sa("0.0.0.0:81")).await?;
    let p80 = sa(&format!("{SERVER}:80"));
    let p81 = sa(&format!("{SERVER}:81"));

    // Routed, no rules: both pass, the server sees lan1 itself.
    ensure!(tcp_ask(&lan1, p80, None, LONG).await?.ip().to_string() == LAN1);
    tcp_ask(&lan1, p81, None, LONG).await?;

    let mut rules = Ruleset::new().forward_policy(Policy::Drop);
    apply_in(&router, &rules).await?;
    let r = tcp_ask(&lan1, p80, None, SHORT).await;
    ensure!(timed_out(&r), "policy drop let port 80 through: {r:?}");

    rules = rules
        .filter(Hook::Forward, Rule::new().ct_established().accept())
        .filter(
            Hook::Forward,
            Rule::new().iif("lan").proto(Proto::Tcp).dport(80).accept(),
        );
    apply_in(&router, &rules).await?;
    tcp_ask(&lan1, p80, None, LONG)
        .await
        .context("port 80 with the accept rule")?;
    let r = tcp_ask(&lan1, p81, None, SHORT).await;
    ensure!(timed_out(&r), "port 81 should be dropped: {r:?}");

    // Reject instead of silently dropping: the client gets a reset at once.
    rules = rules.filter(
        Hook::Forward,
        Rule::new().proto(Proto::Tcp).dport(81).reject(),
    );
    apply_in(&router, &rules).await?;
    let start = Instant::now();
    let r = tcp_ask(&lan1, p81, None, LONG).await;
    ensure!(
        failed_with(&r) == Some(std::io::ErrorKind::ConnectionRefused),
        "expected a TCP reset for port 81, got {r:?}"
    );
    ensure!(
        start.elapsed() < Duration::from_secs(1),
        "the reject was slow"
    );

    // Rules from other sources: a filter on the server's own input.
    apply_in(
        &server,
        &Ruleset::new().filter(
            Hook::Input,
            Rule::new()
                .src("192.168.1.0/24")
                .proto(Proto::Tcp)
                .dport(80)
                .drop(),
        ),
    )
    .await?;
    let r = tcp_ask(&lan1, p80, None, SHORT).await;
    ensure!(
        timed_out(&r),
        "the server's input drop let port 80 in: {r:?}"
    );
    server.nft().flush().await?;
    tcp_ask(&lan1, p80, None, LONG).await?;

    let listing = router.nft().list().await?;
    println!("{listing}");
    ensure!(listing.contains("policy drop;"));

    // Back to an empty ruleset: everything passes again.
    apply_in(&router, &Ruleset::new()).await?;
    tcp_ask(&lan1, p81, None, LONG).await?;
    Ok(())
}

/// conntrack shows the masqueraded flow with both tuples; flushing empties the table.
#[netns_test(topology = lab(), timeout = "30s")]
async fn conntrack_lists_the_nated_flow_and_flushes(net: Net) -> anyhow::Result<()> {
    let (router, lan1, server) = (net.node("router"), net.node("lan1"), net.node("server"));
    server.route().del("192.168.1.0/24").await?;
    tcp_peer_server(&server, sa("0.0.0.0:80")).await?;
    apply_in(
        &router,
        &Ruleset::new().nat_masquerade("192.168.1.0/24", Some("lan")),
    )
    .await?;
    let to = sa(&format!("{SERVER}:80"));
    let seen = tcp_ask(&lan1, to, Some(40100), LONG).await?;

    let entries = router.nft().conntrack().await?;
    for e in &entries {
        println!("{e}");
    }
    let flow = entries
        .iter()
        .find(|e| e.proto == Proto::Tcp && e.orig.sport == 40100)
        .with_context(|| format!("no entry for the flow in {entries:#?}"))?;
    ensure!(flow.orig.src.to_string() == LAN1 && flow.orig.dst == to.ip());
    ensure!(flow.orig.dport == 80);
    ensure!(flow.reply.src == to.ip() && flow.reply.sport == 80);
    ensure!(flow.reply.dst.to_string() == ROUTER_WAN && flow.reply.dport == seen.port());
    ensure!(flow.is_src_nat() && !flow.is_dst_nat() && flow.seen_reply());
    ensure!(flow.tcp_state.is_some());

    router.nft().flush_conntrack().await?;
    // (Multicast reports of the router itself may be tracked again at any time.)
    let left = router.nft().conntrack().await?;
    ensure!(
        !left.iter().any(|e| e.proto == Proto::Tcp),
        "TCP entries left after flush: {left:#?}"
    );
    Ok(())
}

/// Invalid rules are refused before anything is sent, naming the rule.
#[netns_test(timeout = "10s")]
async fn invalid_rules_are_named(net: Net) -> anyhow::Result<()> {
    let host = net.host();
    let err = host
        .nft()
        .apply(&Ruleset::new().filter(Hook::Input, Rule::new().dport(80).accept()))
        .await
        .expect_err("a port without a protocol");
    let text = err.to_string();
    ensure!(text.contains("tcp") || text.contains("protocol"), "{text}");
    ensure!(text.contains("dport 80"), "{text}");

    let err = host
        .nft()
        .apply(&Ruleset::new().filter(
            Hook::Forward,
            Rule::new().src("10.0.0.0/8").dst("fd00::/8").accept(),
        ))
        .await
        .expect_err("mixed families");
    ensure!(err.to_string().contains("mixes IPv4 and IPv6"), "{err}");

    let err = host
        .nft()
        .apply(&Ruleset::new().filter(Hook::Input, Rule::new().src("10.0.0/8")))
        .await
        .expect_err("bad network");
    ensure!(err.to_string().contains("10.0.0/8"), "{err}");

    // Nothing was installed: no table of ours (the sandbox's own tables aside) ...
    let listing = host.nft().list().await?;
    ensure!(!listing.contains("table inet netns_test {"), "{listing}");
    // ... which the listing shows as soon as a valid rule is applied.
    host.nft()
        .apply(&Ruleset::new().filter(
            Hook::Input,
            Rule::new().proto(Proto::Tcp).dport(80).accept(),
        ))
        .await?;
    let listing = host.nft().list().await?;
    ensure!(listing.contains("table inet netns_test {"), "{listing}");
    Ok(())
}
