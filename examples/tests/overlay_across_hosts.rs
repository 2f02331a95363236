//! "An overlay network allows containers to span multiple hosts" (seed 000): two
//! Docker hosts on one underlay network, each with its own bridge of containers, joined
//! by VXLAN so that containers on different hosts share one subnet.
//!
//! | what                 | where                                     |
//! | -------------------- | ----------------------------------------- |
//! | underlay             | bridge `underlay` 192.168.50.0/24          |
//! | docker hosts         | `host1` 192.168.50.2, `host2` 192.168.50.3 |
//! | overlay `ov`, VNI 42 | 10.0.9.0/24, a bridge `ov` in each host    |
//! | containers           | `c1` on host1 (10.0.9.1), `c2` on host2 (10.0.9.2) |

use netns_test::{netns_test, Net, Node, Topology};

fn two_hosts() -> Topology {
    Topology::new()
        .bridge_with("underlay", "192.168.50.0/24", |b| b.no_gateway())
        .node("host1", |n| n.on_ip("underlay", "192.168.50.2"))
        .node("host2", |n| n.on_ip("underlay", "192.168.50.3"))
        .overlay("ov", "10.0.9.0/24", 42, &["host1", "host2"])
        .node("c1", |n| n.on_with("ov", |a| a.at("host1")))
        .node("c2", |n| n.on_with("ov", |a| a.at("host2")))
}

fn sh(node: &Node, cmd: &str, args: &[&str]) -> String {
    let out = node.command(cmd).args(args).output().expect(cmd);
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[netns_test(topology = two_hosts())]
fn containers_on_different_hosts_share_one_subnet(net: Net) {
    let (c1, c2) = (net.node("c1"), net.node("c2"));
    assert_eq!(c1.ip().to_string(), "10.0.9.1");
    assert_eq!(c2.ip().to_string(), "10.0.9.2");
    // One subnet: c2 is on-link for c1, no router in between (TTL stays 64).
    let ping = sh(&c1, "ping", &["-c", "1", "-W", "2", "10.0.9.2"]);
    assert!(ping.contains("ttl=64"), "{ping}");
    // By name too.
    sh(&c2, "ping", &["-c", "1", "-W", "2", "c1"]);
}

#[netns_test(topology = two_hosts())]
fn each_host_joins_its_bridge_to_the_others_by_vxlan(net: Net) {
    let host1 = net.node("host1");
    let vx = sh(&host1, "ip", &["-d", "link", "show", "vxlan42"]);
    assert!(
        vx.contains("vxlan id 42 local 192.168.50.2") && vx.contains("dstport 4789"),
        "{vx}"
    );
    assert!(vx.contains("master ov"), "{vx}");
    let fdb = sh(&host1, "bridge", &["fdb", "show", "dev", "vxlan42"]);
    assert!(fdb.contains("00:00:00:00:00:00 dst 192.168.50.3"), "{fdb}");
    // The containers themselves have no VXLAN: only their eth0.
    assert_eq!(
        sh(&net.node("c1"), "ip", &["-o", "link"]).lines().count(),
        2
    );
}

/// `ping -c 1 -W 1 TO` in `from`: true on an echo reply (exit 0), false when the echo went
/// out and nothing answered (exit 1, 100% packet loss); anything else (ping missing, or
/// exit 2: it could not even send) panics, as it says nothing about the path.
fn pings(from: &Node, to: &str) -> bool {
    let out = from
        .command("ping")
        .args(["-c", "1", "-W", "1", to])
        .output()
        .unwrap_or_else(|e| panic!("ping in {}: {e}", from.name()));
    let text = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(0) => true,
        Some(1) if text.contains("100% packet loss") => false,
        _ => panic!(
            "ping {to} in {} did not probe ({}): {text}{}",
            from.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[netns_test(topology = two_hosts())]
fn without_the_underlay_the_containers_lose_each_other(net: Net) {
    // Take the underlay away from host2: the overlay goes with it.
    let (c1, host2) = (net.node("c1"), net.node("host2"));
    // Positive control: the overlay carries traffic before (up to 5 tries: the first
    // echo also waits for ARP through the tunnel, which a loaded machine can make miss
    // ping's 1 s).
    assert!((0..5).any(|_| pings(&c1, "10.0.9.2")));
    net.block_on(host2.link("eth0").down()).expect("link down");
    assert!(
        !pings(&c1, "10.0.9.2"),
        "c1 still reaches c2 without the underlay"
    );
    // Give it back, and they find each other again.
    net.block_on(host2.link("eth0").up()).expect("link up");
    let back = c1
        .command("ping")
        .args(["-c", "1", "-w", "5", "10.0.9.2"])
        .status()
        .expect("ping");
    assert!(back.success(), "c1 -> c2 with the underlay back: {back}");
}

/// `tcpdump -n -i eth0` for a program without privileges to drop: an `AF_PACKET` socket on
/// the node's `eth0` that prints each frame, both directions, decoded one level into VXLAN,
/// (`IP 192.168.50.2 > 192.168.50.3 UDP 4789 VXLAN vni 42 IP 10.0.9.1 > 10.0.9.2 ICMP 8`),
/// after a first line `listening`, until its standard input closes (10 s at most).
/// (tcpdump itself, started as root in a user namespace, fails to drop to its own user.)
const CAPTURE: &str = r#"
import select, socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("eth0", 0))
print("listening", flush=True)

def ip(p):
    if len(p) < 20 or p[0] >> 4 != 4:
        return "?"
    h = (p[0] & 15) * 4
    src, dst = socket.inet_ntoa(p[12:16]), socket.inet_ntoa(p[16:20])
    out = f"IP {src} > {dst}"
    if p[9] == 1:
        return out + f" ICMP {p[h]}"
    if p[9] == 17:
        dport = struct.unpack("!H", p[h + 2:h + 4])[0]
        out += f" UDP {dport}"
        v = p[h + 8:]
        if dport == 4789 and len(v) >= 8 and v[0] & 8:
            vni = int.from_bytes(v[4:7], "big")
            out += f" VXLAN vni {vni} " + frame(v[8:])
        return out
    return out + f" proto {p[9]}"

def frame(f):
    kind = struct.unpack("!H", f[12:14])[0]
    return ip(f[14:]) if kind == 0x0800 else f"ETH 0x{kind:04x}"

end = time.monotonic() + 10
while time.monotonic() < end:
    r, _, _ = select.select([s, sys.stdin], [], [], 0.5)
    if s in r:
        print(frame(s.recv(65535)), flush=True)
    elif sys.stdin in r:
        break
"#;

#[netns_test(topology = two_hosts())]
fn overlay_traffic_crosses_the_underlay_encapsulated(net: Net) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let (c1, host1) = (net.node("c1"), net.node("host1"));
    // Watch host1's underlay link while c1 pings c2 across the overlay.
    let mut capture = host1
        .command("python3")
        .args(["-c", CAPTURE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 in host1");
    let mut frames = BufReader::new(capture.stdout.take().expect("stdout"));
    let mut first = String::new();
    frames.read_line(&mut first).expect("read the capture");
    assert_eq!(first, "listening\n", "the capture did not start");
    sh(&c1, "ping", &["-c", "1", "-W", "2", "10.0.9.2"]);
    drop(capture.stdin.take());
    let seen: Vec<String> = frames.lines().map(|l| l.expect("read")).collect();
    assert!(capture.wait().expect("wait").success(), "{seen:#?}");
    println!("host1 eth0:\n{}", seen.join("\n"));
    // The echo and its reply crossed as VXLAN between the hosts' underlay addresses, VNI
    // 42, the containers' packets inside ...
    for crossed in [
        "IP 192.168.50.2 > 192.168.50.3 UDP 4789 VXLAN vni 42 IP 10.0.9.1 > 10.0.9.2 ICMP 8",
        "IP 192.168.50.3 > 192.168.50.2 UDP 4789 VXLAN vni 42 IP 10.0.9.2 > 10.0.9.1 ICMP 0",
    ] {
        assert!(seen.iter().any(|l| l == crossed), "{crossed} in {seen:#?}");
    }
    // ... and never bare.
    assert!(
        !seen.iter().any(|l| l.starts_with("IP 10.0.9.")),
        "{seen:#?}"
    );
}

/// `labs/overlay_across_hosts.toml` is this lab: `netns-test lab examples/labs/overlay_across_hosts.toml` opens it.
#[test]
fn the_lab_file_declares_this_topology() {
    netns_test_examples::assert_lab_file("overlay_across_hosts.toml", two_hosts());
}
