//! A finished test leaves the machine's links, routes and mounts as they were.
//!
//! Only root could change them: an ordinary user's test cannot touch the machine's
//! namespaces at all, so there the check cannot fail, and it is reported ignored with that
//! reason instead of passing. libtest cannot ignore a test at run time, so this target has
//! its own `main` (libtest-mimic), and runs its fixture, a test in a sandbox through the
//! public runner (`netns_test::sandbox`), as a child process of this binary.

use std::process::Command;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use netns_test::sandbox::{self, TestSpec};
use netns_test::{presets, Net};

mod support;

use support::machine::{is_root, machine_state};

/// The fixture's name, as this binary's trials know it.
const FIXTURE: &str = "fixtures::builds_and_passes";

/// Why the check cannot fail for an ordinary user.
const UNPRIVILEGED: &str = "run as an ordinary user, a test cannot change the machine's \
                            links, routes or mounts, so this check cannot fail here: run it \
                            as root";

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        Trial::ignorable_test(
            "a_finished_test_leaves_the_machine_as_it_was",
            finished_test_leaves_the_machine,
        ),
        // Run by the test above (`--include-ignored`), and again by the sandbox inside the
        // namespaces.
        Trial::test(FIXTURE, builds_and_passes).with_ignored_flag(true),
    ];
    libtest_mimic::run(&args, trials).exit();
}

fn finished_test_leaves_the_machine() -> Result<Completion, Failed> {
    if !is_root() {
        return Ok(Completion::ignored_with(UNPRIVILEGED));
    }
    let before = machine_state();
    let out = Command::new(std::env::current_exe()?)
        .args([FIXTURE, "--exact", "--include-ignored", "--nocapture"])
        .env_remove("NETNS_TEST_SANDBOX")
        .env_remove("NETNS_TEST_TIMEOUT")
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !text.contains("1 passed") {
        return Err(format!("the fixture did not pass ({}):\n{text}", out.status).into());
    }
    let after = machine_state();
    if before != after {
        let gone: Vec<_> = before.difference(&after).collect();
        let new: Vec<_> = after.difference(&before).collect();
        return Err(format!(
            "the machine's links, routes or mounts changed: gone {gone:#?}, new {new:#?}"
        )
        .into());
    }
    Ok(Completion::Completed)
}

/// Builds a topology in a sandbox and passes.
fn builds_and_passes() -> Result<(), Failed> {
    let spec = TestSpec::new(concat!(module_path!(), "::", "fixtures::builds_and_passes"));
    sandbox::run_sync(
        spec,
        || presets::lan_wan(2),
        |net: Net| assert_eq!(net.nodes().len(), 5),
    );
    Ok(())
}
