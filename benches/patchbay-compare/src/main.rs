//! The driver: the same lab built by patchbay 0.7 and by netns-test, each sample a fresh
//! process, and a markdown block of both sides' figures and their ratio on stdout.
//!
//! ```sh
//! scripts/compare-patchbay.sh    # builds, runs this as an ordinary user, prints the block
//! ```
//!
//! Each sample is one whole process of a fixture (`patchbay-lab`, `netns-test-lab`,
//! beside this binary): it builds the lab, does the UDP exchange of `patchbay_compare`
//! (alice -> relay -> bob through both NATs), checks it and tears the lab down. The rules
//! are those of the project's perf benchmark (`netns-test/benches/perf/main.rs`):
//!
//! - A sample is timed from its start to the exit of its last descendant (this driver is
//!   their subreaper and waits for every one), with the CPU time of all of them beside it.
//! - Before every sample, whatever it is, the driver waits the same settle time
//!   (`NETNS_PERF_SETTLE_MS`, default 100), so that the kernel has freed the previous
//!   sample's namespaces; the fixtures alternate, each in turn first.
//! - Medians and p10 / p90 of `PATCHBAY_COMPARE_SAMPLES` samples each (default 15, at
//!   least 10); the ratio's spread is p10 of patchbay over p90 of netns-test, and p90 over
//!   p10.
//!
//! A fixture that fails (patchbay's lab needs `nft` in `/usr/sbin` or on `PATH`, and user
//! namespaces) is reported in the block with its output, and the driver exits 1.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A sample that runs longer than this is killed and counts as a failure.
const DEADLINE: Duration = Duration::from_secs(120);
/// The target: netns-test at least this many times faster per lab.
const TARGET: f64 = 10.0;
const HARNESS: &str = "PATCHBAY_COMPARE_HARNESS";
const CAPTURE: &str = "NETNS_TEST_CAPTURE";

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Patchbay,
    Default,
    NoCapture,
    Harness,
}

impl Side {
    const ALL: [Side; 4] = [
        Side::Patchbay,
        Side::Default,
        Side::NoCapture,
        Side::Harness,
    ];

    fn label(self) -> &'static str {
        match self {
            Side::Patchbay => "patchbay 0.7.0 (`Lab::new`, presets `PublicV4` / `Home` v4-only)",
            Side::Default => "netns-test, `#[netns_test]` default mode (as under `cargo test`)",
            Side::NoCapture => "netns-test, default mode, capture off (`NETNS_TEST_CAPTURE=0`)",
            Side::Harness => "netns-test, harness mode (`netns_test::main!()`)",
        }
    }

    fn command(self, dir: &Path) -> Command {
        match self {
            Side::Patchbay => Command::new(dir.join("patchbay-lab")),
            Side::Default | Side::NoCapture | Side::Harness => {
                let mut c = Command::new(dir.join("netns-test-lab"));
                c.args(["two_home_routers", "--exact", "--nocapture"]);
                // The capture (every link's last packets, for a failure's diagnostics)
                // is on by default; patchbay has none.
                c.env(CAPTURE, if self == Side::NoCapture { "0" } else { "1" });
                if self == Side::Harness {
                    c.env(HARNESS, "1");
                }
                c
            }
        }
    }
}

/// One whole process: wall time to its last descendant's exit, CPU of all of them.
struct Sample {
    exit_ms: f64,
    cpu_ms: f64,
}

fn mono_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write to.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    assert_eq!(rc, 0, "clock_gettime");
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// CPU time of this process's reaped descendants, in ms.
fn children_cpu_ms() -> f64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid rusage to write to.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    assert_eq!(rc, 0, "getrusage");
    let t = |tv: libc::timeval| tv.tv_sec as f64 * 1e3 + tv.tv_usec as f64 / 1e3;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Waits for every descendant left (the driver is their subreaper).
fn reap_all() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status to a valid int.
        let rc = unsafe { libc::waitpid(-1, &mut status, 0) };
        if rc < 0 {
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ECHILD) => return,
                e => panic!("waitpid: {e:?}"),
            }
        }
    }
}

fn settle_time() -> Duration {
    Duration::from_millis(env_num("NETNS_PERF_SETTLE_MS", 100))
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Waits the settle time and runs one sample; `Err` holds what the process printed (and
/// how it ended) when it failed or did not print the exchange's line.
fn run(side: Side, dir: &Path, out_dir: &Path) -> Result<Sample, String> {
    std::thread::sleep(settle_time());
    let out_path = out_dir.join("sample.out");
    let out = std::fs::File::create(&out_path).map_err(|e| format!("{out_path:?}: {e}"))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = side.command(dir);
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let cpu = children_cpu_ms();
    let started = mono_ns();
    let mut child = cmd.spawn().map_err(|e| format!("starting {cmd:?}: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let (done, dog) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = dog.recv_timeout(DEADLINE) {
            // SAFETY: kill with a pid this process started and has not reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let status = child.wait();
    drop(done);
    watchdog.join().expect("watchdog");
    reap_all();
    let exited = mono_ns();
    let cpu_ms = children_cpu_ms() - cpu;
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    match status {
        Ok(s) if s.success() && text.contains("udp exchange: ok") => Ok(Sample {
            exit_ms: (exited - started) as f64 / 1e6,
            cpu_ms,
        }),
        Ok(s) => Err(format!("{cmd:?} ended with {s}:\n{text}")),
        Err(e) => Err(format!("waiting for {cmd:?}: {e}\n{text}")),
    }
}

fn pct(v: &[f64], p: usize) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn file(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn host() -> String {
    let cpuinfo = file("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let gib = file("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|k| k.parse::<f64>().ok())
        .map_or(0.0, |k| k / 1024.0 / 1024.0);
    let date = Command::new("date")
        .args(["-u", "+%F"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    format!(
        "Host: {cpu}, {} CPUs (nproc), {gib:.0} GiB, Linux {}; run as user {} on {date}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        file("/proc/sys/kernel/osrelease").trim(),
        std::env::var("USER").unwrap_or_else(|_| format!("uid {uid}")),
    )
}

fn loadavg() -> String {
    file("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let dir: PathBuf = std::env::current_exe()
        .expect("own path")
        .parent()
        .expect("own folder")
        .to_path_buf();
    let n = env_num("PATCHBAY_COMPARE_SAMPLES", 15).max(10) as usize;
    let out_dir = std::env::temp_dir().join(format!("patchbay-compare.{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).expect("a folder for the samples' output");
    // Every descendant of a sample, orphaned or not, is reaped here: a sample ends with
    // the last of them.
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer argument.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "PR_SET_CHILD_SUBREAPER");
    let load_before = loadavg();

    // Warm-up (page cache, the user's first namespaces), and the check that each side
    // runs at all: a side that fails here is not sampled.
    let mut failed: Vec<(Side, String)> = vec![];
    for side in Side::ALL {
        for _ in 0..2 {
            if let Err(e) = run(side, &dir, &out_dir) {
                eprintln!("patchbay-compare: {} failed:\n{e}", side.label());
                failed.push((side, e));
                break;
            }
        }
    }
    let live: Vec<Side> = Side::ALL
        .into_iter()
        .filter(|s| !failed.iter().any(|(f, _)| f == s))
        .collect();
    let mut samples: Vec<Vec<Sample>> = Side::ALL.iter().map(|_| vec![]).collect();
    for i in 0..n {
        eprintln!("patchbay-compare: sample {}/{n}", i + 1);
        // Each in turn first.
        for k in 0..live.len() {
            let side = live[(i + k) % live.len()];
            let at = Side::ALL.iter().position(|s| *s == side).expect("a side");
            match run(side, &dir, &out_dir) {
                Ok(s) => samples[at].push(s),
                Err(e) => {
                    eprintln!("patchbay-compare: {} failed:\n{e}", side.label());
                    failed.push((side, e));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out_dir);

    let mut page = String::new();
    let w = &mut page;
    let _ = writeln!(
        w,
        "{}.\n{n} samples of each, interleaved, {} ms settle before every sample; \
         load average {load_before} before, {} after.\n",
        host(),
        settle_time().as_millis(),
        loadavg()
    );
    let _ = writeln!(
        w,
        "| one fresh process: build the lab, UDP alice -> relay -> bob, tear down | \
         median ms | p10 / p90 ms | CPU median ms |"
    );
    let _ = writeln!(w, "| --- | --- | --- | --- |");
    let exit = |v: &[Sample]| v.iter().map(|s| s.exit_ms).collect::<Vec<_>>();
    for (side, v) in Side::ALL.iter().zip(&samples) {
        if v.is_empty() {
            let _ = writeln!(w, "| {} | failed | | |", side.label());
            continue;
        }
        let e = exit(v);
        let cpu: Vec<f64> = v.iter().map(|s| s.cpu_ms).collect();
        let _ = writeln!(
            w,
            "| {} | **{}** | {} / {} | {} |",
            side.label(),
            num(pct(&e, 50)),
            num(pct(&e, 10)),
            num(pct(&e, 90)),
            num(pct(&cpu, 50)),
        );
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| ratio (wall time to the last exit) | median | spread | target | verdict | CPU ratio, median |\n\
         | --- | --- | --- | --- | --- | --- |");
    let pb = exit(&samples[0]);
    let cpu = |v: &[Sample]| pct(&v.iter().map(|s| s.cpu_ms).collect::<Vec<_>>(), 50);
    for (side, v) in Side::ALL.iter().zip(&samples).skip(1) {
        let nt = exit(v);
        let name = format!("patchbay / {}", side.label());
        if pb.is_empty() || nt.is_empty() {
            let _ = writeln!(
                w,
                "| {name} | | | >= {TARGET} | not measured: a side failed | |"
            );
            continue;
        }
        let r = pct(&pb, 50) / pct(&nt, 50);
        let verdict = if r >= TARGET { "met" } else { "NOT met" };
        let _ = writeln!(
            w,
            "| {name} | **{}** | {} / {} | >= {TARGET} | {verdict} | {} |",
            num(r),
            num(pct(&pb, 10) / pct(&nt, 90)),
            num(pct(&pb, 90) / pct(&nt, 10)),
            num(cpu(&samples[0]) / cpu(v)),
        );
    }
    for (side, e) in &failed {
        let _ = writeln!(
            w,
            "\n**{} failed**:\n\n```text\n{}\n```",
            side.label(),
            e.trim()
        );
    }
    println!("{page}");
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
