//! The topology engine, observed in the kernel: what the plan promises is what the nodes
//! see, through real tools and Rust sockets.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use netns_test::{netns_test, nft, presets, Net, Node, Topology};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

use common::sh;

/// `ping -c 1 -W 1 TARGET` in `node`: true on an echo reply (exit 0), false when the echo
/// went out and nothing answered (exit 1, 100% packet loss). Anything else panics: ping
/// missing, or exit 2 (it could not even send: an unknown name, a socket error) proves
/// nothing about the path, so it must not count as "unreachable".
fn pings(node: &Node, target: &str) -> bool {
    let out = node
        .command("ping")
        .args(["-c", "1", "-W", "1", target])
        .output()
        .unwrap_or_else(|e| panic!("ping in {}: {e}", node.name()));
    let text = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(0) => true,
        Some(1) if text.contains("1 packets transmitted, 0 received") => false,
        _ => panic!(
            "ping {target} in {} did not probe ({}): {text}{}",
            node.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Connects from `from` to `to` and exchanges a line; returns the peer address the server saw.
async fn tcp_exchange(from: &Node, to: &Node, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = to
        .run(async move { tokio::net::TcpListener::bind(addr).await })
        .await?;
    let server = to.spawn(async move {
        let (mut s, peer) = listener.accept().await?;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await?;
        s.write_all(b"pong\n").await?;
        Ok::<_, std::io::Error>(peer)
    });
    from.run(async move {
        let mut s =
            tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
                .await??;
        s.write_all(b"ping\n").await?;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"pong\n");
        Ok::<_, std::io::Error>(())
    })
    .await?;
    server.await.expect("server task")
}

#[netns_test(topology = presets::router_line(3))]
async fn a_line_of_routers_forwards_end_to_end(net: Net) -> std::io::Result<()> {
    let (left, right) = (net.node("left"), net.node("right"));
    let to = SocketAddr::new(right.ip(), 9000);
    let seen = tcp_exchange(&left, &right, to).await?;
    assert_eq!(seen.ip(), left.ip(), "no NAT on the way");
    // Three routers: TTL 64 arrives as 61.
    let out = sh(
        &left,
        "ping",
        &["-c", "1", "-W", "2", &right.ip().to_string()],
    );
    assert!(out.contains("ttl=61"), "{out}");
    Ok(())
}

#[netns_test(topology = presets::lan_wan(2))]
async fn lan_hosts_reach_the_wan_server_through_the_router(net: Net) -> std::io::Result<()> {
    let server = net.node("server");
    for lan in ["lan1", "lan2"] {
        let lan = net.node(lan);
        let seen = tcp_exchange(&lan, &server, "198.51.100.2:8080".parse().unwrap()).await?;
        assert_eq!(seen.ip(), lan.ip());
    }
    // The router holds the LAN bridge and forwards.
    let router = net.node("router");
    assert!(sh(&router, "ip", &["-br", "link", "show", "type", "bridge"]).contains("lan"));
    assert_eq!(
        sh(&router, "cat", &["/proc/sys/net/ipv4/ip_forward"]).trim(),
        "1"
    );
    assert_eq!(
        sh(&net.node("lan1"), "cat", &["/proc/sys/net/ipv4/ip_forward"]).trim(),
        "0"
    );
    Ok(())
}

#[netns_test(topology = Topology::new()
    .bridge_with("br0", "10.0.0.0/24", |b| b.ipv6("fd00:1::/64"))
    .node("a", |n| n.on("br0"))
    .node("b", |n| n.on("br0")))]
async fn dual_stack_nodes_talk_over_ipv6(net: Net) -> std::io::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    let b6 = b.ip6().expect("b has an IPv6 address");
    assert_eq!(b6.to_string(), "fd00:1::3");
    let seen = tcp_exchange(&a, &b, SocketAddr::new(IpAddr::V6(b6), 9000)).await?;
    assert_eq!(seen.ip(), IpAddr::V6(a.ip6().unwrap()));
    // Not tentative: no duplicate address detection delays the body.
    let addrs = sh(&a, "ip", &["-6", "addr", "show", "dev", "eth0"]);
    assert!(
        addrs.contains("fd00:1::2/64") && !addrs.contains("tentative"),
        "{addrs}"
    );
    let routes = sh(&a, "ip", &["-6", "route"]);
    assert!(
        routes.contains("default via fd00:1::1 dev eth0"),
        "{routes}"
    );
    Ok(())
}

#[netns_test(topology = presets::bridge_pair())]
fn node_names_resolve_inside_the_sandbox(net: Net) {
    let a = net.node("a");
    let hosts = sh(&a, "getent", &["hosts", "b"]);
    assert!(hosts.starts_with("10.0.0.3"), "{hosts}");
    assert!(pings(&a, "b"), "ping b by name");
    // Rust's resolver too, from a thread standing in the node.
    let resolved: Vec<SocketAddr> = a.run_blocking(|| {
        std::net::ToSocketAddrs::to_socket_addrs(&("b", 80))
            .expect("resolve")
            .collect()
    });
    assert_eq!(resolved[0].ip().to_string(), "10.0.0.3");
    // And the host (where the body runs) knows every node.
    let host_view: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&("a", 80))
        .expect("resolve")
        .collect();
    assert_eq!(host_view[0].ip().to_string(), "10.0.0.2");
}

#[netns_test(topology = presets::isolated())]
fn a_node_on_no_network_has_only_loopback(net: Net) {
    let a = net.node("a");
    let links = sh(&a, "ip", &["-o", "link"]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(
        links.contains("lo:") && links.contains("UP"),
        "lo is up: {links}"
    );
    assert!(pings(&a, "127.0.0.1"));
    assert!(sh(&a, "ip", &["route"]).trim().is_empty());
}

#[netns_test(topology = presets::docker_bridge(3))]
fn the_host_reaches_every_container_through_its_gateway(net: Net) {
    // The body runs in the host node, which holds docker0 172.17.0.1.
    for (i, name) in ["con1", "con2", "con3"].iter().enumerate() {
        let ip = format!("172.17.0.{}", i + 2);
        assert_eq!(net.node(name).ip().to_string(), ip);
        assert!(pings(&net.host(), &ip), "host -> {name}");
    }
    let br = sh(&net.host(), "ip", &["-br", "addr", "show", "docker0"]);
    assert!(br.contains("172.17.0.1/16"), "{br}");
}

#[netns_test(topology = presets::bridge_pair())]
async fn taking_a_link_down_cuts_the_node_off_and_up_restores_it(
    net: Net,
) -> netns_test::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    let b_ip = b.ip().to_string();
    assert!(pings(&a, &b_ip));
    b.link("eth0").down().await?;
    assert!(!pings(&a, &b_ip), "b is unreachable with its link down");
    b.link("eth0").up().await?;
    // Carrier comes back asynchronously; ping retries within its own deadline.
    let ok = a
        .command("ping")
        .args(["-c", "1", "-w", "5", &b_ip])
        .output()
        .expect("ping")
        .status
        .success();
    assert!(ok, "b is reachable again");
    Ok(())
}

#[netns_test(topology = presets::router_line(1))]
async fn routes_and_addresses_change_at_run_time(net: Net) -> netns_test::Result<()> {
    let left = net.node("left");
    // A new address on the right node, reachable only once left has a route to it.
    let right = net.node("right");
    right.addr("eth0").add("192.0.2.7/32").await?;
    let routes = left.route().list().await?;
    assert!(
        routes.iter().any(|r| r.dest.to_string() == "10.0.0.0/30"),
        "left's table is read (its link is there): {routes:?}"
    );
    assert!(
        !routes.iter().any(|r| r.dest.to_string() == "192.0.2.7/32"),
        "{routes:?}"
    );
    let r1 = net.node("r1");
    left.route()
        .add("192.0.2.0/24", r1.ip_on("left<->r1"))
        .await?;
    assert!(!pings(&left, "192.0.2.7"), "r1 has no route there yet");
    r1.route().add("192.0.2.7/32", right.ip()).await?;
    assert!(
        pings(&left, "192.0.2.7"),
        "through r1, which learned the route at run time"
    );
    r1.route().del("192.0.2.7/32").await?;
    assert!(!pings(&left, "192.0.2.7"));
    right.addr("eth0").del("192.0.2.7/32").await?;
    Ok(())
}

#[netns_test(topology = Topology::new()
    .node("a", |n| n)
    .node("b", |n| n)
    .link_with("a", "b", "10.20.0.0/31", |l| l.names("to-b", "to-a")))]
fn a_point_to_point_link_needs_no_bridge(net: Net) {
    let a = net.node("a");
    // `ip -d` prints each link's kind: a's end of the pair shows as a veth ...
    let links = sh(&a, "ip", &["-d", "-o", "link", "show"]);
    let to_b = links
        .lines()
        .find(|l| l.contains(": to-b@"))
        .unwrap_or_else(|| panic!("no to-b in:\n{links}"));
    assert!(to_b.contains(" veth "), "{to_b}");
    // ... and the host, which holds no bridge, shows none (nor a bridge port).
    let host_links = sh(&net.host(), "ip", &["-d", "-o", "link", "show"]);
    assert!(host_links.contains("1: lo: "), "{host_links}");
    assert!(!host_links.contains("bridge"), "{host_links}");
    assert_eq!(net.node("b").ip().to_string(), "10.20.0.1");
    assert!(pings(&a, "10.20.0.1"));
}

#[netns_test(topology = presets::bridge_pair())]
fn threads_and_multi_thread_runtimes_inside_a_node_stay_there(net: Net) {
    let b = net.node("b");
    // A std thread in the node, with a std socket.
    let listener =
        b.run_blocking(|| std::net::TcpListener::bind("10.0.0.3:7100").expect("bind in b"));
    const CONNECTS: usize = 8;
    // Accepts every connection, for at most 10 s.
    let t = b.spawn_thread(move || {
        listener.set_nonblocking(true)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut peers = Vec::new();
        while peers.len() < CONNECTS && Instant::now() < deadline {
            match listener.accept() {
                Ok((_, peer)) => peers.push(peer),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(peers)
    });
    // Many tasks of a's multi-thread runtime, each opening its own socket.
    let a = net.node("a");
    let results = a.block_on(async {
        let tasks: Vec<_> = (0..CONNECTS)
            .map(|_| {
                tokio::spawn(async {
                    let connect = tokio::net::TcpStream::connect("10.0.0.3:7100");
                    match tokio::time::timeout(Duration::from_secs(5), connect).await {
                        Ok(r) => r.map(|s| s.local_addr().expect("local address").ip()),
                        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
                    }
                    .map_err(|e| e.kind())
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    });
    // Every connection was made from a's address, and b accepted every one from there.
    assert_eq!(results, vec![Ok(a.ip()); CONNECTS]);
    let peers = t.join().expect("thread").expect("accept");
    assert_eq!(peers.len(), CONNECTS, "{peers:?}");
    for peer in &peers {
        assert_eq!(peer.ip(), a.ip(), "{peers:?}");
    }
}

/// `bridge_pair` where `b` runs a DNS server under test and so keeps port 53 free.
fn dns_server_pair() -> Topology {
    Topology::new()
        .bridge("br0", "10.0.0.0/24")
        .node("a", |n| n.on("br0"))
        .node("b", |n| n.on("br0").keep_port_53_free())
}

#[netns_test(topology = dns_server_pair())]
fn port_53_stays_free_for_a_dns_server_under_test(net: Net) {
    let b = net.node("b");
    // A DNS server under test binds the wildcard address on port 53 (without SO_REUSEADDR)
    // in the node that keeps the port free ...
    let server = b.run_blocking(|| {
        std::net::UdpSocket::bind("0.0.0.0:53").expect("port 53 is free in the node")
    });
    // ... and names still resolve through the sandbox's responder (127.0.0.11:53 is
    // redirected to it, as Docker does) ...
    let hosts = sh(&b, "getent", &["hosts", "a"]);
    assert!(hosts.starts_with("10.0.0.2"), "{hosts}");
    let listing = net.block_on(b.nft().list()).expect("nft list");
    assert!(
        listing.contains("ip daddr 127.0.0.11 udp dport 53 counter dnat ip to 127.0.0.11:53053"),
        "{listing}"
    );
    // ... while in a node that does not declare it, the name service holds the port.
    let taken = net
        .node("a")
        .run_blocking(|| std::net::UdpSocket::bind("0.0.0.0:53"))
        .expect_err("the name service holds 127.0.0.11:53 in a");
    assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse, "{taken}");
    // And it gets queries sent to it.
    let a = net.node("a");
    a.run_blocking(|| {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind");
        s.send_to(b"query", "10.0.0.3:53").expect("send");
    });
    let mut buf = [0u8; 16];
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let (n, _) = server.recv_from(&mut buf).expect("the query arrives");
    assert_eq!(&buf[..n], b"query");
}

/// Names need no netfilter: a topology without NAT, firewall or `keep_port_53_free` has no
/// nf_tables table in any node, so it runs on a kernel without nf_tables NAT.
#[netns_test(topology = presets::bridge_pair())]
fn names_resolve_in_nodes_without_any_nf_tables_table(net: Net) {
    for name in ["host", "a", "b"] {
        let node = net.node(name);
        let listing = net.block_on(node.nft().list()).expect("nft list");
        assert_eq!(
            listing, "# no nf_tables tables in this network namespace\n",
            "node {name}"
        );
        let hosts = sh(&node, "getent", &["hosts", "b"]);
        assert!(hosts.starts_with("10.0.0.3"), "node {name}: {hosts}");
        let ips: Vec<IpAddr> = node.run_blocking(|| {
            use std::net::ToSocketAddrs;
            ("a", 0)
                .to_socket_addrs()
                .expect("resolving a")
                .map(|a| a.ip())
                .collect()
        });
        assert_eq!(ips, [net.node("a").ip()], "node {name}");
    }
    // The sandbox's own UDP echo (SO_REUSEADDR) serves port 53 next to the name service.
    let (a, b) = (net.node("a"), net.node("b"));
    let echo = b.udp_echo(53).expect("udp echo on port 53");
    net.block_on(a.assert_reaches("b", netns_test::reach::Probe::Udp(53)));
    assert!(echo.echoed() >= 1, "b echoed {}", echo.echoed());
    let hosts = sh(&b, "getent", &["hosts", "a"]);
    assert!(hosts.starts_with("10.0.0.2"), "{hosts}");
    // The listing does see a table once there is one.
    net.block_on(
        a.nft()
            .apply(&nft::Ruleset::new().filter(nft::Hook::Input, nft::Rule::new())),
    )
    .expect("apply");
    let listing = net.block_on(a.nft().list()).expect("nft list");
    assert!(listing.contains("table inet netns_test {"), "{listing}");
}
