//! A [`Nat`] as nf_tables netlink messages: its table `inet netns_nat`, its dynamic maps
//! (sets with per-element timeouts, filled from the packet path by `dynset`), the rules
//! that `lookup` them, and the messages that empty them.
//!
//! The expressions are those `nft` generates for (with `LANS` the LAN interfaces):
//!
//! ```text
//! map out { type inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service; flags dynamic,timeout; }
//! map in  { type inet_proto . inet_service : ipv4_addr . inet_service; flags dynamic,timeout; }
//! set adf { type inet_proto . inet_service . ipv4_addr; flags dynamic,timeout; }
//! chain nat_pre (nat prerouting dstnat):       from the WAN, to a local address:
//!     [ADF] meta l4proto . th dport . ip saddr @adf
//!     dnat ip to meta l4proto . th dport map @in
//! chain nat_post (nat postrouting srcnat):     from a LAN, out of the LANs:
//!     [EIM] snat ip to meta l4proto . ip saddr . th sport map @out
//!     [preserve] meta l4proto . th sport @in masquerade fully-random   (port taken)
//!     masquerade | masquerade fully-random | masquerade to :numgen inc mod N offset F
//! chain record (filter postrouting srcnat + 10), after the translation:
//!     ct direction original ct status snat update @out { meta l4proto . ct original ip saddr
//!         . ct original proto-src timeout T : ip saddr . th sport }
//!     ... update @in { meta l4proto . th sport : ct original ip saddr . ct original proto-src }
//!     ... update @adf { meta l4proto . th sport . ip daddr }
//! ```
//!
//! Keys and data are built in the 32-bit registers 8 to 12 (`NFT_REG32_00`...), one field
//! per register as nft lays out concatenations.

use std::net::IpAddr;
use std::time::Duration;

use netlink_packet_core::{DefaultNla, NLA_F_NESTED, NLM_F_APPEND, NLM_F_CREATE};
use netlink_packet_netfilter::nftables::{
    ChainAttribute, ChainMessage, Cmp, DataAttribute, Expressions, Hook as NlHook, HookNumber,
    InetHookNumber, Meta, MetaKey, NfTablesMessage, Operator, Register, RuleAttribute, RuleMessage,
    SetAttribute, SetFlags, SetMessage, TableAttribute, TableMessage,
};

use super::expr::{self, BatchMsg, NFPROTO_INET};
use super::expr::{
    NFPROTO_IPV4, NFTA_CT_DREG, NFTA_CT_KEY, NFTA_FIB_DREG, NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR,
    NFTA_FIB_RESULT, NFTA_NAT_FAMILY, NFTA_NAT_REG_ADDR_MIN, NFTA_NAT_REG_PROTO_MIN, NFTA_NAT_TYPE,
    NFT_CT_STATE, NFT_CT_STATUS, NFT_FIB_RESULT_ADDRTYPE, NFT_NAT_DNAT, NFT_NAT_SNAT, NF_DROP,
    NF_NAT_RANGE_PROTO_RANDOM_FULLY, PAYLOAD_NETWORK, PAYLOAD_TRANSPORT, RTN_LOCAL,
};
use super::nat::{Filtering, Mapping, Nat, Ports, NAT_TABLE};
use super::{Proto, Rule, Ruleset};

// enum nft_set_flags
const SET_MAP: u32 = 0x8;
const SET_TIMEOUT: u32 = 0x10;
const SET_EVAL: u32 = 0x20;

// nft's data types (datatype.h), concatenated with TYPE_BITS = 6.
const TYPE_IPADDR: u32 = 7;
const TYPE_INET_PROTOCOL: u32 = 12;
const TYPE_INET_SERVICE: u32 = 13;

fn concat(types: &[u32]) -> u32 {
    types.iter().fold(0, |acc, t| (acc << 6) | t)
}

// NFT_MSG_*
const NFT_MSG_DELSETELEM: u8 = 14;
// enum nft_set_elem_list_attributes / nft_set_elem_attributes / nft_data_attributes
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_DATA_VALUE: u16 = 1;

// enum nft_meta_keys
const NFT_META_L4PROTO: u32 = 16;
// enum nft_ct_keys, attributes
const NFTA_CT_DIRECTION: u16 = 3;
const NFT_CT_DIRECTION: u32 = 1;
const NFT_CT_PROTO_SRC: u32 = 11;
const NFT_CT_SRC_IP: u32 = 19;
const IPS_SRC_NAT: u32 = 1 << 4;
// enum nft_lookup_attributes
const NFTA_LOOKUP_SET: u16 = 1;
const NFTA_LOOKUP_SREG: u16 = 2;
const NFTA_LOOKUP_DREG: u16 = 3;
// enum nft_dynset_attributes, ops
const NFTA_DYNSET_SET_NAME: u16 = 1;
const NFTA_DYNSET_OP: u16 = 3;
const NFTA_DYNSET_SREG_KEY: u16 = 4;
const NFTA_DYNSET_SREG_DATA: u16 = 5;
const NFTA_DYNSET_TIMEOUT: u16 = 6;
const NFT_DYNSET_OP_UPDATE: u32 = 1;
// enum nft_ng_attributes
const NFTA_NG_DREG: u16 = 1;
const NFTA_NG_MODULUS: u16 = 2;
const NFTA_NG_TYPE: u16 = 3;
const NFTA_NG_OFFSET: u16 = 4;
const NFT_NG_INCREMENTAL: u32 = 0;
// enum nft_byteorder_attributes
const NFTA_BYTEORDER_SREG: u16 = 1;
const NFTA_BYTEORDER_DREG: u16 = 2;
const NFTA_BYTEORDER_OP: u16 = 3;
const NFTA_BYTEORDER_LEN: u16 = 4;
const NFTA_BYTEORDER_SIZE: u16 = 5;
const NFT_BYTEORDER_HTON: u32 = 1;
// enum nft_masq_attributes, nf_nat.h range flags
const NFTA_MASQ_FLAGS: u16 = 1;
const NFTA_MASQ_REG_PROTO_MIN: u16 = 2;
const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 1 << 1;

/// `NFT_REG32_00`: keys start here.
const R0: u32 = 8;

/// The dynamic maps and sets, by name.
pub(crate) const SET_OUT: &str = "out";
pub(crate) const SET_IN: &str = "in";
pub(crate) const SET_ADF: &str = "adf";

/// The sets `nat` needs: `out` for endpoint-independent mapping (and hairpinning), `in` for
/// any inbound DNAT or to know taken ports, `adf` for address-dependent filtering.
pub(crate) fn sets_of(nat: &Nat) -> Vec<&'static str> {
    let mut v = Vec::new();
    if nat.mapping == Mapping::None {
        return v;
    }
    let eim = nat.mapping == Mapping::EndpointIndependent;
    if eim {
        v.push(SET_OUT);
    }
    if eim || nat.filtering != Filtering::AddressAndPortDependent || nat.hairpin {
        v.push(SET_IN);
    }
    if nat.filtering == Filtering::AddressDependent {
        v.push(SET_ADF);
    }
    v
}

/// The transaction that installs `nat` for a router whose LAN interfaces are `lans`:
/// the table `inet netns_nat` deleted and made again (so its maps start empty), or only
/// deleted for [`Mapping::None`].
pub(crate) fn nat_batch(nat: &Nat, lans: &[String]) -> Vec<BatchMsg> {
    let t = NAT_TABLE;
    let mut out = expr::delete_table_batch(t);
    if nat.mapping == Mapping::None {
        return out;
    }
    out.push(BatchMsg {
        msg: NfTablesMessage::NewTable(TableMessage {
            attributes: vec![TableAttribute::Name(t.to_string())],
        }),
        family: NFPROTO_INET,
        flags: NLM_F_CREATE,
        what: format!("creating table inet {t}"),
    });
    let sets = sets_of(nat);
    let proto_addr_port = concat(&[TYPE_INET_PROTOCOL, TYPE_IPADDR, TYPE_INET_SERVICE]);
    let addr_port = concat(&[TYPE_IPADDR, TYPE_INET_SERVICE]);
    for (i, name) in sets.iter().enumerate() {
        let (key_type, key_len, data) = match *name {
            SET_OUT => (proto_addr_port, 12, Some((addr_port, 8))),
            SET_IN => (
                concat(&[TYPE_INET_PROTOCOL, TYPE_INET_SERVICE]),
                8,
                Some((addr_port, 8)),
            ),
            _ => (
                concat(&[TYPE_INET_PROTOCOL, TYPE_INET_SERVICE, TYPE_IPADDR]),
                12,
                None,
            ),
        };
        let mut attributes = vec![
            SetAttribute::Table(t.to_string()),
            SetAttribute::Name(name.to_string()),
            SetAttribute::Flags(SetFlags::from_bits_retain(
                SET_TIMEOUT | SET_EVAL | if data.is_some() { SET_MAP } else { 0 },
            )),
            SetAttribute::KeyType(key_type),
            SetAttribute::KeyLen(key_len),
            SetAttribute::Id(i as u32 + 1),
        ];
        if let Some((ty, len)) = data {
            attributes.push(SetAttribute::DataType(ty));
            attributes.push(SetAttribute::DataLen(len));
        }
        out.push(BatchMsg {
            msg: NfTablesMessage::NewSet(SetMessage { attributes }),
            family: NFPROTO_INET,
            flags: NLM_F_CREATE,
            what: format!("adding dynamic set {name} to table inet {t}"),
        });
    }
    for (chain, kind, hook, prio, rules) in chains(nat, lans, &sets) {
        if rules.is_empty() {
            continue;
        }
        out.push(BatchMsg {
            msg: NfTablesMessage::NewChain(ChainMessage {
                attributes: vec![
                    ChainAttribute::Table(t.to_string()),
                    ChainAttribute::Name(chain.to_string()),
                    ChainAttribute::Hook(vec![
                        NlHook::Number(HookNumber::Inet(hook)),
                        NlHook::Priority(prio as u32),
                    ]),
                    ChainAttribute::Type(kind.to_string()),
                ],
            }),
            family: NFPROTO_INET,
            flags: NLM_F_CREATE,
            what: format!("adding chain {chain} to table inet {t}"),
        });
        for (i, (text, exprs)) in rules.into_iter().enumerate() {
            out.push(BatchMsg {
                msg: NfTablesMessage::NewRule(RuleMessage {
                    attributes: vec![
                        RuleAttribute::Table(t.to_string()),
                        RuleAttribute::Chain(chain.to_string()),
                        RuleAttribute::Expressions(exprs.into_iter().map(Into::into).collect()),
                        RuleAttribute::UserData(comment(&text)),
                    ],
                }),
                family: NFPROTO_INET,
                flags: NLM_F_CREATE | NLM_F_APPEND,
                what: format!("adding rule #{} `{text}` to chain inet {t} {chain}", i + 1),
            });
        }
    }
    out
}

type Rules = Vec<(String, Vec<Expressions>)>;

/// The chains of the NAT: name, type, hook, priority and rules (text, expressions).
fn chains(
    nat: &Nat,
    lans: &[String],
    sets: &[&str],
) -> Vec<(&'static str, &'static str, InetHookNumber, i32, Rules)> {
    let has = |s: &str| sets.contains(&s);
    let eim = nat.mapping == Mapping::EndpointIndependent;
    let protos = [Proto::Udp, Proto::Tcp];
    let not_lans = |out: bool| -> Vec<Expressions> {
        let mut e = Vec::new();
        for l in lans
            .iter()
            .map(String::as_str)
            .chain(if out { None } else { Some("lo") })
        {
            e.extend(iface(out, l, true));
        }
        e
    };
    let lans_text = |dir: &str| {
        let mut s = String::new();
        for l in lans {
            s.push_str(&format!("{dir} != \"{l}\" "));
        }
        s
    };

    // Inbound DNAT through `in` (EIF, ADF) and hairpinning.
    let mut pre: Rules = Vec::new();
    if nat.filtering != Filtering::AddressAndPortDependent {
        for p in protos {
            let mut e = v4();
            e.extend(not_lans(false));
            e.extend(l4(p));
            e.extend(fib_local());
            let mut text = format!(
                "{}iifname != \"lo\" meta l4proto {p} fib daddr type local ",
                lans_text("iifname")
            );
            if nat.filtering == Filtering::AddressDependent {
                e.push(load_l4proto(R0));
                e.push(load_payload(R0 + 1, PAYLOAD_TRANSPORT, 2, 2));
                e.push(load_payload(R0 + 2, PAYLOAD_NETWORK, 12, 4));
                e.push(lookup(SET_ADF, R0, None));
                text.push_str("meta l4proto . th dport . ip saddr @adf ");
            }
            e.extend(dnat_in());
            text.push_str("dnat ip to meta l4proto . th dport map @in");
            pre.push((text, e));
        }
    }
    if nat.hairpin && has(SET_IN) {
        for l in lans {
            for p in protos {
                let mut e = v4();
                e.extend(iface(false, l, false));
                e.extend(l4(p));
                e.extend(fib_local());
                e.extend(dnat_in());
                pre.push((
                    format!("iifname \"{l}\" meta l4proto {p} fib daddr type local dnat ip to meta l4proto . th dport map @in"),
                    e,
                ));
            }
        }
    }

    // Source NAT.
    let mut post: Rules = Vec::new();
    if nat.hairpin {
        for l in lans {
            if has(SET_OUT) {
                for p in protos {
                    let mut e = v4();
                    e.extend(ct_status_has(expr::IPS_DST_NAT));
                    e.extend(iface(false, l, false));
                    e.extend(iface(true, l, false));
                    e.extend(l4(p));
                    e.extend(snat_out());
                    post.push((format!("ct status dnat iifname \"{l}\" oifname \"{l}\" meta l4proto {p} snat ip to meta l4proto . ip saddr . th sport map @out"), e));
                }
            }
            let mut e = v4();
            e.extend(ct_status_has(expr::IPS_DST_NAT));
            e.extend(iface(false, l, false));
            e.extend(iface(true, l, false));
            e.push(masq(0, None));
            post.push((
                format!("ct status dnat iifname \"{l}\" oifname \"{l}\" masquerade"),
                e,
            ));
        }
    }
    for l in lans {
        let base = |p: Option<Proto>| {
            let mut e = v4();
            e.extend(iface(false, l, false));
            e.extend(not_lans(true));
            if let Some(p) = p {
                e.extend(l4(p));
            }
            e
        };
        let base_text = |p: Option<Proto>| {
            let mut s = format!("iifname \"{l}\" {}", lans_text("oifname"));
            if let Some(p) = p {
                s.push_str(&format!("meta l4proto {p} "));
            }
            s
        };
        for p in protos {
            if eim {
                let mut e = base(Some(p));
                e.extend(snat_out());
                post.push((
                    base_text(Some(p)) + "snat ip to meta l4proto . ip saddr . th sport map @out",
                    e,
                ));
            }
            match nat.ports {
                Ports::Preserve => {
                    if has(SET_IN) {
                        let mut e = base(Some(p));
                        e.push(load_l4proto(R0));
                        e.push(load_payload(R0 + 1, PAYLOAD_TRANSPORT, 0, 2));
                        e.push(lookup(SET_IN, R0, None));
                        e.push(masq(NF_NAT_RANGE_PROTO_RANDOM_FULLY, None));
                        post.push((
                            base_text(Some(p))
                                + "meta l4proto . th sport @in masquerade fully-random",
                            e,
                        ));
                    }
                    let mut e = base(Some(p));
                    e.push(masq(0, None));
                    post.push((base_text(Some(p)) + "masquerade", e));
                }
                Ports::Random => {
                    let mut e = base(Some(p));
                    e.push(masq(NF_NAT_RANGE_PROTO_RANDOM_FULLY, None));
                    post.push((base_text(Some(p)) + "masquerade fully-random", e));
                }
                Ports::Sequential { first, count } => {
                    let mut e = base(Some(p));
                    e.push(other(
                        "numgen",
                        vec![
                            u32_nla(NFTA_NG_DREG, R0 + 3),
                            u32_nla(NFTA_NG_MODULUS, u32::from(count)),
                            u32_nla(NFTA_NG_TYPE, NFT_NG_INCREMENTAL),
                            u32_nla(NFTA_NG_OFFSET, u32::from(first)),
                        ],
                    ));
                    e.push(other(
                        "byteorder",
                        vec![
                            u32_nla(NFTA_BYTEORDER_SREG, R0 + 3),
                            u32_nla(NFTA_BYTEORDER_DREG, R0 + 3),
                            u32_nla(NFTA_BYTEORDER_OP, NFT_BYTEORDER_HTON),
                            u32_nla(NFTA_BYTEORDER_LEN, 2),
                            u32_nla(NFTA_BYTEORDER_SIZE, 2),
                        ],
                    ));
                    e.push(masq(0, Some(R0 + 3)));
                    post.push((
                        base_text(Some(p))
                            + &format!("masquerade to :numgen inc mod {count} offset {first}"),
                        e,
                    ));
                }
            }
        }
        let mut e = base(None);
        e.push(masq(0, None));
        post.push((base_text(None) + "masquerade", e));
    }

    // Recording the mappings, after the translation.
    let mut record: Rules = Vec::new();
    for p in protos {
        let timeout = match p {
            Proto::Tcp => nat.timeouts.tcp_established,
            _ => nat.timeouts.udp_stream,
        };
        let base = || {
            let mut e = v4();
            e.extend(not_lans(true));
            e.extend(l4(p));
            e.push(ct_load(1, NFT_CT_DIRECTION, None));
            e.push(cmp(1, Operator::Equal, vec![0]));
            e.extend(ct_status_has(IPS_SRC_NAT));
            e
        };
        let text = format!(
            "{}meta l4proto {p} ct direction original ct status snat update ",
            lans_text("oifname")
        );
        let secs = timeout.as_secs();
        if has(SET_OUT) {
            let mut e = base();
            e.push(load_l4proto(R0));
            e.push(ct_load(R0 + 1, NFT_CT_SRC_IP, Some(0)));
            e.push(ct_load(R0 + 2, NFT_CT_PROTO_SRC, Some(0)));
            e.push(load_payload(R0 + 3, PAYLOAD_NETWORK, 12, 4));
            e.push(load_payload(R0 + 4, PAYLOAD_TRANSPORT, 0, 2));
            e.push(dynset(SET_OUT, R0, Some(R0 + 3), timeout));
            record.push((format!("{text}@out {{ meta l4proto . ct original ip saddr . ct original proto-src timeout {secs}s : ip saddr . th sport }}"), e));
        }
        if has(SET_IN) {
            let mut e = base();
            e.push(load_l4proto(R0));
            e.push(load_payload(R0 + 1, PAYLOAD_TRANSPORT, 0, 2));
            e.push(ct_load(R0 + 2, NFT_CT_SRC_IP, Some(0)));
            e.push(ct_load(R0 + 3, NFT_CT_PROTO_SRC, Some(0)));
            e.push(dynset(SET_IN, R0, Some(R0 + 2), timeout));
            record.push((format!("{text}@in {{ meta l4proto . th sport timeout {secs}s : ct original ip saddr . ct original proto-src }}"), e));
        }
        if has(SET_ADF) {
            let mut e = base();
            e.push(load_l4proto(R0));
            e.push(load_payload(R0 + 1, PAYLOAD_TRANSPORT, 0, 2));
            e.push(load_payload(R0 + 2, PAYLOAD_NETWORK, 16, 4));
            e.push(dynset(SET_ADF, R0, None, timeout));
            record.push((
                format!("{text}@adf {{ meta l4proto . th sport . ip daddr timeout {secs}s }}"),
                e,
            ));
        }
    }

    // Input: unsolicited TCP and UDP for the router itself (the WAN guard).
    let lan_refs: Vec<&str> = lans.iter().map(String::as_str).collect();
    let input: Rules = rules_of(&Ruleset::named(NAT_TABLE).wan_guard(&lan_refs));

    // Forward: outbound allow-list, then nothing new from the WAN that no DNAT let in.
    let mut forward: Rules = Vec::new();
    if let Some(allowed) = &nat.outbound {
        for l in lans {
            let out = |r: Rule| lan_refs.iter().fold(r, |r, x| r.not_oif(x));
            let mut rs = Ruleset::named(NAT_TABLE);
            for (p, port) in allowed {
                rs = rs.filter(
                    super::Hook::Forward,
                    out(Rule::new().iif(l))
                        .ct_new()
                        .proto(*p)
                        .dport(*port)
                        .accept(),
                );
            }
            rs = rs.filter(
                super::Hook::Forward,
                out(Rule::new().iif(l)).ct_new().drop(),
            );
            forward.extend(rules_of(&rs));
        }
    }
    let mut e = not_lans(false);
    e.push(ct_load(1, NFT_CT_STATE, None));
    e.push(bitwise1(expr::CT_NEW));
    e.push(cmp(1, Operator::NotEqual, vec![0; 4]));
    e.push(ct_load(1, NFT_CT_STATUS, None));
    e.push(bitwise1(expr::IPS_DST_NAT));
    e.push(cmp(1, Operator::Equal, vec![0; 4]));
    e.push(other("counter", vec![]));
    e.push(verdict_drop());
    forward.push((
        format!(
            "{}iifname != \"lo\" ct state new ct status != dnat counter drop",
            lans_text("iifname")
        ),
        e,
    ));

    vec![
        ("nat_pre", "nat", InetHookNumber::PreRouting, -100, pre),
        ("nat_post", "nat", InetHookNumber::PostRouting, 100, post),
        ("record", "filter", InetHookNumber::PostRouting, 110, record),
        ("input", "filter", InetHookNumber::LocalIn, 0, input),
        ("forward", "filter", InetHookNumber::Forward, 0, forward),
    ]
}

/// The rules of a ruleset, as text and expressions.
fn rules_of(rs: &Ruleset) -> Rules {
    rs.rules
        .iter()
        .map(|(_, r)| (r.to_string(), expr::rule_exprs(r)))
        .collect()
}

/// The batches that empty the NAT's sets: every element of each of `sets`.
pub(crate) fn flush_sets_batch(sets: &[&str]) -> Vec<BatchMsg> {
    sets.iter()
        .map(|s| {
            delsetelem(
                s,
                None,
                format!("emptying set {s} of table inet {NAT_TABLE}"),
            )
        })
        .collect()
}

/// Deleting one element of a set, by key.
pub(crate) fn delete_element(set: &str, key: Vec<u8>) -> BatchMsg {
    let what = format!("deleting an element of set {set} of table inet {NAT_TABLE}");
    delsetelem(set, Some(key), what)
}

/// The key of `out` for an internal endpoint.
pub(crate) fn key_out(proto: Proto, ip: IpAddr, port: u16) -> Vec<u8> {
    let mut k = reg_bytes(&[proto.number()]);
    k.extend(reg_bytes(&ip_octets(ip)));
    k.extend(reg_bytes(&port.to_be_bytes()));
    k
}

/// The key of `in` for an external port.
pub(crate) fn key_in(proto: Proto, port: u16) -> Vec<u8> {
    let mut k = reg_bytes(&[proto.number()]);
    k.extend(reg_bytes(&port.to_be_bytes()));
    k
}

/// The key of `adf` for an external port and a remote address.
pub(crate) fn key_adf(proto: Proto, port: u16, remote: IpAddr) -> Vec<u8> {
    let mut k = key_in(proto, port);
    k.extend(reg_bytes(&ip_octets(remote)));
    k
}

fn ip_octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// A field as it sits in 32-bit registers: padded with zeros to a multiple of 4.
fn reg_bytes(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    v.resize(b.len().div_ceil(4) * 4, 0);
    v
}

fn delsetelem(set: &str, key: Option<Vec<u8>>, what: String) -> BatchMsg {
    let mut attributes = vec![
        str_nla(NFTA_SET_ELEM_LIST_TABLE, NAT_TABLE),
        str_nla(NFTA_SET_ELEM_LIST_SET, set),
    ];
    if let Some(key) = key {
        let value = nla_bytes(NFTA_DATA_VALUE, &key);
        let elem_key = nla_bytes(NFTA_SET_ELEM_KEY | NLA_F_NESTED, &value);
        let elem = nla_bytes(NFTA_LIST_ELEM | NLA_F_NESTED, &elem_key);
        attributes.push(DefaultNla::new(
            NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED,
            elem,
        ));
    }
    BatchMsg {
        msg: NfTablesMessage::Other {
            message_type: NFT_MSG_DELSETELEM,
            attributes,
        },
        family: NFPROTO_INET,
        flags: 0,
        what,
    }
}

/// One netlink attribute, encoded: length, type, value, padding.
fn nla_bytes(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut v = Vec::with_capacity(len.div_ceil(4) * 4);
    v.extend_from_slice(&(len as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(value);
    v.resize(len.div_ceil(4) * 4, 0);
    v
}

fn str_nla(kind: u16, s: &str) -> DefaultNla {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    DefaultNla::new(kind, v)
}

fn u32_nla(kind: u16, value: u32) -> DefaultNla {
    DefaultNla::new(kind, value.to_be_bytes().to_vec())
}

fn u64_nla(kind: u16, value: u64) -> DefaultNla {
    DefaultNla::new(kind, value.to_be_bytes().to_vec())
}

fn other(name: &str, attributes: Vec<DefaultNla>) -> Expressions {
    Expressions::Other {
        expression_type: name.to_string(),
        attributes,
    }
}

fn reg(n: u32) -> Register {
    match n {
        1 => Register::Reg1,
        n => Register::Other(n),
    }
}

fn cmp(r: u32, op: Operator, data: Vec<u8>) -> Expressions {
    Expressions::Cmp(vec![
        Cmp::SourceRegister(reg(r)),
        Cmp::Op(op),
        Cmp::Data(DataAttribute::Value(data)),
    ])
}

/// `meta nfproto ipv4`
fn v4() -> Vec<Expressions> {
    vec![
        Expressions::Meta(vec![
            Meta::DestinationRegister(Register::Reg1),
            Meta::Key(MetaKey::Nfproto),
        ]),
        cmp(1, Operator::Equal, vec![NFPROTO_IPV4]),
    ]
}

/// `meta l4proto P`
fn l4(p: Proto) -> Vec<Expressions> {
    vec![load_l4proto(1), cmp(1, Operator::Equal, vec![p.number()])]
}

/// `iifname|oifname [!=] NAME`
fn iface(out: bool, name: &str, neg: bool) -> Vec<Expressions> {
    let mut data = name.as_bytes().to_vec();
    data.resize(16, 0);
    vec![
        Expressions::Meta(vec![
            Meta::DestinationRegister(Register::Reg1),
            Meta::Key(if out {
                MetaKey::Oifname
            } else {
                MetaKey::Iifname
            }),
        ]),
        cmp(
            1,
            if neg {
                Operator::NotEqual
            } else {
                Operator::Equal
            },
            data,
        ),
    ]
}

/// `fib daddr type local`
fn fib_local() -> Vec<Expressions> {
    vec![
        other(
            "fib",
            vec![
                u32_nla(NFTA_FIB_DREG, 1),
                u32_nla(NFTA_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE),
                u32_nla(NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR),
            ],
        ),
        cmp(1, Operator::Equal, RTN_LOCAL.to_ne_bytes().to_vec()),
    ]
}

fn load_l4proto(dreg: u32) -> Expressions {
    other("meta", vec![u32_nla(1, dreg), u32_nla(2, NFT_META_L4PROTO)])
}

fn load_payload(dreg: u32, base: u32, offset: u32, len: u32) -> Expressions {
    other(
        "payload",
        vec![
            u32_nla(1, dreg),
            u32_nla(2, base),
            u32_nla(3, offset),
            u32_nla(4, len),
        ],
    )
}

fn ct_load(dreg: u32, key: u32, dir: Option<u8>) -> Expressions {
    let mut a = vec![u32_nla(NFTA_CT_DREG, dreg), u32_nla(NFTA_CT_KEY, key)];
    if let Some(d) = dir {
        a.push(DefaultNla::new(NFTA_CT_DIRECTION, vec![d]));
    }
    other("ct", a)
}

/// `reg 1 = reg 1 & MASK` (4 bytes)
fn bitwise1(mask: u32) -> Expressions {
    Expressions::Bitwise(vec![
        netlink_packet_netfilter::nftables::Bitwise::SourceRegister(Register::Reg1),
        netlink_packet_netfilter::nftables::Bitwise::DestinationRegister(Register::Reg1),
        netlink_packet_netfilter::nftables::Bitwise::Length(4),
        netlink_packet_netfilter::nftables::Bitwise::Mask(DataAttribute::Value(
            mask.to_ne_bytes().to_vec(),
        )),
        netlink_packet_netfilter::nftables::Bitwise::Xor(DataAttribute::Value(vec![0; 4])),
    ])
}

/// `ct status & MASK != 0`
fn ct_status_has(mask: u32) -> Vec<Expressions> {
    vec![
        ct_load(1, NFT_CT_STATUS, None),
        bitwise1(mask),
        cmp(1, Operator::NotEqual, vec![0; 4]),
    ]
}

fn lookup(set: &str, sreg: u32, dreg: Option<u32>) -> Expressions {
    let mut a = vec![
        str_nla(NFTA_LOOKUP_SET, set),
        u32_nla(NFTA_LOOKUP_SREG, sreg),
    ];
    if let Some(d) = dreg {
        a.push(u32_nla(NFTA_LOOKUP_DREG, d));
    }
    other("lookup", a)
}

fn dynset(set: &str, sreg_key: u32, sreg_data: Option<u32>, timeout: Duration) -> Expressions {
    let mut a = vec![
        str_nla(NFTA_DYNSET_SET_NAME, set),
        u32_nla(NFTA_DYNSET_OP, NFT_DYNSET_OP_UPDATE),
        u32_nla(NFTA_DYNSET_SREG_KEY, sreg_key),
    ];
    if let Some(d) = sreg_data {
        a.push(u32_nla(NFTA_DYNSET_SREG_DATA, d));
    }
    a.push(u64_nla(NFTA_DYNSET_TIMEOUT, timeout.as_millis() as u64));
    other("dynset", a)
}

fn masq(flags: u32, proto_reg: Option<u32>) -> Expressions {
    let mut a = Vec::new();
    let flags = if proto_reg.is_some() {
        flags | NF_NAT_RANGE_PROTO_SPECIFIED
    } else {
        flags
    };
    if flags != 0 {
        a.push(u32_nla(NFTA_MASQ_FLAGS, flags));
    }
    if let Some(r) = proto_reg {
        a.push(u32_nla(NFTA_MASQ_REG_PROTO_MIN, r));
    }
    other("masq", a)
}

/// `... th dport` looked up in `in`, then `dnat ip to` the internal endpoint found.
fn dnat_in() -> Vec<Expressions> {
    vec![
        load_l4proto(R0),
        load_payload(R0 + 1, PAYLOAD_TRANSPORT, 2, 2),
        lookup(SET_IN, R0, Some(R0 + 2)),
        other("counter", vec![]),
        nat_regs(NFT_NAT_DNAT, R0 + 2),
    ]
}

/// `... ip saddr . th sport` looked up in `out`, then `snat ip to` the external endpoint.
fn snat_out() -> Vec<Expressions> {
    vec![
        load_l4proto(R0),
        load_payload(R0 + 1, PAYLOAD_NETWORK, 12, 4),
        load_payload(R0 + 2, PAYLOAD_TRANSPORT, 0, 2),
        lookup(SET_OUT, R0, Some(R0 + 3)),
        other("counter", vec![]),
        nat_regs(NFT_NAT_SNAT, R0 + 3),
    ]
}

/// `snat|dnat ip to` the address in `reg` and the port in the next register.
fn nat_regs(kind: u32, reg: u32) -> Expressions {
    other(
        "nat",
        vec![
            u32_nla(NFTA_NAT_TYPE, kind),
            u32_nla(NFTA_NAT_FAMILY, u32::from(NFPROTO_IPV4)),
            u32_nla(NFTA_NAT_REG_ADDR_MIN, reg),
            u32_nla(NFTA_NAT_REG_PROTO_MIN, reg + 1),
        ],
    )
}

fn verdict_drop() -> Expressions {
    use netlink_packet_netfilter::nftables::{Immediate, Verdict, VerdictAttribute};
    Expressions::Immediate(vec![
        Immediate::DestinationRegister(Register::Verdict),
        Immediate::Data(DataAttribute::Verdict(vec![VerdictAttribute::Code(
            Verdict::Other(NF_DROP),
        )])),
    ])
}

/// The rule's text as a libnftnl comment, cut to fit.
fn comment(text: &str) -> Vec<u8> {
    let max = 256 - 3;
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text.as_bytes()[..end];
    let mut out = vec![expr::UDATA_RULE_COMMENT, (text.len() + 1) as u8];
    out.extend_from_slice(text);
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_laid_out_as_registers() {
        let ip: IpAddr = "192.168.1.2".parse().unwrap();
        assert_eq!(
            key_out(Proto::Udp, ip, 4000),
            vec![17, 0, 0, 0, 192, 168, 1, 2, 0x0f, 0xa0, 0, 0]
        );
        assert_eq!(key_in(Proto::Tcp, 443), vec![6, 0, 0, 0, 1, 0xbb, 0, 0]);
        assert_eq!(key_adf(Proto::Udp, 1, ip).len(), 12);
    }

    #[test]
    fn each_tier_gets_the_sets_it_needs() {
        assert_eq!(sets_of(&Nat::none()), Vec::<&str>::new());
        assert_eq!(sets_of(&Nat::full_cone()), vec![SET_OUT, SET_IN]);
        assert_eq!(
            sets_of(&Nat::address_restricted()),
            vec![SET_OUT, SET_IN, SET_ADF]
        );
        assert_eq!(sets_of(&Nat::symmetric()), Vec::<&str>::new());
        // No NAT: the table is only deleted.
        let batch = nat_batch(&Nat::none(), &["lan".into()]);
        assert!(batch.iter().all(|m| !m.what.contains("adding")));
    }

    #[test]
    fn invalid_nats_are_refused() {
        let mut nat = Nat::symmetric();
        nat.ports = Ports::Sequential {
            first: 65000,
            count: 1000,
        };
        assert!(nat.validate().unwrap_err().contains("do not fit"));
        let mut nat = Nat::home();
        nat.timeouts.udp = Duration::ZERO;
        assert!(nat.validate().unwrap_err().contains("udp timeout"));
        assert!(Nat::hotel().validate().is_ok());
    }
}
