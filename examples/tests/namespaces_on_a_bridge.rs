//! Seed 003 ("how Docker uses network namespaces"): two namespaces `ns1` and `ns2`, a bridge
//! `mydocker0` in the default namespace holding 172.16.1.254/16, and one veth pair per
//! namespace whose inner end is renamed `eth0`:
//!
//! ```text
//! # brctl addbr mydocker0
//! # ip a add 172.16.1.254/16 dev mydocker0
//! # ip link add veth1 type veth peer name veth1p
//! # brctl addif mydocker0 veth1
//! # ip link set veth1p netns ns1
//! # ip netns exec ns1 ip link set veth1p name eth0
//! # ip netns exec ns1 ip a add 172.16.1.1/16 dev eth0
//! # ip netns exec ns1 ip route add default via 172.16.1.254
//! (the same for ns2 with 172.16.1.2)
//! # ip netns exec ns1 ping -c 2 172.16.1.2
//! ```
//!
//! Here all of that is the topology below; the veth ends on the bridge are named
//! `ns1-eth0` and `ns2-eth0` instead of `veth1` and `veth2`.

use std::process::Stdio;

use netns_test::{netns_test, Net, Topology};

fn mydocker0() -> Topology {
    Topology::new()
        .bridge_with("mydocker0", "172.16.0.0/16", |b| b.gateway("172.16.1.254"))
        .node("ns1", |n| n.on_ip("mydocker0", "172.16.1.1"))
        .node("ns2", |n| n.on_ip("mydocker0", "172.16.1.2"))
}

/// The lines of `ip route`, without the trailing blanks `ip` prints.
fn lines(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim_end().to_string()).collect()
}

#[netns_test(topology = mydocker0())]
async fn ns1_and_ns2_ping_each_other(net: Net) -> anyhow::Result<()> {
    for (from, to) in [("ns1", "172.16.1.2"), ("ns2", "172.16.1.1")] {
        // # ip netns exec ns1 ping -c 2 172.16.1.2
        let out = net
            .node(from)
            .tokio_command("ping")
            .args(["-c", "2", "-i", "0.2", "-W", "1", to])
            .stderr(Stdio::inherit())
            .output()
            .await?;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{from} -> {to}: {text}");
        assert!(
            text.contains("2 packets transmitted, 2 received, 0% packet loss"),
            "{text}"
        );
    }
    Ok(())
}

#[netns_test(topology = mydocker0())]
async fn ns1_routes_through_the_gateway_on_mydocker0(net: Net) -> anyhow::Result<()> {
    // # ip netns exec ns1 ip route
    // default via 172.16.1.254 dev eth0
    // 172.16.0.0/16 dev eth0 proto kernel scope link src 172.16.1.1
    let routes = net.node("ns1").output("ip", ["route"])?;
    assert_eq!(
        lines(&routes),
        [
            "default via 172.16.1.254 dev eth0",
            "172.16.0.0/16 dev eth0 proto kernel scope link src 172.16.1.1",
        ]
    );
    // The host's side (the tutorial's `route -n`: 172.16.0.0/16 ... mydocker0).
    let routes = net.host().output("ip", ["route"])?;
    assert_eq!(
        lines(&routes),
        ["172.16.0.0/16 dev mydocker0 proto kernel scope link src 172.16.1.254"]
    );
    Ok(())
}

#[netns_test(topology = mydocker0())]
async fn both_veths_are_ports_of_mydocker0(net: Net) -> anyhow::Result<()> {
    // # brctl show   ->   mydocker0 ... interfaces veth1 veth2
    let ports = net
        .host()
        .output("ip", ["-o", "link", "show", "master", "mydocker0"])?;
    assert_eq!(ports.lines().count(), 2, "{ports}");
    assert!(ports.contains("ns1-eth0@"), "{ports}");
    assert!(ports.contains("ns2-eth0@"), "{ports}");
    // # ip netns exec ns1 ip a   ->   eth0 holds 172.16.1.1/16
    let addr = net
        .node("ns1")
        .output("ip", ["-o", "-4", "addr", "show", "dev", "eth0"])?;
    assert!(addr.contains("inet 172.16.1.1/16 "), "{addr}");
    Ok(())
}

#[netns_test(topology = mydocker0())]
async fn loopback_is_up_in_a_new_namespace(net: Net) -> anyhow::Result<()> {
    // The tutorial's fresh namespace shows `1: lo: <LOOPBACK> ... state DOWN`; netns-test
    // brings `lo` up in every node, so `ping 127.0.0.1` works at once.
    for name in ["ns1", "ns2"] {
        let node = net.node(name);
        let lo = node.output("ip", ["-o", "link", "show", "lo"])?;
        assert!(lo.contains("<LOOPBACK,UP,LOWER_UP>"), "{name}: {lo}");
        node.output("ping", ["-c", "1", "-W", "1", "127.0.0.1"])?;
    }
    Ok(())
}

/// `labs/namespaces_on_a_bridge.toml` is this lab: `netns-test lab examples/labs/namespaces_on_a_bridge.toml` opens it.
#[test]
fn the_lab_file_declares_this_topology() {
    netns_test_examples::assert_lab_file("namespaces_on_a_bridge.toml", mydocker0());
}
