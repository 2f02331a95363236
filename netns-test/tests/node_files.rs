//! Rust code in a node sees that node's files, as its programs do: `/sys/class/net`,
//! `/proc/net` and the node's own `/etc/resolv.conf`, from `node.run`, `node.spawn`,
//! `node.run_blocking` and `node.spawn_thread` alike.

use std::collections::BTreeSet;

use netns_test::{netns_test, Net, Node, Topology};

/// `a` on one network, `b` on two with a resolv.conf of its own: different interfaces and
/// different files.
fn two_networks() -> Topology {
    Topology::new()
        .bridge("front", "10.1.0.0/24")
        .bridge("back", "10.2.0.0/24")
        .node("a", |n| n.on("front"))
        .node("b", |n| {
            n.on("front")
                .on("back")
                .resolv_conf("nameserver 10.2.0.1\noptions timeout:1\n")
        })
}

/// The names in `/sys/class/net`, read by the calling thread.
fn sysfs_links() -> BTreeSet<String> {
    std::fs::read_dir("/sys/class/net")
        .expect("reading /sys/class/net")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .collect()
}

/// The interfaces of `/proc/net/dev`, read by the calling thread.
fn proc_net_links() -> BTreeSet<String> {
    let text = std::fs::read_to_string("/proc/net/dev").expect("reading /proc/net/dev");
    text.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().to_string())
        .collect()
}

/// `lo` and the interfaces the plan gives the node.
fn planned_links(node: &Node) -> BTreeSet<String> {
    std::iter::once("lo".to_string())
        .chain(node.ifaces().iter().map(|i| i.name.clone()))
        .collect()
}

#[netns_test(topology = two_networks())]
async fn node_threads_read_the_nodes_sys_and_proc_net(net: Net) {
    // Control: the body, in the sandbox's mount namespace, sees the host's interfaces.
    let host =
        BTreeSet::from(["lo", "front", "back", "a-eth0", "b-eth0", "b-eth1"].map(String::from));
    assert_eq!(proc_net_links(), host, "the body's /proc/net/dev");
    for name in ["a", "b"] {
        let node = net.node(name);
        let want = planned_links(&node);
        let mac = node.iface("eth0").mac;
        let mac = mac.map(|b| format!("{b:02x}")).join(":");
        let (sys, proc, address) = node
            .run(async {
                let address = std::fs::read_to_string("/sys/class/net/eth0/address").unwrap();
                (sysfs_links(), proc_net_links(), address)
            })
            .await;
        assert_eq!(sys, want, "node {name}: /sys/class/net from node.run");
        assert_eq!(proc, want, "node {name}: /proc/net/dev from node.run");
        assert_eq!(address.trim(), mac, "node {name}: its eth0's MAC");
        let spawned = node.spawn(async { proc_net_links() }).await.unwrap();
        assert_eq!(spawned, want, "node {name}: from node.spawn");
        let blocking = node.run_blocking(|| (sysfs_links(), proc_net_links()));
        assert_eq!(
            blocking,
            (want.clone(), want.clone()),
            "node {name}: from run_blocking"
        );
        let thread = node.spawn_thread(|| (sysfs_links(), proc_net_links()));
        let thread = thread.join().unwrap();
        assert_eq!(
            thread,
            (want.clone(), want),
            "node {name}: from spawn_thread"
        );
    }
    // A link made at run time shows at once: the files are the node's, not a copy.
    let b = net.node("b");
    b.output("ip", ["link", "add", "extra0", "type", "bridge"])
        .unwrap();
    let (sys, proc) = b.run_blocking(|| (sysfs_links(), proc_net_links()));
    assert!(
        sys.contains("extra0") && proc.contains("extra0"),
        "{sys:?} {proc:?}"
    );
    let (sys, proc) = net
        .node("a")
        .run_blocking(|| (sysfs_links(), proc_net_links()));
    assert!(
        !sys.contains("extra0") && !proc.contains("extra0"),
        "{sys:?} {proc:?}"
    );
}

#[netns_test(topology = two_networks())]
async fn node_threads_read_the_nodes_resolv_conf(net: Net) {
    let read = || std::fs::read_to_string("/etc/resolv.conf").unwrap();
    let sandbox = read();
    assert!(sandbox.contains("nameserver 127.0.0.11"), "{sandbox}");
    let b = net.node("b");
    let own = "nameserver 10.2.0.1\noptions timeout:1\n";
    assert_eq!(b.run(async move { read() }).await, own, "node.run");
    assert_eq!(b.run_blocking(read), own, "run_blocking");
    assert_eq!(
        b.output("cat", ["/etc/resolv.conf"]).unwrap(),
        own,
        "a program"
    );
    // A node without one reads the sandbox's.
    assert_eq!(net.node("a").run_blocking(read), sandbox);
}

#[netns_test(topology = two_networks())]
async fn node_threads_keep_the_working_directory(net: Net) {
    let here = std::env::current_dir().unwrap();
    let there = net
        .node("a")
        .run(async { std::env::current_dir().unwrap() })
        .await;
    assert_eq!(there, here);
    assert_eq!(
        net.node("b")
            .run_blocking(|| std::env::current_dir().unwrap()),
        here
    );
}
