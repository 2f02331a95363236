//! What the topology decides about the kernel, read back from inside the nodes: forwarding
//! sysctls, bridge netfilter, the names of bridge ports.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{ensure, Context};
use netns_test::nft::{Hook, Proto, Rule, Ruleset};
use netns_test::topology::HOST;
use netns_test::{netns_test, Net, Node, Topology};

const PORT: u16 = 7000;

/// `/proc/sys/KEY` as `node` sees it (read by a thread standing in its namespace).
fn sysctl(node: &Node, key: &str) -> anyhow::Result<String> {
    let path = format!("/proc/sys/{key}");
    node.run_blocking(|| std::fs::read_to_string(&path))
        .map(|s| s.trim().to_string())
        .with_context(|| format!("node {}: reading {path}", node.name()))
}

/// Whether `node` holds an interface called `ifname` (its namespace's
/// `/proc/sys/net/ipv4/conf` lists exactly its interfaces).
fn has_iface(node: &Node, ifname: &str) -> bool {
    let path = format!("/proc/sys/net/ipv4/conf/{ifname}");
    node.run_blocking(|| std::path::Path::new(&path).exists())
}

/// A TCP listener on `node`, port [`PORT`], accepting every connection until the test ends.
async fn listen(node: &Node) -> anyhow::Result<()> {
    let listener = node
        .run(tokio::net::TcpListener::bind(("0.0.0.0", PORT)))
        .await?;
    node.spawn(async move { while listener.accept().await.is_ok() {} });
    Ok(())
}

/// Connects from `from` to `to`:[`PORT`] within `wait`: `Ok(true)` when connected,
/// `Ok(false)` when the attempt timed out (dropped on the way), any other failure an error.
async fn connects(from: &Node, to: &Node, wait: Duration) -> anyhow::Result<bool> {
    let addr = SocketAddr::new(to.ip(), PORT);
    let r = from
        .run(async move { tokio::time::timeout(wait, tokio::net::TcpStream::connect(addr)).await })
        .await;
    match r {
        Ok(Ok(_)) => Ok(true),
        Err(_) => Ok(false),
        Ok(Err(e)) => Err(e).with_context(|| format!("{} -> {addr}", from.name())),
    }
}

const LONG: Duration = Duration::from_secs(5);
const SHORT: Duration = Duration::from_millis(800);

/// An IPv4-only topology: no address of any node is IPv6.
fn ipv4_routers() -> Topology {
    Topology::new()
        .router("r", |n| n)
        .node("fwd", |n| n.forwarding())
        .node("a", |n| n)
        .link("a", "r", "10.0.1.0/30")
        .link("r", "fwd", "10.0.2.0/30")
}

/// `.router()` and `n.forwarding()` turn IPv6 forwarding on as well as IPv4, also where the
/// topology has no IPv6 at all (before, only IPv4 forwarding was on there).
#[netns_test(topology = ipv4_routers())]
fn routers_forward_ipv6_too_in_an_ipv4_only_topology(net: Net) -> anyhow::Result<()> {
    assert!(net.plan().nodes.iter().all(|n| n
        .ifaces
        .iter()
        .flat_map(|i| &i.addrs)
        .all(|a| a.addr().is_ipv4())));
    for name in ["r", "fwd"] {
        let node = net.node(name);
        assert_eq!(sysctl(&node, "net/ipv4/ip_forward")?, "1", "{name}");
        assert_eq!(
            sysctl(&node, "net/ipv6/conf/all/forwarding")?,
            "1",
            "{name}"
        );
        // Interfaces follow, those of the topology and those added later.
        assert_eq!(
            sysctl(&node, "net/ipv6/conf/eth0/forwarding")?,
            "1",
            "{name}"
        );
        assert_eq!(
            sysctl(&node, "net/ipv6/conf/default/forwarding")?,
            "1",
            "{name}"
        );
    }
    // A node that is not a router forwards neither.
    let a = net.node("a");
    assert_eq!(sysctl(&a, "net/ipv4/ip_forward")?, "0");
    assert_eq!(sysctl(&a, "net/ipv6/conf/all/forwarding")?, "0");
    Ok(())
}

const BRIDGE_NF: [&str; 3] = [
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/bridge/bridge-nf-call-arptables",
];

/// `a` and `b` on the host's bridge `br0`, and `c` behind the host on a routed link (the
/// host forwards): a FORWARD rule of the host always sees a -> c, and sees a -> b only
/// where bridged frames traverse the IP hooks.
fn bridged_and_routed(netfilter: Option<bool>) -> Topology {
    Topology::new()
        .bridge_with("br0", "10.0.0.0/24", |b| match netfilter {
            Some(on) => b.bridge_netfilter(on),
            None => b,
        })
        .host(|h| h.forwarding())
        .node("a", |n| n.on("br0"))
        .node("b", |n| n.on("br0"))
        .node("c", |n| n)
        .link(HOST, "c", "10.9.0.0/30")
}

/// `nft add rule inet netns_test forward tcp dport 7000 drop` in the host.
async fn drop_forwarded(net: &Net) -> anyhow::Result<()> {
    let rules = Ruleset::new().filter(
        Hook::Forward,
        Rule::new().proto(Proto::Tcp).dport(PORT).drop(),
    );
    Ok(net.host().nft().apply(&rules).await?)
}

/// By default bridged frames do not traverse the IP hooks, on every machine (here
/// `br_netfilter` is loaded and the kernel's own default is 1): the sysctls read 0 in the
/// bridge's namespace and a FORWARD drop rule there does not stop traffic between two
/// members of the bridge, while it does stop routed traffic.
#[netns_test(topology = bridged_and_routed(None))]
async fn bridged_traffic_skips_the_forward_chain_by_default(net: Net) -> anyhow::Result<()> {
    let host = net.host();
    // Without br_netfilter there are no such sysctls, and bridged frames never traverse
    // the IP hooks: what follows holds there too.
    if host.run_blocking(|| std::path::Path::new("/proc/sys/net/bridge").exists()) {
        for key in BRIDGE_NF {
            assert_eq!(sysctl(&host, key)?, "0", "{key}");
        }
    }
    let (a, b, c) = (net.node("a"), net.node("b"), net.node("c"));
    listen(&b).await?;
    listen(&c).await?;
    // Without the rule, both paths work.
    ensure!(
        connects(&a, &b, LONG).await?,
        "a -> b over br0 without any rule"
    );
    ensure!(
        connects(&a, &c, LONG).await?,
        "a -> c through the host without any rule"
    );
    drop_forwarded(&net).await?;
    // The rule drops what the host routes...
    ensure!(
        !connects(&a, &c, SHORT).await?,
        "the FORWARD drop rule let a -> c through"
    );
    // ...but never sees what br0 switches.
    ensure!(
        connects(&a, &b, LONG).await?,
        "a -> b over br0 was dropped by the host's FORWARD rule: bridged frames traverse the IP hooks"
    );
    Ok(())
}

/// `b.bridge_netfilter(true)`: the sysctls read 1 in the bridge's namespace and the same
/// FORWARD drop rule stops traffic between two members of the bridge; removing the rule
/// lets it through again.
#[netns_test(topology = bridged_and_routed(Some(true)))]
async fn with_bridge_netfilter_the_forward_chain_sees_bridged_traffic(
    net: Net,
) -> anyhow::Result<()> {
    let host = net.host();
    for key in BRIDGE_NF {
        assert_eq!(sysctl(&host, key)?, "1", "{key}");
    }
    let (a, b) = (net.node("a"), net.node("b"));
    listen(&b).await?;
    ensure!(
        connects(&a, &b, LONG).await?,
        "a -> b over br0 without any rule"
    );
    drop_forwarded(&net).await?;
    ensure!(
        !connects(&a, &b, SHORT).await?,
        "a -> b over br0 passed the host's FORWARD drop rule despite bridge_netfilter(true)"
    );
    host.nft().flush().await?;
    ensure!(
        connects(&a, &b, LONG).await?,
        "a -> b over br0 once the rule is gone"
    );
    Ok(())
}

/// The switch is set in the namespace holding each bridge: on in `r` (whose bridge asks for
/// it), off in the host (whose bridge does not).
#[netns_test(topology = Topology::new()
    .router("r", |n| n)
    .bridge_with("lan", "192.168.1.0/24", |b| b.in_node("r").bridge_netfilter(true))
    .bridge("br0", "10.0.0.0/24")
    .node("x", |n| n.on("lan"))
    .node("y", |n| n.on("br0")))]
fn bridge_netfilter_is_set_in_the_namespace_of_each_bridge(net: Net) -> anyhow::Result<()> {
    for key in BRIDGE_NF {
        assert_eq!(sysctl(&net.node("r"), key)?, "1", "r: {key}");
        assert_eq!(sysctl(&net.host(), key)?, "0", "host: {key}");
    }
    Ok(())
}

/// The tutorial's `ip link add veth1 type veth peer name veth2; ip link set veth2 master
/// samplebr`, also into a bridge inside a node.
fn named_ports() -> Topology {
    Topology::new()
        .bridge("samplebr", "10.1.1.0/24")
        .router("r", |n| n)
        .bridge_with("lan", "192.168.1.0/24", |b| b.in_node("r"))
        .node("sample", |n| {
            n.on_with("samplebr", |a| a.name("veth1").peer_name("veth2"))
        })
        .node("x", |n| n.on_with("lan", |a| a.peer_name("port1")))
}

/// A named bridge port exists under that name in the namespace of its bridge, is a port of
/// that bridge, and carries the traffic.
#[netns_test(topology = named_ports())]
async fn a_named_bridge_port_appears_under_its_name_in_the_bridges_namespace(
    net: Net,
) -> anyhow::Result<()> {
    let (host, sample, r, x) = (net.host(), net.node("sample"), net.node("r"), net.node("x"));
    ensure!(has_iface(&host, "veth2"), "no veth2 in the host");
    ensure!(
        !has_iface(&host, "sample-veth1"),
        "the default name is used"
    );
    ensure!(has_iface(&sample, "veth1") && !has_iface(&sample, "veth2"));
    ensure!(has_iface(&r, "port1") && !has_iface(&r, "x-eth0"));
    ensure!(!has_iface(&host, "port1"));
    let ports = host.output("ip", ["-o", "link", "show", "master", "samplebr"])?;
    ensure!(ports.contains(": veth2@"), "{ports}");
    let ports = r.output("ip", ["-o", "link", "show", "master", "lan"])?;
    ensure!(ports.contains(": port1@"), "{ports}");
    // Traffic crosses them: the host reaches sample, r reaches x.
    listen(&sample).await?;
    listen(&x).await?;
    ensure!(connects(&host, &sample, LONG).await?, "host -> sample");
    ensure!(connects(&r, &x, LONG).await?, "r -> x");
    Ok(())
}

/// Two nodes whose `NODE-IFNAME` is over 15 bytes and shares its first 15, and a link of
/// the topology's own named `veth0` in the host.
fn long_names() -> Topology {
    Topology::new()
        .bridge("br0", "10.0.0.0/24")
        .node("frontend-web-01", |n| n.on("br0"))
        .node("frontend-web-02", |n| n.on("br0"))
        .node("peer", |n| n)
        .link_with(HOST, "peer", "10.9.0.0/30", |l| l.names("veth0", "eth0"))
}

/// Before, both long nodes' ports silently became `veth0`/`veth1` and the topology's own
/// `veth0` link was then refused, blaming the topology. Now the ports get distinct names
/// of the reserved shape, and everything builds and works.
#[netns_test(topology = long_names())]
async fn long_node_names_get_distinct_ports_beside_a_veth0_of_the_topology(
    net: Net,
) -> anyhow::Result<()> {
    let host = net.host();
    let plan = net.plan();
    let ports: Vec<String> = plan
        .veths
        .iter()
        .flat_map(|v| &v.ends)
        .filter(|e| e.node == 0 && e.master.is_some())
        .map(|e| e.name.clone())
        .collect();
    ensure!(ports.len() == 2 && ports[0] != ports[1], "{ports:?}");
    for port in &ports {
        ensure!(
            port.len() == 10 && port.starts_with("nt"),
            "{port} is not of the reserved shape"
        );
        ensure!(has_iface(&host, port), "no {port} in the host");
    }
    let listed = host.output("ip", ["-o", "link", "show", "master", "br0"])?;
    for port in &ports {
        ensure!(
            listed.contains(&format!(": {port}@")),
            "{port} not a port of br0: {listed}"
        );
    }
    ensure!(!listed.contains("veth0"), "{listed}");
    ensure!(has_iface(&host, "veth0"), "the topology's veth0 is missing");
    let (web1, web2, peer) = (
        net.node("frontend-web-01"),
        net.node("frontend-web-02"),
        net.node("peer"),
    );
    listen(&web2).await?;
    listen(&peer).await?;
    ensure!(connects(&web1, &web2, LONG).await?, "web1 -> web2 over br0");
    ensure!(
        connects(&host, &peer, LONG).await?,
        "host -> peer over veth0"
    );
    Ok(())
}
