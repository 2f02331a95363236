//! Docker's network modes as one-line declarations: `--net host`, `--net container:X`,
//! `--net none`, a container on several networks, and user-defined networks whose members
//! resolve each other by name while others cannot.

use netns_test::topology::HOST;
use netns_test::{netns_test, Net, Node, Topology};

mod common;

use common::sh;

/// Runs `cmd` in `node`: its exit code and standard output. A program that cannot start
/// panics: it would tell nothing about the node.
fn run(node: &Node, cmd: &str, args: &[&str]) -> (i32, String) {
    let out = node
        .command(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} in {}: {e}", node.name()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `getent hosts NAME` in `node`: the first address it resolves to, or `None` when the
/// name is unknown (getent's exit 2, "key not found"; any other failure panics).
fn getent(node: &Node, name: &str) -> Option<String> {
    let (code, out) = run(node, "getent", &["hosts", name]);
    match code {
        0 => Some(
            out.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
        ),
        2 => {
            assert_eq!(out, "", "getent hosts {name} in {}", node.name());
            None
        }
        _ => panic!("getent hosts {name} in {}: exit {code}: {out}", node.name()),
    }
}

fn docker_like() -> Topology {
    Topology::new()
        .bridge("docker0", "172.17.0.0/16")
        .bridge_with("appnet", "172.20.0.0/16", |b| b.scoped_names())
        .node("web", |n| n.on("docker0"))
        .node("sidecar", |n| n.net_of("web"))
        .node("hostnet", |n| n.net_of(HOST))
        .node("api", |n| n.on("appnet"))
        .node("db", |n| n.on("appnet"))
        .node("both", |n| n.on("docker0").on("appnet"))
        .node("none", |n| n)
}

#[netns_test(topology = docker_like())]
fn net_container_shares_the_containers_network_namespace(net: Net) {
    // A server on web's loopback is reachable from the sidecar's loopback: one netns.
    let web = net.node("web");
    let listener =
        web.run_blocking(|| std::net::TcpListener::bind("127.0.0.1:8080").expect("bind"));
    let sidecar = net.node("sidecar");
    sidecar.run_blocking(|| std::net::TcpStream::connect("127.0.0.1:8080").expect("same loopback"));
    drop(listener);
    assert_eq!(sidecar.ip(), web.ip());
    let links = sh(&sidecar, "ip", &["-o", "link"]);
    assert!(links.contains("eth0@"), "{links}");
}

#[netns_test(topology = docker_like())]
fn net_host_sees_the_hosts_interfaces(net: Net) {
    let links = sh(&net.node("hostnet"), "ip", &["-o", "link"]);
    assert!(links.contains("docker0"), "{links}");
    // A server bound in hostnet is a server on the host's gateway address.
    let listener = net
        .node("hostnet")
        .run_blocking(|| std::net::TcpListener::bind("172.17.0.1:9000").expect("bind"));
    net.node("web")
        .run_blocking(|| std::net::TcpStream::connect("172.17.0.1:9000").expect("reach the host"));
    drop(listener);
}

#[netns_test(topology = docker_like())]
fn net_none_has_only_loopback(net: Net) {
    let links = sh(&net.node("none"), "ip", &["-o", "link"]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.starts_with("1: lo: "), "{links}");
}

#[netns_test(topology = docker_like())]
fn a_container_on_two_networks_reaches_both(net: Net) {
    let both = net.node("both");
    assert_eq!(both.ifaces().len(), 2);
    for target in ["web", "api"] {
        sh(&both, "ping", &["-c", "1", "-W", "1", target]);
    }
    // Default route through the first network, like Docker.
    let routes = sh(&both, "ip", &["route"]);
    assert!(
        routes.contains("default via 172.17.0.1 dev eth0"),
        "{routes}"
    );
}

#[netns_test(topology = docker_like())]
fn user_defined_network_names_stay_inside_the_network(net: Net) {
    let (api, web, both) = (net.node("api"), net.node("web"), net.node("both"));
    // Members of appnet resolve each other, to their appnet address.
    assert_eq!(getent(&api, "db").as_deref(), Some("172.20.0.3"));
    // A container on docker0 only does not know them: the very name api resolves. Its
    // resolver works: it resolves, and reaches, a member of its own network.
    let both_docker0 = both.ip().to_string();
    assert!(both_docker0.starts_with("172.17."), "{both_docker0}");
    assert_eq!(getent(&web, "both"), Some(both_docker0.clone()));
    sh(&web, "ping", &["-c", "1", "-W", "1", "both"]);
    assert_eq!(getent(&web, "db"), None, "web resolved db");
    // One on both networks does, and sees web's docker0 address too.
    assert_eq!(getent(&both, "db").as_deref(), Some("172.20.0.3"));
    assert_eq!(getent(&both, "web").as_deref(), Some("172.17.0.2"));
    // Everyone knows the nodes of ordinary networks; names outside the sandbox fail.
    assert_eq!(getent(&api, "web").as_deref(), Some("172.17.0.2"));
    assert_eq!(getent(&api, "no-such-host.example"), None);
    // Rust's resolver in a node asks the same service: api resolves db, web resolves both
    // but not db.
    let lookup = |node: &Node, name: &'static str| {
        node.run_blocking(move || {
            std::net::ToSocketAddrs::to_socket_addrs(&(name, 5432))
                .map(|a| a.map(|a| a.ip().to_string()).collect::<Vec<_>>())
        })
    };
    assert_eq!(lookup(&api, "db").expect("api resolves db"), ["172.20.0.3"]);
    assert_eq!(
        lookup(&web, "both").expect("web resolves both"),
        [both_docker0]
    );
    let err = lookup(&web, "db").expect_err("web resolved db from Rust");
    assert!(
        err.to_string()
            .contains("failed to lookup address information"),
        "{err}"
    );
}
