//! Programs in nodes can change user and group, as a daemon started its usual way does
//! (dnsmasq without `--user=root`): the sandbox maps a full range of ids where the machine
//! allows it and, for a user other than root, `NETNS_TEST_ID_MAP=range` asks for it (see
//! `netns_test::environment::id_mapping`); with the caller's ids alone, such a program
//! fails and the failure is explained.

use std::process::Output;

mod support;

use support::text;

use netns_test::{netns_test, Net, Topology};

mod fixtures {
    use super::*;

    #[netns_test(topology = one_node())]
    #[ignore = "fixture: run by user_ids::with_a_range_of_ids_a_program_in_a_node_drops_its_privileges"]
    fn drops_privileges(net: Net) {
        assert!(
            mapped_ids("uid_map") > 100 && mapped_ids("gid_map") > 100,
            "the sandbox maps no range of ids (netns-test-doctor says why):\n{}",
            maps()
        );
        let out = net
            .node("a")
            .output("python3", ["-c", DROP])
            .unwrap_or_else(|e| panic!("{e}\n{}", maps()));
        assert_eq!(out.trim(), "100 100 []");
        // A program the body starts itself, in the host node.
        let child = std::process::Command::new("/usr/bin/python3")
            .args([
                "-c",
                "import os; os.setgroups([1, 2]); print(os.getgroups())",
            ])
            .output()
            .expect("python3");
        assert!(
            child.status.success(),
            "{}",
            String::from_utf8_lossy(&child.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&child.stdout).trim(), "[1, 2]");
    }

    #[netns_test(topology = one_node())]
    #[ignore = "fixture: run by user_ids::with_the_callers_ids_alone_changing_group_is_refused_and_explained"]
    fn changing_group_is_refused(net: Net) {
        assert_eq!(mapped_ids("uid_map"), 1, "{}", maps());
        assert_eq!(
            std::fs::read_to_string("/proc/self/setgroups")
                .unwrap()
                .trim(),
            "deny"
        );
        let err = net
            .node("a")
            .output("python3", ["-c", DROP])
            .expect_err("setgroups with one id mapped");
        assert!(
            err.to_string()
                .contains("PermissionError: [Errno 1] Operation not permitted"),
            "{err}"
        );
        match netns_test::environment::id_mapping() {
            netns_test::environment::IdMapping::Single { cause, remedy } => {
                println!("explained: {cause}; remedy: {remedy}");
            }
            other => panic!("expected the single ids, got {other:?}"),
        }
    }
}

/// What a daemon does when it drops its privileges.
const DROP: &str = "import os; os.setgroups([]); os.setgid(100); os.setuid(100); \
                    print(os.getuid(), os.getgid(), os.getgroups())";

fn one_node() -> Topology {
    Topology::new()
        .bridge("lan", "10.5.0.0/24")
        .node("a", |n| n.on("lan"))
}

/// The number of ids `/proc/self/{file}` maps.
fn mapped_ids(file: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/self/{file}"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
        .sum()
}

fn maps() -> String {
    format!(
        "uid_map:\n{}gid_map:\n{}",
        std::fs::read_to_string("/proc/self/uid_map").unwrap(),
        std::fs::read_to_string("/proc/self/gid_map").unwrap()
    )
}

fn run_fixture(name: &str, envs: &[(&str, &str)]) -> Output {
    support::run_fixture(name, &["NETNS_TEST_ID_MAP"], envs)
}

/// Root maps the range itself; another user needs `newuidmap`, `newgidmap` (package
/// `uidmap`), ranges in `/etc/subuid` and `/etc/subgid`, and `NETNS_TEST_ID_MAP=range`.
/// Where those are missing, this fails, naming the maps (`netns-test-doctor` says why).
#[test]
fn with_a_range_of_ids_a_program_in_a_node_drops_its_privileges() {
    let out = run_fixture(
        "fixtures::drops_privileges",
        &[("NETNS_TEST_ID_MAP", "range")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 passed"), "{}", text(&out));
}

/// `NETNS_TEST_ID_MAP=single` maps the caller's ids alone, as on a machine without the
/// helpers: `setgroups` fails with EPERM, and `id_mapping` says why and what to do.
#[test]
fn with_the_callers_ids_alone_changing_group_is_refused_and_explained() {
    let out = run_fixture(
        "fixtures::changing_group_is_refused",
        &[("NETNS_TEST_ID_MAP", "single")],
    );
    let text = text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "explained: NETNS_TEST_ID_MAP=single is set; remedy: unset NETNS_TEST_ID_MAP"
        ),
        "{text}"
    );
}
