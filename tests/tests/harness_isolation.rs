//! Harness mode (`netns_test::main!()`, `harness = false`): tests that run in one process
//! at the same time are as isolated from each other as tests in sandboxes of their own.
//!
//! `left` and `right` build the same network (a client and a server on a link, the same
//! names, addresses and ports) plus one node of their own (`only_left`, `only_right`), and
//! meet before each step, so that every check runs while the other test's network exists
//! and does the same:
//!
//! - traffic: each server answers every connection with its side's name and counts them;
//!   each client gets its own server's answer, and each server counts exactly its own
//!   client's connections;
//! - rules: `left` drops TCP port 8081 in its server; `right`'s client still connects to
//!   8081 of its server, while `left`'s cannot (and reaches 8080 of the same server);
//! - names: each client resolves its own extra node and not the other's, through its
//!   node's name service (getaddrinfo) and through the node names of `reach`;
//! - files: each server's programs see the server's own resolv.conf;
//! - link conditions: `left` makes its client-server link (impairable: a relay in the
//!   middle) lose every frame; `right`'s relay keeps forwarding its frames, and each
//!   relay counts its own network's frames only.
//!
//! Each says `met its twin at: <step>` at every step. With one test thread they run one
//! after the other: the two cannot meet, each one runs its checks alone and is then
//! reported *ignored*, with the reason (`harness::ignore`), not passed: what they are for
//! was not shown. `cargo nextest run` runs each test in a process of its own, where they
//! could never meet: the repository's `.config/nextest.toml` leaves this binary out.
//! `.ci/run` runs the binary with two test threads and checks that both met at the last
//! step.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use netns_test::fault::{Conditions, Emulator};
use netns_test::nft::{self, Hook, Proto, Rule, Ruleset};
use netns_test::reach::{Outcome, Probe};
use netns_test::{harness, netns_test, Net, Node, Topology};

/// Served by both servers.
const OPEN: u16 = 8080;
/// Served by both servers, dropped by `left`'s.
const DROPPED: u16 = 8081;
/// Connections per check.
const ROUNDS: usize = 5;
/// How long one test waits for the other at a step.
const MEET_WITHIN: Duration = Duration::from_secs(45);

/// The network of both tests, plus the node only `side` has.
fn twin(side: &str) -> Topology {
    let extra = format!("only_{side}");
    let resolv = format!("# the resolv.conf of {side}'s server\nnameserver 127.0.0.11\n");
    Topology::new()
        .node("client", |n| n)
        .node("server", |n| n.resolv_conf(&resolv))
        .node(&extra, |n| n)
        .link_with("client", "server", "10.90.0.0/30", |l| l.impairable())
        .link("client", &extra, "10.90.1.0/30")
}

#[netns_test(topology = twin("left"), timeout = "120s")]
fn left(net: Net) {
    isolated_from_its_twin(&net, "left", "right");
}

#[netns_test(topology = twin("right"), timeout = "120s")]
fn right(net: Net) {
    isolated_from_its_twin(&net, "right", "left");
}

fn isolated_from_its_twin(net: &Net, side: &'static str, other: &str) {
    let _failing = FailsTheMeeting;
    let (client, server) = (net.node("client"), net.node("server"));
    let own_extra = format!("only_{side}");
    let other_extra = format!("only_{other}");
    meet(side, "both networks are built");

    let servers = Servers::start(&server, side);
    if side == "left" {
        let drop_8081 = Ruleset::new().filter(
            Hook::Input,
            Rule::new().proto(Proto::Tcp).dport(DROPPED).drop(),
        );
        server
            .run_blocking(|| nft::apply(&drop_8081))
            .expect("the drop rule in left's server");
    }
    meet(side, "both serve, left's rule is in place");

    // Traffic: the same address and port in both networks, each answered by its own.
    let server_addr = server.ip();
    for _ in 0..ROUNDS {
        assert_eq!(
            fetch(&client, (server_addr, OPEN)).expect("by address"),
            side
        );
        assert_eq!(fetch(&client, ("server", OPEN)).expect("by name"), side);
    }
    // Rules: left's drop rule is left's alone; 8080 is the positive control.
    if side == "left" {
        let e = fetch(&client, (server_addr, DROPPED)).expect_err("left's server drops 8081");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    } else {
        for _ in 0..ROUNDS {
            let answer = fetch(&client, (server_addr, DROPPED)).expect("right drops nothing");
            assert_eq!(answer, side);
        }
    }
    meet(side, "traffic and rules checked");

    // Names: each network's name service knows its own nodes only.
    let own = resolve(&client, &own_extra).expect("the node of this network resolves");
    assert_eq!(own, net.node(&own_extra).ip(), "{own_extra}");
    let e = resolve(&client, &other_extra).expect_err("the twin's node must not resolve");
    assert_ne!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    // ... and so do the node names of `reach`.
    let r = net.block_on(
        client
            .reach(own_extra.as_str(), Probe::Icmp)
            .within(Duration::from_secs(5))
            .result(),
    );
    assert_eq!(r.outcome, Outcome::Reached, "{r}");
    let r = net.block_on(
        client
            .reach(other_extra.as_str(), Probe::Icmp)
            .within(Duration::from_secs(1))
            .result(),
    );
    assert!(
        matches!(r.outcome, Outcome::Failed(_)) && r.addr.is_none(),
        "the twin's node {other_extra} must be unknown here: {r}"
    );
    // Files: the server's own resolv.conf.
    let resolv = server
        .output("cat", ["/etc/resolv.conf"])
        .expect("cat /etc/resolv.conf in the server");
    assert!(
        resolv.contains(&format!("# the resolv.conf of {side}'s server")),
        "{resolv}"
    );
    assert!(!resolv.contains(other), "{resolv}");
    meet(side, "names and files checked");

    // Each server saw its own client's connections, and only them.
    let [open, dropped] = servers.stop();
    assert_eq!(open, 2 * ROUNDS, "connections to {side}'s server on {OPEN}");
    let expected = if side == "left" { 0 } else { ROUNDS };
    assert_eq!(
        dropped, expected,
        "connections to {side}'s server on {DROPPED}"
    );
    meet(side, "connections counted");

    // Link conditions: left's relay drops every frame left's client sends; right's
    // forwards right's.
    if side == "left" {
        let lossy = Conditions::new().loss(1.0).via(Emulator::Relay);
        net.block_on(client.conditions("eth0").set(lossy))
            .expect("loss on left's client-server link");
    }
    meet(side, "left's link loses every frame");
    let before = net
        .block_on(client.conditions("eth0").stats())
        .expect("the relay of the link");
    let r = net.block_on(
        client
            .reach(server_addr, Probe::Icmp)
            .within(Duration::from_secs(1))
            .result(),
    );
    let after = net
        .block_on(client.conditions("eth0").stats())
        .expect("the relay of the link");
    if side == "left" {
        assert_eq!(r.outcome, Outcome::Timeout, "{r}");
        assert!(after.lost > before.lost, "{before:?} -> {after:?}");
        assert_eq!(after.forwarded, before.forwarded, "{before:?} -> {after:?}");
    } else {
        assert_eq!(r.outcome, Outcome::Reached, "{r}");
        assert_eq!(after.lost, 0, "{after:?}");
        assert!(
            after.forwarded > before.forwarded,
            "{before:?} -> {after:?}"
        );
    }
    // Neither network goes before both have checked.
    meet(side, "link conditions checked");
    if let Some(why) = alone() {
        harness::ignore(format!(
            "{side} could not meet {other}: {why}; its checks ran alone, so its isolation \
             from a twin running at the same time was not shown (run `cargo test --test \
             harness_isolation` with 2 or more test threads)"
        ));
    }
}

/// The tasks a body spawns on its runtime stand in the host node, as in the default mode
/// (the network's runtime starts from the test's own thread, already in the host node's
/// namespace), and so does the body's thread itself.
#[netns_test(topology = Topology::new().node("a", |n| n).link("host", "a", "10.91.0.0/30"))]
async fn spawned_tasks_stand_in_the_host_node(net: Net) {
    let same_netns = |fd: i32| {
        let a = std::fs::metadata("/proc/thread-self/ns/net").expect("own netns");
        let b = std::fs::metadata(format!("/proc/self/fd/{fd}")).expect("host netns");
        use std::os::unix::fs::MetadataExt;
        (a.dev(), a.ino()) == (b.dev(), b.ino())
    };
    let host = net.host();
    assert!(same_netns(host.netns().as_raw_fd()), "the body's thread");
    let listener = tokio::spawn(async { tokio::net::TcpListener::bind("0.0.0.0:7000").await })
        .await
        .expect("the spawned task")
        .expect("bind in a spawned task");
    let accept = tokio::spawn(async move { listener.accept().await.map(drop) });
    let to = SocketAddr::from((host.ip(), 7000));
    net.node("a")
        .run(async move { tokio::net::TcpStream::connect(to).await.map(drop) })
        .await
        .expect("a connects to the host's listener");
    accept
        .await
        .expect("the accepting task")
        .expect("the host accepted");
}

/// The two servers (ports [`OPEN`] and [`DROPPED`]) of one test: each answers every
/// connection with the test's side and counts it.
struct Servers {
    stop: Arc<AtomicBool>,
    threads: Vec<(Arc<AtomicUsize>, JoinHandle<()>)>,
}

impl Servers {
    fn start(server: &Node, side: &'static str) -> Servers {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = [OPEN, DROPPED]
            .into_iter()
            .map(|port| {
                let listener = server
                    .run_blocking(|| TcpListener::bind(("0.0.0.0", port)))
                    .expect("bind in the server");
                listener.set_nonblocking(true).expect("nonblocking");
                let count = Arc::new(AtomicUsize::new(0));
                let (c, stop) = (Arc::clone(&count), Arc::clone(&stop));
                let t = std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((mut s, _)) => {
                                c.fetch_add(1, Ordering::Relaxed);
                                let _ = s.write_all(side.as_bytes());
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(2)),
                        }
                    }
                });
                (count, t)
            })
            .collect();
        Servers { stop, threads }
    }

    /// Connections counted on [`OPEN`] and [`DROPPED`].
    fn stop(self) -> [usize; 2] {
        self.stop.store(true, Ordering::Relaxed);
        let counts: Vec<usize> = self
            .threads
            .into_iter()
            .map(|(count, t)| {
                t.join().expect("server thread");
                count.load(Ordering::Relaxed)
            })
            .collect();
        [counts[0], counts[1]]
    }
}

/// Connects from `client` and reads the answer to its end.
fn fetch(client: &Node, to: impl ToSocketAddrs + Sync) -> io::Result<String> {
    client.run_blocking(|| {
        let addr = to
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::other("no address"))?;
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)?;
        Ok(answer)
    })
}

/// `name` resolved in `client` (getaddrinfo, through the node's name service).
fn resolve(client: &Node, name: &str) -> io::Result<IpAddr> {
    client.run_blocking(|| {
        (name, 0)
            .to_socket_addrs()?
            .map(|a| a.ip())
            .find(IpAddr::is_ipv4)
            .ok_or_else(|| io::Error::other(format!("{name} has no IPv4 address")))
    })
}

/// Where the two tests meet: the number arrived at the current step, the step's number,
/// and whether one of them failed (the other then stops waiting).
static MEETING: Mutex<(u32, u64, bool)> = Mutex::new((0, 0, false));
static MET: Condvar = Condvar::new();

/// Tells the twin, when this test panics, that it will not come.
struct FailsTheMeeting;

impl Drop for FailsTheMeeting {
    fn drop(&mut self) {
        if std::thread::panicking() {
            MEETING.lock().unwrap_or_else(|e| e.into_inner()).2 = true;
            MET.notify_all();
        }
    }
}

/// Why the twin cannot run at the same time as this test, if it cannot: nextest runs it in
/// another process, one test thread runs it after this one.
fn alone() -> Option<&'static str> {
    if std::env::var_os("NEXTEST_RUN_ID").is_some() {
        return Some("nextest runs each test in a process of its own");
    }
    let args: Vec<String> = std::env::args().collect();
    let from_args = args.iter().enumerate().find_map(|(i, a)| match a.as_str() {
        "--test-threads" => args.get(i + 1).cloned(),
        a => a.strip_prefix("--test-threads=").map(str::to_string),
    });
    let threads = from_args
        .or_else(|| std::env::var("RUST_TEST_THREADS").ok())
        .and_then(|n| n.trim().parse::<usize>().ok())
        .or_else(|| std::thread::available_parallelism().ok().map(Into::into));
    (threads == Some(1)).then_some("one test thread runs the tests one after the other")
}

/// Waits until the twin test reaches the same step; where it cannot run at the same time
/// ([`alone`]), this test runs its checks alone.
fn meet(side: &str, step: &str) {
    if let Some(why) = alone() {
        println!("{side}: {step} (alone: {why})");
        return;
    }
    let mut m = MEETING.lock().unwrap_or_else(|e| e.into_inner());
    let generation = m.1;
    m.0 += 1;
    if m.0 == 2 {
        *m = (0, generation + 1, m.2);
        MET.notify_all();
        println!("{side}: met its twin at: {step}");
        return;
    }
    let (m, wait) = MET
        .wait_timeout_while(m, MEET_WITHIN, |m| m.1 == generation && !m.2)
        .unwrap_or_else(|e| e.into_inner());
    assert!(
        !m.2,
        "{side}: its twin failed before the step \"{step}\" (see its own failure)"
    );
    assert!(
        !wait.timed_out(),
        "{side}: its twin did not reach the step \"{step}\" within {MEET_WITHIN:?}. These two \
         tests prove that tests running at the same time are isolated, so they need each \
         other: run them together with at least 2 test threads (`cargo test --test \
         harness_isolation`), or see the twin's own failure"
    );
    println!("{side}: met its twin at: {step}");
}

netns_test::main!();
