//! The NAT behaviours that peer-to-peer and NAT-traversal code is tested against, named
//! after RFC 4787 (NAT behavioural requirements for UDP) and RFC 5780 (how to discover
//! them), each shown by what the peers see.
//!
//! ```text
//!                    internet 198.51.100.0/24 (a bridge, no gateway)
//!   ┌────────────────────┬─────────────────────┬──────────────────┐
//!   server .10           nat wan .1            eve .66
//!   UDP 3478, 3479       │ lan 192.168.1.0/24 (bridge in nat, gateway .1, masqueraded)
//!   TCP 80               alice .2 (mapping, filtering)
//!                        web .3 (published as nat:8080), client .4 (hairpinning)
//! ```
//!
//! | behaviour (RFC 4787) | declared with | test |
//! | --- | --- | --- |
//! | endpoint-independent mapping (EIM) | `snat ... persistent`: [`NatMode::PortPreserving`] | `endpoint_independent_mapping_shows_everyone_one_endpoint` |
//! | address-and-port-dependent mapping ("symmetric NAT") | `snat ... fully-random`: [`NatMode::Random`] | `address_and_port_dependent_mapping_shows_each_destination_another_port` |
//! | address-and-port-dependent filtering (APDF) | nothing: Linux conntrack's own | `address_and_port_dependent_filtering_keeps_strangers_out` |
//! | endpoint-independent filtering (EIF, "full cone") | [`Ruleset::full_cone`] | `endpoint_independent_filtering_lets_anyone_in` |
//! | no hairpinning | a published port alone | `without_hairpinning_a_lan_host_cannot_use_the_public_address`, `without_hairpinning_br_netfilter_lets_the_lan_use_the_public_address` |
//! | hairpinning | [`BridgeBuilder::hairpin`], [`Ruleset::hairpin_masquerade`] | `with_hairpinning_a_lan_host_reaches_the_public_address`, `with_hairpinning_a_lan_host_reaches_the_public_address_under_br_netfilter`, `hairpinning_leaves_direct_lan_traffic_alone_under_br_netfilter` |
//! | carrier-grade NAT (two levels, RFC 6598's 100.64.0.0/10) | [`presets::cgnat`] | `cgnat_the_server_sees_the_carriers_address`, `cgnat_the_home_routers_address_is_not_reachable_from_the_internet`, `cgnat_customers_share_the_public_address` |
//!
//! The *mapping* tests are RFC 5780's section 4.3: alice sends from one UDP port to
//! reflectors (they answer with the source endpoint they saw, as a STUN binding response
//! does) at the server's primary port, its other port, and another address (eve), and
//! compares the public endpoints they report. The *filtering* tests are its section 4.4:
//! once alice has talked to the server's primary port, eve (another address and port) and
//! the server's other port (same address) send to her public endpoint, unsolicited.
//!
//! Address-dependent mapping and filtering (RFC 4787's middle rows) have no declaration:
//! Linux conntrack does only the two ends.
//!
//! *Hairpinning* depends on whether the LAN's bridge hands bridged frames to netfilter
//! (`br_netfilter`, `net.bridge.bridge-nf-call-iptables`, a per-namespace switch): with it,
//! a published port works from the LAN even without a hairpin rule, because the server's
//! direct answer is un-NATed on its way across the router's bridge. The hairpin tests
//! switch it in the router's namespace, one test per case; those of the "on" case
//! (`..._under_br_netfilter`, `..._br_netfilter_...`) fail, naming the module, where
//! `br_netfilter` is not loaded.
//!
//! [`BridgeBuilder::hairpin`]: netns_test::topology::BridgeBuilder::hairpin

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{ensure, Context};
use netns_test::nft::{conntrack, Hook, NatMode, Proto, Rule, Ruleset};
use netns_test::reach::{Outcome, Probe};
use netns_test::{netns_test, presets, Net, Node, Topology};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};
use tokio::time::{timeout_at, Instant};

const NAT_WAN: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const NAT_LAN: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const EVE_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 66);
const ALICE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
const WEB_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 3);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 4);
/// The reflector's primary and alternate ports (STUN's 3478, and RFC 5780's "other port").
const PRIMARY: u16 = 3478;
const ALTERNATE: u16 = 3479;
/// The UDP port alice sends from.
const ALICE_PORT: u16 = 4000;
/// The port `web` listens on, and the one `nat` publishes it at.
const WEB_PORT: u16 = 80;
const PUBLISHED: u16 = 8080;

const fn at(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

// ---------------------------------------------------------------------------------------
// The home NAT lab.

/// Which filtering behaviour the home NAT has for alice's port.
#[derive(Clone, Copy)]
enum Filtering {
    /// Linux conntrack's own: only the endpoint alice sent to may answer.
    AddressAndPortDependent,
    /// [`Ruleset::full_cone`] for alice's UDP port: anyone may send to it.
    EndpointIndependent,
}

/// A home router's rules: source NAT of the LAN to the WAN address with the mapping
/// behaviour `mapping`, unsolicited packets to the router itself dropped on the WAN (a
/// home router's WAN zone), and the filtering behaviour `filtering` for alice.
fn home_nat(rules: Ruleset, mapping: NatMode, filtering: Filtering) -> Ruleset {
    // nft: ip saddr 192.168.1.0/24 oifname "wan" snat ip to 198.51.100.1:1024-65535 persistent
    let rules = rules
        .snat(
            "192.168.1.0/24",
            Some("wan"),
            IpAddr::V4(NAT_WAN),
            Some(1024..=65535),
            mapping,
        )
        .filter(
            Hook::Input,
            Rule::new().iif("wan").ct_established().accept(),
        )
        .filter(Hook::Input, Rule::new().iif("wan").drop());
    match filtering {
        Filtering::AddressAndPortDependent => rules,
        // nft: fib daddr type local udp dport 4000 dnat ip to 192.168.1.2
        Filtering::EndpointIndependent => {
            rules.full_cone(IpAddr::V4(ALICE_IP), Proto::Udp, ALICE_PORT..=ALICE_PORT)
        }
    }
}

/// The lab of the module docs: `nat` with the given behaviours, `alice` behind it,
/// `server` and `eve` on the internet.
fn home(mapping: NatMode, filtering: Filtering) -> Topology {
    Topology::new()
        .bridge_with("internet", "198.51.100.0/24", |b| b.no_gateway())
        // masquerade() hides the LAN (no other node gets a route to it); the router's own
        // snat rule comes first and decides the mapping.
        .bridge_with("lan", "192.168.1.0/24", |b| b.in_node("nat").masquerade())
        .router("nat", |n| {
            n.on_with("internet", |i| i.name("wan").ip("198.51.100.1"))
                .firewall(|r| home_nat(r, mapping, filtering))
        })
        .node("server", |n| n.on_ip("internet", "198.51.100.10"))
        .node("eve", |n| n.on_ip("internet", "198.51.100.66"))
        .node("alice", |n| n.on_ip("lan", "192.168.1.2"))
}

fn eim_apdf() -> Topology {
    home(NatMode::PortPreserving, Filtering::AddressAndPortDependent)
}

fn symmetric() -> Topology {
    home(NatMode::Random, Filtering::AddressAndPortDependent)
}

fn eim_eif() -> Topology {
    home(NatMode::PortPreserving, Filtering::EndpointIndependent)
}

// ---------------------------------------------------------------------------------------
// UDP: reflectors and a peer's socket.

/// Starts a reflector in `node` on `addr`: every datagram is answered with `SEEN ip:port`,
/// the source endpoint it came from (a STUN binding response's XOR-MAPPED-ADDRESS).
async fn start_reflector(node: &Node, addr: SocketAddr) -> anyhow::Result<()> {
    let sock = node.run(UdpSocket::bind(addr)).await?;
    node.spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((_, from)) = sock.recv_from(&mut buf).await {
            let _ = sock.send_to(format!("SEEN {from}").as_bytes(), from).await;
        }
    });
    Ok(())
}

/// Datagrams received: source and text.
type Received = Vec<(SocketAddr, String)>;

/// A UDP socket bound inside a node, with every datagram any of its methods read.
struct Udp {
    node: Node,
    sock: Arc<UdpSocket>,
    log: Arc<Mutex<Received>>,
}

impl Udp {
    async fn bind(node: &Node, port: u16) -> anyhow::Result<Udp> {
        let sock = node.run(UdpSocket::bind(("0.0.0.0", port))).await?;
        Ok(Udp {
            node: node.clone(),
            sock: Arc::new(sock),
            log: Arc::default(),
        })
    }

    /// Asks the reflector at `to` which endpoint it sees: up to 5 tries, 100 ms apart.
    async fn seen_by(&self, to: SocketAddr) -> anyhow::Result<SocketAddr> {
        let (sock, log) = (self.sock.clone(), self.log.clone());
        let name = self.node.name().to_string();
        self.node
            .run(async move {
                let mut buf = [0u8; 512];
                for _ in 0..5 {
                    sock.send_to(b"who am i", to).await?;
                    let deadline = Instant::now() + Duration::from_millis(100);
                    while let Ok(got) = timeout_at(deadline, sock.recv_from(&mut buf)).await {
                        let (n, from) = got?;
                        let text = String::from_utf8_lossy(&buf[..n]);
                        log.lock().unwrap().push((from, text.to_string()));
                        if let (true, Some(seen)) = (from == to, text.strip_prefix("SEEN ")) {
                            return Ok(seen.parse()?);
                        }
                    }
                }
                anyhow::bail!("{name}: no answer from the reflector at {to}")
            })
            .await
    }

    /// Sends one datagram to `to`.
    async fn send(&self, to: SocketAddr, msg: &str) -> anyhow::Result<()> {
        let (sock, msg) = (self.sock.clone(), msg.to_string());
        self.node
            .run(async move { sock.send_to(msg.as_bytes(), to).await })
            .await?;
        Ok(())
    }

    /// Everything that arrives within `window`, sorted.
    async fn receive_for(&self, window: Duration) -> Received {
        self.receive_until(Instant::now() + window).await
    }

    /// Everything that arrives until `deadline` (what is queued already, if it has
    /// passed), sorted.
    async fn receive_until(&self, deadline: Instant) -> Received {
        let sock = self.sock.clone();
        let mut got = self
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
        got.sort();
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
            self.node.name()
        );
    }
}

/// Long enough for a datagram inside one machine to have arrived or been dropped.
const WINDOW: Duration = Duration::from_millis(200);
/// How long after sending a datagram a negative check still looks for it: one that
/// arrives after [`WINDOW`] on a slow machine must fail the test, not pass it.
const LATE: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------
// Mapping (RFC 5780 section 4.3).

/// alice, from UDP port 4000, asks three reflectors which endpoint they see: the server's
/// primary port, its alternate port, and eve (another address). Returns the three answers.
async fn mapping_test(net: &Net) -> anyhow::Result<[SocketAddr; 3]> {
    let (server, eve) = (net.node("server"), net.node("eve"));
    start_reflector(&server, at(SERVER_IP, PRIMARY)).await?;
    start_reflector(&server, at(SERVER_IP, ALTERNATE)).await?;
    start_reflector(&eve, at(EVE_IP, PRIMARY)).await?;
    let alice = Udp::bind(&net.node("alice"), ALICE_PORT).await?;
    Ok([
        alice.seen_by(at(SERVER_IP, PRIMARY)).await?,
        alice.seen_by(at(SERVER_IP, ALTERNATE)).await?,
        alice.seen_by(at(EVE_IP, PRIMARY)).await?,
    ])
}

/// Endpoint-independent mapping: one public endpoint, `nat:4000`, for every destination
/// (what lets a peer use the endpoint a rendezvous server reported).
#[netns_test(topology = eim_apdf())]
async fn endpoint_independent_mapping_shows_everyone_one_endpoint(net: Net) -> anyhow::Result<()> {
    let seen = mapping_test(&net).await?;
    assert_eq!(seen, [at(NAT_WAN, ALICE_PORT); 3]);
    Ok(())
}

/// Address-and-port-dependent mapping ("symmetric NAT"): every destination endpoint gets a
/// public port of its own, even the same server on another port, so the endpoint one
/// peer learns is useless to another.
#[netns_test(topology = symmetric())]
async fn address_and_port_dependent_mapping_shows_each_destination_another_port(
    net: Net,
) -> anyhow::Result<()> {
    let seen = mapping_test(&net).await?;
    ensure!(
        seen.iter().all(|s| s.ip() == IpAddr::V4(NAT_WAN)),
        "not translated to the router's address: {seen:?}"
    );
    // Random ports: two of three draws from 64512 ports are equal once in ~21500 runs,
    // and then this test fails.
    let [a, b, c] = seen.map(|s| s.port());
    ensure!(a != b && b != c && a != c, "a port was reused: {seen:?}");

    // The NAT's conntrack table holds the three flows, each with its own public port.
    let entries = net.node("nat").nft().conntrack().await?;
    let mut ports: Vec<u16> = entries
        .iter()
        .filter(|e| e.proto == Proto::Udp && e.orig.sport == ALICE_PORT && e.is_src_nat())
        .map(|e| e.reply.dport)
        .collect();
    ports.sort();
    let mut expected = vec![a, b, c];
    expected.sort();
    assert_eq!(ports, expected, "{entries:#?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Filtering (RFC 5780 section 4.4).

/// What [`filtering_test`] saw: alice's public endpoint, alice's and eve's sockets, what
/// reached alice unsolicited within [`WINDOW`], and when it was sent.
struct Knocked {
    public: SocketAddr,
    alice: Udp,
    eve: Udp,
    got: Received,
    sent: Instant,
}

/// The texts [`filtering_test`] sends to alice unsolicited.
const UNSOLICITED: [&str; 2] = ["from eve", "from the server's other port"];

/// alice talks to the server's primary port and learns her public endpoint; then eve
/// (another address and port) and the server's alternate port (same address, other port)
/// send to that endpoint, unsolicited.
async fn filtering_test(net: &Net) -> anyhow::Result<Knocked> {
    let server = net.node("server");
    start_reflector(&server, at(SERVER_IP, PRIMARY)).await?;
    let alternate = Udp::bind(&server, ALTERNATE).await?;
    let eve = Udp::bind(&net.node("eve"), 5555).await?;
    let alice = Udp::bind(&net.node("alice"), ALICE_PORT).await?;

    let public = alice.seen_by(at(SERVER_IP, PRIMARY)).await?;
    assert_eq!(
        public,
        at(NAT_WAN, ALICE_PORT),
        "endpoint-independent mapping"
    );
    let sent = Instant::now();
    eve.send(public, UNSOLICITED[0]).await?;
    alternate.send(public, UNSOLICITED[1]).await?;
    let got = alice.receive_for(WINDOW).await;
    Ok(Knocked {
        public,
        alice,
        eve,
        got,
        sent,
    })
}

/// Address-and-port-dependent filtering, Linux's: only the endpoint alice sent to gets in.
#[netns_test(topology = eim_apdf())]
async fn address_and_port_dependent_filtering_keeps_strangers_out(net: Net) -> anyhow::Result<()> {
    let k = filtering_test(&net).await?;
    assert_eq!(k.got, [], "nothing unsolicited gets in");
    // The endpoint alice talked to still does: its answers are replies.
    assert_eq!(k.alice.seen_by(at(SERVER_IP, PRIMARY)).await?, k.public);
    // Nor did they arrive late (read meanwhile, or queued until a second after sending).
    k.alice.assert_never_got(k.sent, &UNSOLICITED).await;
    // It is the filtering that kept eve out, nothing on the way: with the NAT's rules
    // opened for anyone (endpoint-independent filtering added at run time), the same
    // datagram from eve gets in.
    let nat = net.node("nat");
    let planned = net
        .plan()
        .node("nat")
        .and_then(|n| n.rules.clone())
        .context("nat has planned rules")?;
    let open = planned.full_cone(IpAddr::V4(ALICE_IP), Proto::Udp, ALICE_PORT..=ALICE_PORT);
    nat.nft().apply(&open).await?;
    k.eve.send(k.public, "from eve").await?;
    assert_eq!(
        k.alice.receive_for(WINDOW).await,
        [(at(EVE_IP, 5555), "from eve".to_string())]
    );
    Ok(())
}

/// Endpoint-independent filtering: once alice has a public endpoint, anyone can send to
/// it, and her answers leave from that same endpoint.
#[netns_test(topology = eim_eif())]
async fn endpoint_independent_filtering_lets_anyone_in(net: Net) -> anyhow::Result<()> {
    let k = filtering_test(&net).await?;
    // Both got in, untranslated: alice sees who really sent them.
    assert_eq!(
        k.got,
        [
            (
                at(SERVER_IP, ALTERNATE),
                "from the server's other port".into()
            ),
            (at(EVE_IP, 5555), "from eve".into()),
        ]
    );
    // alice answers eve, who sees it come from the endpoint she sent to.
    k.alice.send(at(EVE_IP, 5555), "hello eve").await?;
    assert_eq!(
        k.eve.receive_for(WINDOW).await,
        [(k.public, "hello eve".to_string())]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Hairpinning (RFC 4787 section 6).

/// `web` publishes port 80 as `nat:8080` (`docker run -p 8080:80`); `client` is on the
/// same LAN, `server` outside. With `hairpin`, the LAN bridge has
/// [`BridgeBuilder::hairpin`](netns_test::topology::BridgeBuilder::hairpin).
fn published(hairpin: bool) -> Topology {
    Topology::new()
        .bridge_with("internet", "198.51.100.0/24", |b| b.no_gateway())
        .bridge_with("lan", "192.168.1.0/24", |b| {
            let b = b.in_node("nat").masquerade().bridge_netfilter(true);
            if hairpin {
                b.hairpin()
            } else {
                b
            }
        })
        .router("nat", |n| {
            n.on_with("internet", |i| i.name("wan").ip("198.51.100.1"))
        })
        .node("server", |n| n.on_ip("internet", "198.51.100.10"))
        .node("web", |n| {
            n.on_ip("lan", "192.168.1.3").publish(PUBLISHED, WEB_PORT)
        })
        .node("client", |n| n.on_ip("lan", "192.168.1.4"))
}

/// A TCP server in `node` on `port` that tells every client the address it sees.
async fn start_tcp_teller(node: &Node, port: u16) -> anyhow::Result<()> {
    let listener = node.run(TcpListener::bind(("0.0.0.0", port))).await?;
    node.spawn(async move {
        while let Ok((mut s, peer)) = listener.accept().await {
            let _ = s.write_all(peer.to_string().as_bytes()).await;
        }
    });
    Ok(())
}

/// From `node`, connects to `to` and returns the address the server saw, or why not
/// (within `wait`).
async fn tcp_seen(node: &Node, to: SocketAddr, wait: Duration) -> std::io::Result<SocketAddr> {
    node.run(async move {
        let timed_out = || std::io::Error::from(std::io::ErrorKind::TimedOut);
        let mut s = tokio::time::timeout(wait, TcpSocket::new_v4()?.connect(to))
            .await
            .map_err(|_| timed_out())??;
        let mut text = String::new();
        tokio::time::timeout(wait, s.read_to_string(&mut text))
            .await
            .map_err(|_| timed_out())??;
        text.parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    })
    .await
}

const SHORT: Duration = Duration::from_millis(700);
const LONG: Duration = Duration::from_secs(2);

/// The per-namespace switch (since Linux 5.3) of whether IPv4 frames a namespace's bridges
/// forward pass the netfilter hooks (conntrack, NAT, `inet` chains) as if they were routed.
const BRIDGE_NF_SWITCH: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// Turns bridge netfilter off in `node`'s network namespace: bridged frames bypass
/// netfilter. Where `br_netfilter` is not loaded there is no switch, and they always do.
fn bridge_netfilter_off(node: &Node) -> anyhow::Result<()> {
    node.run_blocking(|| {
        if std::path::Path::new(BRIDGE_NF_SWITCH).exists() {
            std::fs::write(BRIDGE_NF_SWITCH, "0")
                .with_context(|| format!("writing {BRIDGE_NF_SWITCH}"))?;
        }
        Ok(())
    })
}

/// Turns bridge netfilter on in `node`'s network namespace; fails, naming the module, where
/// `br_netfilter` is not loaded (the tests of that case cannot show anything there, and
/// say so rather than pass).
fn bridge_netfilter_on(node: &Node) -> anyhow::Result<()> {
    node.run_blocking(|| {
        anyhow::ensure!(
            std::path::Path::new(BRIDGE_NF_SWITCH).exists(),
            "this test shows what bridge netfilter does, and the kernel module br_netfilter \
             is not loaded on this machine (no {BRIDGE_NF_SWITCH}): `sudo modprobe \
             br_netfilter`, or skip the tests of that case with `--skip br_netfilter`"
        );
        std::fs::write(BRIDGE_NF_SWITCH, "1").with_context(|| format!("writing {BRIDGE_NF_SWITCH}"))
    })
}

/// The TCP connection from `client` to `to:8080` in `nat`'s conntrack table.
async fn client_flow(nat: &Node, to: Ipv4Addr) -> anyhow::Result<conntrack::Entry> {
    let entries = nat.nft().conntrack().await?;
    entries
        .iter()
        .find(|e| {
            e.proto == Proto::Tcp
                && e.orig.src == IpAddr::V4(CLIENT_IP)
                && e.orig.dst == IpAddr::V4(to)
                && e.orig.dport == PUBLISHED
        })
        .cloned()
        .with_context(|| format!("no entry for client -> {to}:{PUBLISHED} in {entries:#?}"))
}

/// Without hairpinning, a LAN host cannot use the public address of a service on its own
/// LAN: the published port's DNAT sends its connection back into the LAN with its own
/// address as source, `web` answers it directly (same subnet), from `192.168.1.3:80`, and
/// the client, which connected to `198.51.100.1:8080`, refuses that answer. (As long as
/// bridged frames bypass netfilter: see the next test for where they do not.)
#[netns_test(topology = published(false))]
async fn without_hairpinning_a_lan_host_cannot_use_the_public_address(
    net: Net,
) -> anyhow::Result<()> {
    let (nat, client, server) = (net.node("nat"), net.node("client"), net.node("server"));
    start_tcp_teller(&net.node("web"), WEB_PORT).await?;
    let public = at(NAT_WAN, PUBLISHED);
    // The published port works from outside; web sees the real client.
    assert_eq!(tcp_seen(&server, public, LONG).await?.ip(), SERVER_IP);
    // And client reaches web at its own address.
    assert_eq!(
        tcp_seen(&client, at(WEB_IP, WEB_PORT), LONG).await?.ip(),
        CLIENT_IP
    );

    // Bridged frames bypass netfilter (as without br_netfilter): the connection fails.
    bridge_netfilter_off(&nat)?;
    let r = tcp_seen(&client, public, SHORT).await;
    ensure!(
        r.as_ref().err().map(|e| e.kind()) == Some(std::io::ErrorKind::TimedOut),
        "client -> {public} without hairpinning: {r:?}"
    );
    // nat did DNAT the client's SYN to web, and never saw an answer: web's SYN-ACK went
    // straight to client over the bridge.
    let flow = client_flow(&nat, NAT_WAN).await?;
    ensure!(
        flow.is_dst_nat() && !flow.seen_reply() && flow.reply.src == IpAddr::V4(WEB_IP),
        "{flow}"
    );
    Ok(())
}

/// Where the bridge passes bridged frames through netfilter (br_netfilter), the same
/// connection works without hairpinning: web's direct answer meets the connection's
/// conntrack entry on its way through nat's bridge and is un-NATed there, and web sees the
/// client's own address. Fails, naming the module, where br_netfilter is not loaded.
#[netns_test(topology = published(false))]
async fn without_hairpinning_br_netfilter_lets_the_lan_use_the_public_address(
    net: Net,
) -> anyhow::Result<()> {
    let (nat, client) = (net.node("nat"), net.node("client"));
    bridge_netfilter_on(&nat)?;
    start_tcp_teller(&net.node("web"), WEB_PORT).await?;
    let seen = tcp_seen(&client, at(NAT_WAN, PUBLISHED), LONG).await?;
    assert_eq!(seen.ip(), CLIENT_IP);
    ensure!(client_flow(&nat, NAT_WAN).await?.seen_reply());
    Ok(())
}

/// With hairpinning, a LAN host reaches the published port at the router's public (or
/// LAN) address, masqueraded to the router's LAN address so that web's answers go back
/// through the router. Other traffic is left alone.
async fn hairpinning_reaches_the_public_address(net: &Net, case: &str) -> anyhow::Result<()> {
    let (nat, client, server) = (net.node("nat"), net.node("client"), net.node("server"));
    start_tcp_teller(&net.node("web"), WEB_PORT).await?;
    for ip in [NAT_WAN, NAT_LAN] {
        let seen = tcp_seen(&client, at(ip, PUBLISHED), LONG)
            .await
            .with_context(|| format!("{case}: client -> {ip}:{PUBLISHED}"))?;
        assert_eq!(seen.ip(), NAT_LAN, "{case}: web saw {seen}");
        let flow = client_flow(&nat, ip).await?;
        ensure!(flow.is_dst_nat() && flow.is_src_nat(), "{case}: {flow}");
    }
    // Only DNATed connections are masqueraded: client -> web directly, and server ->
    // the published port, keep their addresses.
    let seen = tcp_seen(&client, at(WEB_IP, WEB_PORT), LONG).await?;
    assert_eq!(seen.ip(), CLIENT_IP, "{case}");
    let seen = tcp_seen(&server, at(NAT_WAN, PUBLISHED), LONG).await?;
    assert_eq!(seen.ip(), SERVER_IP, "{case}");
    Ok(())
}

/// Hairpinning where bridged frames bypass netfilter (as without br_netfilter).
#[netns_test(topology = published(true))]
async fn with_hairpinning_a_lan_host_reaches_the_public_address(net: Net) -> anyhow::Result<()> {
    bridge_netfilter_off(&net.node("nat"))?;
    hairpinning_reaches_the_public_address(&net, "bridge-nf-call-iptables=0").await
}

/// Hairpinning where bridged frames pass netfilter (br_netfilter): the same, although web's
/// answers now meet nat's hooks on the bridge too. Fails, naming the module, where
/// br_netfilter is not loaded.
#[netns_test(topology = published(true))]
async fn with_hairpinning_a_lan_host_reaches_the_public_address_under_br_netfilter(
    net: Net,
) -> anyhow::Result<()> {
    bridge_netfilter_on(&net.node("nat"))?;
    hairpinning_reaches_the_public_address(&net, "bridge-nf-call-iptables=1").await
}

/// Why the hairpin rule matches `ct status dnat` rather than addresses alone: where bridged
/// frames pass netfilter (br_netfilter), LAN hosts talking to each other directly go
/// through the router's NAT hooks too, and a rule matching only the LAN's source address
/// would masquerade them.
#[netns_test(topology = published(false))]
async fn hairpinning_leaves_direct_lan_traffic_alone_under_br_netfilter(
    net: Net,
) -> anyhow::Result<()> {
    let (nat, client) = (net.node("nat"), net.node("client"));
    start_tcp_teller(&net.node("web"), WEB_PORT).await?;
    // This behaviour exists only where bridged frames pass netfilter: without
    // br_netfilter there is nothing to show, and the test says so rather than pass.
    bridge_netfilter_on(&nat)?;
    let direct = at(WEB_IP, WEB_PORT);
    let public = at(NAT_WAN, PUBLISHED);

    // Addresses alone: `ip saddr 192.168.1.0/24 masquerade`. Hairpinning works, but web
    // now sees the router for client's direct connection too, which nat only bridged.
    nat.nft()
        .apply(&Ruleset::named("hairpin").nat_masquerade("192.168.1.0/24", None))
        .await?;
    assert_eq!(tcp_seen(&client, public, LONG).await?.ip(), NAT_LAN);
    assert_eq!(tcp_seen(&client, direct, LONG).await?.ip(), NAT_LAN);

    // `ct status dnat ip saddr 192.168.1.0/24 oifname "lan" masquerade`: only the
    // hairpinned connection.
    nat.nft()
        .apply(&Ruleset::named("hairpin").hairpin_masquerade("192.168.1.0/24", "lan"))
        .await?;
    nat.nft().flush_conntrack().await?;
    assert_eq!(tcp_seen(&client, public, LONG).await?.ip(), NAT_LAN);
    assert_eq!(tcp_seen(&client, direct, LONG).await?.ip(), CLIENT_IP);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Carrier-grade NAT: two levels (NAT444).

const CGN_WAN: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const HOME1_WAN: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
const HOME2_WAN: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 3);

/// The connection from `src` to the server in `router`'s conntrack table.
async fn flow_to_server(
    router: &Node,
    proto: Proto,
    src: IpAddr,
) -> anyhow::Result<conntrack::Entry> {
    let entries = router.nft().conntrack().await?;
    entries
        .iter()
        .find(|e| e.proto == proto && e.orig.src == src && e.orig.dst == IpAddr::V4(SERVER_IP))
        .cloned()
        .with_context(|| {
            format!(
                "{}: no entry for {src} -> server in {entries:#?}",
                router.name()
            )
        })
}

/// The server sees alice as the CGN's public address; on the way, her home router mapped
/// her to its address in the shared space 100.64.0.0/10, and the CGN mapped that.
#[netns_test(topology = presets::cgnat())]
async fn cgnat_the_server_sees_the_carriers_address(net: Net) -> anyhow::Result<()> {
    let (server, alice) = (net.node("server"), net.node("alice"));
    start_tcp_teller(&server, 80).await?;
    let seen = tcp_seen(&alice, at(SERVER_IP, 80), LONG).await?;
    assert_eq!(seen.ip(), CGN_WAN);

    // Level 1, home1: alice -> 100.64.0.2. Level 2, cgn: 100.64.0.2 -> 198.51.100.1.
    let home = flow_to_server(&net.node("home1"), Proto::Tcp, alice.ip()).await?;
    ensure!(
        home.is_src_nat() && home.reply.dst == IpAddr::V4(HOME1_WAN),
        "{home}"
    );
    let cgn = flow_to_server(&net.node("cgn"), Proto::Tcp, IpAddr::V4(HOME1_WAN)).await?;
    ensure!(
        cgn.is_src_nat() && cgn.reply.dst == IpAddr::V4(CGN_WAN),
        "{cgn}"
    );
    ensure!(cgn.reply.dport == seen.port(), "{cgn} vs {seen}");
    Ok(())
}

/// The shared address space is the ISP's, not the internet's: the CGN reaches the home
/// router's WAN address, the server does not.
#[netns_test(topology = presets::cgnat())]
async fn cgnat_the_home_routers_address_is_not_reachable_from_the_internet(
    net: Net,
) -> anyhow::Result<()> {
    let (server, cgn) = (net.node("server"), net.node("cgn"));
    cgn.assert_reaches(HOME1_WAN, Probe::Icmp).await;
    let outcome = server.assert_cannot_reach(HOME1_WAN, Probe::Icmp).await;
    assert_eq!(
        outcome,
        Outcome::NetUnreachable,
        "no route to 100.64.0.0/10"
    );
    // Nor is anything behind it: alice answers pings (from her home router), the server
    // has no route to the customers' LANs.
    let alice = net.node("alice");
    net.node("home1")
        .assert_reaches(alice.ip(), Probe::Icmp)
        .await;
    let outcome = server.assert_cannot_reach(alice.ip(), Probe::Icmp).await;
    assert_eq!(
        outcome,
        Outcome::NetUnreachable,
        "no route to 192.168.1.0/24"
    );
    Ok(())
}

/// Two customers share the CGN's one public address: both send from UDP port 5000, both
/// home routers keep it, so the CGN sees the same port from two addresses and must give
/// the second customer another public port. Each still gets its own answers.
#[netns_test(topology = presets::cgnat())]
async fn cgnat_customers_share_the_public_address(net: Net) -> anyhow::Result<()> {
    let server = net.node("server");
    start_reflector(&server, at(SERVER_IP, PRIMARY)).await?;
    let alice = Udp::bind(&net.node("alice"), 5000).await?;
    let bob = Udp::bind(&net.node("bob"), 5000).await?;

    let alice_seen = alice.seen_by(at(SERVER_IP, PRIMARY)).await?;
    let bob_seen = bob.seen_by(at(SERVER_IP, PRIMARY)).await?;
    assert_eq!(alice_seen, at(CGN_WAN, 5000), "first come, keeps its port");
    assert_eq!(
        bob_seen.ip(),
        IpAddr::V4(CGN_WAN),
        "the same public address"
    );
    assert_ne!(bob_seen.port(), 5000, "but another port");

    // At the CGN: two flows from port 5000 of the two home routers.
    let cgn = net.node("cgn");
    for (home, seen) in [(HOME1_WAN, alice_seen), (HOME2_WAN, bob_seen)] {
        let flow = flow_to_server(&cgn, Proto::Udp, IpAddr::V4(home)).await?;
        ensure!(
            flow.orig.sport == 5000 && flow.reply.dport == seen.port(),
            "{flow}"
        );
    }
    // The mappings hold both ways: each asks again and is told the same endpoint.
    assert_eq!(alice.seen_by(at(SERVER_IP, PRIMARY)).await?, alice_seen);
    assert_eq!(bob.seen_by(at(SERVER_IP, PRIMARY)).await?, bob_seen);
    Ok(())
}
