//! UDP hole punching between two peers behind NAT routers the topology declares, many
//! times over: every round must get through, whichever peer's first packet arrives first.
//!
//! ```text
//!                 internet 198.51.100.0/24 (a bridge, no gateway)
//!   ┌────────────────────┬──────────────────────┐
//!   server .10           nat_a wan .1           nat_b wan .2
//!   UDP 3478             │ lan_a 192.168.1.0/24 │ lan_b 192.168.2.0/24
//!                        alice                  bob
//! ```
//!
//! Each round, alice and bob bind fresh sockets (new ephemeral ports, so new NAT mappings),
//! register with the rendezvous server, look each other up there, and punch. One of them
//! (alternately) starts [`HEAD_START`] earlier: its first packet reaches the other's router
//! before the host behind that router has sent anything, the race that broke hole punching
//! when the router took such a packet itself (see `nft::Ruleset::wan_guard`). The routers
//! carry no input rules of the test's own: what keeps the rounds working is the topology's.

#[path = "common/punch.rs"]
mod punch;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use netns_test::nft::NatMode;
use netns_test::{netns_test, Net, Topology};
use punch::{start_server, Peer, Punching};
use tokio::time::Instant;

const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)), 3478);
/// Rounds per pair of NATs.
const ROUNDS: usize = 50;
/// How much earlier the first peer of a round starts punching.
const HEAD_START: Duration = Duration::from_millis(10);
/// A peer punches for at most this long; every round must get through.
const PUNCHING: Punching = Punching {
    for_at_most: Duration::from_millis(600),
    late: Duration::ZERO,
    learn: false,
    predict: 0,
};

/// How a router maps its LAN to its WAN address.
#[derive(Clone, Copy, Debug)]
enum Nat {
    /// `b.masquerade()` on the LAN bridge.
    Masquerade,
    /// `masquerade()` plus an `snat(.., NatMode::PortPreserving)` rule of the router's own
    /// firewall, which comes first and decides the mapping.
    PortPreserving,
}

fn router(t: Topology, name: &str, lan: &str, subnet: &str, wan_ip: &str, nat: Nat) -> Topology {
    let wan: IpAddr = wan_ip.parse().expect("address");
    t.bridge_with(lan, subnet, |b| b.in_node(name).masquerade())
        .router(name, |n| {
            let n = n.on_with("internet", |i| i.name("wan").ip(wan_ip));
            match nat {
                Nat::Masquerade => n,
                Nat::PortPreserving => n.firewall(|r| {
                    r.snat(
                        subnet,
                        Some("wan"),
                        wan,
                        Some(1024..=65535),
                        NatMode::PortPreserving,
                    )
                }),
            }
        })
}

fn two_nats(a: Nat, b: Nat) -> Topology {
    let t = Topology::new()
        .bridge_with("internet", "198.51.100.0/24", |b| b.no_gateway())
        .node("server", |n| n.on_ip("internet", "198.51.100.10"));
    let t = router(t, "nat_a", "lan_a", "192.168.1.0/24", "198.51.100.1", a);
    let t = router(t, "nat_b", "lan_b", "192.168.2.0/24", "198.51.100.2", b);
    t.node("alice", |n| n.on("lan_a"))
        .node("bob", |n| n.on("lan_b"))
}

/// [`ROUNDS`] rounds of registering, looking up and punching, each with fresh sockets;
/// fails listing every round in which a peer got nothing from the other.
async fn punch_rounds(net: &Net) -> anyhow::Result<()> {
    start_server(&net.node("server"), SERVER).await?;
    let (alice_node, bob_node) = (net.node("alice"), net.node("bob"));
    let started = Instant::now();
    let mut failed = Vec::new();
    for round in 0..ROUNDS {
        let alice = Peer::bind(&alice_node, format!("alice{round}"), SERVER).await?;
        let bob = Peer::bind(&bob_node, format!("bob{round}"), SERVER).await?;
        let alice_public = alice.register().await?;
        let bob_public = bob.register().await?;
        let bob_for_alice = alice.lookup(&bob.name).await?;
        let alice_for_bob = bob.lookup(&alice.name).await?;
        assert_eq!((bob_for_alice, alice_for_bob), (bob_public, alice_public));
        // alice starts first in even rounds, bob in odd ones.
        let (a_delay, b_delay) = if round % 2 == 0 {
            (Duration::ZERO, HEAD_START)
        } else {
            (HEAD_START, Duration::ZERO)
        };
        let (alice_got, bob_got) = tokio::join!(
            alice.punch(bob_public, &bob.name, a_delay, PUNCHING),
            bob.punch(alice_public, &alice.name, b_delay, PUNCHING)
        );
        let (alice_got, bob_got) = (alice_got.got, bob_got.got);
        if alice_got == 0 || bob_got == 0 {
            failed.push(format!(
                "round {round}: alice {alice_public} got {alice_got} punches, bob \
                 {bob_public} got {bob_got}"
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {ROUNDS} rounds failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    // The rounds are quick where every punch gets through: bounded well under a minute.
    assert!(started.elapsed() < Duration::from_secs(30));
    Ok(())
}

#[netns_test(topology = two_nats(Nat::Masquerade, Nat::Masquerade), timeout = "60s")]
async fn hole_punching_through_two_masquerading_routers_never_fails(
    net: Net,
) -> anyhow::Result<()> {
    punch_rounds(&net).await
}

#[netns_test(topology = two_nats(Nat::PortPreserving, Nat::PortPreserving), timeout = "60s")]
async fn hole_punching_through_two_port_preserving_snat_routers_never_fails(
    net: Net,
) -> anyhow::Result<()> {
    punch_rounds(&net).await
}

#[netns_test(topology = two_nats(Nat::Masquerade, Nat::PortPreserving), timeout = "60s")]
async fn hole_punching_through_a_masquerading_and_a_port_preserving_router_never_fails(
    net: Net,
) -> anyhow::Result<()> {
    punch_rounds(&net).await
}
