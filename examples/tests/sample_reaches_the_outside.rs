//! Seed 001, "Configure Networking From Container To Internet": the `sample` namespace on
//! `samplebr` (10.1.1.1/24) reaches the far side of the host once the host forwards and
//! masquerades, and gets a resolver file of its own:
//!
//! ```text
//! root@test1:~# sysctl -w net.ipv4.ip_forward=1
//! root@test1:~# iptables -t nat -A POSTROUTING -s 10.1.1.0/24 ! -o samplebr -j MASQUERADE
//! root@test1:~# mkdir -p /etc/netns/sample/
//! root@test1:~# echo "nameserver 172.17.52.161" > /etc/netns/sample/resolv.conf
//! ```
//!
//! The internet is a node `outside` behind the host's other interface (203.0.113.0/24:
//! host .1, outside .2): no traffic leaves the sandbox.

use std::net::Ipv4Addr;

use netns_test::nft::Ruleset;
use netns_test::reach::Probe;
use netns_test::{netns_test, Net, Node, Topology};

/// The host's address on its link to the outside.
const HOST_WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

fn sample(masquerade: bool) -> Topology {
    Topology::new()
        .bridge_with("samplebr", "10.1.1.0/24", |b| {
            if masquerade {
                b.masquerade()
            } else {
                b
            }
        })
        .node("sample", |n| {
            n.on_with("samplebr", |a| a.name("veth1"))
                .resolv_conf("nameserver 172.17.52.161\n")
        })
        .node("outside", |n| n)
        .link("host", "outside", "203.0.113.0/24")
}

fn sh(node: &Node, cmd: &str, args: &[&str]) -> String {
    let out = node.command(cmd).args(args).output().expect(cmd);
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[netns_test(topology = sample(true))]
async fn with_forwarding_and_masquerade_sample_reaches_the_outside(net: Net) -> anyhow::Result<()> {
    let (sample, outside) = (net.node("sample"), net.node("outside"));
    // sysctl -w net.ipv4.ip_forward=1, as the tutorial's first step.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")?.trim(),
        "1"
    );
    // ip netns exec sample ping 203.0.113.2
    let ping = sh(&sample, "ping", &["-c", "1", "-W", "2", "203.0.113.2"]);
    assert!(ping.contains("1 received"), "{ping}");
    // The far side sees the host, not 10.1.1.2: that is MASQUERADE.
    let listener = outside
        .run(async { tokio::net::TcpListener::bind("203.0.113.2:80").await })
        .await?;
    let seen = outside.spawn(async move { listener.accept().await.map(|(_, peer)| peer) });
    sample
        .run(async {
            tokio::net::TcpStream::connect("203.0.113.2:80")
                .await
                .map(drop)
        })
        .await?;
    assert_eq!(seen.await.expect("accept")?.ip().to_string(), "203.0.113.1");
    // And the outside cannot come in: 10.1.1.0/24 is not routed there. sample answers
    // pings (the host reaches it), the outside does not get there ...
    let routes = sh(&outside, "ip", &["route"]);
    assert!(routes.contains("203.0.113.0/24 dev eth0"), "{routes}");
    assert!(!routes.contains("10.1.1.0"), "{routes}");
    net.host().assert_reaches(&sample, Probe::Icmp).await;
    outside.assert_cannot_reach(&sample, Probe::Icmp).await;
    // ... for want of that route alone: given one through the host, it does.
    outside.route().add("10.1.1.0/24", HOST_WAN.into()).await?;
    outside.assert_reaches(&sample, Probe::Icmp).await;
    Ok(())
}

#[netns_test(topology = sample(false))]
async fn without_masquerade_the_outside_cannot_answer(net: Net) -> anyhow::Result<()> {
    let (host, sample, outside) = (net.host(), net.node("sample"), net.node("outside"));
    // Both ends answer pings from the host, which is on both links.
    host.assert_reaches(&sample, Probe::Icmp).await;
    host.assert_reaches(&outside, Probe::Icmp).await;
    // The host does not forward, and the outside has no way back to 10.1.1.0/24.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")?.trim(),
        "0"
    );
    sample.assert_cannot_reach(&outside, Probe::Icmp).await;
    // Forwarding alone is not enough: the echo now gets out, but its answer has nowhere
    // to go.
    // root@test1:~# sysctl -w net.ipv4.ip_forward=1
    host.run_blocking(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))?;
    sample.assert_cannot_reach(&outside, Probe::Icmp).await;
    // The masquerade is what was missing: with it the same ping is answered.
    // root@test1:~# iptables -t nat -A POSTROUTING -s 10.1.1.0/24 ! -o samplebr -j MASQUERADE
    host.nft()
        .apply(&Ruleset::new().nat_masquerade("10.1.1.0/24", Some("samplebr")))
        .await?;
    host.nft().flush_conntrack().await?;
    sample.assert_reaches(&outside, Probe::Icmp).await;
    Ok(())
}

#[netns_test(topology = sample(true))]
fn sample_has_a_resolver_file_of_its_own(net: Net) {
    // cat /etc/resolv.conf, inside sample and on the host.
    let own = sh(&net.node("sample"), "cat", &["/etc/resolv.conf"]);
    assert_eq!(own, "nameserver 172.17.52.161\n");
    let host = sh(&net.host(), "cat", &["/etc/resolv.conf"]);
    assert!(!host.contains("172.17.52.161"), "{host}");
    let other = sh(&net.node("outside"), "cat", &["/etc/resolv.conf"]);
    assert!(!other.contains("172.17.52.161"), "{other}");
}

/// `labs/sample_reaches_the_outside.toml` is this lab: `netns-test lab examples/labs/sample_reaches_the_outside.toml` opens it.
#[test]
fn the_lab_file_declares_this_topology() {
    netns_test_examples::assert_lab_file("sample_reaches_the_outside.toml", sample(true));
}
