//! Two QUIC peers (quinn) behind two NAT routers: they meet at a rendezvous server,
//! punch a hole and connect directly; where the NATs make that impossible, they fall back
//! to a relay on the public side.
//!
//! ```text
//!                internet 198.51.100.0/24 (a bridge, no gateway)
//!   ┌──────────────┬──────────────┬─────────────────────┬─────────────────────┐
//!   rendezvous .10 relay .20      router_a wan .1       router_b wan .2
//!   UDP 3478       UDP 3479       │ lan_a 192.168.1.0/24 │ lan_b 192.168.2.0/24
//!                                 alice                 bob
//! ```
//!
//! | routers | what the classifier says | direct QUIC | through the relay |
//! | --- | --- | --- | --- |
//! | home (`masquerade()`) | endpoint-independent mapping, address- and port-dependent filtering | connects | (not needed) |
//! | symmetric (`snat(.., NatMode::Random)`) | address- and port-dependent mapping | times out | connects |
//!
//! Each peer binds one UDP socket and uses it for everything: it registers with the
//! rendezvous server (which answers with the public endpoint it saw), looks up the other
//! peer's, and sends it a few plain datagrams ("punches") until one from the other comes
//! in: each punch opens the peer's own NAT for the other's endpoint. Then the socket
//! becomes a quinn endpoint; alice dials bob's public endpoint, bob accepts. Behind
//! symmetric NATs the endpoint the server saw is not the one a peer uses towards the
//! other, so nothing gets through; the peers then join a session at the relay, which
//! forwards every datagram of one peer to the other, and QUIC runs through it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use netns_test::nft::NatMode;
use netns_test::reach::{Filtering, Mapping, NatBehaviour};
use netns_test::{netns_test, Net, Node, Topology};
use quinn::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use quinn::{ClientConfig, Endpoint, EndpointConfig, ServerConfig, TokioRuntime};
use tokio::net::UdpSocket;
use tokio::time::{timeout, Instant};

const RENDEZVOUS: &str = "198.51.100.10:3478";
const RELAY: &str = "198.51.100.20:3479";
/// How long a peer punches before it gives up waiting for the other's punches.
const PUNCH_FOR: Duration = Duration::from_millis(500);
/// How long a QUIC handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy)]
enum Router {
    /// A home router: `masquerade()`, a port-restricted cone.
    Home,
    /// A symmetric NAT: a new random port per destination.
    Symmetric,
}

fn router(t: Topology, name: &str, lan: &str, subnet: &str, wan: &str, kind: Router) -> Topology {
    let wan_ip: IpAddr = wan.parse().expect("address");
    t.bridge_with(lan, subnet, |b| b.in_node(name).masquerade())
        .router(name, |n| {
            let n = n.on_with("internet", |i| i.name("wan").ip(wan));
            match kind {
                Router::Home => n,
                // Comes before masquerade()'s rule, and decides the mapping.
                Router::Symmetric => n.firewall(|r| {
                    r.snat(
                        subnet,
                        Some("wan"),
                        wan_ip,
                        Some(1024..=65535),
                        NatMode::Random,
                    )
                }),
            }
        })
}

fn two_routers(kind: Router) -> Topology {
    let t = Topology::new()
        .bridge_with("internet", "198.51.100.0/24", |b| b.no_gateway())
        .node("rendezvous", |n| n.on_ip("internet", "198.51.100.10"))
        .node("relay", |n| n.on_ip("internet", "198.51.100.20"));
    let t = router(
        t,
        "router_a",
        "lan_a",
        "192.168.1.0/24",
        "198.51.100.1",
        kind,
    );
    let t = router(
        t,
        "router_b",
        "lan_b",
        "192.168.2.0/24",
        "198.51.100.2",
        kind,
    );
    t.node("alice", |n| n.on("lan_a"))
        .node("bob", |n| n.on("lan_b"))
}

// ---------------------------------------------------------------------------------------
// The public side: a rendezvous server and a relay

/// `REGISTER name` -> `SEEN ip:port` (the endpoint it saw); `LOOKUP name` -> `PEER
/// ip:port`, or `UNKNOWN`.
async fn rendezvous(node: &Node) -> anyhow::Result<()> {
    let sock = node.run(UdpSocket::bind(RENDEZVOUS)).await?;
    node.spawn(async move {
        let mut seen: HashMap<String, SocketAddr> = HashMap::new();
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            let reply = match msg.split_once(' ') {
                Some(("REGISTER", name)) => {
                    seen.insert(name.to_string(), from);
                    format!("SEEN {from}")
                }
                Some(("LOOKUP", name)) => seen
                    .get(name)
                    .map_or("UNKNOWN".to_string(), |a| format!("PEER {a}")),
                _ => continue,
            };
            let _ = sock.send_to(reply.as_bytes(), from).await;
        }
    });
    Ok(())
}

/// `JOIN session` from two endpoints -> `READY` to both; from then on, every other
/// datagram from one of them goes to the other (a TURN server's job, without the
/// protocol).
async fn relay(node: &Node) -> anyhow::Result<()> {
    let sock = node.run(UdpSocket::bind(RELAY)).await?;
    node.spawn(async move {
        let mut sessions: HashMap<String, Vec<SocketAddr>> = HashMap::new();
        let mut other: HashMap<SocketAddr, SocketAddr> = HashMap::new();
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            if let Some(session) = buf[..n].strip_prefix(b"JOIN ") {
                let members = sessions
                    .entry(String::from_utf8_lossy(session).into_owned())
                    .or_default();
                if !members.contains(&from) && members.len() < 2 {
                    members.push(from);
                }
                if let [a, b] = members[..] {
                    other.insert(a, b);
                    other.insert(b, a);
                    for to in [a, b] {
                        let _ = sock.send_to(b"READY", to).await;
                    }
                }
            } else if let Some(to) = other.get(&from) {
                let _ = sock.send_to(&buf[..n], *to).await;
            }
        }
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------
// A peer

/// Sends `msg` to `to` until an answer starting with `prefix` comes from there (every
/// 50 ms, for at most 2 s); the rest of the answer.
async fn ask(sock: &UdpSocket, to: SocketAddr, msg: &str, prefix: &str) -> anyhow::Result<String> {
    let mut buf = [0u8; 512];
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        sock.send_to(msg.as_bytes(), to).await?;
        if let Ok(Ok((n, from))) =
            timeout(Duration::from_millis(50), sock.recv_from(&mut buf)).await
        {
            let text = String::from_utf8_lossy(&buf[..n]);
            if let (true, Some(rest)) = (from == to, text.strip_prefix(prefix)) {
                return Ok(rest.to_string());
            }
        }
    }
    anyhow::bail!("no {prefix:?} from {to} to {msg:?}")
}

/// Registers `name` and looks `peer` up; both public endpoints (this peer's, the other's).
async fn meet(
    sock: &UdpSocket,
    name: &str,
    peer: &str,
) -> anyhow::Result<(SocketAddr, SocketAddr)> {
    let server: SocketAddr = RENDEZVOUS.parse()?;
    let mine = ask(sock, server, &format!("REGISTER {name}"), "SEEN ").await?;
    // The other peer may not have registered yet.
    let theirs = ask(sock, server, &format!("LOOKUP {peer}"), "PEER ").await?;
    Ok((mine.parse()?, theirs.parse()?))
}

/// Punches `to` every 10 ms until a punch from there has come in (and two more of ours
/// have left), or for [`PUNCH_FOR`]; whether one came.
async fn punch(sock: &UdpSocket, to: SocketAddr) -> anyhow::Result<bool> {
    let (mut buf, start, mut after) = ([0u8; 64], Instant::now(), 0);
    let mut got = false;
    while start.elapsed() < PUNCH_FOR && after < 3 {
        sock.send_to(b"punch", to).await?;
        if let Ok(Ok((n, from))) =
            timeout(Duration::from_millis(10), sock.recv_from(&mut buf)).await
        {
            got |= from == to && &buf[..n] == b"punch";
        }
        after += usize::from(got);
    }
    Ok(got)
}

/// The same certificate for both peers (a real application pins the peer's key, learned
/// through the rendezvous).
struct Tls {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

impl Tls {
    fn new() -> anyhow::Result<Tls> {
        let ck = rcgen::generate_simple_self_signed(vec!["peer".to_string()])?;
        Ok(Tls {
            cert: ck.cert.der().clone(),
            key: ck.key_pair.serialize_der(),
        })
    }

    /// A quinn endpoint on `sock` that both dials and accepts. Call it inside the node
    /// (its driver runs on the node's runtime).
    fn endpoint(&self, sock: UdpSocket) -> anyhow::Result<Endpoint> {
        let key = PrivatePkcs8KeyDer::from(self.key.clone());
        let server = ServerConfig::with_single_cert(vec![self.cert.clone()], key.into())?;
        let mut roots = quinn::rustls::RootCertStore::empty();
        roots.add(self.cert.clone())?;
        let mut endpoint = Endpoint::new(
            EndpointConfig::default(),
            Some(server),
            sock.into_std()?,
            Arc::new(TokioRuntime),
        )?;
        endpoint.set_default_client_config(ClientConfig::with_root_certificates(Arc::new(roots))?);
        Ok(endpoint)
    }
}

/// Alice dials `to`, sends a greeting on a stream and reads the answer; returns the
/// answer and the address the connection runs to.
async fn dial(endpoint: &Endpoint, to: SocketAddr) -> anyhow::Result<(String, SocketAddr)> {
    let conn = timeout(HANDSHAKE, endpoint.connect(to, "peer")?)
        .await
        .context("QUIC handshake timed out")??;
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(b"hello from alice").await?;
    send.finish()?;
    let answer = recv.read_to_end(1024).await?;
    let remote = conn.remote_address();
    conn.close(0u32.into(), b"done");
    Ok((String::from_utf8(answer)?, remote))
}

/// Bob accepts one connection and answers its stream.
async fn answer(endpoint: &Endpoint) -> anyhow::Result<()> {
    let incoming = timeout(HANDSHAKE, endpoint.accept())
        .await
        .context("no QUIC connection came in")?
        .context("endpoint closed")?;
    let conn = incoming.await?;
    let (mut send, mut recv) = conn.accept_bi().await?;
    let hello = recv.read_to_end(1024).await?;
    send.write_all(format!("bob got: {}", String::from_utf8(hello)?).as_bytes())
        .await?;
    send.finish()?;
    conn.closed().await;
    Ok(())
}

/// How the two peers try to connect.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    /// A hole punched through both NATs.
    Direct,
    /// The relay.
    Relay,
}

/// One attempt: fresh sockets in alice and bob, then QUIC `via` the hole or the relay.
/// Alice's answer and the address her connection ran to, or why it failed.
async fn attempt(net: &Net, via: Via, session: &str) -> anyhow::Result<(String, SocketAddr)> {
    let tls = Arc::new(Tls::new()?);
    let (a, b) = (format!("alice-{session}"), format!("bob-{session}"));
    let alice = {
        let (tls, session, a, b) = (tls.clone(), session.to_string(), a.clone(), b.clone());
        net.node("alice").run(async move {
            let sock = UdpSocket::bind("0.0.0.0:0").await?;
            let to = match via {
                Via::Direct => {
                    let (_, bob) = meet(&sock, &a, &b).await?;
                    punch(&sock, bob).await?;
                    bob
                }
                Via::Relay => {
                    let relay: SocketAddr = RELAY.parse()?;
                    ask(&sock, relay, &format!("JOIN {session}"), "READY").await?;
                    relay
                }
            };
            let endpoint = tls.endpoint(sock)?;
            let r = dial(&endpoint, to).await;
            endpoint.wait_idle().await;
            r
        })
    };
    let bob = {
        let session = session.to_string();
        net.node("bob").run(async move {
            let sock = UdpSocket::bind("0.0.0.0:0").await?;
            match via {
                Via::Direct => {
                    let (_, alice) = meet(&sock, &b, &a).await?;
                    punch(&sock, alice).await?;
                }
                Via::Relay => {
                    let relay: SocketAddr = RELAY.parse()?;
                    ask(&sock, relay, &format!("JOIN {session}"), "READY").await?;
                }
            }
            answer(&tls.endpoint(sock)?).await
        })
    };
    let (alice, bob) = tokio::join!(alice, bob);
    let got = alice?;
    bob?;
    Ok(got)
}

#[netns_test(topology = two_routers(Router::Home), timeout = "30s")]
async fn quic_peers_behind_two_home_routers_connect_directly(net: Net) -> anyhow::Result<()> {
    rendezvous(&net.node("rendezvous")).await?;
    relay(&net.node("relay")).await?;
    // What hole punching relies on: the same public endpoint towards every destination.
    let home = NatBehaviour::new(
        Mapping::EndpointIndependent,
        Filtering::AddressAndPortDependent,
    )
    .port_preservation(true);
    for peer in ["alice", "bob"] {
        net.nat_probe(peer)
            .reflector("rendezvous")
            .assert(home)
            .await;
    }
    let (answer, to) = attempt(&net, Via::Direct, "home").await?;
    assert_eq!(answer, "bob got: hello from alice");
    // Directly to bob's router, not through the relay.
    assert_eq!(to.ip().to_string(), "198.51.100.2");
    Ok(())
}

#[netns_test(topology = two_routers(Router::Symmetric), timeout = "30s")]
async fn quic_peers_behind_two_symmetric_nats_fall_back_to_the_relay(
    net: Net,
) -> anyhow::Result<()> {
    rendezvous(&net.node("rendezvous")).await?;
    relay(&net.node("relay")).await?;
    let class = net
        .nat_probe("alice")
        .reflector("rendezvous")
        .classify()
        .await?;
    assert_eq!(class.behaviour.mapping, Mapping::AddressAndPortDependent);
    let direct = attempt(&net, Via::Direct, "direct").await;
    let e = direct.expect_err("no hole can be punched through two symmetric NATs");
    assert!(format!("{e:#}").contains("timed out"), "{e:#}");
    let (answer, to) = attempt(&net, Via::Relay, "relayed").await?;
    assert_eq!(answer, "bob got: hello from alice");
    assert_eq!(to, RELAY.parse()?);
    Ok(())
}
