//! The benchmark's tests, as a user writes them: `#[netns_test]` functions, registered for
//! the harness mode and run in the default mode by the trials of `main.rs` (each one
//! exactly what the attribute's `#[test]` does under libtest).

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use netns_test::{netns_test, presets, Net, Topology};

/// Two nodes on a point-to-point link: no bridge.
pub fn two_nodes() -> Topology {
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

/// The NAT lab: `nat_lan_wan(2)`, one TCP connection from each LAN host to the server
/// (which has no route back to the LAN: the connections go through the masquerade).
#[netns_test(topology = presets::nat_lan_wan(2))]
fn nat_lab(net: Net) {
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
pub mod free {
    use super::*;
    tests!(two_nodes(), |net: &Net| connects(net, "a", "b");
        t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19
        t20 t21 t22 t23 t24 t25 t26 t27 t28 t29 t30 t31 t32 t33 t34 t35 t36 t37 t38 t39
        t40 t41 t42 t43 t44 t45 t46 t47 t48 t49);
}

/// 50 tests of two containers on a bridge (`bridge_pair()`) with a TCP connection each.
pub mod bridged {
    use super::*;
    tests!(presets::bridge_pair(), |net: &Net| connects(net, "a", "b");
        t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19
        t20 t21 t22 t23 t24 t25 t26 t27 t28 t29 t30 t31 t32 t33 t34 t35 t36 t37 t38 t39
        t40 t41 t42 t43 t44 t45 t46 t47 t48 t49);
}

/// 100 tests with no topology and an empty body: the harness mode's per-test cost.
pub mod empty {
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
/// as one nf_tables netlink batch in half of the nodes, and through the `nft` binary in
/// the other half, for the record: the framework never runs it.
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
    netlink.sort();
    binary.sort();
    let (n, b) = (netlink[NFT_SAMPLES / 2], binary[NFT_SAMPLES / 2]);
    println!("figure nft.netlink_ms={}", n.as_secs_f64() * 1e3);
    println!("figure nft.binary_ms={}", b.as_secs_f64() * 1e3);
    println!("figure nft.binary_x={}", b.as_secs_f64() / n.as_secs_f64());
}
