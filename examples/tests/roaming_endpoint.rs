//! A client moves from its home router to a mobile router in the middle of a TCP
//! connection, as a phone leaving the house switches from Wi-Fi to cellular:
//! `node.replug("eth0", "mobile")` gives its `eth0` a new veth pair on the mobile router's
//! LAN, an address from that LAN's pool and the default route via that router; the old
//! address is gone.
//!
//! What happens to the connection is what happens on a real phone: the socket is bound to
//! an address the client no longer has, so nothing it sends leaves and nothing sent to it
//! arrives. The connection neither closes nor errors at once: it goes silent until TCP
//! gives up (minutes). This client decides that an answer missing for 2 s means the path is
//! gone, and reconnects; the server sees the new connection come from the mobile router's
//! public address.
//!
//! By hand, the move is `ip link del eth0; ip link add eth0 type veth peer name P netns
//! MOBILE_ROUTER; ip link set P master mobile up; ip addr add 100.64.0.2/24 dev eth0; ip
//! link set eth0 up; ip route add default via 100.64.0.1` (and the client's own
//! `ip netns exec` to run them in).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use netns_test::{netns_test, Net, Topology};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A server on the internet; a home router and a mobile router, each masquerading its LAN
/// behind its own public address; the client at home.
fn home_and_mobile() -> Topology {
    Topology::new()
        .bridge_with("internet", "203.0.113.0/24", |b| b.no_gateway())
        .bridge_with("home", "192.168.1.0/24", |b| {
            b.in_node("home_router").masquerade()
        })
        .bridge_with("mobile", "100.64.0.0/24", |b| {
            b.in_node("mobile_router").masquerade()
        })
        .router("home_router", |n| n.on("internet"))
        .router("mobile_router", |n| n.on("internet"))
        .node("server", |n| n.on("internet"))
        .node("client", |n| n.on("home"))
}

/// Sends a line and waits up to 2 s for its echo: `Ok(None)` when none came.
async fn echo(conn: &mut BufReader<TcpStream>, line: &str) -> std::io::Result<Option<String>> {
    conn.get_mut()
        .write_all(format!("{line}\n").as_bytes())
        .await?;
    let mut reply = String::new();
    match tokio::time::timeout(Duration::from_secs(2), conn.read_line(&mut reply)).await {
        Err(_silent) => Ok(None),
        Ok(Ok(0)) => Err(std::io::ErrorKind::ConnectionReset.into()),
        Ok(read) => read.map(|_| Some(reply.trim_end().to_string())),
    }
}

#[netns_test(topology = home_and_mobile())]
async fn a_client_that_roams_reconnects_from_its_new_address(net: Net) -> anyhow::Result<()> {
    let (server, client) = (net.node("server"), net.node("client"));
    let home_public = net.node("home_router").ip_on("internet");
    let mobile_public = net.node("mobile_router").ip_on("internet");

    // An echo server that reports where each connection comes from.
    let listener = server
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:7000").await })
        .await?;
    let (peers, mut seen) = tokio::sync::mpsc::unbounded_channel::<SocketAddr>();
    server.spawn(async move {
        while let Ok((conn, peer)) = listener.accept().await {
            let _ = peers.send(peer);
            tokio::spawn(async move {
                let (rx, mut tx) = conn.into_split();
                let mut lines = BufReader::new(rx).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if tx.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let to = SocketAddr::new(server.ip(), 7000);

    // At home: the server sees the home router's public address.
    let mut conn = client
        .run(async move { TcpStream::connect(to).await.map(BufReader::new) })
        .await?;
    assert_eq!(
        echo(&mut conn, "from home").await?.as_deref(),
        Some("from home")
    );
    assert_eq!(seen.recv().await.map(|p| p.ip()), Some(home_public));
    let home_ip = client.ip();

    // Leaving the house.
    let eth0 = client.replug("eth0", "mobile").await?;
    let mobile_ip = eth0.addrs[0].addr();
    assert!(
        matches!(mobile_ip, IpAddr::V4(v4) if v4.octets()[..3] == [100, 64, 0]),
        "{mobile_ip} is on the mobile LAN"
    );
    assert_eq!(client.ip(), mobile_ip);
    assert_ne!(mobile_ip, home_ip);

    // The old connection goes silent: its address is gone.
    match echo(&mut conn, "still there?").await {
        Ok(None) => println!("the old connection went silent"),
        Err(e) => println!("the old connection failed: {e}"),
        Ok(Some(reply)) => panic!("the old connection answered {reply:?} after the move"),
    }

    // The client's code decides: reconnect, from the new address.
    let mut conn = client
        .run(async move { TcpStream::connect(to).await.map(BufReader::new) })
        .await?;
    assert_eq!(
        echo(&mut conn, "from the road").await?.as_deref(),
        Some("from the road")
    );
    assert_eq!(seen.recv().await.map(|p| p.ip()), Some(mobile_public));
    assert_ne!(home_public, mobile_public);
    Ok(())
}
