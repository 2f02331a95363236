//! The page of a run: every figure, and the targets judged on them, as markdown.
//!
//! Each target is here, in code, with the figure it judges: a target is met when the
//! median of the rounds, as printed, is on the right side of it. `scripts/ci_tools.py
//! bench-check` judges the page in `BENCHMARKS.md` by the same rule.

use std::fmt::Write;

use crate::{median_f, quick, settle_time, Figures};

/// The rows that a smoke run (`NETNS_PERF_QUICK=1`) does not produce: their topologies
/// are left out.
pub(crate) const BIG: [&str; 3] = ["bridge_500", "bridge_1000", "routers_200"];

/// How a figure is judged.
#[derive(Clone, Copy)]
enum Target {
    AtMost(f64),
    AtLeast(f64),
}

impl Target {
    fn met(self, v: f64) -> bool {
        match self {
            Target::AtMost(t) => v <= t,
            Target::AtLeast(t) => v >= t,
        }
    }
    fn rule(self) -> String {
        match self {
            Target::AtMost(t) => format!("<= {t}"),
            Target::AtLeast(t) => format!(">= {t}"),
        }
    }
}

/// The reference topologies with their description; the `x` of each is judged against
/// 1.5, but the points of the per-node curve (10, 100, 500 nodes).
const TOPOLOGIES: [(&str, &str); 13] = [
    ("single_node", "single node"),
    ("bridge_pair", "pair on a bridge (`bridge_pair()`)"),
    ("bridge_8", "8 on a bridge (`docker_bridge(8)`)"),
    ("nat_lab", "the NAT lab (`nat_lan_wan(2)`)"),
    ("two_nat_lans", "two NATed LANs and a public server"),
    ("routers_8", "8 routers in a line (`router_line(8)`)"),
    ("bridge_10", "10 nodes on one bridge"),
    ("bridge_50", "50 nodes on one bridge"),
    ("bridge_100", "100 nodes on one bridge"),
    ("bridge_200", "200 nodes on one bridge"),
    ("bridge_500", "500 nodes on one bridge"),
    ("bridge_1000", "1000 nodes on one bridge"),
    ("routers_200", "200 routers in a line"),
];

/// The targets: what, the figure, the rule.
fn targets() -> Vec<(String, String, Target)> {
    let mut t: Vec<(String, String, Target)> = vec![
        (
            "NAT lab as one whole process >= 8x faster than the shell recipe, default mode".into(),
            "nat.default_speedup".into(),
            Target::AtLeast(8.0),
        ),
        (
            "the same, harness mode".into(),
            "nat.harness_speedup".into(),
            Target::AtLeast(8.0),
        ),
        (
            "per-test overhead, default mode <= 1.2x `unshare -Urn true`".into(),
            "overhead.default_x".into(),
            Target::AtMost(1.2),
        ),
        (
            "per-test overhead, harness mode <= 0.25x `unshare -Urn true`".into(),
            "harness.per_test_x".into(),
            Target::AtMost(0.25),
        ),
    ];
    for (name, what) in TOPOLOGIES {
        if ["bridge_10", "bridge_100", "bridge_500"].contains(&name) {
            continue;
        }
        t.push((
            format!("{what} within 1.5x its kernel floor"),
            format!("topo.{name}.x"),
            Target::AtMost(1.5),
        ));
    }
    t.extend([
        (
            "1000 nodes on one bridge <= 3 s, default fd limit (absolute: this host)".into(),
            "topo.bridge_1000.build_ms".into(),
            Target::AtMost(3000.0),
        ),
        (
            "200 routers in a line <= 1 s (absolute: this host)".into(),
            "topo.routers_200.build_ms".into(),
            Target::AtMost(1000.0),
        ),
        (
            "per-node cost flat from 10 to 1000 nodes (at most 1.2x)".into(),
            "topo.per_node_growth".into(),
            Target::AtMost(1.2),
        ),
        (
            "a big topology's teardown does not slow the next test (at most 1.2x)".into(),
            "teardown.x".into(),
            Target::AtMost(1.2),
        ),
        (
            "bridge-free two-node tests >= 200 tests/s, harness mode".into(),
            "throughput.free_harness".into(),
            Target::AtLeast(200.0),
        ),
        (
            "bridged two-node tests >= 80 tests/s, default mode".into(),
            "throughput.bridged_default".into(),
            Target::AtLeast(80.0),
        ),
        (
            "the same, harness mode".into(),
            "throughput.bridged_harness".into(),
            Target::AtLeast(80.0),
        ),
        (
            "threads per network flat in the node count (200 nodes less 10)".into(),
            "memory.threads_growth".into(),
            Target::AtMost(0.0),
        ),
        (
            "the NAT classifier + one hole punch under 100 ms".into(),
            "natclass.classify_punch_ms".into(),
            Target::AtMost(100.0),
        ),
        (
            "memory per idle node <= 100 KiB".into(),
            "memory.kib_per_node_200".into(),
            Target::AtMost(100.0),
        ),
    ]);
    t
}

/// Every figure, in the page's order, with what it is.
fn figures() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [
        ("overhead.floor_ms", "`unshare -Urn true`: the kernel floor of a test process (fork, user + net namespace, exec), ms"),
        ("overhead.plain_ms", "a plain test process, empty body (the baseline every test pays), ms"),
        ("overhead.sandbox_ms", "an empty `#[netns_test]` process, default mode, to its last exit, ms"),
        ("overhead.sandbox_release_ms", "the same, until its runner is released, ms"),
        ("overhead.default_ms", "its overhead over the plain test, ms"),
        ("overhead.default_x", "that overhead / `unshare -Urn true`"),
        ("overhead.beyond_reexec_ms", "the overhead less one more process start (the sandbox re-executes the binary), ms"),
        ("overhead.floor_cpu_ms", "CPU of `unshare -Urn true`, ms"),
        ("overhead.plain_cpu_ms", "CPU of the plain test process, ms"),
        ("overhead.sandbox_cpu_ms", "CPU of the empty `#[netns_test]` process and its sandbox, ms"),
        ("harness.run_ms", "harness mode: 100 empty tests in one process, ms"),
        ("harness.floor_ms", "`unshare -Urn true` in the same samples, ms"),
        ("harness.per_test_ms", "harness mode: per empty test, over 100 plain tests, ms"),
        ("harness.per_test_x", "that / `unshare -Urn true`"),
        ("harness.cpu_per_test_ms", "harness mode: CPU of the whole machine per empty test (teardown included), ms"),
        ("harness.kernel_netns_ms", "kernel: a network namespace made (`lo` up) and freed, back to back, ms"),
        ("nat.recipe_ms", "NAT lab, `scripts/nat-lab-recipe.sh` (`ip`/`nft`/`nc` under `unshare -Urnm`), ms"),
        ("nat.default_ms", "NAT lab, `#[netns_test]`, default mode, whole process to its last exit, ms"),
        ("nat.harness_ms", "NAT lab, harness mode, whole process, ms"),
        ("nat.default_nocapture_ms", "NAT lab, default mode, capture off (`NETNS_TEST_CAPTURE=0`), ms"),
        ("nat.harness_nocapture_ms", "NAT lab, harness mode, capture off, ms"),
        ("nat.recipe_cpu_ms", "CPU of the recipe, ms"),
        ("nat.default_cpu_ms", "CPU of the NAT lab, default mode, ms"),
        ("nat.harness_cpu_ms", "CPU of the NAT lab, harness mode, ms"),
        ("nat.default_nocapture_cpu_ms", "CPU, default mode, capture off, ms"),
        ("nat.harness_nocapture_cpu_ms", "CPU, harness mode, capture off, ms"),
        ("nat.default_speedup", "recipe / NAT lab, default mode"),
        ("nat.harness_speedup", "recipe / NAT lab, harness mode"),
        ("nat.default_nocapture_speedup", "recipe / NAT lab, default mode, capture off"),
        ("nat.harness_nocapture_speedup", "recipe / NAT lab, harness mode, capture off"),
    ]
    .into_iter()
    .map(|(k, w)| (k.to_string(), w.to_string()))
    .collect();
    for (mode, what) in [("default", "default mode"), ("harness", "harness mode")] {
        for (phase, p) in [
            ("to_body", "from the start to the body"),
            (
                "start",
                "of which process start(s) and sandbox, to the build",
            ),
            ("build", "of which the build, name services included"),
            (
                "capture",
                "of which starting the capture (capture on less off)",
            ),
            ("body", "the body's checks (two TCP connections)"),
            (
                "report",
                "from the body's end to the release of the runner (report, exit)",
            ),
            ("exit", "from the release to the last exit"),
        ] {
            v.push((
                format!("nat.{mode}.{phase}_ms"),
                format!("NAT lab phases, {what}: {p}, ms"),
            ));
        }
        for (phase, p) in [
            ("to_body", "from the start to the body"),
            ("build", "the build"),
            ("body", "the body's checks"),
            ("report", "from the body's end to the release of the runner"),
            ("exit", "from the release to the last exit"),
        ] {
            v.push((
                format!("nat.{mode}_nocapture.{phase}_ms"),
                format!("NAT lab phases, {what}, capture off: {p}, ms"),
            ));
        }
    }
    for (name, what) in TOPOLOGIES {
        for (k, w) in [
            ("build_ms", "`Lab::build`, pool off, ms"),
            ("floor_ms", "its kernel floor, ms"),
            ("floor_wait_ms", "of which the floor's wait for links, ms"),
            ("x", "build / floor"),
        ] {
            v.push((format!("topo.{name}.{k}"), format!("{what}: {w}")));
        }
        if name.starts_with("bridge_") {
            v.push((
                format!("topo.{name}.per_node_ms"),
                format!("{what}: build per node, ms"),
            ));
            v.push((
                format!("topo.{name}.floor_per_node_ms"),
                format!("{what}: floor per node, ms"),
            ));
        }
    }
    v.extend(
        [
            (
                "topo.per_node_growth",
                "build per node, 1000 nodes / 10 nodes",
            ),
            (
                "topo.floor_per_node_growth",
                "floor per node, 1000 nodes / 10 nodes",
            ),
            (
                "link.plain_ms",
                "a point-to-point pair (IPv4 + IPv6), `Lab::build`, ms",
            ),
            (
                "link.impairable_ms",
                "the same link `impairable()` (a relay), ms",
            ),
            ("link.impairable_x", "impairable / plain"),
        ]
        .map(|(k, w)| (k.to_string(), w.to_string())),
    );
    for (name, what) in TOPOLOGIES {
        v.push((
            format!("pool.{name}.build_ms"),
            format!("{what}: `Lab::build` with the pool on, ms"),
        ));
        v.push((
            format!("pool.{name}.x"),
            format!("{what}: pool on / pool off"),
        ));
    }
    v.extend(
        [
            ("teardown.idle_ms", "200 nodes on a bridge (smoke run: 50), on a settled kernel, ms"),
            ("teardown.after_ms", "the same right after a 1000-node network (smoke run: 200) was dropped, ms"),
            ("teardown.drop_ms", "the drop of the 1000-node network, ms"),
            ("teardown.x", "after / settled"),
            ("teardown.floor.idle_ms", "the floor's 200-node build, settled, ms"),
            ("teardown.floor.after_ms", "the same after the drop, ms"),
            ("teardown.floor.x", "after / settled, floor"),
            ("throughput.free_default", "bridge-free, default mode, tests/s"),
            ("throughput.free_harness", "bridge-free, harness mode, tests/s"),
            ("throughput.bridged_default", "bridged, default mode, tests/s"),
            ("throughput.bridged_harness", "bridged, harness mode, tests/s"),
            ("throughput.free_default_cpu_ms", "CPU per test, bridge-free, default mode, ms"),
            ("throughput.free_harness_cpu_ms", "CPU per test, bridge-free, harness mode, ms"),
            ("throughput.bridged_default_cpu_ms", "CPU per test, bridged, default mode, ms"),
            ("throughput.bridged_harness_cpu_ms", "CPU per test, bridged, harness mode, ms"),
            ("throughput.kernel_free", "kernel bound: bridge-free build (links up) + drop cycles, /s"),
            ("throughput.kernel_bridged", "kernel bound: bridged build (links up) + drop cycles, /s"),
            ("throughput.kernel_bridged_batched", "kernel: bridged, networks released 25 at a time, /s"),
            ("throughput.kernel_bridged_deleted", "kernel: bridged, each bridge deleted before its network is released, /s"),
            ("memory.threads_10", "threads a 10-node network adds (the first of the process: the pool's thread too)"),
            ("memory.threads_200", "threads a 200-node network adds"),
            ("memory.threads_growth", "200 nodes less 10"),
            ("memory.kib_per_node_10", "resident KiB per node, 10 nodes"),
            ("memory.kib_per_node_200", "resident KiB per node, 200 nodes"),
            ("memory.fds_per_node_10", "fds per node, 10 nodes"),
            ("memory.fds_per_node_200", "fds per node, 200 nodes"),
            ("nft.netlink_ms", "NAT table, chain and rule as one nf_tables netlink batch, first in a namespace, ms"),
            ("nft.netlink_repeated_ms", "the same batch again in a namespace that has it, ms"),
            ("nft.binary_ms", "the same through `nft -f -` (for the record: the framework never runs it), ms"),
            ("nft.binary_x", "`nft -f -` / netlink batch"),
            ("spawn.first_ms", "a node's first program (`true`; makes the node's mount namespace), ms"),
            ("spawn.node_ms", "a later program in the node (`setns` before `exec`), ms"),
            ("spawn.plain_ms", "the same program started the ordinary way, ms"),
            ("spawn.mount_ns_ms", "first less later: the node's mount namespace, ms"),
            ("spawn.setns_us", "later less ordinary: entering the node, µs"),
            ("natclass.classify_ms", "a NAT classification behind a home router, `net.classify_nat` (the reflector's start and stop included), ms"),
            ("natclass.probe_ms", "of which the probe itself (`NatClass::took`), ms"),
            ("natclass.classify_punch_ms", "the same and one UDP hole punch between two home routers through a rendezvous, ms"),
        ]
        .map(|(k, w)| (k.to_string(), w.to_string())),
    );
    v
}

/// A figure as the page prints it: three significant digits or so.
pub(crate) fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 || a == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn pct(v: &[f64], p: usize) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[(v.len() * p / 100).min(v.len() - 1)]
}

/// The figures whose ratio a key is, for its spread.
fn ratio_of(key: &str) -> Option<(String, String)> {
    if let Some(mode) = key
        .strip_prefix("nat.")
        .and_then(|k| k.strip_suffix("_speedup"))
    {
        return Some(("nat.recipe_ms".into(), format!("nat.{mode}_ms")));
    }
    if let Some(name) = key.strip_prefix("topo.").and_then(|k| k.strip_suffix(".x")) {
        return Some((
            format!("topo.{name}.build_ms"),
            format!("topo.{name}.floor_ms"),
        ));
    }
    if key == "link.impairable_x" {
        return Some(("link.impairable_ms".into(), "link.plain_ms".into()));
    }
    None
}

/// p10 / p90 of the samples of every round, or of a ratio: (p10 of the numerator / p90
/// of the denominator) / (p90 / p10).
fn spread(f: &Figures, key: &str) -> String {
    if let Some(s) = f.samples.get(key) {
        return format!("{} / {}", num(pct(s, 10)), num(pct(s, 90)));
    }
    if let Some((a, b)) = ratio_of(key) {
        if let (Some(a), Some(b)) = (f.samples.get(&a), f.samples.get(&b)) {
            return format!(
                "{} / {}",
                num(pct(a, 10) / pct(b, 90)),
                num(pct(a, 90) / pct(b, 10))
            );
        }
    }
    String::new()
}

fn big(key: &str) -> bool {
    BIG.iter().any(|b| key.contains(&format!(".{b}.")))
        || key == "topo.per_node_growth"
        || key == "topo.floor_per_node_growth"
}

fn host() -> String {
    let file = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = file("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let meminfo = file("/proc/meminfo");
    let gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|k| k.parse::<f64>().ok())
        .map_or(0.0, |k| k / 1024.0 / 1024.0);
    let date = std::process::Command::new("date")
        .args(["-u", "+%F"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "Host: {cpu}, {} CPUs (nproc), {gib:.0} GiB, Linux {}; run as user {} on {date}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        file("/proc/sys/kernel/osrelease").trim(),
        std::env::var("USER").unwrap_or_else(|_| format!("uid {}", nix::unistd::getuid())),
    )
}

/// The page, and the keys of the figures a complete run should have produced but did not.
pub(crate) fn page(f: &Figures, rounds: usize, complete: bool) -> (String, Vec<String>) {
    let mut missing = Vec::new();
    let mut p = String::new();
    let w = &mut p;
    let _ = writeln!(
        w,
        "<!-- perf:begin (written by the benchmark: scripts/bench.sh) -->"
    );
    let _ = writeln!(w, "{}.", host());
    let _ = writeln!(
        w,
        "{rounds} round(s), {} ms settle before every process sample.",
        settle_time().as_millis()
    );
    if quick() {
        let _ = writeln!(
            w,
            "\n**A smoke run (`NETNS_PERF_QUICK=1`): fewer samples, no big topologies; \
             its figures are not the page's.**"
        );
    }
    let rounds_of = |key: &str| -> Option<(String, f64)> {
        let v = f.rounds.get(key)?;
        let per: Vec<String> = v.iter().map(|x| num(*x)).collect();
        // Judged as printed: the check of the page reads the same digits.
        let m: f64 = num(median_f(v.clone())).parse().expect("a number");
        Some((per.join(" / "), m))
    };
    let _ = writeln!(w, "\n### Targets\n");
    let _ = writeln!(
        w,
        "| target | figure | rounds | median | samples p10 / p90 | target | verdict |"
    );
    let _ = writeln!(w, "| --- | --- | --- | --- | --- | --- | --- |");
    for (what, key, target) in targets() {
        match rounds_of(&key) {
            Some((per, m)) => {
                let met = if target.met(m) { "met" } else { "NOT met" };
                let _ = writeln!(
                    w,
                    "| {what} | `{key}` | {per} | **{}** | {} | {} | {met} |",
                    num(m),
                    spread(f, &key),
                    target.rule()
                );
            }
            None if complete && quick() && big(&key) => {
                let _ = writeln!(
                    w,
                    "| {what} | `{key}` | | | | {} | not run (smoke) |",
                    target.rule()
                );
            }
            None => {
                if complete {
                    missing.push(key.clone());
                }
            }
        }
    }
    let _ = writeln!(w, "\n### Every figure\n");
    let _ = writeln!(w, "| figure | what | rounds | median | samples p10 / p90 |");
    let _ = writeln!(w, "| --- | --- | --- | --- | --- |");
    let listed = figures();
    let mut seen = std::collections::BTreeSet::new();
    for (key, what) in &listed {
        seen.insert(key.clone());
        match rounds_of(key) {
            Some((per, m)) => {
                let _ = writeln!(
                    w,
                    "| `{key}` | {what} | {per} | {} | {} |",
                    num(m),
                    spread(f, key)
                );
            }
            None if quick() && big(key) => {}
            None if key.starts_with("pool.") => {} // the small topologies only
            None => {
                if complete {
                    missing.push(key.clone());
                }
            }
        }
    }
    for key in f.rounds.keys().filter(|k| !seen.contains(*k)) {
        missing.push(format!("{key} (produced, not on the page)"));
    }
    let _ = writeln!(w, "<!-- perf:end -->");
    (p, missing)
}
