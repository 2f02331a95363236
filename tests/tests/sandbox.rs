//! The sandbox's guarantees: outcomes reported faithfully, timeouts enforced, nothing
//! outliving a test (even when the runner is SIGKILLed), parallel tests not interfering,
//! and an environment that cannot create namespaces explained, never passed.
//!
//! Tests that must fail on purpose live in `fixtures`, marked `#[ignore]`; the tests here
//! run them through this very test binary, as `cargo test` would, and judge the output.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use netns_test::{netns_test, presets, Net};

mod support;

use support::machine::{is_root, machine_state};
use support::text;

/// Fixtures: each one is run by a test below and is expected to fail in a specific way.
mod fixtures {
    use netns_test::{netns_test, presets, Net, Topology};

    #[netns_test]
    #[ignore = "fixture: run by sandbox::a_panic_fails_the_test_with_its_message"]
    fn panics() {
        panic!("boom from inside the sandbox");
    }

    #[netns_test]
    #[ignore = "fixture: run by sandbox::an_err_fails_the_test_with_the_error"]
    async fn returns_err() -> Result<(), String> {
        Err("the server said no".to_string())
    }

    #[netns_test(timeout = "300ms")]
    #[ignore = "fixture: run by sandbox::a_timeout_kills_the_sandbox"]
    fn sleeps_past_its_timeout() {
        std::thread::sleep(std::time::Duration::from_secs(30));
    }

    #[netns_test(topology = Topology::new().bridge("br0", "10.0.0.0/24").node("a", |n| n.on_ip("br0", "10.9.9.9")))]
    #[ignore = "fixture: run by sandbox::an_invalid_topology_fails_before_any_namespace"]
    fn has_an_invalid_topology() {}

    /// Starts a long sleep inside a node, says so, and waits to be killed.
    #[netns_test(topology = presets::two_networks(), timeout = "60s")]
    #[ignore = "fixture: run by sandbox::a_sigkilled_runner_leaves_nothing_behind"]
    fn waits_with_a_child_process(net: Net) {
        let marker = std::env::var("NETNS_TEST_MARKER").expect("marker");
        // Never waited for on purpose: the sandbox's death must take it along.
        #[allow(clippy::zombie_processes)]
        let _child = net
            .node("con1")
            .command("sleep")
            .arg(&marker)
            .spawn()
            .expect("sleep");
        println!("ready");
        std::thread::sleep(std::time::Duration::from_secs(60));
    }

    #[netns_test]
    #[ignore = "fixture: run by sandbox::max_user_namespaces_zero_is_diagnosed"]
    fn needs_a_namespace() {}

    #[netns_test]
    #[ignore = "fixture: run by sandbox::should_panic_is_not_satisfied_by_an_uncreatable_sandbox"]
    #[should_panic]
    fn should_panic_needs_a_namespace() {
        panic!("the body ran");
    }

    #[netns_test(timeout = "300ms")]
    #[ignore = "fixture: run by sandbox::should_panic_is_not_satisfied_by_a_timeout"]
    #[should_panic]
    fn should_panic_sleeps_past_its_timeout() {
        std::thread::sleep(std::time::Duration::from_secs(30));
    }

    #[netns_test(topology = Topology::new().bridge("br0", "10.0.0.0/24").node("a", |n| n.on_ip("br0", "10.9.9.9")))]
    #[ignore = "fixture: run by sandbox::should_panic_is_not_satisfied_by_an_invalid_topology"]
    #[should_panic]
    fn should_panic_has_an_invalid_topology() {
        panic!("the body ran");
    }

    #[netns_test]
    #[ignore = "fixture: run by sandbox::should_panic_is_not_satisfied_by_a_crash"]
    #[should_panic]
    fn should_panic_aborts() {
        std::process::abort();
    }

    #[netns_test]
    #[ignore = "fixture: run by sandbox::should_panic_with_another_message_fails"]
    #[should_panic(expected = "bang")]
    fn should_panic_expects_another_message() {
        panic!("boom from inside the sandbox");
    }

    #[netns_test]
    #[ignore = "fixture: run by sandbox::should_panic_with_the_expected_message_passes"]
    #[should_panic(expected = "from inside")]
    async fn should_panic_expects_this_message() {
        panic!("boom from inside the sandbox");
    }

    #[netns_test]
    #[ignore = "fixture: run by sandbox::should_panic_without_a_panic_fails"]
    #[should_panic]
    fn should_panic_does_not_panic() {}

    #[netns_test]
    #[ignore = "fixture: run by sandbox::netns_test_timeout_takes_the_attributes_grammar and others"]
    fn passes() {}

    #[netns_test(topology = presets::docker_bridge(9))]
    #[ignore = "fixture: run by sandbox::running_out_of_network_namespaces_names_the_limit"]
    fn needs_ten_namespaces(net: Net) {
        assert_eq!(net.nodes().len(), 10);
    }

    /// 20 containers; checks that the soft fd limit is the hard one.
    #[netns_test(topology = presets::docker_bridge(20))]
    #[ignore = "fixture: run by sandbox::twenty_nodes_* tests"]
    fn twenty_nodes(net: Net) {
        assert_eq!(net.nodes().len(), 21);
        let (soft, hard) = super::open_files_limit();
        assert_eq!(
            soft, hard,
            "the sandbox raised its soft limit to the hard one"
        );
        // Every node has its network: the last one has its address.
        assert_eq!(net.node("con20").ip().to_string(), "172.17.0.21");
    }

    #[netns_test(topology = presets::docker_bridge(1000), timeout = "300s")]
    #[ignore = "fixture: run by sandbox::a_thousand_nodes_build_under_the_default_soft_limit"]
    fn a_thousand_nodes(net: Net) {
        assert_eq!(net.nodes().len(), 1001);
        assert_eq!(net.node("con1000").ip().to_string(), "172.17.3.233");
        let (soft, hard) = super::open_files_limit();
        assert_eq!(
            soft, hard,
            "the sandbox raised its soft limit to the hard one"
        );
        println!("built 1000 nodes in {:?}", net.build_time());
        // Every link is up and carries frames, the last ones built included.
        let (first, last) = (net.node("con1"), net.node("con1000"));
        net.block_on(async move {
            last.assert_reaches("con1", netns_test::reach::Probe::Icmp)
                .await;
            first
                .assert_reaches("host", netns_test::reach::Probe::Icmp)
                .await;
        });
    }
}

/// `Max open files` of this process: (soft, hard).
fn open_files_limit() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let mut fields = line["Max open files".len()..].split_whitespace();
    let mut next = || fields.next().expect("a limit").parse().expect("a number");
    (next(), next())
}

/// Runs one fixture of this binary the way `cargo test` would, without the run's timeout.
fn run_fixture(name: &str, envs: &[(&str, &str)]) -> Output {
    fixture_command(name, envs)
        .output()
        .expect("running the test binary")
}

/// The fixtures fail on purpose: unless the run names a folder for diagnostics, theirs go to
/// cargo's scratch folder, not among the folders of tests that really failed.
fn fixture_command(name: &str, envs: &[(&str, &str)]) -> Command {
    let mut cmd = support::fixture_command(name, &["NETNS_TEST_TIMEOUT"], &[]);
    if std::env::var_os("NETNS_TEST_ARTIFACTS").is_none() {
        cmd.env(
            "NETNS_TEST_ARTIFACTS",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox-fixtures"),
        );
    }
    cmd.envs(envs.iter().copied());
    cmd
}

/// Resource limits set in the fixture's process before it starts.
#[derive(Clone, Copy, Default)]
struct Limits {
    /// `RLIMIT_NOFILE` (soft, hard).
    nofile: Option<(u64, u64)>,
    /// `RLIMIT_NPROC` (soft and hard).
    nproc: Option<u64>,
}

fn with_limits(cmd: &mut Command, limits: Limits) -> &mut Command {
    use std::os::unix::process::CommandExt;
    let set = |resource, soft: u64, hard: u64| {
        let lim = libc::rlimit {
            rlim_cur: soft as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: setrlimit is async-signal-safe and lim lives through the call.
        if unsafe { libc::setrlimit(resource, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the closure only makes raw setrlimit calls on values prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if let Some((soft, hard)) = limits.nofile {
                set(libc::RLIMIT_NOFILE, soft, hard)?;
            }
            if let Some(n) = limits.nproc {
                set(libc::RLIMIT_NPROC, n, n)?;
            }
            Ok(())
        })
    }
}

fn run_fixture_with(name: &str, limits: Limits) -> Output {
    with_limits(&mut fixture_command(name, &[]), limits)
        .output()
        .expect("running the test binary")
}

/// The outcome of a fixture that must fail: its output, checked to be one failed test.
fn failed(out: &Output) -> String {
    let t = text(out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("test result: FAILED. 0 passed; 1 failed"), "{t}");
    t
}

/// The outcome of a fixture that must pass.
fn passed(out: &Output) -> String {
    let t = text(out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("test result: ok. 1 passed"), "{t}");
    t
}

#[test]
fn a_panic_fails_the_test_with_its_message() {
    let out = run_fixture("fixtures::panics", &[]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("boom from inside the sandbox"), "{t}");
    assert!(t.contains("test result: FAILED. 0 passed; 1 failed"), "{t}");
}

#[test]
fn an_err_fails_the_test_with_the_error() {
    let out = run_fixture("fixtures::returns_err", &[]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("the test returned an error: \"the server said no\""),
        "{t}"
    );
}

#[test]
fn a_timeout_kills_the_sandbox() {
    let start = Instant::now();
    let out = run_fixture("fixtures::sleeps_past_its_timeout", &[]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("timed out after 300ms"), "{t}");
    assert!(t.contains("killed"), "{t}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "the timeout did not stop the test: {:?}",
        start.elapsed()
    );
}

#[test]
fn an_invalid_topology_fails_before_any_namespace() {
    let out = run_fixture("fixtures::has_an_invalid_topology", &[]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("invalid topology"), "{t}");
    assert!(
        t.contains("node \"a\" on \"br0\": 10.9.9.9 is outside the subnet 10.0.0.0/24"),
        "{t}"
    );
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(format!("{pid}: {cmdline}"));
            }
        }
    }
    found
}

fn wait_until(what: &str, deadline: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < deadline,
            "{what}: still not true after {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_sigkilled_runner_leaves_nothing_behind() {
    let before = machine_state();
    let marker = format!("{}.{}", 600 + std::process::id() % 100, std::process::id());
    let mut runner = Command::new(std::env::current_exe().expect("own path"))
        .args([
            "fixtures::waits_with_a_child_process",
            "--exact",
            "--include-ignored",
            "--nocapture",
        ])
        .env_remove("NETNS_TEST_SANDBOX")
        .env("NETNS_TEST_MARKER", &marker)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning the runner");
    let stdout = runner.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("ready"));
    assert!(ready, "the fixture never reported ready");
    assert_eq!(
        processes_with(&marker).len(),
        1,
        "the child inside the node is running"
    );

    runner.kill().expect("SIGKILL to the runner");
    runner.wait().expect("reaping the runner");

    wait_until(
        "every process of the sandbox is gone",
        Duration::from_secs(10),
        || processes_with(&marker).is_empty(),
    );
    assert_eq!(
        before,
        machine_state(),
        "the machine's links, routes or mounts changed"
    );
}

/// Lowers `user.max_user_namespaces` of the sandbox's user namespace to 0: nested
/// namespaces then cannot be created, exactly as on a machine with the sysctl at 0.
fn no_more_user_namespaces() {
    std::fs::write("/proc/sys/user/max_user_namespaces", "0")
        .expect("lowering the limit in our user namespace");
}

#[netns_test]
fn max_user_namespaces_zero_is_diagnosed() {
    no_more_user_namespaces();
    let err = netns_test::environment::probe().expect_err("no namespace can be created now");
    let msg = err.to_string();
    assert!(msg.contains("user.max_user_namespaces is 0"), "{msg}");
    assert!(msg.contains("sysctl -w user.max_user_namespaces="), "{msg}");

    // A test run here fails, naming the cause: it does not pass silently.
    let out = run_fixture("fixtures::needs_a_namespace", &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("netns-test cannot run tests here"), "{t}");
    assert!(t.contains("user.max_user_namespaces is 0"), "{t}");
}

#[netns_test]
fn should_panic_is_not_satisfied_by_an_uncreatable_sandbox() {
    no_more_user_namespaces();
    let t = failed(&run_fixture(
        "fixtures::should_panic_needs_a_namespace",
        &[],
    ));
    assert!(t.contains("user.max_user_namespaces is 0"), "{t}");
    assert!(!t.contains("the body ran"), "{t}");
}

#[test]
fn should_panic_is_not_satisfied_by_a_timeout() {
    let t = failed(&run_fixture(
        "fixtures::should_panic_sleeps_past_its_timeout",
        &[],
    ));
    assert!(t.contains("timed out after 300ms"), "{t}");
}

#[test]
fn should_panic_is_not_satisfied_by_an_invalid_topology() {
    let t = failed(&run_fixture(
        "fixtures::should_panic_has_an_invalid_topology",
        &[],
    ));
    assert!(t.contains("invalid topology"), "{t}");
    assert!(!t.contains("the body ran"), "{t}");
}

#[test]
fn should_panic_is_not_satisfied_by_a_crash() {
    let t = failed(&run_fixture("fixtures::should_panic_aborts", &[]));
    // (abort() as PID 1 of a PID namespace ends in SIGABRT or, where init ignores it, in
    // glibc's fallback SIGSEGV.)
    assert!(t.contains("was killed by signal"), "{t}");
    assert!(t.contains("before it reported an outcome"), "{t}");
}

#[test]
fn should_panic_with_another_message_fails() {
    let t = failed(&run_fixture(
        "fixtures::should_panic_expects_another_message",
        &[],
    ));
    assert!(
        t.contains(
            "panic did not contain expected string\n      panic message: `\"boom from inside the sandbox\"`,\n expected substring: `\"bang\"`"
        ),
        "{t}"
    );
}

#[test]
fn should_panic_with_the_expected_message_passes() {
    passed(&run_fixture(
        "fixtures::should_panic_expects_this_message",
        &[],
    ));
}

#[test]
fn should_panic_without_a_panic_fails() {
    let t = failed(&run_fixture("fixtures::should_panic_does_not_panic", &[]));
    assert!(t.contains("test did not panic as expected"), "{t}");
}

#[test]
fn netns_test_timeout_takes_the_attributes_grammar() {
    // Positive controls: the forms of the attribute.
    for good in ["30", "30s", "30000ms", "1m"] {
        passed(&run_fixture(
            "fixtures::passes",
            &[("NETNS_TEST_TIMEOUT", good)],
        ));
    }
    for zero in ["0", "0ms", "0s"] {
        let t = failed(&run_fixture(
            "fixtures::passes",
            &[("NETNS_TEST_TIMEOUT", zero)],
        ));
        assert!(
            t.contains(&format!(
                "NETNS_TEST_TIMEOUT=\"{zero}\": the timeout must be greater than zero"
            )),
            "{t}"
        );
        assert!(!t.contains("timed out"), "{t}");
    }
    for bad in ["soon", "10 s", "10h", "1.5s", ""] {
        let t = failed(&run_fixture(
            "fixtures::passes",
            &[("NETNS_TEST_TIMEOUT", bad)],
        ));
        assert!(
            t.contains(&format!("NETNS_TEST_TIMEOUT={bad:?} is not a timeout: expected a duration like \"500ms\", \"30s\" or \"2m\", or an integer number of seconds like \"30\"")),
            "{t}"
        );
    }
}

#[test]
fn a_topology_that_cannot_be_planned_is_reported_at_the_test() {
    let t = failed(&run_fixture(
        "fixtures::has_an_invalid_topology",
        &[("RUST_BACKTRACE", "0")],
    ));
    assert!(t.contains("invalid topology"), "{t}");
    // The panic's location is the test's attribute in this file, not the runtime.
    assert!(t.contains(&format!("panicked at {}:", file!())), "{t}");
    assert!(
        !t.lines()
            .any(|l| l.contains("panicked at") && l.contains("netns-test/src/")),
        "{t}"
    );
}

/// This test's user namespace has its own `user.max_net_namespaces`, which every
/// namespace created below it counts against: this sandbox's own, and those of a test run
/// from here.
#[netns_test]
fn running_out_of_network_namespaces_names_the_limit() {
    let limit = "/proc/sys/user/max_net_namespaces";
    // Positive control: with room, the fixture (10 namespaces) passes.
    std::fs::write(limit, "20").expect("setting the limit in our user namespace");
    passed(&run_fixture("fixtures::needs_ten_namespaces", &[]));
    // Let the namespaces of that run go.
    std::thread::sleep(Duration::from_millis(500));

    // Fewer than the topology needs at all: refused before any namespace exists.
    std::fs::write(limit, "9").expect("lowering the limit");
    let t = failed(&run_fixture("fixtures::needs_ten_namespaces", &[]));
    assert!(
        t.contains("its topology needs 10 network namespaces (one per node with a network of its own, the host included), but the limit user.max_net_namespaces (/proc/sys/user/max_net_namespaces) is 9"),
        "{t}"
    );
    assert!(t.contains("sudo sysctl -w user.max_net_namespaces="), "{t}");

    // Enough on paper, but this sandbox's own namespace counts too: the last node fails.
    // Namespaces of the runs above that the kernel has yet to free count as well (its
    // cleanup is asynchronous): while they make an earlier node, or the sandbox itself,
    // run out, try again, a bounded number of times.
    std::fs::write(limit, "10").expect("lowering the limit");
    let mut t = failed(&run_fixture("fixtures::needs_ten_namespaces", &[]));
    for _ in 0..20 {
        if t.contains("node \"con9\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        t = failed(&run_fixture("fixtures::needs_ten_namespaces", &[]));
    }
    assert!(
        t.contains("netns-test ran out of network namespaces: creating the network namespace of node \"con9\" (namespace 10 of the 10 this topology needs"),
        "{t}"
    );
    assert!(
        t.contains(
            "the limit user.max_net_namespaces (/proc/sys/user/max_net_namespaces) is 10 here"
        ),
        "{t}"
    );
    assert!(t.contains("sudo sysctl -w user.max_net_namespaces="), "{t}");
    assert!(t.contains("run fewer tests at once"), "{t}");
}

#[test]
fn twenty_nodes_under_ulimit_64_fail_before_building_naming_the_limit() {
    let t = failed(&run_fixture_with(
        "fixtures::twenty_nodes",
        Limits {
            nofile: Some((64, 64)),
            ..Limits::default()
        },
    ));
    assert!(
        t.contains("not enough file descriptors: this topology needs about"),
        "{t}"
    );
    assert!(t.contains("21 network namespaces at 3 each"), "{t}");
    assert!(
        t.contains("`ulimit -n` (RLIMIT_NOFILE) allows 64 (soft and hard limit)"),
        "{t}"
    );
    assert!(t.contains("Remedy: raise the hard limit"), "{t}");
    assert!(!t.contains("Too many open files"), "{t}");
}

#[test]
fn twenty_nodes_build_under_a_soft_limit_of_64() {
    let (_, hard) = open_files_limit();
    assert!(hard >= 1024, "this machine's hard fd limit is only {hard}");
    passed(&run_fixture_with(
        "fixtures::twenty_nodes",
        Limits {
            nofile: Some((64, hard)),
            ..Limits::default()
        },
    ));
}

#[test]
fn twenty_nodes_build_where_only_closing_their_nft_sockets_makes_room() {
    // 20 nodes need about 160 fds, 181 with each node's nf_tables socket kept open.
    passed(&run_fixture_with(
        "fixtures::twenty_nodes",
        Limits {
            nofile: Some((64, 170)),
            ..Limits::default()
        },
    ));
}

#[test]
fn a_very_low_fd_limit_is_named_not_blamed_on_clone() {
    for n in [7, 9, 12, 16] {
        let t = failed(&run_fixture_with(
            "fixtures::twenty_nodes",
            Limits {
                nofile: Some((n, n)),
                ..Limits::default()
            },
        ));
        assert!(t.contains("(RLIMIT_NOFILE)"), "ulimit -n {n}: {t}");
        assert!(
            t.contains(&format!("is {n} (hard limit {n})")) || t.contains(&format!("allows {n} ")),
            "ulimit -n {n}: {t}"
        );
        assert!(!t.contains("no known cause found"), "ulimit -n {n}: {t}");
    }
}

#[test]
fn a_thousand_nodes_build_under_the_default_soft_limit() {
    // The usual defaults: soft 1024, hard 4096 (or more; not less here).
    let (_, hard) = open_files_limit();
    assert!(hard >= 4096, "this machine's hard fd limit is only {hard}");
    let t = passed(&run_fixture_with(
        "fixtures::a_thousand_nodes",
        Limits {
            nofile: Some((1024, 4096)),
            ..Limits::default()
        },
    ));
    assert!(t.contains("built 1000 nodes in"), "{t}");
}

#[test]
fn a_process_limit_is_named() {
    // RLIMIT_NPROC does not bind root: as root, the fixture runs as `nobody` instead, from
    // a copy of this binary in a folder of its own, removed when the test ends.
    struct Removed(Option<std::path::PathBuf>);
    impl Drop for Removed {
        fn drop(&mut self) {
            if let Some(dir) = &self.0 {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
    let mut copy = Removed(None);
    let mut cmd = if is_root() {
        let dir = std::env::temp_dir().join(format!("netns-test-nproc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a folder for the copy");
        copy.0 = Some(dir.clone());
        let exe = dir.join("sandbox-test");
        std::fs::copy(std::env::current_exe().expect("own path"), &exe).expect("copying");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut cmd = Command::new(&exe);
        use std::os::unix::process::CommandExt;
        cmd.uid(65534).gid(65534).current_dir("/");
        cmd
    } else {
        Command::new(std::env::current_exe().expect("own path"))
    };
    cmd.args([
        "fixtures::passes",
        "--exact",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env_remove("NETNS_TEST_SANDBOX");
    let out = with_limits(
        &mut cmd,
        Limits {
            nproc: Some(1),
            ..Limits::default()
        },
    )
    .output()
    .expect("running the test binary");
    let t = failed(&out);
    assert!(
        t.contains("creating the sandbox (clone with namespace flags) failed"),
        "{t}"
    );
    assert!(
        t.contains("the process limit of this user is reached: `ulimit -u` (RLIMIT_NPROC) is 1"),
        "{t}"
    );
    assert!(
        t.contains("Remedy: raise it before running the tests, e.g. `ulimit -u"),
        "{t}"
    );
}

#[test]
fn probe_succeeds_where_namespaces_work() {
    netns_test::environment::probe().expect("this machine can create namespaces");
}

// Many tests at once with the same node names, addresses and port: each must talk only
// to its own network.
macro_rules! same_names_in_parallel {
    ($($name:ident),*) => {$(
        #[netns_test(topology = presets::bridge_pair())]
        async fn $name(net: Net) -> std::io::Result<()> {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let token = stringify!($name).to_string();
            let listener = net.node("b").run(async { tokio::net::TcpListener::bind("10.0.0.3:7000").await }).await?;
            let expected = token.clone();
            let server = net.node("b").spawn(async move {
                let (mut s, _) = listener.accept().await?;
                let mut got = String::new();
                s.read_to_string(&mut got).await?;
                assert_eq!(got, expected, "a token from another test's network arrived");
                Ok::<_, std::io::Error>(())
            });
            net.node("a").run(async move {
                let mut s = tokio::net::TcpStream::connect(("b", 7000)).await?;
                s.write_all(token.as_bytes()).await?;
                s.shutdown().await
            }).await?;
            server.await.expect("server task")
        }
    )*};
}

same_names_in_parallel!(
    parallel_1, parallel_2, parallel_3, parallel_4, parallel_5, parallel_6, parallel_7, parallel_8
);

#[netns_test]
fn runs_as_root_of_its_own_user_namespace() {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    assert!(uid.split_whitespace().skip(1).all(|f| f == "0"), "{uid}");
    let uid_map = std::fs::read_to_string("/proc/self/uid_map").expect("uid_map");
    assert_eq!(
        uid_map.split_whitespace().count(),
        3,
        "exactly one uid is mapped: {uid_map}"
    );
}

#[netns_test]
fn only_the_sandbox_processes_are_visible() {
    // A fresh PID namespace with its own /proc: the test binary is PID 1.
    let pids: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(pids, ["1"], "processes visible in the sandbox: {pids:?}");
}

#[netns_test]
#[should_panic(expected = "expected failure inside")]
fn should_panic_is_honoured() {
    panic!("expected failure inside the sandbox");
}

#[netns_test]
#[should_panic = "inside"]
fn should_panic_with_a_bare_message_is_honoured() {
    panic!("expected failure inside the sandbox");
}

#[netns_test]
#[ignore = "shows that #[ignore] passes through: this one is never run"]
fn ignore_passes_through() {
    panic!("an ignored test ran");
}
