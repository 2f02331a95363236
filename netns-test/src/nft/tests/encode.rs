//! Encoding: our messages byte for byte against `nf_tables.h` and `nfnetlink.h`, and the
//! rules refused before anything is sent.

use std::io;

use super::*;
use crate::nft::sock::Failure;

#[test]
fn batch_frame_matches_nfnetlink_h() {
    let batch = encode_batch(&[], 42);
    #[rustfmt::skip]
    let begin: Vec<u8> = [
        &20u32.to_ne_bytes()[..],  // nlmsg_len
        &16u16.to_ne_bytes(),      // NFNL_MSG_BATCH_BEGIN (subsystem 0)
        &1u16.to_ne_bytes(),       // NLM_F_REQUEST
        &42u32.to_ne_bytes(),      // seq
        &0u32.to_ne_bytes(),       // pid
        &[0, 0],                   // nfgen_family AF_UNSPEC, version 0
        &10u16.to_be_bytes(),      // res_id = NFNL_SUBSYS_NFTABLES, big endian
    ]
    .concat();
    let mut end = begin.clone();
    end[4..6].copy_from_slice(&17u16.to_ne_bytes()); // NFNL_MSG_BATCH_END
    end[8..12].copy_from_slice(&43u32.to_ne_bytes());
    assert_eq!(batch, [begin, end].concat());
}

#[test]
fn tcp_dport_80_accept_is_byte_exact() {
    let rule = Rule::new().proto(Proto::Tcp).dport(80).accept();
    let bytes = message_bytes(NfTablesMessageFor::Rule(expr::rule_msg("t", "c", &rule)));

    // nlmsghdr: NFT_MSG_NEWRULE (6) of NFNL_SUBSYS_NFTABLES (10), REQUEST|ACK|CREATE|APPEND.
    assert_eq!(
        u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize,
        bytes.len()
    );
    assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), (10 << 8) | 6);
    assert_eq!(
        u16::from_ne_bytes([bytes[6], bytes[7]]),
        0x1 | 0x4 | 0x400 | 0x800
    );
    assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 8);
    // nfgenmsg: NFPROTO_INET, NFNETLINK_V0, res_id 0.
    assert_eq!(&bytes[16..20], &[1, 0, 0, 0]);

    let exprs = [
        meta(NFT_META_L4PROTO),
        cmp(NFT_CMP_EQ, &[6]),
        payload(2, 2, 2), // transport header + 2: destination port
        cmp(NFT_CMP_EQ, &80u16.to_be_bytes()),
        counter(),
        verdict(1), // NF_ACCEPT
    ]
    .concat();
    let text = "tcp dport 80 counter accept";
    let mut udata = vec![0u8, (text.len() + 1) as u8]; // NFTNL_UDATA_RULE_COMMENT
    udata.extend_from_slice(text.as_bytes());
    udata.push(0);
    let expected = [
        cstr(1, "t"),            // NFTA_RULE_TABLE
        cstr(2, "c"),            // NFTA_RULE_CHAIN
        nla(4 | NESTED, &exprs), // NFTA_RULE_EXPRESSIONS
        nla(7, &udata),          // NFTA_RULE_USERDATA
    ]
    .concat();
    assert_eq!(&bytes[20..], &expected[..]);

    // The first expression, spelled out: `meta load l4proto => reg 1`.
    #[rustfmt::skip]
    let meta_l4proto: Vec<u8> = [
        &36u16.to_ne_bytes()[..], &(1u16 | NESTED).to_ne_bytes(),    // NFTA_LIST_ELEM
        &9u16.to_ne_bytes(), &1u16.to_ne_bytes(), b"meta\0", &[0, 0, 0], // NFTA_EXPR_NAME
        &20u16.to_ne_bytes(), &(2u16 | NESTED).to_ne_bytes(),       // NFTA_EXPR_DATA
        &8u16.to_ne_bytes(), &1u16.to_ne_bytes(), &[0, 0, 0, 1],     // NFTA_META_DREG reg 1
        &8u16.to_ne_bytes(), &2u16.to_ne_bytes(), &[0, 0, 0, 16],    // NFTA_META_KEY l4proto
    ]
    .concat();
    assert_eq!(&exprs[..meta_l4proto.len()], &meta_l4proto[..]);
}

#[test]
fn masquerade_rule_matches_nft() {
    // nft: ip saddr 10.1.1.0/24 oifname != "samplebr" masquerade
    let rs = Ruleset::new().nat_masquerade("10.1.1.0/24", Some("samplebr"));
    let (_, rule) = &rs.rules[0];
    let expected = [
        meta(NFT_META_NFPROTO),
        cmp(NFT_CMP_EQ, &[2]), // NFPROTO_IPV4
        meta(NFT_META_OIFNAME),
        cmp(NFT_CMP_NEQ, &ifname("samplebr")),
        payload(1, 12, 4), // network header + 12: source address
        bitwise(&[255, 255, 255, 0]),
        cmp(NFT_CMP_EQ, &[10, 1, 1, 0]),
        counter(),
        expr("masq", &[]),
    ]
    .concat();
    assert_eq!(encoded_exprs(rule), expected);
    assert_eq!(
        rule.to_string(),
        r#"ip saddr 10.1.1.0/24 oifname != "samplebr" counter masquerade"#
    );
}

#[test]
fn ipv6_source_is_16_bytes_at_offset_8() {
    let rule = Rule::new().src("fd00:1::/64").iif("lan").drop();
    let mut mask = [0u8; 16];
    mask[..8].fill(255);
    let mut net = [0u8; 16];
    net[..4].copy_from_slice(&[0xfd, 0, 0, 1]);
    let expected = [
        meta(NFT_META_NFPROTO),
        cmp(NFT_CMP_EQ, &[10]), // NFPROTO_IPV6
        meta(NFT_META_IIFNAME),
        cmp(NFT_CMP_EQ, &ifname("lan")),
        payload(1, 8, 16),
        bitwise(&mask),
        cmp(NFT_CMP_EQ, &net),
        counter(),
        verdict(0), // NF_DROP
    ]
    .concat();
    assert_eq!(encoded_exprs(&rule), expected);
}

#[test]
fn host_route_needs_no_mask() {
    let rule = Rule::new().dst("10.0.0.5").accept();
    let expected = [
        meta(NFT_META_NFPROTO),
        cmp(NFT_CMP_EQ, &[2]),
        payload(1, 16, 4),
        cmp(NFT_CMP_EQ, &[10, 0, 0, 5]),
        counter(),
        verdict(1),
    ]
    .concat();
    assert_eq!(encoded_exprs(&rule), expected);
    assert_eq!(rule.to_string(), "ip daddr 10.0.0.5 counter accept");
}

#[test]
fn dnat_loads_address_and_port_then_nats() {
    let rs = Ruleset::new().dnat(Proto::Udp, None, 8080, "172.17.0.2:80".parse().unwrap());
    let [(ChainKind::NatPrerouting, pre), (ChainKind::NatOutput, out)] = &rs.rules[..] else {
        panic!("{rs:?}");
    };
    let tail = [
        payload(2, 2, 2),
        cmp(NFT_CMP_EQ, &8080u16.to_be_bytes()),
        counter(),
        immediate(1, &[172, 17, 0, 2]),
        immediate(2, &80u16.to_be_bytes()),
        // NFTA_NAT_TYPE dnat, NFTA_NAT_FAMILY ipv4, REG_ADDR_MIN reg 1, REG_PROTO_MIN reg 2
        expr("nat", &[be32(1, 1), be32(2, 2), be32(3, 1), be32(5, 2)]),
    ]
    .concat();
    let fib_local = [
        // NFTA_FIB_DREG reg 1, NFTA_FIB_RESULT addrtype, NFTA_FIB_FLAGS daddr
        expr("fib", &[be32(1, 1), be32(2, 3), be32(3, 2)]),
        cmp(NFT_CMP_EQ, &2u32.to_ne_bytes()), // RTN_LOCAL, host order
    ]
    .concat();
    let head = [
        meta(NFT_META_NFPROTO),
        cmp(NFT_CMP_EQ, &[2]),
        meta(NFT_META_L4PROTO),
        cmp(NFT_CMP_EQ, &[17]),
    ]
    .concat();
    assert_eq!(encoded_exprs(pre), [&head[..], &fib_local, &tail].concat());
    let not_loopback = [
        payload(1, 16, 4),
        bitwise(&[255, 0, 0, 0]),
        cmp(NFT_CMP_NEQ, &[127, 0, 0, 0]),
    ]
    .concat();
    assert_eq!(
        encoded_exprs(out),
        [&head[..], &not_loopback, &fib_local, &tail].concat()
    );
    assert_eq!(
        out.to_string(),
        "ip daddr != 127.0.0.0/8 fib daddr type local udp dport 8080 counter dnat ip to 172.17.0.2:80"
    );
}

#[test]
fn snat_modes_set_nat_flags() {
    let to = "198.51.100.1".parse().unwrap();
    let nat_of = |rs: &Ruleset| encoded_exprs(&rs.rules[0].1);
    let random = Ruleset::new().snat("10.0.0.0/8", None, to, None, NatMode::Random);
    let tail = [
        counter(),
        immediate(1, &[198, 51, 100, 1]),
        // snat, ipv4, addr reg 1, flags NF_NAT_RANGE_PROTO_RANDOM_FULLY
        expr("nat", &[be32(1, 0), be32(2, 2), be32(3, 1), be32(7, 16)]),
    ]
    .concat();
    assert!(nat_of(&random).ends_with(&tail));

    let ranged = Ruleset::new().snat(
        "10.0.0.0/8",
        Some("eth0"),
        to,
        Some(1024..=2047),
        NatMode::PortPreserving,
    );
    let tail = [
        counter(),
        immediate(1, &[198, 51, 100, 1]),
        immediate(2, &1024u16.to_be_bytes()),
        immediate(3, &2047u16.to_be_bytes()),
        // ... proto min reg 2, proto max reg 3, flags NF_NAT_RANGE_PERSISTENT
        expr(
            "nat",
            &[
                be32(1, 0),
                be32(2, 2),
                be32(3, 1),
                be32(5, 2),
                be32(6, 3),
                be32(7, 8),
            ],
        ),
    ]
    .concat();
    assert!(nat_of(&ranged).ends_with(&tail));
    assert_eq!(
        ranged.rules[0].1.to_string(),
        r#"ip saddr 10.0.0.0/8 oifname "eth0" counter snat ip to 198.51.100.1:1024-2047 persistent"#
    );
}

#[test]
fn ct_state_and_reject() {
    let rule = Rule::new().ct_established().accept();
    let expected = [
        // NFTA_CT_DREG reg 1, NFTA_CT_KEY state
        expr("ct", &[be32(1, 1), be32(2, 0)]),
        bitwise(&(2u32 | 4).to_ne_bytes()), // established | related, host order
        cmp(NFT_CMP_NEQ, &[0; 4]),
        counter(),
        verdict(1),
    ]
    .concat();
    assert_eq!(encoded_exprs(&rule), expected);
    assert_eq!(
        rule.to_string(),
        "ct state established,related counter accept"
    );

    let tcp = Rule::new().proto(Proto::Tcp).reject();
    assert!(encoded_exprs(&tcp).ends_with(&expr("reject", &[be32(1, 1)]))); // TCP_RST
    let udp = Rule::new().proto(Proto::Udp).dport(53).reject();
    // ICMPX_UNREACH with code port-unreachable (u8)
    assert!(encoded_exprs(&udp).ends_with(&expr("reject", &[be32(1, 2), nla(2, &[1])])));
    assert_eq!(
        udp.to_string(),
        "udp dport 53 counter reject with icmpx port-unreachable"
    );
}

#[test]
fn port_ranges_compare_both_ends() {
    let rule = Rule::new().proto(Proto::Tcp).sport_range(1000..=2000);
    let exprs = encoded_exprs(&rule);
    let range = [
        payload(2, 0, 2),
        cmp(5, &1000u16.to_be_bytes()), // NFT_CMP_GTE
        cmp(3, &2000u16.to_be_bytes()), // NFT_CMP_LTE
    ]
    .concat();
    assert!(exprs.windows(range.len()).any(|w| w == range));
    assert_eq!(rule.to_string(), "tcp sport 1000-2000 counter");
}

#[test]
fn apply_batch_replaces_the_table() {
    let rs = Ruleset::new()
        .forward_policy(Policy::Drop)
        .filter(Hook::Forward, Rule::new().ct_established().accept());
    let what: Vec<String> = expr::ruleset_batch(&rs)
        .into_iter()
        .map(|m| m.what)
        .collect();
    assert_eq!(
        what,
        [
            "creating table inet netns_test",
            "deleting table inet netns_test",
            "creating table inet netns_test",
            "adding chain forward (type filter hook forward priority filter) to table inet netns_test",
            "adding rule #1 `ct state established,related counter accept` to chain inet netns_test forward",
        ]
    );
}

#[test]
fn invalid_rules_are_refused_with_their_text() {
    let cases: [(Rule, &str); 5] = [
        (Rule::new().dport(80), "needs a protocol"),
        (
            Rule::new().proto(Proto::Icmp).dport(80),
            "icmp has no ports",
        ),
        (
            Rule::new().src("10.0.0.0/8").dst("::1"),
            "mixes IPv4 and IPv6",
        ),
        (
            Rule::new().iif("a-very-long-interface"),
            "not an interface name",
        ),
        (Rule::new().src("nonsense"), "\"nonsense\" is neither"),
    ];
    for (rule, msg) in cases {
        let rs = Ruleset::new().filter(Hook::Input, rule.clone());
        let err = rs.validate().expect_err(msg).to_string();
        assert!(err.contains(msg), "{err}");
        assert!(err.contains("chain input"), "{err}");
    }
    let err = Ruleset::new()
        .dnat(Proto::Icmp, None, 1, "10.0.0.1:1".parse().unwrap())
        .validate()
        .expect_err("icmp dnat")
        .to_string();
    assert!(err.contains("TCP or UDP"), "{err}");
}

#[test]
fn a_network_that_does_not_parse_is_a_parse_error() {
    use crate::nft::IntoNet;
    let e = "nonsense".into_net().unwrap_err();
    assert!(
        matches!(&e, crate::Error::Parse { what: "network", input, .. } if input == "nonsense"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "\"nonsense\" is neither an address nor a network like \"10.0.0.0/24\""
    );
    assert_eq!("10.0.0.5".into_net().unwrap().to_string(), "10.0.0.5/32");
}

#[test]
fn long_rules_fit_the_userdata_limit() {
    let mut rule = Rule::new();
    for i in 0..40 {
        rule = rule.src(format!("10.{i}.0.0/16"));
    }
    let msg = expr::rule_msg("t", "c", &rule);
    let udata = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            netlink_packet_netfilter::nftables::RuleAttribute::UserData(u) => Some(u.clone()),
            _ => None,
        })
        .unwrap();
    assert!(udata.len() <= 256, "{}", udata.len()); // NFT_USERDATA_MAXLEN
    assert_eq!(udata[1] as usize, udata.len() - 2);
    assert_eq!(*udata.last().unwrap(), 0);
}

#[test]
fn kernel_errors_name_the_message_and_hint() {
    let f = Failure {
        what: "adding rule #1 `ip saddr 10.0.0.0/8 counter masquerade` to chain inet netns_test nat_postrouting".into(),
        source: io::Error::from_raw_os_error(libc::ENOENT),
        more: vec!["adding rule #2 `x` to chain inet netns_test nat_postrouting: No such file".into()],
    };
    let text = sock::apply_error("netns_test", f).to_string();
    assert!(text.starts_with("nf_tables (table inet netns_test): adding rule #1 `ip saddr 10.0.0.0/8 counter masquerade` to chain inet netns_test nat_postrouting: No such file or directory"), "{text}");
    assert!(text.contains("also refused: adding rule #2"), "{text}");
    assert!(text.contains("CONFIG_NFT_MASQ"), "{text}");

    let f = Failure {
        what: "committing the transaction".into(),
        source: io::Error::from_raw_os_error(libc::EPERM),
        more: vec![],
    };
    let text = sock::apply_error("netns_test", f).to_string();
    assert!(text.contains("node.nft().apply(&rules).await"), "{text}");
}

#[test]
fn ruleset_display_is_nft_syntax() {
    let rs = Ruleset::new()
        .nat_masquerade("192.168.1.0/24", Some("lan"))
        .forward_policy(Policy::Drop)
        .filter(Hook::Forward, Rule::new().iif("lan").accept());
    assert_eq!(
        rs.to_string(),
        "table inet netns_test {\n\
         \tchain nat_postrouting {\n\
         \t\ttype nat hook postrouting priority srcnat;\n\
         \t\tip saddr 192.168.1.0/24 oifname != \"lan\" counter masquerade\n\
         \t}\n\
         \tchain forward {\n\
         \t\ttype filter hook forward priority filter; policy drop;\n\
         \t\tiifname \"lan\" counter accept\n\
         \t}\n\
         }"
    );
}

#[test]
fn hairpin_masquerade_matches_ct_status_dnat() {
    // nft: ct status dnat ip saddr 192.168.1.0/24 oifname "lan" masquerade
    let rs = Ruleset::new().hairpin_masquerade("192.168.1.0/24", "lan");
    let [(ChainKind::NatPostrouting, rule)] = &rs.rules[..] else {
        panic!("{rs:?}");
    };
    let expected = [
        meta(NFT_META_NFPROTO),
        cmp(NFT_CMP_EQ, &[2]),
        meta(NFT_META_OIFNAME),
        cmp(NFT_CMP_EQ, &ifname("lan")),
        // NFTA_CT_DREG reg 1, NFTA_CT_KEY status (NFT_CT_STATUS = 2)
        expr("ct", &[be32(1, 1), be32(2, 2)]),
        bitwise(&0x20u32.to_ne_bytes()), // IPS_DST_NAT, host order
        cmp(NFT_CMP_NEQ, &[0; 4]),
        payload(1, 12, 4),
        bitwise(&[255, 255, 255, 0]),
        cmp(NFT_CMP_EQ, &[192, 168, 1, 0]),
        counter(),
        expr("masq", &[]),
    ]
    .concat();
    assert_eq!(encoded_exprs(rule), expected);
    assert_eq!(
        rule.to_string(),
        r#"ct status dnat ip saddr 192.168.1.0/24 oifname "lan" counter masquerade"#
    );
}

#[test]
fn full_cone_dnats_the_address_and_keeps_the_port() {
    // nft: fib daddr type local udp dport 4000-4010 dnat ip to 192.168.1.2
    let host = "192.168.1.2".parse().unwrap();
    let rs = Ruleset::new().full_cone(host, Proto::Udp, 4000..=4010);
    let [(ChainKind::NatPrerouting, rule)] = &rs.rules[..] else {
        panic!("{rs:?}");
    };
    let expected = [
        meta(NFT_META_NFPROTO),
        cmp(NFT_CMP_EQ, &[2]),
        meta(NFT_META_L4PROTO),
        cmp(NFT_CMP_EQ, &[17]),
        expr("fib", &[be32(1, 1), be32(2, 3), be32(3, 2)]),
        cmp(NFT_CMP_EQ, &2u32.to_ne_bytes()),
        payload(2, 2, 2),
        cmp(5, &4000u16.to_be_bytes()), // NFT_CMP_GTE
        cmp(3, &4010u16.to_be_bytes()), // NFT_CMP_LTE
        counter(),
        immediate(1, &[192, 168, 1, 2]),
        // NFTA_NAT_TYPE dnat, NFTA_NAT_FAMILY ipv4, REG_ADDR_MIN reg 1; no port register
        expr("nat", &[be32(1, 1), be32(2, 2), be32(3, 1)]),
    ]
    .concat();
    assert_eq!(encoded_exprs(rule), expected);
    assert_eq!(
        rule.to_string(),
        "fib daddr type local udp dport 4000-4010 counter dnat ip to 192.168.1.2"
    );

    let v6 = Ruleset::new().full_cone("fd00:1::2".parse().unwrap(), Proto::Tcp, 80..=80);
    assert!(encoded_exprs(&v6.rules[0].1).ends_with(
        &[
            immediate(
                1,
                &"fd00:1::2".parse::<std::net::Ipv6Addr>().unwrap().octets()
            ),
            expr("nat", &[be32(1, 1), be32(2, 10), be32(3, 1)]),
        ]
        .concat()
    ));
    let icmp = Ruleset::new().full_cone(host, Proto::Icmp, 1..=1);
    let err = icmp.validate().unwrap_err().to_string();
    assert!(err.contains("TCP or UDP"), "{err}");
}

#[test]
fn publish_also_nats_the_hosts_own_loopback_connections() {
    let rs = Ruleset::new()
        .publish(
            Proto::Tcp,
            8080,
            "172.17.0.2:80".parse().unwrap(),
            "docker0",
        )
        .publish(
            Proto::Tcp,
            8443,
            "172.17.0.2:443".parse().unwrap(),
            "docker0",
        );
    let shown: Vec<(ChainKind, String)> =
        rs.rules.iter().map(|(c, r)| (*c, r.to_string())).collect();
    let dnat = |port: u16, to: &str| {
        format!("fib daddr type local tcp dport {port} counter dnat ip to {to}")
    };
    assert_eq!(
        shown,
        [
            (ChainKind::NatPrerouting, dnat(8080, "172.17.0.2:80")),
            (ChainKind::NatOutput, dnat(8080, "172.17.0.2:80")),
            (
                ChainKind::NatPostrouting,
                r#"ct status dnat ip saddr 127.0.0.0/8 oifname "docker0" counter masquerade"#
                    .to_string()
            ),
            (ChainKind::NatPrerouting, dnat(8443, "172.17.0.2:443")),
            (ChainKind::NatOutput, dnat(8443, "172.17.0.2:443")),
        ]
    );
    // IPv6 has no route_localnet: ::1 stays out, as with dnat.
    let v6 = Ruleset::new().publish(Proto::Tcp, 8080, "[fd00::2]:80".parse().unwrap(), "br");
    let plain = Ruleset::new().dnat(Proto::Tcp, None, 8080, "[fd00::2]:80".parse().unwrap());
    assert_eq!(v6.rules, plain.rules);
}
