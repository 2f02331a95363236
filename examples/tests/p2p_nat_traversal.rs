//! UDP hole punching between two peers behind different NATs, with a rendezvous server on
//! the public network, and what the NAT behaviours of RFC 4787 do to it.
//!
//! ```text
//!                    internet 198.51.100.0/24 (a bridge, no gateway)
//!   ┌───────────────┬────────────────────┬────────────────────┬───────────────┐
//!   server .10      nat_a wan .1         nat_b wan .2         eve .66
//!   UDP 3478        │ lan_a 192.168.1.1  │ lan_b 192.168.2.1
//!                   alice 192.168.1.2    bob 192.168.2.2
//! ```
//!
//! Each NAT router holds its LAN bridge and rewrites the LAN's source addresses to its WAN
//! address with an nftables `snat` rule whose port selection sets the *mapping* behaviour:
//!
//! - [`NatMode::PortPreserving`] (`snat to 198.51.100.1:1024-65535 persistent`): a flow
//!   keeps its source port whenever that leaves it unique, so `alice:4000` appears as
//!   `198.51.100.1:4000` to *every* destination: **endpoint-independent mapping** (EIM).
//! - [`NatMode::Random`] (`snat ... fully-random`, iptables `--random-fully`): every new
//!   flow gets a random port, so each destination sees another one:
//!   **address-and-port-dependent mapping**, the "symmetric NAT" of RFC 3489.
//!
//! *Filtering* is Linux connection tracking's, whatever the mapping: a packet from outside
//! is let in (and translated back to the LAN host) only if it is the reply direction of a
//! flow the LAN host opened, i.e. it comes from exactly the address *and port* the host
//! sent to: **address-and-port-dependent filtering**. Everything else is addressed to the
//! router itself, which (like a home router's WAN zone) drops it in its input chain.
//!
//! The peers bind UDP port 4000, register with `server` (which answers with the public
//! endpoint it saw: STUN's job), look up each other's public endpoint there, then send to
//! it at the same time, 10 times 50 ms apart. A peer's first packet opens its own NAT
//! for the peer's endpoint (and is dropped by the peer's NAT, which has no such flow yet);
//! the peer's packets then arrive as the reply direction of that flow and get in.
//!
//! | alice's NAT | bob's NAT | outcome |
//! | --- | --- | --- |
//! | EIM | EIM | both receive: each sends from the endpoint the server reported |
//! | EIM | symmetric | neither receives: bob's flow to alice gets a new random port, not the one the server saw; alice's packets go to the port of bob's flow *to the server* |
//!
//! ## A Linux detail that matters: the router must not take the first punch itself
//!
//! The routers here drop unsolicited packets on their WAN interface in the input chain
//! (`iifname "wan" ct state established,related accept; iifname "wan" drop`; the accept
//! rule counts nothing in these tests: replies to the LAN's flows are translated back in
//! prerouting and *forwarded*, they never reach the input chain). The drop is not cosmetic.
//! Connection tracking creates an entry for every packet, and makes it permanent
//! ("confirms" it) only when the packet survives all hooks. Without the drop, alice's
//! first punch, arriving at `nat_b` before bob has sent anything to alice, is delivered
//! locally to `nat_b` (which answers ICMP port unreachable), and its entry
//! `198.51.100.1:4000 -> 198.51.100.2:4000` (no NAT) is confirmed. When bob then sends to
//! alice, the reply tuple of his new flow would be exactly that tuple, so the NAT must pick
//! another source port (`nf_nat_used_tuple()` in the kernel): bob's punches leave from a
//! port alice never sent to, and alice's punches keep matching `nat_b`'s own entry. Hole
//! punching fails although both NATs are "endpoint-independent", for as long as alice
//! keeps sending and 30 s after (`nf_conntrack_udp_timeout`). With the drop the entry is
//! never confirmed, and the order in which the first punches arrive does not matter.
//! The topology adds such a guard to every NAT router of its own accord
//! (`Ruleset::wan_guard`; `netns-test/tests/hole_punch_reliability.rs` punches through it
//! many times over); the rules here show it by hand, and the open-WAN case turns the
//! topology's off with `no_wan_guard()`.
//!
//! | test | shows |
//! | --- | --- |
//! | `endpoint_independent_nats_let_hole_punching_through` | EIM + EIM, simultaneous: both ways, from the reported endpoints; mapped ports from conntrack |
//! | `a_symmetric_nat_defeats_hole_punching` | EIM + symmetric: nothing gets through; bob's port towards alice differs from the one the server saw; with bob's NAT made EIM at run time, the same peers get through |
//! | `unsolicited_packets_do_not_get_through_the_nat` | filtering: eve (other address) and the server's other port are dropped; once alice sends to each, it gets in |
//! | `a_router_that_drops_the_first_punch_keeps_the_mapping` | alice's punch arrives first, is dropped by `nat_b`: punching still works |
//! | `a_router_that_takes_the_first_punch_itself_breaks_hole_punching` | the same without the WAN drop: bob's mapping changes, nothing gets through; once nat_b forgets its own entry, they do |

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netns_test::nft::{Hook, NatMode, Proto, Rule, Ruleset};
use netns_test::topology::NodeBuilder;
use netns_test::{netns_test, Net, Node, Topology};
use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const SERVER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(SERVER_IP, 3478));
const NAT_A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const NAT_B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const EVE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 66);
/// The UDP port both peers send from.
const PEER_PORT: u16 = 4000;
/// How many punches each peer sends, and how far apart: 10 x 50 ms, half a second.
const PUNCHES: u32 = 10;
const PUNCH_INTERVAL: Duration = Duration::from_millis(50);
/// Long enough for a datagram inside one machine to have arrived or been dropped.
const WINDOW: Duration = Duration::from_millis(200);
/// How long after sending a datagram a negative check still looks for it: one that
/// arrives after [`WINDOW`] on a slow machine must fail the test, not pass it.
const LATE: Duration = Duration::from_secs(1);

/// Whether a NAT router drops unsolicited packets arriving on its WAN interface.
#[derive(Clone, Copy)]
enum Wan {
    /// `iifname "wan" drop` after accepting established flows: a home router's WAN zone.
    DropUnsolicited,
    /// No input filter, neither this one nor the topology's (`no_wan_guard()`): the
    /// router answers unsolicited packets itself (ICMP port unreachable), and their
    /// conntrack entries stay.
    Open,
}

/// A home router's rules: source NAT for the LAN leaving through `wan`, with the mapping
/// behaviour `mode`, and (with [`Wan::DropUnsolicited`]) an input filter on `wan`.
fn home_router(rules: Ruleset, lan: &str, wan_ip: Ipv4Addr, mode: NatMode, wan: Wan) -> Ruleset {
    // nft: ip saddr LAN oifname "wan" snat ip to WAN_IP:1024-65535 persistent|fully-random
    let rules = rules.snat(
        lan,
        Some("wan"),
        IpAddr::V4(wan_ip),
        Some(1024..=65535),
        mode,
    );
    match wan {
        Wan::DropUnsolicited => rules
            .filter(
                Hook::Input,
                Rule::new().iif("wan").ct_established().accept(),
            )
            .filter(Hook::Input, Rule::new().iif("wan").drop()),
        Wan::Open => rules,
    }
}

/// With [`Wan::Open`], also without the topology's own guard of a NAT router's WAN side
/// (`Ruleset::wan_guard`, which drops the same packets as [`Wan::DropUnsolicited`]).
fn open_wan(n: NodeBuilder, wan: Wan) -> NodeBuilder {
    match wan {
        Wan::Open => n.no_wan_guard(),
        Wan::DropUnsolicited => n,
    }
}

/// The internet (server, eve and the two routers' WAN sides on one bridge without a
/// gateway) and two LANs, each a bridge inside its router.
fn two_nats(a: NatMode, b: NatMode, wan: Wan) -> Topology {
    Topology::new()
        .bridge_with("internet", "198.51.100.0/24", |br| br.no_gateway())
        // masquerade() hides each LAN: no other node gets a route to 192.168.x.0/24. Its
        // rule comes after the router's own snat rule, which therefore decides the mapping.
        .bridge_with("lan_a", "192.168.1.0/24", |br| {
            br.in_node("nat_a").masquerade()
        })
        .bridge_with("lan_b", "192.168.2.0/24", |br| {
            br.in_node("nat_b").masquerade()
        })
        .router("nat_a", |n| {
            let n = n
                .on_with("internet", |i| i.name("wan").ip("198.51.100.1"))
                .firewall(|r| home_router(r, "192.168.1.0/24", NAT_A, a, wan));
            open_wan(n, wan)
        })
        .router("nat_b", |n| {
            let n = n
                .on_with("internet", |i| i.name("wan").ip("198.51.100.2"))
                .firewall(|r| home_router(r, "192.168.2.0/24", NAT_B, b, wan));
            open_wan(n, wan)
        })
        .node("server", |n| n.on_ip("internet", "198.51.100.10"))
        .node("eve", |n| n.on_ip("internet", "198.51.100.66"))
        .node("alice", |n| n.on("lan_a"))
        .node("bob", |n| n.on("lan_b"))
}

fn eim_both() -> Topology {
    two_nats(
        NatMode::PortPreserving,
        NatMode::PortPreserving,
        Wan::DropUnsolicited,
    )
}

fn eim_and_symmetric() -> Topology {
    two_nats(
        NatMode::PortPreserving,
        NatMode::Random,
        Wan::DropUnsolicited,
    )
}

fn eim_both_open_wan() -> Topology {
    two_nats(NatMode::PortPreserving, NatMode::PortPreserving, Wan::Open)
}

// ---------------------------------------------------------------------------------------
// The rendezvous server and the peers.

/// The rendezvous protocol, one datagram each way:
/// `REGISTER name` -> `SEEN ip:port` (the public endpoint the server saw), and
/// `LOOKUP name` -> `PEER ip:port`, or `UNKNOWN`.
async fn rendezvous(sock: UdpSocket) -> std::io::Result<()> {
    let mut seen: HashMap<String, SocketAddr> = HashMap::new();
    let mut buf = [0u8; 512];
    loop {
        let (n, from) = sock.recv_from(&mut buf).await?;
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let reply = match msg.split_once(' ') {
            Some(("REGISTER", name)) => {
                seen.insert(name.to_string(), from);
                format!("SEEN {from}")
            }
            Some(("LOOKUP", name)) => match seen.get(name) {
                Some(addr) => format!("PEER {addr}"),
                None => "UNKNOWN".to_string(),
            },
            _ => "ERROR".to_string(),
        };
        sock.send_to(reply.as_bytes(), from).await?;
    }
}

/// Starts the rendezvous server in `node` on `SERVER`; it runs until the test ends.
async fn start_server(node: &Node) -> anyhow::Result<()> {
    let sock = node.run(UdpSocket::bind(SERVER)).await?;
    node.spawn(rendezvous(sock));
    Ok(())
}

/// A peer: its node and its UDP socket on port [`PEER_PORT`], bound inside the node, with
/// every datagram [`Peer::ask`] and [`Peer::receive_for`] read.
struct Peer {
    name: String,
    node: Node,
    sock: Arc<UdpSocket>,
    log: Arc<Mutex<Received>>,
}

impl Peer {
    async fn new(node: Node) -> anyhow::Result<Peer> {
        let sock = node.run(UdpSocket::bind(("0.0.0.0", PEER_PORT))).await?;
        Ok(Peer {
            name: node.name().to_string(),
            node,
            sock: Arc::new(sock),
            log: Arc::default(),
        })
    }

    /// Sends `msg` to the server and returns its answer: up to 10 tries, 100 ms apart.
    async fn ask(&self, msg: String) -> anyhow::Result<String> {
        let (sock, log) = (self.sock.clone(), self.log.clone());
        let name = self.name.clone();
        self.node
            .run(async move {
                let mut buf = [0u8; 512];
                for _ in 0..10 {
                    sock.send_to(msg.as_bytes(), SERVER).await?;
                    let deadline = Instant::now() + Duration::from_millis(100);
                    while let Ok(got) = timeout_at(deadline, sock.recv_from(&mut buf)).await {
                        let (n, from) = got?;
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        log.lock().unwrap().push((from, text.clone()));
                        if from == SERVER {
                            return Ok(text);
                        }
                    }
                }
                anyhow::bail!("{name}: no answer from the server to {msg:?}")
            })
            .await
    }

    /// Registers with the server: the public endpoint it saw.
    async fn register(&self) -> anyhow::Result<SocketAddr> {
        let reply = self.ask(format!("REGISTER {}", self.name)).await?;
        let addr = reply.strip_prefix("SEEN ").unwrap_or_default();
        addr.parse()
            .map_err(|_| anyhow::anyhow!("{}: bad answer {reply:?}", self.name))
    }

    /// Asks the server for another peer's public endpoint.
    async fn lookup(&self, peer: &str) -> anyhow::Result<SocketAddr> {
        let reply = self.ask(format!("LOOKUP {peer}")).await?;
        let addr = reply.strip_prefix("PEER ").unwrap_or_default();
        addr.parse()
            .map_err(|_| anyhow::anyhow!("{}: bad answer {reply:?}", self.name))
    }

    /// Starts punching: [`PUNCHES`] datagrams to `to`, [`PUNCH_INTERVAL`] apart, while
    /// recording every datagram that arrives meanwhile (source and text).
    fn punch(&self, to: SocketAddr) -> impl std::future::Future<Output = Received> {
        let (sock, name) = (self.sock.clone(), self.name.clone());
        self.node.run(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            let start = Instant::now();
            for i in 0..PUNCHES {
                // An unconnected socket: the ICMP errors some punches cause are not reported.
                let _ = sock
                    .send_to(format!("punch {i} from {name}").as_bytes(), to)
                    .await;
                let next = start + PUNCH_INTERVAL * (i + 1);
                while let Ok(Ok((n, from))) = timeout_at(next, sock.recv_from(&mut buf)).await {
                    got.push((from, String::from_utf8_lossy(&buf[..n]).into_owned()));
                }
            }
            got
        })
    }

    /// Everything that arrives within `window`.
    async fn receive_for(&self, window: Duration) -> Received {
        self.receive_until(Instant::now() + window).await
    }

    /// Everything that arrives until `deadline` (what is queued already, if it has passed).
    async fn receive_until(&self, deadline: Instant) -> Received {
        let sock = self.sock.clone();
        let got = self
            .node
            .run(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 512];
                // A timeout polls the read before its deadline: queued datagrams are read
                // even once the deadline has passed.
                while let Ok(Ok((n, from))) = timeout_at(deadline, sock.recv_from(&mut buf)).await {
                    got.push((from, String::from_utf8_lossy(&buf[..n]).into_owned()));
                }
                got
            })
            .await;
        self.log.lock().unwrap().extend(got.iter().cloned());
        got
    }

    /// Fails if a datagram with one of the texts `unsolicited` ever reached the socket:
    /// read by any method so far, or arriving until [`LATE`] after `sent`. A negative
    /// check's [`WINDOW`] is short; a datagram that was only slow fails the test too.
    async fn assert_never_got(&self, sent: Instant, unsolicited: &[&str]) {
        self.receive_until(sent + LATE).await;
        let log = self.log.lock().unwrap();
        let late: Vec<_> = log
            .iter()
            .filter(|(_, text)| unsolicited.contains(&text.as_str()))
            .collect();
        assert!(
            late.is_empty(),
            "{} got unsolicited datagrams after the check's window: {late:?}",
            self.name
        );
    }

    /// Sends one datagram to `to`.
    async fn send(&self, to: SocketAddr, msg: &str) -> anyhow::Result<()> {
        let (sock, msg) = (self.sock.clone(), msg.to_string());
        self.node
            .run(async move { sock.send_to(msg.as_bytes(), to).await })
            .await?;
        Ok(())
    }
}

/// Datagrams a peer received: source and text.
type Received = Vec<(SocketAddr, String)>;

/// The public port `router` gave the UDP flow `from:PEER_PORT -> to` (conntrack's reply
/// direction is addressed to it): `conntrack -L -p udp -s FROM --sport 4000 -d TO`.
async fn mapped_port(router: &Node, from: IpAddr, to: SocketAddr) -> anyhow::Result<u16> {
    let entries = router.nft().conntrack().await?;
    entries
        .iter()
        .find(|e| {
            e.proto == Proto::Udp
                && e.orig.src == from
                && e.orig.sport == PEER_PORT
                && e.orig.dst == to.ip()
                && e.orig.dport == to.port()
        })
        .map(|e| e.reply.dport)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no conntrack entry for {from}:{PEER_PORT} -> {to} in {entries:#?}",
                router.name()
            )
        })
}

/// Registers both peers, looks each other up, and punches simultaneously. Returns the
/// public endpoints the server saw and what each peer received.
struct Punched {
    alice_public: SocketAddr,
    bob_public: SocketAddr,
    alice_got: Received,
    bob_got: Received,
}

async fn register_and_punch(alice: &Peer, bob: &Peer) -> anyhow::Result<Punched> {
    let alice_public = alice.register().await?;
    let bob_public = bob.register().await?;
    let bob_for_alice = alice.lookup("bob").await?;
    let alice_for_bob = bob.lookup("alice").await?;
    assert_eq!(bob_for_alice, bob_public);
    assert_eq!(alice_for_bob, alice_public);
    // Both start now; each task runs on its own node's runtime.
    let (alice_got, bob_got) = tokio::join!(alice.punch(bob_for_alice), bob.punch(alice_for_bob));
    Ok(Punched {
        alice_public,
        bob_public,
        alice_got,
        bob_got,
    })
}

fn sources(got: &Received) -> Vec<SocketAddr> {
    let mut s: Vec<SocketAddr> = got.iter().map(|(from, _)| *from).collect();
    s.dedup();
    s
}

// ---------------------------------------------------------------------------------------
// The tests.

#[netns_test(topology = eim_both())]
async fn endpoint_independent_nats_let_hole_punching_through(net: Net) -> anyhow::Result<()> {
    start_server(&net.node("server")).await?;
    let alice = Peer::new(net.node("alice")).await?;
    let bob = Peer::new(net.node("bob")).await?;

    let p = register_and_punch(&alice, &bob).await?;
    // Port-preserving NATs: the server sees each peer's own port behind its router's address.
    assert_eq!(p.alice_public, SocketAddr::from((NAT_A, PEER_PORT)));
    assert_eq!(p.bob_public, SocketAddr::from((NAT_B, PEER_PORT)));

    // Both ways: each received the other's punches, from exactly the endpoint the server
    // reported (the first one or two may have been dropped by the other's NAT).
    assert_eq!(
        sources(&p.alice_got),
        [p.bob_public],
        "alice got {:?}",
        p.alice_got
    );
    assert_eq!(
        sources(&p.bob_got),
        [p.alice_public],
        "bob got {:?}",
        p.bob_got
    );
    assert!(p.alice_got.iter().all(|(_, m)| m.ends_with("from bob")));
    assert!(p.bob_got.iter().all(|(_, m)| m.ends_with("from alice")));
    // The punches that arrived include the last ones: the path stayed open.
    let last = format!("punch {} from bob", PUNCHES - 1);
    assert!(
        p.alice_got.iter().any(|(_, m)| *m == last),
        "{:?}",
        p.alice_got
    );

    // Endpoint-independent mapping, seen in the routers' conntrack tables: the flow to the
    // peer uses the same public port as the flow to the server.
    let (nat_a, nat_b) = (net.node("nat_a"), net.node("nat_b"));
    assert_eq!(
        mapped_port(&nat_a, alice.node.ip(), SERVER).await?,
        PEER_PORT
    );
    assert_eq!(
        mapped_port(&nat_a, alice.node.ip(), p.bob_public).await?,
        PEER_PORT
    );
    assert_eq!(
        mapped_port(&nat_b, bob.node.ip(), p.alice_public).await?,
        PEER_PORT
    );
    Ok(())
}

#[netns_test(topology = eim_and_symmetric())]
async fn a_symmetric_nat_defeats_hole_punching(net: Net) -> anyhow::Result<()> {
    start_server(&net.node("server")).await?;
    let alice = Peer::new(net.node("alice")).await?;
    let bob = Peer::new(net.node("bob")).await?;

    let p = register_and_punch(&alice, &bob).await?;
    assert_eq!(p.alice_public, SocketAddr::from((NAT_A, PEER_PORT)));
    assert_eq!(p.bob_public.ip(), IpAddr::V4(NAT_B));

    // Neither peer got anything.
    assert_eq!(p.alice_got, [], "alice");
    assert_eq!(p.bob_got, [], "bob");

    // Why, from the routers' conntrack tables. alice's NAT maps her flow to bob's reported
    // endpoint to port 4000 again (EIM); bob's NAT gave his flow to alice a fresh random
    // port, not the one the server saw. So alice's punches go to the port of bob's flow
    // *to the server* (and come from the wrong source for it: dropped at nat_b), and bob's
    // punches come from a port alice never sent to (dropped at nat_a).
    // (Two random draws from 64512 ports are equal once in 64512 runs: then this test
    // fails, and the punching would have succeeded.)
    let (nat_a, nat_b) = (net.node("nat_a"), net.node("nat_b"));
    assert_eq!(
        mapped_port(&nat_a, alice.node.ip(), p.bob_public).await?,
        PEER_PORT
    );
    let bob_to_server = mapped_port(&nat_b, bob.node.ip(), SERVER).await?;
    let bob_to_alice = mapped_port(&nat_b, bob.node.ip(), p.alice_public).await?;
    assert_eq!(bob_to_server, p.bob_public.port());
    assert_ne!(
        bob_to_alice, bob_to_server,
        "address-and-port-dependent mapping: a new port per destination"
    );

    // The mapping is all that failed them: with nat_b made endpoint-independent at run
    // time (and its old flows forgotten), the same peers punch through.
    let eim = home_router(
        Ruleset::new(),
        "192.168.2.0/24",
        NAT_B,
        NatMode::PortPreserving,
        Wan::DropUnsolicited,
    )
    .nat_masquerade("192.168.2.0/24", Some("lan_b"));
    nat_b.nft().apply(&eim).await?;
    nat_b.nft().flush_conntrack().await?;
    let p = register_and_punch(&alice, &bob).await?;
    assert_eq!(p.bob_public, SocketAddr::from((NAT_B, PEER_PORT)));
    assert_eq!(sources(&p.alice_got), [p.bob_public], "{:?}", p.alice_got);
    assert_eq!(sources(&p.bob_got), [p.alice_public], "{:?}", p.bob_got);
    Ok(())
}

#[netns_test(topology = eim_both())]
async fn unsolicited_packets_do_not_get_through_the_nat(net: Net) -> anyhow::Result<()> {
    let server = net.node("server");
    start_server(&server).await?;
    let alice = Peer::new(net.node("alice")).await?;
    let eve = Peer::new(net.node("eve")).await?;
    let public = alice.register().await?;
    assert_eq!(public, SocketAddr::from((NAT_A, PEER_PORT)));

    // alice has a flow to server:3478 only. Knowing her public endpoint is not enough:
    // - eve, another address, sends to it;
    let unsolicited = [
        "unsolicited from eve",
        "unsolicited from eve, again",
        "from server:3479",
    ];
    let sent = Instant::now();
    eve.send(public, unsolicited[0]).await?;
    eve.send(public, unsolicited[1]).await?;
    // - the server itself sends from another port (3479): same address, other port.
    let other = Arc::new(server.run(UdpSocket::bind((SERVER_IP, 3479))).await?);
    let from_3479 = |msg: &'static str| {
        let other = other.clone();
        server.run(async move { other.send_to(msg.as_bytes(), public).await })
    };
    from_3479(unsolicited[2]).await?;
    // Everything above has long arrived, or been dropped, in this window.
    let got = alice.receive_for(WINDOW).await;
    assert_eq!(
        got,
        [],
        "address-and-port-dependent filtering: nothing unsolicited"
    );
    // The endpoint alice talked to, server:3478, does get in: its answers are replies.
    assert_eq!(alice.lookup("alice").await?, public);
    // Nor did they arrive late (read meanwhile, or queued until a second after sending).
    alice.assert_never_got(sent, &unsolicited).await;

    // Once alice sends to eve, eve's endpoint may answer: the filter opens per endpoint.
    let eve_at = SocketAddr::from((EVE, PEER_PORT));
    alice.send(eve_at, "hello eve").await?;
    let eve_got = eve.receive_for(WINDOW).await;
    assert_eq!(eve_got, [(public, "hello eve".to_string())]);
    eve.send(public, "hello alice").await?;
    let got = alice.receive_for(WINDOW).await;
    assert_eq!(got, [(eve_at, "hello alice".to_string())]);
    // The same for the server's other port.
    let other_at = SocketAddr::from((SERVER_IP, 3479));
    alice.send(other_at, "hello server:3479").await?;
    from_3479("hello alice, from server:3479").await?;
    let got = alice.receive_for(WINDOW).await;
    assert_eq!(
        got,
        [(other_at, "hello alice, from server:3479".to_string())]
    );
    Ok(())
}

/// How many unsolicited packets `router` dropped on its WAN interface, from the counter
/// of its `iifname "wan" drop` rule (`nft list ruleset`: `... # handle 7, packets 1 bytes 49`).
async fn wan_drops(router: &Node) -> anyhow::Result<u64> {
    let ruleset = router.nft().list().await?;
    let line = ruleset
        .lines()
        .find(|l| l.contains(r#"iifname "wan" counter drop"#))
        .ok_or_else(|| anyhow::anyhow!("{}: no WAN drop rule in\n{ruleset}", router.name()))?;
    let packets = line
        .split("packets ")
        .nth(1)
        .and_then(|r| r.split(' ').next());
    packets
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no packet counter in {line:?}"))
}

/// What [`alice_punches_first`] leaves: the peers, what each received, and the public port
/// nat_b gave bob's flow to alice.
struct EarlyPunch {
    alice: Peer,
    bob: Peer,
    alice_got: Received,
    bob_got: Received,
    bob_to_alice: u16,
}

/// alice punches once, alone, and we wait (bounded) until nat_b has dealt with it; then both
/// peers punch at once.
async fn alice_punches_first(net: &Net, wan: Wan) -> anyhow::Result<EarlyPunch> {
    start_server(&net.node("server")).await?;
    let alice = Peer::new(net.node("alice")).await?;
    let bob = Peer::new(net.node("bob")).await?;
    let alice_public = alice.register().await?;
    let bob_public = bob.register().await?;
    assert_eq!(alice_public, SocketAddr::from((NAT_A, PEER_PORT)));
    assert_eq!(bob_public, SocketAddr::from((NAT_B, PEER_PORT)));

    alice.send(bob_public, "early punch from alice").await?;
    let nat_b = net.node("nat_b");
    // Where the early punch leaves a trace in nat_b: the drop rule's counter, or (with
    // an open WAN) a conntrack entry 198.51.100.1:4000 -> 198.51.100.2:4000 of its own.
    let handled = || async {
        anyhow::Ok(match wan {
            Wan::DropUnsolicited => wan_drops(&nat_b).await? >= 1,
            Wan::Open => nat_b.nft().conntrack().await?.iter().any(|e| {
                e.proto == Proto::Udp
                    && e.orig.src == IpAddr::V4(NAT_A)
                    && e.orig.dst == IpAddr::V4(NAT_B)
                    && e.orig.dport == PEER_PORT
            }),
        })
    };
    let mut seen = false;
    for _ in 0..100 {
        if handled().await? {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen, "nat_b never saw alice's early punch");

    let (alice_got, bob_got) = tokio::join!(alice.punch(bob_public), bob.punch(alice_public));
    let bob_to_alice = mapped_port(&nat_b, bob.node.ip(), alice_public).await?;
    Ok(EarlyPunch {
        alice,
        bob,
        alice_got,
        bob_got,
        bob_to_alice,
    })
}

#[netns_test(topology = eim_both())]
async fn a_router_that_drops_the_first_punch_keeps_the_mapping(net: Net) -> anyhow::Result<()> {
    let e = alice_punches_first(&net, Wan::DropUnsolicited).await?;
    // The dropped punch left no conntrack entry: bob's flow to alice kept port 4000, and
    // punching works both ways although alice was early.
    assert_eq!(e.bob_to_alice, PEER_PORT);
    let bob_public = SocketAddr::from((NAT_B, PEER_PORT));
    let alice_public = SocketAddr::from((NAT_A, PEER_PORT));
    assert_eq!(
        sources(&e.alice_got),
        [bob_public],
        "alice got {:?}",
        e.alice_got
    );
    assert_eq!(
        sources(&e.bob_got),
        [alice_public],
        "bob got {:?}",
        e.bob_got
    );
    Ok(())
}

#[netns_test(topology = eim_both_open_wan())]
async fn a_router_that_takes_the_first_punch_itself_breaks_hole_punching(
    net: Net,
) -> anyhow::Result<()> {
    // nat_b has no flow for alice's early punch and no input filter: the punch is nat_b's
    // own (it answers ICMP port unreachable), and its conntrack entry stays.
    let e = alice_punches_first(&net, Wan::Open).await?;
    assert_eq!(e.alice_got, [], "alice");
    assert_eq!(e.bob_got, [], "bob");
    // bob's flow to alice could not keep port 4000: its reply tuple
    // 198.51.100.1:4000 -> 198.51.100.2:4000 is that entry's, so the NAT chose another
    // port, one alice never sent to; and alice's punches keep matching nat_b's own entry.
    assert_ne!(e.bob_to_alice, PEER_PORT);

    // That entry is all that broke it: once nat_b forgets it, and bob's flow to alice
    // exists before her next punch arrives, the same peers punch through.
    let nat_b = net.node("nat_b");
    nat_b.nft().flush_conntrack().await?;
    let (alice_public, bob_public) = (
        SocketAddr::from((NAT_A, PEER_PORT)),
        SocketAddr::from((NAT_B, PEER_PORT)),
    );
    e.bob.send(alice_public, "bob opens his side").await?;
    let (alice_got, bob_got) = tokio::join!(e.alice.punch(bob_public), e.bob.punch(alice_public));
    assert_eq!(
        mapped_port(&nat_b, e.bob.node.ip(), alice_public).await?,
        PEER_PORT
    );
    assert_eq!(sources(&alice_got), [bob_public], "alice got {alice_got:?}");
    assert_eq!(sources(&bob_got), [alice_public], "bob got {bob_got:?}");
    Ok(())
}

/// `labs/p2p_nat_traversal.toml` is this lab: `netns-test lab examples/labs/p2p_nat_traversal.toml` opens it.
#[test]
fn the_lab_file_declares_this_topology() {
    netns_test_examples::assert_lab_file("p2p_nat_traversal.toml", eim_both());
}
