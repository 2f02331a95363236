//! Seed 001, part 2 ("How to manually create a container network"): a namespace `sample`
//! joined to a bridge `samplebr` (10.1.1.1/24) in the host by the veth pair `veth1`
//! (inside `sample`, 10.1.1.2/24) / `veth2` (on the bridge), with `samplebr` as the
//! default gateway:
//!
//! ```text
//! ubuntu@vm0:~$ ip netns add sample
//! ubuntu@vm0:~$ ip link add veth1 type veth peer name veth2
//! ubuntu@vm0:~$ ip link set veth1 netns sample
//! ubuntu@vm0:~$ ip link add name samplebr type bridge
//! ubuntu@vm0:~$ ip link set veth2 master samplebr
//! ubuntu@vm0:~$ ip addr add 10.1.1.1/24 brd + dev samplebr
//! ubuntu@vm0:~$ ip netns exec sample ip addr add 10.1.1.2/24 dev veth1
//! ubuntu@vm0:~$ ip netns exec sample ip link set veth1 up
//! ubuntu@vm0:~$ ip netns exec sample ip link set lo up
//! ubuntu@vm0:~$ ip link set veth2 up
//! ubuntu@vm0:~$ ip link set samplebr up
//! ubuntu@vm0:~$ ip netns exec sample ip route add default via 10.1.1.1
//! ubuntu@vm0:~$ ping 10.1.1.2
//! ```
//!
//! The bridge-side end is named `sample-veth1` here (netns-test names it after the node and
//! its interface). The tutorial's last step, internet access through `MASQUERADE` and a
//! resolver file of the namespace's own, is `sample_reaches_the_outside.rs`.

use std::process::Stdio;

use netns_test::{netns_test, Net, Node, Topology};

fn samplebr() -> Topology {
    Topology::new()
        .bridge("samplebr", "10.1.1.0/24")
        .node("sample", |n| n.on_with("samplebr", |a| a.name("veth1")))
}

/// `ping -c 1 -W 1 TO` from inside `from`: true if the echo reply came back within 1 s.
async fn ping(from: &Node, to: &str) -> anyhow::Result<bool> {
    let status = from
        .tokio_command("ping")
        .args(["-c", "1", "-W", "1", to])
        .stdout(Stdio::null())
        .status()
        .await?;
    Ok(status.success())
}

#[netns_test(topology = samplebr())]
async fn host_and_sample_ping_each_other(net: Net) -> anyhow::Result<()> {
    // ubuntu@vm0:~$ ping 10.1.1.2
    assert!(ping(&net.host(), "10.1.1.2").await?, "host -> sample");
    // ubuntu@vm0:~$ ip netns exec sample ping <the host's address>
    assert!(
        ping(&net.node("sample"), "10.1.1.1").await?,
        "sample -> host"
    );
    Ok(())
}

#[netns_test(topology = samplebr())]
async fn sample_is_wired_as_in_the_tutorial(net: Net) -> anyhow::Result<()> {
    let sample = net.node("sample");
    // ubuntu@vm0:~$ ip netns exec sample ip link list   ->   veth1@ifN ... UP
    let veth1 = sample.output("ip", ["-o", "addr", "show", "dev", "veth1"])?;
    assert!(
        veth1.contains("inet 10.1.1.2/24 brd 10.1.1.255 scope global veth1"),
        "{veth1}"
    );
    let routes = sample.output("ip", ["route"])?;
    assert!(
        routes.starts_with("default via 10.1.1.1 dev veth1"),
        "{routes}"
    );

    let host = net.host();
    let bridge = host.output("ip", ["-o", "-4", "addr", "show", "dev", "samplebr"])?;
    assert!(
        bridge.contains("inet 10.1.1.1/24 brd 10.1.1.255 scope global samplebr"),
        "{bridge}"
    );
    let ports = host.output("ip", ["-o", "link", "show", "master", "samplebr"])?;
    assert!(ports.contains(": sample-veth1@if"), "{ports}");
    Ok(())
}

/// `labs/container_network_by_hand.toml` is this lab: `netns-test lab examples/labs/container_network_by_hand.toml` opens it.
#[test]
fn the_lab_file_declares_this_topology() {
    netns_test_examples::assert_lab_file("container_network_by_hand.toml", samplebr());
}
