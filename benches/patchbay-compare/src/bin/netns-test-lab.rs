//! The lab in netns-test, as a user writes a test: one `#[netns_test]`. Run as a test
//! binary (`netns-test-lab two_home_routers --exact --nocapture`) it runs the test in
//! the default mode, a sandbox process as under `cargo test`; with
//! `PATCHBAY_COMPARE_HARNESS=1`, in the harness mode (`netns_test::main!()`).

use std::net::{SocketAddr, UdpSocket};

use libtest_mimic::{Arguments, Trial};
use netns_test::{netns_test, Net, Topology};
use patchbay_compare::{exchange, RELAY_PORT};

/// The lab of `patchbay_compare`'s docs: the exchange network `ix` in the host (its
/// gateway 198.18.0.1, as patchbay's), a relay behind the public router `dc`, a host
/// behind each home router (masquerade, and netns-test's WAN guard).
fn lab() -> Topology {
    Topology::new()
        .bridge("ix", "198.18.0.0/24")
        .router("dc", |n| n.on("ix"))
        .router("home1", |n| n.on("ix"))
        .router("home2", |n| n.on("ix"))
        .bridge_with("dc_lan", "198.51.100.0/24", |b| b.in_node("dc"))
        .bridge_with("lan1", "192.168.1.0/24", |b| {
            b.in_node("home1").masquerade()
        })
        .bridge_with("lan2", "192.168.2.0/24", |b| {
            b.in_node("home2").masquerade()
        })
        .node("relay", |n| n.on("dc_lan"))
        .node("alice", |n| n.on("lan1"))
        .node("bob", |n| n.on("lan2"))
}

#[netns_test(topology = lab())]
fn two_home_routers(net: Net) {
    let relay = net.node("relay");
    let relay_addr = SocketAddr::from((relay.ip(), RELAY_PORT));
    let r = relay.exec(|| UdpSocket::bind(relay_addr)).expect("bind");
    let bind = |name: &str| {
        net.node(name)
            .exec(|| UdpSocket::bind(("0.0.0.0", 0)))
            .expect("bind")
    };
    let seen = exchange(&r, relay_addr, &bind("alice"), &bind("bob")).expect("udp exchange");
    seen.check(net.node("home1").ip(), net.node("home2").ip());
    println!("{seen}");
}

fn main() {
    if std::env::var_os("PATCHBAY_COMPARE_HARNESS").is_some() {
        netns_test::harness::main();
    }
    // The default mode: each test as the attribute's `#[test]` runs it.
    let trials = netns_test::harness::tests()
        .into_iter()
        .map(|t| {
            Trial::test(t.name(), move || {
                t.run();
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}
