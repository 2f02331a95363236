//! Reachability and isolation assertions, each seen passing and failing with a message that
//! explains itself. Matrices are in `reach/matrix.rs`.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use netns_test::reach::{Matrix, MatrixError, Outcome, Probe, Target, ISOLATION_WAIT_ENV};
use netns_test::reach::{ISOLATION_WAIT, REACH_TIMEOUT};
use netns_test::{netns_test, presets, Net, Topology};

mod common;
#[path = "reach/matrix.rs"]
mod matrix;

use common::{assert_has, panic_message, with_no_free_fd};
use matrix::TWO_NETWORKS;

fn dual_stack() -> Topology {
    Topology::new()
        .bridge_with("br0", "10.0.0.0/24", |b| b.ipv6("fd00:1::/64"))
        .node("a", |n| n.on("br0"))
        .node("b", |n| n.on("br0"))
}

#[netns_test(topology = dual_stack())]
async fn icmp_v4_and_v6(net: Net) {
    let (a, b) = (net.node("a"), net.node("b"));
    // Passing: by node, by name, by address, over IPv6.
    let rtt = a.ping(&b).await.unwrap();
    assert!(rtt < Duration::from_secs(1), "{rtt:?}");
    a.ping("b").await.unwrap();
    a.ping(b.ip()).await.unwrap();
    a.ping(Target::v6(&b)).await.unwrap();
    a.ping(b.ip6().unwrap()).await.unwrap();
    a.assert_reaches(&b, Probe::Icmp).await;
    a.assert_reaches(Target::v6(&b), Probe::Icmp).await;

    // Failing: nobody has 10.0.0.200 / fd00:1::99 (ARP / neighbour discovery unanswered).
    let e = a
        .reach("10.0.0.200", Probe::Icmp)
        .within(Duration::from_millis(300))
        .reaches()
        .await
        .unwrap_err();
    println!("{e}");
    assert_eq!(e.outcome(), &Outcome::Timeout);
    assert_has(
        &e.to_string(),
        &[
            "a should reach 10.0.0.200 by ICMP echo, but did not",
            "timeout: no answer within 300 ms",
            "echo requests sent",
            "a's route toward 10.0.0.200: 10.0.0.0/24 dev eth0 (on link)",
            "a's addresses: eth0 10.0.0.2/24, eth0 fd00:1::2/64",
        ],
    );
    let e = a
        .reach(
            "fd00:1::99".parse::<std::net::Ipv6Addr>().unwrap(),
            Probe::Icmp,
        )
        .within(Duration::from_millis(300))
        .reaches()
        .await
        .unwrap_err();
    println!("{e}");
    assert_has(
        &e.to_string(),
        &[
            "a should reach fd00:1::99 by ICMPv6 echo",
            "timeout",
            "a's route toward fd00:1::99: fd00:1::/64 dev eth0",
        ],
    );
    // The panicking form says the same.
    let msg = panic_message(a.assert_reaches(Target::v6(&net.host()), Probe::Tcp(1))).await;
    assert_has(
        &msg,
        &["a should reach host (fd00:1::1) by TCP port 1", "refused"],
    );

    // Isolation claims that are wrong fail: b answers.
    let e = a.reach(&b, Probe::Icmp).cannot_reach().await.unwrap_err();
    println!("{e}");
    assert_eq!(e.outcome(), &Outcome::Reached);
    // Converted by `?` into the crate's error, it is given back by `as_reach`.
    let converted = netns_test::Error::from(e.clone());
    assert_eq!(
        converted.as_reach().map(|r| r.outcome()),
        Some(&Outcome::Reached)
    );
    assert!(converted.as_matrix().is_none());
    assert_has(
        &e.to_string(),
        &[
            "a should NOT reach b (10.0.0.3) by ICMP echo, but it did: echo reply after",
            "a's route toward 10.0.0.3: 10.0.0.0/24 dev eth0",
        ],
    );
    let msg = panic_message(a.assert_cannot_reach(Target::v6(&b), Probe::Icmp)).await;
    assert_has(&msg, &["a should NOT reach b (fd00:1::3) by ICMPv6 echo"]);
    // And right ones pass: nobody has 10.0.0.200 ...
    assert_eq!(
        a.assert_cannot_reach("10.0.0.200", Probe::Icmp).await,
        Outcome::Timeout
    );
    // ... until b takes it: the same probe then gets its answer.
    b.addr("eth0").add("10.0.0.200/24").await.unwrap();
    a.reach("10.0.0.200", Probe::Icmp)
        .wait_until_reaches(Duration::from_secs(5))
        .await
        .unwrap();
    b.addr("eth0").del("10.0.0.200/24").await.unwrap();

    // A matrix over IPv6.
    let report = net
        .assert_matrix(
            Probe::Icmp,
            Matrix::new(&["a", "b", "host"]).expect_all(true).ipv6(),
        )
        .await;
    println!("{report}");
    assert!(report.to_string().contains("by ICMPv6 echo"));

    // A name the topology does not have.
    let e = a.reach("c", Probe::Icmp).reaches().await.unwrap_err();
    assert_has(
        &e.to_string(),
        &[
            "a should reach c by ICMP echo, but the probe could not be sent",
            "no node \"c\"",
            "host, a, b",
        ],
    );
}

/// `Node::reach`: every conclusion of one check, each negative next to the positive that
/// shows the same probe is answered where it may be.
#[netns_test(topology = presets::bridge_pair())]
async fn one_check_and_its_conclusions(net: Net) {
    let (a, b) = (net.node("a"), net.node("b"));
    let ms = Duration::from_millis;
    let to_b = a.reach(&b, Probe::Icmp);

    // reaches, assert_reaches: b answers echo requests.
    assert!(to_b.reaches().await.unwrap() < Duration::from_secs(1));
    to_b.assert_reaches().await;
    // result: what happened, with the deadline it had, without a claim.
    let r = to_b.result().await;
    assert_eq!(
        (&r.outcome, r.wait),
        (&Outcome::Reached, REACH_TIMEOUT),
        "{r}"
    );
    let r = a.reach(&b, Probe::Tcp(80)).within(ms(700)).result().await;
    assert_eq!((&r.outcome, r.wait), (&Outcome::Refused, ms(700)), "{r}");
    assert_eq!((r.from.as_str(), r.to.as_str()), ("a", "b (10.0.0.3)"));

    // within: a probe nobody answers gives up after it, not after REACH_TIMEOUT ...
    let start = Instant::now();
    let e = a
        .reach("10.0.0.201", Probe::Icmp)
        .within(ms(300))
        .reaches()
        .await
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1), "{e}");
    assert_eq!((e.outcome(), e.result().wait), (&Outcome::Timeout, ms(300)));
    assert_has(&e.to_string(), &["no answer within 300 ms"]);
    // ... and is plenty for b.
    a.reach(&b, Probe::Icmp)
        .within(ms(300))
        .reaches()
        .await
        .unwrap();

    // cannot_reach, assert_cannot_reach, with a wait of their own: nobody has 10.0.0.200.
    let nobody = a.reach("10.0.0.200", Probe::Icmp).isolation_wait(ms(350));
    let start = Instant::now();
    assert_eq!(nobody.cannot_reach().await.unwrap(), Outcome::Timeout);
    assert!(start.elapsed() >= ms(350));
    assert_eq!(nobody.assert_cannot_reach().await, Outcome::Timeout);
    // The same claims about b fail, saying the wait came from the code ...
    let e = to_b
        .clone()
        .isolation_wait(ms(350))
        .cannot_reach()
        .await
        .unwrap_err();
    assert_eq!((e.outcome(), e.result().wait), (&Outcome::Reached, ms(350)));
    assert_has(&e.to_string(), &["the wait given in the code"]);
    let msg = panic_message(to_b.assert_cannot_reach()).await;
    assert_has(
        &msg,
        &["a should NOT reach b (10.0.0.3) by ICMP echo, but it did"],
    );
    // ... and `within` is not an isolation wait: the default (or the variable) applies.
    let e = to_b
        .clone()
        .within(ms(900))
        .cannot_reach()
        .await
        .unwrap_err();
    assert!(!e.to_string().contains("the wait given in the code"), "{e}");
    assert_has(&e.to_string(), &[ISOLATION_WAIT_ENV]);
    if std::env::var_os(ISOLATION_WAIT_ENV).is_none() {
        assert_eq!(e.result().wait, ISOLATION_WAIT);
    }

    // wait_until_reaches: once b takes 10.0.0.200, the very check that held now fails and
    // the wait sees the address come.
    b.addr("eth0").add("10.0.0.200/24").await.unwrap();
    nobody
        .wait_until_reaches(Duration::from_secs(5))
        .await
        .unwrap();
    let e = nobody.cannot_reach().await.unwrap_err();
    assert_eq!(e.outcome(), &Outcome::Reached);
    b.addr("eth0").del("10.0.0.200/24").await.unwrap();
    // Nothing on TCP 80: refused all along, until a server listens.
    let web = a.reach("b", Probe::Tcp(80));
    let e = web.wait_until_reaches(ms(200)).await.unwrap_err();
    assert_has(
        &e.to_string(),
        &["a did not reach b (10.0.0.3) by TCP port 80 within 200 ms, retrying all along; the last try: refused"],
    );
    let listener = b
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:80").await })
        .await
        .unwrap();
    let server = b.spawn(async move { while listener.accept().await.is_ok() {} });
    web.wait_until_reaches(Duration::from_secs(5))
        .await
        .unwrap();
    web.assert_reaches().await;
    server.abort();
}

#[netns_test(topology = presets::bridge_pair())]
async fn tcp_reachable_and_refused(net: Net) -> std::io::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    let listener = b
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:80").await })
        .await?;
    let server = b.spawn(async move { while listener.accept().await.is_ok() {} });
    a.assert_reaches(&b, Probe::Tcp(80)).await;
    a.reach("b", Probe::Tcp(80)).reaches().await.unwrap();

    // Nothing listens on 81: refused, at once.
    let start = Instant::now();
    let e = a.reach(&b, Probe::Tcp(81)).reaches().await.unwrap_err();
    println!("{e}");
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(e.outcome(), &Outcome::Refused);
    assert_has(
        &e.to_string(),
        &[
            "a should reach b (10.0.0.3) by TCP port 81, but did not",
            "refused",
            "nothing listens on 10.0.0.3:81",
            "a's route toward 10.0.0.3: 10.0.0.0/24 dev eth0 (on link)",
            "a's addresses: eth0 10.0.0.2/24",
        ],
    );
    let msg = panic_message(a.assert_reaches(&b, Probe::Tcp(81))).await;
    assert_has(&msg, &["by TCP port 81", "refused"]);
    // A refusal is not isolation either: b's stack answered.
    let msg = panic_message(a.assert_cannot_reach(&b, Probe::Tcp(81))).await;
    assert_has(&msg, &["but the target answered: refused"]);
    // "Cannot connect to 80" is wrong.
    let msg = panic_message(a.assert_cannot_reach(&b, Probe::Tcp(80))).await;
    assert_has(
        &msg,
        &["a should NOT reach b (10.0.0.3) by TCP port 80, but it did: connected to 10.0.0.3:80"],
    );
    server.abort();
    Ok(())
}

fn no_route() -> Topology {
    Topology::new()
        .bridge("br0", "10.0.0.0/24")
        .node("a", |n| n.on("br0").no_default_route())
        .node("b", |n| n.on("br0"))
}

#[netns_test(topology = presets::two_networks())]
async fn tcp_and_icmp_unreachable_across_networks(net: Net) -> std::io::Result<()> {
    let (con1, con2, con3, host) = (
        net.node("con1"),
        net.node("con2"),
        net.node("con3"),
        net.host(),
    );
    // Something answers on every probed port, and it is reachable from where it may be:
    // con3's TCP 80 from the host, con1's UDP 53 from con2 (its own network).
    let listener = con3
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:80").await })
        .await?;
    let server = con3.spawn(async move { while listener.accept().await.is_ok() {} });
    let _dns = con1.udp_echo(53)?;
    host.assert_reaches(&con3, Probe::Tcp(80)).await;
    host.assert_reaches(&con3, Probe::Icmp).await;
    con2.assert_reaches(&con1, Probe::Udp(53)).await;

    // The host does not forward between docker0 and testnet: silence.
    let e = con1
        .reach(&con3, Probe::Tcp(80))
        .within(Duration::from_millis(500))
        .reaches()
        .await
        .unwrap_err();
    println!("{e}");
    let text = e.to_string();
    assert!(
        text.contains("timeout") || text.contains("unreachable"),
        "{text}"
    );
    assert_has(
        &text,
        &[
            "con1 should reach con3 (172.19.0.2) by TCP port 80, but did not",
            "con1's route toward 172.19.0.2: 0.0.0.0/0 via 172.18.0.1 (host) dev eth0",
            "con1's addresses: eth0 172.18.0.2/16",
        ],
    );
    let msg = panic_message(con1.assert_reaches(&con3, Probe::Icmp)).await;
    assert_has(
        &msg,
        &[
            "con1 should reach con3 (172.19.0.2) by ICMP echo, but did not",
            "via 172.18.0.1 (host)",
        ],
    );
    // The isolation claims hold.
    con1.assert_cannot_reach(&con3, Probe::Icmp).await;
    con1.assert_cannot_reach("con3", Probe::Tcp(80)).await;
    con3.assert_cannot_reach(&con1, Probe::Udp(53)).await;
    // Same network: reaches.
    con1.assert_reaches("con2", Probe::Icmp).await;

    // Without the isolation (the host forwarding), the very same probes get through: the
    // claims above were about the isolation, not about ports where nothing listens.
    host.run_blocking(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))?;
    con1.reach(&con3, Probe::Icmp)
        .wait_until_reaches(Duration::from_secs(5))
        .await
        .unwrap();
    con1.assert_reaches("con3", Probe::Tcp(80)).await;
    con3.assert_reaches(&con1, Probe::Udp(53)).await;
    server.abort();
    Ok(())
}

#[netns_test(topology = no_route())]
async fn no_route_is_network_unreachable(net: Net) {
    let a = net.node("a");
    for probe in [Probe::Icmp, Probe::Tcp(80), Probe::Udp(53)] {
        let start = Instant::now();
        let e = a.reach("192.0.2.1", probe).reaches().await.unwrap_err();
        println!("{e}");
        // The kernel refuses at once: nothing waits for the probe's deadline (a loaded
        // machine may still delay the diagnosis that follows, so no tighter bound).
        assert!(
            start.elapsed() < netns_test::reach::REACH_TIMEOUT / 2,
            "not at once: {:?}",
            start.elapsed()
        );
        assert_eq!(e.outcome(), &Outcome::NetUnreachable);
        assert_has(
            &e.to_string(),
            &[
                "network unreachable (ENETUNREACH)",
                "(at once, nothing was sent)",
                "a has no route toward 192.0.2.1; its IPv4 routes: 10.0.0.0/24 dev eth0",
            ],
        );
    }
    a.assert_reaches("b", Probe::Icmp).await;
}

/// A blackhole route makes the kernel refuse to send (`EINVAL`): network unreachable, an
/// isolation, not a probe that could not be sent.
#[netns_test(topology = presets::bridge_pair())]
async fn a_blackhole_route_is_network_unreachable(net: Net) {
    use netlink_packet_route::route::RouteType;
    use rtnetlink::RouteMessageBuilder;
    let (a, b) = (net.node("a"), net.node("b"));
    a.assert_reaches(&b, Probe::Icmp).await;
    let route = || {
        RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .destination_prefix("10.0.0.3".parse().unwrap(), 32)
            .kind(RouteType::BlackHole)
            .build()
    };
    a.netlink().route().add(route()).execute().await.unwrap();
    for probe in [Probe::Icmp, Probe::Tcp(80), Probe::Udp(53)] {
        let e = a.reach(&b, probe).reaches().await.unwrap_err();
        println!("{e}");
        assert_eq!(e.outcome(), &Outcome::NetUnreachable, "{e}");
        assert_has(
            &e.to_string(),
            &["network unreachable (EINVAL): a blackhole route in a toward 10.0.0.3 discards it"],
        );
        assert_eq!(
            a.assert_cannot_reach(&b, probe).await,
            Outcome::NetUnreachable
        );
    }
    // Without it, b answers again.
    a.netlink().route().del(route()).execute().await.unwrap();
    a.assert_reaches(&b, Probe::Icmp).await;
}

/// The router has no route to 203.0.113.0/24: it answers with ICMP net unreachable, and
/// the message names it. (The kernel rate-limits such errors per source, a burst of two or
/// three and then about one a second: each protocol goes from another LAN host.)
#[netns_test(topology = presets::lan_wan(3))]
async fn a_router_says_net_unreachable(net: Net) {
    for (i, probe) in [Probe::Icmp, Probe::Tcp(80), Probe::Udp(53)]
        .into_iter()
        .enumerate()
    {
        let lan = net.node(&format!("lan{}", i + 1));
        let e = lan.reach("203.0.113.1", probe).reaches().await.unwrap_err();
        println!("{e}");
        assert_eq!(e.outcome(), &Outcome::NetUnreachable, "{e}");
        let icmp = e.result().icmp.as_ref().expect("the ICMP error");
        assert_eq!((icmp.icmp_type, icmp.code), (3, 0));
        assert_has(
            &e.to_string(),
            &[
                "network unreachable (ENETUNREACH); ICMP destination unreachable, net unreachable (type 3 code 0) from router (192.168.1.1)",
                &format!("lan{}'s route toward 203.0.113.1: 0.0.0.0/0 via 192.168.1.1 (router) dev eth0", i + 1),
            ],
        );
    }
}

#[netns_test(topology = presets::bridge_pair())]
async fn udp_echo_answers(net: Net) -> std::io::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    let echo = b.udp_echo(5353)?;
    assert_eq!(echo.port(), 5353);
    a.assert_reaches(&b, Probe::Udp(5353)).await;
    assert!(echo.echoed() >= 1);
    // An ephemeral port works as well.
    let any = b.udp_echo(0)?;
    a.assert_reaches(&b, Probe::Udp(any.port())).await;
    // Nothing on 5354: ICMP port unreachable.
    let e = a.reach(&b, Probe::Udp(5354)).reaches().await.unwrap_err();
    println!("{e}");
    assert_eq!(e.outcome(), &Outcome::Refused);
    assert_has(
        &e.to_string(),
        &[
            "a should reach b (10.0.0.3) by UDP port 5354",
            "ICMP destination unreachable, port unreachable (type 3 code 3) from b (10.0.0.3)",
            "nothing listens on UDP 10.0.0.3:5354",
        ],
    );
    let msg = panic_message(a.assert_cannot_reach(&b, Probe::Udp(5353))).await;
    assert_has(
        &msg,
        &["should NOT reach b (10.0.0.3) by UDP port 5353, but it did"],
    );
    // Stopped when dropped.
    drop(echo);
    tokio::task::yield_now().await;
    a.reach(&b, Probe::Udp(5353))
        .wait_until_reaches(Duration::from_millis(300))
        .await
        .expect_err("the echo server stopped");
    Ok(())
}

#[netns_test(topology = presets::bridge_pair())]
async fn wait_for_port_with_a_late_server(net: Net) {
    let (a, b) = (net.node("a"), net.node("b"));
    // Nothing there yet: waiting fails, saying it was refused all along.
    let e = b
        .wait_for_port(Probe::Tcp(8080), Duration::from_millis(200))
        .await
        .unwrap_err();
    println!("{e}");
    assert_has(
        &e.to_string(),
        &[
            "nothing in b answered on TCP port 8080 (probed at b (10.0.0.3)) within 200 ms",
            "refused",
        ],
    );

    // A server that starts late.
    let server = b.spawn(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let l = tokio::net::TcpListener::bind("0.0.0.0:8080").await.unwrap();
        // The probe's connection, then a's.
        for _ in 0..2 {
            let _ = l.accept().await.unwrap();
        }
    });
    let waited = b
        .wait_for_port(Probe::Tcp(8080), Duration::from_secs(5))
        .await
        .unwrap();
    println!("the server was up after {waited:?}");
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    a.assert_reaches(&b, Probe::Tcp(8080)).await;
    server.await.unwrap();

    // UDP: an echo server started late.
    let b2 = b.clone();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        b2.udp_echo(9053).unwrap()
    });
    let waited = b
        .wait_for_port(Probe::Udp(9053), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    let _echo = late.await.unwrap();
    a.assert_reaches(&b, Probe::Udp(9053)).await;
}

#[netns_test(topology = presets::two_networks())]
fn probes_in_a_sync_body(net: Net) {
    let (con1, con2, con3) = (net.node("con1"), net.node("con2"), net.node("con3"));
    net.block_on(con1.assert_reaches(&con2, Probe::Icmp));
    // con3 answers echo requests (from the host), but not from con1.
    net.block_on(net.host().assert_reaches(&con3, Probe::Icmp));
    net.block_on(con1.assert_cannot_reach(&con3, Probe::Icmp));
    net.block_on(net.assert_matrix(Probe::Icmp, TWO_NETWORKS));
    // Without the runtime, the panic says what to do.
    let p = std::panic::catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(con1.ping(&con2))
    }))
    .unwrap_err();
    let msg = p.downcast_ref::<&str>().copied().unwrap_or_default();
    assert_has(msg, &["net.block_on"]);
}

// ---------------------------------------------------------------------------------------
// Negative checks prove what they say: a probe that could not be sent, or that the target
// refused, never passes for isolation.

#[netns_test(topology = presets::bridge_pair())]
async fn a_misspelt_node_fails_the_isolation_claim(net: Net) {
    let (a, b) = (net.node("a"), net.node("b"));
    for probe in [Probe::Icmp, Probe::Tcp(80), Probe::Udp(53)] {
        let e = a.reach("bx", probe).cannot_reach().await.unwrap_err();
        println!("{e}");
        assert!(matches!(e.outcome(), Outcome::Failed(_)), "{e}");
        assert_eq!(e.result().sent, 0);
        assert_has(
            &e.to_string(),
            &[
                &format!("a should NOT reach bx by {probe}, but that was not shown: the probe could not be sent"),
                "the topology has no node \"bx\"; its nodes are: host, a, b",
            ],
        );
    }
    let msg = panic_message(a.assert_cannot_reach("bx", Probe::Icmp)).await;
    assert_has(&msg, &["no node \"bx\""]);
    // A positive check says the same.
    let e = a.reach("bx", Probe::Icmp).reaches().await.unwrap_err();
    assert_has(
        &e.to_string(),
        &["the probe could not be sent", "no node \"bx\""],
    );
    // Spelt right, the probe is sent and answered.
    a.assert_reaches("b", Probe::Icmp).await;
    a.assert_reaches(&b, Probe::Icmp).await;
}

/// `bridge_pair` has no IPv6: probing it over IPv6 is an error, wherever the address is
/// missing.
#[netns_test(topology = presets::bridge_pair())]
async fn ipv6_probes_of_ipv4_only_nodes_are_errors(net: Net) {
    let (a, b) = (net.node("a"), net.node("b"));
    // The target has no IPv6 address.
    let e = a
        .reach(Target::v6(&b), Probe::Icmp)
        .cannot_reach()
        .await
        .unwrap_err();
    println!("{e}");
    assert!(matches!(e.outcome(), Outcome::Failed(_)), "{e}");
    assert_has(
        &e.to_string(),
        &[
            "a should NOT reach b by ICMP echo, but that was not shown",
            "node \"b\" has no IPv6 address, so there is nothing to probe over IPv6",
            "b.ipv6(",
        ],
    );
    // The source has none to send from: no route out over IPv6, which is isolation (the
    // positive check says why and what to add).
    let v6: std::net::Ipv6Addr = "fd00:1::3".parse().unwrap();
    for probe in [Probe::Icmp, Probe::Tcp(80), Probe::Udp(53)] {
        assert_eq!(
            a.reach(v6, probe).cannot_reach().await.unwrap(),
            Outcome::NetUnreachable
        );
        let e = a.reach(v6, probe).reaches().await.unwrap_err();
        println!("{e}");
        assert_eq!(e.outcome(), &Outcome::NetUnreachable, "{e}");
        let by = match probe {
            Probe::Icmp => "ICMPv6 echo".to_string(),
            p => p.to_string(),
        };
        assert_has(
            &e.to_string(),
            &[
                &format!("a should reach fd00:1::3 by {}, but did not: no route from a: node \"a\" has no IPv6 address to send from, only loopback or link-local ones (::1, fe80::", by),
                "so its kernel sends nothing to fd00:1::3 (ENETUNREACH",
                "give its network an IPv6 subnet",
            ],
        );
    }
    // A matrix over IPv6 marks every cell as not probed, even the `n` ones.
    let e = net
        .check_matrix(
            Probe::Icmp,
            Matrix::new(&["a", "b"]).expect_all(false).ipv6(),
        )
        .await
        .unwrap_err();
    println!("{e}");
    let MatrixError::Mismatch(report) = &e else {
        panic!("{e}")
    };
    assert_eq!(report.mismatches().count(), 2);
    assert_has(
        &e.to_string(),
        &[
            "a -> b: expected n, got !: could not probe: node \"b\" has no IPv6 address",
            "! could not probe",
        ],
    );
    // Over IPv4 the same nodes answer.
    a.assert_reaches(&b, Probe::Icmp).await;
    net.assert_matrix(Probe::Icmp, Matrix::new(&["a", "b"]).expect_all(true))
        .await;
}

// ---------------------------------------------------------------------------------------
// A node attached to nothing (`--net none`): only loopback, no route out. Its kernel refuses
// to send, which is the isolation such a node promises.

#[netns_test(topology = presets::isolated())]
async fn a_net_none_node_cannot_reach_anything(net: Net) {
    let a = net.node("a");
    for probe in [Probe::Icmp, Probe::Tcp(80), Probe::Udp(53)] {
        let started = Instant::now();
        let wait = Duration::from_secs(10);
        let outcome = a
            .reach("10.0.0.1", probe)
            .isolation_wait(wait)
            .cannot_reach()
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::NetUnreachable, "{probe}");
        // The kernel says so at once: the isolation wait is not waited out.
        assert!(
            started.elapsed() < wait / 2,
            "{probe}: {:?}",
            started.elapsed()
        );
        a.assert_cannot_reach("10.0.0.1", probe).await;
        a.assert_cannot_reach("fd00::1", probe).await;
        // A positive check tells why and what would let it reach.
        let e = a.reach("10.0.0.1", probe).reaches().await.unwrap_err();
        println!("{e}");
        assert_eq!(e.outcome(), &Outcome::NetUnreachable);
        assert!(e.result().no_source.is_some());
        assert_has(
            &e.to_string(),
            &[
                &format!("a should reach 10.0.0.1 by {probe}, but did not: no route from a: node \"a\" has no IPv4 address to send from, only loopback or link-local ones (127.0.0.1), so its kernel sends nothing to 10.0.0.1 (ENETUNREACH (Network is unreachable)): for it to reach anything over IPv4, attach it to a network with an IPv4 subnet"),
            ],
        );
        let msg = panic_message(a.assert_reaches("10.0.0.1", probe)).await;
        assert_has(&msg, &["no route from a: node \"a\" has no IPv4 address"]);
    }
    // The probes work in that node: its own loopback answers.
    a.assert_reaches("127.0.0.1", Probe::Icmp).await;
    // A target without an address is still the test's mistake, not isolation.
    let e = a
        .reach("host", Probe::Icmp)
        .cannot_reach()
        .await
        .unwrap_err();
    println!("{e}");
    assert!(matches!(e.outcome(), Outcome::Failed(_)), "{e}");
    assert_has(
        &e.to_string(),
        &["the probe could not be sent: node \"host\" has no address: attach it to a network"],
    );
}

/// `--net none` next to two containers on a bridge.
fn net_none_beside_a_bridge() -> Topology {
    Topology::new()
        .bridge("br0", "10.0.0.0/24")
        .node("none", |n| n)
        .node("b", |n| n.on("br0"))
        .node("c", |n| n.on("br0"))
}

#[netns_test(topology = net_none_beside_a_bridge())]
async fn a_net_none_row_of_a_matrix_is_n(net: Net) {
    let b = net.node("b");
    // Every probe from it is stopped by its own kernel: `n`, next to the `y` of the
    // attached nodes.
    for probe in [Probe::Icmp, Probe::Tcp(80), Probe::Udp(53)] {
        let report = net
            .assert_matrix(
                probe,
                Matrix::parse(
                    "
                      b c host
                 none n n n
                 b    - ? ?
                 c    ? - ?
                ",
                )
                .unwrap(),
            )
            .await;
        println!("{report}");
        assert_eq!(report.reached("none", "b"), Some(false));
    }
    net.assert_matrix(
        Probe::Icmp,
        "
              b c host
         none n n n
         b    - y y
         c    y - y
        ",
    )
    .await;
    // A column for it is the test's mistake: it has no address to probe.
    let e = net
        .check_matrix(Probe::Icmp, "\n  none\n b  n\n")
        .await
        .unwrap_err();
    println!("{e}");
    assert_has(
        &e.to_string(),
        &["b -> none: expected n, got !: could not probe: node \"none\" has no IPv4 address, so there is nothing to probe over IPv4"],
    );
    b.assert_reaches("c", Probe::Icmp).await;
}

/// A probe whose socket cannot be opened is an error naming the cause, not an isolation.
/// (The sandbox's user namespace maps one group, so `net.ipv4.ping_group_range` can only
/// hold it: the message for a refused ICMP socket is checked in the unit tests; here the
/// process runs out of file descriptors.)
#[netns_test(topology = presets::bridge_pair())]
async fn a_socket_that_cannot_be_opened_is_an_error(net: Net) {
    let (a, b) = (net.node("a"), net.node("b"));
    let listener = b
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:80").await })
        .await
        .unwrap();
    let server = b.spawn(async move { while listener.accept().await.is_ok() {} });
    for probe in [Probe::Icmp, Probe::Tcp(80)] {
        let e = with_no_free_fd(a.reach(&b, probe).cannot_reach())
            .await
            .unwrap_err();
        println!("{e}");
        assert!(matches!(e.outcome(), Outcome::Failed(_)), "{e}");
        assert_has(
            &e.to_string(),
            &[
                &format!("a should NOT reach b (10.0.0.3) by {probe}, but that was not shown: the probe could not be sent"),
                "in node \"a\"",
                "EMFILE (Too many open files)",
                "raise `ulimit -n`",
            ],
        );
        // With descriptors to spare, the same probe is sent and answered.
        a.assert_reaches(&b, probe).await;
    }
    server.abort();
}

#[netns_test(topology = presets::bridge_pair())]
async fn a_closed_port_on_a_reachable_node_is_refused_not_isolated(
    net: Net,
) -> std::io::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    // Nothing listens on b's TCP 80 or UDP 53: b answers with a reset / port unreachable.
    let e = a
        .reach(&b, Probe::Tcp(80))
        .cannot_reach()
        .await
        .unwrap_err();
    println!("{e}");
    assert_eq!(e.outcome(), &Outcome::Refused);
    assert!(e.outcome().is_refused() && !e.outcome().is_reached());
    assert_has(
        &e.to_string(),
        &[
            "a should NOT reach b (10.0.0.3) by TCP port 80, but the target answered: refused: the path exists, nothing listens on 10.0.0.3:80",
            "a refusal is not isolation",
            "probe a port where something listens (start the server on TCP port 80 first), or use Probe::Icmp",
            "the probe waited up to",
            "NETNS_TEST_ISOLATION_WAIT",
        ],
    );
    let msg = panic_message(a.assert_cannot_reach(&b, Probe::Tcp(80))).await;
    assert_has(&msg, &["but the target answered: refused"]);
    let e = a
        .reach(&b, Probe::Udp(53))
        .cannot_reach()
        .await
        .unwrap_err();
    println!("{e}");
    assert_eq!(e.outcome(), &Outcome::Refused);
    assert_eq!(
        e.result().icmp.as_ref().unwrap().from_node.as_deref(),
        Some("b")
    );
    assert_has(
        &e.to_string(),
        &[
            "nothing listens on UDP 10.0.0.3:53; ICMP destination unreachable, port unreachable (type 3 code 3) from b (10.0.0.3)",
            "run Node::udp_echo(53) in the target first",
        ],
    );
    // Nor is it reaching: nothing listens.
    let msg = panic_message(a.assert_reaches(&b, Probe::Tcp(80))).await;
    assert_has(
        &msg,
        &["a should reach b (10.0.0.3) by TCP port 80, but did not: refused"],
    );
    // With a listener and an echo server the same probes reach.
    let listener = b
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:80").await })
        .await?;
    let server = b.spawn(async move { while listener.accept().await.is_ok() {} });
    let _echo = b.udp_echo(53)?;
    a.assert_reaches(&b, Probe::Tcp(80)).await;
    a.assert_reaches(&b, Probe::Udp(53)).await;
    server.abort();
    Ok(())
}

/// A `reject` rule on a router answers UDP with an ICMP port unreachable from the router:
/// blocked, the isolation holds. It answers TCP with a reset, which carries no sender:
/// refused, the isolation claim fails (as documented).
#[netns_test(topology = presets::lan_wan(1))]
async fn a_reject_on_a_router_is_blocked_not_refused(net: Net) -> netns_test::Result<()> {
    use netns_test::nft::{Hook, Proto, Rule, Ruleset};
    let (lan1, router, server) = (net.node("lan1"), net.node("router"), net.node("server"));
    let _echo = server.udp_echo(7).unwrap();
    let listener = server
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:80").await })
        .await
        .unwrap();
    let accept = server.spawn(async move { while listener.accept().await.is_ok() {} });
    // Without the rules: reached.
    lan1.assert_reaches(&server, Probe::Udp(7)).await;
    lan1.assert_reaches(&server, Probe::Tcp(80)).await;

    let rules = Ruleset::new()
        .filter(
            Hook::Forward,
            Rule::new().proto(Proto::Udp).dport(7).reject(),
        )
        .filter(
            Hook::Forward,
            Rule::new().proto(Proto::Tcp).dport(80).reject(),
        );
    router.nft().apply(&rules).await?;
    let e = lan1
        .reach(&server, Probe::Udp(7))
        .reaches()
        .await
        .unwrap_err();
    println!("{e}");
    assert_eq!(e.outcome(), &Outcome::Prohibited);
    assert_eq!(
        e.result().icmp.as_ref().unwrap().from_node.as_deref(),
        Some("router")
    );
    assert_has(
        &e.to_string(),
        &["port unreachable (type 3 code 3) from router (192.168.1.1), not from the target: a reject rule on the way"],
    );
    assert_eq!(
        lan1.assert_cannot_reach(&server, Probe::Udp(7)).await,
        Outcome::Prohibited
    );
    let e = lan1
        .reach(&server, Probe::Tcp(80))
        .cannot_reach()
        .await
        .unwrap_err();
    println!("{e}");
    assert_eq!(e.outcome(), &Outcome::Refused);
    // The router itself is not filtered: the server still answers there ...
    router.assert_reaches(&server, Probe::Udp(7)).await;
    // ... and without the rules, the LAN again.
    router.nft().flush().await?;
    lan1.assert_reaches(&server, Probe::Udp(7)).await;
    lan1.assert_reaches(&server, Probe::Tcp(80)).await;
    accept.abort();
    Ok(())
}

#[netns_test(topology = presets::bridge_pair())]
async fn the_isolation_wait_can_be_raised_from_the_environment(net: Net) {
    const VAR: &str = netns_test::reach::ISOLATION_WAIT_ENV;
    assert_eq!(VAR, "NETNS_TEST_ISOLATION_WAIT");
    let (a, b) = (net.node("a"), net.node("b"));
    let one_way = "
          a b
        a - n
        b y -
    ";
    // The default: 300 ms, and the message says how to raise it. (b answers echo requests,
    // so every "cannot reach" below fails, which is what shows the wait.)
    std::env::remove_var(VAR);
    let e = a.reach(&b, Probe::Icmp).cannot_reach().await.unwrap_err();
    assert_eq!(e.result().wait, netns_test::reach::ISOLATION_WAIT);
    assert_has(
        &e.to_string(),
        &["waited up to 300 ms for an answer (the default isolation wait; on a loaded machine raise it with NETNS_TEST_ISOLATION_WAIT, e.g. NETNS_TEST_ISOLATION_WAIT=2s)"],
    );
    // Empty means unset.
    std::env::set_var(VAR, "");
    let e = a.reach(&b, Probe::Icmp).cannot_reach().await.unwrap_err();
    assert_eq!(e.result().wait, Duration::from_millis(300));

    std::env::set_var(VAR, "1500ms");
    let e = a.reach(&b, Probe::Icmp).cannot_reach().await.unwrap_err();
    println!("{e}");
    assert_eq!(e.result().wait, Duration::from_millis(1500));
    assert_has(
        &e.to_string(),
        &["waited up to 1.5 s for an answer (the isolation wait set by NETNS_TEST_ISOLATION_WAIT)"],
    );
    let msg = panic_message(a.assert_cannot_reach(&b, Probe::Icmp)).await;
    assert_has(&msg, &["waited up to 1.5 s"]);
    // A matrix's `n` cells wait as long.
    let e = net.check_matrix(Probe::Icmp, one_way).await.unwrap_err();
    println!("{e}");
    let MatrixError::Mismatch(report) = &e else {
        panic!("{e}")
    };
    assert_eq!(
        report.result("a", "b").unwrap().wait,
        Duration::from_millis(1500)
    );
    assert_eq!(
        report.result("b", "a").unwrap().wait,
        netns_test::reach::REACH_TIMEOUT
    );
    assert_has(
        &e.to_string(),
        &["isolation wait 1.5 s, set by NETNS_TEST_ISOLATION_WAIT"],
    );
    // A wait given in the code is used as given.
    let e = a
        .reach(&b, Probe::Icmp)
        .isolation_wait(Duration::from_millis(400))
        .cannot_reach()
        .await
        .unwrap_err();
    assert_eq!(e.result().wait, Duration::from_millis(400));
    assert_has(&e.to_string(), &["the wait given in the code"]);
    let e = net
        .check_matrix(
            Probe::Icmp,
            Matrix::parse(one_way)
                .unwrap()
                .isolation_wait(Duration::from_millis(400)),
        )
        .await
        .unwrap_err();
    let MatrixError::Mismatch(report) = &e else {
        panic!("{e}")
    };
    assert_eq!(
        report.result("a", "b").unwrap().wait,
        Duration::from_millis(400)
    );

    // Invalid values fail every check that uses the default, naming the variable.
    for bad in ["soon", "100ms", "0"] {
        std::env::set_var(VAR, bad);
        let e = a.reach(&b, Probe::Icmp).cannot_reach().await.unwrap_err();
        println!("{e}");
        assert!(matches!(e.outcome(), Outcome::Failed(_)), "{e}");
        assert_has(
            &e.to_string(),
            &[&format!("NETNS_TEST_ISOLATION_WAIT={bad:?}"), "\"2s\""],
        );
        let e = net.check_matrix(Probe::Icmp, one_way).await.unwrap_err();
        assert!(matches!(e, MatrixError::Invalid(_)), "{e}");
        assert_has(
            &e.to_string(),
            &[&format!("NETNS_TEST_ISOLATION_WAIT={bad:?}")],
        );
    }
    // Even a "cannot reach" that would hold: the check cannot run as asked.
    let e = a
        .reach("10.0.0.200", Probe::Icmp)
        .cannot_reach()
        .await
        .unwrap_err();
    assert_has(&e.to_string(), &["NETNS_TEST_ISOLATION_WAIT=\"0\""]);
    std::env::remove_var(VAR);
    assert_eq!(
        a.reach("10.0.0.200", Probe::Icmp)
            .cannot_reach()
            .await
            .unwrap(),
        Outcome::Timeout
    );
}
