//! The kernel's own answers, each test in a sandbox of its own: a refused batch applies
//! nothing, and the kernel's dumps list in nft syntax.

use super::decode::every_kind;
use super::*;

/// The kernel refuses one message of a batch: the error names that message, and nothing of
/// the batch is applied. Runs in a sandbox (the kernel's answer is the point).
#[crate::netns_test(crate = "crate", timeout = "20s")]
fn kernel_refusal_names_the_message_and_applies_nothing(net: crate::Net) {
    net.host().run_blocking(|| {
        let rs = Ruleset::new()
            .nat_masquerade("10.0.0.0/8", None)
            .filter(Hook::Input, Rule::new().accept());
        let mut batch = expr::ruleset_batch(&rs);
        // Point the masquerade rule at a chain that does not exist.
        let i = batch
            .iter()
            .position(|m| m.what.contains("masquerade"))
            .unwrap();
        let rule = &rs.rules[0].1;
        batch[i].msg = netlink_packet_netfilter::nftables::NfTablesMessage::NewRule(
            expr::rule_msg(TABLE, "no_such_chain", rule),
        );
        let mut s = sock::Nfnl::open().unwrap();
        let err = s.batch(&batch).expect_err("ENOENT");
        assert_eq!(err.source.raw_os_error(), Some(libc::ENOENT), "{err:?}");
        assert!(
            err.what
                .starts_with("adding rule #1 `ip saddr 10.0.0.0/8 counter masquerade`"),
            "{err:?}"
        );
        let text = sock::apply_error(TABLE, err).to_string();
        assert!(
            text.contains("nf_tables (table inet netns_test): adding rule #1"),
            "{text}"
        );
        // Atomic: not even the table exists (nor any other: the node's name service
        // needs no nf_tables).
        let listing = crate::nft::list().unwrap();
        assert!(!listing.contains("table inet netns_test {"), "{listing}");
        assert!(listing.contains("# no nf_tables tables"), "{listing}");
        // The same socket still works for a good batch.
        s.batch(&expr::ruleset_batch(&rs)).unwrap();
        let listing = crate::nft::list().unwrap();
        assert!(
            listing.contains("counter masquerade  # handle"),
            "{listing}"
        );
        assert!(listing.contains("chain input"), "{listing}");
    })
}

/// The kernel's own dump of every rule kind decodes to the text the rule was built as,
/// whatever the table is called. Runs in a sandbox (the kernel's answer is the point).
#[crate::netns_test(crate = "crate", timeout = "20s")]
fn list_shows_every_rule_kind_read_back_from_the_kernel_in_nft_syntax(net: crate::Net) {
    let kinds = every_kind();
    let rs = kinds
        .iter()
        .fold(Ruleset::named("any_name"), |rs, (chain, rule, _)| {
            rs.push(*chain, rule.clone())
        });
    net.host()
        .run_blocking(|| crate::nft::apply(&rs))
        .expect("applied");
    let listing = net.host().run_blocking(crate::nft::list).expect("listed");
    assert!(!listing.contains(render::RAW_MARK), "{listing}");
    assert!(listing.contains("table inet any_name {"), "{listing}");
    assert!(
        listing.contains("type nat hook postrouting priority srcnat;"),
        "{listing}"
    );
    assert!(
        listing.contains("type filter hook input priority filter;"),
        "{listing}"
    );
    for (_, _, text) in &kinds {
        assert!(
            listing.contains(&format!("\t\t{text}  # handle ")),
            "no line `{text}` in:\n{listing}"
        );
    }
}

/// A NAT topology's own rules (masquerade, a published port, isolation between the host's
/// bridges), as `list` shows them in the host: nft syntax, nothing raw.
fn nat_topology() -> crate::Topology {
    crate::Topology::new()
        .bridge_with("docker0", "172.18.0.0/16", |b| b.masquerade())
        .bridge("backnet", "172.19.0.0/16")
        .node("web", |n| n.on("docker0").publish(8080, 80))
        .node("db", |n| n.on("backnet"))
}

#[crate::netns_test(crate = "crate", topology = nat_topology(), timeout = "20s")]
fn a_nat_topology_lists_its_rules_in_nft_syntax(net: crate::Net) {
    let listing = net.host().run_blocking(crate::nft::list).expect("listed");
    assert!(!listing.contains(render::RAW_MARK), "{listing}");
    assert!(!listing.contains("[ "), "{listing}");
    for line in [
        "type nat hook postrouting priority srcnat; policy accept;",
        r#"ip saddr 172.18.0.0/16 oifname != "docker0" counter masquerade  # handle "#,
        "fib daddr type local tcp dport 8080 counter dnat ip to 172.18.0.2:80  # handle ",
        r#"ct status dnat ip saddr 127.0.0.0/8 oifname "docker0" counter masquerade  # handle "#,
        r#"iifname "docker0" oifname "backnet" counter drop  # handle "#,
        r#"iifname "backnet" oifname "docker0" counter drop  # handle "#,
    ] {
        assert!(listing.contains(line), "no `{line}` in:\n{listing}");
    }
    // The containers have no rules, hence no table at all.
    let web = net
        .node("web")
        .run_blocking(crate::nft::list)
        .expect("listed");
    assert_eq!(web, "# no nf_tables tables in this network namespace\n");
}
