//! Diagnostics of failed tests: the folder a failing test leaves (a text dump per node and a
//! pcap per veth end), its path and the topology in the failure output, and no folder for
//! passing tests unless asked.
//!
//! The failing tests are the `#[ignore]`d fixtures below; the tests run them through this
//! very binary, as `cargo test` would, with `NETNS_TEST_ARTIFACTS` pointing at a temporary
//! folder, and read back what they left: the pcaps are parsed by an independent reader
//! (`pcap-file`) and, where installed, by `tcpdump`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

use std::time::{Duration, Instant};
use support::text;

use netns_test::presets;

/// The bytes the fixtures send from `a` to `b`, looked for in the pcaps.
const MARKER: &[u8] = b"netns-test-diagnostics-marker";
/// A port nothing listens on: the SYN to it is answered by a RST.
const CLOSED_PORT: u16 = 7001;
const OPEN_PORT: u16 = 7000;

mod fixtures {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use netns_test::{netns_test, presets, Net};

    use super::{CLOSED_PORT, MARKER, OPEN_PORT};

    /// `a` sends [`MARKER`] to `b` over TCP, then tries a closed port of `b`.
    pub(super) fn traffic(net: &Net) {
        traffic_between(net, "a", "b");
    }

    /// `from` sends [`MARKER`] to `to` over TCP, then tries a closed port of `to`.
    pub(super) fn traffic_between(net: &Net, from: &str, to: &str) {
        let b = net.node(to);
        let ip = b.ip();
        let listener = b
            .run_blocking(|| TcpListener::bind(("0.0.0.0", OPEN_PORT)))
            .expect("listen in b");
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut got = vec![0u8; MARKER.len()];
            s.read_exact(&mut got).expect("read the marker");
            got
        });
        net.node(from).run_blocking(|| {
            let mut s = TcpStream::connect((ip, OPEN_PORT)).expect("connect to b");
            s.write_all(MARKER).expect("send the marker");
            let refused = TcpStream::connect((ip, CLOSED_PORT));
            assert_eq!(
                refused.as_ref().err().map(std::io::Error::kind),
                Some(std::io::ErrorKind::ConnectionRefused),
                "port {CLOSED_PORT} of b should be closed: {refused:?}"
            );
        });
        assert_eq!(server.join().expect("server thread"), MARKER);
    }

    #[netns_test(topology = presets::bridge_pair())]
    #[ignore = "fixture: run by diagnostics::a_panic_leaves_a_dump_and_pcaps"]
    fn traffic_then_panic(net: Net) {
        traffic(&net);
        panic!("fixture: boom after the traffic");
    }

    #[netns_test(topology = presets::bridge_pair())]
    #[ignore = "fixture: run by diagnostics::an_err_leaves_a_dump_and_pcaps"]
    async fn traffic_then_err(net: Net) -> Result<(), String> {
        traffic(&net);
        Err("fixture: the server said no".to_string())
    }

    #[netns_test(topology = presets::bridge_pair(), timeout = "2s")]
    #[ignore = "fixture: run by diagnostics::a_timeout_leaves_a_dump_and_pcaps"]
    fn traffic_then_hang(net: Net) {
        traffic(&net);
        std::thread::sleep(std::time::Duration::from_secs(60));
    }

    /// Three point-to-point links: captured from two namespaces (r1, r2).
    #[netns_test(topology = presets::router_line(2))]
    #[ignore = "fixture: run by diagnostics::every_link_of_a_routed_line_is_captured"]
    fn routed_traffic_then_panic(net: Net) {
        traffic_between(&net, "left", "right");
        panic!("fixture: boom after the routed traffic");
    }

    #[netns_test(topology = presets::bridge_pair())]
    #[ignore = "fixture: run by diagnostics::a_passing_test_leaves_no_folder_and_removes_a_stale_one"]
    fn traffic_and_pass(net: Net) {
        traffic(&net);
    }

    #[netns_test(topology = presets::bridge_pair(), keep_artifacts = true)]
    #[ignore = "fixture: run by diagnostics::keep_artifacts_keeps_the_folder_of_a_passing_test"]
    fn traffic_and_pass_kept(net: Net) {
        traffic(&net);
    }
}

/// A temporary artifacts root, removed when dropped.
struct Root(PathBuf);

impl Root {
    fn new(tag: &str) -> Root {
        let dir = std::env::temp_dir().join(format!(
            "netns-test-diagnostics-{}-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the artifacts root");
        Root(dir)
    }

    /// The folder of fixture `name`.
    fn folder(&self, name: &str) -> PathBuf {
        self.0
            .join(format!("diagnostics::fixtures::{name}").replace("::", "__"))
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs one fixture of this binary the way `cargo test` would; panics unless exactly that
/// one test ran (a filter matching nothing would pass, and leave no folder either).
fn run_fixture(name: &str, root: &Root, envs: &[(&str, &str)]) -> Output {
    let out = fixture_command(name, root, envs)
        .output()
        .expect("running the test binary");
    assert_ran_one(&out, name);
    out
}

/// Panics unless `out` is the output of a run of exactly one test, `fixtures::NAME`.
fn assert_ran_one(out: &Output, name: &str) {
    let t = text(out);
    assert!(
        t.contains("running 1 test") && t.contains(&format!("test fixtures::{name} ... ")),
        "fixture {name} did not run:\n{t}"
    );
}

fn fixture_command(name: &str, root: &Root, envs: &[(&str, &str)]) -> Command {
    let mut cmd = support::fixture_command(
        &format!("fixtures::{name}"),
        &["NETNS_TEST_KEEP_ARTIFACTS", "NETNS_TEST_CAPTURE"],
        &[],
    );
    cmd.env("NETNS_TEST_ARTIFACTS", &root.0)
        .envs(envs.iter().copied());
    cmd
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The pcap files a bridge_pair test leaves: one per link, named after the end that is not
/// a bridge port (`a-eth0.pcap`, `b-eth0.pcap`).
fn expected_pcaps() -> Vec<String> {
    let plan = presets::bridge_pair().plan().expect("plan");
    let mut names: Vec<String> = plan
        .veths
        .iter()
        .map(|v| {
            let e = v
                .ends
                .iter()
                .find(|e| e.master.is_none())
                .expect("a non-port end");
            format!("{}-{}.pcap", plan.nodes[e.node].name, e.name)
        })
        .collect();
    names.sort();
    names
}

/// One frame of a pcap, as read back by `pcap-file`.
struct Frame {
    data: Vec<u8>,
    orig_len: u32,
}

fn read_pcap(path: &Path) -> Vec<Frame> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = pcap_file::pcap::PcapReader::new(file)
        .unwrap_or_else(|e| panic!("{}: not a pcap file: {e}", path.display()));
    assert_eq!(
        reader.header().datalink,
        pcap_file::DataLink::ETHERNET,
        "{}",
        path.display()
    );
    let mut frames = Vec::new();
    let mut last = Duration::ZERO;
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap_or_else(|e| panic!("{}: bad record: {e}", path.display()));
        // Timestamps are real times (after 2020) and in order.
        assert!(
            p.timestamp > Duration::from_secs(1_577_836_800),
            "{:?}",
            p.timestamp
        );
        assert!(
            p.timestamp >= last,
            "timestamps go back in {}",
            path.display()
        );
        last = p.timestamp;
        assert!(p.orig_len as usize >= p.data.len());
        frames.push(Frame {
            data: p.data.into_owned(),
            orig_len: p.orig_len,
        });
    }
    frames
}

/// A TCP segment in an Ethernet/IPv4 frame.
struct Tcp<'a> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dport: u16,
    flags: u8,
    payload: &'a [u8],
}

fn tcp(frame: &[u8]) -> Option<Tcp<'_>> {
    if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ip[9] != 6 || ip.len() < ihl + 20 || total > ip.len() {
        return None;
    }
    let t = &ip[ihl..total];
    let off = usize::from(t[12] >> 4) * 4;
    Some(Tcp {
        src: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        dst: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        dport: u16::from_be_bytes([t[2], t[3]]),
        flags: t[13],
        payload: &t[off.min(t.len())..],
    })
}

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// Checks everything a failed bridge_pair fixture leaves: the output, the text files and
/// the pcaps.
fn check_failure_folder(out: &Output, folder: &Path, outcome: &str) {
    let t = text(out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains(&format!(
            "netns-test: diagnostics for this failure are in {}",
            folder.display()
        )),
        "{t}"
    );
    // The one-screen summary of the topology, in the output and in topology.txt.
    let summary = presets::bridge_pair().plan().expect("plan").summary();
    for line in summary.lines() {
        assert!(t.contains(line), "summary line {line:?} missing from:\n{t}");
    }
    assert_eq!(read(&folder.join("topology.txt")), summary);
    let o = read(&folder.join("outcome.txt"));
    assert!(o.contains(outcome), "{o}");
    assert!(o.contains("capture: 2 links, 1 AF_PACKET socket "), "{o}");
    assert!(
        o.contains("setup: capture and timeout handler started in "),
        "{o}"
    );

    // The node dumps: links, addresses, routes, neighbours, sysctls, nftables, conntrack.
    let a = read(&folder.join("a.txt"));
    for needle in [
        "-- links",
        "eth0",
        "oper UP",
        "-- addresses",
        "10.0.0.2/24",
        "-- routes",
        "default via 10.0.0.1 dev eth0",
        "10.0.0.0/24 dev eth0",
        "-- neighbours",
        "10.0.0.3 dev eth0 lladdr ",
        "-- sysctls",
        "net.ipv4.ip_forward = 0",
        "-- nftables",
        "-- conntrack",
        "-- capture",
        "eth0: ",
    ] {
        assert!(a.contains(needle), "a.txt lacks {needle:?}:\n{a}");
    }
    let host = read(&folder.join("host.txt"));
    for needle in [
        "br0",
        "bridge",
        "10.0.0.1/24",
        "-- bridge forwarding database",
        " master br0",
        "-- capture",
        "a-eth0: ",
        " in a-eth0.pcap (link a:eth0 <-> host:a-eth0)",
    ] {
        assert!(host.contains(needle), "host.txt lacks {needle:?}:\n{host}");
    }

    // One pcap per veth end; a's and b's show the SYN to the closed port, its RST, and the
    // marker.
    let mut pcaps: Vec<String> = std::fs::read_dir(folder)
        .expect("folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    pcaps.sort();
    assert_eq!(pcaps, expected_pcaps());
    let (ip_a, ip_b) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3));
    for (file, min_frames) in [("a-eth0.pcap", 6), ("b-eth0.pcap", 6)] {
        let frames = read_pcap(&folder.join(file));
        assert!(
            frames.len() >= min_frames,
            "{file}: {} frames",
            frames.len()
        );
        let segs: Vec<Tcp<'_>> = frames.iter().filter_map(|f| tcp(&f.data)).collect();
        assert!(
            segs.iter().any(|s| s.src == ip_a
                && s.dst == ip_b
                && s.dport == CLOSED_PORT
                && s.flags & (SYN | ACK) == SYN),
            "{file}: no SYN from a to b:{CLOSED_PORT}"
        );
        assert!(
            segs.iter()
                .any(|s| s.src == ip_b && s.dst == ip_a && s.flags & RST != 0),
            "{file}: no RST from b"
        );
        assert!(
            segs.iter()
                .any(|s| s.dport == OPEN_PORT
                    && s.payload.windows(MARKER.len()).any(|w| w == MARKER)),
            "{file}: the marker sent to b:{OPEN_PORT} is missing"
        );
        assert!(frames.iter().all(|f| f.orig_len as usize == f.data.len()));
    }
    let dump = tcpdump(&folder.join("a-eth0.pcap"));
    assert!(
        dump.lines().any(|l| l.contains(" IP 10.0.0.2.")
            && l.contains(&format!("> 10.0.0.3.{CLOSED_PORT}: Flags [S]"))),
        "tcpdump -nr a-eth0.pcap:\n{dump}"
    );
}

/// `tcpdump -nr FILE`: the pcaps must read in the tool people will open them with. A
/// machine without tcpdump fails here, naming it (`scripts/setup.sh` installs it).
fn tcpdump(file: &Path) -> String {
    let out = Command::new("tcpdump")
        .arg("-nr")
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running tcpdump -nr {}: {e}; install tcpdump (`bash scripts/setup.sh`, or \
                 `apt-get install tcpdump`)",
                file.display()
            )
        });
    assert!(
        out.status.success(),
        "tcpdump -nr {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_panic_leaves_a_dump_and_pcaps() {
    let root = Root::new("panic");
    let out = run_fixture("traffic_then_panic", &root, &[]);
    check_failure_folder(
        &out,
        &root.folder("traffic_then_panic"),
        "outcome: the test panicked: fixture: boom after the traffic",
    );
    assert!(text(&out).contains("fixture: boom after the traffic"));
}

#[test]
fn an_err_leaves_a_dump_and_pcaps() {
    let root = Root::new("err");
    let out = run_fixture("traffic_then_err", &root, &[]);
    check_failure_folder(
        &out,
        &root.folder("traffic_then_err"),
        "outcome: the test returned an error: \"fixture: the server said no\"",
    );
    assert!(text(&out).contains("the test returned an error: \"fixture: the server said no\""));
}

#[test]
fn a_timeout_leaves_a_dump_and_pcaps() {
    let root = Root::new("timeout");
    let start = Instant::now();
    let out = run_fixture("traffic_then_hang", &root, &[]);
    let took = start.elapsed();
    check_failure_folder(
        &out,
        &root.folder("traffic_then_hang"),
        "outcome: timed out after 2s",
    );
    let t = text(&out);
    assert!(t.contains("timed out after 2s"), "{t}");
    // The dump happens at the timeout and ends the sandbox; it does not wait for the grace
    // period to run out.
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

#[test]
fn a_passing_test_leaves_no_folder_and_removes_a_stale_one() {
    let root = Root::new("pass");
    let folder = root.folder("traffic_and_pass");
    std::fs::create_dir_all(&folder).expect("stale folder");
    std::fs::write(folder.join("a.txt"), "stale").expect("stale file");
    let out = run_fixture("traffic_and_pass", &root, &[]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(!folder.exists(), "{} was left: {t}", folder.display());
    assert!(!t.contains("diagnostics"), "{t}");
}

#[test]
fn keep_artifacts_keeps_the_folder_of_a_passing_test() {
    let root = Root::new("keep");
    let out = run_fixture("traffic_and_pass_kept", &root, &[]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let folder = root.folder("traffic_and_pass_kept");
    assert!(
        t.contains(&format!(
            "netns-test: diagnostics of this test (kept although it passed) are in {}",
            folder.display()
        )),
        "{t}"
    );
    assert!(read(&folder.join("outcome.txt")).contains("outcome: passed"));
    let frames = read_pcap(&folder.join("a-eth0.pcap"));
    assert!(frames
        .iter()
        .filter_map(|f| tcp(&f.data))
        .any(|s| s.dport == CLOSED_PORT));
}

#[test]
fn the_keep_environment_variable_keeps_the_folder_of_a_passing_test() {
    let root = Root::new("keepenv");
    let out = run_fixture(
        "traffic_and_pass",
        &root,
        &[("NETNS_TEST_KEEP_ARTIFACTS", "1")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let folder = root.folder("traffic_and_pass");
    assert!(read(&folder.join("outcome.txt")).contains("outcome: passed"));
    let mut files: Vec<String> = std::fs::read_dir(&folder)
        .expect("folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = [
        "a.txt",
        "b.txt",
        "host.txt",
        "outcome.txt",
        "report.html",
        "topology.txt",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(expected_pcaps())
    .collect();
    expected.sort();
    assert_eq!(files, expected);
}

#[test]
fn capture_off_still_dumps_the_nodes() {
    let root = Root::new("nocapture");
    let out = run_fixture("traffic_then_panic", &root, &[("NETNS_TEST_CAPTURE", "0")]);
    assert!(!out.status.success());
    let folder = root.folder("traffic_then_panic");
    assert!(read(&folder.join("outcome.txt")).contains("capture: off (NETNS_TEST_CAPTURE=0)"));
    assert!(read(&folder.join("a.txt")).contains("10.0.0.2/24"));
    let pcaps = std::fs::read_dir(&folder)
        .expect("folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".pcap"))
        })
        .count();
    assert_eq!(pcaps, 0);
}

#[test]
fn every_link_of_a_routed_line_is_captured() {
    let root = Root::new("routed");
    let out = run_fixture("routed_traffic_then_panic", &root, &[]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    let folder = root.folder("routed_traffic_then_panic");
    let o = read(&folder.join("outcome.txt"));
    assert!(o.contains("capture: 3 links, 2 AF_PACKET sockets "), "{o}");
    let plan = presets::router_line(2).plan().expect("plan");
    let ip = |name: &str| match plan.node(name).expect("node").ifaces[0].addrs[0].addr() {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(_) => unreachable!("IPv4 preset"),
    };
    let (left, right) = (ip("left"), ip("right"));
    for v in &plan.veths {
        let e = &v.ends[0];
        let file = format!("{}-{}.pcap", plan.nodes[e.node].name, e.name);
        let frames = read_pcap(&folder.join(&file));
        assert!(
            frames
                .iter()
                .filter_map(|f| tcp(&f.data))
                .any(|s| s.src == left
                    && s.dst == right
                    && s.dport == CLOSED_PORT
                    && s.flags & (SYN | ACK) == SYN),
            "{file}: no SYN from left ({left}) to right ({right}):{CLOSED_PORT}\n{o}"
        );
    }
}

#[test]
fn an_unwritable_folder_is_reported_with_the_topology() {
    let out = Command::new(std::env::current_exe().expect("own path"))
        .args([
            "fixtures::traffic_then_panic",
            "--exact",
            "--include-ignored",
            "--nocapture",
        ])
        .env_remove("NETNS_TEST_SANDBOX")
        .env("NETNS_TEST_ARTIFACTS", "/proc/netns-test-cannot-be-here")
        .output()
        .expect("running the test binary");
    assert_ran_one(&out, "traffic_then_panic");
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("netns-test: could not write the diagnostics for this failure to /proc/netns-test-cannot-be-here/diagnostics__fixtures__traffic_then_panic: "),
        "{t}"
    );
    assert!(t.contains("netns-test: the test's topology:"), "{t}");
    assert!(t.contains("fixture: boom after the traffic"), "{t}");
}
