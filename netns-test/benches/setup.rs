//! Setup-cost benchmarks: `cargo bench -p netns-test --bench setup`.
//!
//! This binary is both the driver and the fixture. Run without test-runner arguments it
//! re-runs itself, as a test runner would, once per sample and fixture, and prints medians:
//!
//! - `plain_empty`: an ordinary test with an empty body (process start + harness): the
//!   baseline every test pays.
//! - `sandbox_empty`: the same test in a netns-test sandbox with no topology: the
//!   per-test overhead of the sandbox is its median minus the baseline's.
//! - `lan_wan`: the "LAN + router + WAN" preset (2 LAN hosts, a router holding the LAN
//!   bridge, a WAN server); reports the whole test and the build time the sandbox measured.
//! - `two_networks`: the tutorial's docker0 + testnet with three containers.
//! - kernel floor, measured in the same run: `unshare -Urn true` (process with user+net
//!   namespaces, exec of a trivial program).
//!
//! With libtest-style arguments (`NAME --exact ...`), it runs one fixture, the way the
//! sandbox re-executes test binaries.

use std::process::Command;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Trial};
use netns_test::sandbox::{run_sync, ShouldPanic, TestSpec};
use netns_test::{presets, Net, Topology};

const SAMPLES: usize = 60;

fn spec(path: &'static str) -> TestSpec {
    TestSpec {
        path,
        timeout_ms: Some(30_000),
        keep_artifacts: false,
        should_panic: ShouldPanic::No,
    }
}

fn report_build(net: Net) {
    println!("build_us={}", net.build_time().as_micros());
}

fn fixtures() -> Vec<Trial> {
    vec![
        Trial::test("plain_empty", || Ok(())),
        Trial::test("sandbox_empty", || {
            run_sync(spec("setup::sandbox_empty"), Topology::new, |_net| {});
            Ok(())
        }),
        Trial::test("lan_wan", || {
            run_sync(spec("setup::lan_wan"), || presets::lan_wan(2), report_build);
            Ok(())
        }),
        Trial::test("nat_lan_wan", || {
            run_sync(
                spec("setup::nat_lan_wan"),
                || presets::nat_lan_wan(2),
                report_build,
            );
            Ok(())
        }),
        Trial::test("nat_apply", || {
            run_sync(spec("setup::nat_apply"), nat_nodes, nat_apply);
            Ok(())
        }),
        Trial::test("two_networks", || {
            run_sync(
                spec("setup::two_networks"),
                presets::two_networks,
                report_build,
            );
            Ok(())
        }),
    ]
}

const NAT_SAMPLES: usize = 25;

/// Nodes with nothing in them: each NAT table goes into a namespace of its own, so no
/// sample waits for the previous one's cleanup.
fn nat_nodes() -> Topology {
    (0..2 * NAT_SAMPLES).fold(Topology::new(), |t, i| t.node(&format!("n{i}"), |n| n))
}

/// The NAT router's table (masquerade for a LAN leaving by any other interface), applied
/// over netlink in half of the nodes and through the `nft` binary in the other half.
fn nat_apply(net: Net) {
    let rules = netns_test::nft::Ruleset::new().nat_masquerade("192.168.1.0/24", Some("lan"));
    let text = rules.to_string();
    let mut netlink = Vec::new();
    let mut binary = Vec::new();
    for i in 0..NAT_SAMPLES {
        let node = net.node(&format!("n{i}"));
        netlink.push(node.exec(|| {
            let start = Instant::now();
            netns_test::nft::apply(&rules).expect("apply over netlink");
            start.elapsed()
        }));
        let node = net.node(&format!("n{}", NAT_SAMPLES + i));
        let start = Instant::now();
        let mut child = node
            .command("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("the nft binary, for comparison");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("ruleset to nft");
        assert!(
            child.wait().expect("nft").success(),
            "nft -f refused:\n{text}"
        );
        binary.push(start.elapsed());
    }
    println!("nft_netlink_us={}", median(netlink).as_micros());
    println!("nft_binary_us={}", median(binary).as_micros());
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Runs `cmd` SAMPLES times; returns wall-clock medians and the median of any build_us=
/// line it printed.
fn sample(mut make: impl FnMut() -> Command) -> (Duration, Option<Duration>) {
    let mut walls = Vec::new();
    let mut builds = Vec::new();
    for _ in 0..SAMPLES {
        let mut cmd = make();
        let start = Instant::now();
        let out = cmd.output().expect("running a sample");
        walls.push(start.elapsed());
        assert!(
            out.status.success(),
            "sample failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(us) = line.split("build_us=").nth(1) {
                builds.push(Duration::from_micros(us.trim().parse().expect("micros")));
            }
        }
    }
    (median(walls), (!builds.is_empty()).then(|| median(builds)))
}

fn drive() {
    let exe = std::env::current_exe().expect("own path");
    let fixture = |name: &'static str| {
        let exe = exe.clone();
        move || {
            let mut c = Command::new(&exe);
            c.args([name, "--exact", "--nocapture", "--test-threads=1"]);
            c
        }
    };
    // Warm-up: page cache, first netns of this user.
    for name in ["plain_empty", "sandbox_empty", "lan_wan"] {
        let _ = fixture(name)().output();
    }
    let (floor, _) = sample(|| {
        let mut c = Command::new("unshare");
        c.args(["-Urn", "true"]);
        c
    });
    let (plain, _) = sample(fixture("plain_empty"));
    let (sandbox, _) = sample(fixture("sandbox_empty"));
    let (lan_wan, lan_wan_build) = sample(fixture("lan_wan"));
    let (two, two_build) = sample(fixture("two_networks"));
    let (nat, nat_build) = sample(fixture("nat_lan_wan"));
    let out = fixture("nat_apply")().output().expect("nat_apply");
    let text = String::from_utf8_lossy(&out.stdout);
    let figure = |key: &str| -> Duration {
        let us = text
            .lines()
            .find_map(|l| l.split(key).nth(1))
            .unwrap_or_else(|| panic!("no {key} in:\n{text}"));
        Duration::from_micros(us.trim().parse().expect("micros"))
    };
    let (nft_netlink, nft_binary) = (figure("nft_netlink_us="), figure("nft_binary_us="));
    let overhead = sandbox.saturating_sub(plain);
    println!(
        "netns-test setup benchmark: {SAMPLES} samples each, medians, wall clock per test process"
    );
    println!("| what | median | note |");
    println!("| --- | --- | --- |");
    println!(
        "| kernel floor: `unshare -Urn true` | {} | fork+userns+netns+exec, same run |",
        ms(floor)
    );
    println!(
        "| plain test, empty body | {} | baseline: process start + harness |",
        ms(plain)
    );
    println!("| `#[netns_test]`, no topology | {} | sandbox overhead {} over baseline ({:.2}x the kernel floor) |", ms(sandbox), ms(overhead), overhead.as_secs_f64() / floor.as_secs_f64());
    println!(
        "| `lan_wan(2)` preset, whole test | {} | build inside the sandbox {} |",
        ms(lan_wan),
        ms(lan_wan_build.expect("build time"))
    );
    println!(
        "| `two_networks()` preset, whole test | {} | build inside the sandbox {} |",
        ms(two),
        ms(two_build.expect("build time"))
    );
    println!("| `nat_lan_wan(2)` preset, whole test | {} | build inside the sandbox {} (with its NAT table) |", ms(nat), ms(nat_build.expect("build time")));
    println!("| NAT table+chain+rule over netlink | {} | median of {NAT_SAMPLES}, each into a fresh netns |", ms(nft_netlink));
    println!(
        "| the same ruleset through `nft -f -` | {} | same run; {:.1}x the netlink cost |",
        ms(nft_binary),
        nft_binary.as_secs_f64() / nft_netlink.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes only `--bench`; the sandbox and the driver pass a test name.
    if args.iter().all(|a| a == "--bench") {
        drive();
        return;
    }
    libtest_mimic::run(&Arguments::from_args(), fixtures()).exit();
}
