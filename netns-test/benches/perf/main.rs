//! Every performance figure of netns-test, with its same-run baseline and its target:
//!
//! ```sh
//! scripts/bench.sh                                    # everything; regenerates BENCHMARKS.md
//! cargo bench -p netns-test --bench perf              # everything, 3 rounds
//! cargo bench -p netns-test --bench perf -- nat topo  # some sections
//! NETNS_PERF_ROUNDS=1 NETNS_PERF_QUICK=1 cargo bench -p netns-test --bench perf  # smoke
//! ```
//!
//! Run it as an ordinary user: the toolchain's user may build it (`cargo bench --no-run`)
//! and another run the binary with `--bench` (with `NETNS_PERF_RECIPE` naming a copy of
//! `scripts/nat-lab-recipe.sh` it can read).
//!
//! The binary is the driver and its own fixtures. The driver (no argument but the
//! sections) runs each section once per round, then prints a markdown page of every
//! figure: each round's value, their median, the spread of the samples, and for a figure
//! with a target ([`report::rows`]) the target and whether the median meets it. It writes
//! the page to `NETNS_PERF_OUT` too (default `target/perf/BENCHMARKS.generated.md`);
//! `scripts/bench.sh` puts it into `BENCHMARKS.md`.
//!
//! The rules every comparison follows:
//!
//! - A process is timed from its start to the exit of its last descendant (the driver is
//!   their subreaper and waits for every one), with the CPU time of all of them beside
//!   it; when its runner was released is a figure of its own.
//! - Before every process sample, whatever it is, the driver waits the same settle time
//!   (`NETNS_PERF_SETTLE_MS`, default 100), so that the kernel has freed the previous
//!   sample's namespaces; samples of the things compared alternate, each in turn first.
//! - A build and its kernel floor run in the same process, on the same threads (the
//!   calling thread and one runtime worker), both making every namespace in place (the
//!   framework's pool of namespaces made ahead is off: `NETNS_TEST_POOL=0`), both waiting
//!   for every link to be up on the same schedule (the floor's wait is a figure of its
//!   own). What the pool saves is measured on its own, with the pool on.
//!
//! Sections:
//!
//! - `overhead`: a whole test process, default mode: `unshare -Urn true` (the kernel
//!   floor of a process in new user + net namespaces), a plain test with an empty body
//!   (the baseline), and an empty `#[netns_test]` (its sandbox re-executes the binary, as
//!   under libtest), samples interleaved.
//! - `harness`: 100 empty `#[netns_test]`s in harness mode in one process, against 100
//!   empty plain tests in one process: the difference per test.
//! - `nat`: the NAT lab (`nat_lan_wan(2)`, one TCP connection from each LAN host) as one
//!   whole fresh process, default and harness mode, capture on and off, against
//!   `scripts/nat-lab-recipe.sh` (the tutorials' `ip`/`nft` commands under
//!   `unshare -Urnm`); and the phases of the lab's process.
//! - `topo`: each reference topology built by [`netns_test::Lab::build`] against its
//!   kernel floor ([`floor`]), samples alternating, in one process; with 10 to 1000 nodes
//!   on one bridge, the per-node curve; a plain and an impairable link; then the small
//!   topologies again with the pool on.
//! - `teardown`: 200 nodes on a bridge built on a settled kernel, and right after a
//!   1000-node network was dropped.
//! - `throughput`: 50 two-node tests with a TCP connection each, bridge-free and on a
//!   bridge, in both modes at the default test threads, teardown included; against raw
//!   build (links up) + drop cycles of the same networks on as many threads.
//! - `memory`: threads and resident memory of a process holding a network of 10 and of
//!   200 idle nodes.
//! - `nft`: a NAT ruleset applied as one netlink batch, first in a namespace and again,
//!   against the `nft` binary.
//! - `spawn`: a program started in a node, its first and later ones, against an ordinary
//!   start.
//! - `natclass`: the NAT classifier behind a home router, alone and followed by one UDP
//!   hole punch between two home routers (target: under 100 ms).
//!
//! `NETNS_PERF_QUICK=1` is a smoke run: fewer samples, the big topologies (500 and 1000
//! nodes, 200 routers) left out and the teardown section at 50 and 200 nodes; it checks
//! that every figure is produced, not what it is.
//!
//! With `--lab SECTION` it is the fixture process of an in-process section; with
//! `NETNS_PERF_HARNESS=1` it runs its `#[netns_test]`s in harness mode; without
//! `--bench` (which `cargo bench` passes) it is a test binary: libtest arguments, its
//! tests in the default mode.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Trial};
use netns_test::topology::Plan;
use netns_test::{presets, Lab, Topology};

mod floor;
mod report;
mod suite;

use suite::mono_ns;

const ENV_HARNESS: &str = "NETNS_PERF_HARNESS";
const SECTIONS: [&str; 10] = [
    "overhead",
    "harness",
    "nat",
    "topo",
    "teardown",
    "throughput",
    "memory",
    "nft",
    "spawn",
    "natclass",
];

fn main() {
    if std::env::var_os(ENV_HARNESS).is_some() {
        netns_test::harness::main();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--lab") {
        lab_section(&args[1]);
        return;
    }
    // `cargo bench` passes `--bench` (after any sections given after `--`); without it,
    // the binary is a test binary like any other, its tests run in the default mode.
    let bench = args.iter().any(|a| a == "--bench");
    let sections: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--bench")
        .collect();
    if bench && sections.iter().all(|s| SECTIONS.contains(s)) {
        drive(if sections.is_empty() {
            SECTIONS.to_vec()
        } else {
            sections
        });
        return;
    }
    libtest_mimic::run(&Arguments::from_args(), default_mode_trials()).exit();
}

/// The default mode: every registered test as the attribute's `#[test]` runs it (a
/// sandbox process per test), and 100 plain tests with an empty body.
fn default_mode_trials() -> Vec<Trial> {
    let plain = (0..100).map(|i| Trial::test(format!("plain::t{i:02}"), || Ok(())));
    let registered = netns_test::harness::tests().into_iter().map(|t| {
        Trial::test(t.name(), move || {
            t.run();
            Ok(())
        })
    });
    plain.chain(registered).collect()
}

// ---------------------------------------------------------------------------------------
// The driver.

/// Whether this is a smoke run (`NETNS_PERF_QUICK=1`).
fn quick() -> bool {
    std::env::var("NETNS_PERF_QUICK").is_ok_and(|v| !matches!(v.as_str(), "" | "0"))
}

/// `full` samples, or a third of them (at least 3) in a smoke run.
fn samples(full: usize) -> usize {
    if quick() {
        (full / 3).max(3)
    } else {
        full
    }
}

/// The wait before every process sample (`NETNS_PERF_SETTLE_MS`, default 100 ms).
fn settle_time() -> Duration {
    Duration::from_millis(
        std::env::var("NETNS_PERF_SETTLE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100),
    )
}

/// Each figure's value per round, and the samples behind it, of every round.
#[derive(Default)]
struct Figures {
    rounds: BTreeMap<String, Vec<f64>>,
    samples: BTreeMap<String, Vec<f64>>,
}

impl Figures {
    fn add(&mut self, key: &str, value: f64) {
        self.rounds.entry(key.to_string()).or_default().push(value);
    }
    /// Adds a round's samples, and their median as the round's value, which it returns.
    fn add_samples(&mut self, key: &str, values: Vec<f64>) -> f64 {
        let m = median_f(values.clone());
        self.samples
            .entry(key.to_string())
            .or_default()
            .extend(values);
        self.add(key, m);
        m
    }
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn exe() -> std::path::PathBuf {
    std::env::current_exe().expect("own path")
}

/// One whole process, timed from its start to the exit of its last descendant.
struct Run {
    /// Until the process itself exited and its output was closed: the runner is released.
    release_ms: f64,
    /// Until its last descendant exited.
    exit_ms: f64,
    /// User + system CPU time of the process and all its descendants.
    cpu_ms: f64,
    /// Its start and the release, [`mono_ns`].
    started: u64,
    released: u64,
    out: String,
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
    use nix::errno::Errno;
    loop {
        match nix::sys::wait::waitpid(None, None) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(Errno::ECHILD) => return,
            Err(e) => panic!("waitpid: {e}"),
        }
    }
}

/// Waits the settle time, runs `cmd` as a whole process ([`Run`]); panics, with its
/// output, if it fails.
fn run(cmd: &mut Command) -> Run {
    std::thread::sleep(settle_time());
    let cpu = children_cpu_ms();
    let started = mono_ns();
    let out = cmd.output().expect("starting a sample");
    let released = mono_ns();
    reap_all();
    let exited = mono_ns();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "sample {cmd:?} failed:\n{text}");
    Run {
        release_ms: (released - started) as f64 / 1e6,
        exit_ms: (exited - started) as f64 / 1e6,
        cpu_ms: children_cpu_ms() - cpu,
        started,
        released,
        out: text,
    }
}

fn fixture(args: &[&str]) -> Command {
    let mut c = Command::new(exe());
    c.args(args);
    c
}

fn harness(args: &[&str]) -> Command {
    let mut c = fixture(args);
    c.env(ENV_HARNESS, "1");
    c
}

fn unshare_true() -> Command {
    let mut c = Command::new("unshare");
    c.args(["-Urn", "true"]);
    c
}

fn drive(sections: Vec<&str>) {
    let rounds: usize = std::env::var("NETNS_PERF_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    // Every descendant of a sample, orphaned or not, is reaped here: a sample ends with
    // the last of them.
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer argument.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "PR_SET_CHILD_SUBREAPER");
    let mut f = Figures::default();
    // Warm-up: page cache, the user's first namespaces.
    for _ in 0..3 {
        run(&mut fixture(&["suite::empty::t00", "--exact"]));
        run(&mut harness(&["suite::empty::t00", "--exact"]));
    }
    for round in 1..=rounds {
        for s in &sections {
            eprintln!("perf: round {round}/{rounds}: {s}");
            match *s {
                "overhead" => overhead(&mut f),
                "harness" => harness_overhead(&mut f),
                "nat" => nat(&mut f),
                "topo" => topo(&mut f),
                "throughput" => throughput(&mut f),
                "nft" | "spawn" | "natclass" => {
                    let test = match *s {
                        "nft" => "nft_apply",
                        "spawn" => "spawn_cost",
                        _ => "nat_classify",
                    };
                    let test = format!("suite::{test}");
                    figures_of(&mut f, &mut fixture(&[&test, "--exact", "--nocapture"]));
                }
                lab => {
                    // The teardown section compares with the floor: the pool off. A
                    // lab's memory is as a lab has it: the pool on.
                    let mut c = fixture(&["--lab", lab]);
                    if lab == "teardown" {
                        c.env(POOL, "0");
                    }
                    let these = figures_of(&mut f, &mut c);
                    if lab == "memory" {
                        let t = |n: u32| these[&format!("memory.threads_{n}")];
                        f.add("memory.threads_growth", t(200) - t(10));
                    }
                }
            }
        }
    }
    let (page, missing) = report::page(&f, rounds, sections.len() == SECTIONS.len());
    println!("{page}");
    let out = std::env::var("NETNS_PERF_OUT").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/perf/BENCHMARKS.generated.md"
        )
        .to_string()
    });
    let path = std::path::Path::new(&out);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, &page));
    match written {
        Ok(()) => eprintln!("perf: the page is in {out}"),
        Err(e) => eprintln!("perf: the page could not be written to {out} ({e}): it is above"),
    }
    assert!(
        missing.is_empty(),
        "perf: figures missing from the page: {missing:?}"
    );
}

/// The framework's switch for its pool of namespaces made ahead (`kernel/pool.rs`).
const POOL: &str = "NETNS_TEST_POOL";

/// Runs a fixture and adds the `figure KEY=VALUE` and `samples KEY=V V ...` lines it
/// prints; returns this run's figures.
fn figures_of(f: &mut Figures, cmd: &mut Command) -> BTreeMap<String, f64> {
    let r = run(cmd);
    let mut these = BTreeMap::new();
    for line in r.out.lines() {
        if let Some((k, v)) = line.strip_prefix("figure ").and_then(|l| l.split_once('=')) {
            let v: f64 = v.parse().expect("a number");
            f.add(k, v);
            these.insert(k.to_string(), v);
        }
        if let Some((k, v)) = line
            .strip_prefix("samples ")
            .and_then(|l| l.split_once('='))
        {
            let v = v
                .split_whitespace()
                .map(|x| x.parse::<f64>().expect("a number"));
            f.samples.entry(k.to_string()).or_default().extend(v);
        }
    }
    these
}

fn overhead(f: &mut Figures) {
    let n = samples(40);
    let (mut floor, mut plain, mut sandbox) = (vec![], vec![], vec![]);
    for i in 0..n {
        // Each in turn first.
        for k in 0..3 {
            match (i + k) % 3 {
                0 => floor.push(run(&mut unshare_true())),
                1 => plain.push(run(&mut fixture(&["plain::t00", "--exact"]))),
                _ => sandbox.push(run(&mut fixture(&["suite::empty::t00", "--exact"]))),
            }
        }
    }
    let exit = |v: &[Run]| v.iter().map(|r| r.exit_ms).collect::<Vec<_>>();
    let cpu = |v: &[Run]| v.iter().map(|r| r.cpu_ms).collect::<Vec<_>>();
    let fl = f.add_samples("overhead.floor_ms", exit(&floor));
    let p = f.add_samples("overhead.plain_ms", exit(&plain));
    let s = f.add_samples("overhead.sandbox_ms", exit(&sandbox));
    f.add_samples(
        "overhead.sandbox_release_ms",
        sandbox.iter().map(|r| r.release_ms).collect(),
    );
    f.add_samples("overhead.floor_cpu_ms", cpu(&floor));
    f.add_samples("overhead.plain_cpu_ms", cpu(&plain));
    f.add_samples("overhead.sandbox_cpu_ms", cpu(&sandbox));
    f.add("overhead.default_ms", s - p);
    f.add("overhead.default_x", (s - p) / fl);
    // The sandbox re-executes the test binary: one more process start, which is in the
    // overhead; what is left is the namespaces and the sandbox's own set-up.
    f.add("overhead.beyond_reexec_ms", s - 2.0 * p);
}

fn harness_overhead(f: &mut Figures) {
    let n = samples(7);
    let (mut h, mut p, mut floor) = (vec![], vec![], vec![]);
    for _ in 0..n {
        let r = run(&mut harness(&["suite::empty::", "--test-threads=1"]));
        assert!(r.out.contains("100 passed"), "{}", r.out);
        h.push(r.exit_ms);
        let r = run(&mut fixture(&["plain::", "--test-threads=1"]));
        assert!(r.out.contains("100 passed"), "{}", r.out);
        p.push(r.exit_ms);
        floor.push(run(&mut unshare_true()).exit_ms);
    }
    // The CPU the whole machine spends on one harness-mode test, the kernel's teardown of
    // its namespace (after the run) included: busy time of all CPUs from the start of a
    // run to 300 ms after its end, per test, less the same for the plain tests.
    let mut cpu = vec![];
    for _ in 0..n {
        std::thread::sleep(settle_time());
        let before = busy_ms();
        run(&mut harness(&["suite::empty::", "--test-threads=1"]));
        std::thread::sleep(Duration::from_millis(300));
        let test = busy_ms() - before - ms(settle_time());
        let before = busy_ms();
        run(&mut fixture(&["plain::", "--test-threads=1"]));
        std::thread::sleep(Duration::from_millis(300));
        cpu.push((test - (busy_ms() - before - ms(settle_time()))) / 100.0);
    }
    f.add("harness.cpu_per_test_ms", median_f(cpu));
    let (h, p) = (f.add_samples("harness.run_ms", h), median_f(p));
    let per_test = (h - p) / 100.0;
    let floor = f.add_samples("harness.floor_ms", floor);
    f.add("harness.per_test_ms", per_test);
    f.add("harness.per_test_x", per_test / floor);
}

/// Busy time of all CPUs since boot (`/proc/stat`), in ms.
fn busy_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .expect("cpu line")
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().expect("ticks"))
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: f64 = ticks.iter().take(8).sum::<f64>() - ticks[3] - ticks[4];
    // USER_HZ is 100 on Linux.
    busy * 10.0
}

/// The phases of one NAT lab process, from the `phases` line its body prints, in ms.
struct Phases {
    /// From the start to the body: process start(s), sandbox, build, capture.
    to_body: f64,
    /// The build, name services included (`Net::build_time`).
    build: f64,
    body: f64,
    /// From the end of the body to the release of the runner: the report, the end of the
    /// process (default mode: of the runner, which the sandbox released).
    report: f64,
    /// From the release to the exit of the last process.
    exit: f64,
}

fn phases(r: &Run) -> Phases {
    let line = r
        .out
        .lines()
        .find_map(|l| l.strip_prefix("phases "))
        .unwrap_or_else(|| panic!("no phases line in:\n{}", r.out));
    let field = |k: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} in {line:?}"))
    };
    let (start, end) = (field("body_start"), field("body_end"));
    let d = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e6;
    Phases {
        to_body: d(r.started, start),
        build: field("build") as f64 / 1e6,
        body: d(start, end),
        report: d(end, r.released),
        exit: r.exit_ms - d(r.started, r.released),
    }
}

fn nat(f: &mut Figures) {
    let n = samples(15);
    // The script of this source tree, or a copy (a binary run elsewhere).
    let recipe = std::env::var("NETNS_PERF_RECIPE").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/nat-lab-recipe.sh").to_string()
    });
    const LAB: [&str; 3] = ["suite::nat_lab", "--exact", "--nocapture"];
    let variants: [(&str, &dyn Fn() -> Command); 5] = [
        ("recipe", &|| {
            let mut c = Command::new("bash");
            c.arg(&recipe);
            c
        }),
        ("default", &|| fixture(&LAB)),
        ("default_nocapture", &|| {
            let mut c = fixture(&LAB);
            c.env("NETNS_TEST_CAPTURE", "0");
            c
        }),
        ("harness", &|| harness(&LAB)),
        ("harness_nocapture", &|| {
            let mut c = harness(&LAB);
            c.env("NETNS_TEST_CAPTURE", "0");
            c
        }),
    ];
    let mut runs: Vec<Vec<Run>> = variants.iter().map(|_| Vec::new()).collect();
    for i in 0..n {
        // Each in turn first, so that none always follows the same one.
        for k in 0..variants.len() {
            let v = (i + k) % variants.len();
            runs[v].push(run(&mut (variants[v].1)()));
        }
    }
    let mut med = BTreeMap::new();
    for ((name, _), runs) in variants.iter().zip(&runs) {
        let exit = f.add_samples(
            &format!("nat.{name}_ms"),
            runs.iter().map(|r| r.exit_ms).collect(),
        );
        f.add_samples(
            &format!("nat.{name}_cpu_ms"),
            runs.iter().map(|r| r.cpu_ms).collect(),
        );
        med.insert(name.to_string(), exit);
        if *name == "recipe" {
            continue;
        }
        let ph: Vec<Phases> = runs.iter().map(phases).collect();
        let m = |g: fn(&Phases) -> f64| median_f(ph.iter().map(g).collect());
        for (phase, v) in [
            ("to_body", m(|p| p.to_body)),
            ("build", m(|p| p.build)),
            ("body", m(|p| p.body)),
            ("report", m(|p| p.report)),
            ("exit", m(|p| p.exit)),
        ] {
            f.add(&format!("nat.{name}.{phase}_ms"), v);
            med.insert(format!("{name}.{phase}"), v);
        }
    }
    for mode in ["default", "harness"] {
        f.add(&format!("nat.{mode}_speedup"), med["recipe"] / med[mode]);
        let nocap = format!("{mode}_nocapture");
        f.add(
            &format!("nat.{mode}_nocapture_speedup"),
            med["recipe"] / med[&nocap],
        );
        // Capture starts between the build and the body, and its sockets close in the
        // exit: the difference with capture off.
        let capture = med[&format!("{mode}.to_body")] - med[&format!("{nocap}.to_body")];
        f.add(&format!("nat.{mode}.capture_ms"), capture);
        f.add(
            &format!("nat.{mode}.start_ms"),
            med[&format!("{mode}.to_body")] - med[&format!("{mode}.build")] - capture,
        );
    }
}

fn throughput(f: &mut Figures) {
    for suite in ["free", "bridged"] {
        let filter = format!("suite::{suite}::");
        for (mode, mut cmd) in [
            ("default", fixture(&[&filter])),
            ("harness", harness(&[&filter])),
        ] {
            let r = run(&mut cmd);
            assert!(r.out.contains("50 passed; 0 failed"), "{}", r.out);
            f.add(&format!("throughput.{suite}_{mode}"), 50e3 / r.exit_ms);
            f.add(
                &format!("throughput.{suite}_{mode}_cpu_ms"),
                r.cpu_ms / 50.0,
            );
        }
    }
    figures_of(f, fixture(&["--lab", "cycles"]).env(POOL, "0"));
}

/// The topologies' builds against their floors with the pool off, then the small ones
/// built with the pool on: what the pool saves, in the same round.
fn topo(f: &mut Figures) {
    let off = figures_of(f, fixture(&["--lab", "topo"]).env(POOL, "0"));
    let on = figures_of(f, &mut fixture(&["--lab", "pool"]));
    // The per-node curve's ends, the framework's and the floor's.
    for (key, k) in [
        ("per_node_ms", "per_node"),
        ("floor_per_node_ms", "floor_per_node"),
    ] {
        let at = |n: u32| off.get(&format!("topo.bridge_{n}.{key}")).copied();
        if let (Some(small), Some(big)) = (at(10), at(1000)) {
            f.add(&format!("topo.{k}_growth"), big / small);
        }
    }
    for (name, _, _) in pool_topologies() {
        let key = |k: &str, m: &BTreeMap<String, f64>| m[&format!("{k}.{name}.build_ms")];
        f.add(
            &format!("pool.{name}.x"),
            key("pool", &on) / key("topo", &off),
        );
    }
}

// ---------------------------------------------------------------------------------------
// In-process sections: one fixture process per round, in a lab of its own.

/// The topologies of the comparison with the kernel floor, with their samples per round
/// (a smoke run leaves out the big ones).
fn reference_topologies() -> Vec<(&'static str, Topology, usize)> {
    let all = vec![
        ("single_node", Topology::new().node("a", |n| n), 21),
        ("bridge_pair", presets::bridge_pair(), 21),
        ("bridge_8", presets::docker_bridge(8), 15),
        ("nat_lab", presets::nat_lan_wan(2), 15),
        ("two_nat_lans", two_nat_lans(), 15),
        ("routers_8", presets::router_line(8), 15),
        ("bridge_10", presets::docker_bridge(10), 11),
        ("bridge_50", presets::docker_bridge(50), 7),
        ("bridge_100", presets::docker_bridge(100), 5),
        ("bridge_200", presets::docker_bridge(200), 5),
        ("bridge_500", presets::docker_bridge(500), 3),
        ("bridge_1000", presets::docker_bridge(1000), 3),
        ("routers_200", presets::router_line(200), 3),
    ];
    all.into_iter()
        .filter(|(name, _, _)| !(quick() && report::BIG.contains(name)))
        .map(|(name, t, n)| (name, t, samples(n)))
        .collect()
}

/// The small topologies built again with the pool on.
fn pool_topologies() -> Vec<(&'static str, Topology, usize)> {
    reference_topologies()
        .into_iter()
        .filter(|(name, _, _)| ["single_node", "bridge_pair", "bridge_8", "nat_lab"].contains(name))
        .collect()
}

/// Two home LANs, each behind a router that masquerades it, and a public server on the
/// network between the routers.
fn two_nat_lans() -> Topology {
    Topology::new()
        .bridge("internet", "198.51.100.0/24")
        .node("server", |n| n.on("internet"))
        .router("home1", |n| n.on("internet"))
        .router("home2", |n| n.on("internet"))
        .bridge_with("lan1", "192.168.1.0/24", |b| {
            b.in_node("home1").masquerade()
        })
        .bridge_with("lan2", "192.168.2.0/24", |b| {
            b.in_node("home2").masquerade()
        })
        .node("alice", |n| n.on("lan1"))
        .node("bob", |n| n.on("lan2"))
}

/// `a` and `b` on a point-to-point link (IPv4 and IPv6), with a relay in the middle if
/// `impairable`.
fn pair(impairable: bool) -> Topology {
    Topology::new()
        .node("a", |n| n)
        .node("b", |n| n)
        .link_with("a", "b", "10.0.0.0/30", |l| {
            let l = l.ipv6("fd00:9::/64");
            if impairable {
                l.impairable()
            } else {
                l
            }
        })
}

fn figure(key: &str, value: f64) {
    println!("figure {key}={value}");
}

fn samples_of(key: &str, values: &[f64]) {
    let v: Vec<String> = values.iter().map(f64::to_string).collect();
    println!("samples {key}={}", v.join(" "));
}

/// Lets the kernel free a dropped network before the next sample: ~3 ms per namespace,
/// each bridge 20-30 ms of serialized work (`../shared/DESIGN.md`), each nf_tables
/// ruleset a grace period or two, with room to spare (the NAT lab's samples, build and
/// floor alike, took 3-5 times as long now and then with half of it).
fn settle(plan: &Plan) {
    let rules = plan.nodes.iter().filter(|n| n.rules.is_some()).count() as u64;
    let ms = 50 + 3 * plan.nodes.len() as u64 + 80 * plan.bridges.len() as u64 + 80 * rules;
    std::thread::sleep(Duration::from_millis(ms));
}

/// The runtime a network has: a worker thread beside the calling one.
fn network_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Builds `t` with the framework `n` times, settled between builds: the times in ms.
fn builds(lab: &Lab, t: &Topology, n: usize) -> Vec<f64> {
    let plan = t.plan().expect("plan");
    (0..n)
        .map(|_| {
            let start = Instant::now();
            let net = lab.build(t).expect("build");
            let took = ms(start.elapsed());
            drop(net);
            settle(&plan);
            took
        })
        .collect()
}

fn lab_section(section: &str) {
    let lab = Lab::enter().expect("entering the lab");
    let rt = network_runtime();
    match section {
        "topo" => {
            for (name, t, samples) in reference_topologies() {
                let plan = t.plan().expect("plan");
                let nodes = plan.nodes.len();
                let (mut built, mut kernel, mut wait) = (vec![], vec![], vec![]);
                for _ in 0..samples {
                    built.extend(builds(&lab, &t, 1));
                    let start = Instant::now();
                    let fl = floor::build(&plan, &rt);
                    kernel.push(ms(start.elapsed()));
                    wait.push(ms(fl.wait));
                    drop(fl);
                    settle(&plan);
                }
                samples_of(&format!("topo.{name}.build_ms"), &built);
                samples_of(&format!("topo.{name}.floor_ms"), &kernel);
                let (b, k) = (median_f(built), median_f(kernel));
                figure(&format!("topo.{name}.build_ms"), b);
                figure(&format!("topo.{name}.floor_ms"), k);
                figure(&format!("topo.{name}.floor_wait_ms"), median_f(wait));
                figure(&format!("topo.{name}.x"), b / k);
                if name.starts_with("bridge_") {
                    figure(&format!("topo.{name}.per_node_ms"), b / nodes as f64);
                    figure(&format!("topo.{name}.floor_per_node_ms"), k / nodes as f64);
                }
            }
            // The floor makes every namespace in place: so must the builds it is compared
            // with.
            assert!(
                !pool_running(),
                "the pool of namespaces ran in the comparison with the floor ({POOL}=0)"
            );
            // A link with a relay (`impairable()`) against the same link without.
            let (mut plain, mut relay) = (vec![], vec![]);
            for _ in 0..samples(15) {
                plain.extend(builds(&lab, &pair(false), 1));
                relay.extend(builds(&lab, &pair(true), 1));
            }
            samples_of("link.plain_ms", &plain);
            samples_of("link.impairable_ms", &relay);
            let (p, r) = (median_f(plain), median_f(relay));
            figure("link.plain_ms", p);
            figure("link.impairable_ms", r);
            figure("link.impairable_x", r / p);
        }
        "pool" => {
            for (name, t, samples) in pool_topologies() {
                let built = builds(&lab, &t, samples);
                samples_of(&format!("pool.{name}.build_ms"), &built);
                figure(&format!("pool.{name}.build_ms"), median_f(built));
            }
            assert!(pool_running(), "the pool of namespaces did not run");
        }
        "teardown" => {
            // The same build, framework and raw, on a settled kernel and right after a
            // network five times its size was dropped (200 after 1000 nodes; a smoke run,
            // 50 after 200).
            let (small, big) = if quick() { (50, 200) } else { (200, 1000) };
            let (ts, tb) = (presets::docker_bridge(small), presets::docker_bridge(big));
            let (ps, pb) = (ts.plan().expect("plan"), tb.plan().expect("plan"));
            let timed_build = |raw: bool| {
                let start = Instant::now();
                if raw {
                    drop(floor::build(&ps, &rt));
                } else {
                    drop(lab.build(&ts).expect("build"));
                }
                ms(start.elapsed())
            };
            for (raw, key) in [(false, "teardown"), (true, "teardown.floor")] {
                settle(&pb);
                let idle = timed_build(raw);
                settle(&pb);
                let net = lab.build(&tb).expect("build the big network");
                let start = Instant::now();
                drop(net);
                let dropped = ms(start.elapsed());
                let after = timed_build(raw);
                figure(&format!("{key}.idle_ms"), idle);
                figure(&format!("{key}.after_ms"), after);
                figure(&format!("{key}.x"), after / idle);
                if !raw {
                    figure("teardown.drop_ms", dropped);
                }
            }
            settle(&pb);
        }
        "memory" => {
            for n in [10usize, 200] {
                settle(&presets::docker_bridge(n).plan().expect("plan"));
                let (threads0, rss0, fds0) = process_now();
                let net = lab.build(&presets::docker_bridge(n)).expect("build");
                std::thread::sleep(Duration::from_millis(100));
                let (threads, rss, fds) = process_now();
                figure(&format!("memory.threads_{n}"), (threads - threads0) as f64);
                figure(
                    &format!("memory.kib_per_node_{n}"),
                    (rss - rss0) as f64 / n as f64,
                );
                figure(
                    &format!("memory.fds_per_node_{n}"),
                    (fds - fds0) as f64 / n as f64,
                );
                drop(net);
            }
        }
        "cycles" => cycles(&rt),
        other => panic!("no in-process section {other:?}"),
    }
}

/// The kernel's bound on a suite's throughput: raw build (links up, as a test waits for
/// them) + drop cycles, on as many threads as the suites' default test threads, each
/// with its network's threads, timed after a warm-up (by then the kernel's asynchronous
/// teardown of the earlier ones competes with every new build, as in a suite). Bridged,
/// also with two ways around the teardown of each bridge: networks released 25 at a time
/// (one teardown batch), and each bridge deleted before release. First, what a
/// harness-mode test cannot do without: a network namespace made (its `lo` up) and freed,
/// back to back, the kernel's teardown of the earlier ones running meanwhile.
fn cycles(rt: &tokio::runtime::Runtime) {
    let (warm, timed) = if quick() { (10, 30) } else { (50, 100) };
    // After the suites: their namespaces are still being freed.
    std::thread::sleep(Duration::from_secs(2));
    let home = std::fs::File::open("/proc/thread-self/ns/net").expect("own netns");
    let mut start = Instant::now();
    for i in 0..warm + 2 * timed {
        if i == warm {
            start = Instant::now();
        }
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
        let lo = rtnetlink::LinkUnspec::new_with_index(1).up().build();
        rt.block_on(async {
            let (conn, nl, _) = rtnetlink::new_connection().expect("rtnetlink");
            tokio::spawn(conn);
            nl.link().set(lo).execute().await.expect("lo up");
        });
        nix::sched::setns(&home, nix::sched::CloneFlags::CLONE_NEWNET).expect("home");
    }
    figure(
        "harness.kernel_netns_ms",
        ms(start.elapsed()) / (2 * timed) as f64,
    );
    std::thread::sleep(Duration::from_millis(500));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let free = suite::two_nodes().plan().expect("plan");
    let bridged = presets::bridge_pair().plan().expect("plan");
    for (name, plan) in [
        ("free", &free),
        ("bridged", &bridged),
        ("bridged_batched", &bridged),
        ("bridged_deleted", &bridged),
    ] {
        let barrier = std::sync::Barrier::new(threads);
        let took: Vec<Duration> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        let rt = network_runtime();
                        let mut kept = Vec::new();
                        let mut start = Instant::now();
                        for i in 0..warm + timed {
                            if i == warm {
                                barrier.wait();
                                start = Instant::now();
                            }
                            let fl = floor::build(plan, &rt);
                            match name {
                                "bridged_batched" => {
                                    kept.push(fl);
                                    if kept.len() == 25 {
                                        kept.clear();
                                    }
                                }
                                "bridged_deleted" => fl.delete_bridges(plan, &rt),
                                _ => drop(fl),
                            }
                        }
                        // One more build waits behind what the kernel has yet to free
                        // (a batch released last would otherwise be left out).
                        drop(kept);
                        drop(floor::build(plan, &rt));
                        start.elapsed()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a cycle thread"))
                .collect()
        });
        let slowest = took.into_iter().max().expect("threads");
        figure(
            &format!("throughput.kernel_{name}"),
            (threads * (timed + 1)) as f64 / slowest.as_secs_f64(),
        );
        settle(plan);
        settle(plan);
    }
}

/// Whether the framework's pool of namespaces made ahead has its thread in this process.
fn pool_running() -> bool {
    std::fs::read_dir("/proc/self/task")
        .expect("own threads")
        .filter_map(Result::ok)
        .any(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim_end().starts_with("netns-test-netn"))
        })
}

/// Threads, resident KiB and open fds of this process.
fn process_now() -> (i64, i64, i64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let field = |key: &str| -> i64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} in /proc/self/status"))
    };
    let fds = std::fs::read_dir("/proc/self/fd").expect("fds").count() as i64;
    (field("Threads:"), field("VmRSS:"), fds)
}
