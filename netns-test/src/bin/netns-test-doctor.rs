//! Checks everything netns-test needs on this machine and prints, for each check, whether
//! it passed and, if not, the remedy:
//!
//! ```sh
//! cargo run -p netns-test --bin netns-test-doctor
//! ```
//!
//! Outside any sandbox it checks user namespaces (and the AppArmor, sysctl and seccomp
//! causes of their absence), namespace limits, the file descriptor limit and the tools the
//! examples use. Then it runs the rest inside a real sandbox, the way every test runs:
//! veth, bridge, VXLAN, nf_tables NAT, conntrack, tbf, netem, AF_PACKET and ICMP sockets.
//! It exits with 1 when something every test needs is missing.

use std::process::ExitCode;

use netns_test::__private::{run_async, ShouldPanic, TestSpec};
use netns_test::{fault, nft, Net, Topology};

/// One line of the report.
fn report(ok: bool, what: &str, detail: &str) {
    let mark = if ok { "PASS" } else { "FAIL" };
    if detail.is_empty() {
        println!("{mark}  {what}");
    } else {
        println!("{mark}  {what}: {detail}");
    }
}

/// Something that works, with a limit worth knowing about.
fn warn(what: &str, detail: &str) {
    println!("WARN  {what}: {detail}");
}

fn info(what: &str, detail: &str) {
    println!("info  {what}: {detail}");
}

fn sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Soft and hard `RLIMIT_NOFILE`, from /proc/self/limits.
fn fd_limits() -> Option<(String, String)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    Some((fields.next()?.to_string(), fields.next()?.to_string()))
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// The checks that need no sandbox. False if user namespaces do not work.
fn outside() -> bool {
    let userns = netns_test::environment::probe();
    match &userns {
        Ok(()) => report(true, "user + network namespaces", "created as this user"),
        Err(e) => report(false, "user + network namespaces", &e.to_string()),
    }
    for (path, name) in [
        (
            "/proc/sys/user/max_user_namespaces",
            "user.max_user_namespaces",
        ),
        (
            "/proc/sys/user/max_net_namespaces",
            "user.max_net_namespaces",
        ),
        (
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            "kernel.apparmor_restrict_unprivileged_userns",
        ),
        (
            "/proc/sys/kernel/unprivileged_userns_clone",
            "kernel.unprivileged_userns_clone",
        ),
    ] {
        if let Some(v) = sysctl(path) {
            info(name, &v);
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(mode) = status.lines().find_map(|l| l.strip_prefix("Seccomp:")) {
            info(
                "seccomp mode",
                &format!(
                    "{} (0 none, 2 filter: a container runtime's profile may deny namespaces)",
                    mode.trim()
                ),
            );
        }
    }
    match fd_limits() {
        Some((soft, hard)) => {
            let enough = soft == "unlimited" || soft.parse::<u64>().is_ok_and(|n| n >= 4096);
            let remedy = if enough {
                String::new()
            } else {
                format!(
                    "; every node holds file descriptors, so large topologies or many parallel tests need more: `ulimit -n {hard}`"
                )
            };
            let detail = format!("soft {soft}, hard {hard}{remedy}");
            if enough {
                report(true, "open file limit", &detail);
            } else {
                warn("open file limit", &detail);
            }
        }
        None => info("open file limit", "unknown (/proc/self/limits unreadable)"),
    }
    for tool in ["ip", "ping", "curl", "python3"] {
        let found = on_path(tool);
        info(
            &format!("{tool} (used by the examples inside nodes, not by the framework)"),
            if found {
                "found"
            } else {
                "missing: `bash scripts/setup.sh` installs it"
            },
        );
    }
    userns.is_ok()
}

/// The checks run inside a sandbox, in its host node. Returns the missing essentials.
async fn inside(net: Net) -> Result<(), String> {
    let host = net.host();
    let nl = host.netlink().clone();
    let mut essential_missing = Vec::new();

    let veth = nl
        .link()
        .add(rtnetlink::LinkVeth::new("doc-v0", "doc-v1").build())
        .execute()
        .await;
    report(
        veth.is_ok(),
        "veth pairs",
        &veth
            .as_ref()
            .err()
            .map(|e| format!("{e}: the kernel needs CONFIG_VETH"))
            .unwrap_or_default(),
    );
    if veth.is_err() {
        essential_missing.push("veth");
    }

    let bridge = nl
        .link()
        .add(rtnetlink::LinkBridge::new("doc-br0").build())
        .execute()
        .await;
    report(
        bridge.is_ok(),
        "bridges",
        &bridge
            .as_ref()
            .err()
            .map(|e| format!("{e}: the kernel needs CONFIG_BRIDGE"))
            .unwrap_or_default(),
    );
    if bridge.is_err() {
        essential_missing.push("bridge");
    }

    let vxlan = nl
        .link()
        .add(rtnetlink::LinkVxlan::new("doc-vx0", 42).port(4789).build())
        .execute()
        .await;
    report(
        vxlan.is_ok(),
        "VXLAN (overlay networks)",
        &vxlan
            .as_ref()
            .err()
            .map(|e| format!("{e}: overlays need CONFIG_VXLAN"))
            .unwrap_or_default(),
    );

    let nat = host.exec(|| {
        nft::apply(&nft::Ruleset::named("doctor").nat_masquerade("10.99.0.0/24", Some("doc-br0")))
    });
    report(
        nat.is_ok(),
        "nf_tables NAT (masquerade, published ports, firewall rules)",
        &nat.as_ref()
            .err()
            .map(|e| format!("{e}: needs CONFIG_NF_TABLES and CONFIG_NFT_NAT/MASQ"))
            .unwrap_or_default(),
    );
    let ct = host.exec(nft::conntrack::list);
    report(
        ct.is_ok(),
        "conntrack over netlink",
        &ct.as_ref()
            .err()
            .map(|e| format!("{e}: needs CONFIG_NF_CONNTRACK_NETLINK"))
            .unwrap_or_default(),
    );

    // On the sandbox's own link to `peer` (see main).
    let tbf = host.set_rate("eth0", 10_000_000).await;
    report(
        tbf.is_ok(),
        "tbf (link rate limits)",
        &tbf.as_ref()
            .err()
            .map(|e| format!("{e}: needs CONFIG_NET_SCH_TBF"))
            .unwrap_or_default(),
    );
    match fault::netem_available(&host).await {
        Ok(true) => report(true, "netem (delay, jitter, loss)", ""),
        Ok(false) => warn(
            "netem (delay, jitter, loss)",
            "sch_netem is missing: links declared impairable() get delay and loss from netns-test's own relay instead; load it with `modprobe sch_netem` for the kernel's",
        ),
        Err(e) => report(false, "netem (delay, jitter, loss)", &e.to_string()),
    }

    let packet = host.exec(|| {
        socket2::Socket::new(
            socket2::Domain::PACKET,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(i32::from(0x0003u16.to_be()))),
        )
        .map(drop)
    });
    report(
        packet.is_ok(),
        "AF_PACKET (pcap capture for failure diagnostics, relay)",
        &packet
            .as_ref()
            .err()
            .map(|e| format!("{e}: needs CONFIG_PACKET"))
            .unwrap_or_default(),
    );
    let icmp = host.exec(|| {
        socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::DGRAM,
            Some(socket2::Protocol::ICMPV4),
        )
    });
    report(
        icmp.is_ok(),
        "ICMP datagram sockets (reachability probes)",
        &icmp
            .as_ref()
            .err()
            .map(|e| format!("{e}"))
            .unwrap_or_default(),
    );
    let ipv6 = std::path::Path::new("/proc/sys/net/ipv6").exists();
    report(
        ipv6,
        "IPv6",
        if ipv6 {
            ""
        } else {
            "the kernel has no IPv6: dual-stack topologies fail"
        },
    );

    if essential_missing.is_empty() {
        Ok(())
    } else {
        Err(format!("missing: {}", essential_missing.join(", ")))
    }
}

fn main() -> ExitCode {
    let spec = TestSpec {
        path: "netns_test_doctor::inside",
        timeout_ms: Some(60_000),
        keep_artifacts: false,
        should_panic: ShouldPanic::No,
    };
    // One link to a peer: the sandbox itself needs veth pairs, and tbf needs a link.
    let topology = || {
        Topology::new()
            .node("peer", |n| n)
            .link("host", "peer", "10.99.1.0/30")
    };
    // Inside the sandbox: the same call takes the child's role and runs the checks.
    if std::env::var_os("NETNS_TEST_SANDBOX").is_some() {
        run_async(spec, topology, inside);
        return ExitCode::SUCCESS;
    }
    println!("netns-test doctor\n");
    if !outside() {
        println!("\nnetns-test cannot create its sandboxes here: fix the failure above first.");
        return ExitCode::FAILURE;
    }
    let inside = std::panic::catch_unwind(|| run_async(spec, topology, inside));
    match inside {
        Ok(()) => {
            println!("\nEverything every test needs is here.");
            ExitCode::SUCCESS
        }
        Err(_) => {
            println!("\nSomething every test needs is missing: see the FAIL lines above.");
            ExitCode::FAILURE
        }
    }
}
