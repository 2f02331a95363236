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
        "ICMP datagram sockets",
        "open file limit",
    ] {
        assert!(text.contains(check), "no line for {check:?} in:\n{text}");
    }
    // Names need nothing of netfilter, on every kernel.
    assert!(
        text.contains(
            "present  node names (the name service on 127.0.0.11:53): needs nothing beyond loopback and UDP (no nf_tables)"
        ),
        "{text}"
    );
    assert!(
        text.contains("Everything every test needs is here."),
        "{text}"
    );
}

/// Each feature gets one line, `present` or `absent`, naming the kernel module (and
/// CONFIG_ option) it needs.
#[test]
fn the_doctor_says_which_kernel_part_each_feature_needs() {
    let out = doctor().output().expect("running the doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    let features: [(&str, &[&str]); 15] = [
        ("node names", &["nothing beyond loopback"]),
        (
            "firewall rules, isolation between bridges",
            &["nf_tables", "CONFIG_NF_TABLES"],
        ),
        (
            "ct state and ct status matches",
            &["nft_ct", "CONFIG_NFT_CT"],
        ),
        (
            "Rule::reject",
            &["nft_reject_inet", "CONFIG_NFT_REJECT_INET"],
        ),
        (
            "published ports, full_cone, Rule::dst_local",
            &["nft_fib_inet", "CONFIG_NFT_FIB_INET"],
        ),
        (
            "DNAT: keep_port_53_free(), published ports",
            &["nft_nat", "CONFIG_NFT_NAT"],
        ),
        ("SNAT (Ruleset::snat)", &["nft_nat", "CONFIG_NFT_NAT"]),
        ("masquerade", &["nft_masq", "CONFIG_NFT_MASQ"]),
        (
            "conntrack listing",
            &["nf_conntrack_netlink", "CONFIG_NF_CONNTRACK_NETLINK"],
        ),
        (
            "bridge netfilter",
            &["br_netfilter", "CONFIG_BRIDGE_NETFILTER"],
        ),
        ("overlay networks", &["vxlan", "CONFIG_VXLAN"]),
        ("link rate limits", &["sch_tbf", "CONFIG_NET_SCH_TBF"]),
        (
            "delay, jitter, loss by the kernel's netem",
            &["sch_netem", "CONFIG_NET_SCH_NETEM"],
        ),
        (
            "impairable() links through the relay",
            &["AF_PACKET", "CONFIG_PACKET"],
        ),
        ("IPv6", &["ipv6", "CONFIG_IPV6"]),
    ];
    for (feature, parts) in features {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| {
                (l.starts_with("present  ") || l.starts_with("absent   ")) && l.contains(feature)
            })
            .collect();
        assert_eq!(lines.len(), 1, "one line for {feature:?} in:\n{text}");
        let needs = lines[0]
            .split_once(": needs ")
            .unwrap_or_else(|| panic!("no `needs` in {:?}", lines[0]))
            .1;
        for part in parts {
            assert!(
                needs.contains(part),
                "{feature:?} does not name {part:?}: {}",
                lines[0]
            );
        }
    }
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

/// Lines say whether programs in nodes can change user and group, in labs and in the
/// default mode, and, with the caller's ids alone, why not and the remedy.
#[test]
fn the_doctor_says_whether_a_range_of_ids_is_mapped() {
    let lab = "uid and gid range, labs and the harness mode";
    let default = "uid and gid range, default-mode tests";
    let single = "only uid and gid 0 are mapped, so a program that changes user or group fails \
                  with \"Operation not permitted\" (dnsmasq without --user=root: \"failed to \
                  change group-id to dip\")";
    let run = |value: Option<&str>| {
        let mut cmd = doctor();
        match value {
            Some(v) => cmd.env("NETNS_TEST_ID_MAP", v),
            None => cmd.env_remove("NETNS_TEST_ID_MAP"),
        };
        let out = cmd.output().expect("running the doctor");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = run(Some("range"));
    for what in [lab, default] {
        assert!(
            text.contains(&format!("PASS  {what}: ")),
            "no range mapped here (install `uidmap`, give this user ranges in /etc/subuid \
             and /etc/subgid):\n{text}"
        );
    }
    let text = run(None);
    assert!(text.contains(&format!("PASS  {lab}: ")), "{text}");
    let root = text.contains("(root maps them itself)");
    let asked = format!(
        "WARN  {default}: {single}: the range costs two process starts (newuidmap, newgidmap) \
         per test, so default-mode tests map it only when asked. Remedy: set \
         NETNS_TEST_ID_MAP=range for the run (labs and the harness mode map it anyway)"
    );
    assert!(
        text.contains(&format!("PASS  {default}: ")) == root && text.contains(&asked) != root,
        "{text}"
    );
    let text = run(Some("single"));
    for what in [lab, default] {
        assert!(
            text.contains(&format!(
                "WARN  {what}: {single}: NETNS_TEST_ID_MAP=single is set. Remedy: unset \
                 NETNS_TEST_ID_MAP"
            )),
            "{text}"
        );
    }
}
