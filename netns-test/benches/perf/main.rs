//! Every performance figure of netns-test, with its same-run baseline and its target:
//!
//! ```sh
//! cargo bench -p netns-test --bench perf              # everything, 3 rounds
//! cargo bench -p netns-test --bench perf -- nat topo  # some sections
//! NETNS_PERF_ROUNDS=5 cargo bench -p netns-test --bench perf
//! ```
//!
//! Run it as an ordinary user: the toolchain's user may build it (`cargo bench --no-run`)
//! and another run the binary with `--bench` (with `NETNS_PERF_RECIPE` naming a copy of
//! `scripts/nat-lab-recipe.sh` it can read).
//!
//! The binary is the driver and its own fixtures. The driver (no argument but the
//! sections) runs each section once per round and prints, per figure, each round's value,
//! their median, the target and whether it is met. Sections:
//!
//! - `overhead`: a whole test process, default mode: `unshare -Urn true` (the kernel
//!   floor of a process in new user + net namespaces), a plain test with an empty body
//!   (the baseline), and an empty `#[netns_test]` (its sandbox re-executes the binary, as
//!   under libtest), samples interleaved.
//! - `harness`: 100 empty `#[netns_test]`s in harness mode in one process, against 100
//!   empty plain tests in one process: the difference per test.
//! - `nat`: the NAT lab (`nat_lan_wan(2)`, one TCP connection from each LAN host) as one
//!   whole fresh process, default and harness mode, against `scripts/nat-lab-recipe.sh`
//!   (the tutorials' `ip`/`nft` commands under `unshare -Urnm`), pair by pair.
//! - `topo`: each reference topology built by [`netns_test::Lab::build`] against its
//!   kernel floor ([`floor`]), samples alternating, in one process; with 10 to 1000 nodes
//!   on one bridge, the per-node cost curve.
//! - `teardown`: 200 nodes on a bridge built on a settled kernel, and right after a
//!   1000-node network was dropped.
//! - `throughput`: 50 two-node tests with a TCP connection each, bridge-free and on a
//!   bridge, in both modes at the default test threads, teardown included (from the start
//!   of the test process to its exit).
//! - `memory`: threads and resident memory of a process holding a network of 10 and of
//!   200 idle nodes.
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
mod suite;

const ENV_HARNESS: &str = "NETNS_PERF_HARNESS";
const SECTIONS: [&str; 8] = [
    "overhead",
    "harness",
    "nat",
    "topo",
    "teardown",
    "throughput",
    "memory",
    "nft",
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

/// Each figure's value per round.
#[derive(Default)]
struct Figures(BTreeMap<String, Vec<f64>>);

impl Figures {
    fn add(&mut self, key: &str, value: f64) {
        self.0.entry(key.to_string()).or_default().push(value);
    }
    fn median(&self, key: &str) -> Option<f64> {
        self.0.get(key).map(|v| median_f(v.clone()))
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

/// Runs `cmd` and returns its wall-clock time; panics, with its output, if it fails.
fn timed(cmd: &mut Command) -> (Duration, String) {
    let start = Instant::now();
    let out = cmd.output().expect("starting a sample");
    let took = start.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "sample {cmd:?} failed:\n{text}");
    (took, text)
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

fn drive(sections: Vec<&str>) {
    let rounds: usize = std::env::var("NETNS_PERF_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let mut f = Figures::default();
    // Warm-up: page cache, the user's first namespaces.
    for _ in 0..3 {
        let _ = fixture(&["suite::empty::t00", "--exact"]).output();
        let _ = harness(&["suite::empty::t00", "--exact"]).output();
    }
    for round in 1..=rounds {
        for s in &sections {
            eprintln!("perf: round {round}/{rounds}: {s}");
            match *s {
                "overhead" => overhead(&mut f),
                "harness" => harness_overhead(&mut f),
                "nat" => nat(&mut f),
                "throughput" => throughput(&mut f),
                "nft" => figures_of(
                    &mut f,
                    &mut fixture(&["suite::nft_apply", "--exact", "--nocapture"]),
                ),
                lab => figures_of(&mut f, &mut fixture(&["--lab", lab])),
            }
        }
    }
    report(&f, rounds);
}

/// Runs a fixture and adds the `figure KEY=VALUE` lines it prints.
fn figures_of(f: &mut Figures, cmd: &mut Command) {
    let (_, text) = timed(cmd);
    for line in text.lines() {
        if let Some((k, v)) = line.strip_prefix("figure ").and_then(|l| l.split_once('=')) {
            f.add(k, v.parse().expect("a number"));
        }
    }
}

fn overhead(f: &mut Figures) {
    const SAMPLES: usize = 40;
    let (mut floor, mut plain, mut sandbox) = (vec![], vec![], vec![]);
    for _ in 0..SAMPLES {
        floor.push(ms(timed(Command::new("unshare").args(["-Urn", "true"])).0));
        plain.push(ms(timed(&mut fixture(&["plain::t00", "--exact"])).0));
        sandbox.push(ms(timed(&mut fixture(&["suite::empty::t00", "--exact"])).0));
    }
    let (floor, plain, sandbox) = (median_f(floor), median_f(plain), median_f(sandbox));
    f.add("overhead.floor_ms", floor);
    f.add("overhead.plain_ms", plain);
    f.add("overhead.sandbox_ms", sandbox);
    f.add("overhead.default_ms", sandbox - plain);
    f.add("overhead.default_x", (sandbox - plain) / floor);
    // The sandbox re-executes the test binary: one more process start, which is in the
    // overhead; what is left is the namespaces and the sandbox's own set-up.
    f.add("overhead.beyond_reexec_ms", sandbox - 2.0 * plain);
}

fn harness_overhead(f: &mut Figures) {
    const SAMPLES: usize = 7;
    let (mut h, mut p, mut floor) = (vec![], vec![], vec![]);
    for _ in 0..SAMPLES {
        let (t, out) = timed(&mut harness(&["suite::empty::", "--test-threads=1"]));
        assert!(out.contains("100 passed"), "{out}");
        h.push(ms(t));
        let (t, out) = timed(&mut fixture(&["plain::", "--test-threads=1"]));
        assert!(out.contains("100 passed"), "{out}");
        p.push(ms(t));
        floor.push(ms(timed(Command::new("unshare").args(["-Urn", "true"])).0));
    }
    // The CPU the whole machine spends on one harness-mode test, the kernel's teardown of
    // its namespace (after the run) included: busy time of all CPUs from the start of a
    // run to 300 ms after its end, per test, less the same for the plain tests.
    let mut cpu = vec![];
    for _ in 0..SAMPLES {
        let before = busy_ms();
        timed(&mut harness(&["suite::empty::", "--test-threads=1"]));
        std::thread::sleep(Duration::from_millis(300));
        let test = busy_ms() - before;
        let before = busy_ms();
        timed(&mut fixture(&["plain::", "--test-threads=1"]));
        std::thread::sleep(Duration::from_millis(300));
        cpu.push((test - (busy_ms() - before)) / 100.0);
    }
    f.add("harness.cpu_per_test_ms", median_f(cpu));
    let per_test = (median_f(h) - median_f(p)) / 100.0;
    let floor = median_f(floor);
    f.add("harness.per_test_ms", per_test);
    f.add("harness.floor_ms", floor);
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

fn nat(f: &mut Figures) {
    const SAMPLES: usize = 15;
    // The script of this source tree, or a copy (a binary run elsewhere).
    let recipe = std::env::var("NETNS_PERF_RECIPE").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/nat-lab-recipe.sh").to_string()
    });
    let (mut r, mut d, mut h, mut n) = (vec![], vec![], vec![], vec![]);
    for i in 0..SAMPLES {
        // Each in turn first, so that none always follows the same one.
        for k in 0..4 {
            match (i + k) % 4 {
                0 => r.push(ms(timed(Command::new("bash").arg(&recipe)).0)),
                1 => d.push(ms(timed(&mut fixture(&["suite::nat_lab", "--exact"])).0)),
                2 => h.push(ms(timed(&mut harness(&["suite::nat_lab", "--exact"])).0)),
                _ => {
                    let mut c = harness(&["suite::nat_lab", "--exact"]);
                    n.push(ms(timed(c.env("NETNS_TEST_CAPTURE", "0")).0));
                }
            }
        }
    }
    let (r, d, h) = (median_f(r), median_f(d), median_f(h));
    f.add("nat.recipe_ms", r);
    f.add("nat.default_ms", d);
    f.add("nat.harness_ms", h);
    f.add("nat.harness_nocapture_ms", median_f(n));
    f.add("nat.default_speedup", r / d);
    f.add("nat.harness_speedup", r / h);
}

fn throughput(f: &mut Figures) {
    for suite in ["free", "bridged"] {
        let filter = format!("suite::{suite}::");
        for (mode, mut cmd) in [
            ("default", fixture(&[&filter])),
            ("harness", harness(&[&filter])),
        ] {
            let (t, out) = timed(&mut cmd);
            assert!(out.contains("50 passed; 0 failed"), "{out}");
            f.add(
                &format!("throughput.{suite}_{mode}"),
                50.0 / t.as_secs_f64(),
            );
        }
    }
    figures_of(f, &mut fixture(&["--lab", "cycles"]));
}

// ---------------------------------------------------------------------------------------
// In-process sections: one fixture process per round, in a lab of its own.

/// The topologies of the comparison with the kernel floor, with their samples per round.
fn reference_topologies() -> Vec<(&'static str, Topology, usize)> {
    vec![
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
    ]
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

fn figure(key: &str, value: f64) {
    println!("figure {key}={value}");
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

fn lab_section(section: &str) {
    let lab = Lab::enter().expect("entering the lab");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match section {
        "topo" => {
            for (name, t, samples) in reference_topologies() {
                let plan = t.plan().expect("plan");
                let nodes = plan.nodes.len();
                let (mut built, mut kernel) = (vec![], vec![]);
                for _ in 0..samples {
                    let start = Instant::now();
                    let net = lab.build(&t).expect("build");
                    built.push(ms(start.elapsed()));
                    drop(net);
                    settle(&plan);
                    let start = Instant::now();
                    let fl = floor::build(&plan, &rt);
                    kernel.push(ms(start.elapsed()));
                    drop(fl);
                    settle(&plan);
                }
                let (b, k) = (median_f(built), median_f(kernel));
                figure(&format!("topo.{name}.build_ms"), b);
                figure(&format!("topo.{name}.floor_ms"), k);
                figure(&format!("topo.{name}.x"), b / k);
                figure(&format!("topo.{name}.per_node_ms"), b / nodes as f64);
                figure(&format!("topo.{name}.floor_per_node_ms"), k / nodes as f64);
            }
        }
        "teardown" => {
            // The same 200-node build, framework and raw, on a settled kernel and right
            // after a 1000-node network was dropped.
            let (t200, t1000) = (presets::docker_bridge(200), presets::docker_bridge(1000));
            let (p200, p1000) = (t200.plan().expect("plan"), t1000.plan().expect("plan"));
            let timed_build = |raw: bool| {
                let start = Instant::now();
                if raw {
                    drop(floor::build(&p200, &rt));
                } else {
                    drop(lab.build(&t200).expect("build"));
                }
                ms(start.elapsed())
            };
            for (raw, key) in [(false, "teardown"), (true, "teardown.floor")] {
                settle(&p1000);
                let idle = timed_build(raw);
                settle(&p1000);
                let big = lab.build(&t1000).expect("build 1000");
                let start = Instant::now();
                drop(big);
                let dropped = ms(start.elapsed());
                let after = timed_build(raw);
                figure(&format!("{key}.idle_ms"), idle);
                figure(&format!("{key}.after_ms"), after);
                figure(&format!("{key}.x"), after / idle);
                if !raw {
                    figure("teardown.drop_ms", dropped);
                }
            }
            settle(&p1000);
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
        "cycles" => {
            // The kernel's bound on a suite's throughput: raw build + drop cycles, back to
            // back, timed after 50 cycles (by then the kernel's asynchronous teardown of
            // the earlier ones competes with every new build, as in a suite). Bridged,
            // also with two ways around the teardown of each bridge: networks released
            // 25 at a time (one teardown batch), and each bridge deleted before release.
            // What a harness-mode test cannot do without: a network namespace made (its
            // `lo` up) and freed, back to back, the kernel's teardown of the earlier ones
            // running meanwhile, as in a suite.
            // After the suites: their namespaces are still being freed.
            std::thread::sleep(Duration::from_secs(2));
            let home = std::fs::File::open("/proc/thread-self/ns/net").expect("own netns");
            let mut start = Instant::now();
            for i in 0..250 {
                if i == 50 {
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
            figure("harness.kernel_netns_ms", ms(start.elapsed()) / 200.0);
            std::thread::sleep(Duration::from_millis(500));
            let free = suite::two_nodes().plan().expect("plan");
            let bridged = presets::bridge_pair().plan().expect("plan");
            for (name, plan) in [
                ("free", &free),
                ("bridged", &bridged),
                ("bridged_batched", &bridged),
                ("bridged_deleted", &bridged),
            ] {
                let mut kept = Vec::new();
                let mut start = Instant::now();
                for i in 0..150 {
                    if i == 50 {
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
                // One more build waits behind what the kernel has yet to free (a batch
                // released last would otherwise be left out).
                drop(kept);
                drop(floor::build(plan, &rt));
                figure(
                    &format!("throughput.kernel_{name}"),
                    101.0 / start.elapsed().as_secs_f64(),
                );
                settle(plan);
                settle(plan);
            }
        }
        other => panic!("no in-process section {other:?}"),
    }
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

// ---------------------------------------------------------------------------------------
// The report.

/// How a figure is judged: at most or at least the target.
enum Target {
    AtMost(f64),
    AtLeast(f64),
    None,
}

fn report(f: &Figures, rounds: usize) {
    println!(
        "\nnetns-test perf: {rounds} rounds, {} CPUs, kernel {}, user {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        std::env::var("USER").unwrap_or_else(|_| format!("uid {}", nix::unistd::getuid()))
    );
    println!("| figure | per round | median | target | met |");
    println!("| --- | --- | --- | --- | --- |");
    let mut rows: Vec<(String, Target)> = vec![
        ("overhead.floor_ms".into(), Target::None),
        ("overhead.plain_ms".into(), Target::None),
        ("overhead.sandbox_ms".into(), Target::None),
        ("overhead.default_ms".into(), Target::None),
        ("overhead.default_x".into(), Target::AtMost(1.2)),
        ("overhead.beyond_reexec_ms".into(), Target::None),
        ("harness.floor_ms".into(), Target::None),
        ("harness.per_test_ms".into(), Target::None),
        ("harness.per_test_x".into(), Target::AtMost(0.25)),
        ("harness.kernel_netns_ms".into(), Target::None),
        ("harness.cpu_per_test_ms".into(), Target::None),
        ("nat.recipe_ms".into(), Target::None),
        ("nat.default_ms".into(), Target::None),
        ("nat.harness_ms".into(), Target::None),
        ("nat.harness_nocapture_ms".into(), Target::None),
        ("nat.default_speedup".into(), Target::AtLeast(8.0)),
        ("nat.harness_speedup".into(), Target::AtLeast(8.0)),
    ];
    for (name, _, _) in reference_topologies() {
        // 10, 100 and 500 nodes are points of the per-node curve, not reference topologies.
        let x = if ["bridge_10", "bridge_100", "bridge_500"].contains(&name) {
            Target::None
        } else {
            Target::AtMost(1.5)
        };
        let build = match name {
            "bridge_1000" => Target::AtMost(3000.0),
            "routers_200" => Target::AtMost(1000.0),
            _ => Target::None,
        };
        rows.push((format!("topo.{name}.build_ms"), build));
        rows.push((format!("topo.{name}.floor_ms"), Target::None));
        rows.push((format!("topo.{name}.x"), x));
        if name.starts_with("bridge_") {
            rows.push((format!("topo.{name}.per_node_ms"), Target::None));
            rows.push((format!("topo.{name}.floor_per_node_ms"), Target::None));
        }
    }
    rows.extend([
        ("teardown.idle_ms".into(), Target::None),
        ("teardown.after_ms".into(), Target::None),
        ("teardown.drop_ms".into(), Target::None),
        ("teardown.x".into(), Target::AtMost(1.2)),
        ("teardown.floor.idle_ms".into(), Target::None),
        ("teardown.floor.after_ms".into(), Target::None),
        ("teardown.floor.x".into(), Target::None),
        ("throughput.free_default".into(), Target::None),
        ("throughput.free_harness".into(), Target::AtLeast(200.0)),
        ("throughput.bridged_default".into(), Target::AtLeast(80.0)),
        ("throughput.bridged_harness".into(), Target::AtLeast(80.0)),
        ("throughput.kernel_free".into(), Target::None),
        ("throughput.kernel_bridged".into(), Target::None),
        ("throughput.kernel_bridged_batched".into(), Target::None),
        ("throughput.kernel_bridged_deleted".into(), Target::None),
        ("memory.threads_10".into(), Target::None),
        ("memory.threads_200".into(), Target::None),
        ("memory.kib_per_node_10".into(), Target::None),
        ("memory.kib_per_node_200".into(), Target::AtMost(100.0)),
        ("memory.fds_per_node_10".into(), Target::None),
        ("memory.fds_per_node_200".into(), Target::None),
        ("nft.netlink_ms".into(), Target::None),
        ("nft.binary_ms".into(), Target::None),
        ("nft.binary_x".into(), Target::None),
    ]);
    for (key, target) in rows {
        let Some(values) = f.0.get(&key) else {
            continue;
        };
        let per_round: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
        let m = f.median(&key).expect("values");
        let (t, met) = match target {
            Target::AtMost(t) => (format!("<= {t}"), if m <= t { "met" } else { "NOT met" }),
            Target::AtLeast(t) => (format!(">= {t}"), if m >= t { "met" } else { "NOT met" }),
            Target::None => (String::new(), ""),
        };
        println!(
            "| {key} | {} | {m:.2} | {t} | {met} |",
            per_round.join(" / ")
        );
    }
}
