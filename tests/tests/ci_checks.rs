//! How the suite runs under cargo-nextest and as a user's crate, checked from outside.
//!
//! Each check runs cargo (and whole suites), so they run only when `NETNS_TEST_CI=1`
//! (`bash .ci/run checks`); otherwise each is reported ignored with that reason. They run
//! one at a time: they share `target/` and cargo's lock. The nested runs get neither
//! `NETNS_TEST_CI` (so this binary does not run itself) nor a chosen diagnostics folder.
//!
//! - a real `cargo nextest run --retries 1` of the retry fixture keeps the failed
//!   attempt's folder and names it (`retry_artifacts.rs` checks the same by hand);
//! - the GitHub Actions template's commands (`docs/ci/github-actions.yml`) as written:
//!   an archive, the fixture's retry from it in a copy of the source, and two partitions
//!   that together run the suite exactly once, none passing only on a retry;
//! - every ```rust block of the README built as a crate of a user's and run (as the user
//!   `NETNS_TEST_CI_USER` names, with an ordinary login PATH, when this runs as root);
//! - off Linux, the build stops at `netns-test`'s `compile_error!` with what to do.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

mod support;

const GATE: &str = "NETNS_TEST_CI";
const NOT_CI: &str = "a CI check that runs cargo and whole suites: it runs with NETNS_TEST_CI=1 \
                      (bash .ci/run checks)";
/// The fixture that fails on nextest's first attempt and passes on the retry.
const RETRY_TEST: &str = "fixtures::fails_on_the_first_attempt_only";
const RETRY_FOLDER: &str = "retry_artifacts__fixtures__fails_on_the_first_attempt_only";
const ARCHIVE: &str = "nextest-archive.tar.zst";
/// An ordinary user's login PATH: no /usr/sbin, no /sbin.
const LOGIN_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

type Check = fn() -> Result<(), Failed>;

fn main() {
    let mut args = Arguments::from_args();
    args.test_threads.get_or_insert(1);
    let checks: [(&str, Check); 4] = [
        ("nextest_retry_keeps_the_failed_attempts_folder", retry),
        (
            "template_archive_retry_and_partitions",
            archive_and_partitions,
        ),
        ("readme_examples_as_a_users_crate", readme_examples),
        ("off_linux_the_build_stops_with_what_to_do", off_linux),
    ];
    let trials = checks
        .into_iter()
        .map(|(name, check)| Trial::ignorable_test(name, move || gated(check)))
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn gated(check: Check) -> Result<Completion, Failed> {
    if std::env::var(GATE).as_deref() != Ok("1") {
        return Ok(Completion::ignored_with(NOT_CI));
    }
    check()?;
    Ok(Completion::Completed)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// A command in `dir`, with stdin from /dev/null and none of the variables that would make
/// a nested run differ from an ordinary one.
fn command(program: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .env_remove(GATE)
        .env_remove("NETNS_TEST_ARTIFACTS")
        .env_remove("NETNS_TEST_KEEP_ARTIFACTS");
    cmd
}

fn cargo(dir: &Path) -> Command {
    command("cargo", dir)
}

/// One line of a shell command, as the workflow template writes it.
fn sh(line: &str, dir: &Path) -> Command {
    let mut cmd = command("sh", dir);
    cmd.args(["-c", line]);
    cmd
}

/// Runs `cmd`, prints what it wrote, and returns it (stdout, then stderr); an error if it
/// exits non-zero.
fn run(what: &str, cmd: &mut Command) -> Result<String, Failed> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("--- {what}\n{text}");
    if !out.status.success() {
        return Err(format!("{what}: {}", out.status).into());
    }
    Ok(text)
}

/// The standard output alone of `cmd`, which must succeed.
fn stdout(what: &str, cmd: &mut Command) -> Result<String, Failed> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what}: {}", out.status).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn tools(args: &[&str]) -> Command {
    let root = workspace();
    let mut cmd = command("python3", &root);
    cmd.arg(root.join("scripts/ci_tools.py")).args(args);
    cmd
}

/// What `ci_tools.py NAME` prints when given `input` on its standard input.
fn filter(name: &str, input: &str) -> Result<String, Failed> {
    let mut child = tools(&[name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    std::io::Write::write_all(&mut stdin, input.as_bytes())?;
    drop(stdin);
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("ci_tools.py {name}: {}", out.status).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The template's `cargo nextest` commands of JOB with `matrix.partition = k`: exactly one.
fn template_command(job: &str, k: u32) -> Result<String, Failed> {
    let root = workspace();
    let text = stdout(
        &format!("the template's {job} command"),
        command("python3", &root).args([
            "scripts/check-workflow.py",
            "docs/ci/github-actions.yml",
            ".config/nextest.toml",
            "--commands",
            job,
            &k.to_string(),
        ]),
    )?;
    match text.lines().collect::<Vec<_>>()[..] {
        [one] => Ok(one.to_string()),
        ref many => Err(format!(
            "the template's {job} job has {} cargo nextest commands, not 1",
            many.len()
        )
        .into()),
    }
}

/// A folder under the temporary folder, readable by every user, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Result<Scratch, Failed> {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ci-checks-{tag}.{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn retry() -> Result<(), Failed> {
    let root = workspace();
    let folders = root.join("target/netns-test");
    for name in [
        RETRY_FOLDER.to_string(),
        format!("{RETRY_FOLDER}.attempt-2"),
    ] {
        let _ = fs::remove_dir_all(folders.join(name));
    }
    let filter = format!("test(={RETRY_TEST})");
    let log = run(
        "cargo nextest run --retries 1 of the retry fixture",
        cargo(&root).args([
            "nextest",
            "run",
            "-p",
            "netns-test-suite",
            "--test",
            "retry_artifacts",
            "--run-ignored",
            "only",
            "--retries",
            "1",
            "-E",
            &filter,
        ]),
    )?;
    check_retry(&log, &folders)
}

/// What a retried run of the fixture must leave: the first attempt failed, the retry
/// passed, and the first attempt's folder under `folders` is kept and named.
fn check_retry(log: &str, folders: &Path) -> Result<(), Failed> {
    let folder = folders.join(RETRY_FOLDER);
    let outcome = fs::read_to_string(folder.join("outcome.txt")).unwrap_or_default();
    let checks = [
        (
            log.contains("TRY 2 PASS"),
            "nextest did not pass the fixture on its retry",
        ),
        (
            log.contains("FLAKY 2/2"),
            "nextest did not report the fixture as flaky",
        ),
        (
            log.contains(&format!(
                "netns-test: diagnostics for this failure are in {}",
                folder.display()
            )),
            "the failed attempt's output does not name its folder",
        ),
        (
            log.contains("written by attempt 1 of 2 of nextest run "),
            "the failed attempt's output does not say which attempt wrote the folder",
        ),
        (
            folder.join("outcome.txt").is_file(),
            "the failed attempt's folder is gone after the passing retry",
        ),
        (
            outcome.contains("the test panicked"),
            "outcome.txt does not record the panic",
        ),
        (
            outcome
                .lines()
                .any(|l| l.starts_with("run: attempt 1 of 2 of nextest run")),
            "outcome.txt does not name the attempt",
        ),
        (
            !folders.join(format!("{RETRY_FOLDER}.attempt-2")).exists(),
            "the passing retry left a folder (.attempt-2)",
        ),
    ];
    let problems: Vec<&str> = checks.iter().filter(|c| !c.0).map(|c| c.1).collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", folder.display(), problems.join("; ")).into())
    }
}

fn archive_and_partitions() -> Result<(), Failed> {
    let root = workspace();
    let build = template_command("build", 1)?;
    run(&build, &mut sh(&build, &root))?;
    // Another directory: a copy of the source, as a checkout on another machine would be.
    let ws = Scratch::new("ws")?;
    let files = stdout(
        "git ls-files",
        command("git", &root).args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ]),
    )?;
    for file in files.split('\0').filter(|f| !f.is_empty()) {
        let to = ws.0.join(file);
        fs::create_dir_all(to.parent().expect("a file's folder"))?;
        fs::copy(root.join(file), &to).map_err(|e| format!("copying {file}: {e}"))?;
    }
    fs::copy(root.join(ARCHIVE), ws.0.join(ARCHIVE))?;
    fs::remove_file(root.join(ARCHIVE))?;

    let only_retry = format!("binary(retry_artifacts) & test(={RETRY_TEST})");
    let from_archive = ["--archive-file", ARCHIVE, "--workspace-remap", "."];
    let log = run(
        "the retry fixture from the archive",
        cargo(&ws.0)
            .args(["nextest", "run"])
            .args(from_archive)
            .args(["--run-ignored", "only", "--retries", "1", "-E", &only_retry]),
    )?;
    check_retry(&log, &ws.0.join("target/netns-test"))?;
    if log.contains("diagnostics for this failure are in /tmp/nextest-archive-") {
        return Err("from the archive, the diagnostics went to nextest's extraction folder".into());
    }

    let list = stdout(
        "cargo nextest list from the archive",
        cargo(&ws.0)
            .args(["nextest", "list"])
            .args(from_archive)
            .args(["--message-format", "json"]),
    )?;
    let suite = ws.0.join("suite.list");
    let tests = filter("listed", &list)?;
    fs::write(&suite, &tests)?;
    println!("the suite: {} tests, not ignored", tests.lines().count());

    let mut reports = vec![suite.display().to_string()];
    for k in 1..=2 {
        let line = template_command("test", k)?;
        let junit = ws.0.join("target/nextest/ci/junit.xml");
        let _ = fs::remove_file(&junit);
        // trybuild (compile_fail) builds with cargo: its cache in this build's target dir.
        let ran = run(
            &format!("partition {k}/2 from the archive: {line}"),
            sh(&line, &ws.0).env("CARGO_TARGET_DIR", root.join("target")),
        );
        ran?;
        let report = ws.0.join(format!("junit-{k}.xml"));
        fs::rename(&junit, &report).map_err(|_| {
            format!(
                "partition {k}/2 wrote no JUnit report ({})",
                junit.display()
            )
        })?;
        let cases = tools(&["junit", &report.display().to_string()])
            .output()
            .map_err(|e| format!("ci_tools.py junit: {e}"))?;
        let flaky: Vec<String> = String::from_utf8_lossy(&cases.stderr)
            .lines()
            .filter_map(|l| l.strip_prefix("flaky: ").map(str::to_string))
            .collect();
        if !flaky.is_empty() {
            return Err(format!(
                "partition {k}/2: tests that passed only on a retry: {}",
                flaky.join("; ")
            )
            .into());
        }
        reports.push(report.display().to_string());
    }
    let mut args = vec!["partitions"];
    args.extend(reports.iter().map(String::as_str));
    run(
        "the two partitions together run the suite exactly once",
        &mut tools(&args),
    )?;
    Ok(())
}

/// The number of tests a libtest run passed, from its last `test result:` line.
fn passed(log: &str) -> Option<u32> {
    let line = log.lines().rev().find(|l| l.starts_with("test result:"))?;
    let before = line.split(" passed").next()?;
    before.rsplit(' ').next()?.parse().ok()
}

fn readme_examples() -> Result<(), Failed> {
    let root = workspace();
    let target = root.join("target");
    let krate = Scratch::new("readme-crate")?;
    let bin = Scratch::new("readme-bin")?;
    let blocks = stdout(
        "ci_tools.py readme-crate",
        &mut tools(&[
            "readme-crate",
            "README.md",
            &krate.0.display().to_string(),
            &root.join("netns-test").display().to_string(),
        ]),
    )?;
    fs::copy(root.join("Cargo.lock"), krate.0.join("Cargo.lock"))?;
    run(
        "the README's examples build",
        cargo(&krate.0)
            .args(["test", "--no-run"])
            .env("CARGO_TARGET_DIR", &target),
    )?;
    let json = stdout(
        "cargo test --no-run --message-format=json",
        cargo(&krate.0)
            .args(["test", "--no-run", "--message-format=json"])
            .env("CARGO_TARGET_DIR", &target),
    )?;
    // `PATH<TAB>KIND<TAB>TARGET` a line.
    let exes: HashMap<String, PathBuf> = filter("test-binaries", &json)?
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let exe = f.next()?;
            Some((f.nth(1)?.to_string(), PathBuf::from(exe)))
        })
        .collect();
    let user = std::env::var("NETNS_TEST_CI_USER")
        .ok()
        .filter(|_| support::machine::is_root());
    let mut ran = 0;
    for block in blocks.lines() {
        let [line, kind, name] = block.split('\t').collect::<Vec<_>>()[..] else {
            return Err(format!("ci_tools.py readme-crate printed {block:?}").into());
        };
        let exe = match kind {
            "ignored" => {
                println!("README.md:{line}: a fragment (rust,ignore)");
                continue;
            }
            "bin" => target.join("debug").join(name),
            _ => exes.get(name).cloned().unwrap_or_default(),
        };
        if !exe.is_file() {
            return Err(format!("README.md:{line}: no executable for {name}").into());
        }
        let copy = bin.0.join(name);
        fs::copy(&exe, &copy)?;
        let mut cmd = match &user {
            Some(user) => {
                let mut cmd = command("runuser", &bin.0);
                cmd.args(["-u", user, "--", "env", "-i"])
                    .arg(format!("PATH={LOGIN_PATH}"))
                    .arg(format!("HOME=/home/{user}"));
                for var in ["NETNS_TEST_TIMEOUT", "NETNS_TEST_ISOLATION_WAIT"] {
                    if let Ok(value) = std::env::var(var) {
                        cmd.arg(format!("{var}={value}"));
                    }
                }
                cmd.arg(format!("./{name}"));
                cmd
            }
            None => command(&copy.display().to_string(), &bin.0),
        };
        let who = user.as_deref().unwrap_or("this user");
        let log = run(
            &format!("README.md:{line} ({kind} {name}) as {who}"),
            &mut cmd,
        )?;
        if kind != "bin" && passed(&log).unwrap_or(0) == 0 {
            return Err(format!("README.md:{line} ({name}) as {who}: 0 tests passed").into());
        }
        ran += 1;
    }
    if ran == 0 {
        return Err("the README has no rust example to run".into());
    }
    Ok(())
}

/// No other target is installed here, so `lib.rs`'s non-Linux block is compiled alone with
/// its condition turned, and must stop the build with its message.
fn off_linux() -> Result<(), Failed> {
    const CFG: &str = "#[cfg(not(target_os = \"linux\"))]";
    let lib = fs::read_to_string(workspace().join("netns-test/src/lib.rs"))?;
    let start = lib
        .find(CFG)
        .ok_or("netns-test/src/lib.rs has no #[cfg(not(target_os = \"linux\"))] compile_error!")?;
    let end = start
        + lib[start..]
            .find("\n);")
            .ok_or("the non-Linux compile_error! has no end (`);` at the start of a line)")?
        + 3;
    let block = lib[start..end].replacen(CFG, "#[cfg(target_os = \"linux\")]", 1);
    if !block.contains("compile_error!") {
        return Err(format!("the non-Linux block is not a compile_error!:\n{block}").into());
    }
    let dir = Scratch::new("not-linux")?;
    fs::write(dir.0.join("not_linux.rs"), block)?;
    let out = command("rustc", &dir.0)
        .args(["--crate-type", "lib", "--edition", "2021", "not_linux.rs"])
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return Err("the non-Linux compile_error! block compiled".into());
    }
    if !err.contains("builds on Linux only") || !err.contains("dev-dependencies") {
        return Err(format!("the non-Linux compile_error! does not say what to do:\n{err}").into());
    }
    println!(
        "off Linux the build stops with: {}",
        err.lines().find(|l| l.contains("error")).unwrap_or("")
    );
    Ok(())
}
