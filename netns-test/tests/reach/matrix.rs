//! Reachability matrices over a live network: who reaches whom, every pair at once, and
//! the side-by-side rendering when an expectation is wrong.

use std::time::{Duration, Instant};

use netns_test::reach::{Matrix, MatrixError, Probe};
use netns_test::{netns_test, presets, Net, Topology};

use crate::common::{assert_has, panic_message};

/// Docker's two user networks: con1 and con2 on one, con3 on the other.
pub(crate) const TWO_NETWORKS: &str = "
         con1 con2 con3
    con1   -    y    n
    con2   y    -    n
    con3   n    n    -
";

#[netns_test(topology = presets::two_networks())]
async fn matrix_on_two_networks(net: Net) {
    let report = net.assert_matrix(Probe::Icmp, TWO_NETWORKS).await;
    println!("{report}");
    assert_eq!(report.probed(), 6);
    assert_eq!(report.reached("con1", "con2"), Some(true));
    assert_eq!(report.reached("con1", "con3"), Some(false));
    assert_eq!(report.reached("con1", "con1"), None);
    // The same built, with the host: it owns 172.18.0.1 and 172.19.0.1, so every
    // container reaches it and it reaches every container.
    let m = Matrix::new(&["con1", "con2", "con3", "host"])
        .expect_all(true)
        .expect("con1", "con3", false)
        .expect("con2", "con3", false)
        .expect("con3", "con1", false)
        .expect("con3", "con2", false);
    net.assert_matrix(Probe::Icmp, &m).await;
}

#[netns_test(topology = presets::two_networks())]
async fn matrix_with_a_wrong_expectation(net: Net) {
    let wrong = "
             con1 con2 con3
        con1   -    n    y
        con2   y    -    n
        con3   n    n    -
    ";
    // The waits are pinned (NETNS_TEST_ISOLATION_WAIT would raise a default one).
    let wrong_fast = Matrix::parse(wrong)
        .unwrap()
        .timeout(Duration::from_millis(500))
        .isolation_wait(Duration::from_millis(300));
    let start = Instant::now();
    let err = net
        .check_matrix(Probe::Icmp, &wrong_fast)
        .await
        .unwrap_err();
    let text = err.to_string();
    println!("{text}");
    // con1 -> con3 was expected to reach: it waits the reach timeout, not more.
    assert!(start.elapsed() < Duration::from_millis(1500));
    let MatrixError::Mismatch(report) = &err else {
        panic!("{err}")
    };
    assert_eq!(report.mismatches().count(), 2);
    assert_has(
        &text,
        &[
            "reachability by ICMP echo (row reaches column?): 2 of 6 probed cells differ, marked *",
            "expected",
            "actual",
            "(y reached, n not reached",
            "con1 -> con2 (172.18.0.3): expected n, got y: echo reply after",
            "con1 -> con3 (172.19.0.2): expected y, got n: timeout: no answer within 500 ms",
            "con1's route toward 172.19.0.2: 0.0.0.0/0 via 172.18.0.1 (host) dev eth0",
        ],
    );
    // Side by side: the con1 row shows the expected cells left, the marked actual right.
    let row = |name: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")) && l.contains(" - "))
            .unwrap()
    };
    let (left, right) = row("con1").split_once('|').unwrap();
    assert_eq!(
        left.split_whitespace().collect::<Vec<_>>(),
        ["con1", "-", "n", "y"]
    );
    assert_eq!(
        right.split_whitespace().collect::<Vec<_>>(),
        ["con1", "-", "y*", "n*"]
    );
    assert!(!row("con2").contains('*'), "{}", row("con2"));
    // The panicking form prints the same.
    let msg = panic_message(net.assert_matrix(Probe::Icmp, wrong_fast)).await;
    assert!(msg.contains("2 of 6 probed cells differ"), "{msg}");
    // A typo is named, with the nodes there are.
    let e = net
        .check_matrix(Probe::Icmp, "con1 conn2\ncon1 - y\n")
        .await
        .unwrap_err();
    assert_has(&e.to_string(), &["column \"conn2\"", "con1, con2, con3"]);
}

fn two_groups_of_five() -> Topology {
    (1..=10).fold(
        Topology::new()
            .bridge("left", "10.1.0.0/24")
            .bridge("right", "10.2.0.0/24"),
        |t, i| {
            let net = if i <= 5 { "left" } else { "right" };
            t.node(&format!("n{i}"), |n| n.on(net))
        },
    )
}

const LEFT: [&str; 5] = ["n1", "n2", "n3", "n4", "n5"];
const RIGHT: [&str; 5] = ["n6", "n7", "n8", "n9", "n10"];

/// A TIMED TEST: prints the time of a 10-node matrix (90 probes, 50 of them unreachable);
/// the figure goes to docs/measurements.md, nothing is asserted on it.
#[netns_test(topology = two_groups_of_five())]
async fn ten_node_matrix_timing(net: Net) {
    let m = Matrix::groups(&[&LEFT, &RIGHT]);
    // Something to connect to, in every node.
    let mut servers = Vec::new();
    for name in LEFT.iter().chain(&RIGHT) {
        let node = net.node(name);
        let l = node
            .run(async { tokio::net::TcpListener::bind("0.0.0.0:7").await })
            .await
            .unwrap();
        servers.push(node.spawn(async move { while l.accept().await.is_ok() {} }));
    }
    for probe in [Probe::Icmp, Probe::Tcp(7)] {
        let start = Instant::now();
        let report = net.assert_matrix(probe, &m).await;
        let total = start.elapsed();
        println!("{report}");
        assert_eq!(report.probed(), 90);
        println!(
            "TIMING ten_node_matrix {probe}: {:.1} ms (probing {:.1} ms)",
            total.as_secs_f64() * 1e3,
            report.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// A TIMED TEST, like the one above on one bridge: every cell reachable.
#[netns_test(topology = presets::docker_bridge(10))]
async fn ten_node_matrix_all_reachable_timing(net: Net) {
    let names: Vec<String> = (1..=10).map(|i| format!("con{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let start = Instant::now();
    let report = net
        .assert_matrix(Probe::Icmp, Matrix::new(&names).expect_all(true))
        .await;
    let total = start.elapsed();
    assert_eq!(report.probed(), 90);
    println!(
        "TIMING ten_node_matrix_all_reachable ICMP: {:.1} ms",
        total.as_secs_f64() * 1e3
    );
}

#[netns_test(topology = presets::bridge_pair())]
async fn a_matrix_n_against_a_closed_port_is_a_mismatch(net: Net) {
    let isolated = "
          a b
        a - n
        b n -
    ";
    // Nothing listens on TCP 7: both nodes refuse, so `n` is wrong.
    let e = net.check_matrix(Probe::Tcp(7), isolated).await.unwrap_err();
    let text = e.to_string();
    println!("{text}");
    let MatrixError::Mismatch(report) = &e else {
        panic!("{e}")
    };
    assert_eq!(report.mismatches().count(), 2);
    assert_eq!(report.reached("a", "b"), Some(false));
    assert!(report.result("a", "b").unwrap().outcome.is_refused());
    assert_has(
        &text,
        &[
            "2 of 2 probed cells differ, marked *",
            "r refused: the target answered but nothing listens",
            "a -> b (10.0.0.3): expected n, got r: refused: the path exists, nothing listens on 10.0.0.3:7",
            "a refusal is not isolation: the packet got to b (10.0.0.3)",
            "b -> a (10.0.0.2): expected n, got r",
        ],
    );
    let row = |name: &str| {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")) && l.contains(" - "))
            .unwrap();
        line.split_once('|')
            .unwrap()
            .1
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("a"), ["a", "-", "r*"]);
    assert_eq!(row("b"), ["b", "r*", "-"]);
    // `y` is wrong too: nothing listens.
    let e = net
        .check_matrix(Probe::Tcp(7), Matrix::new(&["a", "b"]).expect_all(true))
        .await
        .unwrap_err();
    assert_has(&e.to_string(), &["expected y, got r"]);
    let msg = panic_message(net.assert_matrix(Probe::Tcp(7), isolated)).await;
    assert_has(&msg, &["expected n, got r"]);
    // With listeners, the same matrix reads `y` everywhere.
    let mut servers = Vec::new();
    for node in [net.node("a"), net.node("b")] {
        let l = node
            .run(async { tokio::net::TcpListener::bind("0.0.0.0:7").await })
            .await
            .unwrap();
        servers.push(node.spawn(async move { while l.accept().await.is_ok() {} }));
    }
    net.assert_matrix(Probe::Tcp(7), Matrix::new(&["a", "b"]).expect_all(true))
        .await;
    for s in servers {
        s.abort();
    }
}
