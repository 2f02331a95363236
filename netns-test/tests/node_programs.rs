//! Programs in a node see that node, as under `ip netns exec`: its sysfs, its tools found
//! under an ordinary user's login `PATH`, and lookups that fail at the test's own line.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use netns_test::{netns_test, Net, Node, Topology};

/// `a` on one network, `b` on two: different sets of interfaces.
fn two_networks() -> Topology {
    Topology::new()
        .bridge("front", "10.1.0.0/24")
        .bridge("back", "10.2.0.0/24")
        .node("a", |n| n.on("front"))
        .node("b", |n| n.on("front").on("back"))
}

/// An ordinary user's login PATH: no sbin directory.
const LOGIN_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn mac(bytes: [u8; 6]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What `ls /sys/class/net` prints in the node.
fn sysfs_links(node: &Node) -> BTreeSet<String> {
    node.output("ls", ["/sys/class/net"])
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// `lo` and the interfaces the plan gives the node.
fn planned_links(node: &Node) -> BTreeSet<String> {
    std::iter::once("lo".to_string())
        .chain(node.ifaces().iter().map(|i| i.name.clone()))
        .collect()
}

#[netns_test(topology = two_networks())]
fn a_nodes_sysfs_shows_its_own_interfaces(net: Net) {
    for node in net.nodes().iter().filter(|n| !n.is_host()) {
        assert_eq!(
            sysfs_links(node),
            planned_links(node),
            "node {}",
            node.name()
        );
        for iface in node.ifaces() {
            let path = format!("/sys/class/net/{}/address", iface.name);
            let shown = node.output("cat", [&path]).unwrap();
            assert_eq!(shown.trim(), mac(iface.mac), "node {}: {path}", node.name());
        }
    }
    // The host holds the bridges and the host ends of the veths.
    let host: BTreeSet<String> = ["lo", "front", "back", "a-eth0", "b-eth0", "b-eth1"]
        .map(String::from)
        .into();
    assert_eq!(sysfs_links(&net.host()), host);
    // Two nodes, two different sets: b has a second interface that a has not.
    let (a, b) = (sysfs_links(&net.node("a")), sysfs_links(&net.node("b")));
    assert_eq!(a, BTreeSet::from(["lo".into(), "eth0".into()]));
    assert_eq!(
        b,
        BTreeSet::from(["lo".into(), "eth0".into(), "eth1".into()])
    );
    // The sysfs is the node's, not a copy: a link made at run time shows in it.
    let b = net.node("b");
    b.output("ip", ["link", "add", "extra0", "type", "bridge"])
        .unwrap();
    assert!(sysfs_links(&b).contains("extra0"));
    assert!(!sysfs_links(&net.node("a")).contains("extra0"));
}

#[netns_test(topology = two_networks())]
async fn tokio_commands_see_the_nodes_sysfs_too(net: Net) -> anyhow::Result<()> {
    let b = net.node("b");
    let out = b
        .tokio_command("cat")
        .arg("/sys/class/net/eth1/address")
        .output()
        .await?;
    assert!(out.status.success(), "{out:?}");
    let eth1 = b.iface("eth1");
    assert_eq!(String::from_utf8(out.stdout)?.trim(), mac(eth1.mac));
    Ok(())
}

#[netns_test(topology = two_networks())]
fn programs_keep_their_working_directory(net: Net) {
    let a = net.node("a");
    // The test's own directory by default, as for any child process.
    let here = std::env::current_dir().unwrap();
    let pwd = a.output("pwd", ["-P"]).unwrap();
    assert_eq!(pwd.trim(), here.canonicalize().unwrap().to_str().unwrap());
    // And the one the Command is given.
    let out = a.command("pwd").current_dir("/usr").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "/usr");
    // A relative path resolves there too.
    let out = a
        .command("cat")
        .arg("class/net/eth0/address")
        .current_dir("/sys")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        mac(a.iface("eth0").mac)
    );
}

#[netns_test(topology = two_networks())]
fn mounts_made_in_the_sandbox_show_in_the_nodes(net: Net) {
    let a = net.node("a");
    // a's programs already run in its mount namespace before the mount is made.
    a.output("true", [] as [&str; 0]).unwrap();
    let dir = std::env::temp_dir().join(format!("netns-test-mounted-later-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success(), "mount: {status}");
    std::fs::write(dir.join("file"), "seen").unwrap();
    let file = dir.join("file");
    assert_eq!(a.output("cat", [&file]).unwrap(), "seen");
    // Control: the file is on the new tmpfs, not on the directory underneath.
    assert!(std::process::Command::new("umount")
        .arg(&dir)
        .status()
        .unwrap()
        .success());
    assert!(!file.exists());
    assert!(a.output("cat", [&file]).is_err());
    // Nothing left in the temporary folder (the leak check of .ci/run looks).
    std::fs::remove_dir(&dir).unwrap();
}

#[netns_test(topology = two_networks())]
fn administration_tools_are_found_under_a_login_path(net: Net) {
    // The sandbox is one process per test: its environment is this test's alone.
    std::env::set_var("PATH", LOGIN_PATH);
    let a = net.node("a");
    let links = a.output("ip", ["-o", "link"]).unwrap();
    assert!(links.contains(": eth0@"), "{links}");
    assert_eq!(
        a.output("sysctl", ["-n", "net.ipv4.conf.eth0.forwarding"])
            .unwrap()
            .trim(),
        "0"
    );
    // The same through command() and tokio_command().
    let out = a.command("sysctl").arg("-n").arg("kernel.ostype").output();
    assert_eq!(
        String::from_utf8_lossy(&out.unwrap().stdout).trim(),
        "Linux"
    );
    let out = net.block_on(async { a.tokio_command("tc").args(["qdisc", "show"]).output().await });
    assert!(out.unwrap().status.success());
    // The program gets the name it was asked by as argv[0], not the path found.
    assert_eq!(a.output("sh", ["-c", "echo $0"]).unwrap().trim(), "sh");
}

#[netns_test(topology = two_networks())]
fn a_missing_program_is_named_with_its_node_and_package(net: Net) {
    std::env::set_var("PATH", LOGIN_PATH);
    let b = net.node("b");
    let err = b
        .output("netns-test-no-such-program", ["--flag"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("node \"b\""), "{err}");
    assert!(err.contains("`netns-test-no-such-program --flag`"), "{err}");
    assert!(err.contains("/usr/sbin"), "{err}");
    // command() fails to spawn with NotFound, as std does.
    let e = b.command("netns-test-no-such-program").spawn().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    // Programs from the table that this machine lacks: each names its package.
    let known = [
        ("iptables", "iptables"),
        ("brctl", "bridge-utils"),
        ("nc", "netcat-openbsd"),
        ("dig", "dnsutils"),
        ("socat", "socat"),
        ("iperf3", "iperf3"),
        ("conntrack", "conntrack"),
        ("tcpdump", "tcpdump"),
        ("curl", "curl"),
    ];
    for (program, package) in known {
        match b.output(program, ["--version"]) {
            Err(e) if e.to_string().contains("there is no program") => {
                let e = e.to_string();
                assert!(e.contains(&format!("apt-get install {package}")), "{e}");
                assert!(e.contains("node \"b\""), "{e}");
            }
            // Installed here: it ran (whatever its answer to --version).
            _ => {}
        }
    }
}

/// Runs `f`, which must panic, and returns the panic's message and location.
fn panic_of(f: impl FnOnce()) -> (String, String) {
    let seen = Arc::new(Mutex::new(String::new()));
    let previous = std::panic::take_hook();
    let hook_seen = seen.clone();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(l) = info.location() {
            *hook_seen.lock().unwrap() = format!("{}:{}", l.file(), l.line());
        }
    }));
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it panics");
    std::panic::set_hook(previous);
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let location = seen.lock().unwrap().clone();
    (message, location)
}

#[netns_test(topology = two_networks())]
fn an_unknown_node_panics_at_the_callers_line(net: Net) {
    let line = line!() + 1;
    let (message, location) = panic_of(|| drop(net.node("typo")));
    assert_eq!(location, format!("{}:{line}", file!()));
    assert!(message.contains("\"typo\""), "{message}");
    assert!(message.contains("host, a, b"), "{message}");
    // Control: a known name does not panic.
    assert_eq!(net.node("a").name(), "a");
}

fn no_ipv4() -> Topology {
    Topology::new().node("lonely", |n| n)
}

#[netns_test(topology = no_ipv4())]
fn a_node_without_ipv4_panics_at_the_callers_line(net: Net) {
    let lonely = net.node("lonely");
    let (message, location) = panic_of(|| {
        let _ = lonely.ip();
    });
    let line = line!() - 2;
    assert_eq!(location, format!("{}:{line}", file!()));
    assert!(message.contains("\"lonely\""), "{message}");
}

#[netns_test(topology = two_networks())]
fn unknown_interfaces_and_networks_panic_at_the_callers_line(net: Net) {
    let a = net.node("a");
    let (message, location) = panic_of(|| {
        let _ = a.iface("eth7");
    });
    let line = line!() - 2;
    assert_eq!(location, format!("{}:{line}", file!()));
    assert_eq!(
        message,
        "node \"a\" has no interface \"eth7\"; it has: lo, eth0"
    );
    let (message, location) = panic_of(|| {
        let _ = a.ip_on("back");
    });
    let line = line!() - 2;
    assert_eq!(location, format!("{}:{line}", file!()));
    assert_eq!(message, "node \"a\" has no IPv4 address on \"back\"");

    // The `try_` forms return the same errors, typed.
    let e = a.try_iface("eth7").unwrap_err();
    assert!(
        matches!(&e, netns_test::Error::UnknownInterface { known, .. } if known == &["eth0"]),
        "{e:?}"
    );
    let e = a.try_ip_on("back").unwrap_err();
    assert!(
        matches!(&e, netns_test::Error::NoAddress { network: Some(n), .. } if n == "back"),
        "{e:?}"
    );
    // Control: what exists is found by both forms.
    assert_eq!(a.iface("eth0"), a.try_iface("eth0").unwrap());
    assert_eq!(net.node("b").ip_on("back").to_string(), "10.2.0.2");
    assert_eq!(a.try_ip().unwrap(), a.ip());
}

#[netns_test(topology = no_ipv4())]
fn try_ip_names_the_node_without_ipv4(net: Net) {
    let e = net.node("lonely").try_ip().unwrap_err();
    assert_eq!(
        e.to_string(),
        "node \"lonely\" has no IPv4 address: attach it to a network"
    );
}

#[netns_test(topology = two_networks())]
fn the_old_name_exec_still_runs_a_closure_in_the_node(net: Net) {
    let netns = || std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let a = net.node("a");
    #[allow(deprecated)]
    let by_old_name = a.exec(netns);
    assert_eq!(by_old_name, a.run_blocking(netns));
    assert_ne!(by_old_name, net.node("b").run_blocking(netns));
}
