//! Seed 001, part 1 ("How Docker container networking works"): three containers, `con1` and
//! `con2` on Docker's default bridge `docker0`, `con3` on the user-defined bridge network
//! `testnet`. Containers on one bridge reach each other; containers on different bridges
//! do not.
//!
//! The tutorial's `docker inspect con1 con2 con3`:
//!
//! ```text
//! Name=con1 IP=172.18.0.2 Mac=02:42:ac:12:00:02 Bridge= docker0
//! Name=con2 IP=172.18.0.3 Mac=02:42:ac:12:00:03 Bridge= docker0
//! Name=con3 IP=172.19.0.2 Mac=02:42:ac:13:00:02 Bridge= testnet
//! ```
//!
//! Docker names the device of `testnet` `br-6c1c92f34df9`; here the bridge is simply called
//! `testnet`. Every command the tutorial runs with `sudo ip netns exec con1 ...` runs here
//! with `net.node("con1").command(...)`, without root.

use netns_test::{netns_test, Net, Node, Topology};

/// `docker0` (172.18.0.0/16) and `testnet` (172.19.0.0/16), each a bridge in the host
/// holding its gateway `.1`, and the three containers (addresses from `.2`, Docker-style
/// MACs `02:42` + the address). The same as `netns_test::presets::two_networks()`.
fn docker_networks() -> Topology {
    Topology::new()
        .bridge("docker0", "172.18.0.0/16")
        .bridge("testnet", "172.19.0.0/16")
        .node("con1", |n| n.on("docker0"))
        .node("con2", |n| n.on("docker0"))
        .node("con3", |n| n.on("testnet"))
}

/// What `ping -c 1 -W 1 TO` saw.
#[derive(Debug, PartialEq, Eq)]
enum Ping {
    /// Exit 0: the echo reply came back within 1 s (the tutorial's SUCCESS).
    Reply,
    /// Exit 1 with 100% packet loss: the echo went out and nothing answered (its FAIL).
    NoReply,
}

/// `ip netns exec FROM ping -c 1 -W 1 TO`, shown as the tutorial shows it (visible with
/// `--nocapture`). Any other outcome than [`Ping::Reply`] or [`Ping::NoReply`] is an error:
/// exit 2 means ping could not even send (an unknown name, no socket), which says nothing
/// about the path.
async fn ping(from: &Node, to: &str) -> anyhow::Result<Ping> {
    let out = from
        .tokio_command("ping")
        .args(["-c", "1", "-W", "1", to])
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{}$ ping -c 1 -W 1 {to}", from.name());
    print!("{text}");
    match out.status.code() {
        Some(0) => Ok(Ping::Reply),
        Some(1) if text.contains(" 0 received") && text.contains("100% packet loss") => {
            Ok(Ping::NoReply)
        }
        _ => anyhow::bail!(
            "ping {to} in {} did not probe ({}): {text}{}",
            from.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn mac(bytes: [u8; 6]) -> String {
    bytes.map(|b| format!("{b:02x}")).join(":")
}

#[netns_test(topology = docker_networks())]
async fn containers_have_docker_addresses_and_macs(net: Net) -> anyhow::Result<()> {
    let expected = [
        (
            "con1",
            "172.18.0.2/16 brd 172.18.255.255",
            "02:42:ac:12:00:02",
        ),
        (
            "con2",
            "172.18.0.3/16 brd 172.18.255.255",
            "02:42:ac:12:00:03",
        ),
        (
            "con3",
            "172.19.0.2/16 brd 172.19.255.255",
            "02:42:ac:13:00:02",
        ),
    ];
    for (name, inet, ether) in expected {
        let con = net.node(name);
        // $ sudo ip netns exec con1 ip a | grep -e 'inet.*eth0' -e 'eth0@'
        let addr = con.output("ip", ["-o", "-4", "addr", "show", "dev", "eth0"])?;
        assert!(
            addr.contains(&format!("inet {inet} scope global eth0")),
            "{name}: {addr}"
        );
        let link = con.output("ip", ["-o", "link", "show", "dev", "eth0"])?;
        assert!(
            link.contains(&format!("link/ether {ether} ")),
            "{name}: {link}"
        );
        assert!(link.contains("state UP"), "{name}: {link}");
        // The same, from the framework's plan.
        assert_eq!(mac(con.ifaces()[0].mac), ether);
        assert_eq!(
            con.ifaces()[0].network,
            if name == "con3" { "testnet" } else { "docker0" }
        );
    }
    Ok(())
}

#[netns_test(topology = docker_networks())]
async fn bridges_hold_the_gateways_and_the_host_ends_of_the_veths(net: Net) -> anyhow::Result<()> {
    let host = net.host();
    // The tutorial's `ip a` on the host: `inet 172.18.0.1/16 brd 172.18.255.255 scope
    // global docker0`, and one `vethXXXX@ifN ... master docker0` per container.
    let docker0 = host.output("ip", ["-o", "-4", "addr", "show", "dev", "docker0"])?;
    assert!(docker0.contains("inet 172.18.0.1/16 "), "{docker0}");
    let testnet = host.output("ip", ["-o", "-4", "addr", "show", "dev", "testnet"])?;
    assert!(testnet.contains("inet 172.19.0.1/16 "), "{testnet}");

    let docker0_ports = host.output("ip", ["-o", "link", "show", "master", "docker0"])?;
    assert_eq!(
        docker0_ports.lines().count(),
        2,
        "two containers on docker0: {docker0_ports}"
    );
    let testnet_ports = host.output("ip", ["-o", "link", "show", "master", "testnet"])?;
    assert_eq!(
        testnet_ports.lines().count(),
        1,
        "one container on testnet: {testnet_ports}"
    );

    // "NICs on bridges do not have ip addresses."
    for line in docker0_ports.lines().chain(testnet_ports.lines()) {
        // `23: con1-eth0@if2: <BROADCAST,...> ... master docker0 state UP ...`
        let port = line.split(": ").nth(1).and_then(|p| p.split('@').next());
        let port = port.unwrap_or_else(|| panic!("unexpected `ip -o link` line: {line}"));
        let addrs = host.output("ip", ["-o", "-4", "addr", "show", "dev", port])?;
        assert_eq!(addrs, "", "bridge port {port} has no IPv4 address");
    }
    Ok(())
}

#[netns_test(topology = docker_networks())]
async fn containers_on_one_bridge_reach_each_other(net: Net) -> anyhow::Result<()> {
    println!("{}", net.summary());
    // ubuntu@vm0:~$ sudo ip netns exec con1 ping 172.18.0.3   (SUCCESS)
    assert_eq!(
        ping(&net.node("con1"), "172.18.0.3").await?,
        Ping::Reply,
        "con1 -> con2"
    );
    assert_eq!(
        ping(&net.node("con2"), "172.18.0.2").await?,
        Ping::Reply,
        "con2 -> con1"
    );
    Ok(())
}

#[netns_test(topology = docker_networks())]
async fn containers_on_different_bridges_are_isolated(net: Net) -> anyhow::Result<()> {
    let (host, con1, con2, con3) = (
        net.host(),
        net.node("con1"),
        net.node("con2"),
        net.node("con3"),
    );
    // Both targets answer pings: con3 its gateway (the host), con1 its neighbour con2.
    assert_eq!(
        ping(&host, "172.19.0.2").await?,
        Ping::Reply,
        "host -> con3"
    );
    assert_eq!(
        ping(&con2, "172.18.0.2").await?,
        Ping::Reply,
        "con2 -> con1"
    );
    // Each container still reaches its own gateway.
    assert_eq!(
        ping(&con3, "172.19.0.1").await?,
        Ping::Reply,
        "con3 -> testnet gateway"
    );

    // ubuntu@vm0:~$ sudo ip netns exec con1 ping 172.19.0.2   (FAIL, 100% packet loss)
    // con1's default route leads to 172.18.0.1 on the host, which does not forward.
    assert_eq!(
        ping(&con1, "172.19.0.2").await?,
        Ping::NoReply,
        "con1 -> con3 must fail"
    );
    assert_eq!(
        ping(&con3, "172.18.0.2").await?,
        Ping::NoReply,
        "con3 -> con1 must fail"
    );

    // That is all that keeps them apart: once the host forwards
    // (ubuntu@vm0:~$ sudo sysctl -w net.ipv4.ip_forward=1), the same pings go through.
    host.run_blocking(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))?;
    assert_eq!(
        ping(&con1, "172.19.0.2").await?,
        Ping::Reply,
        "con1 -> con3"
    );
    assert_eq!(
        ping(&con3, "172.18.0.2").await?,
        Ping::Reply,
        "con3 -> con1"
    );
    Ok(())
}

/// `labs/docker_bridge.toml` is this lab: `netns-test lab examples/labs/docker_bridge.toml` opens it.
#[test]
fn the_lab_file_declares_this_topology() {
    netns_test_examples::assert_lab_file("docker_bridge.toml", docker_networks());
}
