//! The sandbox's guarantees: outcomes reported faithfully, timeouts enforced, nothing
//! outliving a test (even when the runner is SIGKILLed), parallel tests not interfering,
//! and an environment that cannot create namespaces explained, never passed.
//!
//! Tests that must fail on purpose live in `fixtures`, marked `#[ignore]`; the tests here
//! run them through this very test binary, as `cargo test` would, and judge the output.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use netns_test::{netns_test, presets, Net};

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

    /// Builds a topology and passes.
    #[netns_test(topology = presets::lan_wan(2))]
    #[ignore = "fixture: run by sandbox::a_finished_test_leaves_the_machine_as_it_was"]
    fn builds_and_passes(net: Net) {
        assert_eq!(net.nodes().len(), 5);
    }

    #[netns_test]
    #[ignore = "fixture: run by sandbox::max_user_namespaces_zero_is_diagnosed"]
    fn needs_a_namespace() {}
}

/// Runs one fixture of this binary the way `cargo test` would.
fn run_fixture(name: &str, envs: &[(&str, &str)]) -> Output {
    Command::new(std::env::current_exe().expect("own path"))
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("NETNS_TEST_SANDBOX")
        .envs(envs.iter().copied())
        .output()
        .expect("running the test binary")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
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

/// The machine as seen from outside every sandbox: links, routes, mounts.
fn machine_state() -> BTreeSet<String> {
    let mut state = BTreeSet::new();
    for entry in std::fs::read_dir("/sys/class/net").expect("/sys/class/net") {
        state.insert(format!(
            "link {}",
            entry.expect("entry").file_name().to_string_lossy()
        ));
    }
    for file in ["/proc/net/route", "/proc/net/ipv6_route"] {
        for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
            state.insert(format!("route {line}"));
        }
    }
    for line in std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
    {
        let f: Vec<&str> = line.split(' ').collect();
        state.insert(format!(
            "mount {} {}",
            f[4],
            f.get(f.len().saturating_sub(3)).unwrap_or(&"")
        ));
    }
    state
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
fn a_finished_test_leaves_the_machine_as_it_was() {
    let before = machine_state();
    let out = run_fixture("fixtures::builds_and_passes", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 passed"), "{}", text(&out));
    assert_eq!(
        before,
        machine_state(),
        "the machine's links, routes or mounts changed"
    );
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

#[test]
fn max_user_namespaces_zero_is_diagnosed() {
    // Inside a sandbox we own a user namespace, whose limit we may lower: nested
    // namespaces then cannot be created, exactly as on a machine with the sysctl at 0.
    inner_max_user_namespaces_zero();
}

#[netns_test]
fn inner_max_user_namespaces_zero() {
    std::fs::write("/proc/sys/user/max_user_namespaces", "0")
        .expect("lowering the limit in our user namespace");

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
fn should_panic_passes_through() {
    panic!("expected failure inside the sandbox");
}

#[netns_test]
#[ignore = "shows that #[ignore] passes through: this one is never run"]
fn ignore_passes_through() {
    panic!("an ignored test ran");
}
