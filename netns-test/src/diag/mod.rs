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
//! (`artifacts_root` in [`folder`]).
//!
//! What:
//! - `outcome.txt`: why it was written, when, and what the capture kept;
//! - `topology.txt`: the plan's one-screen summary ([`Net::summary`]);
//! - `report.html`: one self-contained page ([`html`]): the topology drawn, the failure,
//!   each node's addresses, routes, nftables, conntrack and sockets (`ss -tunap`, over
//!   `sock_diag`, with the owning processes), and a packet timeline per link with links to
//!   its pcap;
//! - `<node>.txt`: links, addresses, routes, neighbours (and the bridge FDB), the sysctls
//!   that decide forwarding, the nftables ruleset and the conntrack table, as the kernel had
//!   them at the moment of the failure, and its sockets;
//! - `<node>-<iface>.pcap`: the last packets of every link (veth pair), named after the
//!   end that is not a bridge port (`a-eth0.pcap` for container `a` on a bridge) or the
//!   first end of a point-to-point link; at most [`RING_PACKETS`] packets or [`RING_BYTES`]
//!   bytes each; classic pcap, Ethernet, nanosecond timestamps (`tcpdump -nr FILE`,
//!   Wireshark), written by [`pcap`] without a pcap crate.
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
//!
//! Files: this one holds [`Diag`] (start, passed, failed) and the folder's writing;
//! [`folder`] where the folder is and what an execution clears; [`capture`] the packet
//! sockets, their thread and rings; [`pcap`] the pcap files; [`dump`] each node's text,
//! its kernel reading (`read_*`) apart from its text (`render_*`).

use std::fmt::Write as _;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::net::Net;
use crate::sys;

mod capture;
mod decode;
mod dump;
mod folder;
mod html;
mod pcap;

use self::capture::{capture_loop, open_capture, Capture, Packet, Ring, RING_BYTES, RING_PACKETS};
use self::dump::{node_report, read_node};
use self::folder::{node_file, Location, Runner};
use self::pcap::write_pcap;

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
    /// The test's path (`module_path!()::name`).
    test: String,
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

/// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`; anything else counts as unset.
fn env_flag(name: &str) -> Option<bool> {
    let v = std::env::var(name).ok()?;
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl Diag {
    /// Removes a stale folder of this test and starts the capture (unless
    /// `NETNS_TEST_CAPTURE=0`) and the timeout handler. Never fails the test: a capture that
    /// cannot start is reported in the dump.
    /// With `dump_on_signal` (the sandbox's child, whose parent keeps the clock),
    /// [`DUMP_SIGNAL`] makes the capture thread write the folder; the harness mode, which
    /// keeps its own clock, needs no handler (and installs none per test).
    pub(crate) fn start(path: &str, timeout: Duration, net: &Net, dump_on_signal: bool) -> Diag {
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
            if dump_on_signal {
                let for_signal = w.try_clone()?;
                sys::on_signal_write_byte(DUMP_SIGNAL, OwnedFd::from(for_signal))?;
            }
            Ok((r, w))
        });
        if let Err(e) = &wake {
            notes.push(format!(
                "no capture thread ({e}): no packets, and a timeout leaves no diagnostics"
            ));
        }
        let shared = Arc::new(Shared {
            dir,
            test: path.to_string(),
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
                let _ = writeln!(
                    out,
                    "netns-test:   report.html: all of it in one page, with the topology drawn (open it in a browser)"
                );
            }
            Some(e) => {
                let _ = writeln!(
                    out,
                    "netns-test: could not write the diagnostics for this failure to {dir}: {e}"
                );
            }
        }
        if self.net.seed_used() {
            let seed = self.net.seed();
            let _ = writeln!(
                out,
                "netns-test: random link conditions drew from seed {seed}: {}={seed} replays the same draws for the same traffic",
                crate::net::SEED_ENV
            );
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
        let _ = writeln!(
            o,
            "  {:<20} all of it in one page: topology, failure, nodes, sockets, packet timelines",
            "report.html"
        );
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
        let owners = crate::kernel::sockets::socket_owners();
        let states: Vec<_> = self
            .net
            .nodes()
            .iter()
            .map(|node| read_node(node, &owners, &rt))
            .collect();
        for state in &states {
            let text = node_report(state, rings);
            std::fs::write(self.dir.join(node_file(&state.name)), text)?;
        }
        let state = self.net.state();
        let notes = html::Notes {
            matrix: state
                .matrix_mismatch
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            conditions: state
                .link_conditions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        };
        let page = html::render(&self.test, outcome, self.net.plan(), &states, rings, &notes);
        std::fs::write(self.dir.join("report.html"), page)?;
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

fn keeps(keep: bool) -> bool {
    keep || env_flag(ENV_KEEP) == Some(true)
}
