//! Where a test's diagnostics folder is: the root (`NETNS_TEST_ARTIFACTS`, the target
//! dir of the test binary, nextest's workspace root for a run from an archive), the
//! folder of each execution (`.attempt-N`, `.stress-K` under nextest), the names of the
//! files in it, and the stale folders an execution removes when it starts.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use super::ENV_ARTIFACTS;

/// What `cargo nextest` tells a test about the run it is part of; all `None` under a plain
/// `cargo test`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Runner {
    /// `NEXTEST_ATTEMPT`: 1 for the first try, 2 for the first retry...
    pub(crate) attempt: Option<u32>,
    /// `NEXTEST_TOTAL_ATTEMPTS`: 1 + the retries allowed.
    pub(crate) total_attempts: Option<u32>,
    /// `NEXTEST_STRESS_CURRENT`: the iteration of a `--stress-count` run, from 0.
    pub(crate) stress: Option<u32>,
    /// `NEXTEST_RUN_ID`.
    pub(crate) run_id: Option<String>,
    /// `NEXTEST_WORKSPACE_ROOT`: the workspace as nextest sees it (the `--workspace-remap`
    /// folder in a run from an archive).
    pub(crate) workspace_root: Option<PathBuf>,
}

impl Runner {
    /// What nextest says about the test at `path` (`module_path!()::name`). Nextest's
    /// variables are inherited by every process a test starts; when they name another test
    /// (`NEXTEST_TEST_NAME`), this process is a program that test ran (a test binary run
    /// by a test, as `cargo test` would run it), and its attempt and run are not this
    /// test's: only the workspace root is kept.
    pub(crate) fn from_env(path: &str) -> Runner {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Runner::new(path, &var)
    }

    fn new(path: &str, var: &dyn Fn(&str) -> Option<String>) -> Runner {
        let number = |k: &str| var(k).and_then(|v| v.trim().parse::<u32>().ok());
        let workspace_root = var("NEXTEST_WORKSPACE_ROOT")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        // `path` is `<crate>::<libtest name>`.
        let in_crate = path.split_once("::").map_or(path, |(_, rest)| rest);
        let ours = var("NEXTEST_TEST_NAME").is_none_or(|name| in_crate == name);
        if !ours {
            return Runner {
                workspace_root,
                ..Runner::default()
            };
        }
        Runner {
            attempt: number("NEXTEST_ATTEMPT"),
            total_attempts: number("NEXTEST_TOTAL_ATTEMPTS"),
            stress: number("NEXTEST_STRESS_CURRENT"),
            run_id: var("NEXTEST_RUN_ID"),
            workspace_root,
        }
    }

    /// The suffix that keeps this execution's folder apart from the others of the same
    /// test in the same run: `.stress-K` for an iteration of a stress run and
    /// `.attempt-N` for a retry. Empty for the first attempt, so that a run without
    /// retries (or a plain `cargo test`) uses the same folder as always.
    fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(k) = self.stress {
            let _ = write!(s, ".stress-{k}");
        }
        if let Some(n) = self.attempt.filter(|&n| n > 1) {
            let _ = write!(s, ".attempt-{n}");
        }
        s
    }

    /// The first execution of a test in a run: the one that clears what earlier runs left.
    fn is_first(&self) -> bool {
        self.attempt.unwrap_or(1) <= 1 && self.stress.unwrap_or(0) == 0
    }

    /// `attempt N of M of nextest run ID` for the output and `outcome.txt`; `None` under a
    /// plain `cargo test`.
    pub(super) fn describe(&self) -> Option<String> {
        let attempt = self.attempt?;
        let mut s = format!("attempt {attempt}");
        if let Some(total) = self.total_attempts {
            let _ = write!(s, " of {total}");
        }
        if let Some(k) = self.stress {
            let _ = write!(s, " in stress iteration {k}");
        }
        s.push_str(" of nextest run");
        if let Some(id) = &self.run_id {
            let _ = write!(s, " {id}");
        }
        Some(s)
    }
}

/// Where one execution of a test keeps its diagnostics, and what it clears when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    /// This execution's folder.
    pub(crate) dir: PathBuf,
    /// The root that holds the folders of every test.
    root: PathBuf,
    /// The folder name of the test's first execution (`a__b__c`); the folders of its other
    /// executions are `a__b__c.attempt-N`, `a__b__c.stress-K[.attempt-N]`.
    base: String,
    /// Whether this is the first execution in its run: it removes every folder of the test
    /// (left by an earlier run), not only its own.
    first: bool,
}

impl Location {
    /// The location of the test at `path` (`module_path!()::name`) in this process.
    pub(crate) fn here(path: &str) -> Location {
        Location::new(
            path,
            std::env::var_os(ENV_ARTIFACTS).as_deref(),
            std::env::current_exe().ok().as_deref(),
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .as_deref(),
            &Runner::from_env(path),
        )
    }

    /// The location from what the process knows: `NETNS_TEST_ARTIFACTS`, the test
    /// binary's path, `CARGO_TARGET_DIR` and what nextest says.
    pub(crate) fn new(
        path: &str,
        artifacts: Option<&std::ffi::OsStr>,
        exe: Option<&Path>,
        cargo_target_dir: Option<&Path>,
        runner: &Runner,
    ) -> Location {
        let root = artifacts_root(artifacts, exe, cargo_target_dir, runner);
        let base = dir_name(path);
        Location {
            dir: root.join(format!("{base}{}", runner.suffix())),
            root,
            base,
            first: runner.is_first(),
        }
    }

    /// Removes the folders this execution replaces: its own, and, for the first execution
    /// of a run, those of the test's other executions in earlier runs. A retry never
    /// removes the folder of the attempt before it.
    pub(super) fn clear_stale(&self) -> Vec<String> {
        let mut stale = vec![self.dir.clone()];
        if self.first {
            let prefix = format!("{}.", self.base);
            if let Ok(entries) = std::fs::read_dir(&self.root) {
                for e in entries.flatten() {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    let other = name.strip_prefix(&prefix).is_some_and(|rest| {
                        rest.starts_with("attempt-") || rest.starts_with("stress-")
                    });
                    if other {
                        stale.push(e.path());
                    }
                }
            }
        }
        let mut notes = Vec::new();
        for dir in stale {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => notes.push(format!(
                    "the folder of an earlier run, {}, could not be removed ({e}); files in it may be stale",
                    dir.display()
                )),
                _ => {}
            }
        }
        notes
    }
}

/// The root of the diagnostics folders:
/// 1. `$NETNS_TEST_ARTIFACTS`, if set;
/// 2. `<target dir>/netns-test`, the target dir found from the test binary's path;
/// 3. except under nextest, when that target dir is neither inside the workspace root
///    nextest reports nor `$CARGO_TARGET_DIR`: a run from `cargo nextest archive` extracts
///    the binaries into a temporary folder that is deleted after the run, so the folders go
///    to `<workspace root>/target/netns-test` (the `--workspace-remap` folder);
/// 4. `<temp dir>/netns-test` for a binary outside any target dir, outside nextest.
fn artifacts_root(
    artifacts: Option<&std::ffi::OsStr>,
    exe: Option<&Path>,
    cargo_target_dir: Option<&Path>,
    runner: &Runner,
) -> PathBuf {
    if let Some(d) = artifacts.filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        return std::path::absolute(&d).unwrap_or(d);
    }
    let target = exe.and_then(target_dir);
    match (&runner.workspace_root, target) {
        (Some(ws), Some(t)) if t.starts_with(ws) || cargo_target_dir == Some(t.as_path()) => {
            t.join("netns-test")
        }
        (Some(ws), _) => ws.join("target").join("netns-test"),
        (None, Some(t)) => t.join("netns-test"),
        (None, None) => std::env::temp_dir().join("netns-test"),
    }
}

/// `a::b::c` -> `a__b__c`.
fn dir_name(path: &str) -> String {
    path.replace("::", "__")
}

/// The target directory of a test binary at `.../target[/<triple>]/<profile>/deps/NAME`
/// (or `examples/NAME`): `.../target[/<triple>]`.
fn target_dir(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    if !matches!(dir.file_name()?.to_str()?, "deps" | "examples") {
        return None;
    }
    Some(dir.parent()?.parent()?.to_path_buf())
}

/// `<node>.txt`, or `<node>.node.txt` for a node whose name is taken by another file.
pub(super) fn node_file(node: &str) -> String {
    match node {
        "outcome" | "topology" => format!("{node}.node.txt"),
        _ => format!("{node}.txt"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_and_the_target_dir() {
        assert_eq!(dir_name("it::fixtures::a_test"), "it__fixtures__a_test");
        assert_eq!(
            target_dir(Path::new("/w/target/debug/deps/it-0123abcd")),
            Some(PathBuf::from("/w/target"))
        );
        assert_eq!(
            target_dir(Path::new(
                "/w/target/x86_64-unknown-linux-gnu/release/deps/it-1"
            )),
            Some(PathBuf::from("/w/target/x86_64-unknown-linux-gnu"))
        );
        assert_eq!(target_dir(Path::new("/tmp/it-1")), None);
    }

    fn nextest(attempt: u32, stress: Option<u32>, ws: &str) -> Runner {
        Runner {
            attempt: Some(attempt),
            total_attempts: Some(3),
            stress,
            run_id: Some("0f4e".to_string()),
            workspace_root: Some(PathBuf::from(ws)),
        }
    }

    #[test]
    fn each_attempt_and_stress_iteration_has_its_own_folder() {
        let exe = Path::new("/w/target/debug/deps/it-1");
        let at = |runner: &Runner| Location::new("it::a", None, Some(exe), None, runner);
        // Plain cargo test, and nextest's first attempt: the folder as always.
        let plain = at(&Runner::default());
        assert_eq!(plain.dir, PathBuf::from("/w/target/netns-test/it__a"));
        assert!(plain.first);
        assert_eq!(at(&nextest(1, None, "/w")).dir, plain.dir);
        assert!(at(&nextest(1, None, "/w")).first);
        // A retry: a folder of its own, and it clears nothing but its own.
        let retry = at(&nextest(2, None, "/w"));
        assert_eq!(
            retry.dir,
            PathBuf::from("/w/target/netns-test/it__a.attempt-2")
        );
        assert!(!retry.first);
        // Stress iterations: one folder each; only iteration 0's first attempt clears.
        let s0 = at(&nextest(1, Some(0), "/w"));
        assert_eq!(s0.dir, PathBuf::from("/w/target/netns-test/it__a.stress-0"));
        assert!(s0.first);
        let s3 = at(&nextest(2, Some(3), "/w"));
        assert_eq!(
            s3.dir,
            PathBuf::from("/w/target/netns-test/it__a.stress-3.attempt-2")
        );
        assert!(!s3.first);
        assert_eq!(
            nextest(2, None, "/w").describe().as_deref(),
            Some("attempt 2 of 3 of nextest run 0f4e")
        );
        assert_eq!(Runner::default().describe(), None);
    }

    #[test]
    fn nextest_variables_count_only_for_the_test_nextest_started() {
        let env = |name: &'static str| {
            move |k: &str| match k {
                "NEXTEST_ATTEMPT" => Some("2".to_string()),
                "NEXTEST_TOTAL_ATTEMPTS" => Some("3".to_string()),
                "NEXTEST_STRESS_CURRENT" => Some("none".to_string()),
                "NEXTEST_RUN_ID" => Some("0f4e".to_string()),
                "NEXTEST_WORKSPACE_ROOT" => Some("/w".to_string()),
                "NEXTEST_TEST_NAME" => Some(name.to_string()),
                _ => None,
            }
        };
        // The test nextest started: an integration test's path starts with its crate.
        let own = Runner::new("it::fixtures::a", &env("fixtures::a"));
        assert_eq!(own, nextest(2, None, "/w"));
        // A test binary run by another test inherits that test's variables: not its own.
        let child = Runner::new("it::fixtures::a", &env("runs_the_fixture"));
        assert_eq!(child.attempt, None);
        assert_eq!(child.run_id, None);
        assert_eq!(child.workspace_root, Some(PathBuf::from("/w")));
        // A name that only ends like the test's is another test.
        assert_eq!(Runner::new("it::fixtures::a", &env("a")).attempt, None);
        assert_eq!(Runner::new("it::fixtures::aa", &env("a")).attempt, None);
        // A unit test: the path is the crate's, then libtest's name.
        let unit = Runner::new("netns_test::diag::tests::t", &env("diag::tests::t"));
        assert_eq!(unit.attempt, Some(2));
        // No NEXTEST_TEST_NAME (older nextest): the variables are taken as this test's.
        let old = Runner::new("it::a", &|k: &str| match k {
            "NEXTEST_ATTEMPT" => Some("2".to_string()),
            _ => None,
        });
        assert_eq!(old.attempt, Some(2));
    }

    #[test]
    fn the_root_under_an_archive_is_the_workspace_not_the_extraction_folder() {
        let root = |artifacts: Option<&str>, exe: &str, ctd: Option<&str>, ws: Option<&str>| {
            let runner = match ws {
                Some(ws) => nextest(1, None, ws),
                None => Runner::default(),
            };
            Location::new(
                "it::a",
                artifacts.map(std::ffi::OsStr::new),
                Some(Path::new(exe)),
                ctd.map(Path::new),
                &runner,
            )
            .root
        };
        // Run from an archive: the binaries sit in nextest's temporary extraction folder.
        assert_eq!(
            root(
                None,
                "/tmp/nextest-archive-x1/target/debug/deps/it-1",
                None,
                Some("/ci/ws")
            ),
            PathBuf::from("/ci/ws/target/netns-test")
        );
        // An ordinary nextest run: the target dir inside the workspace.
        assert_eq!(
            root(None, "/w/target/debug/deps/it-1", None, Some("/w")),
            PathBuf::from("/w/target/netns-test")
        );
        // A target dir outside the workspace, named by CARGO_TARGET_DIR: kept.
        assert_eq!(
            root(
                None,
                "/cache/t/debug/deps/it-1",
                Some("/cache/t"),
                Some("/w")
            ),
            PathBuf::from("/cache/t/netns-test")
        );
        // cargo test with a target dir anywhere: the binary's target dir.
        assert_eq!(
            root(None, "/cache/t/debug/deps/it-1", None, None),
            PathBuf::from("/cache/t/netns-test")
        );
        // NETNS_TEST_ARTIFACTS wins over everything.
        assert_eq!(
            root(
                Some("/art"),
                "/tmp/nextest-archive-x1/target/debug/deps/it-1",
                None,
                Some("/ci/ws")
            ),
            PathBuf::from("/art")
        );
        // A binary outside any target dir, outside nextest: the temporary directory.
        assert_eq!(
            root(None, "/tmp/bin/it-1", None, None),
            std::env::temp_dir().join("netns-test")
        );
    }

    #[test]
    fn a_retry_never_removes_the_folder_of_the_attempt_before_it() {
        let root =
            std::env::temp_dir().join(format!("netns-test-diag-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let make = |name: &str| {
            std::fs::create_dir_all(root.join(name)).unwrap();
            std::fs::write(root.join(name).join("outcome.txt"), "x").unwrap();
        };
        let exists = |name: &str| root.join(name).exists();
        let art = root.clone().into_os_string();
        let at = |runner: &Runner| Location::new("it::a", Some(&art), None, None, runner);
        for name in [
            "it__a",
            "it__a.attempt-2",
            "it__a.stress-1",
            "it__a_b",
            "it__a.attempt-3",
        ] {
            make(name);
        }
        // The second attempt clears only its own stale folder.
        assert_eq!(
            at(&nextest(2, None, "/w")).clear_stale(),
            Vec::<String>::new()
        );
        assert!(exists("it__a") && !exists("it__a.attempt-2") && exists("it__a.attempt-3"));
        // The first attempt of a new run clears every folder of the test, and no other.
        make("it__a.attempt-2");
        at(&nextest(1, None, "/w")).clear_stale();
        for gone in [
            "it__a",
            "it__a.attempt-2",
            "it__a.attempt-3",
            "it__a.stress-1",
        ] {
            assert!(!exists(gone), "{gone} was left");
        }
        assert!(exists("it__a_b"), "another test's folder was removed");
        let _ = std::fs::remove_dir_all(&root);
    }
}
