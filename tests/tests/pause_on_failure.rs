//! `NETNS_TEST_PAUSE_ON_FAILURE`: a failing test keeps its sandbox alive and prints, per
//! node, an `nsenter` line that enters the node from another terminal as the same user;
//! the commands work, `kill -USR1` releases it, killing the test leaves nothing, and `CI`
//! turns it off unless it says `always`.
//!
//! The failing test is the `#[ignore]`d fixture below, run through this very binary as
//! `cargo test` would.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod support;

use netns_test::presets;

mod fixtures {
    use netns_test::{netns_test, presets, Net};

    #[netns_test(topology = presets::bridge_pair())]
    #[ignore = "fixture: run by the pause_on_failure tests"]
    fn fails(net: Net) {
        panic!("fixture: {} is not answering", net.node("b").name());
    }
}

/// A temporary artifacts root, removed when dropped.
struct Root(PathBuf);

impl Root {
    fn new(tag: &str) -> Root {
        let dir =
            std::env::temp_dir().join(format!("netns-test-pause-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the artifacts root");
        Root(dir)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fixture, started with `pause` as the variable's value and `CI` as given; its stderr
/// lines come through the receiver.
fn start(root: &Root, pause: &str, ci: Option<&str>) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = support::fixture_command(
        "fixtures::fails",
        &["CI", "NETNS_TEST_KEEP_ARTIFACTS"],
        &[
            ("NETNS_TEST_PAUSE_ON_FAILURE", pause),
            ("NETNS_TEST_ARTIFACTS", root.0.to_str().expect("utf-8")),
        ],
    );
    if let Some(ci) = ci {
        cmd.env("CI", ci);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running the test binary");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The lines up to the one that says how to let the test go (at most 30 s); panics with
/// what came if it does not come.
fn banner(rx: &mpsc::Receiver<String>) -> Vec<String> {
    let end = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
        let last = line.contains("to let it go:");
        lines.push(line);
        if last {
            return lines;
        }
    }
    panic!("no pause announced within 30 s:\n{}", lines.join("\n"));
}

/// The `nsenter` command printed for `node`, as arguments.
fn nsenter_for(lines: &[String], node: &str) -> Vec<String> {
    let line = lines
        .iter()
        .find(|l| l.split_whitespace().nth(1) == Some(node) && l.contains("nsenter -t "))
        .unwrap_or_else(|| panic!("no command for node {node}:\n{}", lines.join("\n")));
    line[line.find("nsenter").expect("nsenter")..]
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The sandbox's PID, from its `nsenter -t PID` line.
fn sandbox_pid(cmd: &[String]) -> i32 {
    cmd[2].parse().expect("a PID after -t")
}

fn gone_within(pid: i32, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn wait_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// The printed command enters node `b` (its interface and address are there), as this
/// user; `kill -USR1` ends the pause, the test fails as it would have, and the sandbox
/// and its processes are gone.
#[test]
fn a_paused_test_can_be_entered_and_released() {
    let root = Root::new("release");
    let (mut child, rx) = start(&root, "1", None);
    let lines = banner(&rx);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("diagnostics for this failure are in")),
        "the diagnostics are written before the pause:\n{}",
        lines.join("\n")
    );
    let cmd = nsenter_for(&lines, "b");
    let pid = sandbox_pid(&cmd);
    let out = Command::new(&cmd[0])
        .args(&cmd[1..])
        .args(["ip", "-o", "addr", "show", "dev", "eth0"])
        .output()
        .expect("running nsenter (scripts/setup.sh installs it)");
    let seen = support::text(&out);
    let plan = presets::bridge_pair().plan().expect("plan");
    let b = plan.nodes.iter().find(|n| n.name == "b").expect("node b");
    let b_ip = b.ifaces[0].addrs[0].addr().to_string();
    assert!(out.status.success(), "{seen}");
    assert!(
        seen.contains(&format!("inet {b_ip}/")),
        "b's address in b:\n{seen}"
    );
    // SAFETY: a plain signal to the PID the test printed.
    let r = unsafe { libc::kill(pid, libc::SIGUSR1) };
    assert_eq!(r, 0, "kill -USR1 {pid}");
    let status = wait_within(&mut child, Duration::from_secs(20)).expect("released within 20 s");
    assert!(!status.success(), "the test still fails");
    assert!(
        gone_within(pid, Duration::from_secs(5)),
        "sandbox {pid} is gone"
    );
    let left: Vec<_> = std::fs::read_dir(&root.0)
        .expect("the root")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        ["pause_on_failure__fixtures__fails"],
        "only the diagnostics"
    );
}

/// Killing the paused test's process ends its sandbox: nothing is left running.
#[test]
fn killing_a_paused_test_leaves_nothing() {
    let root = Root::new("kill");
    let (mut child, rx) = start(&root, "10m", None);
    let lines = banner(&rx);
    let pid = sandbox_pid(&nsenter_for(&lines, "a"));
    child.kill().expect("kill");
    let _ = child.wait();
    assert!(
        gone_within(pid, Duration::from_secs(5)),
        "sandbox {pid} is gone"
    );
}

/// With `CI` set, `1` does not pause (and says so); `always` does.
#[test]
fn ci_pauses_only_when_asked_explicitly() {
    let root = Root::new("ci");
    let (mut child, rx) = start(&root, "1", Some("true"));
    let status = wait_within(&mut child, Duration::from_secs(30)).expect("ends without pausing");
    assert!(!status.success());
    let lines: Vec<String> = rx.try_iter().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("not pausing on this failure: CI is set")),
        "{}",
        lines.join("\n")
    );
    assert!(
        !lines.iter().any(|l| l.contains("nsenter")),
        "{}",
        lines.join("\n")
    );

    let (mut child, rx) = start(&root, "always", Some("true"));
    let lines = banner(&rx);
    let pid = sandbox_pid(&nsenter_for(&lines, "host"));
    // SAFETY: a plain signal to the PID the test printed.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR1) }, 0);
    assert!(
        wait_within(&mut child, Duration::from_secs(20)).is_some(),
        "released"
    );
}
