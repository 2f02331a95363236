//! UDP hole punching for every pair of the older NAT declarations and the tiers in
//! `common/nat_lab.rs` (the presets, made of the tiers, are classified only), many times
//! over: each pair gets through in every round, or in none, as the classic rules say from
//! the behaviour its row declares (both map endpoint-independently, or either lets in
//! anyone or any port of an address it sent to:
//! [`NatBehaviour::hole_punching_with`]), or with port prediction. A symmetric NAT against
//! a symmetric or a port-restricted one fails every time; against a full cone or an
//! address-restricted one it succeeds, once the other peer answers to where the punches
//! come from. Against a symmetric NAT with sequential ports, a peer behind an
//! endpoint-independent NAT punches the [`PREDICT`] ports after the one the server saw
//! too, and gets through. Those pairs are a test of their own, one pair after another:
//! run beside the other pairs, whose rounds make mappings on the same sequential router,
//! the counter moved by more than [`PREDICT`] ports between the server's view and the
//! punch, about one run in ten.
//!
//! Each round, the two peers bind fresh sockets, register with the rendezvous server,
//! look each other up and punch, one of them [`HEAD_START`] first (alternately). A round
//! succeeds when both peers get the other's punches, fails when neither gets any, even
//! [`PUNCHING`]`.late` after the last punch; anything else is unexpected whatever the
//! pair. The pairs run at the same time, each in its own rounds; those that predict
//! ports run one after another. An unexpected round lists the routers' mappings of
//! both peers.

#[path = "common/nat_lab.rs"]
mod nat_lab;
#[path = "common/punch.rs"]
mod punch;

use std::net::SocketAddr;
use std::time::Duration;

use nat_lab::{every_nat, NatCase, NATS, SERVER_IP};
#[cfg(doc)]
use netns_test::reach::NatBehaviour;
use netns_test::reach::{Mapping, PortAllocation};
use netns_test::{netns_test, Net};
use punch::{start_server, Peer, Punching};

/// Rounds per pair.
const ROUNDS: usize = 50;
/// How much earlier the first peer of a round starts punching.
const HEAD_START: Duration = Duration::from_millis(10);
/// A round that gets through does within a few punches; one that does not is given
/// 300 ms, and 100 ms more for a punch that arrives late.
const PUNCHING: Punching = Punching {
    for_at_most: Duration::from_millis(300),
    late: Duration::from_millis(100),
    learn: true,
    predict: 0,
};
/// How many ports after the reported one a peer punches, against a NAT with sequential
/// ports: other hosts behind the same router may make mappings between the one the
/// server saw and the one towards this peer.
const PREDICT: u16 = 32;

/// The rows in the matrix.
fn matrix() -> impl Iterator<Item = &'static NatCase> {
    NATS.iter().filter(|c| c.matrix)
}

/// How many ports a peer behind `me` predicts when punching one behind `peer`: some when
/// `peer` allocates sequentially and `me` maps endpoint-independently (or not at all).
fn predicts(me: &NatCase, peer: &NatCase) -> u16 {
    let eim = matches!(
        me.one.mapping,
        Mapping::NoNat | Mapping::EndpointIndependent
    );
    if eim && peer.one.port_allocation == PortAllocation::Sequential {
        PREDICT
    } else {
        0
    }
}

/// Whether hole punching between hosts behind `a` and `b` must get through: by the
/// classic rules, or with port prediction.
fn expected(a: &NatCase, b: &NatCase) -> bool {
    a.one.hole_punching_with(&b.one) || predicts(a, b) > 0 || predicts(b, a) > 0
}

/// A pair's rounds: how many got through, how many on a second try, the unexpected ones.
type Outcome = (usize, usize, Vec<String>);

/// The mappings `router` has of `peer`'s socket, for a round that went otherwise than
/// expected.
async fn mappings(net: &Net, router: &str, peer: &Peer) -> String {
    let port = peer.sock.local_addr().map_or(0, |a| a.port());
    let internal = SocketAddr::new(peer.node.ip(), port);
    match net.node(router).nft().nat_mappings().await {
        Ok(maps) => {
            let mine: Vec<String> = maps
                .iter()
                .filter(|m| m.internal == internal)
                .map(ToString::to_string)
                .collect();
            format!("{router}'s mappings of {internal}: [{}]", mine.join(", "))
        }
        Err(e) => format!("{router}'s mappings: {e}"),
    }
}

/// [`ROUNDS`] rounds between `{a}_a` and `{b}_b`; how many got through, how many were
/// tried twice, and the rounds that went otherwise than `expect`.
async fn pair(net: Net, a: &'static NatCase, b: &'static NatCase) -> anyhow::Result<Outcome> {
    let server: SocketAddr = format!("{SERVER_IP}:3478").parse()?;
    let (a_node, b_node) = (
        net.node(&format!("{}_a", a.kind)),
        net.node(&format!("{}_b", b.kind)),
    );
    let expect = expected(a, b);
    let (mut through, mut retried, mut unexpected) = (0, 0, Vec::new());
    // A guess at the sequential NAT's next port can miss when it moves more than
    // PREDICT ports between the mapping the server saw and the one towards the peer: a
    // failed round with prediction is tried again once, with fresh sockets, as a
    // traversal library does. Both tries failing is unexpected.
    let attempts = if predicts(a, b) > 0 || predicts(b, a) > 0 {
        2
    } else {
        1
    };
    for round in 0..ROUNDS {
        for attempt in 0..attempts {
            let pa = Peer::bind(
                &a_node,
                format!("{}-{}-a{round}.{attempt}", a.kind, b.kind),
                server,
            )
            .await?;
            let pb = Peer::bind(
                &b_node,
                format!("{}-{}-b{round}.{attempt}", a.kind, b.kind),
                server,
            )
            .await?;
            let (a_public, b_public) = (pa.register().await?, pb.register().await?);
            let (b_for_a, a_for_b) = (pa.lookup(&pb.name).await?, pb.lookup(&pa.name).await?);
            assert_eq!((b_for_a, a_for_b), (b_public, a_public));
            let (a_delay, b_delay) = if round % 2 == 0 {
                (Duration::ZERO, HEAD_START)
            } else {
                (HEAD_START, Duration::ZERO)
            };
            let (a_got, b_got) = tokio::join!(
                pa.punch(
                    b_public,
                    &pb.name,
                    a_delay,
                    Punching {
                        predict: predicts(a, b),
                        ..PUNCHING
                    }
                ),
                pb.punch(
                    a_public,
                    &pa.name,
                    b_delay,
                    Punching {
                        predict: predicts(b, a),
                        ..PUNCHING
                    }
                )
            );
            let outcome = match (a_got.got > 0, b_got.got > 0) {
                (true, true) => Some(true),
                (false, false) => Some(false),
                _ => None,
            };
            if outcome == Some(false) && attempt + 1 < attempts {
                retried += 1;
                continue;
            }
            through += usize::from(outcome == Some(true));
            if outcome != Some(expect) {
                unexpected.push(format!(
                "{} x {}, round {round}: expected {}, {} ({a_public}) got {a_got:?}, {} ({b_public}) got {b_got:?}\n  {}\n  {}",
                a.kind,
                b.kind,
                if expect { "success" } else { "failure" },
                pa.name,
                pb.name,
                mappings(&net, &format!("{}_ra", a.kind), &pa).await,
                mappings(&net, &format!("{}_rb", b.kind), &pb).await,
            ));
            }
            break;
        }
    }
    Ok((through, retried, unexpected))
}

/// Punches every pair of the matrix whose peers predict ports (`predicting`) or whose
/// peers do not, and fails on any round whose outcome is not the expected one. The
/// predicting pairs run one after another: together, each would move the sequential NAT's
/// counter under the others' feet.
async fn punch_pairs(net: Net, predicting: bool) -> anyhow::Result<()> {
    start_server(&net.node("server"), format!("{SERVER_IP}:3478").parse()?).await?;
    let rows: Vec<_> = matrix().collect();
    let (mut serial, mut pairs) = (Vec::new(), Vec::new());
    for (i, a) in rows.iter().copied().enumerate() {
        for b in rows[i..].iter().copied() {
            match (predicts(a, b) > 0 || predicts(b, a) > 0, predicting) {
                (true, true) => serial.push((a, b)),
                (false, false) => pairs.push((a, b, tokio::spawn(pair(net.clone(), a, b)))),
                _ => {}
            }
        }
    }
    let (mut table, mut unexpected) = (Vec::new(), Vec::new());
    let mut record = |a: &NatCase, b: &NatCase, (through, retried, wrong): Outcome| {
        table.push(format!(
            "{:>8} x {:<8} expected {:<7} got through {through:>2}/{ROUNDS}{}",
            a.kind,
            b.kind,
            if expected(a, b) { "success" } else { "failure" },
            if retried > 0 {
                format!(" ({retried} on a second try)")
            } else {
                String::new()
            }
        ));
        unexpected.extend(wrong);
    };
    for (a, b) in serial {
        record(a, b, pair(net.clone(), a, b).await?);
    }
    for (a, b, task) in pairs {
        record(a, b, task.await??);
    }
    println!("{}", table.join("\n"));
    anyhow::ensure!(!table.is_empty(), "no pair punched");
    anyhow::ensure!(
        unexpected.is_empty(),
        "{} unexpected rounds:\n{}\n\n{}",
        unexpected.len(),
        unexpected.join("\n"),
        table.join("\n")
    );
    Ok(())
}

#[netns_test(topology = every_nat(), timeout = "120s")]
async fn hole_punching_gets_through_exactly_where_the_nats_allow_it(
    net: Net,
) -> anyhow::Result<()> {
    // Both outcomes are in the matrix.
    assert!(matrix().any(|a| matrix().any(|b| !expected(a, b))));
    punch_pairs(net, false).await
}

/// Port prediction against `symmetric_sequential()`: a peer behind an
/// endpoint-independent NAT punches the ports after the one the rendezvous saw.
#[netns_test(topology = every_nat(), timeout = "120s")]
async fn port_prediction_gets_through_a_sequential_nat(net: Net) -> anyhow::Result<()> {
    assert!(matrix().any(|a| matrix().any(|b| predicts(a, b) > 0)));
    punch_pairs(net, true).await
}
