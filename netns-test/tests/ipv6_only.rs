//! IPv6-only networks: addresses, default routes, routers, names, masquerade, all without
//! a single IPv4 address on the networks' interfaces.
//!
//! The lab: `a` and `b` on the IPv6-only bridge `lan6` (fd00:6::/64) inside `router`
//! (fd00:6::1), `server` on the router's IPv6-only WAN link (router fd00:9::1, server
//! fd00:9::2), and `c` alone on another IPv6-only bridge of the host, `other6`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{ensure, Context};
use netns_test::reach::Probe;
use netns_test::{netns_test, Net, Node, Topology};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SERVER: &str = "[fd00:9::2]:7000";

fn lab(masquerade: bool) -> Topology {
    Topology::new()
        .router("router", |n| n)
        .bridge_with("lan6", "fd00:6::/64", |b| {
            let b = b.in_node("router");
            if masquerade {
                b.masquerade()
            } else {
                b
            }
        })
        .node("a", |n| n.on("lan6"))
        .node("b", |n| n.on("lan6"))
        .node("server", |n| n)
        .link("router", "server", "fd00:9::/64")
        .bridge("other6", "fd00:7::/64")
        .node("c", |n| n.on("other6"))
}

fn routed_lab() -> Topology {
    lab(false)
}

fn masqueraded_lab() -> Topology {
    lab(true)
}

/// A TCP server in `node` on `addr` that answers every connection with the peer address
/// it sees, then closes.
async fn peer_server(node: &Node, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = node
        .run(async move { TcpListener::bind(addr).await })
        .await?;
    node.spawn(async move {
        while let Ok((mut s, peer)) = listener.accept().await {
            let _ = s.write_all(peer.ip().to_string().as_bytes()).await;
        }
    });
    Ok(())
}

/// From `node`, connects to `to` and returns the peer address the server saw.
async fn ask(node: &Node, to: SocketAddr) -> std::io::Result<String> {
    node.run(async move {
        let wait = Duration::from_secs(2);
        let mut c = tokio::time::timeout(wait, TcpStream::connect(to))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        let mut text = String::new();
        tokio::time::timeout(wait, c.read_to_string(&mut text))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        Ok(text)
    })
    .await
}

/// What `name` resolves to in `node`, through `getaddrinfo`.
async fn resolve(node: &Node, name: &'static str) -> anyhow::Result<Vec<IpAddr>> {
    let addrs = node
        .run_blocking(|| std::net::ToSocketAddrs::to_socket_addrs(&(name, 0)))
        .with_context(|| format!("resolving {name} in {}", node.name()))?;
    Ok(addrs.map(|a| a.ip()).collect())
}

#[netns_test(topology = routed_lab(), timeout = "30s")]
async fn ipv6_only_nodes_reach_each_other_and_a_server_behind_the_router(
    net: Net,
) -> anyhow::Result<()> {
    let (a, b, c, server) = (
        net.node("a"),
        net.node("b"),
        net.node("c"),
        net.node("server"),
    );
    for node in [&a, &b, &server] {
        let v4: Vec<_> = node
            .ifaces()
            .iter()
            .flat_map(|i| i.addrs.clone())
            .filter(|n| n.addr().is_ipv4())
            .collect();
        ensure!(v4.is_empty(), "{} has IPv4 addresses {v4:?}", node.name());
    }
    peer_server(&server, SERVER.parse()?).await?;
    peer_server(&b, "[::]:7000".parse()?).await?;
    // Routed, not NATed: the server sees a's own address.
    let seen = ask(&a, SERVER.parse()?).await.context("a to the server")?;
    ensure!(seen == "fd00:6::2", "the server saw {seen}");
    let seen = ask(&a, "[fd00:6::3]:7000".parse()?)
        .await
        .context("a to b")?;
    ensure!(seen == "fd00:6::2", "b saw {seen}");
    // Names answer AAAA only.
    ensure!(
        resolve(&a, "server").await? == ["fd00:9::2".parse::<IpAddr>()?],
        "server resolves to {:?}",
        resolve(&a, "server").await?
    );
    // Reach probes pick the IPv6 address of an IPv6-only node.
    a.assert_reaches(&server, Probe::Icmp).await;
    a.assert_reaches("b", Probe::Tcp(7000)).await;
    c.assert_cannot_reach(&server, Probe::Icmp).await;
    // The summary names the IPv6 addresses and routes.
    let summary = net.summary();
    ensure!(
        summary.contains("fd00:6::2/64") && summary.contains("fd00:9::1"),
        "{summary}"
    );
    // Negative controls: c's network is not routed to the server, and a has no IPv4.
    let refused = ask(&c, SERVER.parse()?).await;
    ensure!(refused.is_err(), "c reached the server: {refused:?}");
    let v4 = ask(&a, "198.51.100.2:7000".parse()?).await;
    ensure!(v4.is_err(), "a reached an IPv4 address: {v4:?}");
    Ok(())
}

/// `masquerade()` on an IPv6-only bridge: `ip6 saddr fd00:6::/64 oifname != "lan6"
/// masquerade`, so the server sees the router's WAN address, and has no route back to
/// the LAN itself.
#[netns_test(topology = masqueraded_lab(), timeout = "30s")]
async fn ipv6_masquerade_shows_the_routers_address(net: Net) -> anyhow::Result<()> {
    let (a, server) = (net.node("a"), net.node("server"));
    peer_server(&server, SERVER.parse()?).await?;
    let seen = ask(&a, SERVER.parse()?).await.context("a to the server")?;
    ensure!(seen == "fd00:9::1", "the server saw {seen}, not the router");
    // Control: the LAN is hidden, the server cannot open a connection to a.
    peer_server(&a, "[::]:7000".parse()?).await?;
    let back = ask(&server, "[fd00:6::2]:7000".parse()?).await;
    ensure!(
        back.is_err(),
        "the server reached the masqueraded LAN: {back:?}"
    );
    Ok(())
}

/// NAT64 + DNS64: `a` on the IPv6-only `lan6` of `router`, which declares NAT64 with the
/// well-known prefix; `server4` (198.51.100.2) is IPv4-only on the router's WAN link;
/// `dual` (203.0.113.2, fd00:8::2) has both families.
fn nat64_lab() -> Topology {
    Topology::new()
        .router("router", |n| {
            n.nat64(netns_test::topology::Nat64::default())
        })
        .bridge_with("lan6", "fd00:6::/64", |b| b.in_node("router"))
        .node("a", |n| n.on("lan6"))
        .node("server4", |n| n)
        .link("router", "server4", "198.51.100.0/24")
        .node("dual", |n| n)
        .link_with("router", "dual", "203.0.113.0/24", |l| {
            l.ipv6("fd00:8::/64")
        })
}

/// The well-known prefix with 198.51.100.2 embedded.
const SERVER4_64: &str = "[64:ff9b::c633:6402]:7000";

#[netns_test(topology = nat64_lab(), timeout = "30s")]
async fn nat64_reaches_an_ipv4_server_by_literal_address(net: Net) -> anyhow::Result<()> {
    let (a, server) = (net.node("a"), net.node("server4"));
    peer_server(&server, "198.51.100.2:7000".parse()?).await?;
    let seen = ask(&a, SERVER4_64.parse()?)
        .await
        .context("a through NAT64")?;
    ensure!(
        seen == "198.51.100.1",
        "the server saw {seen}, not the router's IPv4 address"
    );
    // Negative controls: outside the prefix nothing is translated, and a closed IPv4 port
    // fails the IPv6 connection.
    let outside = ask(&a, "[64:ff9c::c633:6402]:7000".parse()?).await;
    ensure!(
        outside.is_err(),
        "an address outside the prefix answered: {outside:?}"
    );
    let closed = ask(&a, "[64:ff9b::c633:6402]:7001".parse()?).await;
    ensure!(closed.is_err(), "a closed IPv4 port answered: {closed:?}");
    Ok(())
}

#[netns_test(topology = nat64_lab(), timeout = "30s")]
async fn nat64_translates_udp(net: Net) -> anyhow::Result<()> {
    let (a, server) = (net.node("a"), net.node("server4"));
    let sock = server
        .run(async { tokio::net::UdpSocket::bind("198.51.100.2:7000").await })
        .await?;
    server.spawn(async move {
        let mut buf = [0u8; 64];
        while let Ok((_, peer)) = sock.recv_from(&mut buf).await {
            let _ = sock.send_to(peer.ip().to_string().as_bytes(), peer).await;
        }
    });
    let ask_udp = |to: &'static str| {
        a.run(async move {
            let s = tokio::net::UdpSocket::bind("[::]:0").await?;
            s.connect(to).await?;
            let mut buf = [0u8; 64];
            // Two datagrams: the first is looked up in conntrack, the second is known.
            let mut seen = Vec::new();
            for _ in 0..2 {
                s.send(b"who am i").await?;
                let n = tokio::time::timeout(Duration::from_secs(2), s.recv(&mut buf))
                    .await
                    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            std::io::Result::Ok(seen)
        })
    };
    let seen = ask_udp(SERVER4_64).await.context("UDP through NAT64")?;
    ensure!(
        seen == ["198.51.100.1", "198.51.100.1"],
        "the server saw {seen:?}"
    );
    // Control: nothing answers outside the prefix.
    let outside = ask_udp("[64:ff9c::c633:6402]:7000").await;
    ensure!(
        outside.is_err(),
        "an address outside the prefix answered: {outside:?}"
    );
    Ok(())
}

/// `getent ahosts NAME` in `node`: the addresses, in glibc's order.
fn getent(node: &Node, name: &str) -> anyhow::Result<Vec<String>> {
    let out = node.command("getent").args(["ahosts", name]).output()?;
    ensure!(
        out.status.success(),
        "getent ahosts {name} in {}: {out:?}",
        node.name()
    );
    let mut addrs: Vec<String> = String::from_utf8(out.stdout)?
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    addrs.dedup();
    Ok(addrs)
}

#[netns_test(topology = nat64_lab(), timeout = "30s")]
async fn dns64_synthesizes_aaaa_only_for_names_without_one(net: Net) -> anyhow::Result<()> {
    let (a, router) = (net.node("a"), net.node("router"));
    let server4 = getent(&a, "server4")?;
    ensure!(
        server4.contains(&"64:ff9b::c633:6402".to_string()),
        "server4 resolves in a to {server4:?}"
    );
    // dual has an AAAA record of its own: that one, and nothing synthesized.
    let dual = getent(&a, "dual")?;
    ensure!(dual.contains(&"fd00:8::2".to_string()), "dual: {dual:?}");
    ensure!(
        !dual.iter().any(|ip| ip.starts_with("64:ff9b")),
        "dual: {dual:?}"
    );
    // Control: a node off the NAT64 LAN gets no synthesized address.
    let plain = getent(&router, "server4")?;
    ensure!(
        plain == ["198.51.100.2"],
        "server4 resolves in the router to {plain:?}"
    );
    // By name from Rust code in the node, through the translator.
    peer_server(&net.node("server4"), "198.51.100.2:7000".parse()?).await?;
    let to = resolve(&a, "server4")
        .await?
        .into_iter()
        .find(IpAddr::is_ipv6)
        .context("no AAAA for server4")?;
    let seen = ask(&a, SocketAddr::new(to, 7000))
        .await
        .context("a to server4 by name")?;
    ensure!(seen == "198.51.100.1", "the server saw {seen}");
    Ok(())
}

/// What the userspace translator costs: round trips and a bulk transfer through it,
/// against the same from the router straight to the server. Prints the figures (no timed
/// assertion; the data must arrive intact):
/// `cargo test -p netns-test --test ipv6_only -- nat64_cost --nocapture`.
#[netns_test(topology = nat64_lab(), timeout = "60s")]
async fn nat64_cost(net: Net) -> anyhow::Result<()> {
    let server = net.node("server4");
    let listener = server
        .run(async { TcpListener::bind("198.51.100.2:7100").await })
        .await?;
    server.spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let mut lines = Vec::new();
    for (who, to) in [
        ("router -> 198.51.100.2 (direct)", "198.51.100.2:7100"),
        (
            "a -> 64:ff9b::198.51.100.2 (NAT64)",
            "[64:ff9b::c633:6402]:7100",
        ),
    ] {
        let node = if who.starts_with("router") {
            net.node("router")
        } else {
            net.node("a")
        };
        let to: SocketAddr = to.parse()?;
        let (rtt, mbps) = node
            .run(async move {
                let mut c = TcpStream::connect(to).await?;
                c.set_nodelay(true)?;
                let mut buf = [0u8; 1];
                let start = std::time::Instant::now();
                for _ in 0..500 {
                    c.write_all(b"x").await?;
                    c.read_exact(&mut buf).await?;
                }
                let rtt = start.elapsed() / 500;
                let (mut r, mut w) = c.into_split();
                const TOTAL: usize = 64 << 20;
                let reader = tokio::spawn(async move {
                    let mut got = 0usize;
                    let mut chunk = vec![0u8; 1 << 16];
                    while got < TOTAL {
                        let n = r.read(&mut chunk).await?;
                        anyhow::ensure!(n > 0, "closed after {got} bytes");
                        anyhow::ensure!(chunk[..n].iter().all(|&b| b == 7), "corrupted");
                        got += n;
                    }
                    anyhow::Ok(())
                });
                let start = std::time::Instant::now();
                let chunk = vec![7u8; 1 << 16];
                for _ in 0..TOTAL / chunk.len() {
                    w.write_all(&chunk).await?;
                }
                reader.await??;
                let mbps = (TOTAL * 8) as f64 / start.elapsed().as_secs_f64() / 1e6;
                anyhow::Ok((rtt, mbps))
            })
            .await?;
        lines.push(format!(
            "{who}: round trip {rtt:?}, echo throughput {mbps:.0} Mbit/s"
        ));
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// The routed lab with NPTv6 on `lan6`: fd00:6::/64 is fd00:99::/64 outside the router.
fn nptv6_lab() -> Topology {
    Topology::new()
        .router("router", |n| n)
        .bridge_with("lan6", "fd00:6::/64", |b| {
            b.in_node("router").nptv6("fd00:99::/64")
        })
        .node("a", |n| n.on("lan6"))
        .node("b", |n| n.on("lan6"))
        .node("server", |n| n)
        .link("router", "server", "fd00:9::/64")
}

/// NPTv6: the server sees a's host bits in the outside prefix, reaches b at its outside
/// address, and cannot reach the inside prefix at all.
#[netns_test(topology = nptv6_lab(), timeout = "30s")]
async fn nptv6_swaps_the_prefix_both_ways(net: Net) -> anyhow::Result<()> {
    let (a, b, server) = (net.node("a"), net.node("b"), net.node("server"));
    peer_server(&server, SERVER.parse()?).await?;
    let seen = ask(&a, SERVER.parse()?).await.context("a to the server")?;
    ensure!(
        seen == "fd00:99::2",
        "the server saw {seen}, not a's outside address"
    );
    peer_server(&b, "[::]:7000".parse()?).await?;
    let seen = ask(&server, "[fd00:99::3]:7000".parse()?)
        .await
        .context("the server to b's outside address")?;
    ensure!(seen == "fd00:9::2", "b saw {seen}");
    // Control: the inside prefix is not routed outside.
    let inside = ask(&server, "[fd00:6::3]:7000".parse()?).await;
    ensure!(
        inside.is_err(),
        "the server reached the inside prefix: {inside:?}"
    );
    // The kernel's rules read back as written.
    let rules = net.node("router").nft().list().await?;
    ensure!(
        rules.contains("snat ip6 prefix to fd00:99::/64")
            && rules.contains("dnat ip6 prefix to fd00:6::/64"),
        "{rules}"
    );
    Ok(())
}
