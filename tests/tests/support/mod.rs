//! Helpers shared by the integration tests of `netns-test-suite`: `mod support;` in a test
//! file. Each test binary uses some of them.
//!
//! This suite checks how a test runs: the attribute and its compile errors, the sandbox and
//! the harness mode, outcomes, timeouts, isolation, diagnostics folders, retries, the ids
//! mapped, the machine left as it was, and the CI checks. What the library does to the
//! kernel is `netns-test/tests/`.
#![allow(dead_code)]

pub(crate) mod machine;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The harness-mode fixture binary (`fixtures/harness_fixtures.rs`): at
/// `NEXTEST_BIN_EXE_harness_fixtures` (set by nextest at run time, also in a run from an
/// archive), else at `CARGO_BIN_EXE_harness_fixtures` (set by cargo when this test is
/// built; cargo builds the package's bins for every test run), else beside this test
/// binary (a copy of both run from another folder).
pub(crate) fn harness_fixtures() -> PathBuf {
    if let Some(path) = std::env::var_os("NEXTEST_BIN_EXE_harness_fixtures") {
        return PathBuf::from(path);
    }
    let built = PathBuf::from(env!("CARGO_BIN_EXE_harness_fixtures"));
    // A copy of this test binary run elsewhere may have the fixture beside it.
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("harness_fixtures")));
    match beside {
        Some(path) if !built.exists() && path.exists() => path,
        _ => built,
    }
}

/// This test binary running one of its own tests, `name` (an ignored fixture too), as
/// `cargo test` would run it alone: output not captured, one thread, outside any sandbox.
/// The variables of `unset` are removed, then `envs` set.
pub(crate) fn fixture_command(name: &str, unset: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    cmd.args([
        name,
        "--exact",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env_remove("NETNS_TEST_SANDBOX");
    for var in unset {
        cmd.env_remove(var);
    }
    cmd.envs(envs.iter().copied());
    cmd
}

/// [`fixture_command`], run to its end.
pub(crate) fn run_fixture(name: &str, unset: &[&str], envs: &[(&str, &str)]) -> Output {
    fixture_command(name, unset, envs)
        .output()
        .expect("running the test binary")
}

/// A finished process's standard output.
pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A finished process's exit status, standard output and standard error, for a message.
pub(crate) fn text(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    )
}
