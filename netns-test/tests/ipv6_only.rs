//! IPv6-only networks: addresses, default routes, routers, names, masquerade, all without
//! a single IPv4 address on the networks' interfaces.
//!
//! The lab: `a` and `b` on the IPv6-only bridge `lan6` (fd00:6::/64) inside `router`
//! (fd00:6::1), `server` on the router's IPv6-only WAN link (router fd00:9::1, server
//! fd00:9::2), and `c` alone on another IPv6-only bridge of the host, `other6`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{ensure, Context};
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
    let seen = ask(&a, "[fd00:6::3]:7000".parse()?).await.context("a to b")?;
    ensure!(seen == "fd00:6::2", "b saw {seen}");
    // Names answer AAAA only.
    ensure!(
        resolve(&a, "server").await? == ["fd00:9::2".parse::<IpAddr>()?],
        "server resolves to {:?}",
        resolve(&a, "server").await?
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
    ensure!(back.is_err(), "the server reached the masqueraded LAN: {back:?}");
    Ok(())
}
