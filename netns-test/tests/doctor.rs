//! The environment doctor, run as a user would run it.

use std::process::Command;

/// The doctor binary; CI runs this test as another user from a copy of the binaries and
/// points at the doctor's copy with `NETNS_TEST_DOCTOR`.
fn doctor() -> Command {
    let path = std::env::var("NETNS_TEST_DOCTOR")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_netns-test-doctor").to_string());
    let mut cmd = Command::new(path);
    cmd.env_remove("NETNS_TEST_SANDBOX");
    cmd
}

#[test]
fn the_doctor_checks_every_feature_and_passes_here() {
    let out = doctor().output().expect("running the doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for check in [
        "PASS  user + network namespaces",
        "PASS  veth pairs",
        "PASS  bridges",
        "nf_tables NAT",
        "conntrack over netlink",
        "VXLAN",
        "tbf (link rate limits)",
        "netem (delay, jitter, loss)",
        "AF_PACKET",
        "open file limit",
    ] {
        assert!(text.contains(check), "no line for {check:?} in:\n{text}");
    }
    assert!(
        text.contains("Everything every test needs is here."),
        "{text}"
    );
}

#[test]
fn without_user_namespaces_the_doctor_fails_with_the_remedy() {
    // A user namespace whose limit is 0 below it: what a machine with
    // user.max_user_namespaces=0 looks like to the doctor.
    let out = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "--pid",
            "--fork",
            "--mount-proc",
            "sh",
            "-c",
        ])
        .arg(format!(
            "echo 0 > /proc/sys/user/max_user_namespaces && exec {}",
            std::env::var("NETNS_TEST_DOCTOR")
                .unwrap_or_else(|_| env!("CARGO_BIN_EXE_netns-test-doctor").to_string())
        ))
        .output()
        .expect("unshare");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "the doctor passed without namespaces:\n{text}"
    );
    assert!(text.contains("FAIL  user + network namespaces"), "{text}");
    assert!(text.contains("user.max_user_namespaces is 0"), "{text}");
    assert!(
        text.contains("sysctl -w user.max_user_namespaces="),
        "{text}"
    );
}
