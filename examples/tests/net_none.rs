//! Seed 000 ("Docker networks"): a container run with `--net none` is in a network
//! namespace of its own with nothing but loopback, "completely isolated".
//!
//! In netns-test that is a node attached to no network: `presets::isolated()` is one such
//! node, `a`.

use netns_test::{netns_test, presets, Net};

#[netns_test(topology = presets::isolated())]
fn a_container_with_net_none_has_only_loopback(net: Net) -> anyhow::Result<()> {
    let a = net.node("a");
    assert!(a.ifaces().is_empty());

    // `ip link` inside it: just `lo`, up.
    let out = a.command("ip").args(["-o", "link"]).output()?;
    let links = String::from_utf8(out.stdout)?;
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(
        links.starts_with("1: lo: <LOOPBACK,UP,LOWER_UP>"),
        "{links}"
    );

    // No routes, so nothing outside is reachable, not even the host.
    let out = a.command("ip").arg("route").output()?;
    assert_eq!(String::from_utf8(out.stdout)?, "");
    let out = a
        .command("ping")
        .args(["-c", "1", "-W", "1", "10.0.0.1"])
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr)?;
    assert!(err.contains("Network is unreachable"), "{err}");

    // Loopback works.
    let out = a
        .command("ping")
        .args(["-c", "1", "-W", "1", "127.0.0.1"])
        .output()?;
    assert!(out.status.success());
    Ok(())
}
