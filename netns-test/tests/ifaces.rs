//! Interfaces that change under a running test: an interface replugged into another
//! network, interfaces of a node's own added and removed (in the topology and at run
//! time), an attachment that starts down. Each change is observed in the kernel (through
//! `ip` run in the node), through traffic, and in `Node::ifaces()`.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::ensure;
use common::assert_has;
use netns_test::reach::Probe;
use netns_test::{netns_test, IfaceKind, IfaceOptions, Net, Node, Topology};

/// A phone on its home router's LAN, and a mobile router's LAN it can move to.
fn home_and_mobile() -> Topology {
    Topology::new()
        .bridge_with("home", "192.168.1.0/24", |b| b.in_node("home_router"))
        .bridge_with("mobile", "10.64.0.0/24", |b| b.in_node("mobile_router"))
        .router("home_router", |n| n)
        .router("mobile_router", |n| n)
        .node("tv", |n| n.on("home"))
        .node("cell_peer", |n| n.on("mobile"))
        .node("phone", |n| n.on("home"))
}

/// `ip ARGS...` in `node`, its standard output.
fn ip(node: &Node, args: &[&str]) -> anyhow::Result<String> {
    Ok(node.output("ip", args)?)
}

#[netns_test(topology = home_and_mobile())]
async fn a_replugged_interface_is_on_the_new_network_only(net: Net) -> anyhow::Result<()> {
    let (phone, tv, peer) = (net.node("phone"), net.node("tv"), net.node("cell_peer"));
    // Positive controls: on the home LAN, the phone reaches the TV, not the mobile LAN.
    let old_ip = phone.ip_on("home");
    phone.assert_reaches(&tv, Probe::Icmp).await;
    tv.assert_reaches(old_ip, Probe::Icmp).await;
    assert_has(
        &ip(&phone, &["route"])?,
        &["default via 192.168.1.1 dev eth0"],
    );
    let old_index = phone.iface("eth0").index;

    let eth0 = phone.replug("eth0", "mobile").await?;

    // The lowest free address of the new pool (.1 is the gateway, .2 the peer's).
    assert_eq!(eth0.addrs, vec!["10.64.0.3/24".parse()?]);
    assert_eq!(eth0.network, "mobile");
    assert_ne!(
        eth0.index, old_index,
        "a new veth pair, not the old one moved"
    );
    // The runtime model follows the kernel.
    assert_eq!(phone.iface("eth0"), eth0);
    assert_eq!(phone.ifaces(), vec![eth0.clone()]);
    assert!(phone.try_ip_on("home").is_err());
    assert_eq!(phone.ip_on("mobile"), "10.64.0.3".parse::<IpAddr>()?);
    let shown = ip(&phone, &["-o", "addr", "show", "dev", "eth0"])?;
    assert_has(&shown, &["inet 10.64.0.3/24"]);
    ensure!(
        !shown.contains("192.168.1."),
        "the old address is gone: {shown}"
    );
    let routes = ip(&phone, &["route"])?;
    assert_has(&routes, &["default via 10.64.0.1 dev eth0"]);
    ensure!(
        !routes.contains("192.168.1."),
        "no route of the old network: {routes}"
    );
    // Its new port is on the mobile router's bridge.
    let ports = ip(
        &net.node("mobile_router"),
        &["-o", "link", "show", "master", "mobile"],
    )?;
    ensure!(ports.lines().count() == 2, "two ports on mobile: {ports}");

    // Reachable through the new network, in both directions, through the new gateway.
    phone.assert_reaches(&peer, Probe::Icmp).await;
    peer.assert_reaches(eth0.addrs[0].addr(), Probe::Icmp).await;
    phone
        .assert_reaches("10.64.0.1".parse::<IpAddr>()?, Probe::Icmp)
        .await;
    // Not on the old one: neither the TV from the phone, nor the old address from the TV.
    phone.assert_cannot_reach(&tv, Probe::Icmp).await;
    tv.assert_cannot_reach(old_ip, Probe::Icmp).await;

    // Back home, at an address of the test's choosing.
    let back = phone
        .replug_with("eth0", "home", IfaceOptions::new().addr("192.168.1.77"))
        .await?;
    assert_eq!(back.addrs, vec!["192.168.1.77/24".parse()?]);
    assert_has(
        &ip(&phone, &["route"])?,
        &["default via 192.168.1.1 dev eth0"],
    );
    phone.assert_reaches(&tv, Probe::Icmp).await;
    phone.assert_cannot_reach(&peer, Probe::Icmp).await;
    Ok(())
}

#[netns_test(topology = home_and_mobile())]
async fn a_replug_that_cannot_be_made_says_why_and_changes_nothing(net: Net) -> anyhow::Result<()> {
    let phone = net.node("phone");
    let before = phone.ifaces();
    let e = phone
        .replug("eth0", "cellular")
        .await
        .unwrap_err()
        .to_string();
    assert_has(
        &e,
        &[
            "node \"phone\": eth0: there is no bridge network \"cellular\"",
            "the bridges are: home, mobile",
        ],
    );
    let e = net
        .node("home_router")
        .replug("home", "mobile")
        .await
        .unwrap_err()
        .to_string();
    assert_has(
        &e,
        &["node \"home_router\": home: it is a Bridge interface"],
    );
    let e = phone
        .replug("eth9", "mobile")
        .await
        .unwrap_err()
        .to_string();
    assert_has(&e, &["eth9"]);
    assert_eq!(phone.ifaces(), before);
    // Positive control: the phone is still where it was.
    phone.assert_reaches(&net.node("tv"), Probe::Icmp).await;
    Ok(())
}

fn impairable_attachment() -> Topology {
    Topology::new()
        .bridge("lan", "10.0.0.0/24")
        .bridge("other", "10.1.0.0/24")
        .node("a", |n| n.on_with("lan", |a| a.impairable()))
        .node("b", |n| n.on("lan"))
}

#[netns_test(topology = impairable_attachment())]
async fn an_interface_with_a_relay_is_neither_replugged_nor_removed(
    net: Net,
) -> anyhow::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    let e = a.replug("eth0", "other").await.unwrap_err().to_string();
    assert_has(&e, &["node \"a\": eth0: its link has a relay"]);
    let e = a.remove_iface("eth0").await.unwrap_err().to_string();
    assert_has(
        &e,
        &["node \"a\": eth0: its link has a relay", "link(..).down()"],
    );
    // Positive controls: the relayed link still carries traffic, and b's plain one can go.
    a.assert_reaches(&b, Probe::Icmp).await;
    let b_ip = b.ip();
    b.remove_iface("eth0").await?;
    a.assert_cannot_reach(b_ip, Probe::Icmp).await;
    ensure!(b.ifaces().is_empty());
    Ok(())
}

/// Sends a datagram from `node` to `addr`:7 and receives it there: `addr` is an address
/// of the node's own.
fn loops_back(node: &Node, addr: IpAddr) -> anyhow::Result<()> {
    let got = node.run_blocking(move || -> std::io::Result<Vec<u8>> {
        let to = SocketAddr::new(addr, 7);
        let rx = UdpSocket::bind(to)?;
        rx.set_read_timeout(Some(Duration::from_secs(2)))?;
        let tx = UdpSocket::bind(SocketAddr::new(addr, 0))?;
        tx.send_to(addr.to_string().as_bytes(), to)?;
        let mut buf = [0u8; 64];
        let (n, _) = rx.recv_from(&mut buf)?;
        Ok(buf[..n].to_vec())
    });
    let got = got.map_err(|e| anyhow::anyhow!("{addr} in node {}: {e}", node.name()))?;
    ensure!(got == addr.to_string().as_bytes(), "{addr}: got {got:?}");
    Ok(())
}

#[netns_test(topology = home_and_mobile())]
async fn an_interface_added_at_run_time_has_its_addresses_until_removed(
    net: Net,
) -> anyhow::Result<()> {
    let phone = net.node("phone");
    let svc: IpAddr = "10.200.0.1".parse()?;
    // Positive control: the address is not the node's before.
    ensure!(loops_back(&phone, svc).is_err(), "10.200.0.1 before svc0");

    let iface = phone
        .add_iface(
            "svc0",
            IfaceOptions::new()
                .addr("10.200.0.1/32")
                .addr("fd00:200::1"),
        )
        .await?;
    assert_eq!(
        iface.addrs,
        vec!["10.200.0.1/32".parse()?, "fd00:200::1/128".parse()?]
    );
    assert_eq!(phone.iface("svc0"), iface);
    let link = ip(&phone, &["-d", "-o", "link", "show", "svc0"])?;
    match iface.kind {
        IfaceKind::Dummy => assert_has(&link, &["dummy"]),
        IfaceKind::VethStandIn => {
            assert_has(&link, &["veth", "svc0@svc0~"]);
            assert_has(
                &ip(&phone, &["-o", "link", "show", "svc0~"])?,
                &["state UP"],
            );
        }
        kind => panic!("svc0 is a {kind:?}"),
    }
    assert_has(
        &ip(&phone, &["-o", "addr", "show", "svc0"])?,
        &["10.200.0.1/32", "fd00:200::1/128"],
    );
    loops_back(&phone, svc)?;
    loops_back(&phone, "fd00:200::1".parse()?)?;
    // The node's other interfaces are untouched.
    phone.assert_reaches(&net.node("tv"), Probe::Icmp).await;

    let e = phone
        .add_iface("svc0", IfaceOptions::new())
        .await
        .unwrap_err();
    assert_has(
        &e.to_string(),
        &["node \"phone\": svc0: the node has an interface of that name already"],
    );

    phone.remove_iface("svc0").await?;
    ensure!(phone.try_iface("svc0").is_err());
    ensure!(
        ip(&phone, &["link", "show", "svc0"]).is_err(),
        "svc0 is gone"
    );
    ensure!(
        ip(&phone, &["link", "show", "svc0~"]).is_err(),
        "its peer too"
    );
    ensure!(
        loops_back(&phone, svc).is_err(),
        "10.200.0.1 after svc0 went"
    );
    assert_eq!(phone.ifaces().len(), 1);
    Ok(())
}

/// A node with 16 interfaces of its own, each with an address.
fn sixteen_dummies() -> Topology {
    Topology::new().bridge("lan", "10.0.0.0/24").node("a", |n| {
        (0..16).fold(n.on("lan"), |n, i| {
            n.iface(&format!("d{i}"), &[&format!("10.200.{i}.1/32")])
        })
    })
}

#[netns_test(topology = sixteen_dummies())]
async fn sixteen_interfaces_declared_in_the_topology_each_have_their_address(
    net: Net,
) -> anyhow::Result<()> {
    let a = net.node("a");
    let dummies: Vec<_> = a
        .ifaces()
        .into_iter()
        .filter(|i| i.name != "eth0")
        .collect();
    assert_eq!(dummies.len(), 16, "{dummies:?}");
    let shown = ip(&a, &["-o", "addr"])?;
    for (i, d) in dummies.iter().enumerate() {
        assert_eq!(d.name, format!("d{i}"));
        assert!(
            matches!(d.kind, IfaceKind::Dummy | IfaceKind::VethStandIn),
            "{d:?}"
        );
        let addr: IpAddr = format!("10.200.{i}.1").parse()?;
        assert_eq!(d.addrs, vec![IpAddr::into(addr)]);
        assert_has(&shown, &[&format!("d{i}    inet 10.200.{i}.1/32")]);
        loops_back(&a, addr)?;
    }
    // Positive control: an address no interface has does not loop back.
    ensure!(loops_back(&a, "10.200.16.1".parse()?).is_err());
    Ok(())
}

#[test]
fn an_interface_declared_with_a_bad_address_or_a_taken_name_is_refused() {
    let e = Topology::new()
        .bridge("lan", "10.0.0.0/24")
        .node("a", |n| {
            n.iface("eth0", &[])
                .on_with("lan", |a| a.name("eth0"))
                .iface("d0", &["10.200.0.300/32"])
        })
        .plan()
        .unwrap_err()
        .to_string();
    assert_has(
        &e,
        &[
            "node \"a\": interface \"d0\": \"10.200.0.300/32\" is not an address with prefix",
            "already has an interface named \"eth0\"",
        ],
    );
}

fn one_down() -> Topology {
    Topology::new()
        .bridge("lan", "10.0.0.0/24")
        .node("a", |n| n.on("lan"))
        .node("b", |n| n.on_with("lan", |a| a.down()))
}

#[netns_test(topology = one_down())]
async fn an_attachment_that_starts_down_is_brought_up_with_its_routes(
    net: Net,
) -> anyhow::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    // The build did not wait for it: that wait gives up after 10 s with an error.
    ensure!(
        net.build_time() < Duration::from_secs(5),
        "{:?}",
        net.build_time()
    );
    let link = ip(&b, &["-o", "link", "show", "eth0"])?;
    assert_has(&link, &["state DOWN"]);
    ensure!(!link.contains(",UP"), "eth0 is not up: {link}");
    assert_has(
        &ip(&b, &["-o", "addr", "show", "eth0"])?,
        &["inet 10.0.0.3/24"],
    );
    let routes = ip(&b, &["route"])?;
    ensure!(
        !routes.contains("default"),
        "no default route yet: {routes}"
    );
    a.assert_cannot_reach(&b, Probe::Icmp).await;
    // Positive control: a's own attachment is up.
    a.assert_reaches("10.0.0.1".parse::<IpAddr>()?, Probe::Icmp)
        .await;

    b.link("eth0").up().await?;
    assert_has(&ip(&b, &["-o", "link", "show", "eth0"])?, &[",UP"]);
    assert_has(&ip(&b, &["route"])?, &["default via 10.0.0.1 dev eth0"]);
    // a's ARP entry for b may still be resolving from the negative check above (three
    // probes a second apart, longer than a raised isolation wait): an echo request queued
    // on it fails with EHOSTUNREACH when it gives up, as on a real LAN. The next
    // resolution finds b.
    a.reach(&b, Probe::Icmp)
        .wait_until_reaches(Duration::from_secs(10))
        .await?;
    b.assert_reaches("10.0.0.1".parse::<IpAddr>()?, Probe::Icmp)
        .await;
    Ok(())
}
