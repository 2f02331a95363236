//! A node's run-time handles (`node.link(..)`, `node.addr(..)`, `node.route()`,
//! `node.nft()`, `node.conditions(..)`), each method observed in the kernel: through the
//! real tools (`ip`, `nft`, `tc`) run in the node and through traffic.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::ensure;
use netns_test::fault::{Applied, Conditions, Emulator};
use netns_test::nft::{self, Hook, Proto, Rule, Ruleset};
use netns_test::reach::Probe;
use netns_test::{netns_test, presets, Net, Node, Topology};

/// `PROGRAM ARGS...` in `node`, its standard output.
fn sh(node: &Node, program: &str, args: &[&str]) -> anyhow::Result<String> {
    Ok(node.output(program, args)?)
}

#[netns_test(topology = presets::bridge_pair())]
async fn the_link_handle_takes_an_interface_down_and_up(net: Net) -> anyhow::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    let eth0 = b.link("eth0");
    assert_eq!(eth0.name(), "eth0");
    a.assert_reaches(&b, Probe::Icmp).await;

    eth0.down().await?;
    let shown = sh(&b, "ip", &["-o", "link", "show", "eth0"])?;
    ensure!(
        shown.contains("state DOWN"),
        "ip link set eth0 down: {shown}"
    );
    a.assert_cannot_reach(&b, Probe::Icmp).await;

    eth0.up().await?;
    let shown = sh(&b, "ip", &["-o", "link", "show", "eth0"])?;
    ensure!(shown.contains(",UP"), "ip link set eth0 up: {shown}");
    a.assert_reaches(&b, Probe::Icmp).await;
    Ok(())
}

/// A dual-stack LAN behind a router, and a server on the far side reached only through the
/// LAN node's default routes.
fn dual_stack_lan_and_server() -> Topology {
    Topology::new()
        .bridge_with("lan", "192.168.1.0/24", |b| {
            b.in_node("router").ipv6("fd00:1::/64")
        })
        .bridge_with("internet", "198.51.100.0/24", |b| {
            b.no_gateway().ipv6("2001:db8:1::/64")
        })
        .router("router", |n| n.on("internet"))
        .node("pc", |n| n.on("lan"))
        .node("server", |n| n.on("internet"))
}

/// The kernel drops every route through a link that goes down (and its IPv6 addresses):
/// `up()` puts back those the topology gave, so the default routes work again.
#[netns_test(topology = dual_stack_lan_and_server())]
async fn the_link_handle_restores_the_default_routes_when_the_link_comes_back(
    net: Net,
) -> anyhow::Result<()> {
    let (pc, server) = (net.node("pc"), net.node("server"));
    let server6 = IpAddr::V6(server.ip6().expect("server has an IPv6 address"));
    pc.assert_reaches(server.ip(), Probe::Icmp).await;
    pc.assert_reaches(server6, Probe::Icmp).await;
    let defaults = |routes: &[netns_test::RouteEntry]| {
        routes.iter().filter(|r| r.dest.prefix_len() == 0).count()
    };
    assert_eq!(defaults(&pc.route().list().await?), 2);

    let eth0 = pc.link("eth0");
    eth0.down().await?;
    let routes = pc.route().list().await?;
    ensure!(
        defaults(&routes) == 0,
        "the kernel kept a default route: {routes:?}"
    );
    eth0.up().await?;
    let routes = pc.route().list().await?;
    ensure!(defaults(&routes) == 2, "after up: {routes:?}");
    pc.assert_reaches(server.ip(), Probe::Icmp).await;
    pc.assert_reaches(server6, Probe::Icmp).await;
    // Up again while up: nothing to restore, and not an error.
    eth0.up().await?;
    pc.assert_reaches(server.ip(), Probe::Icmp).await;
    Ok(())
}

#[netns_test(topology = presets::bridge_pair())]
async fn the_addr_handle_adds_and_removes_an_address(net: Net) -> anyhow::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    let extra: IpAddr = "10.0.0.200".parse()?;
    let listed = || sh(&b, "ip", &["-o", "addr", "show", "dev", "eth0"]);
    let before = listed()?;
    ensure!(before.contains(&format!("{}/24", b.ip())), "{before}");
    ensure!(!before.contains("10.0.0.200/24"), "{before}");
    a.assert_reaches(&b, Probe::Icmp).await;
    a.assert_cannot_reach(extra, Probe::Icmp).await;

    b.addr("eth0").add("10.0.0.200/24").await?;
    let added = listed()?;
    ensure!(added.contains("10.0.0.200/24"), "ip addr add: {added}");
    // a's ARP entry for the address may still be resolving from the negative check above
    // (three probes a second apart, longer than a raised isolation wait): one sent before
    // the address existed fails the first echo request with EHOSTUNREACH, as it would on
    // a real LAN. The next resolution finds the address.
    a.reach(extra, Probe::Icmp)
        .wait_until_reaches(Duration::from_secs(10))
        .await?;

    b.addr("eth0").del("10.0.0.200/24").await?;
    let left = listed()?;
    ensure!(!left.contains("10.0.0.200/24"), "ip addr del: {left}");
    ensure!(left.contains(&format!("{}/24", b.ip())), "{left}");
    a.assert_reaches(&b, Probe::Icmp).await;
    a.assert_cannot_reach(extra, Probe::Icmp).await;
    Ok(())
}

#[netns_test(topology = presets::bridge_pair())]
async fn the_route_handle_adds_lists_and_deletes_routes(net: Net) -> anyhow::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    let eth0 = a.iface("eth0").index;
    let routes = a.route();
    let has = |list: &[netns_test::RouteEntry], dest: &str, via: Option<IpAddr>| {
        list.iter()
            .any(|r| r.dest.to_string() == dest && r.via == via && r.dev == Some(eth0))
    };

    let before = routes.list().await?;
    ensure!(
        has(&before, "10.0.0.0/24", None),
        "the subnet's route: {before:?}"
    );
    ensure!(!has(&before, "192.0.2.0/24", Some(b.ip())), "{before:?}");

    routes.add("192.0.2.0/24", b.ip()).await?;
    routes.add_dev("198.51.100.7", "eth0").await?;
    let added = routes.list().await?;
    ensure!(has(&added, "192.0.2.0/24", Some(b.ip())), "{added:?}");
    ensure!(has(&added, "198.51.100.7/32", None), "{added:?}");
    let shown = sh(&a, "ip", &["route"])?;
    ensure!(
        shown.contains(&format!("192.0.2.0/24 via {} dev eth0", b.ip())),
        "ip route add .. via: {shown}"
    );
    ensure!(
        shown.contains("198.51.100.7 dev eth0 scope link"),
        "ip route add .. dev: {shown}"
    );

    routes.del("192.0.2.0/24").await?;
    routes.del("198.51.100.7/32").await?;
    let left = routes.list().await?;
    ensure!(!has(&left, "192.0.2.0/24", Some(b.ip())), "{left:?}");
    ensure!(!has(&left, "198.51.100.7/32", None), "{left:?}");
    ensure!(
        has(&left, "10.0.0.0/24", None),
        "the subnet's route stays: {left:?}"
    );
    Ok(())
}

/// A table of its own with one rule, so that each part of the test sees only its own.
fn table(name: &str, port: u16) -> Ruleset {
    Ruleset::named(name).filter(
        Hook::Input,
        Rule::new().proto(Proto::Tcp).dport(port).accept(),
    )
}

/// `node.nft()` opens its sockets in the node whichever thread drives its requests: the
/// body's (which stands in the host, through `net.block_on`), one standing in another
/// node, or a task of another node's runtime; and that thread stays where it was.
#[netns_test(topology = Topology::new().node("a", |n| n).node("b", |n| n))]
fn the_nft_handle_acts_on_its_node_from_any_thread(net: Net) -> anyhow::Result<()> {
    let (host, a, b) = (net.host(), net.node("a"), net.node("b"));

    // From the body, which runs in the host: the rules land in a, not in the host.
    net.block_on(a.nft().apply(&table("from_body", 7)))?;
    let in_a = net.block_on(a.nft().list())?;
    ensure!(in_a.contains("table inet from_body"), "{in_a}");
    ensure!(in_a.contains("tcp dport 7 counter accept"), "{in_a}");
    let by_nft = sh(&a, "nft", &["list", "ruleset"])?;
    ensure!(
        by_nft.contains("table inet from_body"),
        "nft list ruleset in a: {by_nft}"
    );
    let in_host = net.block_on(host.nft().list())?;
    ensure!(!in_host.contains("from_body"), "{in_host}");
    // The free function reads the calling thread's namespace: the body's, the host.
    let here = nft::list()?;
    ensure!(!here.contains("from_body"), "{here}");
    // Positive control: the same call on the host's handle does land in the host.
    net.block_on(host.nft().apply(&table("in_host", 8)))?;
    ensure!(net
        .block_on(host.nft().list())?
        .contains("table inet in_host"));
    ensure!(nft::list()?.contains("table inet in_host"));
    ensure!(!net.block_on(a.nft().list())?.contains("in_host"));

    // From a thread standing in b: into a, and the thread is still in b afterwards.
    let (before, after, in_b) = b.run_blocking(|| -> anyhow::Result<_> {
        let before = std::fs::read_link("/proc/thread-self/ns/net")?;
        net.block_on(a.nft().apply(&table("from_b", 9)))?;
        let after = std::fs::read_link("/proc/thread-self/ns/net")?;
        Ok((before, after, nft::list()?))
    })?;
    ensure!(
        before == after,
        "the thread moved from {before:?} to {after:?}"
    );
    ensure!(!in_b.contains("from_b"), "{in_b}");
    // From a task on b's runtime, awaited there: into a as well.
    let to_a = a.clone();
    net.block_on(b.run(async move { to_a.nft().apply(&table("from_b_task", 10)).await }))?;
    ensure!(net
        .block_on(a.nft().list())?
        .contains("table inet from_b_task"));
    ensure!(!net.block_on(b.nft().list())?.contains("from_b_task"));
    ensure!(!net.block_on(b.nft().list())?.contains("from_b"));
    ensure!(net.block_on(a.nft().list())?.contains("table inet from_b"));

    // flush: the crate's own table goes, the named ones stay.
    net.block_on(a.nft().apply(
        &Ruleset::new().filter(Hook::Input, Rule::new().proto(Proto::Udp).dport(9).accept()),
    ))?;
    ensure!(net
        .block_on(a.nft().list())?
        .contains("table inet netns_test {"));
    net.block_on(a.nft().flush())?;
    let flushed = net.block_on(a.nft().list())?;
    ensure!(!flushed.contains("table inet netns_test {"), "{flushed}");
    ensure!(flushed.contains("table inet from_body"), "{flushed}");

    // delete_table: that one table goes, the others stay.
    net.block_on(a.nft().delete_table("from_body"))?;
    let deleted = net.block_on(a.nft().list())?;
    ensure!(!deleted.contains("from_body"), "{deleted}");
    ensure!(deleted.contains("table inet from_b"), "{deleted}");
    ensure!(net
        .block_on(host.nft().list())?
        .contains("table inet in_host"));
    Ok(())
}

#[netns_test(topology = presets::bridge_pair())]
async fn the_nft_handle_lists_and_flushes_conntrack(net: Net) -> anyhow::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    // A `ct state` rule makes b track its connections.
    b.nft()
        .apply(
            &Ruleset::named("tracking").filter(Hook::Input, Rule::new().ct_established().accept()),
        )
        .await?;
    let from_a = |entries: &[nft::conntrack::Entry]| {
        entries
            .iter()
            .any(|e| e.proto == Proto::Icmp && e.orig.src == a.ip() && e.orig.dst == b.ip())
    };
    a.assert_reaches(&b, Probe::Icmp).await;
    let tracked = b.nft().conntrack().await?;
    ensure!(from_a(&tracked), "conntrack -L in b: {tracked:#?}");

    b.nft().flush_conntrack().await?;
    let left = b.nft().conntrack().await?;
    ensure!(!from_a(&left), "conntrack -F in b: {left:#?}");
    Ok(())
}

fn impairable_pair() -> Topology {
    Topology::new()
        .node("a", |n| n)
        .node("b", |n| n)
        .link_with("a", "b", "10.0.0.0/30", |l| l.impairable())
}

#[netns_test(topology = impairable_pair())]
async fn the_conditions_handle_sets_clears_limits_and_counts(net: Net) -> anyhow::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    let eth0 = a.conditions("eth0");
    let before = eth0.stats().await?;
    a.assert_reaches(&b, Probe::Icmp).await;
    let after = eth0.stats().await?;
    ensure!(
        after.forwarded > before.forwarded,
        "{before:?} -> {after:?}"
    );

    // set: every frame a sends is lost in the relay.
    let lossy = Conditions::new().loss(1.0).via(Emulator::Relay);
    ensure!(eth0.set(lossy).await? == Applied::Relay);
    a.assert_cannot_reach(&b, Probe::Icmp).await;
    let lost = eth0.stats().await?;
    ensure!(lost.lost > after.lost, "{after:?} -> {lost:?}");

    // clear: back as built.
    eth0.clear().await?;
    a.assert_reaches(&b, Probe::Icmp).await;

    // rate: a tbf qdisc, which tc shows until it is cleared.
    eth0.rate(1_000_000).await?;
    let shown = sh(&a, "tc", &["qdisc", "show", "dev", "eth0"])?;
    ensure!(
        shown.contains("qdisc tbf") && shown.contains("rate 1Mbit"),
        "tc qdisc replace dev eth0 root tbf: {shown}"
    );
    a.assert_reaches(&b, Probe::Icmp).await;
    eth0.clear().await?;
    let shown = sh(&a, "tc", &["qdisc", "show", "dev", "eth0"])?;
    ensure!(
        !shown.contains("tbf"),
        "tc qdisc del dev eth0 root: {shown}"
    );
    Ok(())
}
