//! Seeded impairments: the same seed drops the same datagrams of the same traffic, another
//! seed other ones; `NETNS_TEST_SEED` sets the seed of a whole test run, and a failing test
//! that used random impairments prints the seed that replays it.
//!
//! The `child_*` tests are run by the others in a child process (this test binary, with
//! `NETNS_TEST_SEED` set): alone they are ignored.

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use netns_test::fault::{Conditions, Emulator};
use netns_test::reach::Probe;
use netns_test::{netns_test, Net, Node, Topology};

fn lossy_pair() -> Topology {
    Topology::new()
        .node("a", |n| n)
        .node("b", |n| n)
        .link_with("a", "b", "10.0.0.0/30", |l| l.impairable())
}

const SENT: u32 = 200;

/// Sends datagrams 0..SENT from `a`:40000 to `b`:9000 (one flow, the same every time),
/// paced, and returns the sequence numbers that did not arrive.
fn dropped(a: &Node, b: &Node) -> BTreeSet<u32> {
    let dst = b.ip();
    let rx = b.run_blocking(|| UdpSocket::bind((dst, 9000)).unwrap());
    let tx = a.run_blocking(|| UdpSocket::bind("0.0.0.0:40000").unwrap());
    rx.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for i in 0..SENT {
        tx.send_to(&i.to_be_bytes(), (dst, 9000)).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut missing: BTreeSet<u32> = (0..SENT).collect();
    let mut buf = [0u8; 16];
    // Until 300 ms pass without a datagram (bounded: 10 s).
    let start = Instant::now();
    while let Ok(4) = rx.recv(&mut buf) {
        missing.remove(&u32::from_be_bytes(buf[..4].try_into().unwrap()));
        if start.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    missing
}

fn lossy() -> Conditions {
    Conditions::new().loss(0.3).via(Emulator::Relay)
}

#[netns_test(topology = lossy_pair(), timeout = "30s")]
fn the_same_seed_drops_the_same_sequence_numbers_another_seed_others(net: Net) {
    let (a, b) = (net.node("a"), net.node("b"));
    net.block_on(a.assert_reaches(&b, Probe::Icmp));
    let eth0 = a.conditions("eth0");
    // Positive control: without loss every datagram arrives.
    assert_eq!(dropped(&a, &b), BTreeSet::new());

    // Setting conditions restarts their draws: the same seed (the test's), the same drops.
    net.block_on(eth0.set(lossy())).unwrap();
    let first = dropped(&a, &b);
    net.block_on(eth0.set(lossy())).unwrap();
    let again = dropped(&a, &b);
    assert!(
        (20..=100).contains(&first.len()),
        "30% of {SENT} lost: {}",
        first.len()
    );
    assert_eq!(first, again, "seed {}", net.seed());
    // An explicit seed: the same one twice, the same drops; another, other drops.
    let given = lossy().seed(net.seed());
    net.block_on(eth0.set(given)).unwrap();
    assert_eq!(dropped(&a, &b), first);
    net.block_on(eth0.set(lossy().seed(net.seed().wrapping_add(1))))
        .unwrap();
    let other = dropped(&a, &b);
    assert_ne!(other, first, "seeds {} and {}", net.seed(), net.seed() + 1);
}

/// Runs `child` of this binary with `NETNS_TEST_SEED=seed`: its success and its output.
fn run_child(child: &str, seed: &str) -> (bool, String) {
    let artifacts = std::env::temp_dir().join(format!("netns-test-seeds-{}", std::process::id()));
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            child,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NETNS_TEST_SEED", seed)
        .env("NETNS_TEST_ARTIFACTS", &artifacts)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&artifacts);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("1 passed"), text)
}

/// What a child prints: `seed S dropped {..}` (after libtest's `test NAME ... `).
fn report(text: &str) -> &str {
    text.lines()
        .find_map(|l| l.find("seed ").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no report in the child's output:\n{text}"))
}

#[test]
fn netns_test_seed_replays_a_whole_run() {
    let (ok1, one) = run_child("child_reports_its_drops", "12345");
    let (ok2, two) = run_child("child_reports_its_drops", "12345");
    let (ok3, other) = run_child("child_reports_its_drops", "0x3039a");
    assert!(ok1 && ok2 && ok3, "{one}\n{two}\n{other}");
    assert!(report(&one).starts_with("seed 12345 dropped {"), "{one}");
    assert_eq!(report(&one), report(&two));
    assert!(
        report(&other).starts_with("seed 197530 dropped {"),
        "{other}"
    );
    let drops = |r: &str| r.split_once(" dropped ").unwrap().1.to_string();
    assert_ne!(drops(report(&one)), drops(report(&other)));
}

#[test]
fn a_failing_test_prints_the_seed_that_replays_it() {
    let (ok, text) = run_child("child_fails_after_random_loss", "777");
    assert!(!ok, "the child was to fail:\n{text}");
    assert!(text.contains("deliberate failure"), "{text}");
    assert!(
        text.contains(
            "random link conditions drew from seed 777: NETNS_TEST_SEED=777 replays the same draws for the same traffic"
        ),
        "{text}"
    );
    // Without random conditions, no seed is mentioned.
    let (ok, text) = run_child("child_fails_without_random_conditions", "777");
    assert!(!ok && text.contains("deliberate failure"), "{text}");
    assert!(!text.contains("NETNS_TEST_SEED"), "{text}");
    // A seed that is not a number fails the test, naming the variable.
    let (ok, text) = run_child("child_reports_its_drops", "twelve");
    assert!(!ok, "{text}");
    assert!(
        text.contains("NETNS_TEST_SEED=\"twelve\" is not a seed"),
        "{text}"
    );
}

#[netns_test(topology = lossy_pair(), timeout = "30s")]
#[ignore = "run by netns_test_seed_replays_a_whole_run in a child process with NETNS_TEST_SEED set"]
fn child_reports_its_drops(net: Net) {
    let (a, b) = (net.node("a"), net.node("b"));
    net.block_on(a.assert_reaches(&b, Probe::Icmp));
    net.block_on(a.conditions("eth0").set(lossy())).unwrap();
    let d = dropped(&a, &b);
    println!("seed {} dropped {:?}", net.seed(), d);
}

#[netns_test(topology = lossy_pair(), timeout = "30s")]
#[ignore = "run by a_failing_test_prints_the_seed_that_replays_it in a child process"]
fn child_fails_after_random_loss(net: Net) {
    net.block_on(net.node("a").conditions("eth0").set(lossy()))
        .unwrap();
    panic!("deliberate failure");
}

#[netns_test(topology = lossy_pair(), timeout = "30s")]
#[ignore = "run by a_failing_test_prints_the_seed_that_replays_it in a child process"]
fn child_fails_without_random_conditions(net: Net) {
    let slow = Conditions::new()
        .delay(Duration::from_millis(5))
        .via(Emulator::Relay);
    net.block_on(net.node("a").conditions("eth0").set(slow))
        .unwrap();
    panic!("deliberate failure");
}
