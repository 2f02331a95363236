//! Listing: dumped rules decoded back into nft syntax.

use netlink_packet_core::{DefaultNla, NetlinkMessage, NetlinkPayload, Nla};
use netlink_packet_netfilter::nftables::{
    ChainAttribute as CA, ChainMessage, ExpressionAttribute, Expressions, ListAttribute,
    NfTablesMessage as NM, RuleAttribute as RA, RuleMessage, TableAttribute as TA, TableMessage,
};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner};

use super::*;

/// `rule` as the kernel would hand it back in a dump: encoded to bytes, parsed again.
fn dumped(rule: &Rule) -> RuleMessage {
    let bytes = message_bytes(NfTablesMessageFor::Rule(expr::rule_msg("t", "c", rule)));
    let msg = NetlinkMessage::<NetfilterMessage>::deserialize(&bytes).expect("parses");
    let NetlinkPayload::InnerMessage(NetfilterMessage {
        inner: NetfilterMessageInner::NfTables(NM::NewRule(mut r)),
        ..
    }) = msg.payload
    else {
        panic!("not a rule: {msg:?}");
    };
    r.attributes.push(RA::Handle(7));
    r
}

/// The listing of one table `inet t` with one chain `c` holding `rules`.
fn listing(rules: Vec<RuleMessage>) -> String {
    let d = sock::RulesetDump {
        tables: vec![(
            NFPROTO_INET,
            TableMessage {
                attributes: vec![TA::Name("t".into())],
            },
        )],
        chains: vec![(
            NFPROTO_INET,
            ChainMessage {
                attributes: vec![CA::Table("t".into()), CA::Name("c".into())],
            },
        )],
        rules: rules.into_iter().map(|r| (NFPROTO_INET, r)).collect(),
        undecodable: vec![],
    };
    render::ruleset(&d)
}

/// The rule line of a one-rule listing, without its trailing `  # handle ...`.
fn listed(rule: RuleMessage) -> String {
    let text = listing(vec![rule]);
    let line = text.lines().nth(2).unwrap_or_else(|| panic!("{text}"));
    let (body, tail) = line.trim_start().split_once("  # handle 7").expect(&text);
    assert!(tail.is_empty() || tail.starts_with(", packets"), "{text}");
    body.to_string()
}

/// Every match and action a [`Rule`] or a [`Ruleset`] method can make, with the chain it
/// goes in and its text.
pub(super) fn every_kind() -> Vec<(ChainKind, Rule, &'static str)> {
    let v4 = "198.51.100.1".parse().unwrap();
    let v6 = "2001:db8::1".parse().unwrap();
    let out: Vec<(Rule, &'static str)> = vec![
        (Rule::new(), "counter"),
        (Rule::new().accept(), "counter accept"),
        (Rule::new().drop(), "counter drop"),
        (
            Rule::new().src("10.0.0.0/8").accept(),
            "ip saddr 10.0.0.0/8 counter accept",
        ),
        (
            Rule::new().not_src("10.1.2.0/23").drop(),
            "ip saddr != 10.1.2.0/23 counter drop",
        ),
        (
            Rule::new().dst("10.0.0.5").accept(),
            "ip daddr 10.0.0.5 counter accept",
        ),
        (
            Rule::new().not_dst("0.0.0.0/0").accept(),
            "ip daddr != 0.0.0.0/0 counter accept",
        ),
        (
            Rule::new().src("fd00:1::/64").dst("fd00:2::7").drop(),
            "ip6 saddr fd00:1::/64 ip6 daddr fd00:2::7 counter drop",
        ),
        (
            Rule::new().not_dst("2001:db8::/33").drop(),
            "ip6 daddr != 2001:db8::/33 counter drop",
        ),
        (
            Rule::new().iif("lan").accept(),
            r#"iifname "lan" counter accept"#,
        ),
        (
            Rule::new().not_iif("eth0").drop(),
            r#"iifname != "eth0" counter drop"#,
        ),
        (
            Rule::new().oif("a-15-byte-name.").accept(),
            r#"oifname "a-15-byte-name." counter accept"#,
        ),
        (
            Rule::new().not_oif("wan").accept(),
            r#"oifname != "wan" counter accept"#,
        ),
        (
            Rule::new().proto(Proto::Tcp).accept(),
            "meta l4proto tcp counter accept",
        ),
        (
            Rule::new().proto(Proto::Udp).drop(),
            "meta l4proto udp counter drop",
        ),
        (
            Rule::new().proto(Proto::Icmp).accept(),
            "meta l4proto icmp counter accept",
        ),
        (
            Rule::new().proto(Proto::Icmpv6).accept(),
            "meta l4proto ipv6-icmp counter accept",
        ),
        (
            Rule::new().proto(Proto::Other(47)).accept(),
            "meta l4proto 47 counter accept",
        ),
        (
            Rule::new().proto(Proto::Tcp).dport(80).accept(),
            "tcp dport 80 counter accept",
        ),
        (
            Rule::new().proto(Proto::Udp).sport(53).accept(),
            "udp sport 53 counter accept",
        ),
        (
            Rule::new()
                .proto(Proto::Tcp)
                .dport_range(1000..=2000)
                .drop(),
            "tcp dport 1000-2000 counter drop",
        ),
        (
            Rule::new().proto(Proto::Other(132)).sport_range(1..=2),
            "132 sport 1-2 counter",
        ),
        (
            Rule::new().ct_established().accept(),
            "ct state established,related counter accept",
        ),
        (
            Rule::new().ct_new().proto(Proto::Tcp).dport(22).accept(),
            "ct state new tcp dport 22 counter accept",
        ),
        (
            Rule::new().ct_dnat().accept(),
            "ct status dnat counter accept",
        ),
        (
            Rule::new().dst_local().proto(Proto::Udp).dport(9).drop(),
            "fib daddr type local udp dport 9 counter drop",
        ),
        (
            Rule::new().local_socket().accept(),
            "socket transparent 0-1 counter accept",
        ),
        (
            Rule::new()
                .proto(Proto::Udp)
                .local_socket()
                .ct_new()
                .not_iif("wan")
                .accept(),
            r#"iifname != "wan" ct state new socket transparent 0-1 meta l4proto udp counter accept"#,
        ),
        (
            Rule::new().proto(Proto::Tcp).dport(25).reject(),
            "tcp dport 25 counter reject with tcp reset",
        ),
        (
            Rule::new().proto(Proto::Udp).dport(53).reject(),
            "udp dport 53 counter reject with icmpx port-unreachable",
        ),
        (
            Rule::new().reject(),
            "counter reject with icmpx port-unreachable",
        ),
        (
            Rule::new()
                .iif("lan")
                .not_dst("10.0.0.0/8")
                .proto(Proto::Tcp)
                .dport(443)
                .accept(),
            r#"iifname "lan" ip daddr != 10.0.0.0/8 tcp dport 443 counter accept"#,
        ),
        (
            // Built in another order: printed, and read back, in the same fixed order.
            Rule::new()
                .proto(Proto::Tcp)
                .dport(80)
                .oif("wan")
                .src("10.0.0.0/8")
                .iif("lan")
                .ct_new()
                .accept(),
            r#"iifname "lan" ct state new ip saddr 10.0.0.0/8 oifname "wan" tcp dport 80 counter accept"#,
        ),
    ];
    let sets: Vec<(Ruleset, Vec<&'static str>)> = vec![
        (
            Ruleset::new().nat_masquerade("172.18.0.0/16", Some("docker0")),
            vec![r#"ip saddr 172.18.0.0/16 oifname != "docker0" counter masquerade"#],
        ),
        (
            Ruleset::new().nat_masquerade("fd00:18::/64", None),
            vec!["ip6 saddr fd00:18::/64 counter masquerade"],
        ),
        (
            Ruleset::new().snat("10.0.0.0/24", None, v4, None, NatMode::Random),
            vec!["ip saddr 10.0.0.0/24 counter snat ip to 198.51.100.1 fully-random"],
        ),
        (
            Ruleset::new().snat(
                "10.0.0.0/24",
                Some("wan"),
                v4,
                Some(4000..=4000),
                NatMode::PortPreserving,
            ),
            vec![
                r#"ip saddr 10.0.0.0/24 oifname "wan" counter snat ip to 198.51.100.1:4000 persistent"#,
            ],
        ),
        (
            Ruleset::new().snat(
                "10.0.0.0/24",
                Some("wan"),
                v4,
                Some(1024..=65535),
                NatMode::PortPreserving,
            ),
            vec![
                r#"ip saddr 10.0.0.0/24 oifname "wan" counter snat ip to 198.51.100.1:1024-65535 persistent"#,
            ],
        ),
        (
            Ruleset::new().snat("fd00::/64", None, v6, Some(1..=9), NatMode::Random),
            vec!["ip6 saddr fd00::/64 counter snat ip6 to [2001:db8::1]:1-9 fully-random"],
        ),
        (
            Ruleset::new().snat("fd00::/64", None, v6, None, NatMode::PortPreserving),
            vec!["ip6 saddr fd00::/64 counter snat ip6 to 2001:db8::1 persistent"],
        ),
        (
            Ruleset::new().dnat(Proto::Tcp, None, 8080, "172.18.0.2:80".parse().unwrap()),
            vec![
                "fib daddr type local tcp dport 8080 counter dnat ip to 172.18.0.2:80",
                "ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 8080 counter dnat ip to 172.18.0.2:80",
            ],
        ),
        (
            Ruleset::new().dnat(
                Proto::Udp,
                Some("127.0.0.11".parse().unwrap()),
                53,
                "127.0.0.11:53053".parse().unwrap(),
            ),
            vec![
                "ip daddr 127.0.0.11 udp dport 53 counter dnat ip to 127.0.0.11:53053",
                "ip daddr 127.0.0.11 udp dport 53 counter dnat ip to 127.0.0.11:53053",
            ],
        ),
        (
            Ruleset::new().dnat(Proto::Tcp, None, 8443, "[fd00::2]:443".parse().unwrap()),
            vec![
                "fib daddr type local tcp dport 8443 counter dnat ip6 to [fd00::2]:443",
                "ip6 daddr != ::1 fib daddr type local tcp dport 8443 counter dnat ip6 to [fd00::2]:443",
            ],
        ),
        (
            Ruleset::new().full_cone("192.168.1.2".parse().unwrap(), Proto::Udp, 4000..=4010),
            vec!["fib daddr type local udp dport 4000-4010 counter dnat ip to 192.168.1.2"],
        ),
        (
            Ruleset::new().full_cone("fd00:1::2".parse().unwrap(), Proto::Tcp, 80..=80),
            vec!["fib daddr type local tcp dport 80 counter dnat ip6 to fd00:1::2"],
        ),
        (
            Ruleset::new().hairpin_masquerade("192.168.1.0/24", "lan"),
            vec![r#"ct status dnat ip saddr 192.168.1.0/24 oifname "lan" counter masquerade"#],
        ),
    ];
    let mut all: Vec<_> = out
        .into_iter()
        .map(|(rule, text)| (ChainKind::Input, rule, text))
        .collect();
    for (set, texts) in sets {
        assert_eq!(set.rules.len(), texts.len(), "{set}");
        for ((chain, rule), text) in set.rules.into_iter().zip(texts) {
            all.push((chain, rule, text));
        }
    }
    all
}

#[test]
fn every_rule_kind_lists_as_the_nft_text_it_was_built_as() {
    for (_, rule, text) in every_kind() {
        assert_eq!(rule.to_string(), text, "{rule:?}");
        assert_eq!(listed(dumped(&rule)), text, "{rule:?}");
        // And the comment plays no part: without it, the same text.
        let mut bare = dumped(&rule);
        bare.attributes.retain(|a| !matches!(a, RA::UserData(_)));
        assert_eq!(listed(bare), text, "{rule:?} without its comment");
    }
}

/// The expressions of a dumped rule, to be changed by a test.
fn exprs_of(r: &mut RuleMessage) -> &mut Vec<ListAttribute<ExpressionAttribute>> {
    r.attributes
        .iter_mut()
        .find_map(|a| match a {
            RA::Expressions(e) => Some(e),
            _ => None,
        })
        .expect("expressions")
}

fn data_of(l: &mut ListAttribute<ExpressionAttribute>) -> (String, &mut Expressions) {
    let ListAttribute::Element(parts) = l else {
        panic!("{l:?}")
    };
    let name = parts
        .iter()
        .find_map(|p| match p {
            ExpressionAttribute::Name(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let data = parts
        .iter_mut()
        .find_map(|p| match p {
            ExpressionAttribute::Data(d) => Some(d),
            _ => None,
        })
        .expect("data");
    (name, data)
}

/// What the kernel changes in a rule between accepting and dumping it: the counter's
/// values, the register of a range's upper end, the derived NAT range flags, the bitwise
/// operation, the order of attributes.
#[test]
fn rules_read_back_from_the_kernel_decode_with_its_additions() {
    let rs = Ruleset::new().snat(
        "10.0.0.0/24",
        Some("wan"),
        "198.51.100.1".parse().unwrap(),
        Some(1024..=1024),
        NatMode::PortPreserving,
    );
    let mut r = dumped(&rs.rules[0].1);
    for l in exprs_of(&mut r).iter_mut() {
        match data_of(l) {
            (n, Expressions::Other { attributes, .. }) if n == "counter" => {
                attributes.push(DefaultNla::new(1, 4242u64.to_be_bytes().to_vec()));
                attributes.push(DefaultNla::new(2, 42u64.to_be_bytes().to_vec()));
            }
            (n, Expressions::Other { attributes, .. }) if n == "nat" => {
                // NFTA_NAT_REG_ADDR_MAX = MIN, NFTA_NAT_REG_PROTO_MAX = MIN, and
                // NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED in the flags.
                attributes.retain(|a| a.kind() != 7);
                attributes.push(DefaultNla::new(4, 1u32.to_be_bytes().to_vec()));
                attributes.push(DefaultNla::new(6, 2u32.to_be_bytes().to_vec()));
                attributes.push(DefaultNla::new(7, (8u32 | 1 | 2).to_be_bytes().to_vec()));
            }
            (_, Expressions::Meta(attrs)) => attrs.reverse(),
            (_, Expressions::Bitwise(attrs)) => {
                attrs.push(netlink_packet_netfilter::nftables::Bitwise::Op(0))
            }
            _ => {}
        }
    }
    let text = listing(vec![r]);
    assert!(
        text.contains(
            "\t\tip saddr 10.0.0.0/24 oifname \"wan\" counter snat ip to 198.51.100.1:1024 persistent  # handle 7, packets 42 bytes 4242\n"
        ),
        "{text}"
    );
}

#[test]
fn rules_this_crate_does_not_make_are_shown_raw_and_marked() {
    let accept = Rule::new().src("10.0.0.0/8").accept();
    // What `nft add rule inet t c ip saddr 10.0.0.0/8 accept` makes: no counter.
    let mut no_counter = dumped(&accept);
    exprs_of(&mut no_counter).retain_mut(|l| data_of(l).0 != "counter");
    // A mask that is not a prefix.
    let mut odd_mask = dumped(&accept);
    for l in exprs_of(&mut odd_mask).iter_mut() {
        if let (_, Expressions::Bitwise(attrs)) = data_of(l) {
            for a in attrs.iter_mut() {
                if let netlink_packet_netfilter::nftables::Bitwise::Mask(m) = a {
                    *m = netlink_packet_netfilter::nftables::DataAttribute::Value(vec![
                        255, 0, 255, 0,
                    ]);
                }
            }
        }
    }
    // An expression this crate never uses, after the counter.
    let mut limited = dumped(&accept);
    exprs_of(&mut limited).insert(
        0,
        Expressions::Other {
            expression_type: "limit".into(),
            attributes: vec![DefaultNla::new(1, 10u64.to_be_bytes().to_vec())],
        }
        .into(),
    );
    // `ct state invalid`: a state bit no Rule sets.
    let mut invalid = dumped(&Rule::new().ct_new().drop());
    for l in exprs_of(&mut invalid).iter_mut() {
        if let (_, Expressions::Bitwise(attrs)) = data_of(l) {
            for a in attrs.iter_mut() {
                if let netlink_packet_netfilter::nftables::Bitwise::Mask(m) = a {
                    *m = netlink_packet_netfilter::nftables::DataAttribute::Value(
                        1u32.to_ne_bytes().to_vec(),
                    );
                }
            }
        }
    }
    for (what, r) in [
        ("no counter", no_counter),
        ("odd mask", odd_mask),
        ("limit", limited),
        ("ct state invalid", invalid),
    ] {
        let body = listed(r);
        assert!(body.starts_with(render::RAW_MARK), "{what}: {body}");
        assert!(
            body.contains("[ payload load") || body.contains("[ ct"),
            "{what}: {body}"
        );
        // The comment the rule carries is shown, as nft shows it, but not trusted.
        assert!(
            body.ends_with("comment \"ip saddr 10.0.0.0/8 counter accept\"")
                || what == "ct state invalid",
            "{what}: {body}"
        );
    }
}
