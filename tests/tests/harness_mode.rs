//! The harness mode's failures, seen from outside: the fixtures of
//! `fixtures/harness_fixtures.rs` (a harness-mode binary of this package) run as a process
//! of their own, and the tests here read its output and exit status.
//!
//! The fixture binary is found as `support::harness_fixtures` says.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

use std::time::{Duration, Instant};
use support::{stdout, text};

use netns_test::netns_test;

/// The tests of the fixture binary, and whether each is ignored.
const FIXTURES: &[(&str, bool)] = &[
    ("exits_the_process", true),
    ("hangs", false),
    ("hung::beside_connects", true),
    ("hung::beside_timing", true),
    ("hung::in_its_build", true),
    ("hung::spinning_a_cpu", true),
    ("hung::with_a_network", true),
    ("ignored_passes", true),
    ("ignores_itself", true),
    ("leaves_programs_running", true),
    ("panics", false),
    ("passes_after", false),
    ("passes_before", false),
    ("pauses_on_failure", true),
    ("pauses_on_failure_too", true),
    ("returns_an_error", false),
    ("runs_while_another_exits", true),
    ("should_panic_hangs", false),
    ("should_panic_has_an_invalid_topology", false),
    ("should_panic_panics", false),
];

/// A temporary folder, removed when dropped.
struct Temp(PathBuf);

impl Temp {
    fn new(tag: &str) -> Temp {
        let dir =
            std::env::temp_dir().join(format!("netns-test-harness-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a temporary folder");
        Temp(dir)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the fixture binary with `args`; its diagnostics go to `artifacts`.
fn run(args: &[&str], envs: &[(&str, &str)], artifacts: &Path) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(support::harness_fixtures())
        .args(args)
        .envs(envs.iter().copied())
        .env("NETNS_TEST_ARTIFACTS", artifacts)
        .env_remove("NETNS_TEST_TIMEOUT")
        .env_remove("NETNS_TEST_KEEP_ARTIFACTS")
        .output()
        .expect("running the harness fixtures");
    (out, start.elapsed())
}

/// The outcome libtest-mimic printed for `name` (`ok`, `FAILED`, `ignored`).
fn outcome<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    stdout.lines().find_map(|l| {
        let rest = l.strip_prefix("test ")?;
        let (n, outcome) = rest.split_once(" ... ")?;
        (n.trim_end() == name).then_some(outcome.trim())
    })
}

/// The failure message of `name` (its `---- name ----` section).
fn failure<'a>(stdout: &'a str, name: &str) -> &'a str {
    let head = format!("---- {name} ----\n");
    let start = stdout
        .find(&head)
        .unwrap_or_else(|| panic!("no failure section for {name} in:\n{stdout}"))
        + head.len();
    let rest = &stdout[start..];
    &rest[..rest.find("\n---- ").unwrap_or(rest.len())]
}

#[test]
fn a_panicking_a_hanging_and_an_erring_test_fail_alone_and_are_reported() {
    let artifacts = Temp::new("run");
    let (out, took) = run(&[], &[], &artifacts.0);
    let t = text(&out);
    let so = stdout(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    // Every test reported, the others passing around the failures.
    for (name, expected) in [
        ("passes_before", "ok"),
        ("passes_after", "ok"),
        ("should_panic_panics", "ok"),
        ("panics", "FAILED"),
        ("hangs", "FAILED"),
        ("returns_an_error", "FAILED"),
        ("should_panic_hangs", "FAILED"),
        ("should_panic_has_an_invalid_topology", "FAILED"),
        ("ignored_passes", "ignored"),
        ("exits_the_process", "ignored"),
        ("runs_while_another_exits", "ignored"),
        ("leaves_programs_running", "ignored"),
        ("pauses_on_failure", "ignored"),
        ("pauses_on_failure_too", "ignored"),
    ] {
        assert_eq!(outcome(&so, name), Some(expected), "{name}\n{t}");
    }
    assert!(
        so.contains("test result: FAILED. 3 passed; 5 failed; 12 ignored"),
        "{t}"
    );
    assert!(
        failure(&so, "panics").contains("the test panicked: the panicking fixture panics"),
        "{t}"
    );
    assert!(
        failure(&so, "returns_an_error")
            .contains("the test returned an error: \"the fixture's error\""),
        "{t}"
    );
    // The hanging test: failed at its timeout, and said why its thread goes on.
    let hang = failure(&so, "hangs");
    assert!(hang.contains("test hangs timed out after 1s"), "{t}");
    assert!(hang.contains("NETNS_TEST_TIMEOUT"), "{t}");
    assert!(hang.contains("cannot be killed"), "{t}");
    // ... and the process did not wait for it (it sleeps for an hour).
    assert!(took < Duration::from_secs(30), "took {took:?}\n{t}");
    // The failures wrote their diagnostics folders, the timeout's at the timeout.
    let folder = |name: &str| artifacts.0.join(format!("harness_fixtures__{name}"));
    let panicked = std::fs::read_to_string(folder("panics").join("outcome.txt"))
        .unwrap_or_else(|e| panic!("outcome.txt of panics: {e}\n{t}"));
    assert!(panicked.contains("the test panicked"), "{panicked}");
    assert!(folder("panics").join("a-eth0.pcap").is_file(), "{t}");
    assert!(folder("panics").join("b.txt").is_file(), "{t}");
    let hung = std::fs::read_to_string(folder("hangs").join("outcome.txt"))
        .unwrap_or_else(|e| panic!("outcome.txt of hangs: {e}\n{t}"));
    assert!(hung.contains("timed out after 1s"), "{hung}");
    // A passing test leaves none.
    assert!(!folder("passes_before").exists(), "{t}");
}

#[test]
fn should_panic_is_satisfied_by_the_body_only() {
    let artifacts = Temp::new("should-panic");
    let (out, _) = run(&["should_panic"], &[], &artifacts.0);
    let (t, so) = (text(&out), stdout(&out));
    assert_eq!(outcome(&so, "should_panic_panics"), Some("ok"), "{t}");
    assert!(
        failure(&so, "should_panic_hangs").contains("timed out after 500ms"),
        "{t}"
    );
    let invalid = failure(&so, "should_panic_has_an_invalid_topology");
    assert!(invalid.contains("invalid topology"), "{t}");
    assert!(invalid.contains("nowhere"), "{t}");
    assert!(!t.contains("the body ran"), "{t}");
    assert!(so.contains("1 passed; 2 failed"), "{t}");
}

#[test]
fn a_test_that_exits_fails_the_run_whatever_its_exit_code() {
    let artifacts = Temp::new("exit");
    // Alone: `std::process::exit(0)` would have been a pass.
    let (out, _) = run(
        &["--ignored", "--exact", "exits_the_process"],
        &[],
        &artifacts.0,
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("netns-test: test exits_the_process called exit"),
        "{t}"
    );
    assert!(
        stderr.contains("the tests that had not started did not run"),
        "{t}"
    );
    assert!(!stderr.contains("ended unfinished"), "{t}");
    assert!(!stdout(&out).contains("test result"), "{t}");

    // With another test running: both named, the process ends at once (the other test
    // would have slept 30 s).
    let (out, took) = run(
        &["--ignored", "--test-threads", "2", "exits"],
        &[("FIXTURE_EXIT_WITH_OTHER", "1")],
        &artifacts.0,
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("netns-test: test exits_the_process called exit"),
        "{t}"
    );
    assert!(
        stderr.contains("still running, and ended unfinished: runs_while_another_exits\n"),
        "{t}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}\n{t}");
}

/// Processes whose command line is exactly `args`.
fn processes(args: &[&str]) -> Vec<String> {
    let wanted: Vec<u8> = args
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == wanted))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn programs_a_test_leaves_running_end_with_the_run() {
    let artifacts = Temp::new("programs");
    let marker = format!(
        "{}.{}",
        4000 + std::process::id() % 1000,
        std::process::id()
    );
    // Output to files, not pipes: programs left running would hold a pipe open.
    let log = artifacts.0.join("out.txt");
    let file = std::fs::File::create(&log).expect("the output file");
    let status = Command::new(support::harness_fixtures())
        .args(["--ignored", "--exact", "leaves_programs_running"])
        .env("FIXTURE_MARKER", &marker)
        .env("NETNS_TEST_ARTIFACTS", &artifacts.0)
        .stdout(file.try_clone().expect("the output file"))
        .stderr(file)
        .status()
        .expect("running the harness fixtures");
    let t = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{status:?}\n{t}");
    assert!(t.contains("1 passed; 0 failed"), "{t}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes(&["sleep", &marker]);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the programs the test left running outlived the run: pids {left:?}\n{t}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A test that calls `harness::ignore` is reported ignored, with its reason, and the run
/// passes; its diagnostics folder is not kept.
#[test]
fn a_test_can_ignore_itself_at_run_time() {
    let artifacts = Temp::new("ignore");
    let (out, _) = run(
        &["--ignored", "--exact", "ignores_itself"],
        &[],
        &artifacts.0,
    );
    let (t, so) = (text(&out), stdout(&out));
    assert!(out.status.success(), "{t}");
    assert_eq!(
        outcome(&so, "ignores_itself"),
        Some("ignored (the fixture's reason)"),
        "{t}"
    );
    assert!(so.contains("0 passed; 0 failed; 1 ignored"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    assert!(
        !artifacts
            .0
            .join("harness_fixtures__ignores_itself")
            .exists(),
        "{t}"
    );
}

/// In the default mode, which libtest runs, there is no ignored outcome at run time: the
/// test fails with the reason (`default_mode::ignores_itself`, run through this binary).
#[test]
fn a_test_that_ignores_itself_fails_in_the_default_mode() {
    let artifacts = Temp::new("ignore-default");
    let mut cmd = Command::new(std::env::current_exe().expect("this test binary"));
    cmd.args(["default_mode::ignores_itself", "--exact", "--ignored"]);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("NEXTEST") || k.starts_with("NETNS_TEST_") {
            cmd.env_remove(&*k);
        }
    }
    let out = cmd
        .env("NETNS_TEST_ARTIFACTS", &artifacts.0)
        .output()
        .expect("running this test binary");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(t.contains("0 passed; 1 failed"), "{t}");
    assert!(
        t.contains("the test asked to be ignored at run time (the fixture's reason)"),
        "{t}"
    );
}

mod default_mode {
    use netns_test::netns_test;

    #[netns_test]
    #[ignore = "fixture: run by a_test_that_ignores_itself_fails_in_the_default_mode"]
    fn ignores_itself() {
        netns_test::harness::ignore("the fixture's reason");
    }
}

/// Processes (pids) that have `FIXTURE_MARKER=marker` in their environment, or whose
/// network namespace is one of `netns` (inodes).
fn traces_of(marker: &str, netns: &[u64]) -> Vec<String> {
    let var = format!("FIXTURE_MARKER={marker}");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| {
            let p = e.path();
            let env = std::fs::read(p.join("environ")).unwrap_or_default();
            let in_env = env.split(|&b| b == 0).any(|v| v == var.as_bytes());
            let ns = std::fs::read_link(p.join("ns/net")).ok()?;
            let ns = ns.to_string_lossy().into_owned();
            let in_ns = netns.iter().any(|i| ns == format!("net:[{i}]"));
            (in_env || in_ns).then(|| format!("{} ({ns})", e.file_name().to_string_lossy()))
        })
        .collect()
}

/// Three tests hang (in the body with a network and a program in a node, in the build of
/// the network, spinning a CPU) beside two that pass, one timing round trips and timers:
/// the two pass, the three fail at their timeout, the run ends then, and nothing of the
/// hung tests (programs, namespaces, threads) outlives it.
#[test]
fn hung_tests_fail_at_their_timeout_and_leave_nothing_behind() {
    let artifacts = Temp::new("hung");
    let marker = format!(
        "{}.{}",
        5000 + std::process::id() % 1000,
        std::process::id()
    );
    let traces = artifacts.0.join("traces");
    std::fs::create_dir_all(&traces).expect("the traces folder");
    let log = artifacts.0.join("out.txt");
    let file = std::fs::File::create(&log).expect("the output file");
    let start = Instant::now();
    let status = Command::new(support::harness_fixtures())
        .args(["--ignored", "hung::", "--test-threads", "5"])
        .env("FIXTURE_HUNG_BESIDE", "1")
        .env("FIXTURE_MARKER", &marker)
        .env("FIXTURE_TRACE", &traces)
        .env("NETNS_TEST_ARTIFACTS", &artifacts.0)
        .env_remove("NETNS_TEST_TIMEOUT")
        .stdout(file.try_clone().expect("the output file"))
        .stderr(file)
        .status()
        .expect("running the harness fixtures");
    let took = start.elapsed();
    let t = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.code(), Some(101), "{t}");
    // The tests beside ran while the three hung, and passed.
    for name in ["beside_connects", "beside_timing"] {
        assert_eq!(outcome(&t, &format!("hung::{name}")), Some("ok"), "{t}");
        assert!(
            t.contains(&format!("{name}: runs while 3 of 3 hung tests hang")),
            "{t}"
        );
    }
    assert!(t.contains("beside_timing: spinning beside: true;"), "{t}");
    // The hung ones failed at their timeout, each saying where it hung.
    for (name, phase) in [
        ("with_a_network", "while its body ran"),
        ("spinning_a_cpu", "while its body ran"),
        ("in_its_build", "before its network was built"),
    ] {
        let name = format!("hung::{name}");
        assert_eq!(outcome(&t, &name), Some("FAILED"), "{name}\n{t}");
        let why = failure(&t, &name);
        assert!(
            why.contains(&format!("test {name} timed out after 2s {phase}")),
            "{t}"
        );
    }
    assert!(t.contains("test result: FAILED. 2 passed; 3 failed"), "{t}");
    let outcome_txt = artifacts
        .0
        .join("harness_fixtures__hung__with_a_network/outcome.txt");
    let hung = std::fs::read_to_string(&outcome_txt)
        .unwrap_or_else(|e| panic!("{}: {e}\n{t}", outcome_txt.display()));
    assert!(hung.contains("timed out after 2s"), "{hung}");
    // The run ended at the timeouts: it did not wait for the hung bodies.
    assert!(took < Duration::from_secs(30), "took {took:?}\n{t}");
    // Nothing of the hung tests outlives the run: no process of the run (the spinning
    // thread's included), no program they started, nothing in their namespaces.
    let netns: Vec<u64> = ["with_a_network", "in_its_build"]
        .iter()
        .map(|w| {
            let f = traces.join(format!("{w}.netns"));
            let ino =
                std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}\n{t}", f.display()));
            ino.trim().parse().expect("an inode")
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = traces_of(&marker, &netns);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes of the hung tests outlived the run: {left:?}\n{t}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_command_line_is_libtests() {
    let artifacts = Temp::new("cli");
    // What nextest reads: `name: test` lines and nothing else on stdout, in libtest's
    // order (by name).
    let (out, _) = run(&["--list", "--format", "terse"], &[], &artifacts.0);
    assert!(out.status.success(), "{}", text(&out));
    let listed: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    let all: Vec<String> = FIXTURES.iter().map(|(n, _)| format!("{n}: test")).collect();
    assert_eq!(listed, all, "{}", text(&out));
    let (out, _) = run(
        &["--list", "--format", "terse", "--ignored"],
        &[],
        &artifacts.0,
    );
    let mut ignored: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    ignored.sort();
    let expected: Vec<String> = FIXTURES
        .iter()
        .filter(|(_, ignored)| *ignored)
        .map(|(n, _)| format!("{n}: test"))
        .collect();
    assert_eq!(ignored, expected, "{}", text(&out));

    // How nextest runs one test: `--exact NAME --nocapture`.
    let (out, _) = run(
        &["--exact", "passes_before", "--nocapture"],
        &[],
        &artifacts.0,
    );
    let (t, so) = (text(&out), stdout(&out));
    assert!(out.status.success(), "{t}");
    assert!(so.contains("running 1 test\n"), "{t}");
    assert_eq!(outcome(&so, "passes_before"), Some("ok"), "{t}");
    assert!(so.contains("1 passed; 0 failed; 0 ignored"), "{t}");
    // ... and one that fails: the process fails.
    let (out, _) = run(&["--exact", "panics"], &[], &artifacts.0);
    assert_eq!(out.status.code(), Some(101), "{}", text(&out));

    // A filter, `--skip`, one test thread.
    let (out, _) = run(
        &["passes", "--skip", "after", "--test-threads", "1"],
        &[],
        &artifacts.0,
    );
    let (t, so) = (text(&out), stdout(&out));
    assert!(out.status.success(), "{t}");
    assert_eq!(outcome(&so, "passes_before"), Some("ok"), "{t}");
    assert_eq!(outcome(&so, "passes_after"), None, "{t}");

    // Ignored tests: `--ignored` runs only them, `--include-ignored` them too.
    let (out, _) = run(&["--ignored", "ignored_passes"], &[], &artifacts.0);
    let (t, so) = (text(&out), stdout(&out));
    assert!(out.status.success(), "{t}");
    assert!(so.contains("1 passed; 0 failed; 0 ignored"), "{t}");
    let (out, _) = run(&["--include-ignored", "passes"], &[], &artifacts.0);
    let (t, so) = (text(&out), stdout(&out));
    assert!(out.status.success(), "{t}");
    assert!(so.contains("3 passed; 0 failed; 0 ignored"), "{t}");
}

/// A binary none of whose tests registered fails instead of passing "0 tests".
#[test]
fn a_harness_binary_without_registered_tests_fails() {
    let bin = std::env::var_os("NEXTEST_BIN_EXE_harness_empty").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_harness_empty")),
        PathBuf::from,
    );
    let out = Command::new(&bin).output().expect("running harness_empty");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("this binary has no #[netns_test] test"),
        "{t}"
    );
    assert!(!stdout(&out).contains("test result: ok"), "{t}");
    // Listing it is not an error: there is nothing to list.
    let out = Command::new(&bin)
        .args(["--list", "--format", "terse"])
        .output()
        .expect("listing harness_empty");
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
}

/// A machine where no user namespace can be created: every selected test fails with the
/// diagnosis, none passes (and listing still works, for nextest).
#[netns_test]
fn a_machine_without_namespaces_fails_every_selected_test() {
    // Inside a sandbox this test owns a user namespace, whose limit it may lower: the
    // fixture binary then cannot create its own, as on a machine with the sysctl at 0.
    std::fs::write("/proc/sys/user/max_user_namespaces", "0")
        .expect("lowering the limit in our user namespace");
    let artifacts = Temp::new("no-namespaces");
    let (out, _) = run(&["passes"], &[], &artifacts.0);
    let (t, so) = (text(&out), stdout(&out));
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert_eq!(outcome(&so, "passes_before"), Some("FAILED"), "{t}");
    assert_eq!(outcome(&so, "passes_after"), Some("FAILED"), "{t}");
    assert!(so.contains("0 passed; 2 failed"), "{t}");
    let why = failure(&so, "passes_before");
    assert!(why.contains("netns-test cannot run tests here"), "{t}");
    assert!(why.contains("user.max_user_namespaces is 0"), "{t}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no test of this binary can run"),
        "{t}"
    );
    let (out, _) = run(&["--list", "--format", "terse"], &[], &artifacts.0);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        stdout(&out).lines().count(),
        FIXTURES.len(),
        "{}",
        text(&out)
    );
    assert!(out.stderr.is_empty(), "{}", text(&out));
}
