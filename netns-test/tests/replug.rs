//! What follows an interface that changes network: the node's name in every name service
//! that knows it, the routes its link restores when it comes up again, no default route
//! from an internal network; and a point-to-point link that starts down.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use anyhow::ensure;
use common::assert_has;
use netns_test::reach::Probe;
use netns_test::{netns_test, IfaceOptions, Net, Node, Topology};

/// A phone on its home router's LAN, and a mobile router's LAN it can move to, both
/// dual-stack.
fn home_and_mobile() -> Topology {
    Topology::new()
        .bridge_with("home", "192.168.1.0/24", |b| {
            b.ipv6("fd00:1::/64").in_node("home_router")
        })
        .bridge_with("mobile", "10.64.0.0/24", |b| {
            b.ipv6("fd00:64::/64").in_node("mobile_router")
        })
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

/// `dig +short` in `node` (`args` after it), its lines sorted.
fn dig(node: &Node, args: &[&str]) -> anyhow::Result<Vec<String>> {
    let out = node.output("dig", ["+short", "+time=2", "+tries=1"].iter().chain(args))?;
    let mut lines: Vec<String> = out.lines().map(|l| l.trim().to_string()).collect();
    lines.sort();
    Ok(lines)
}

/// What `name` answers in `node`: its A and AAAA records, sorted.
fn addrs_of(node: &Node, name: &str) -> anyhow::Result<Vec<String>> {
    let mut all = dig(node, &[name, "A"])?;
    all.extend(dig(node, &[name, "AAAA"])?);
    all.sort();
    Ok(all)
}

fn sorted(addrs: &[IpAddr]) -> Vec<String> {
    let mut v: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
    v.sort();
    v
}

/// Regression: the name service answered a replugged node's name with its planned
/// addresses, and the reverse lookup of the old address with its name.
#[netns_test(topology = home_and_mobile())]
async fn a_replugged_nodes_name_answers_its_new_addresses_in_every_view(
    net: Net,
) -> anyhow::Result<()> {
    let phone = net.node("phone");
    let viewers = ["tv", "cell_peer", "home_router", "phone"].map(|n| net.node(n));
    let old: Vec<IpAddr> = phone.iface("eth0").addrs.iter().map(|a| a.addr()).collect();
    ensure!(old.len() == 2, "dual-stack: {old:?}");
    // Positive controls: before, every view answers the home addresses, both ways.
    for v in &viewers {
        assert_eq!(addrs_of(v, "phone")?, sorted(&old), "in {}", v.name());
        for a in &old {
            assert_eq!(
                dig(v, &["-x", &a.to_string()])?,
                ["phone."],
                "in {}",
                v.name()
            );
        }
    }

    let eth0 = phone.replug("eth0", "mobile").await?;
    let new: Vec<IpAddr> = eth0.addrs.iter().map(|a| a.addr()).collect();
    ensure!(
        new.len() == 2 && new.iter().all(|a| !old.contains(a)),
        "{new:?}"
    );
    for v in &viewers {
        assert_eq!(addrs_of(v, "phone")?, sorted(&new), "in {}", v.name());
        for a in &new {
            assert_eq!(
                dig(v, &["-x", &a.to_string()])?,
                ["phone."],
                "in {}",
                v.name()
            );
        }
        for a in &old {
            let ptr = dig(v, &["-x", &a.to_string()])?;
            ensure!(ptr.is_empty(), "in {}: {a} still answers {ptr:?}", v.name());
        }
    }
    // getaddrinfo agrees, from the network the phone left.
    let tv = net.node("tv");
    assert_has(
        &tv.output("getent", ["ahostsv4", "phone"])?,
        &[&new[0].to_string()],
    );

    // An interface of its own answers no name: the name keeps the network's addresses.
    phone
        .add_iface("svc0", IfaceOptions::new().addr("10.200.0.1/32"))
        .await?;
    assert_eq!(addrs_of(&tv, "phone")?, sorted(&new));
    assert!(dig(&tv, &["-x", "10.200.0.1"])?.is_empty());

    // Unplugged: the name has no address left, nor do its addresses a name.
    phone.remove_iface("eth0").await?;
    for v in &viewers[..3] {
        assert!(addrs_of(v, "phone")?.is_empty(), "in {}", v.name());
        assert!(dig(v, &["-x", &new[0].to_string()])?.is_empty());
    }
    // Control: the other nodes' names still answer.
    assert_eq!(
        addrs_of(&tv, "cell_peer")?,
        sorted(
            &net.node("cell_peer")
                .iface("eth0")
                .addrs
                .iter()
                .map(|a| a.addr())
                .collect::<Vec<_>>()
        )
    );
    Ok(())
}

/// Regression: `up()` restored only the plan's routes, so a replugged interface taken down
/// and up again lost the default route the replug gave it.
#[netns_test(topology = home_and_mobile())]
async fn a_replugged_interface_taken_down_and_up_gets_its_new_default_route_back(
    net: Net,
) -> anyhow::Result<()> {
    let phone = net.node("phone");
    phone.replug("eth0", "mobile").await?;
    let route = "default via 10.64.0.1 dev eth0";
    assert_has(&ip(&phone, &["route"])?, &[route]);
    assert_has(
        &ip(&phone, &["-6", "route"])?,
        &["default via fd00:64::1 dev eth0"],
    );

    phone.link("eth0").down().await?;
    let routes = ip(&phone, &["route"])?;
    ensure!(!routes.contains("default"), "gone while down: {routes}");
    phone.link("eth0").up().await?;

    let routes = ip(&phone, &["route"])?;
    assert_has(&routes, &[route]);
    ensure!(
        !routes.contains("192.168.1."),
        "nothing of the old network: {routes}"
    );
    assert_has(
        &ip(&phone, &["-6", "route"])?,
        &["default via fd00:64::1 dev eth0"],
    );
    phone
        .assert_reaches(&net.node("cell_peer"), Probe::Icmp)
        .await;
    Ok(())
}

/// A LAN, and an internal network (no way out, no default route) next to it.
fn lan_and_quarantine() -> Topology {
    Topology::new()
        .bridge("lan", "10.0.0.0/24")
        .bridge_with("quarantine", "10.66.0.0/24", |b| b.internal())
        .node("inmate", |n| n.on("quarantine"))
        .node("laptop", |n| n.on("lan"))
}

/// Regression: a replug into an `internal()` network added a default route via its
/// gateway, which the build never gives its members.
#[netns_test(topology = lan_and_quarantine())]
async fn a_replug_into_an_internal_network_adds_no_default_route(net: Net) -> anyhow::Result<()> {
    let (laptop, inmate) = (net.node("laptop"), net.node("inmate"));
    // Controls: on the LAN the laptop has a default route; the build gave the internal
    // network's member none.
    assert_has(
        &ip(&laptop, &["route"])?,
        &["default via 10.0.0.1 dev eth0"],
    );
    let routes = ip(&inmate, &["route"])?;
    ensure!(!routes.contains("default"), "{routes}");

    let eth0 = laptop.replug("eth0", "quarantine").await?;
    assert_eq!(eth0.network, "quarantine");
    let routes = ip(&laptop, &["route"])?;
    ensure!(!routes.contains("default"), "no default route: {routes}");
    assert_has(&routes, &["10.66.0.0/24 dev eth0"]);
    // On the internal network all the same.
    laptop.assert_reaches(&inmate, Probe::Icmp).await;

    // Back on the LAN: no default route went through it, so none follows.
    laptop.replug("eth0", "lan").await?;
    let routes = ip(&laptop, &["route"])?;
    ensure!(!routes.contains("default"), "none to follow: {routes}");
    laptop
        .assert_reaches("10.0.0.1".parse::<IpAddr>()?, Probe::Icmp)
        .await;
    Ok(())
}

/// `a` and `b` on a point-to-point link that starts down at `a`; `a` routes a prefix
/// through it.
fn link_down() -> Topology {
    Topology::new()
        .node("a", |n| n.route("10.99.0.0/24", "10.9.0.2"))
        .node("b", |n| n)
        .link_with("a", "b", "10.9.0.0/30", |l| l.names("wan", "wan").down())
}

#[netns_test(topology = link_down())]
async fn a_link_that_starts_down_is_brought_up_with_its_routes(net: Net) -> anyhow::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    // The build did not wait for it: that wait gives up after 10 s with an error.
    ensure!(
        net.build_time() < Duration::from_secs(5),
        "{:?}",
        net.build_time()
    );
    let link = ip(&a, &["-o", "link", "show", "wan"])?;
    assert_has(&link, &["state DOWN"]);
    ensure!(!link.contains(",UP"), "a's end is not up: {link}");
    assert_has(
        &ip(&b, &["-o", "link", "show", "wan"])?,
        &[",UP", "NO-CARRIER"],
    );
    assert_has(
        &ip(&a, &["-o", "addr", "show", "wan"])?,
        &["inet 10.9.0.1/30"],
    );
    let routes = ip(&a, &["route"])?;
    ensure!(!routes.contains("10.99.0.0"), "no route yet: {routes}");
    b.assert_cannot_reach(&a, Probe::Icmp).await;

    a.link("wan").up().await?;
    assert_has(&ip(&a, &["-o", "link", "show", "wan"])?, &[",UP"]);
    assert_has(&ip(&a, &["route"])?, &["10.99.0.0/24 via 10.9.0.2 dev wan"]);
    // b's ARP entry for a may still be resolving from the negative check above (three
    // probes a second apart, longer than a raised isolation wait): an echo request queued
    // on it fails with EHOSTUNREACH when it gives up. The next resolution finds a.
    b.reach(&a, Probe::Icmp)
        .wait_until_reaches(Duration::from_secs(10))
        .await?;
    a.assert_reaches(&b, Probe::Icmp).await;
    Ok(())
}
