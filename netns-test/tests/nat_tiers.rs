//! The NAT tiers of `NodeBuilder::nat`, measured with plain UDP sockets, as a STUN-like
//! client would: mapping (one external port for two destinations?), filtering (does
//! another port of the contacted server, or a third party, get in, before and after the
//! host sends?), hairpinning and port allocation, for one host and for two hosts bound to
//! the same local port at the same time.
//!
//! The lab: `a` and `b` on the bridge `lan` inside router `r` (192.168.1.0/24), `r`, `s1`
//! and `s2` on the bridge `internet` (198.51.100.0/24: r .1, s1 .10, s2 .20).

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{ensure, Context};
use netns_test::nft::{Filtering, Mapping, Nat, Ports, Proto};
use netns_test::{netns_test, Net, Node, Topology};

const PORT: u16 = 4000;
const ROUTER: &str = "198.51.100.1";
const S1: &str = "198.51.100.10";
const S2: &str = "198.51.100.20";
/// How long a datagram that should not arrive is waited for.
const QUIET: Duration = Duration::from_millis(300);

fn lab(nat: Nat) -> Topology {
    Topology::new()
        .bridge_with("internet", "198.51.100.0/24", |b| b.no_gateway())
        .bridge_with("lan", "192.168.1.0/24", |b| b.in_node("r"))
        .router("r", |n| n.on_ip("internet", ROUTER).nat(nat))
        .node("s1", |n| n.on_ip("internet", S1))
        .node("s2", |n| n.on_ip("internet", S2))
        .node("a", |n| n.on("lan"))
        .node("b", |n| n.on("lan"))
}

fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().expect("ip"), port)
}

/// A UDP socket of `node` bound to `port` (on every address).
fn bind(node: &Node, port: u16) -> anyhow::Result<UdpSocket> {
    let s = node
        .run_blocking(|| UdpSocket::bind(("0.0.0.0", port)))
        .with_context(|| format!("binding UDP port {port} in {}", node.name()))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    Ok(s)
}

/// An echo server of `node` on `port`: answers each datagram with the source it saw.
fn reflector(node: &Node, port: u16) -> anyhow::Result<()> {
    let s = bind(node, port)?;
    s.set_read_timeout(None)?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while let Ok((_, peer)) = s.recv_from(&mut buf) {
            let _ = s.send_to(peer.to_string().as_bytes(), peer);
        }
    });
    Ok(())
}

/// Sends from `s` to the reflector `to` and returns the source it saw (the mapping).
fn ask(s: &UdpSocket, to: SocketAddr) -> anyhow::Result<SocketAddr> {
    s.send_to(b"who am i", to)?;
    let mut buf = [0u8; 64];
    loop {
        let (n, from) = s
            .recv_from(&mut buf)
            .with_context(|| format!("no answer from reflector {to}"))?;
        if from == to {
            return Ok(std::str::from_utf8(&buf[..n])?.parse()?);
        }
    }
}

/// Whether `s` receives `what` within [`QUIET`], and from where.
fn got(s: &UdpSocket, what: &[u8]) -> anyhow::Result<Option<SocketAddr>> {
    s.set_read_timeout(Some(QUIET))?;
    let mut buf = [0u8; 64];
    let r = loop {
        match s.recv_from(&mut buf) {
            Ok((n, from)) if &buf[..n] == what => break Some(from),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break None
            }
            Err(e) => return Err(e.into()),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    Ok(r)
}

/// What a tier must show.
#[derive(Debug)]
struct Expect {
    eim: bool,
    filtering: Filtering,
    hairpin: bool,
    /// The first host keeps its local port.
    preserves: bool,
}

fn expect(nat: &Nat) -> Expect {
    Expect {
        eim: nat.mapping == Mapping::EndpointIndependent,
        filtering: nat.filtering,
        hairpin: nat.hairpin,
        preserves: nat.ports == Ports::Preserve,
    }
}

/// Measures the router's NAT with `hosts` (1 or 2) LAN hosts on the same local port, and
/// checks it against `nat`.
fn measure(net: &Net, nat: &Nat, hosts: usize) -> anyhow::Result<()> {
    let want = expect(nat);
    let (s1, s2) = (net.node("s1"), net.node("s2"));
    reflector(&s1, 1000)?;
    reflector(&s2, 1001)?;
    let s1_other = bind(&s1, 1001)?;
    let third = bind(&s2, 1000)?;
    let names = ["a", "b"];
    let socks: Vec<UdpSocket> = names[..hosts]
        .iter()
        .map(|h| bind(&net.node(h), PORT))
        .collect::<anyhow::Result<_>>()?;

    // Before any host sends, nothing gets in at the port they will use.
    third.send_to(b"early", sa(ROUTER, PORT))?;
    for (h, s) in names.iter().zip(&socks) {
        ensure!(
            got(s, b"early")?.is_none(),
            "{h}: a datagram got in before {h} sent anything"
        );
    }

    // Mapping towards s1:1000.
    let mut ext = Vec::new();
    for (h, s) in names.iter().zip(&socks) {
        let e = ask(s, sa(S1, 1000))?;
        ensure!(
            e.ip().to_string() == ROUTER,
            "{h} is seen as {e}, not as the router"
        );
        ext.push(e);
    }
    if hosts == 2 {
        ensure!(
            ext[0] != ext[1],
            "both hosts got the same external endpoint {}",
            ext[0]
        );
    }
    if want.preserves {
        ensure!(
            ext[0].port() == PORT,
            "port not preserved: {} for a's {PORT}",
            ext[0]
        );
    }

    // Filtering: another port of s1, then a third party, send to each mapping.
    for ((h, s), e) in names.iter().zip(&socks).zip(&ext) {
        s1_other.send_to(b"other-port", *e)?;
        let port_in = got(s, b"other-port")?.is_some();
        third.send_to(b"third", *e)?;
        let third_in = got(s, b"third")?.is_some();
        let (want_port, want_third) = match want.filtering {
            Filtering::EndpointIndependent => (true, true),
            Filtering::AddressDependent => (true, false),
            Filtering::AddressAndPortDependent => (false, false),
        };
        ensure!(
            (port_in, third_in) == (want_port, want_third),
            "{h} ({e}): declared {:?} filtering, measured: another port of s1 {}, a third party {}",
            want.filtering,
            if port_in { "gets in" } else { "does not" },
            if third_in { "gets in" } else { "does not" },
        );
        // Positive control: the contacted endpoint gets in through every tier.
        let again = ask(s, sa(S1, 1000))?;
        ensure!(
            again == *e,
            "{h}: mapping {e} changed to {again} for the same destination"
        );
    }

    // Mapping towards another address and port (s2:1001, which has not sent to anyone).
    for ((h, s), e) in names.iter().zip(&socks).zip(&ext) {
        let e2 = ask(s, sa(S2, 1001))?;
        ensure!(
            (e2 == *e) == want.eim,
            "{h}: declared {:?} mapping, measured {e} towards s1 and {e2} towards s2",
            nat.mapping
        );
    }

    // Hairpin: a sends to b's external endpoint.
    if hosts == 2 {
        socks[0].send_to(b"hairpin", ext[1])?;
        let from = got(&socks[1], b"hairpin")?;
        ensure!(
            from.is_some() == want.hairpin,
            "declared hairpin {}, measured: a's datagram to b's mapping {} {}",
            want.hairpin,
            ext[1],
            if from.is_some() {
                "arrived"
            } else {
                "did not arrive"
            }
        );
        if let Some(from) = from {
            ensure!(
                from == ext[0],
                "hairpinned datagram came from {from}, not a's mapping {}",
                ext[0]
            );
        }
    }
    Ok(())
}

macro_rules! tier {
    ($one:ident, $two:ident, $nat:expr) => {
        #[netns_test(topology = lab($nat), timeout = "30s")]
        fn $one(net: Net) -> anyhow::Result<()> {
            measure(&net, &$nat, 1)
        }

        #[netns_test(topology = lab($nat), timeout = "30s")]
        fn $two(net: Net) -> anyhow::Result<()> {
            measure(&net, &$nat, 2)
        }
    };
}

tier!(full_cone_one_host, full_cone_two_hosts, Nat::full_cone());
tier!(
    address_restricted_one_host,
    address_restricted_two_hosts,
    Nat::address_restricted()
);
tier!(
    port_restricted_one_host,
    port_restricted_two_hosts,
    Nat::port_restricted()
);
tier!(symmetric_one_host, symmetric_two_hosts, Nat::symmetric());
tier!(
    symmetric_sequential_one_host,
    symmetric_sequential_two_hosts,
    Nat::symmetric_sequential()
);
tier!(
    custom_eim_adf_random_one_host,
    custom_eim_adf_random_two_hosts,
    Nat::custom(
        Mapping::EndpointIndependent,
        Filtering::AddressDependent,
        Ports::Random
    )
);

/// No NAT: s1 sees the LAN address itself.
#[netns_test(topology = lab(Nat::none()).node("s3", |n| n.on_ip("internet", "198.51.100.30").route("192.168.1.0/24", ROUTER)), timeout = "30s")]
fn none_routes(net: Net) -> anyhow::Result<()> {
    reflector(&net.node("s3"), 1000)?;
    let a = bind(&net.node("a"), PORT)?;
    let seen = ask(&a, sa("198.51.100.30", 1000))?;
    ensure!(
        seen.ip().to_string().starts_with("192.168.1."),
        "a is seen as {seen}"
    );
    ensure!(seen.port() == PORT, "a's port changed to {}", seen.port());
    Ok(())
}

/// Sequential ports: each new mapping, from any host, gets the previous one's port + 1.
#[netns_test(topology = lab(Nat::symmetric_sequential()), timeout = "30s")]
fn sequential_ports_are_predictable(net: Net) -> anyhow::Result<()> {
    let (s1, s2) = (net.node("s1"), net.node("s2"));
    for p in [1000, 1001, 1002] {
        reflector(&s1, p)?;
        reflector(&s2, p)?;
    }
    let a = bind(&net.node("a"), PORT)?;
    let b = bind(&net.node("b"), PORT)?;
    let mut ports = Vec::new();
    for (i, p) in [1000, 1001, 1002].into_iter().enumerate() {
        for ip in [S1, S2] {
            let s = if i % 2 == 0 { &a } else { &b };
            ports.push(ask(s, sa(ip, p))?.port());
        }
    }
    for w in ports.windows(2) {
        ensure!(w[1] == w[0] + 1, "ports not sequential: {ports:?}");
    }
    ensure!(
        ports[0] == 20000,
        "the first mapping got {}, not 20000: {ports:?}",
        ports[0]
    );
    Ok(())
}

fn custom_sequential_eim() -> Nat {
    Nat::custom(
        Mapping::EndpointIndependent,
        Filtering::AddressAndPortDependent,
        Ports::Sequential {
            first: 30000,
            count: 100,
        },
    )
}

/// Expiring mappings now: per host, then all; the next packet gets a new mapping, while
/// without expiry the mapping is kept (endpoint-independent, sequential ports make each
/// new mapping recognisable).
#[netns_test(topology = lab(custom_sequential_eim()), timeout = "30s")]
fn expiry_makes_a_new_mapping(net: Net) -> anyhow::Result<()> {
    let r = net.node("r");
    reflector(&net.node("s1"), 1000)?;
    reflector(&net.node("s2"), 1000)?;
    let a = bind(&net.node("a"), PORT)?;
    let b = bind(&net.node("b"), PORT)?;
    let ea = ask(&a, sa(S1, 1000))?;
    let eb = ask(&b, sa(S1, 1000))?;
    ensure!(
        (ea.port(), eb.port()) == (30000, 30001),
        "first mappings {ea} {eb}"
    );
    // Kept: endpoint-independent, also towards s2.
    ensure!(
        ask(&a, sa(S2, 1000))? == ea,
        "a's mapping changed without expiry"
    );
    let maps = net.block_on(r.nft().nat_mappings())?;
    let a_ip = net.node("a").ifaces()[0].addrs[0].addr();
    let of_a: Vec<_> = maps.iter().filter(|m| m.internal.ip() == a_ip).collect();
    ensure!(
        of_a.len() == 2
            && of_a
                .iter()
                .all(|m| m.external == ea && m.proto == Proto::Udp),
        "a's mappings: {maps:?}"
    );
    // Expire a's only.
    let n = net.block_on(r.nft().expire_mappings(Some(a_ip)))?;
    ensure!(n == 2, "{n} tracked connections of a deleted, not 2");
    let ea2 = ask(&a, sa(S1, 1000))?;
    ensure!(
        ea2.port() == 30002,
        "a after expiry: {ea2}, expected a new mapping :30002"
    );
    ensure!(
        ask(&b, sa(S2, 1000))? == eb,
        "b's mapping changed when only a's expired"
    );
    // Expire all.
    net.block_on(r.nft().expire_mappings(None))?;
    let eb2 = ask(&b, sa(S1, 1000))?;
    ensure!(
        eb2.port() == 30003,
        "b after expiring all: {eb2}, expected :30003"
    );
    ensure!(
        net.block_on(r.nft().nat_mappings())?
            .iter()
            .all(|m| m.external != eb),
        "b's old mapping still listed"
    );
    Ok(())
}

/// Timeouts are set per router and read back; a preset's are its own; the NAT can be
/// changed at run time, and `apply` of the crate's own table keeps it.
#[netns_test(topology = lab(Nat::cloud()), timeout = "30s")]
fn timeouts_and_run_time_change(net: Net) -> anyhow::Result<()> {
    let r = net.node("r");
    let t = net.block_on(r.nft().nat_timeouts())?;
    ensure!(
        t == Nat::cloud().timeouts,
        "cloud timeouts read back as {t:?}"
    );
    ensure!(t.udp == Duration::from_secs(350), "{t:?}");
    // Another router of the same network keeps Linux's defaults.
    let s1_t = net.node("s1").run_blocking(|| {
        std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_udp_timeout")
    });
    if let Ok(text) = s1_t {
        ensure!(
            text.trim() == "30",
            "s1's UDP timeout is {text:?}, the router's leaked"
        );
    }
    reflector(&net.node("s1"), 1000)?;
    reflector(&net.node("s2"), 1000)?;
    let a = bind(&net.node("a"), PORT)?;
    let e1 = ask(&a, sa(S1, 1000))?;
    let e2 = ask(&a, sa(S2, 1000))?;
    ensure!(e1 != e2, "cloud NAT is symmetric, measured {e1} and {e2}");
    // The crate's own table is replaced: the NAT stays.
    net.block_on(r.nft().apply(&netns_test::nft::Ruleset::new()))?;
    ensure!(ask(&a, sa(S1, 1000))? == e1, "NAT lost after nft().apply");
    // Now a full cone with hotel timeouts.
    let mut nat = Nat::full_cone();
    nat.timeouts = Nat::hotel().timeouts;
    net.block_on(r.nft().set_nat(&nat))?;
    net.block_on(r.nft().expire_mappings(None))?;
    ensure!(
        net.block_on(r.nft().nat_timeouts())? == nat.timeouts,
        "timeouts not changed"
    );
    let f1 = ask(&a, sa(S1, 1000))?;
    let f2 = ask(&a, sa(S2, 1000))?;
    ensure!(
        f1 == f2 && f1.port() == PORT,
        "after set_nat(full cone): {f1} and {f2}"
    );
    Ok(())
}

/// Two levels (ISP CGNAT): both customers are seen as the CGN's address, each keeps one
/// mapping for every destination, on the same local port.
#[netns_test(topology = netns_test::topology::presets::cgnat_nat(Nat::home(), Nat::cgnat()).node("server2", |n| n.on_ip("internet", "198.51.100.20")), timeout = "30s")]
fn cgnat_two_levels(net: Net) -> anyhow::Result<()> {
    reflector(&net.node("server"), 1000)?;
    reflector(&net.node("server2"), 1000)?;
    let mut seen = Vec::new();
    for h in ["alice", "bob"] {
        let s = bind(&net.node(h), PORT)?;
        let e1 = ask(&s, sa("198.51.100.10", 1000))?;
        let e2 = ask(&s, sa("198.51.100.20", 1000))?;
        ensure!(e1.ip().to_string() == "198.51.100.1", "{h} is seen as {e1}");
        ensure!(e1 == e2, "{h}: two levels of EIM, measured {e1} and {e2}");
        seen.push(e1);
    }
    ensure!(seen[0] != seen[1], "alice and bob share {}", seen[0]);
    Ok(())
}

/// Corporate: only TCP 80/443 and UDP 53 out; UDP to another port is dropped.
#[netns_test(topology = lab(Nat::corporate()).node("dns", |n| n.on_ip("internet", "198.51.100.53").keep_port_53_free()), timeout = "30s")]
fn corporate_allows_only_web_and_dns(net: Net) -> anyhow::Result<()> {
    reflector(&net.node("dns"), 53)?;
    reflector(&net.node("dns"), 1000)?;
    let a = bind(&net.node("a"), PORT)?;
    let e = ask(&a, sa("198.51.100.53", 53)).context("DNS must pass")?;
    ensure!(e.ip().to_string() == ROUTER, "a seen as {e}");
    let blocked = ask(&a, sa("198.51.100.53", 1000));
    ensure!(
        blocked.is_err(),
        "UDP 1000 passed the corporate NAT: {blocked:?}"
    );
    Ok(())
}
