//! Helpers shared by the integration tests of `netns-test-suite`: `mod support;` in a test
//! file. Each test binary uses some of them.
//!
//! This suite checks how a test runs: the attribute and its compile errors, the sandbox and
//! the harness mode, outcomes, timeouts, isolation, diagnostics folders, retries, the ids
//! mapped, the machine left as it was, and the CI checks. What the library does to the
//! kernel is `netns-test/tests/`.
#![allow(dead_code)]

pub(crate) mod machine;

use std::process::{Command, Output};

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
