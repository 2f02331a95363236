//! Faults that prove themselves, and negative claims that hold for a whole body: a verified
//! partition, link down, firewall rule or impairment passes only when its probe got through
//! before and not after (or, for an impairment, showed it); a fault that did nothing fails
//! naming it. `never_reaches` catches a window of reachability in the middle of a body, on
//! IPv6 as well as IPv4, and passes when there is none.

use std::time::Duration;

use netns_test::fault::{Conditions, Emulator};
use netns_test::nft::{Hook, Rule, Ruleset};
use netns_test::reach::Probe;
use netns_test::{netns_test, Net, Topology};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Three containers on a bridge with IPv4 and IPv6.
fn dual_stack() -> Topology {
    Topology::new()
        .bridge_with("br0", "10.0.0.0/24", |b| b.ipv6("fd00:1::/64"))
        .node("con1", |n| n.on("br0"))
        .node("con2", |n| n.on("br0"))
        .node("con3", |n| n.on("br0"))
}

/// `a` - `b` and `a` - `c`, both impairable.
fn star() -> Topology {
    Topology::new()
        .node("a", |n| n)
        .node("b", |n| n)
        .node("c", |n| n)
        .link_with("a", "b", "10.0.1.0/30", |l| l.impairable())
        .link_with("a", "c", "10.0.2.0/30", |l| l.impairable())
}

fn message(e: netns_test::Error) -> String {
    e.to_string()
}

#[netns_test(topology = dual_stack())]
async fn a_verified_partition_holds_and_one_that_misses_the_pair_fails(net: Net) {
    let proof = net
        .verified("con1", "con3", Probe::Icmp)
        .unwrap()
        .isolation_wait(ms(300));
    let cut = proof
        .partition(&[&["con1", "con2"], &["con3"]])
        .await
        .unwrap();
    // The positive control now fails: the pair is cut already.
    let e = message(proof.partition(&[&["con1"], &["con3"]]).await.unwrap_err());
    assert!(
        e.contains("cannot verify the partition") && e.contains("the positive control failed"),
        "{e}"
    );
    cut.heal().unwrap();
    // A partition that leaves con1 -> con3 alone did nothing for this probe.
    let e = message(proof.partition(&[&["con1"], &["con2"]]).await.unwrap_err());
    assert!(
        e.contains(r#"the partition [["con1"], ["con2"]] did nothing: con1 -> con3 by ICMP echo still gets through"#),
        "{e}"
    );
}

#[netns_test(topology = dual_stack())]
async fn a_verified_link_down_and_firewall_rule(net: Net) {
    let proof = net
        .verified("con1", "con3", Probe::Icmp)
        .unwrap()
        .isolation_wait(ms(300));
    // Another node's link: con1 still reaches con3.
    let e = message(proof.link_down("con2", "eth0").await.unwrap_err());
    assert!(
        e.contains(r#"taking eth0 of "con2" down did nothing: con1 -> con3 by ICMP echo still gets through"#),
        "{e}"
    );
    // A rule that drops only IPv6 does nothing to this IPv4 probe; one on IPv4 does.
    let con3 = net.node("con3");
    let v6_only = Ruleset::named("v6cut").filter(
        Hook::Input,
        Rule::new().src(net.node("con1").ip6().unwrap()).drop(),
    );
    let e = message(
        proof
            .fault("con3 dropping con1's IPv6", con3.nft().apply(&v6_only))
            .await
            .unwrap_err(),
    );
    assert!(e.contains("con3 dropping con1's IPv6 did nothing"), "{e}");
    let v4 =
        Ruleset::named("v4cut").filter(Hook::Input, Rule::new().src(net.node("con1").ip()).drop());
    proof
        .fault("con3 dropping con1's IPv4", con3.nft().apply(&v4))
        .await
        .unwrap();
    con3.nft().delete_table("v4cut").await.unwrap();
    proof.link_down("con3", "eth0").await.unwrap();
}

#[netns_test(topology = star(), timeout = "60s")]
async fn verified_impairments_show_on_the_probed_path_only(net: Net) {
    let proof = net.verified("a", "b", Probe::Icmp).unwrap();
    let relay = |c: Conditions| c.via(Emulator::Relay);
    let (a, b, c) = (net.node("a"), net.node("b"), net.node("c"));
    // A delay on the path raises the round trip; a loss shows in the relay's counters.
    let toward_b = a.conditions("eth0");
    proof
        .conditions(&toward_b, relay(Conditions::new().delay(ms(40))))
        .await
        .unwrap();
    proof
        .conditions(&toward_b, relay(Conditions::new().loss(0.3)))
        .await
        .unwrap();
    proof
        .conditions(
            &toward_b.clone().ingress(),
            relay(Conditions::new().duplicate(0.5).corrupt(0.2)),
        )
        .await
        .unwrap();
    toward_b.clear().await.unwrap();
    toward_b.clone().ingress().clear().await.unwrap();
    // The same on the link to c, which the probe a -> b never crosses, did nothing.
    let e = message(
        proof
            .conditions(
                &c.conditions("eth0"),
                relay(Conditions::new().delay(ms(40))),
            )
            .await
            .unwrap_err(),
    );
    assert!(
        e.contains("the conditions 40 ms delay did nothing: the round trip a -> b by ICMP echo is"),
        "{e}"
    );
    let e = message(
        proof
            .conditions(&c.conditions("eth0"), relay(Conditions::new().loss(0.5)))
            .await
            .unwrap_err(),
    );
    assert!(
        e.contains(
            "did nothing: after 28 probes a -> b by ICMP echo the relay had not counted any loss"
        ),
        "{e}"
    );
    // What no probe shows is refused by name, and so is a probability too small to show.
    let e = message(
        proof
            .conditions(&toward_b, relay(Conditions::new().rate(1_000_000)))
            .await
            .unwrap_err(),
    );
    assert!(e.contains("nothing of it shows in a probe"), "{e}");
    let e = message(
        proof
            .conditions(&toward_b, relay(Conditions::new().loss(0.001)))
            .await
            .unwrap_err(),
    );
    assert!(e.contains("needs about 14000 probes to show"), "{e}");
    drop(b);
}

#[netns_test(topology = dual_stack(), timeout = "30s")]
async fn never_reaches_holds_while_the_partition_does(net: Net) {
    let _cut = net.partition(&[&["con1"], &["con3"]]).unwrap();
    let watch = net.never_reaches("con1", "con3", Probe::Icmp).unwrap();
    tokio::time::sleep(ms(600)).await;
    let watched = watch.finish().await.unwrap();
    // Both families were probed, round after round.
    assert_eq!(
        watched.addrs,
        net.node("con3")
            .addrs()
            .map(|a| a.addr())
            .collect::<Vec<_>>()
    );
    assert!(watched.addrs.iter().any(|a| a.is_ipv6()) && watched.addrs.iter().any(|a| a.is_ipv4()));
    assert!(watched.rounds >= 2, "{watched:?}");
}

#[netns_test(topology = dual_stack(), timeout = "30s")]
async fn never_reaches_catches_a_brief_window_in_the_middle_of_the_body(net: Net) {
    let cut = net.partition(&[&["con1"], &["con3"]]).unwrap();
    let watch = net.never_reaches("con1", "con3", Probe::Icmp).unwrap();
    tokio::time::sleep(ms(400)).await;
    drop(cut);
    tokio::time::sleep(ms(400)).await;
    let _cut = net.partition(&[&["con1"], &["con3"]]).unwrap();
    tokio::time::sleep(ms(400)).await;
    let e = message(watch.finish().await.unwrap_err());
    assert!(
        e.starts_with(r#"the watch "con1 never reaches con3 by ICMP echo" failed"#)
            && e.contains("con1 reached con3 (10.0.0.4) by ICMP echo"),
        "{e}"
    );
}

#[netns_test(topology = dual_stack(), timeout = "30s")]
async fn never_reaches_watches_ipv6_too(net: Net) {
    // IPv4 cut by con3's firewall; IPv6 left open.
    let v4 =
        Ruleset::named("v4cut").filter(Hook::Input, Rule::new().src(net.node("con1").ip()).drop());
    net.node("con3").nft().apply(&v4).await.unwrap();
    let watch = net.never_reaches("con1", "con3", Probe::Icmp).unwrap();
    tokio::time::sleep(ms(500)).await;
    let e = message(watch.finish().await.unwrap_err());
    assert!(
        e.contains("con1 reached con3 (fd00:1::4) by ICMP echo"),
        "{e}"
    );
    assert!(!e.contains("(10.0.0.4)"), "{e}");
    // Told to watch the IPv4 address only, it holds.
    let watch = net.never_reaches("con1", "10.0.0.4", Probe::Icmp).unwrap();
    tokio::time::sleep(ms(300)).await;
    watch.finish().await.unwrap();
}

#[netns_test(topology = dual_stack(), timeout = "30s")]
#[should_panic(expected = r#"the watch "con1 never reaches con3 by ICMP echo" failed"#)]
async fn a_watch_dropped_at_the_end_of_the_body_fails_the_test(net: Net) {
    let _watch = net.never_reaches("con1", "con3", Probe::Icmp).unwrap();
    tokio::time::sleep(ms(300)).await;
}
