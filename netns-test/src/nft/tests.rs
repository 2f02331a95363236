//! Encoding tests: the bytes of our messages against what `nf_tables.h` and `nfnetlink.h`
//! define, written out independently of netlink-packet-netfilter.

use std::io;

use super::expr::{self, BatchMsg, NFPROTO_INET};
use super::sock::{encode_batch, Failure};
use super::*;

// A tiny, independent netlink attribute writer.
const NESTED: u16 = 0x8000;

fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut v = Vec::new();
    v.extend_from_slice(&(len as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(value);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

fn nest(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
    nla(kind | NESTED, &parts.concat())
}

fn be32(kind: u16, v: u32) -> Vec<u8> {
    nla(kind, &v.to_be_bytes())
}

fn cstr(kind: u16, s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    nla(kind, &b)
}

// nf_tables.h
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
const NFT_META_NFPROTO: u32 = 15;
const NFT_META_L4PROTO: u32 = 16;

/// One element of `NFTA_RULE_EXPRESSIONS`.
fn expr(name: &str, data: &[Vec<u8>]) -> Vec<u8> {
    nest(
        NFTA_LIST_ELEM,
        &[cstr(NFTA_EXPR_NAME, name), nest(NFTA_EXPR_DATA, data)],
    )
}

/// `meta load KEY => reg 1`: NFTA_META_DREG = 1, NFTA_META_KEY = 2.
fn meta(key: u32) -> Vec<u8> {
    expr("meta", &[be32(1, NFT_REG_1), be32(2, key)])
}

/// `cmp OP reg 1 DATA`: NFTA_CMP_SREG = 1, NFTA_CMP_OP = 2, NFTA_CMP_DATA = 3.
fn cmp(op: u32, data: &[u8]) -> Vec<u8> {
    expr(
        "cmp",
        &[
            be32(1, NFT_REG_1),
            be32(2, op),
            nest(3, &[nla(NFTA_DATA_VALUE, data)]),
        ],
    )
}

/// `payload load LEN @ BASE + OFF => reg 1`: DREG 1, BASE 2, OFFSET 3, LEN 4.
fn payload(base: u32, off: u32, len: u32) -> Vec<u8> {
    expr(
        "payload",
        &[
            be32(1, NFT_REG_1),
            be32(2, base),
            be32(3, off),
            be32(4, len),
        ],
    )
}

/// `bitwise reg 1 = (reg 1 & MASK) ^ 0`: SREG 1, DREG 2, LEN 3, MASK 4, XOR 5.
fn bitwise(mask: &[u8]) -> Vec<u8> {
    expr(
        "bitwise",
        &[
            be32(1, NFT_REG_1),
            be32(2, NFT_REG_1),
            be32(3, mask.len() as u32),
            nest(4, &[nla(NFTA_DATA_VALUE, mask)]),
            nest(5, &[nla(NFTA_DATA_VALUE, &vec![0; mask.len()])]),
        ],
    )
}

/// `immediate reg N DATA`: NFTA_IMMEDIATE_DREG = 1, NFTA_IMMEDIATE_DATA = 2.
fn immediate(reg: u32, data: &[u8]) -> Vec<u8> {
    expr(
        "immediate",
        &[be32(1, reg), nest(2, &[nla(NFTA_DATA_VALUE, data)])],
    )
}

fn verdict(code: u32) -> Vec<u8> {
    expr(
        "immediate",
        &[
            be32(1, NFT_REG_VERDICT),
            nest(
                2,
                &[nest(NFTA_DATA_VERDICT, &[be32(NFTA_VERDICT_CODE, code)])],
            ),
        ],
    )
}

fn counter() -> Vec<u8> {
    expr("counter", &[])
}

fn ifname(name: &str) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..name.len()].copy_from_slice(name.as_bytes());
    b
}

/// The NFTA_RULE_EXPRESSIONS payload our encoder produces for `rule`, as bytes.
fn encoded_exprs(rule: &Rule) -> Vec<u8> {
    let msg = expr::rule_msg("t", "c", rule);
    let bytes = message_bytes(NfTablesMessageFor::Rule(msg));
    // nlmsghdr (16) + nfgenmsg (4), then NFTA_RULE_TABLE "t", NFTA_RULE_CHAIN "c".
    let attrs = &bytes[20..];
    let skip = cstr(1, "t").len() + cstr(2, "c").len();
    let rest = &attrs[skip..];
    let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
    let kind = u16::from_ne_bytes([rest[2], rest[3]]);
    assert_eq!(kind, 4 | NESTED, "NFTA_RULE_EXPRESSIONS, nested");
    rest[4..len].to_vec()
}

enum NfTablesMessageFor {
    Rule(netlink_packet_netfilter::nftables::RuleMessage),
}

/// The bytes of one message as sent inside a batch.
fn message_bytes(m: NfTablesMessageFor) -> Vec<u8> {
    let NfTablesMessageFor::Rule(r) = m;
    let batch = encode_batch(
        &[BatchMsg {
            msg: netlink_packet_netfilter::nftables::NfTablesMessage::NewRule(r),
            family: NFPROTO_INET,
            flags: 0x400 | 0x800,
            what: String::new(),
        }],
        7,
    );
    let begin = 20;
    let len = u32::from_ne_bytes(batch[begin..begin + 4].try_into().unwrap()) as usize;
    batch[begin..begin + len].to_vec()
}

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
    assert!(text.contains("node.nft().apply(&rules)"), "{text}");
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

/// The kernel refuses one message of a batch: the error names that message, and nothing of
/// the batch is applied. Runs in a sandbox (the kernel's answer is the point).
#[test]
fn kernel_refusal_names_the_message_and_applies_nothing() {
    crate::__private::run_sync(
        crate::__private::TestSpec {
            path: concat!(
                module_path!(),
                "::",
                "kernel_refusal_names_the_message_and_applies_nothing"
            ),
            timeout_ms: Some(20_000),
            keep_artifacts: false,
            should_panic: crate::__private::ShouldPanic::No,
        },
        crate::Topology::new,
        |net| {
            net.host().exec(|| {
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
                let listing = super::list().unwrap();
                assert!(!listing.contains("table inet netns_test {"), "{listing}");
                assert!(listing.contains("# no nf_tables tables"), "{listing}");
                // The same socket still works for a good batch.
                s.batch(&expr::ruleset_batch(&rs)).unwrap();
                let listing = super::list().unwrap();
                assert!(
                    listing.contains("counter masquerade  # handle"),
                    "{listing}"
                );
                assert!(listing.contains("chain input"), "{listing}");
            })
        },
    )
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

// ---- Listing: dumped rules decoded back into nft syntax ----

use netlink_packet_core::{DefaultNla, NetlinkMessage, NetlinkPayload, Nla};
use netlink_packet_netfilter::nftables::{
    ChainAttribute as CA, ChainMessage, ExpressionAttribute, Expressions, ListAttribute,
    NfTablesMessage as NM, RuleAttribute as RA, RuleMessage, TableAttribute as TA, TableMessage,
};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner};

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
fn every_kind() -> Vec<(ChainKind, Rule, &'static str)> {
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

/// The kernel's own dump of every rule kind decodes to the text the rule was built as,
/// whatever the table is called. Runs in a sandbox (the kernel's answer is the point).
#[test]
fn list_shows_every_rule_kind_read_back_from_the_kernel_in_nft_syntax() {
    crate::__private::run_sync(
        crate::__private::TestSpec {
            path: concat!(
                module_path!(),
                "::",
                "list_shows_every_rule_kind_read_back_from_the_kernel_in_nft_syntax"
            ),
            timeout_ms: Some(20_000),
            keep_artifacts: false,
            should_panic: crate::__private::ShouldPanic::No,
        },
        crate::Topology::new,
        |net| {
            let kinds = every_kind();
            let rs = kinds
                .iter()
                .fold(Ruleset::named("any_name"), |rs, (chain, rule, _)| {
                    rs.push(*chain, rule.clone())
                });
            net.host().exec(|| super::apply(&rs)).expect("applied");
            let listing = net.host().exec(super::list).expect("listed");
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
        },
    )
}

/// A NAT topology's own rules (masquerade, a published port, isolation between the host's
/// bridges), as `list` shows them in the host: nft syntax, nothing raw.
#[test]
fn a_nat_topology_lists_its_rules_in_nft_syntax() {
    crate::__private::run_sync(
        crate::__private::TestSpec {
            path: concat!(
                module_path!(),
                "::",
                "a_nat_topology_lists_its_rules_in_nft_syntax"
            ),
            timeout_ms: Some(20_000),
            keep_artifacts: false,
            should_panic: crate::__private::ShouldPanic::No,
        },
        || {
            crate::Topology::new()
                .bridge_with("docker0", "172.18.0.0/16", |b| b.masquerade())
                .bridge("backnet", "172.19.0.0/16")
                .node("web", |n| n.on("docker0").publish(8080, 80))
                .node("db", |n| n.on("backnet"))
        },
        |net| {
            let listing = net.host().exec(super::list).expect("listed");
            assert!(!listing.contains(render::RAW_MARK), "{listing}");
            assert!(!listing.contains("[ "), "{listing}");
            for line in [
                "type nat hook postrouting priority srcnat; policy accept;",
                r#"ip saddr 172.18.0.0/16 oifname != "docker0" counter masquerade  # handle "#,
                "fib daddr type local tcp dport 8080 counter dnat ip to 172.18.0.2:80  # handle ",
                "ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 8080 counter dnat ip to 172.18.0.2:80  # handle ",
                r#"iifname "docker0" oifname "backnet" counter drop  # handle "#,
                r#"iifname "backnet" oifname "docker0" counter drop  # handle "#,
            ] {
                assert!(listing.contains(line), "no `{line}` in:\n{listing}");
            }
            // The containers have no rules, hence no table at all.
            let web = net.node("web").exec(super::list).expect("listed");
            assert_eq!(web, "# no nf_tables tables in this network namespace\n");
        },
    )
}
