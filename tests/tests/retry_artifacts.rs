//! Diagnostics that survive nextest's retries and archives.
//!
//! The fixture fails on nextest's first attempt (`NEXTEST_ATTEMPT=1`) and passes on any
//! retry. The tests here run it through this very binary with the variables nextest sets,
//! and check that the failed attempt's folder is kept when the retry passes, that the
//! failure output names it, that a plain `cargo test` uses the folder it always did, and
//! that a binary extracted from an archive (in a temporary folder outside the workspace)
//! writes under the workspace root nextest reports. `ci_checks.rs` also runs the fixture
//! under a real `cargo nextest run --retries 1`, from the build and from an archive.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

use support::text;

/// The fixture's folder name (`module_path!()::name` with `::` as `__`).
const FOLDER: &str = "retry_artifacts__fixtures__fails_on_the_first_attempt_only";
/// `1`: the fixture fails on every attempt (a retry that fails too).
const FAILS_ALWAYS: &str = "RETRY_ARTIFACTS_FAIL_EVERY_ATTEMPT";

mod fixtures {
    use std::net::UdpSocket;
    use std::time::Duration;

    use netns_test::{netns_test, presets, Net};

    /// Sends a datagram from `a` to `b` (so the folder has packets to show), then fails on
    /// the first attempt of a nextest run and passes on every retry.
    #[netns_test(topology = presets::bridge_pair())]
    #[ignore = "fixture: run by retry_artifacts::* and by ci_checks under cargo nextest --retries 1"]
    fn fails_on_the_first_attempt_only(net: Net) {
        let attempt = std::env::var("NEXTEST_ATTEMPT").unwrap_or_else(|_| {
            panic!(
                "this fixture fails on nextest's first attempt and passes on a retry: run it \
                 with `cargo nextest run --run-ignored only --retries 1` (NEXTEST_ATTEMPT is unset)"
            )
        });
        let b = net.node("b");
        let to = (b.ip(), 7100);
        let rx = b
            .run_blocking(|| UdpSocket::bind(("0.0.0.0", 7100)))
            .expect("bind in b");
        rx.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        net.node("a").run_blocking(|| {
            let tx = UdpSocket::bind(("0.0.0.0", 0)).expect("bind in a");
            tx.send_to(b"retry-artifacts", to).expect("send to b");
        });
        let mut buf = [0u8; 64];
        let (n, _) = rx.recv_from(&mut buf).expect("the datagram from a");
        assert_eq!(&buf[..n], b"retry-artifacts");
        assert_ne!(
            attempt, "1",
            "the first attempt fails on purpose (NEXTEST_ATTEMPT=1); the retry passes"
        );
        assert!(
            std::env::var_os(super::FAILS_ALWAYS).is_none(),
            "attempt {attempt} fails on purpose ({} is set)",
            super::FAILS_ALWAYS
        );
    }
}

/// A temporary folder, removed when dropped.
struct Temp(PathBuf);

impl Temp {
    fn new(tag: &str) -> Temp {
        let dir = std::env::temp_dir().join(format!(
            "netns-test-retry-artifacts-{}-{tag}",
            std::process::id()
        ));
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

/// How the fixture is run: by `cargo test`, or by nextest with these variables.
struct Run<'a> {
    exe: &'a Path,
    artifacts: Option<&'a Path>,
    /// `(attempt, total attempts, run id)`.
    nextest: Option<(u32, u32, &'a str)>,
    workspace_root: Option<&'a Path>,
    /// The fixture fails on every attempt, not only the first.
    fails_always: bool,
    /// `NEXTEST_TEST_NAME`, if not the fixture's own (a test that runs the fixture).
    test_name: Option<&'a str>,
}

impl Run<'_> {
    fn output(&self) -> Output {
        let mut cmd = Command::new(self.exe);
        cmd.args([
            "fixtures::fails_on_the_first_attempt_only",
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        // Whatever runs this test (cargo test, nextest, .ci/run) must not leak into the
        // fixture: it gets exactly the variables of the case under test.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("NEXTEST") || k.starts_with("NETNS_TEST_") || k == "CARGO_TARGET_DIR" {
                cmd.env_remove(&*k);
            }
        }
        if let Some(root) = self.artifacts {
            cmd.env("NETNS_TEST_ARTIFACTS", root);
        }
        if let Some((attempt, total, run_id)) = self.nextest {
            cmd.env("NEXTEST", "1")
                .env("NEXTEST_ATTEMPT", attempt.to_string())
                .env("NEXTEST_TOTAL_ATTEMPTS", total.to_string())
                .env("NEXTEST_RUN_ID", run_id)
                .env("NEXTEST_STRESS_CURRENT", "none")
                .env(
                    "NEXTEST_TEST_NAME",
                    self.test_name
                        .unwrap_or("fixtures::fails_on_the_first_attempt_only"),
                );
        }
        if let Some(ws) = self.workspace_root {
            cmd.env("NEXTEST_WORKSPACE_ROOT", ws);
        }
        if self.fails_always {
            cmd.env(FAILS_ALWAYS, "1");
        } else {
            cmd.env_remove(FAILS_ALWAYS);
        }
        cmd.output().expect("running the test binary")
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn own_exe() -> PathBuf {
    std::env::current_exe().expect("own path")
}

#[test]
fn a_passing_retry_keeps_the_folder_of_the_failed_attempt() {
    let root = Temp::new("retry");
    let exe = own_exe();
    let run = |attempt, run_id| {
        Run {
            exe: &exe,
            artifacts: Some(&root.0),
            nextest: Some((attempt, 2, run_id)),
            workspace_root: None,
            fails_always: false,
            test_name: None,
        }
        .output()
    };
    let first = run(1, "run-one");
    let t = text(&first);
    assert!(!first.status.success(), "the first attempt must fail: {t}");
    assert!(
        t.contains("the first attempt fails on purpose"),
        "the first attempt failed for another reason: {t}"
    );
    let folder = root.0.join(FOLDER);
    assert!(
        t.contains(&format!(
            "netns-test: diagnostics for this failure are in {}\n\
             netns-test:   written by attempt 1 of 2 of nextest run run-one; a retry writes a \
             folder of its own and keeps this one",
            folder.display()
        )),
        "the failed attempt's output does not name its folder: {t}"
    );
    let outcome = read(&folder.join("outcome.txt"));
    assert!(outcome.contains("the test panicked"), "{outcome}");
    assert!(
        outcome.contains("run: attempt 1 of 2 of nextest run run-one"),
        "{outcome}"
    );
    assert!(folder.join("a-eth0.pcap").exists(), "{:?}", names(&folder));

    // The retry passes (the positive control: the same fixture, the same machine) and
    // leaves the first attempt's folder exactly as it was.
    let retry = run(2, "run-one");
    assert!(
        retry.status.success(),
        "the retry must pass: {}",
        text(&retry)
    );
    assert_eq!(
        read(&folder.join("outcome.txt")),
        outcome,
        "the retry changed the failed attempt's folder"
    );
    assert_eq!(names(&root.0), vec![FOLDER.to_string()]);

    // A retry that fails too writes a folder of its own, next to the first.
    std::fs::create_dir_all(root.0.join(format!("{FOLDER}.attempt-3"))).expect("stale");
    let third = Run {
        exe: &exe,
        artifacts: Some(&root.0),
        nextest: Some((3, 3, "run-one")),
        workspace_root: None,
        fails_always: false,
        test_name: None,
    };
    assert!(third.output().status.success());
    assert_eq!(
        names(&root.0),
        vec![FOLDER.to_string()],
        "a passing attempt 3 must clear its own stale folder and keep attempt 1's"
    );

    // The first attempt of a later run replaces what the earlier run left.
    std::fs::create_dir_all(root.0.join(format!("{FOLDER}.attempt-2"))).expect("stale");
    let next = run(1, "run-two");
    assert!(!next.status.success(), "{}", text(&next));
    assert_eq!(names(&root.0), vec![FOLDER.to_string()]);
    assert!(
        read(&folder.join("outcome.txt")).contains("run: attempt 1 of 2 of nextest run run-two")
    );
}

#[test]
fn a_failing_retry_writes_its_own_folder_next_to_the_first() {
    let root = Temp::new("two-failures");
    let exe = own_exe();
    let run = |attempt, fails_always| {
        Run {
            exe: &exe,
            artifacts: Some(&root.0),
            nextest: Some((attempt, 2, "r")),
            workspace_root: None,
            fails_always,
            test_name: None,
        }
        .output()
    };
    let first = run(1, false);
    assert!(!first.status.success(), "{}", text(&first));
    let kept = read(&root.0.join(FOLDER).join("outcome.txt"));
    let retry = run(2, true);
    let t = text(&retry);
    assert!(!retry.status.success(), "{t}");
    let second = root.0.join(format!("{FOLDER}.attempt-2"));
    assert!(
        t.contains(&format!(
            "netns-test: diagnostics for this failure are in {}\n\
             netns-test:   written by attempt 2 of 2 of nextest run r;",
            second.display()
        )),
        "{t}"
    );
    assert!(read(&second.join("outcome.txt")).contains("attempt 2 of 2"));
    assert_eq!(read(&root.0.join(FOLDER).join("outcome.txt")), kept);
    assert_eq!(
        names(&root.0),
        vec![FOLDER.to_string(), format!("{FOLDER}.attempt-2")]
    );
}

#[test]
fn a_test_binary_run_by_another_test_under_nextest_uses_the_plain_folder() {
    // The fixture inherits the variables nextest set for the test that runs it: they name
    // that test, so the fixture's folder is the plain one, whatever attempt that test is.
    let root = Temp::new("inherited");
    let exe = own_exe();
    let out = Run {
        exe: &exe,
        artifacts: Some(&root.0),
        nextest: Some((2, 3, "outer-run")),
        workspace_root: None,
        fails_always: true,
        test_name: Some("a_test_that_runs_the_fixture"),
    }
    .output();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert_eq!(names(&root.0), vec![FOLDER.to_string()], "{t}");
    assert!(!t.contains("written by attempt"), "{t}");
    let outcome = read(&root.0.join(FOLDER).join("outcome.txt"));
    assert!(!outcome.contains("run: "), "{outcome}");
}

#[test]
fn under_plain_cargo_test_the_folder_is_where_it_always_was() {
    let root = Temp::new("plain");
    let exe = own_exe();
    let out = Run {
        exe: &exe,
        artifacts: Some(&root.0),
        nextest: None,
        workspace_root: None,
        fails_always: false,
        test_name: None,
    }
    .output();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("NEXTEST_ATTEMPT is unset"), "{t}");
    let folder = root.0.join(FOLDER);
    assert!(
        t.contains(&format!(
            "netns-test: diagnostics for this failure are in {}",
            folder.display()
        )),
        "{t}"
    );
    let outcome = read(&folder.join("outcome.txt"));
    assert!(!outcome.contains("run: "), "{outcome}");
    assert_eq!(names(&root.0), vec![FOLDER.to_string()]);
}

#[test]
fn from_an_archive_the_folder_lands_under_the_workspace_root() {
    // What `cargo nextest run --archive-file A --workspace-remap WS` does: the binary runs
    // from a temporary extraction folder shaped like a target dir, and nextest reports WS.
    let tmp = Temp::new("archive");
    let deps = tmp.0.join("nextest-archive-x/target/debug/deps");
    std::fs::create_dir_all(&deps).expect("extraction folder");
    let exe = deps.join("retry_artifacts-0123456789abcdef");
    std::fs::copy(own_exe(), &exe).expect("copying the test binary");
    let ws = tmp.0.join("ws");
    std::fs::create_dir_all(&ws).expect("workspace folder");
    let out = Run {
        exe: &exe,
        artifacts: None,
        nextest: Some((1, 1, "archived")),
        workspace_root: Some(&ws),
        fails_always: false,
        test_name: None,
    }
    .output();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    let folder = ws.join("target/netns-test").join(FOLDER);
    assert!(
        folder.join("outcome.txt").exists(),
        "no folder under the workspace root: {t}"
    );
    assert!(t.contains(&folder.display().to_string()), "{t}");
    assert!(
        !tmp.0.join("nextest-archive-x/target/netns-test").exists(),
        "the folder went to the extraction folder: {t}"
    );

    // The same binary outside nextest keeps the old rule: the target dir it sits in.
    let plain = Run {
        exe: &exe,
        artifacts: None,
        nextest: None,
        workspace_root: None,
        fails_always: false,
        test_name: None,
    }
    .output();
    assert!(!plain.status.success(), "{}", text(&plain));
    assert!(
        tmp.0
            .join("nextest-archive-x/target/netns-test")
            .join(FOLDER)
            .join("outcome.txt")
            .exists(),
        "{}",
        text(&plain)
    );
}
