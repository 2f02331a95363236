//! Checks everything netns-test needs on this machine and prints, for each check, whether
//! it passed and, if not, the remedy:
//!
//! ```sh
//! cargo run -p netns-test --bin netns-test-doctor
//! ```
//!
//! Outside any sandbox it checks user namespaces (and the AppArmor, sysctl and seccomp
//! causes of their absence), namespace limits, the file descriptor limit and the tools the
//! examples use. Then it enters a [`Lab`], says whether a full range of uids and gids is
//! mapped there (else why not, and the remedy), and runs the rest in a network built there,
//! the way every test's network is built: veth pairs, bridges and ICMP sockets, which every
//! test needs, and then a table of features, each with the kernel parts it needs (module
//! and CONFIG_ option) and whether they are present, each probed for real: node names (nothing), firewall rules
//! (nf_tables), ct matches (nft_ct), reject (nft_reject_inet), published ports (nft_fib_inet,
//! nft_nat), `keep_port_53_free()`, DNAT and SNAT (nft_nat), masquerade (nft_masq),
//! conntrack listing (nf_conntrack_netlink), bridge netfilter (br_netfilter), overlays
//! (vxlan), rate limits (sch_tbf), netem delay and loss (sch_netem) or the relay's
//! (AF_PACKET), IPv6 (ipv6). It exits with 1 when something every test needs is missing.

use std::process::ExitCode;

use netns_test::{fault, nft, Lab, Net, Topology};

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

/// Whether the lab just entered (as the harness mode's) and the default mode's sandboxes
/// map a range of ids, so that programs in nodes can change user and group; if not, why
/// and the remedy.
fn id_range() {
    use netns_test::environment::{id_mapping, lab_id_mapping, IdMapping};
    let mapped: u64 = std::fs::read_to_string("/proc/self/uid_map")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
        .sum();
    let single = "only uid and gid 0 are mapped, so a program that changes user or group \
                  fails with \"Operation not permitted\" (dnsmasq without --user=root: \
                  \"failed to change group-id to dip\")";
    for (what, mapping) in [
        (
            "uid and gid range, labs and the harness mode",
            lab_id_mapping(),
        ),
        ("uid and gid range, default-mode tests", id_mapping()),
    ] {
        match mapping {
            // The lab's own map says whether mapping the range worked.
            IdMapping::Range { .. } if mapped <= 1 => warn(
                what,
                &format!("{single}: mapping the range failed (the message is above)"),
            ),
            IdMapping::Range { count, how } => {
                report(true, what, &format!("{count} ids mapped: {how}"))
            }
            IdMapping::Single { cause, remedy } => {
                warn(what, &format!("{single}: {cause}. Remedy: {remedy}"))
            }
            other => info(what, &format!("{other:?}")),
        }
    }
}

/// One line of the feature table: whether the kernel has what `feature` needs.
fn feature(found: Result<(), String>, feature: &str, needs: &str) {
    match found {
        Ok(()) => println!("present  {feature}: needs {needs}"),
        Err(e) => println!("absent   {feature}: needs {needs}; here: {e}"),
    }
}

/// Applies `rules` (a table of its own) in `host`: the probe of the nf_tables parts it uses.
async fn nft_probe(host: &netns_test::Node, rules: nft::Ruleset) -> Result<(), String> {
    host.nft().apply(&rules).await.map_err(|e| e.to_string())
}

/// The checks run inside a sandbox, in its host node. Returns the missing essentials.
async fn inside(net: Net) -> Result<(), String> {
    let host = net.host();
    let essential_missing = essentials(&host).await;
    println!(
        "\nFeatures, the kernel parts they need (the module to load with `modprobe`, and \
         the kernel's CONFIG_ option) and whether those are present here:"
    );
    name_service(&host);
    for (rules, what, needs) in nft_features() {
        feature(nft_probe(&host, rules).await, what, needs);
    }
    feature(
        host.nft()
            .conntrack()
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        "conntrack listing and flushing (node.nft().conntrack(), nft::conntrack)",
        "nf_conntrack_netlink (CONFIG_NF_CONNTRACK_NETLINK)",
    );
    link_features(&host).await;
    if essential_missing.is_empty() {
        Ok(())
    } else {
        Err(format!("missing: {}", essential_missing.join(", ")))
    }
}

/// What every test needs: veth pairs, bridges (reported as PASS/FAIL, the missing ones
/// returned), and ICMP datagram sockets for the probes.
async fn essentials(host: &netns_test::Node) -> Vec<&'static str> {
    let nl = host.netlink();
    let mut missing = Vec::new();
    let veth = nl
        .link()
        .add(rtnetlink::LinkVeth::new("doc-v0", "doc-v1").build())
        .execute()
        .await;
    let bridge = nl
        .link()
        .add(rtnetlink::LinkBridge::new("doc-br0").build())
        .execute()
        .await;
    for (made, what, name, config) in [
        (veth, "veth pairs", "veth", "CONFIG_VETH"),
        (bridge, "bridges", "bridge", "CONFIG_BRIDGE"),
    ] {
        let detail = made
            .as_ref()
            .err()
            .map(|e| format!("{e}: the kernel needs {config}"))
            .unwrap_or_default();
        report(made.is_ok(), what, &detail);
        if made.is_err() {
            missing.push(name);
        }
    }
    let icmp = host.run_blocking(|| {
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
    missing
}

/// Node names: `peer` resolves through the name service.
fn name_service(host: &netns_test::Node) {
    let names = host.run_blocking(|| {
        use std::net::ToSocketAddrs;
        ("peer", 0)
            .to_socket_addrs()
            .map_err(|e| e.to_string())
            .and_then(|mut a| {
                a.next()
                    .map(drop)
                    .ok_or_else(|| "no address for \"peer\"".to_string())
            })
    });
    feature(
        names,
        "node names (the name service on 127.0.0.11:53)",
        "nothing beyond loopback and UDP (no nf_tables)",
    );
}

/// The nf_tables probes: a ruleset (a table of its own) using the part, the features that
/// need it, and the kernel parts.
fn nft_features() -> Vec<(nft::Ruleset, &'static str, &'static str)> {
    use nft::{Hook, NatMode, Proto, Rule, Ruleset};
    let addr = |a: &str| a.parse().expect("address");
    vec![
        (
            Ruleset::named("doctor_filter")
                .forward_policy(nft::Policy::Accept)
                .filter(
                    Hook::Forward,
                    Rule::new().iif("doc-br0").not_oif("doc-br0").drop(),
                ),
            "firewall rules, isolation between bridges, internal() networks",
            "nf_tables (CONFIG_NF_TABLES, CONFIG_NF_TABLES_INET)",
        ),
        (
            Ruleset::named("doctor_ct").filter(Hook::Input, Rule::new().ct_established().accept()),
            "ct state and ct status matches (Rule::ct_established, ct_new, ct_dnat, hairpin())",
            "nf_tables, nft_ct (CONFIG_NFT_CT)",
        ),
        (
            Ruleset::named("doctor_reject")
                .filter(Hook::Input, Rule::new().proto(Proto::Tcp).dport(9).reject()),
            "Rule::reject",
            "nf_tables, nft_reject_inet (CONFIG_NFT_REJECT_INET)",
        ),
        (
            Ruleset::named("doctor_fib").filter(Hook::Input, Rule::new().dst_local().accept()),
            "published ports, full_cone, Rule::dst_local (fib daddr type local)",
            "nf_tables, nft_fib_inet (CONFIG_NFT_FIB_INET)",
        ),
        (
            Ruleset::named("doctor_dnat").dnat(
                Proto::Udp,
                Some(addr("127.0.0.11")),
                53,
                "127.0.0.11:53053".parse().expect("address"),
            ),
            "DNAT: keep_port_53_free(), published ports (publish, publish_udp), Ruleset::dnat, full_cone",
            "nf_tables, nft_nat (CONFIG_NFT_NAT)",
        ),
        (
            Ruleset::named("doctor_snat").snat(
                "10.99.0.0/24",
                None,
                addr("10.99.1.1"),
                Some(1024..=65535),
                NatMode::PortPreserving,
            ),
            "SNAT (Ruleset::snat)",
            "nf_tables, nft_nat (CONFIG_NFT_NAT)",
        ),
        (
            Ruleset::named("doctor_masq").nat_masquerade("10.99.0.0/24", Some("doc-br0")),
            "masquerade (bridge masquerade(), hairpin(), Ruleset::nat_masquerade)",
            "nf_tables, nft_nat, nft_masq (CONFIG_NFT_NAT, CONFIG_NFT_MASQ)",
        ),
    ]
}

/// Bridge netfilter, overlays, rate limits, netem, packet sockets, IPv6.
async fn link_features(host: &netns_test::Node) {
    // Per network namespace since Linux 5.3, present once the module is loaded.
    let br_nf = host.run_blocking(|| {
        std::fs::metadata("/proc/sys/net/bridge/bridge-nf-call-iptables")
            .map(drop)
            .map_err(|e| format!("/proc/sys/net/bridge/bridge-nf-call-iptables: {e}"))
    });
    feature(
        br_nf,
        "bridge netfilter (bridged frames through the IP hooks)",
        "br_netfilter (CONFIG_BRIDGE_NETFILTER)",
    );
    let vxlan = host
        .netlink()
        .link()
        .add(rtnetlink::LinkVxlan::new("doc-vx0", 42).port(4789).build())
        .execute()
        .await;
    feature(
        vxlan.map_err(|e| e.to_string()),
        "overlay networks (Topology::overlay)",
        "vxlan (CONFIG_VXLAN)",
    );
    // On the sandbox's own link to `peer` (see main).
    let tbf = host.conditions("eth0").rate(10_000_000).await;
    feature(
        tbf.map_err(|e| e.to_string()),
        "link rate limits (node.conditions(..).rate(..), Conditions::rate)",
        "sch_tbf (CONFIG_NET_SCH_TBF)",
    );
    let netem = match fault::netem_available(host).await {
        Ok(true) => Ok(()),
        Ok(false) => Err("sch_netem is missing: links declared impairable() get delay and loss from netns-test's own relay instead (below)".to_string()),
        Err(e) => Err(e.to_string()),
    };
    feature(
        netem,
        "delay, jitter, loss by the kernel's netem (node.conditions(..).set(..) on any link)",
        "sch_netem (CONFIG_NET_SCH_NETEM)",
    );
    let packet = host.run_blocking(|| {
        socket2::Socket::new(
            socket2::Domain::PACKET,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(i32::from(0x0003u16.to_be()))),
        )
        .map(drop)
        .map_err(|e| e.to_string())
    });
    feature(
        packet,
        "delay and loss on impairable() links through the relay; pcap capture for failure diagnostics",
        "AF_PACKET (CONFIG_PACKET)",
    );
    let ipv6 = std::path::Path::new("/proc/sys/net/ipv6").exists();
    feature(
        if ipv6 {
            Ok(())
        } else {
            Err("no /proc/sys/net/ipv6".to_string())
        },
        "IPv6 (dual-stack topologies, ipv6 subnets)",
        "ipv6 (CONFIG_IPV6)",
    );
}

pub(crate) fn main() -> ExitCode {
    println!("netns-test doctor\n");
    if !outside() {
        println!("\nnetns-test cannot create its sandboxes here: fix the failure above first.");
        return ExitCode::FAILURE;
    }
    // The rest runs in a lab, the way every network is built: one link to a peer (the
    // sandbox itself needs veth pairs, and tbf needs a link).
    let lab = match Lab::enter() {
        Ok(lab) => lab,
        Err(e) => {
            report(
                false,
                "entering a lab (user, mount and network namespaces)",
                &e.to_string(),
            );
            return ExitCode::FAILURE;
        }
    };
    id_range();
    let topology = Topology::new()
        .node("peer", |n| n)
        .link("host", "peer", "10.99.1.0/30");
    let checked = lab
        .build(&topology)
        .map_err(|e| e.to_string())
        .and_then(|net| {
            let host = net.clone();
            net.block_on(inside(host))
        });
    match checked {
        Ok(()) => {
            println!("\nEverything every test needs is here.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("\nSomething every test needs is missing ({e}): see the FAIL lines above.");
            ExitCode::FAILURE
        }
    }
}
