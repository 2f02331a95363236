//! Diagnostics of a failed test: a folder with every node's kernel state and the last
//! packets of every link, written by the sandboxed child when the test fails.
//!
//! Where: `<target dir>/netns-test/<test path with :: as __>/` (the target dir is found from
//! the test binary's path, `.../target/debug/deps/NAME`), or `$NETNS_TEST_ARTIFACTS/<...>/`.
//! A stale folder of the same test is removed when the test starts; a passing test leaves
//! none unless `#[netns_test(keep_artifacts = true)]` or `NETNS_TEST_KEEP_ARTIFACTS=1`.
//!
//! Under `cargo nextest` ([`Runner`]): a retry writes `<...>.attempt-N/` (N from
//! `NEXTEST_ATTEMPT`, 2 for the first retry) and an iteration of a stress run
//! `<...>.stress-K[.attempt-N]/`, so a passing retry never removes the folder of the
//! attempt that failed; only the first execution of a run clears the folders an earlier
//! run left. The first attempt uses the plain folder, as `cargo test` does. A run from
//! `cargo nextest archive` writes under `<workspace root>/target/netns-test/` (the
//! `--workspace-remap` folder), not in the temporary folder the binaries were extracted to
//! ([`artifacts_root`]).
//!
//! What:
//! - `outcome.txt`: why it was written, when, and what the capture kept;
//! - `topology.txt`: the plan's one-screen summary ([`Net::summary`]);
//! - `<node>.txt`: links, addresses, routes, neighbours (and the bridge FDB), the sysctls
//!   that decide forwarding, the nftables ruleset and the conntrack table, as the kernel had
//!   them at the moment of the failure;
//! - `<node>-<iface>.pcap`: the last packets of every link (veth pair), named after the
//!   end that is not a bridge port (`a-eth0.pcap` for container `a` on a bridge) or the
//!   first end of a point-to-point link; at most [`RING_PACKETS`] packets or [`RING_BYTES`]
//!   bytes each; classic pcap, Ethernet, nanosecond timestamps (`tcpdump -nr FILE`,
//!   Wireshark). The pcap writer is the 40 bytes of headers the format needs, written here
//!   rather than through the `pcap-file` crate, which would bring `syn` 1 and `thiserror` 1
//!   into every user's build; the tests read the files back with `pcap-file`.
//!
//! How: after the build and before the body, [`Diag::start`] opens one `AF_PACKET` socket
//! per namespace needed to see every veth pair (both ends of a pair carry the same frames;
//! on a bridge, the bridge's node holds every port, so one socket covers the bridge), each
//! opened by the calling thread standing in that namespace, with a BPF filter on the
//! captured ifindexes. One thread reads them into bounded rings until the test ends;
//! nothing is written unless the test fails (or is kept). `NETNS_TEST_CAPTURE=0` turns the
//! capture off (the text dump stays).
//!
//! Cost to a passing test: ~0.1-0.2 ms to start (sockets, thread, signal handler), and one
//! RCU grace period when it ends: the kernel's `packet_release` calls `synchronize_net()`
//! for every packet socket closed (~5-15 ms on a HZ=250 kernel), which the parent waits
//! for through the sandbox's exit. The sockets of a passing test are closed in parallel,
//! so that it is one grace period, not one per socket.
//!
//! Timeouts: the parent alone keeps the clock. At the deadline it sends [`DUMP_SIGNAL`] to
//! the sandbox and waits at most [`DUMP_GRACE`] more; the signal wakes the capture thread,
//! which writes the folder, prints its path and exits the sandbox (PID 1), so that the
//! dump shows the network as it was at the timeout and the body loses no time to a safety
//! margin. A sandbox that does not answer in time is killed as before.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use netlink_packet_route::AddressFamily;
use rtnetlink::Handle;

use crate::net::{Net, Node};
use crate::{kernel, sys};

/// Overrides the root of the diagnostics folders.
pub(crate) const ENV_ARTIFACTS: &str = "NETNS_TEST_ARTIFACTS";
/// `1`: keep the folder of passing tests too.
pub(crate) const ENV_KEEP: &str = "NETNS_TEST_KEEP_ARTIFACTS";
/// `0`: no packet capture.
pub(crate) const ENV_CAPTURE: &str = "NETNS_TEST_CAPTURE";
/// Sent by the parent at the timeout: write the diagnostics and exit.
pub(crate) const DUMP_SIGNAL: libc::c_int = libc::SIGUSR2;
/// How long the parent waits for the diagnostics of a timed-out test before it kills it.
pub(crate) const DUMP_GRACE: Duration = Duration::from_secs(5);

/// Packets kept per link (the oldest go first).
pub(crate) const RING_PACKETS: usize = 1000;
/// Bytes of packet data kept per link.
pub(crate) const RING_BYTES: usize = 4 << 20;
/// Receive buffer: a whole GSO frame of a veth.
const FRAME_BUF: usize = 256 << 10;

/// The pcap global header's magic for nanosecond timestamps.
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u32 = 1;

/// The diagnostics of one running test (in the sandboxed child).
pub(crate) struct Diag {
    shared: Arc<Shared>,
    /// Write end of the capture thread's wake socket (`S`: stop and hand over the rings).
    stop: Option<UnixStream>,
    thread: Option<JoinHandle<Capture>>,
}

impl std::fmt::Debug for Diag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Diag")
            .field("dir", &self.shared.dir)
            .finish()
    }
}

struct Shared {
    dir: PathBuf,
    /// The nextest run and attempt this execution is, if any.
    run: Option<String>,
    net: Net,
    timeout: Duration,
    capture: CaptureState,
    /// How long [`Diag::start`] took (the capture's cost to every test).
    setup: OnceLock<Duration>,
    /// Problems met before the dump (a stale folder that could not be removed).
    notes: Mutex<Vec<String>>,
    /// Set once the folder is written: the first of the body's end and the timeout wins.
    done: Mutex<bool>,
}

enum CaptureState {
    Off,
    Failed(String),
    On { links: usize, sockets: usize },
}

/// What the capture thread owns: one packet socket per namespace it listens in, and one
/// ring per link.
struct Capture {
    socks: Vec<Sock>,
    rings: Vec<Ring>,
}

struct Sock {
    /// `None` once reading failed for good.
    fd: Option<OwnedFd>,
    /// ifindex of a captured veth end -> its link's ring.
    ends: Vec<(u32, usize)>,
}

/// The last packets of one link (a veth pair: both ends carry the same frames, so it is
/// captured at one end).
struct Ring {
    /// `<node>-<iface>` of the end the file is named after: the end that is not a bridge
    /// port (the container's `eth0`), or the first end of a point-to-point link.
    name: String,
    /// `node:iface <-> node:iface`, the named end first.
    ends: String,
    /// Nodes and interfaces of both ends.
    at: [(String, String); 2],
    /// `node:iface` where it is captured.
    on: String,
    packets: VecDeque<Packet>,
    bytes: usize,
    /// Packets dropped from the front to respect the bounds.
    evicted: u64,
    /// Why reading stopped early, if it did.
    error: Option<String>,
}

struct Packet {
    sec: i64,
    nsec: u32,
    orig_len: u32,
    data: Box<[u8]>,
}

impl Ring {
    fn new(named: (&str, &str), other: (&str, &str)) -> Ring {
        Ring {
            name: format!("{}-{}", named.0, named.1),
            ends: format!("{}:{} <-> {}:{}", named.0, named.1, other.0, other.1),
            at: [
                (named.0.to_string(), named.1.to_string()),
                (other.0.to_string(), other.1.to_string()),
            ],
            on: String::new(),
            packets: VecDeque::new(),
            bytes: 0,
            evicted: 0,
            error: None,
        }
    }

    fn push(&mut self, p: Packet) {
        while !self.packets.is_empty()
            && (self.packets.len() >= RING_PACKETS || self.bytes + p.data.len() > RING_BYTES)
        {
            let old = self.packets.pop_front().expect("not empty");
            self.bytes -= old.data.len();
            self.evicted += 1;
        }
        self.bytes += p.data.len();
        self.packets.push_back(p);
    }

    fn file_name(&self) -> String {
        format!("{}.pcap", self.name)
    }
}

/// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`; anything else counts as unset.
fn env_flag(name: &str) -> Option<bool> {
    let v = std::env::var(name).ok()?;
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// What `cargo nextest` tells a test about the run it is part of; all `None` under a plain
/// `cargo test`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Runner {
    /// `NEXTEST_ATTEMPT`: 1 for the first try, 2 for the first retry...
    pub(crate) attempt: Option<u32>,
    /// `NEXTEST_TOTAL_ATTEMPTS`: 1 + the retries allowed.
    pub(crate) total_attempts: Option<u32>,
    /// `NEXTEST_STRESS_CURRENT`: the iteration of a `--stress-count` run, from 0.
    pub(crate) stress: Option<u32>,
    /// `NEXTEST_RUN_ID`.
    pub(crate) run_id: Option<String>,
    /// `NEXTEST_WORKSPACE_ROOT`: the workspace as nextest sees it (the `--workspace-remap`
    /// folder in a run from an archive).
    pub(crate) workspace_root: Option<PathBuf>,
}

impl Runner {
    /// What nextest says about the test at `path` (`module_path!()::name`). Nextest's
    /// variables are inherited by every process a test starts; when they name another test
    /// (`NEXTEST_TEST_NAME`), this process is a program that test ran (a test binary run
    /// by a test, as `cargo test` would run it), and its attempt and run are not this
    /// test's: only the workspace root is kept.
    pub(crate) fn from_env(path: &str) -> Runner {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Runner::new(path, &var)
    }

    fn new(path: &str, var: &dyn Fn(&str) -> Option<String>) -> Runner {
        let number = |k: &str| var(k).and_then(|v| v.trim().parse::<u32>().ok());
        let workspace_root = var("NEXTEST_WORKSPACE_ROOT")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        // `path` is `<crate>::<libtest name>`.
        let in_crate = path.split_once("::").map_or(path, |(_, rest)| rest);
        let ours = var("NEXTEST_TEST_NAME").is_none_or(|name| in_crate == name);
        if !ours {
            return Runner {
                workspace_root,
                ..Runner::default()
            };
        }
        Runner {
            attempt: number("NEXTEST_ATTEMPT"),
            total_attempts: number("NEXTEST_TOTAL_ATTEMPTS"),
            stress: number("NEXTEST_STRESS_CURRENT"),
            run_id: var("NEXTEST_RUN_ID"),
            workspace_root,
        }
    }

    /// The suffix that keeps this execution's folder apart from the others of the same
    /// test in the same run: `.stress-K` for an iteration of a stress run and
    /// `.attempt-N` for a retry. Empty for the first attempt, so that a run without
    /// retries (or a plain `cargo test`) uses the same folder as always.
    fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(k) = self.stress {
            let _ = write!(s, ".stress-{k}");
        }
        if let Some(n) = self.attempt.filter(|&n| n > 1) {
            let _ = write!(s, ".attempt-{n}");
        }
        s
    }

    /// The first execution of a test in a run: the one that clears what earlier runs left.
    fn is_first(&self) -> bool {
        self.attempt.unwrap_or(1) <= 1 && self.stress.unwrap_or(0) == 0
    }

    /// `attempt N of M of nextest run ID` for the output and `outcome.txt`; `None` under a
    /// plain `cargo test`.
    fn describe(&self) -> Option<String> {
        let attempt = self.attempt?;
        let mut s = format!("attempt {attempt}");
        if let Some(total) = self.total_attempts {
            let _ = write!(s, " of {total}");
        }
        if let Some(k) = self.stress {
            let _ = write!(s, " in stress iteration {k}");
        }
        s.push_str(" of nextest run");
        if let Some(id) = &self.run_id {
            let _ = write!(s, " {id}");
        }
        Some(s)
    }
}

/// Where one execution of a test keeps its diagnostics, and what it clears when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    /// This execution's folder.
    pub(crate) dir: PathBuf,
    /// The root that holds the folders of every test.
    root: PathBuf,
    /// The folder name of the test's first execution (`a__b__c`); the folders of its other
    /// executions are `a__b__c.attempt-N`, `a__b__c.stress-K[.attempt-N]`.
    base: String,
    /// Whether this is the first execution in its run: it removes every folder of the test
    /// (left by an earlier run), not only its own.
    first: bool,
}

impl Location {
    /// The location of the test at `path` (`module_path!()::name`) in this process.
    pub(crate) fn here(path: &str) -> Location {
        Location::new(
            path,
            std::env::var_os(ENV_ARTIFACTS).as_deref(),
            std::env::current_exe().ok().as_deref(),
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .as_deref(),
            &Runner::from_env(path),
        )
    }

    /// The location from what the process knows: `NETNS_TEST_ARTIFACTS`, the test
    /// binary's path, `CARGO_TARGET_DIR` and what nextest says.
    pub(crate) fn new(
        path: &str,
        artifacts: Option<&std::ffi::OsStr>,
        exe: Option<&Path>,
        cargo_target_dir: Option<&Path>,
        runner: &Runner,
    ) -> Location {
        let root = artifacts_root(artifacts, exe, cargo_target_dir, runner);
        let base = dir_name(path);
        Location {
            dir: root.join(format!("{base}{}", runner.suffix())),
            root,
            base,
            first: runner.is_first(),
        }
    }

    /// Removes the folders this execution replaces: its own, and, for the first execution
    /// of a run, those of the test's other executions in earlier runs. A retry never
    /// removes the folder of the attempt before it.
    fn clear_stale(&self) -> Vec<String> {
        let mut stale = vec![self.dir.clone()];
        if self.first {
            let prefix = format!("{}.", self.base);
            if let Ok(entries) = std::fs::read_dir(&self.root) {
                for e in entries.flatten() {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    let other = name.strip_prefix(&prefix).is_some_and(|rest| {
                        rest.starts_with("attempt-") || rest.starts_with("stress-")
                    });
                    if other {
                        stale.push(e.path());
                    }
                }
            }
        }
        let mut notes = Vec::new();
        for dir in stale {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => notes.push(format!(
                    "the folder of an earlier run, {}, could not be removed ({e}); files in it may be stale",
                    dir.display()
                )),
                _ => {}
            }
        }
        notes
    }
}

/// The root of the diagnostics folders:
/// 1. `$NETNS_TEST_ARTIFACTS`, if set;
/// 2. `<target dir>/netns-test`, the target dir found from the test binary's path;
/// 3. except under nextest, when that target dir is neither inside the workspace root
///    nextest reports nor `$CARGO_TARGET_DIR`: a run from `cargo nextest archive` extracts
///    the binaries into a temporary folder that is deleted after the run, so the folders go
///    to `<workspace root>/target/netns-test` (the `--workspace-remap` folder);
/// 4. `<temp dir>/netns-test` for a binary outside any target dir, outside nextest.
fn artifacts_root(
    artifacts: Option<&std::ffi::OsStr>,
    exe: Option<&Path>,
    cargo_target_dir: Option<&Path>,
    runner: &Runner,
) -> PathBuf {
    if let Some(d) = artifacts.filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        return std::path::absolute(&d).unwrap_or(d);
    }
    let target = exe.and_then(target_dir);
    match (&runner.workspace_root, target) {
        (Some(ws), Some(t)) if t.starts_with(ws) || cargo_target_dir == Some(t.as_path()) => {
            t.join("netns-test")
        }
        (Some(ws), _) => ws.join("target").join("netns-test"),
        (None, Some(t)) => t.join("netns-test"),
        (None, None) => std::env::temp_dir().join("netns-test"),
    }
}

/// `a::b::c` -> `a__b__c`.
fn dir_name(path: &str) -> String {
    path.replace("::", "__")
}

/// The target directory of a test binary at `.../target[/<triple>]/<profile>/deps/NAME`
/// (or `examples/NAME`): `.../target[/<triple>]`.
fn target_dir(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    if !matches!(dir.file_name()?.to_str()?, "deps" | "examples") {
        return None;
    }
    Some(dir.parent()?.parent()?.to_path_buf())
}

impl Diag {
    /// Removes a stale folder of this test and starts the capture (unless
    /// `NETNS_TEST_CAPTURE=0`) and the timeout handler. Never fails the test: a capture that
    /// cannot start is reported in the dump.
    pub(crate) fn start(path: &str, timeout: Duration, net: &Net) -> Diag {
        let start = Instant::now();
        let location = Location::here(path);
        let mut notes = location.clear_stale();
        let dir = location.dir;
        let no_capture = || Capture {
            socks: Vec::new(),
            rings: Vec::new(),
        };
        let (cap, capture) = match env_flag(ENV_CAPTURE) {
            Some(false) => (no_capture(), CaptureState::Off),
            _ => match open_capture(net) {
                Ok(cap) => {
                    let state = CaptureState::On {
                        links: cap.rings.len(),
                        sockets: cap.socks.len(),
                    };
                    (cap, state)
                }
                Err(e) => (no_capture(), CaptureState::Failed(e)),
            },
        };
        // The capture thread's wake socket: `S` from `Diag::write`, `T` from the signal.
        let wake = UnixStream::pair().and_then(|(r, w)| {
            r.set_nonblocking(true)?;
            w.set_nonblocking(true)?;
            let for_signal = w.try_clone()?;
            sys::on_signal_write_byte(DUMP_SIGNAL, OwnedFd::from(for_signal))?;
            Ok((r, w))
        });
        if let Err(e) = &wake {
            notes.push(format!(
                "no capture thread ({e}): no packets, and a timeout leaves no diagnostics"
            ));
        }
        let shared = Arc::new(Shared {
            dir,
            run: Runner::from_env(path).describe(),
            net: net.clone(),
            timeout,
            capture,
            notes: Mutex::new(notes),
            setup: OnceLock::new(),
            done: Mutex::new(false),
        });
        let (stop, thread) = match wake {
            Ok((r, w)) => {
                let sh = Arc::clone(&shared);
                match std::thread::Builder::new()
                    .name("netns-test-capture".to_string())
                    .spawn(move || capture_loop(&sh, r, cap))
                {
                    Ok(t) => (Some(w), Some(t)),
                    Err(e) => {
                        shared.note(format!(
                            "no capture thread ({e}): no packets, and a timeout leaves no diagnostics"
                        ));
                        (None, None)
                    }
                }
            }
            Err(_) => (None, None),
        };
        let _ = shared.setup.set(start.elapsed());
        Diag {
            shared,
            stop,
            thread,
        }
    }

    /// The test passed: keeps its folder if asked to (attribute or environment).
    pub(crate) fn passed(mut self, keep: bool) {
        if !keeps(keep) {
            self.release();
            return;
        }
        let outcome =
            "passed; kept by #[netns_test(keep_artifacts = true)] or NETNS_TEST_KEEP_ARTIFACTS=1";
        if let Some(Err(e)) = self.write(outcome) {
            println!(
                "netns-test: could not keep the diagnostics of this test in {}: {e}",
                self.shared.dir.display()
            );
        } else {
            println!(
                "netns-test: diagnostics of this test (kept although it passed) are in {}",
                self.shared.dir.display()
            );
        }
    }

    /// Whether a passing test keeps its folder (the attribute's `keep_artifacts`, or the
    /// environment).
    pub(crate) fn keeps_when_passing(&self, keep: bool) -> bool {
        keeps(keep)
    }

    /// The test failed: writes the folder and prints where it is, with the topology.
    pub(crate) fn failed(mut self, outcome: &str) {
        if let Some(r) = self.write(outcome) {
            eprint!("{}", self.shared.failure_message(r.err()));
        }
    }

    /// Stops the capture thread and takes what it captured.
    fn stop_capture(&mut self) -> Option<Capture> {
        if let Some(mut stop) = self.stop.take() {
            let _ = stop.write_all(b"S");
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(cap)) => Some(cap),
            Some(Err(_)) => {
                self.shared
                    .note("the capture thread panicked; no packets".to_string());
                None
            }
            None => None,
        }
    }

    /// A passing test: closes the packet sockets, all at once. Each close waits for an RCU
    /// grace period; the process exit would wait for them one after the other.
    fn release(&mut self) {
        let Some(cap) = self.stop_capture() else {
            return;
        };
        if cap.socks.len() > 1 {
            std::thread::scope(|s| {
                for sock in cap.socks {
                    s.spawn(move || drop(sock));
                }
            });
        }
    }

    /// Stops the capture and writes the folder, unless the timeout did it first (then it
    /// waits for the process to end). `None` if it was written already.
    fn write(&mut self, outcome: &str) -> Option<io::Result<()>> {
        let shared = Arc::clone(&self.shared);
        let mut done = shared.done.lock().unwrap_or_else(|p| p.into_inner());
        if *done {
            return None;
        }
        let rings = self.stop_capture().map(|c| c.rings).unwrap_or_default();
        let r = shared.write_all(&rings, outcome);
        *done = true;
        Some(r)
    }
}

/// Opens the packet sockets: as few namespaces as cover every veth pair (greedily, the node
/// with the most uncovered ends first; on a bridge, the bridge's node covers all its ports),
/// one socket each, opened by the calling thread standing in that namespace.
fn open_capture(net: &Net) -> Result<Capture, String> {
    let plan = net.plan();
    // Bridge ports are not among a node's `ifaces`; the plan fixes every ifindex.
    let node_name = |i: usize| plan.nodes[i].name.as_str();
    let mut rings: Vec<Ring> = plan
        .veths
        .iter()
        .map(|v| {
            let (named, other) = if v.ends[0].master.is_some() && v.ends[1].master.is_none() {
                (&v.ends[1], &v.ends[0])
            } else {
                (&v.ends[0], &v.ends[1])
            };
            Ring::new(
                (node_name(named.node), &named.name),
                (node_name(other.node), &other.name),
            )
        })
        .collect();
    let mut uncovered: Vec<usize> = (0..plan.veths.len()).collect();
    let mut socks = Vec::new();
    while !uncovered.is_empty() {
        let mut count = vec![0usize; plan.nodes.len()];
        for &v in &uncovered {
            for e in &plan.veths[v].ends {
                count[e.node] += 1;
            }
        }
        let best = (0..plan.nodes.len())
            .max_by_key(|&i| (count[i], std::cmp::Reverse(i)))
            .expect("a veth has ends");
        let mut ends = Vec::new();
        uncovered.retain(|&v| {
            let Some(e) = plan.veths[v].ends.iter().find(|e| e.node == best) else {
                return true;
            };
            rings[v].on = format!("{}:{}", node_name(best), e.name);
            ends.push((e.index, v));
            false
        });
        let node = &net.nodes()[best];
        for chunk in ends.chunks(250) {
            let ifindexes: Vec<u32> = chunk.iter().map(|&(ix, _)| ix).collect();
            let fd = sys::in_netns(node.netns(), || sys::packet_socket(&ifindexes))
                .and_then(|r| r)
                .map_err(|e| format!("AF_PACKET socket in node {:?}: {e}", node.name()))?;
            socks.push(Sock {
                fd: Some(fd),
                ends: chunk.to_vec(),
            });
        }
    }
    Ok(Capture { socks, rings })
}

/// Reads every packet socket into the rings until told to stop (`S`, or the wake socket
/// closes), or writes the diagnostics and exits the process on the timeout signal (`T`).
fn capture_loop(shared: &Shared, wake: UnixStream, mut cap: Capture) -> Capture {
    let mut buf = vec![0u8; FRAME_BUF];
    loop {
        let live: Vec<usize> = (0..cap.socks.len())
            .filter(|&i| cap.socks[i].fd.is_some())
            .collect();
        let mut poll: Vec<BorrowedFd<'_>> = vec![wake.as_fd()];
        poll.extend(
            live.iter()
                .filter_map(|&i| cap.socks[i].fd.as_ref().map(AsFd::as_fd)),
        );
        let ready = match sys::poll_readable(&poll, -1) {
            Ok(r) => r,
            Err(_) => return cap,
        };
        drop(poll);
        for (k, &i) in live.iter().enumerate() {
            if ready[k + 1] {
                drain(&mut cap.socks[i], &mut cap.rings, &mut buf);
            }
        }
        if !ready[0] {
            continue;
        }
        let mut cmd = [0u8; 16];
        match (&wake).read(&mut cmd) {
            Ok(0) => return cap,
            Ok(n) => {
                let cmd = &cmd[..n];
                if cmd.contains(&b'S') || cmd.contains(&b'T') {
                    for sock in &mut cap.socks {
                        drain(sock, &mut cap.rings, &mut buf);
                    }
                }
                if cmd.contains(&b'S') {
                    return cap;
                }
                if cmd.contains(&b'T') {
                    shared.on_timeout(&cap.rings);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return cap,
        }
    }
}

/// Reads every queued frame of one socket into the rings of their links.
fn drain(sock: &mut Sock, rings: &mut [Ring], buf: &mut [u8]) {
    let Some(fd) = sock.fd.as_ref() else { return };
    loop {
        match sys::packet_recv(fd.as_fd(), buf) {
            Ok(Some(f)) => {
                let Some(&(_, ring)) = sock.ends.iter().find(|(ix, _)| *ix == f.ifindex) else {
                    continue;
                };
                let (sec, nsec) = if f.sec == 0 && f.nsec == 0 {
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default();
                    (now.as_secs() as i64, now.subsec_nanos())
                } else {
                    (f.sec, f.nsec)
                };
                rings[ring].push(Packet {
                    sec,
                    nsec,
                    orig_len: f.orig_len.min(u32::MAX as usize) as u32,
                    data: buf[..f.len].into(),
                });
            }
            Ok(None) => return,
            // A captured link went down: reported once; capture goes on.
            Err(e) if e.raw_os_error() == Some(libc::ENETDOWN) => {}
            Err(e) => {
                for &(_, ring) in &sock.ends {
                    rings[ring].error = Some(format!("capture stopped: {e}"));
                }
                sock.fd = None;
                return;
            }
        }
    }
}

/// Writes a classic pcap file (nanosecond timestamps, Ethernet frames).
fn write_pcap<'a>(w: &mut impl Write, packets: impl Iterator<Item = &'a Packet>) -> io::Result<()> {
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&PCAP_MAGIC_NS.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    header.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    header.extend_from_slice(&(FRAME_BUF as u32).to_le_bytes()); // snaplen
    header.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    w.write_all(&header)?;
    for p in packets {
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&(p.sec.clamp(0, u32::MAX as i64) as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&p.nsec.to_le_bytes());
        rec[8..12].copy_from_slice(&(p.data.len() as u32).to_le_bytes());
        rec[12..16].copy_from_slice(&p.orig_len.to_le_bytes());
        w.write_all(&rec)?;
        w.write_all(&p.data)?;
    }
    w.flush()
}

impl Shared {
    fn note(&self, note: String) {
        self.notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(note);
    }

    /// The timeout signal arrived: unless the body's end is writing the folder already,
    /// write it, say where it is and end the sandbox.
    fn on_timeout(&self, rings: &[Ring]) {
        let Ok(mut done) = self.done.try_lock() else {
            return;
        };
        if *done {
            return;
        }
        let outcome = format!(
            "timed out after {:?} (the sandbox is ended once this folder is written)",
            self.timeout
        );
        let r = self.write_all(rings, &outcome);
        *done = true;
        eprint!("{}", self.failure_message(r.err()));
        // PID 1 of the sandbox: its exit ends every process in it.
        std::process::exit(1);
    }

    /// What the test's output says about the folder, with the topology.
    fn failure_message(&self, error: Option<io::Error>) -> String {
        let mut out = String::new();
        let dir = self.dir.display();
        match error {
            None => {
                let _ = writeln!(out, "netns-test: diagnostics for this failure are in {dir}");
                if let Some(run) = &self.run {
                    let _ = writeln!(
                        out,
                        "netns-test:   written by {run}; a retry writes a folder of its own and keeps this one"
                    );
                }
                let _ = writeln!(
                    out,
                    "netns-test:   <node>.txt: links, addresses, routes, neighbours, sysctls, nftables, \
                     conntrack; <node>-<iface>.pcap: the last packets of each link (tcpdump -nr FILE)"
                );
            }
            Some(e) => {
                let _ = writeln!(
                    out,
                    "netns-test: could not write the diagnostics for this failure to {dir}: {e}"
                );
            }
        }
        let _ = writeln!(out, "netns-test: the test's topology:");
        for line in self.net.summary().lines() {
            let _ = writeln!(out, "    {line}");
        }
        out
    }

    /// Writes the whole folder.
    fn write_all(&self, rings: &[Ring], outcome: &str) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut o = String::new();
        let _ = writeln!(o, "outcome: {outcome}");
        if let Some(run) = &self.run {
            let _ = writeln!(o, "run: {run}");
        }
        let _ = writeln!(
            o,
            "written: unix time {}.{:03}",
            now.as_secs(),
            now.subsec_millis()
        );
        let _ = match &self.capture {
            CaptureState::Off => writeln!(o, "capture: off ({ENV_CAPTURE}=0)"),
            CaptureState::Failed(e) => writeln!(o, "capture: could not start: {e}"),
            CaptureState::On { links, sockets } => writeln!(
                o,
                "capture: {links} links, {sockets} AF_PACKET socket{} (at most the last {RING_PACKETS} packets / {} MiB per link)",
                if *sockets == 1 { "" } else { "s" },
                RING_BYTES >> 20
            ),
        };
        let _ = writeln!(
            o,
            "setup: capture and timeout handler started in {} µs",
            self.setup.get().copied().unwrap_or_default().as_micros()
        );
        for n in self.notes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(o, "note: {n}");
        }
        let _ = writeln!(o, "\nfiles:");
        let _ = writeln!(o, "  {:<20} the planned topology", "topology.txt");
        for node in self.net.nodes() {
            let _ = writeln!(
                o,
                "  {:<20} links, addresses, routes, neighbours, sysctls, nftables, conntrack",
                node_file(node.name())
            );
        }
        for r in rings {
            let _ = writeln!(
                o,
                "  {:<20} link {}: {} packets{}, captured on {}{}",
                r.file_name(),
                r.ends,
                r.packets.len(),
                if r.evicted > 0 {
                    format!(" (the last ones; {} older ones dropped)", r.evicted)
                } else {
                    String::new()
                },
                r.on,
                r.error
                    .as_ref()
                    .map(|e| format!(" [{e}]"))
                    .unwrap_or_default()
            );
        }
        std::fs::write(self.dir.join("outcome.txt"), o)?;
        std::fs::write(self.dir.join("topology.txt"), self.net.summary())?;

        // Fresh netlink sockets on a runtime of our own: the test's runtimes may be stuck.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        for node in self.net.nodes() {
            let text = node_report(node, rings, &rt);
            std::fs::write(self.dir.join(node_file(node.name())), text)?;
        }
        for r in rings {
            let file = std::fs::File::create(self.dir.join(r.file_name()))?;
            // Frames of the two directions can reach the socket slightly out of time
            // order; readers expect a file in time order.
            let mut packets: Vec<&Packet> = r.packets.iter().collect();
            packets.sort_by_key(|p| (p.sec, p.nsec));
            write_pcap(&mut io::BufWriter::new(file), packets.into_iter())?;
        }
        Ok(())
    }
}

/// `<node>.txt`, or `<node>.node.txt` for a node whose name is taken by another file.
fn node_file(node: &str) -> String {
    match node {
        "outcome" | "topology" => format!("{node}.node.txt"),
        _ => format!("{node}.txt"),
    }
}

/// Sysctls that decide how a node forwards and filters.
const SYSCTLS: &[&str] = &[
    "net/ipv4/ip_forward",
    "net/ipv6/conf/all/forwarding",
    "net/ipv4/conf/all/rp_filter",
    "net/ipv4/conf/default/rp_filter",
    "net/ipv4/ping_group_range",
    "net/ipv6/conf/all/disable_ipv6",
    "net/bridge/bridge-nf-call-iptables",
    "net/netfilter/nf_conntrack_count",
];

/// The text file of one node.
fn node_report(node: &Node, rings: &[Ring], rt: &tokio::runtime::Runtime) -> String {
    let mut out = format!("node {}\n", node.name());
    let conn = {
        let _enter = rt.enter();
        sys::in_netns(node.netns(), rtnetlink::new_connection)
    };
    match conn {
        Ok(Ok((conn, handle, _))) => {
            rt.spawn(conn);
            out.push_str(&rt.block_on(netlink_sections(&handle)));
        }
        Ok(Err(e)) | Err(e) => {
            let _ = writeln!(out, "\n(no netlink socket in this node: {e})");
        }
    }
    let in_node = sys::in_netns(node.netns(), || {
        let mut s = String::from("\n-- sysctls\n");
        for key in SYSCTLS {
            let value = std::fs::read_to_string(format!("/proc/sys/{key}"))
                .map(|v| v.trim().replace('\t', " "))
                .unwrap_or_else(|e| match e.kind() {
                    io::ErrorKind::NotFound => "(absent)".to_string(),
                    _ => format!("(unreadable: {e})"),
                });
            let _ = writeln!(s, "  {} = {value}", key.replace('/', "."));
        }
        s.push_str("\n-- nftables (nft list ruleset)\n");
        s.push_str(&indent(&nft_ruleset()));
        s.push_str("\n-- conntrack (conntrack -L)\n");
        s.push_str(&indent(&conntrack_entries()));
        s
    });
    match in_node {
        Ok(s) => out.push_str(&s),
        Err(e) => {
            let _ = writeln!(out, "\n(could not enter the node's netns: {e})");
        }
    }
    let mine: Vec<(&str, &Ring)> = rings
        .iter()
        .flat_map(|r| {
            r.at.iter()
                .filter(|(n, _)| n == node.name())
                .map(move |(_, iface)| (iface.as_str(), r))
        })
        .collect();
    if !mine.is_empty() {
        out.push_str("\n-- capture (the last packets of each link)\n");
        for (iface, r) in mine {
            let _ = write!(
                out,
                "  {iface}: {} packets in {} (link {})",
                r.packets.len(),
                r.file_name(),
                r.ends
            );
            if r.evicted > 0 {
                let _ = write!(out, " ({} older ones dropped from the ring)", r.evicted);
            }
            if let Some(e) = &r.error {
                let _ = write!(out, " [{e}]");
            }
            out.push('\n');
        }
    }
    out
}

fn indent(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let _ = writeln!(out, "  {line}");
    }
    if out.is_empty() {
        out.push_str("  (empty)\n");
    }
    out
}

/// `nft list ruleset` of the calling thread's netns.
fn nft_ruleset() -> String {
    match crate::nft::list() {
        Ok(s) if s.trim().is_empty() => "(no tables)".to_string(),
        Ok(s) => s,
        Err(e) => format!("(could not list the ruleset: {e})"),
    }
}

/// `conntrack -L` of the calling thread's netns.
fn conntrack_entries() -> String {
    match crate::nft::conntrack::list() {
        Ok(entries) if entries.is_empty() => "(no entries)".to_string(),
        Ok(entries) => entries.iter().map(|e| format!("{e}\n")).collect(),
        Err(e) => format!("(could not list the conntrack table: {e})"),
    }
}

fn mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Links, addresses, routes, neighbours and the bridge FDB, as `ip` and `bridge` show them.
async fn netlink_sections(nl: &Handle) -> String {
    let mut out = String::new();
    let links: Result<Vec<LinkMessage>, _> = nl.link().get().execute().try_collect().await;
    let mut names = std::collections::HashMap::new();
    out.push_str("\n-- links (ip link)\n");
    match &links {
        Ok(links) => {
            for l in links {
                let name = l
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        LinkAttribute::IfName(n) => Some(n.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "?".to_string());
                names.insert(l.header.index, name);
            }
            for l in links {
                out.push_str(&link_line(l, &names));
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  (could not list links: {e})");
        }
    }
    let name = |i: u32| names.get(&i).cloned().unwrap_or_else(|| format!("if{i}"));

    out.push_str("\n-- addresses (ip addr)\n");
    match nl
        .address()
        .get()
        .execute()
        .try_collect::<Vec<AddressMessage>>()
        .await
    {
        Ok(addrs) => {
            for a in addrs {
                let ip = a.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Local(ip) => Some(*ip),
                    _ => None,
                });
                let ip = ip.or_else(|| {
                    a.attributes.iter().find_map(|x| match x {
                        AddressAttribute::Address(ip) => Some(*ip),
                        _ => None,
                    })
                });
                if let Some(ip) = ip {
                    let _ = writeln!(
                        out,
                        "  {:<12} {}/{}",
                        name(a.header.index),
                        ip,
                        a.header.prefix_len
                    );
                }
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  (could not list addresses: {e})");
        }
    }

    out.push_str("\n-- routes (ip route; ip -6 route; main table)\n");
    match kernel::routes(nl).await {
        Ok(routes) => {
            for r in routes {
                let dest = if r.dest.prefix_len() == 0 {
                    "default".to_string()
                } else {
                    r.dest.to_string()
                };
                let _ = write!(out, "  {dest}");
                if let Some(via) = r.via {
                    let _ = write!(out, " via {via}");
                }
                if let Some(dev) = r.dev {
                    let _ = write!(out, " dev {}", name(dev));
                }
                out.push('\n');
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  (could not list routes: {e})");
        }
    }

    out.push_str("\n-- neighbours (ip neigh)\n");
    match nl
        .neighbours()
        .get()
        .execute()
        .try_collect::<Vec<NeighbourMessage>>()
        .await
    {
        Ok(neigh) => {
            let mut any = false;
            for n in &neigh {
                let Some(ip) = n.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => {
                        Some(std::net::IpAddr::V4(*ip))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => {
                        Some(std::net::IpAddr::V6(*ip))
                    }
                    _ => None,
                }) else {
                    continue;
                };
                if ip.is_multicast() {
                    continue;
                }
                any = true;
                let _ = write!(out, "  {ip} dev {}", name(n.header.ifindex));
                if let Some(ll) = n.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::LinkLayerAddress(m) => Some(m),
                    _ => None,
                }) {
                    let _ = write!(out, " lladdr {}", mac(ll));
                }
                let _ = writeln!(out, " {}", format!("{:?}", n.header.state).to_uppercase());
            }
            if !any {
                out.push_str("  (none)\n");
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  (could not list neighbours: {e})");
        }
    }

    let has_bridge = links.as_ref().is_ok_and(|ls| {
        ls.iter().any(|l| {
            l.attributes.iter().any(|a| {
                matches!(a, LinkAttribute::LinkInfo(i) if i.iter().any(|x| matches!(x, LinkInfo::Kind(k) if k.to_string() == "bridge")))
            })
        })
    });
    if has_bridge {
        out.push_str("\n-- bridge forwarding database (bridge fdb; learned unicast entries)\n");
        match nl
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Bridge)
            .execute()
            .try_collect::<Vec<NeighbourMessage>>()
            .await
        {
            Ok(fdb) => {
                let mut any = false;
                for n in &fdb {
                    let Some(ll) = n.attributes.iter().find_map(|a| match a {
                        NeighbourAttribute::LinkLayerAddress(m) => Some(m),
                        _ => None,
                    }) else {
                        continue;
                    };
                    let permanent = format!("{:?}", n.header.state) == "Permanent";
                    if ll.first().is_some_and(|b| b & 1 == 1) || permanent {
                        continue;
                    }
                    any = true;
                    let _ = write!(out, "  {} port {}", mac(ll), name(n.header.ifindex));
                    if let Some(m) = n.attributes.iter().find_map(|a| match a {
                        NeighbourAttribute::Controller(m) => Some(*m),
                        _ => None,
                    }) {
                        let _ = write!(out, " master {}", name(m));
                    }
                    out.push('\n');
                }
                if !any {
                    out.push_str("  (none learned)\n");
                }
            }
            Err(e) => {
                let _ = writeln!(out, "  (could not list the FDB: {e})");
            }
        }
    }
    out
}

/// One line of `ip -s link`.
fn link_line(l: &LinkMessage, names: &std::collections::HashMap<u32, String>) -> String {
    let mut s = format!("  {}: ", l.header.index);
    let mut name = String::from("?");
    let mut kind = String::new();
    let mut tail = String::new();
    let (mut oper, mut mtu, mut addr, mut master, mut peer, mut stats) =
        (None, None, None, None, None, None);
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::OperState(st) => oper = Some(st.to_string()),
            LinkAttribute::Mtu(m) => mtu = Some(*m),
            LinkAttribute::Address(m) => addr = Some(mac(m)),
            LinkAttribute::Controller(m) => master = Some(*m),
            LinkAttribute::Link(p) => peer = Some(*p),
            LinkAttribute::Stats64(st) => stats = Some(*st),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        kind = k.to_string();
                    }
                }
            }
            _ => {}
        }
    }
    let _ = write!(s, "{name:<12}");
    if !kind.is_empty() {
        let _ = write!(s, " {kind:<6}");
    }
    let admin = if l.header.flags.contains(LinkFlags::Up) {
        "up"
    } else {
        "DOWN"
    };
    let _ = write!(
        s,
        " admin {admin} oper {}",
        oper.unwrap_or_else(|| "?".into())
    );
    if let Some(m) = mtu {
        let _ = write!(s, " mtu {m}");
    }
    if let Some(a) = addr {
        let _ = write!(s, " mac {a}");
    }
    if let Some(m) = master {
        let _ = write!(
            s,
            " master {}",
            names.get(&m).cloned().unwrap_or_else(|| format!("if{m}"))
        );
    }
    if let Some(p) = peer.filter(|&p| p != l.header.index) {
        let _ = write!(s, " peer-ifindex {p}");
    }
    if let Some(st) = stats {
        let _ = write!(
            tail,
            "\n      rx {} pkts {} bytes {} dropped {} errors; tx {} pkts {} bytes {} dropped {} errors",
            st.rx_packets,
            st.rx_bytes,
            st.rx_dropped,
            st.rx_errors,
            st.tx_packets,
            st.tx_bytes,
            st.tx_dropped,
            st.tx_errors
        );
    }
    s.push_str(&tail);
    s.push('\n');
    s
}

fn keeps(keep: bool) -> bool {
    keep || env_flag(ENV_KEEP) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_and_the_target_dir() {
        assert_eq!(dir_name("it::fixtures::a_test"), "it__fixtures__a_test");
        assert_eq!(
            target_dir(Path::new("/w/target/debug/deps/it-0123abcd")),
            Some(PathBuf::from("/w/target"))
        );
        assert_eq!(
            target_dir(Path::new(
                "/w/target/x86_64-unknown-linux-gnu/release/deps/it-1"
            )),
            Some(PathBuf::from("/w/target/x86_64-unknown-linux-gnu"))
        );
        assert_eq!(target_dir(Path::new("/tmp/it-1")), None);
    }

    fn nextest(attempt: u32, stress: Option<u32>, ws: &str) -> Runner {
        Runner {
            attempt: Some(attempt),
            total_attempts: Some(3),
            stress,
            run_id: Some("0f4e".to_string()),
            workspace_root: Some(PathBuf::from(ws)),
        }
    }

    #[test]
    fn each_attempt_and_stress_iteration_has_its_own_folder() {
        let exe = Path::new("/w/target/debug/deps/it-1");
        let at = |runner: &Runner| Location::new("it::a", None, Some(exe), None, runner);
        // Plain cargo test, and nextest's first attempt: the folder as always.
        let plain = at(&Runner::default());
        assert_eq!(plain.dir, PathBuf::from("/w/target/netns-test/it__a"));
        assert!(plain.first);
        assert_eq!(at(&nextest(1, None, "/w")).dir, plain.dir);
        assert!(at(&nextest(1, None, "/w")).first);
        // A retry: a folder of its own, and it clears nothing but its own.
        let retry = at(&nextest(2, None, "/w"));
        assert_eq!(
            retry.dir,
            PathBuf::from("/w/target/netns-test/it__a.attempt-2")
        );
        assert!(!retry.first);
        // Stress iterations: one folder each; only iteration 0's first attempt clears.
        let s0 = at(&nextest(1, Some(0), "/w"));
        assert_eq!(s0.dir, PathBuf::from("/w/target/netns-test/it__a.stress-0"));
        assert!(s0.first);
        let s3 = at(&nextest(2, Some(3), "/w"));
        assert_eq!(
            s3.dir,
            PathBuf::from("/w/target/netns-test/it__a.stress-3.attempt-2")
        );
        assert!(!s3.first);
        assert_eq!(
            nextest(2, None, "/w").describe().as_deref(),
            Some("attempt 2 of 3 of nextest run 0f4e")
        );
        assert_eq!(Runner::default().describe(), None);
    }

    #[test]
    fn nextest_variables_count_only_for_the_test_nextest_started() {
        let env = |name: &'static str| {
            move |k: &str| match k {
                "NEXTEST_ATTEMPT" => Some("2".to_string()),
                "NEXTEST_TOTAL_ATTEMPTS" => Some("3".to_string()),
                "NEXTEST_STRESS_CURRENT" => Some("none".to_string()),
                "NEXTEST_RUN_ID" => Some("0f4e".to_string()),
                "NEXTEST_WORKSPACE_ROOT" => Some("/w".to_string()),
                "NEXTEST_TEST_NAME" => Some(name.to_string()),
                _ => None,
            }
        };
        // The test nextest started: an integration test's path starts with its crate.
        let own = Runner::new("it::fixtures::a", &env("fixtures::a"));
        assert_eq!(own, nextest(2, None, "/w"));
        // A test binary run by another test inherits that test's variables: not its own.
        let child = Runner::new("it::fixtures::a", &env("runs_the_fixture"));
        assert_eq!(child.attempt, None);
        assert_eq!(child.run_id, None);
        assert_eq!(child.workspace_root, Some(PathBuf::from("/w")));
        // A name that only ends like the test's is another test.
        assert_eq!(Runner::new("it::fixtures::a", &env("a")).attempt, None);
        assert_eq!(Runner::new("it::fixtures::aa", &env("a")).attempt, None);
        // A unit test: the path is the crate's, then libtest's name.
        let unit = Runner::new("netns_test::diag::tests::t", &env("diag::tests::t"));
        assert_eq!(unit.attempt, Some(2));
        // No NEXTEST_TEST_NAME (older nextest): the variables are taken as this test's.
        let old = Runner::new("it::a", &|k: &str| match k {
            "NEXTEST_ATTEMPT" => Some("2".to_string()),
            _ => None,
        });
        assert_eq!(old.attempt, Some(2));
    }

    #[test]
    fn the_root_under_an_archive_is_the_workspace_not_the_extraction_folder() {
        let root = |artifacts: Option<&str>, exe: &str, ctd: Option<&str>, ws: Option<&str>| {
            let runner = match ws {
                Some(ws) => nextest(1, None, ws),
                None => Runner::default(),
            };
            Location::new(
                "it::a",
                artifacts.map(std::ffi::OsStr::new),
                Some(Path::new(exe)),
                ctd.map(Path::new),
                &runner,
            )
            .root
        };
        // Run from an archive: the binaries sit in nextest's temporary extraction folder.
        assert_eq!(
            root(
                None,
                "/tmp/nextest-archive-x1/target/debug/deps/it-1",
                None,
                Some("/ci/ws")
            ),
            PathBuf::from("/ci/ws/target/netns-test")
        );
        // An ordinary nextest run: the target dir inside the workspace.
        assert_eq!(
            root(None, "/w/target/debug/deps/it-1", None, Some("/w")),
            PathBuf::from("/w/target/netns-test")
        );
        // A target dir outside the workspace, named by CARGO_TARGET_DIR: kept.
        assert_eq!(
            root(
                None,
                "/cache/t/debug/deps/it-1",
                Some("/cache/t"),
                Some("/w")
            ),
            PathBuf::from("/cache/t/netns-test")
        );
        // cargo test with a target dir anywhere: the binary's target dir.
        assert_eq!(
            root(None, "/cache/t/debug/deps/it-1", None, None),
            PathBuf::from("/cache/t/netns-test")
        );
        // NETNS_TEST_ARTIFACTS wins over everything.
        assert_eq!(
            root(
                Some("/art"),
                "/tmp/nextest-archive-x1/target/debug/deps/it-1",
                None,
                Some("/ci/ws")
            ),
            PathBuf::from("/art")
        );
        // A binary outside any target dir, outside nextest: the temporary directory.
        assert_eq!(
            root(None, "/tmp/bin/it-1", None, None),
            std::env::temp_dir().join("netns-test")
        );
    }

    #[test]
    fn a_retry_never_removes_the_folder_of_the_attempt_before_it() {
        let root =
            std::env::temp_dir().join(format!("netns-test-diag-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let make = |name: &str| {
            std::fs::create_dir_all(root.join(name)).unwrap();
            std::fs::write(root.join(name).join("outcome.txt"), "x").unwrap();
        };
        let exists = |name: &str| root.join(name).exists();
        let art = root.clone().into_os_string();
        let at = |runner: &Runner| Location::new("it::a", Some(&art), None, None, runner);
        for name in [
            "it__a",
            "it__a.attempt-2",
            "it__a.stress-1",
            "it__a_b",
            "it__a.attempt-3",
        ] {
            make(name);
        }
        // The second attempt clears only its own stale folder.
        assert_eq!(
            at(&nextest(2, None, "/w")).clear_stale(),
            Vec::<String>::new()
        );
        assert!(exists("it__a") && !exists("it__a.attempt-2") && exists("it__a.attempt-3"));
        // The first attempt of a new run clears every folder of the test, and no other.
        make("it__a.attempt-2");
        at(&nextest(1, None, "/w")).clear_stale();
        for gone in [
            "it__a",
            "it__a.attempt-2",
            "it__a.attempt-3",
            "it__a.stress-1",
        ] {
            assert!(!exists(gone), "{gone} was left");
        }
        assert!(exists("it__a_b"), "another test's folder was removed");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_ring_keeps_the_last_packets_within_its_bounds() {
        let mut r = Ring::new(("a", "eth0"), ("host", "a-eth0"));
        for i in 0..(RING_PACKETS + 5) {
            r.push(Packet {
                sec: i as i64,
                nsec: 0,
                orig_len: 60,
                data: vec![0u8; 60].into(),
            });
        }
        assert_eq!(r.packets.len(), RING_PACKETS);
        assert_eq!(r.evicted, 5);
        assert_eq!(r.packets.front().map(|p| p.sec), Some(5));
        let mut big = Ring::new(("a", "eth0"), ("host", "a-eth0"));
        for _ in 0..10 {
            big.push(Packet {
                sec: 0,
                nsec: 0,
                orig_len: 1 << 20,
                data: vec![0u8; 1 << 20].into(),
            });
        }
        assert!(big.bytes <= RING_BYTES, "{}", big.bytes);
        assert_eq!(big.packets.len(), 4);
    }

    #[test]
    fn pcap_layout() {
        let p = Packet {
            sec: 1_700_000_000,
            nsec: 123_456_789,
            orig_len: 100,
            data: vec![0xab; 60].into(),
        };
        let mut out = Vec::new();
        write_pcap(&mut out, [&p].into_iter()).unwrap();
        assert_eq!(out.len(), 24 + 16 + 60);
        assert_eq!(&out[0..4], &0xa1b2_3c4du32.to_le_bytes());
        assert_eq!(&out[20..24], &1u32.to_le_bytes());
        assert_eq!(&out[24..28], &1_700_000_000u32.to_le_bytes());
        assert_eq!(&out[28..32], &123_456_789u32.to_le_bytes());
        assert_eq!(&out[32..36], &60u32.to_le_bytes());
        assert_eq!(&out[36..40], &100u32.to_le_bytes());
    }
}
