//! Link conditions declared in the topology: in force when the body starts, per direction,
//! read back and changed at run time; presets as plain values; every impairment the relay
//! makes (duplicate, corrupt, reorder, bursty loss) observed on real datagrams; what cannot
//! be made refused by name.
//!
//! Timing bounds are loose (a loaded 2-core machine): a 40 ms delay is checked as "at
//! least 40 ms more than the plain link", never as "at most".

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use netns_test::fault::{Conditions, Emulator, GilbertElliott, Profile};
use netns_test::reach::Probe;
use netns_test::{netns_test, Error, Net, Node, Topology};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `a` - `b` with conditions both ways (40 ms from `a`, 20 ms toward it), `a` - `c` plain;
/// `d` on a bridge with a preset changed by the test.
fn declared() -> Topology {
    let mut phone = Profile::umts();
    phone.egress.rate = None; // a test's own variant of the preset
    phone.ingress = phone.ingress.delay(ms(10));
    Topology::new()
        .node("a", |n| n)
        .node("b", |n| n)
        .node("c", |n| n)
        .link_with("a", "b", "10.0.1.0/30", |l| {
            l.egress(Conditions::new().delay(ms(40)))
                .ingress(Conditions::new().delay(ms(20)))
        })
        .link("a", "c", "10.0.2.0/30")
        .bridge("br0", "10.0.3.0/24")
        .node("d", |n| n.on_with("br0", |x| x.profile(phone)))
        .node("e", |n| n.on("br0"))
}

/// The shortest of `n` ping round trips.
async fn min_rtt(from: &Node, to: &Node, n: usize) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..n {
        best = best.min(from.ping(to).await.unwrap());
    }
    best
}

#[netns_test(topology = declared(), timeout = "30s")]
async fn declared_conditions_are_in_force_when_the_body_starts(net: Net) {
    let (a, b, c) = (net.node("a"), net.node("b"), net.node("c"));
    // Positive control: the plain link.
    // The delays are lower bounds of the round trips by themselves: a busy machine can
    // make the plain link's best round trip longer than the delayed link's remainder.
    let plain = min_rtt(&a, &c, 3).await;
    let both = min_rtt(&a, &b, 3).await;
    assert!(plain < ms(20), "the plain link: {plain:?}");
    assert!(both >= ms(60), "{both:?} vs plain {plain:?}");
    // Each direction is read back where it was declared, and on the far end too.
    let eth0 = a.conditions("eth0");
    assert_eq!(eth0.get().await.unwrap(), Conditions::new().delay(ms(40)));
    assert_eq!(
        eth0.clone().ingress().get().await.unwrap(),
        Conditions::new().delay(ms(20))
    );
    assert_eq!(
        b.conditions("eth0").get().await.unwrap(),
        Conditions::new().delay(ms(20))
    );
    assert_eq!(c.conditions("eth0").get().await.unwrap(), Conditions::new());
    // Changed at run time: one direction cleared, the round trip falls by its delay.
    eth0.clone().ingress().clear().await.unwrap();
    assert_eq!(b.conditions("eth0").get().await.unwrap(), Conditions::new());
    let one_way = min_rtt(&a, &b, 5).await;
    assert!(one_way >= ms(40), "{one_way:?}");
    assert!(one_way + ms(10) <= both, "{one_way:?} vs {both:?}");
    // Both directions counted their frames.
    assert!(eth0.stats().await.unwrap().delayed > 0);
}

#[netns_test(topology = declared(), timeout = "30s")]
async fn a_preset_is_a_plain_value_the_topology_and_the_test_change(net: Net) {
    let d = net.node("d");
    let mut expected = Profile::umts();
    expected.egress.rate = None;
    expected.ingress = expected.ingress.delay(ms(10));
    assert_eq!(d.conditions("eth0").get().await.unwrap(), expected.egress);
    assert_eq!(
        d.conditions("eth0").ingress().get().await.unwrap(),
        expected.ingress
    );
    // The bridge port is the other end: the download.
    assert_eq!(
        net.host().conditions("d-eth0").get().await.unwrap(),
        expected.ingress
    );
    // 100 ms up plus 10 ms down (not 100 + 100).
    let rtt = min_rtt(&d, &net.node("e"), 3).await;
    assert!((ms(110)..ms(250)).contains(&rtt), "{rtt:?}");
}

/// Sends `n` numbered datagrams from `from`:41000 to `to`:9100, 2 ms apart, and returns
/// the numbers received, in arrival order (until 300 ms of silence, at most 10 s).
fn exchange(from: &Node, to: &Node, n: u32) -> Vec<u32> {
    let dst = to.ip();
    let rx = to.run_blocking(|| UdpSocket::bind((dst, 9100)).unwrap());
    let tx = from.run_blocking(|| UdpSocket::bind("0.0.0.0:41000").unwrap());
    rx.set_read_timeout(Some(ms(300))).unwrap();
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        let start = Instant::now();
        while let Ok(4) = rx.recv(&mut buf) {
            got.push(u32::from_be_bytes(buf[..4].try_into().unwrap()));
            if start.elapsed() > Duration::from_secs(10) {
                break;
            }
        }
        got
    });
    for i in 0..n {
        tx.send_to(&i.to_be_bytes(), (dst, 9100)).unwrap();
        std::thread::sleep(ms(2));
    }
    receiver.join().unwrap()
}

fn relay_pair() -> Topology {
    Topology::new()
        .node("a", |n| n)
        .node("b", |n| n)
        .link_with("a", "b", "10.0.0.0/30", |l| l.impairable())
}

#[netns_test(topology = relay_pair(), timeout = "60s")]
fn the_relay_duplicates_corrupts_reorders_and_loses_in_bursts(net: Net) {
    let (a, b) = (net.node("a"), net.node("b"));
    net.block_on(a.assert_reaches(&b, Probe::Icmp));
    let eth0 = a.conditions("eth0");
    let set = |c: Conditions| net.block_on(eth0.set(c.via(Emulator::Relay))).unwrap();
    // Positive control: in order, once each.
    assert_eq!(exchange(&a, &b, 50), (0..50).collect::<Vec<_>>());

    set(Conditions::new().duplicate(1.0));
    let got = exchange(&a, &b, 50);
    assert_eq!(got.len(), 100, "{got:?}");
    assert!((0..50).all(|i| got.iter().filter(|&&g| g == i).count() == 2));

    // A flipped bit breaks the UDP checksum: the receiver's kernel drops the datagram.
    set(Conditions::new().corrupt(1.0));
    let got = exchange(&a, &b, 50);
    assert!(got.is_empty(), "{got:?}");
    assert!(net.block_on(eth0.stats()).unwrap().corrupted >= 50);

    // Half the datagrams skip a 30 ms delay, overtaking those sent before them.
    set(Conditions::new().delay(ms(30)).reorder(0.5));
    let got = exchange(&a, &b, 100);
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    let inversions = got.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(inversions >= 10, "{inversions} inversions: {got:?}");

    // Bursty loss: about 20% lost, in runs longer than independent loss gives.
    set(Conditions::new().bursty_loss(GilbertElliott::bursts(0.2, 5.0)));
    let got = exchange(&a, &b, 500);
    let lost: Vec<u32> = (0..500).filter(|i| !got.contains(i)).collect();
    let runs = 1 + lost.windows(2).filter(|w| w[1] != w[0] + 1).count();
    let mean_run = lost.len() as f64 / runs as f64;
    assert!((40..=180).contains(&lost.len()), "{} lost", lost.len());
    assert!(mean_run >= 2.5, "mean run {mean_run}: {lost:?}");

    // A queue of 5 frames with a 150 ms delay: most of a quick burst overflows.
    set(Conditions::new().delay(ms(150)).queue(5));
    let got = exchange(&a, &b, 20);
    assert!((5..=15).contains(&got.len()), "{got:?}");
    assert!(net.block_on(eth0.stats()).unwrap().overflowed >= 5);
}

#[netns_test(topology = Topology::new()
    .node("a", |n| n)
    .node("b", |n| n)
    .link("a", "b", "10.0.0.0/30")
    .link_with("a", "b", "10.0.1.0/30", |l| l.impairable()))]
async fn what_cannot_be_made_is_refused_by_name(net: Net) {
    let a = net.node("a");
    let refused = |r: Result<_, Error>| match r {
        Err(Error::Condition { message, .. }) => message,
        other => panic!("expected a refusal, got {other:?}"),
    };
    // The relay holds at most 1000 frames.
    let m = refused(
        a.conditions("eth1")
            .set(
                Conditions::new()
                    .delay(ms(10))
                    .queue(5000)
                    .via(Emulator::Relay),
            )
            .await,
    );
    assert!(
        m.contains("queue 5000 frames: the relay holds at most 1000 frames per direction"),
        "{m}"
    );
    // Reorder needs a delay; probabilities are checked by name.
    let m = refused(
        a.conditions("eth1")
            .set(Conditions::new().reorder(0.1))
            .await,
    );
    assert!(m.contains("reorder sends some frames at once"), "{m}");
    let m = refused(
        a.conditions("eth1")
            .set(Conditions::new().corrupt(2.0))
            .await,
    );
    assert!(
        m.contains("corrupt must be a probability from 0.0 to 1.0, not 2"),
        "{m}"
    );
    // On the plain link: made by netem where the kernel has it, else refused naming it.
    let dup = Conditions::new().duplicate(0.1);
    match a.conditions("eth0").set(dup).await {
        Ok(applied) => assert_eq!(applied, netns_test::fault::Applied::Netem),
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.contains("cannot set 10% duplicate on eth0: this kernel has no netem qdisc")
                    && m.contains("declare the link impairable"),
                "{m}"
            );
        }
    }
}
