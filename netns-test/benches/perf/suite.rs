//! The benchmark's tests, as a user writes them: `#[netns_test]` functions, registered for
//! the harness mode and run in the default mode by the trials of `main.rs` (each one
//! exactly what the attribute's `#[test]` does under libtest).

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use netns_test::{netns_test, presets, Net, Topology};

/// Two nodes on a point-to-point link: no bridge.
pub(crate) fn two_nodes() -> Topology {
    Topology::new()
        .node("a", |n| n)
        .node("b", |n| n)
        .link("a", "b", "10.0.0.0/30")
}

/// `from` connects to a listener of `to` on port 7000, which accepts.
fn connects(net: &Net, from: &str, to: &str) {
    let to = net.node(to);
    let listener = to
        .run_blocking(|| TcpListener::bind(("0.0.0.0", 7000)))
        .expect("bind");
    let addr = (to.ip(), 7000).into();
    net.node(from)
        .run_blocking(|| TcpStream::connect_timeout(&addr, Duration::from_secs(2)))
        .unwrap_or_else(|e| panic!("{from} connects to {}: {e}", to.name()));
    listener.accept().expect("accept");
}

/// `CLOCK_MONOTONIC` in ns: one clock for the driver and every process it starts (no
/// time namespace between them).
pub(crate) fn mono_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write to.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    assert_eq!(rc, 0, "clock_gettime");
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// The NAT lab: `nat_lan_wan(2)`, one TCP connection from each LAN host to the server
/// (which has no route back to the LAN: the connections go through the masquerade).
/// Prints `phases body_start=NS body_end=NS build=NS` (see [`mono_ns`]) for the driver's
/// breakdown of the whole process, seen with `--nocapture`.
#[netns_test(topology = presets::nat_lan_wan(2))]
fn nat_lab(net: Net) {
    let body_start = mono_ns();
    let server = net.node("server");
    let listener = server
        .run_blocking(|| TcpListener::bind(("0.0.0.0", 7000)))
        .expect("bind");
    let addr = (server.ip(), 7000).into();
    for lan in ["lan1", "lan2"] {
        net.node(lan)
            .run_blocking(|| TcpStream::connect_timeout(&addr, Duration::from_secs(2)))
            .unwrap_or_else(|e| panic!("{lan} connects to the server: {e}"));
        let (_, peer) = listener.accept().expect("accept");
        assert_eq!(peer.ip().to_string(), "198.51.100.1", "masqueraded");
    }
    println!(
        "phases body_start={body_start} body_end={} build={}",
        mono_ns(),
        net.build_time().as_nanos()
    );
}

macro_rules! tests {
    ($topology:expr, $body:expr; $($name:ident)*) => {
        $(
            #[netns_test(topology = $topology)]
            fn $name(net: Net) {
                ($body)(&net)
            }
        )*
    };
}

/// 50 bridge-free two-node tests with a TCP connection each.
pub(crate) mod free {
    use super::*;
    tests!(two_nodes(), |net: &Net| connects(net, "a", "b");
        t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19
        t20 t21 t22 t23 t24 t25 t26 t27 t28 t29 t30 t31 t32 t33 t34 t35 t36 t37 t38 t39
        t40 t41 t42 t43 t44 t45 t46 t47 t48 t49);
}

/// 50 tests of two containers on a bridge (`bridge_pair()`) with a TCP connection each.
pub(crate) mod bridged {
    use super::*;
    tests!(presets::bridge_pair(), |net: &Net| connects(net, "a", "b");
        t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19
        t20 t21 t22 t23 t24 t25 t26 t27 t28 t29 t30 t31 t32 t33 t34 t35 t36 t37 t38 t39
        t40 t41 t42 t43 t44 t45 t46 t47 t48 t49);
}

/// 100 tests with no topology and an empty body: the harness mode's per-test cost.
pub(crate) mod empty {
    use super::*;
    tests!(Topology::new(), |_: &Net| ();
        t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19
        t20 t21 t22 t23 t24 t25 t26 t27 t28 t29 t30 t31 t32 t33 t34 t35 t36 t37 t38 t39
        t40 t41 t42 t43 t44 t45 t46 t47 t48 t49 t50 t51 t52 t53 t54 t55 t56 t57 t58 t59
        t60 t61 t62 t63 t64 t65 t66 t67 t68 t69 t70 t71 t72 t73 t74 t75 t76 t77 t78 t79
        t80 t81 t82 t83 t84 t85 t86 t87 t88 t89 t90 t91 t92 t93 t94 t95 t96 t97 t98 t99);
}

const NFT_SAMPLES: usize = 25;

/// Nodes with nothing in them: each NAT table goes into a namespace of its own, so that
/// no sample waits for the previous one's cleanup.
fn nft_nodes() -> Topology {
    (0..2 * NFT_SAMPLES).fold(Topology::new(), |t, i| t.node(&format!("n{i}"), |n| n))
}

/// The NAT router's table (masquerade for a LAN leaving by any other interface) applied
/// as one nf_tables netlink batch in half of the nodes (the first batch of a fresh
/// namespace), then again and again in the first of them (a table that is there already),
/// and through the `nft` binary in the other half, for the record: the framework never
/// runs it.
#[netns_test(topology = nft_nodes())]
fn nft_apply(net: Net) {
    use std::io::Write;
    use std::time::Instant;
    let rules = netns_test::nft::Ruleset::new().nat_masquerade("192.168.1.0/24", Some("lan"));
    let text = rules.to_string();
    // An ordinary user's PATH lacks /usr/sbin.
    let nft = ["/usr/sbin/nft", "/sbin/nft"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("nft");
    let (mut netlink, mut binary) = (Vec::new(), Vec::new());
    for i in 0..NFT_SAMPLES {
        netlink.push(net.node(&format!("n{i}")).run_blocking(|| {
            let start = Instant::now();
            netns_test::nft::apply(&rules).expect("apply over netlink");
            start.elapsed()
        }));
        let node = net.node(&format!("n{}", NFT_SAMPLES + i));
        let start = Instant::now();
        let mut child = node
            .command(nft)
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("the nft binary, for comparison (scripts/setup.sh installs it)");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("ruleset to nft");
        assert!(
            child.wait().expect("nft").success(),
            "nft -f refused:\n{text}"
        );
        binary.push(start.elapsed());
    }
    let repeated: Vec<_> = (0..NFT_SAMPLES)
        .map(|_| {
            net.node("n0").run_blocking(|| {
                let start = Instant::now();
                netns_test::nft::apply(&rules).expect("apply over netlink, again");
                start.elapsed()
            })
        })
        .collect();
    let median = |mut t: Vec<std::time::Duration>| {
        t.sort();
        t[t.len() / 2].as_secs_f64() * 1e3
    };
    let (n, r, b) = (median(netlink), median(repeated), median(binary));
    println!("figure nft.netlink_ms={n}");
    println!("figure nft.netlink_repeated_ms={r}");
    println!("figure nft.binary_ms={b}");
    println!("figure nft.binary_x={}", b / n);
}

const SPAWN_SAMPLES: usize = 15;

fn spawn_nodes() -> Topology {
    (0..SPAWN_SAMPLES).fold(Topology::new(), |t, i| t.node(&format!("n{i}"), |n| n))
}

/// What starting a program in a node costs: its first program (which makes the node's
/// mount namespace), a program in a node that has one (a `setns` before `exec`), and the
/// same program started the ordinary way, the baseline. Each from `command()` to its exit.
#[netns_test(topology = spawn_nodes())]
fn spawn_cost(net: Net) {
    use std::time::Instant;
    let run = |cmd: &dyn Fn() -> std::process::Command| {
        let start = Instant::now();
        let status = cmd().status().expect("`true`");
        assert!(status.success(), "`true` failed: {status}");
        start.elapsed().as_secs_f64() * 1e3
    };
    let mut first: Vec<f64> = (0..SPAWN_SAMPLES)
        .map(|i| run(&|| net.node(&format!("n{i}")).command("true")))
        .collect();
    let mut node: Vec<f64> = (0..SPAWN_SAMPLES)
        .map(|_| run(&|| net.node("n0").command("true")))
        .collect();
    let mut plain: Vec<f64> = (0..SPAWN_SAMPLES)
        .map(|_| run(&|| std::process::Command::new("true")))
        .collect();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (f, n, p) = (median(&mut first), median(&mut node), median(&mut plain));
    println!("figure spawn.first_ms={f}");
    println!("figure spawn.node_ms={n}");
    println!("figure spawn.plain_ms={p}");
    println!("figure spawn.mount_ns_ms={}", f - n);
    println!("figure spawn.setns_us={}", (n - p) * 1e3);
}

const NAT_SAMPLES: usize = 15;

/// Two home routers (`Nat::home()`) and a public server: alice behind one, bob behind
/// the other.
fn two_homes() -> Topology {
    use netns_test::nft::Nat;
    Topology::new()
        .bridge_with("internet", "198.51.100.0/24", |b| b.no_gateway())
        .bridge_with("lan1", "192.168.1.0/24", |b| b.in_node("home1"))
        .bridge_with("lan2", "192.168.2.0/24", |b| b.in_node("home2"))
        .router("home1", |n| {
            n.on_with("internet", |i| i.name("wan").ip("198.51.100.1"))
                .nat(Nat::home())
        })
        .router("home2", |n| {
            n.on_with("internet", |i| i.name("wan").ip("198.51.100.2"))
                .nat(Nat::home())
        })
        .node("server", |n| n.on_ip("internet", "198.51.100.10"))
        .node("alice", |n| n.on("lan1"))
        .node("bob", |n| n.on("lan2"))
}

/// One UDP hole punch between alice and bob through a rendezvous on the server: each
/// binds a fresh socket and says hello (`ROUND NAME`) to the rendezvous, again every
/// 10 ms, until it names the other's endpoint of the round; then both punch it every
/// 5 ms until each has the other's punch (and has sent two more).
async fn punch_once(net: &Net, rendezvous: std::net::SocketAddr, round: usize) {
    use tokio::net::UdpSocket;
    use tokio::time::{timeout, Duration};
    let peer = |name: &'static str| {
        let node = net.node(name);
        node.run(async move {
            let sock = UdpSocket::bind("0.0.0.0:0").await.expect("bind");
            let mut buf = [0u8; 64];
            let hello = format!("{round} {name}");
            let other = loop {
                sock.send_to(hello.as_bytes(), rendezvous)
                    .await
                    .expect("send");
                let wait = timeout(Duration::from_millis(10), sock.recv_from(&mut buf));
                if let Ok(Ok((n, from))) = wait.await {
                    if from == rendezvous {
                        break std::str::from_utf8(&buf[..n])
                            .expect("utf-8")
                            .parse::<std::net::SocketAddr>()
                            .expect("an endpoint");
                    }
                }
            };
            let (mut got, mut after) = (false, 0);
            for _ in 0..400 {
                sock.send_to(b"punch", other).await.expect("punch");
                after += usize::from(got);
                if after >= 2 {
                    return;
                }
                let wait = timeout(Duration::from_millis(5), sock.recv_from(&mut buf));
                if let Ok(Ok((n, from))) = wait.await {
                    got |= from == other && &buf[..n] == b"punch";
                }
            }
            panic!("{name}: no punch from {other} in 400 tries");
        })
    };
    tokio::join!(peer("alice"), peer("bob"));
}

/// The rendezvous: each hello is answered with the endpoint of the other peer of the same
/// round, once it has said hello.
async fn rendezvous(net: &Net) -> std::net::SocketAddr {
    use tokio::net::UdpSocket;
    let server = net.node("server");
    let sock = server
        .run(UdpSocket::bind("198.51.100.10:3478"))
        .await
        .expect("bind");
    let addr = sock.local_addr().expect("addr");
    server.spawn(async move {
        let mut seen: std::collections::HashMap<String, std::net::SocketAddr> = Default::default();
        let mut buf = [0u8; 64];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let hello = String::from_utf8_lossy(&buf[..n]).into_owned();
            let round = hello.split(' ').next().unwrap_or_default().to_string();
            seen.insert(hello.clone(), from);
            let other = seen
                .iter()
                .find(|(k, _)| **k != hello && k.split(' ').next() == Some(round.as_str()))
                .map(|(_, a)| *a);
            if let Some(other) = other {
                let _ = sock.send_to(other.to_string().as_bytes(), from).await;
            }
        }
    });
    addr
}

/// The NAT classifier, as a test calls it (`net.classify_nat`, the reflector's start
/// and stop included), and the same followed by one hole punch between two home routers:
/// the target is under 100 ms for both.
#[netns_test(topology = two_homes())]
async fn nat_classify(net: Net) {
    use std::time::Instant;
    let rendezvous = rendezvous(&net).await;
    let (mut classify, mut both, mut took) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..NAT_SAMPLES {
        let start = Instant::now();
        let class = net.classify_nat("alice").await.expect("classified");
        classify.push(start.elapsed().as_secs_f64() * 1e3);
        took.push(class.took.as_secs_f64() * 1e3);
        assert!(
            class.behaviour.port_preservation,
            "sample {i}: a home router preserves ports: {class}"
        );
        punch_once(&net, rendezvous, i).await;
        both.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("figure natclass.classify_ms={}", median(&mut classify));
    println!("figure natclass.probe_ms={}", median(&mut took));
    println!("figure natclass.classify_punch_ms={}", median(&mut both));
}
