//! Seed 000 ("Docker networks"): a container run with `--net none` is in a network
//! namespace of its own with nothing but loopback, "completely isolated".
//!
//! In netns-test that is a node attached to no network: `presets::isolated()` is one such
//! node, `a`.

use netns_test::reach::{Outcome, Probe};
use netns_test::{netns_test, presets, Net};

#[netns_test(topology = presets::isolated())]
fn a_container_with_net_none_has_only_loopback(net: Net) -> anyhow::Result<()> {
    let a = net.node("a");
    assert!(a.ifaces().is_empty());

    // `ip link` inside it: just `lo`, up.
    let links = a.output("ip", ["-o", "link"])?;
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(
        links.starts_with("1: lo: <LOOPBACK,UP,LOWER_UP>"),
        "{links}"
    );

    // Loopback works: ping runs here and gets its answer.
    a.output("ping", ["-c", "1", "-W", "1", "127.0.0.1"])?;

    // No routes, so nothing outside is reachable, not even the host: the kernel refuses to
    // send (ping's exit 2, "Network is unreachable"), no echo ever leaves.
    assert_eq!(a.output("ip", ["route"])?, "");
    let out = a
        .command("ping")
        .args(["-c", "1", "-W", "1", "10.0.0.1"])
        .output()?;
    let err = String::from_utf8(out.stderr)?;
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("Network is unreachable"), "{err}");

    // The framework's isolation claim says the same, for every kind of probe.
    for probe in [Probe::Icmp, Probe::Tcp(80), Probe::Udp(53)] {
        let outcome = net.block_on(a.reach("10.0.0.1", probe).cannot_reach())?;
        assert_eq!(outcome, Outcome::NetUnreachable);
    }
    Ok(())
}

/// `labs/net_none.toml` is this lab: `netns-test lab examples/labs/net_none.toml` opens it.
#[test]
fn the_lab_file_declares_this_topology() {
    netns_test_examples::assert_lab_file("net_none.toml", netns_test::presets::isolated());
}
