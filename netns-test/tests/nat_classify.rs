//! The NAT classifier against every NAT the project can declare (`support/nat_lab.rs`):
//! each kind is classified exactly as its row says, for one host and for two hosts on
//! the same local port, and a wrong declaration fails saying what was measured.

#[path = "common/nat_lab.rs"]
mod nat_lab;

use std::time::Duration;

use nat_lab::{every_nat, NATS};
use netns_test::nft::Nat;
use netns_test::reach::{Filtering, Mapping, NatBehaviour, NatReflector};
use netns_test::{netns_test, Net};

/// The local port every host classifies from.
const PORT: u16 = 4000;

fn mismatch(
    kind: &str,
    declared_as: &str,
    host: &str,
    measured: &str,
    declared: NatBehaviour,
) -> String {
    format!("{kind} ({declared_as}), {host}: measured {measured}\n    declared {declared}")
}

#[netns_test(topology = every_nat(), timeout = "60s")]
async fn every_nat_is_classified_as_declared_for_one_host(net: Net) -> anyhow::Result<()> {
    let mut wrong = Vec::new();
    for case in NATS {
        let host = format!("{}_a", case.kind);
        // The reflector's node found on its own: the one public node, "server".
        let class = net.nat_probe(&host).local_port(PORT).classify().await?;
        assert_eq!(class.local_port, PORT);
        // Nothing is lost between namespaces: one wait of 150 ms at most (25 ms on an
        // idle machine), and the exchanges (the reflector's start is not counted).
        println!("{host}: {class}");
        assert!(class.took < Duration::from_secs(1), "{host}: {class}");
        if class.behaviour != case.one {
            wrong.push(mismatch(
                case.kind,
                case.declared_as,
                &host,
                &class.to_string(),
                case.one,
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

#[netns_test(topology = every_nat(), timeout = "60s")]
async fn every_nat_is_classified_as_declared_for_two_hosts_on_one_port(
    net: Net,
) -> anyhow::Result<()> {
    let reflector = NatReflector::start(&net.node("server")).await?;
    let mut wrong = Vec::new();
    for case in NATS {
        for (host, declared) in [("a", case.one), ("a2", case.second)] {
            let host = format!("{}_{host}", case.kind);
            let class = reflector.classify(&net.node(&host), PORT).await?;
            if class.behaviour != declared {
                wrong.push(mismatch(
                    case.kind,
                    case.declared_as,
                    &host,
                    &class.to_string(),
                    declared,
                ));
            }
        }
    }
    reflector.stop().await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

/// How many of the addresses reflectors take (the top of the subnet) `node` still has.
async fn second_addresses(node: &netns_test::Node) -> usize {
    let mut n = 0;
    for last in 240..255 {
        let addr = format!("198.51.100.{last}:0");
        n += usize::from(node.run(tokio::net::UdpSocket::bind(addr)).await.is_ok());
    }
    n
}

#[netns_test(topology = every_nat())]
async fn the_classifier_needs_no_reflector_named_and_cleans_up(net: Net) -> anyhow::Result<()> {
    let class = net.classify_nat("masq_a").await?;
    assert_eq!(class.behaviour.mapping, Mapping::EndpointIndependent);
    // The reflector's second address is gone: another one can start.
    let server = net.node("server");
    assert_eq!(second_addresses(&server).await, 0);
    let again = net.classify_nat("masq_b").await?;
    assert_eq!(again.behaviour, class.behaviour);
    // Two at once: each reflector gets its own second address.
    let (a, b) = tokio::join!(net.classify_nat("snatpp_a"), net.classify_nat("snatpp_b"));
    assert_eq!(a?.behaviour, class.behaviour);
    assert_eq!(b?.behaviour, class.behaviour);
    assert_eq!(second_addresses(&server).await, 0);
    // A STUN client sees its external endpoint at the reflector's address.
    let reflector = NatReflector::start(&server).await?;
    assert_eq!(second_addresses(&server).await, 1);
    assert_eq!(reflector.addr().ip().to_string(), nat_lab::SERVER_IP);
    assert_ne!(reflector.other_addr().ip(), reflector.addr().ip());
    assert_ne!(reflector.other_addr().port(), reflector.addr().port());
    reflector.stop().await;
    Ok(())
}

/// Every tier and preset's own account of itself ([`Nat::behaviour`]) is what the
/// classifier measured (the table's rows).
#[test]
fn every_nat_declared_says_what_is_measured() {
    let declared: [(&str, Nat); 13] = [
        ("none", Nat::none()),
        ("fullcone", Nat::full_cone()),
        ("addr", Nat::address_restricted()),
        ("port", Nat::port_restricted()),
        ("sym", Nat::symmetric()),
        ("symseq", Nat::symmetric_sequential()),
        ("home", Nat::home()),
        // The home router's behaviour, the carrier's the same.
        ("cgnat", Nat::cgnat()),
        ("mobile", Nat::mobile()),
        ("corp", Nat::corporate()),
        ("hotel", Nat::hotel()),
        ("cloud", Nat::cloud()),
        ("public", Nat::public()),
    ];
    for (kind, nat) in declared {
        let case = NATS.iter().find(|c| c.kind == kind).expect("a row");
        assert_eq!(NatBehaviour::declared(&nat), case.one, "{kind}");
    }
}

#[netns_test(topology = every_nat(), timeout = "60s")]
async fn the_routers_mappings_are_the_ones_the_classifier_saw(net: Net) -> anyhow::Result<()> {
    let mut wrong = Vec::new();
    for case in NATS {
        // A routed router maps nothing; the two-level CGNAT's home router maps to its
        // carrier-side address, which the carrier maps again.
        if case.one.mapping == Mapping::NoNat || case.kind == "cgnat" {
            continue;
        }
        let host = format!("{}_a", case.kind);
        let class = net.nat_probe(&host).local_port(PORT).classify().await?;
        let router = net.node(&format!("{}_ra", case.kind));
        let maps = router.nft().nat_mappings().await?;
        let internal = std::net::SocketAddr::new(net.node(&host).ip(), PORT);
        for (to, seen) in &class.mapped {
            let listed = maps
                .iter()
                .any(|m| m.internal == internal && m.external == *seen && m.remote == *to);
            if !listed {
                wrong.push(format!(
                    "{}: {internal} seen as {seen} by {to}, not in the router's mappings:\n    {}",
                    case.kind,
                    maps.iter()
                        .filter(|m| m.internal == internal)
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n    ")
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

#[netns_test(topology = every_nat())]
async fn a_classification_is_fast_and_ends_the_watch_of_the_one_before(
    net: Net,
) -> anyhow::Result<()> {
    // Behind a symmetric NAT the filtering and hairpinning answers never come: the first
    // classification's socket is watched for them after the verdict, and the second one,
    // from the same port, ends that watch to bind it.
    let first = net.nat_probe("sym_a").local_port(4001).classify().await?;
    let second = net.nat_probe("sym_a").local_port(4001).classify().await?;
    assert_eq!(first.behaviour, second.behaviour);
    assert_eq!(second.local_port, 4001);
    // The wait is a multiple of the round trip, not the 150 ms ceiling, unless the
    // machine is so loaded that 20 round trips are more.
    let quick = net
        .nat_probe("sym_a")
        .wait(Duration::from_secs(5))
        .classify()
        .await?;
    assert!(quick.took < Duration::from_secs(5), "{quick}");
    // Sequential ports are seen, random ones are not.
    let seq = net.classify_nat("symseq_a").await?;
    assert_eq!(
        seq.behaviour.port_allocation,
        netns_test::reach::PortAllocation::Sequential,
        "{seq}"
    );
    assert_eq!(
        first.behaviour.port_allocation,
        netns_test::reach::PortAllocation::Random,
        "{first}"
    );
    Ok(())
}

#[netns_test(topology = every_nat())]
async fn assert_nat_says_what_was_measured_against_what_was_declared(
    net: Net,
) -> anyhow::Result<()> {
    let net2 = net.clone();
    let symmetric = NatBehaviour::new(
        Mapping::AddressAndPortDependent,
        Filtering::AddressAndPortDependent,
    );
    let task = net
        .host()
        .spawn(async move { net2.assert_nat("masq_a", symmetric).await });
    let panic = task.await.expect_err("masquerade() is not symmetric");
    let msg = panic
        .into_panic()
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert!(
        msg.contains("the NAT of node \"masq_a\" is not the one declared:\n  mapping: measured endpoint-independent mapping, declared address- and port-dependent mapping\n  port preservation: measured yes, declared no\nmeasured: "),
        "{msg}"
    );
    assert!(!msg.contains("filtering:"), "{msg}");
    // The declaration that holds passes.
    let home = NatBehaviour::new(
        Mapping::EndpointIndependent,
        Filtering::AddressAndPortDependent,
    )
    .port_preservation(true);
    net.assert_nat("masq_a", home).await;
    Ok(())
}

#[netns_test(topology = every_nat())]
async fn a_classification_with_an_unknown_reflector_node_fails_naming_it(net: Net) {
    // Not a node of the network.
    let e = net
        .nat_probe("masq_a")
        .reflector("nobody")
        .classify()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nobody"), "{e}");
}

#[netns_test(topology = netns_test::presets::bridge_pair())]
async fn a_classification_without_a_public_node_says_how_to_name_one(net: Net) {
    // b shares a's network: it is no public side.
    let e = net.classify_nat("a").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "no public node to run the NAT reflector in for node \"a\" (one on a network of the host only, sharing none with \"a\"): name one with `net.nat_probe(\"a\").reflector(\"server\")`"
    );
    // Named, b reflects: no NAT between them.
    let class = net
        .nat_probe("a")
        .reflector("b")
        .classify()
        .await
        .expect("classified");
    assert_eq!(class.behaviour.mapping, Mapping::NoNat);
}
