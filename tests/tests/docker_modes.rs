//! Docker's network modes as one-line declarations: `--net host`, `--net container:X`,
//! `--net none`, a container on several networks, and user-defined networks whose members
//! resolve each other by name while others cannot.

use netns_test::topology::HOST;
use netns_test::{netns_test, Net, Node, Topology};

fn run(node: &Node, cmd: &str, args: &[&str]) -> (bool, String) {
    let out = node
        .command(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
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
    let listener = web.exec(|| std::net::TcpListener::bind("127.0.0.1:8080").expect("bind"));
    let sidecar = net.node("sidecar");
    sidecar.exec(|| std::net::TcpStream::connect("127.0.0.1:8080").expect("same loopback"));
    drop(listener);
    assert_eq!(sidecar.ip(), web.ip());
    let (_, links) = run(&sidecar, "ip", &["-o", "link"]);
    assert!(links.contains("eth0@"), "{links}");
}

#[netns_test(topology = docker_like())]
fn net_host_sees_the_hosts_interfaces(net: Net) {
    let (_, links) = run(&net.node("hostnet"), "ip", &["-o", "link"]);
    assert!(links.contains("docker0"), "{links}");
    // A server bound in hostnet is a server on the host's gateway address.
    let listener = net
        .node("hostnet")
        .exec(|| std::net::TcpListener::bind("172.17.0.1:9000").expect("bind"));
    net.node("web")
        .exec(|| std::net::TcpStream::connect("172.17.0.1:9000").expect("reach the host"));
    drop(listener);
}

#[netns_test(topology = docker_like())]
fn net_none_has_only_loopback(net: Net) {
    let (_, links) = run(&net.node("none"), "ip", &["-o", "link"]);
    assert_eq!(links.lines().count(), 1, "{links}");
}

#[netns_test(topology = docker_like())]
fn a_container_on_two_networks_reaches_both(net: Net) {
    let both = net.node("both");
    assert_eq!(both.ifaces().len(), 2);
    for target in ["web", "api"] {
        let (ok, _) = run(&both, "ping", &["-c", "1", "-W", "1", target]);
        assert!(ok, "both -> {target}");
    }
    // Default route through the first network, like Docker.
    let (_, routes) = run(&both, "ip", &["route"]);
    assert!(
        routes.contains("default via 172.17.0.1 dev eth0"),
        "{routes}"
    );
}

#[netns_test(topology = docker_like())]
fn user_defined_network_names_stay_inside_the_network(net: Net) {
    // Members of appnet resolve each other, to their appnet address.
    let (ok, out) = run(&net.node("api"), "getent", &["hosts", "db"]);
    assert!(ok && out.starts_with("172.20.0.3"), "{out}");
    // A container on docker0 only does not know them.
    let (ok, out) = run(&net.node("web"), "getent", &["hosts", "db"]);
    assert!(!ok, "web resolved db: {out}");
    // One on both networks does, and sees web's docker0 address too.
    let (ok, out) = run(&net.node("both"), "getent", &["hosts", "db"]);
    assert!(ok, "{out}");
    // Everyone knows the nodes of ordinary networks; names outside the sandbox fail at once.
    let (ok, _) = run(&net.node("api"), "getent", &["hosts", "web"]);
    assert!(ok);
    let (ok, _) = run(
        &net.node("api"),
        "getent",
        &["hosts", "no-such-host.example"],
    );
    assert!(!ok);
    // Rust's resolver in a node asks the same service.
    let web = net.node("web");
    let err =
        web.exec(|| std::net::ToSocketAddrs::to_socket_addrs(&("db", 5432)).map(|a| a.count()));
    assert!(err.is_err(), "web resolved db from Rust: {err:?}");
}
