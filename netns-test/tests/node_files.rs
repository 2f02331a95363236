//! Rust code in a node sees that node's files, as its programs do: `/sys/class/net`,
//! `/proc/net` and the node's own `/etc/resolv.conf`, from `node.run`, `node.spawn`,
//! `node.run_blocking` and `node.spawn_thread` alike: a resolver in a node (hickory,
//! `to_socket_addrs`) asks the DNS server under test that the node is given.

use std::collections::BTreeSet;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

/// A DNS server under test in `dns` (10.1.0.2), and a `client` whose resolv.conf names it.
fn server_under_test() -> Topology {
    Topology::new()
        .bridge("lan", "10.1.0.0/24")
        .node("dns", |n| n.on("lan"))
        .node("client", |n| {
            n.on("lan")
                .resolv_conf("nameserver 10.1.0.2\noptions timeout:1 attempts:2\n")
        })
}

/// The address the server under test gives every name.
const PROBE_ADDR: [u8; 4] = [10, 9, 9, 9];

/// A tiny DNS server: answers an A query for any name with [`PROBE_ADDR`], any other query
/// with no records; counts the queries; stops when `stop` is set (or after 60 s).
fn serve_dns(
    sock: std::net::UdpSocket,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(60);
        let mut buf = [0u8; 512];
        while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < until {
            let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                continue;
            };
            queries.fetch_add(1, Ordering::Relaxed);
            // The question: labels from byte 12, then type and class.
            let mut end = 12;
            while end < n && buf[end] != 0 {
                end += 1 + buf[end] as usize;
            }
            let end = end + 5;
            if end > n {
                continue;
            }
            let is_a = buf[end - 4..end - 2] == [0, 1];
            let mut reply = buf[..2].to_vec();
            reply.extend_from_slice(&[0x85, 0x80, 0, 1, 0, is_a as u8, 0, 0, 0, 0]);
            reply.extend_from_slice(&buf[12..end]);
            if is_a {
                reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
                reply.extend_from_slice(&PROBE_ADDR);
            }
            let _ = sock.send_to(&reply, peer);
        }
    })
}

#[netns_test(topology = server_under_test(), timeout = "60s")]
async fn hickory_and_to_socket_addrs_in_a_node_ask_its_dns_server_under_test(net: Net) {
    let (dns, client) = (net.node("dns"), net.node("client"));
    let sock = dns
        .run_blocking(|| std::net::UdpSocket::bind("10.1.0.2:53"))
        .unwrap();
    let queries = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve_dns(sock, queries.clone(), stop.clone());
    let probe = std::net::IpAddr::from(PROBE_ADDR);

    // Control: the sandbox's name service, which the body asks, knows no such name.
    assert!(("probe.test", 0).to_socket_addrs().is_err());
    assert_eq!(queries.load(Ordering::Relaxed), 0);

    let found = client
        .run(async {
            let resolver = hickory_resolver::Resolver::builder_tokio()
                .expect("reading the node's /etc/resolv.conf")
                .build();
            let ips = resolver.lookup_ip("probe.test.").await;
            ips.map(|l| l.iter().collect::<Vec<_>>())
                .map_err(|e| e.to_string())
        })
        .await;
    assert_eq!(found, Ok(vec![probe]), "hickory in the client");
    let after_hickory = queries.load(Ordering::Relaxed);
    assert!(after_hickory > 0, "the server under test got no query");

    let std_found = client
        .run_blocking(|| {
            ("probe.test", 0)
                .to_socket_addrs()
                .map(|a| a.map(|s| s.ip()).collect::<Vec<_>>())
        })
        .unwrap();
    assert_eq!(std_found, [probe], "to_socket_addrs in the client");
    assert!(queries.load(Ordering::Relaxed) > after_hickory);
    // And getent, a program in the same node, agrees.
    let getent = client.output("getent", ["ahostsv4", "probe.test"]).unwrap();
    assert!(getent.starts_with("10.9.9.9"), "{getent}");

    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}
