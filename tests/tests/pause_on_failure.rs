//! `NETNS_TEST_PAUSE_ON_FAILURE`: a failing test keeps its sandbox alive and prints, per
//! node, an `nsenter` line that enters the node from another terminal as the same user;
//! the commands work and give a shell that is root of the node (with either id map),
//! `kill -USR1` releases it, killing the test leaves nothing, `CI` turns it off unless it
//! says `always`, and the harness mode pauses too.
//!
//! The failing test is the `#[ignore]`d fixture below, run through this very binary as
//! `cargo test` would, or `pauses_on_failure` of the harness-mode fixture binary.

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

    #[netns_test(topology = presets::bridge_pair())]
    #[ignore = "fixture: run by the pause_on_failure tests"]
    fn passes(net: Net) {
        assert_eq!(net.node("b").name(), "b");
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

/// The fixture `name`, started with `pause` as the variable's value and `envs`; its
/// stderr lines come through the receiver.
fn start_fixture(
    root: &Root,
    name: &str,
    pause: &str,
    envs: &[(&str, &str)],
) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = support::fixture_command(
        name,
        &["CI", "NETNS_TEST_KEEP_ARTIFACTS", "NETNS_TEST_ID_MAP"],
        &[
            ("NETNS_TEST_PAUSE_ON_FAILURE", pause),
            ("NETNS_TEST_ARTIFACTS", root.0.to_str().expect("utf-8")),
        ],
    );
    cmd.envs(envs.iter().copied());
    spawn(cmd, Stdio::null())
}

/// The failing fixture, started with `pause` as the variable's value and `CI` as given.
fn start(root: &Root, pause: &str, ci: Option<&str>) -> (Child, mpsc::Receiver<String>) {
    let ci: Vec<_> = ci.map(|ci| ("CI", ci)).into_iter().collect();
    start_fixture(root, "fixtures::fails", pause, &ci)
}

/// The harness-mode fixtures with `args`, pausing on failure (`1`).
fn harness_fixtures(root: &Root, args: &[&str]) -> Command {
    let mut cmd = Command::new(support::harness_fixtures());
    cmd.args(args)
        .env_remove("CI")
        .env_remove("NETNS_TEST_KEEP_ARTIFACTS")
        .env_remove("NETNS_TEST_TIMEOUT")
        .env("NETNS_TEST_PAUSE_ON_FAILURE", "1")
        .env("NETNS_TEST_ARTIFACTS", &root.0);
    cmd
}

/// `cmd` started with its stderr lines coming through the receiver, its stdout as given.
fn spawn(mut cmd: Command, stdout: Stdio) -> (Child, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(stdout)
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
    until(rx, "to let it go:")
}

/// The lines up to one that contains `text` (at most 30 s); panics with what came if it
/// does not come.
fn until(rx: &mpsc::Receiver<String>, text: &str) -> Vec<String> {
    let end = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
        let last = line.contains(text);
        lines.push(line);
        if last {
            return lines;
        }
    }
    panic!("no {text:?} within 30 s:\n{}", lines.join("\n"));
}

/// The remaining lines of a process that has ended (at most 5 s).
fn rest(rx: &mpsc::Receiver<String>) -> Vec<String> {
    let end = Instant::now() + Duration::from_secs(5);
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
        lines.push(line);
    }
    lines
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

/// Runs `args` in a node through its printed command `cmd`; its output, checked to succeed.
fn in_node(cmd: &[String], args: &[&str]) -> String {
    let out = Command::new(&cmd[0])
        .args(&cmd[1..])
        .args(args)
        .output()
        .expect("running nsenter (scripts/setup.sh installs it)");
    let seen = support::text(&out);
    assert!(out.status.success(), "{args:?} in the node:\n{seen}");
    seen
}

/// The printed command's shell is root of the node: it takes `eth0` down, and it sees the
/// node's own `/proc` (`/proc/self`, whose `net/dev` lists the node's interfaces).
fn shell_changes_the_node(cmd: &[String]) {
    in_node(cmd, &["ip", "link", "set", "eth0", "down"]);
    let link = in_node(cmd, &["ip", "-o", "link", "show", "dev", "eth0"]);
    let flags = link
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(flags, _)| flags)
        .unwrap_or_else(|| panic!("no flags in:\n{link}"));
    assert!(
        !flags.split(',').any(|f| f == "UP"),
        "eth0 is down:\n{link}"
    );
    let dev = in_node(cmd, &["cat", "/proc/self/net/dev"]);
    assert!(dev.contains("eth0:"), "the node's /proc/self:\n{dev}");
}

/// Sends the release signal to `pid`.
fn release(pid: i32) {
    // SAFETY: a plain signal to the PID the test printed.
    let r = unsafe { libc::kill(pid, libc::SIGUSR1) };
    assert_eq!(r, 0, "kill -USR1 {pid}");
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
    let seen = in_node(&cmd, &["ip", "-o", "addr", "show", "dev", "eth0"]);
    let plan = presets::bridge_pair().plan().expect("plan");
    let b = plan.nodes.iter().find(|n| n.name == "b").expect("node b");
    let b_ip = b.ifaces[0].addrs[0].addr().to_string();
    assert!(
        seen.contains(&format!("inet {b_ip}/")),
        "b's address in b:\n{seen}"
    );
    release(pid);
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

/// The printed command gives a shell that is root of the node, with the single-id map and
/// with the helpers' range (`NETNS_TEST_ID_MAP`): it can take a link down.
#[test]
fn the_printed_shell_can_take_a_link_down_with_either_id_map() {
    for map in ["single", "range"] {
        let root = Root::new(&format!("root-{map}"));
        let (mut child, rx) =
            start_fixture(&root, "fixtures::fails", "1", &[("NETNS_TEST_ID_MAP", map)]);
        let lines = banner(&rx);
        let cmd = nsenter_for(&lines, "b");
        shell_changes_the_node(&cmd);
        release(sandbox_pid(&cmd));
        let status = wait_within(&mut child, Duration::from_secs(20));
        assert!(
            status.is_some_and(|s| !s.success()),
            "{map}: released, failed"
        );
    }
}

/// Harness mode: the failing test pauses with its network up and the same commands, its
/// clock stopped (the pause outlasts its 2 s timeout, and it fails by its panic, not by
/// the timeout), and `kill -USR1` lets it and the run go.
#[test]
fn harness_mode_pauses_too() {
    let root = Root::new("harness");
    let cmd = harness_fixtures(&root, &["pauses_on_failure", "--exact", "--ignored"]);
    let (mut child, rx) = spawn(cmd, Stdio::piped());
    let lines = banner(&rx);
    let paused_at = Instant::now();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("test pauses_on_failure failed and is paused")),
        "{}",
        lines.join("\n")
    );
    let cmd = nsenter_for(&lines, "b");
    let pid = sandbox_pid(&cmd);
    shell_changes_the_node(&cmd);
    std::thread::sleep(Duration::from_secs(3).saturating_sub(paused_at.elapsed()));
    release(pid);
    let status = wait_within(&mut child, Duration::from_secs(20)).expect("released within 20 s");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("piped"), &mut stdout)
        .expect("the run's output");
    assert_eq!(status.code(), Some(101), "{stdout}");
    assert!(stdout.contains("fixture: b is not answering"), "{stdout}");
    assert!(
        !stdout.contains("timed out"),
        "the pause stopped its clock:\n{stdout}"
    );
    assert!(
        gone_within(pid, Duration::from_secs(5)),
        "run {pid} is gone"
    );
}

/// Harness mode, two tests failing at once: one pauses, the other says it waits its turn
/// and pauses once the first is let go.
#[test]
fn harness_mode_pauses_one_test_at_a_time() {
    let root = Root::new("harness-two");
    let cmd = harness_fixtures(
        &root,
        &["pauses_on_failure", "--ignored", "--test-threads=2"],
    );
    let (mut child, rx) = spawn(cmd, Stdio::null());
    // Both fail at once: one pauses, the other waits.
    let mut first = banner(&rx);
    let pid = sandbox_pid(&nsenter_for(&first, "b"));
    if !first
        .iter()
        .any(|l| l.contains("pauses once the paused test"))
    {
        first.extend(until(&rx, "pauses once the paused test"));
    }
    release(pid);
    let second = banner(&rx);
    let all = [first, second].concat();
    let paused: Vec<_> = all
        .iter()
        .filter(|l| l.contains("failed and is paused"))
        .collect();
    assert_eq!(paused.len(), 2, "{}", all.join("\n"));
    assert_ne!(paused[0], paused[1], "two tests:\n{}", all.join("\n"));
    release(pid);
    let status = wait_within(&mut child, Duration::from_secs(20)).expect("released within 20 s");
    assert_eq!(status.code(), Some(101));
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
    let lines = rest(&rx);
    let notes = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("not pausing on this failure: CI is set"))
            .count()
    };
    assert_eq!(notes(&lines), 1, "said once:\n{}", lines.join("\n"));
    assert!(
        !lines.iter().any(|l| l.contains("nsenter")),
        "{}",
        lines.join("\n")
    );

    // A passing test says nothing about it (it used to, when each test started).
    let (mut child, rx) = start_fixture(&root, "fixtures::passes", "1", &[("CI", "true")]);
    let status = wait_within(&mut child, Duration::from_secs(30)).expect("passes");
    let lines = rest(&rx);
    assert!(status.success(), "{}", lines.join("\n"));
    assert_eq!(notes(&lines), 0, "{}", lines.join("\n"));

    let (mut child, rx) = start(&root, "always", Some("true"));
    let lines = banner(&rx);
    release(sandbox_pid(&nsenter_for(&lines, "host")));
    assert!(
        wait_within(&mut child, Duration::from_secs(20)).is_some(),
        "released"
    );
}
