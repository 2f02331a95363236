//! An IPv6-only network reaching an IPv4-only web server by name, through NAT64 + DNS64:
//! what is built by hand today with tayga (the translator, on a TUN device) and dnsmasq
//! or unbound (AAAA synthesis):
//!
//! ```text
//! (router)# tayga --mktun; ip link set nat64 up
//! (router)# ip route add 64:ff9b::/96 dev nat64; ip route add 192.168.255.0/24 dev nat64
//! (router)# echo 'prefix 64:ff9b::/96' >> /etc/tayga.conf; tayga
//! (router)# unbound with `module-config: "dns64 iterator"` and `dns64-prefix: 64:ff9b::/96`
//! (a)# curl http://web/      # web resolves to 64:ff9b::c633:6402
//! ```
//!
//! Here it is one declaration on the router, `.nat64(Nat64::default())`, and the web server
//! is `python3 -m http.server 8000` bound to its IPv4 address only.

use std::process::Stdio;
use std::time::{Duration, Instant};

use netns_test::topology::Nat64;
use netns_test::{netns_test, Net, Topology};

/// `a` on the IPv6-only `lan6` inside `router`; `web` IPv4-only behind the router.
fn v6_only_lan_and_v4_only_web() -> Topology {
    Topology::new()
        .router("router", |n| n.nat64(Nat64::default()))
        .bridge_with("lan6", "fd00:6::/64", |b| b.in_node("router"))
        .node("a", |n| n.on("lan6"))
        .node("web", |n| n)
        .link("router", "web", "198.51.100.0/24")
}

#[netns_test(topology = v6_only_lan_and_v4_only_web(), timeout = "30s")]
async fn ipv6_only_node_fetches_from_an_ipv4_only_server_by_name(net: Net) -> anyhow::Result<()> {
    let root = std::env::temp_dir().join(format!("netns-test-nat64-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    std::fs::write(root.join("index.html"), "served over IPv4\n")?;
    let mut server = net
        .node("web")
        .command("python3")
        .args(["-m", "http.server", "8000", "--bind", "198.51.100.2"])
        .current_dir(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let a = net.node("a");
    // a has no IPv4 address: curl resolves `web` to its synthesized AAAA record.
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let out = a
            .command("curl")
            .args(["-s", "--max-time", "2", "http://web:8000/"])
            .output()?;
        if out.status.success() || Instant::now() >= deadline {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&root);
    assert_eq!(body, "served over IPv4\n");
    // The address curl used: the web server's IPv4 address in the NAT64 prefix.
    let ahosts = a.output("getent", ["ahostsv6", "web"])?;
    assert!(ahosts.starts_with("64:ff9b::c633:6402"), "{ahosts}");
    Ok(())
}

/// `labs/ipv6_only_nat64.toml` is this lab: `netns-test lab examples/labs/ipv6_only_nat64.toml` opens it.
#[test]
fn the_lab_file_declares_this_topology() {
    netns_test_examples::assert_lab_file("ipv6_only_nat64.toml", v6_only_lan_and_v4_only_web());
}
