//! Lowers a [`Ruleset`] to nf_tables netlink messages (one batch).
//!
//! The expressions are those `nft` itself generates (see `nft --debug=netlink`); their
//! attributes are defined in the kernel's `include/uapi/linux/netfilter/nf_tables.h`.
//! Expressions netlink-packet-netfilter knows (meta, payload, cmp, bitwise, immediate) use
//! its types; the others (ct, fib, socket, counter, reject, masq, nat) are encoded here.

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_core::{DefaultNla, NLM_F_APPEND, NLM_F_CREATE};
use netlink_packet_netfilter::nftables::{
    Bitwise, ChainAttribute, ChainMessage, Cmp, DataAttribute, Expressions, Hook, HookNumber,
    Immediate, InetHookNumber, Meta, MetaKey, NfTablesMessage, Operator, Payload, Register,
    RuleAttribute, RuleMessage, TableAttribute, TableMessage, Verdict, VerdictAttribute,
};

use super::{Action, ChainKind, Match, NatMode, Policy, Proto, Rule, Ruleset};

/// `NFPROTO_INET`: the family of our tables.
pub(crate) const NFPROTO_INET: u8 = 1;
pub(super) const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

/// `NF_CT_STATE_BIT(IP_CT_ESTABLISHED)` etc. (nf_conntrack_common.h), host byte order.
pub(crate) const CT_ESTABLISHED: u32 = 1 << 1;
pub(crate) const CT_RELATED: u32 = 1 << 2;
pub(crate) const CT_NEW: u32 = 1 << 3;
/// `IPS_DST_NAT` (nf_conntrack_common.h): what `ct status dnat` tests, host byte order.
pub(crate) const IPS_DST_NAT: u32 = 1 << 5;

pub(super) const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;

// enum nft_payload_bases
pub(super) const PAYLOAD_NETWORK: u32 = 1;
pub(super) const PAYLOAD_TRANSPORT: u32 = 2;

// enum nft_ct_attributes / nft_ct_keys
pub(super) const NFTA_CT_DREG: u16 = 1;
pub(super) const NFTA_CT_KEY: u16 = 2;
pub(super) const NFT_CT_STATE: u32 = 0;
pub(super) const NFT_CT_STATUS: u32 = 2;

// enum nft_fib_attributes / nft_fib_result / nft_fib_flags
pub(super) const NFTA_FIB_DREG: u16 = 1;
pub(super) const NFTA_FIB_RESULT: u16 = 2;
pub(super) const NFTA_FIB_FLAGS: u16 = 3;
pub(super) const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
pub(super) const NFTA_FIB_F_DADDR: u32 = 1 << 1;
/// `RTN_LOCAL` (rtnetlink.h): what `fib daddr type` yields for a local address.
pub(super) const RTN_LOCAL: u32 = 2;

// enum nft_reject_attributes / nft_reject_types / nft_reject_inet_code
const NFTA_REJECT_TYPE: u16 = 1;
const NFTA_REJECT_ICMP_CODE: u16 = 2;
const NFT_REJECT_TCP_RST: u32 = 1;
const NFT_REJECT_ICMPX_UNREACH: u32 = 2;
const NFT_REJECT_ICMPX_PORT_UNREACH: u8 = 1;

// enum nft_nat_attributes / nft_nat_types
pub(super) const NFTA_NAT_TYPE: u16 = 1;
pub(super) const NFTA_NAT_FAMILY: u16 = 2;
pub(super) const NFTA_NAT_REG_ADDR_MIN: u16 = 3;
const NFTA_NAT_REG_ADDR_MAX: u16 = 4;
pub(super) const NFTA_NAT_REG_PROTO_MIN: u16 = 5;
const NFTA_NAT_REG_PROTO_MAX: u16 = 6;
const NFTA_NAT_FLAGS: u16 = 7;
pub(super) const NFT_NAT_SNAT: u32 = 0;
pub(super) const NFT_NAT_DNAT: u32 = 1;
// nf_nat.h range flags
const NF_NAT_RANGE_PERSISTENT: u32 = 1 << 3;
pub(super) const NF_NAT_RANGE_PROTO_RANDOM_FULLY: u32 = 1 << 4;
/// Prefix NAT, host bits kept (Linux 5.8, `nft ... prefix to`).
pub(super) const NF_NAT_RANGE_NETMAP: u32 = 1 << 6;

// enum nft_socket_attributes / nft_socket_keys
const NFTA_SOCKET_KEY: u16 = 1;
const NFTA_SOCKET_DREG: u16 = 2;
const NFT_SOCKET_TRANSPARENT: u32 = 0;

/// `NFTNL_UDATA_RULE_COMMENT` (libnftnl): the TLV type `nft` shows as `comment "..."`.
pub(crate) const UDATA_RULE_COMMENT: u8 = 0;
/// `NFT_USERDATA_MAXLEN`.
const USERDATA_MAXLEN: usize = 256;

/// One message of a batch, with what it does in words (for error messages).
#[derive(Debug, Clone)]
pub(crate) struct BatchMsg {
    pub msg: NfTablesMessage,
    pub family: u8,
    pub flags: u16,
    pub what: String,
}

fn table_msg(name: &str) -> TableMessage {
    TableMessage {
        attributes: vec![TableAttribute::Name(name.to_string())],
    }
}

/// `delete table inet NAME`, made safe when it does not exist by creating it first.
pub(crate) fn delete_table_batch(name: &str) -> Vec<BatchMsg> {
    vec![
        BatchMsg {
            msg: NfTablesMessage::NewTable(table_msg(name)),
            family: NFPROTO_INET,
            flags: NLM_F_CREATE,
            what: format!("creating table inet {name}"),
        },
        BatchMsg {
            msg: NfTablesMessage::DeleteTable(table_msg(name)),
            family: NFPROTO_INET,
            flags: 0,
            what: format!("deleting table inet {name}"),
        },
    ]
}

/// The whole transaction of [`super::apply`]: make sure the table exists, delete it,
/// create it again with its chains and rules.
pub(crate) fn ruleset_batch(rs: &Ruleset) -> Vec<BatchMsg> {
    let t = &rs.table;
    let mut out = delete_table_batch(t);
    out.push(BatchMsg {
        msg: NfTablesMessage::NewTable(table_msg(t)),
        family: NFPROTO_INET,
        flags: NLM_F_CREATE,
        what: format!("creating table inet {t}"),
    });
    for (chain, policy, rules) in rs.chains() {
        out.push(chain_msg(t, chain, policy));
        for (i, rule) in rules.into_iter().enumerate() {
            out.push(BatchMsg {
                msg: NfTablesMessage::NewRule(rule_msg(t, chain.name(), rule)),
                family: NFPROTO_INET,
                flags: NLM_F_CREATE | NLM_F_APPEND,
                what: format!(
                    "adding rule #{} `{rule}` to chain inet {t} {}",
                    i + 1,
                    chain.name()
                ),
            });
        }
    }
    out
}

fn chain_msg(table: &str, chain: ChainKind, policy: Option<Policy>) -> BatchMsg {
    let hook = match chain.hook() {
        0 => InetHookNumber::PreRouting,
        1 => InetHookNumber::LocalIn,
        2 => InetHookNumber::Forward,
        3 => InetHookNumber::LocalOut,
        _ => InetHookNumber::PostRouting,
    };
    let kind = if chain.is_nat() { "nat" } else { "filter" };
    let mut attributes = vec![
        ChainAttribute::Table(table.to_string()),
        ChainAttribute::Name(chain.name().to_string()),
        ChainAttribute::Hook(vec![
            Hook::Number(HookNumber::Inet(hook)),
            Hook::Priority(chain.priority() as u32),
        ]),
        ChainAttribute::Type(kind.to_string()),
    ];
    if let Some(p) = policy {
        attributes.push(ChainAttribute::Policy(match p {
            Policy::Accept => NF_ACCEPT,
            Policy::Drop => NF_DROP,
        }));
    }
    BatchMsg {
        msg: NfTablesMessage::NewChain(ChainMessage { attributes }),
        family: NFPROTO_INET,
        flags: NLM_F_CREATE,
        what: format!(
            "adding chain {} (type {kind} hook {} priority {}) to table inet {table}",
            chain.name(),
            chain.hook_name(),
            chain.priority_name()
        ),
    }
}

/// The `NFT_MSG_NEWRULE` attributes of `rule` (validated) in `table`/`chain`.
pub(crate) fn rule_msg(table: &str, chain: &str, rule: &Rule) -> RuleMessage {
    RuleMessage {
        attributes: vec![
            RuleAttribute::Table(table.to_string()),
            RuleAttribute::Chain(chain.to_string()),
            RuleAttribute::Expressions(rule_exprs(rule).into_iter().map(Into::into).collect()),
            RuleAttribute::UserData(comment_udata(&rule.to_string())),
        ],
    }
}

/// The rule's text as a libnftnl comment TLV, cut to fit `NFT_USERDATA_MAXLEN`.
fn comment_udata(text: &str) -> Vec<u8> {
    // type, length (with the NUL), text, NUL
    let max = USERDATA_MAXLEN - 3;
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text.as_bytes()[..end];
    let mut out = Vec::with_capacity(text.len() + 3);
    out.push(UDATA_RULE_COMMENT);
    out.push((text.len() + 1) as u8);
    out.extend_from_slice(text);
    out.push(0);
    out
}

/// The expressions of a validated rule, in evaluation order.
pub(crate) fn rule_exprs(rule: &Rule) -> Vec<Expressions> {
    let mut e = Vec::new();
    family_exprs(&mut e, rule);
    // Matches on metadata first, then those that load the packet or its connection.
    for m in &rule.matches {
        meta_match_exprs(&mut e, m);
    }
    for m in &rule.matches {
        load_match_exprs(&mut e, m);
    }
    e.push(other("counter", vec![]));
    action_exprs(&mut e, rule);
    e
}

/// `meta nfproto ipv4|ipv6`, for a rule whose matches are of one family.
fn family_exprs(e: &mut Vec<Expressions>, rule: &Rule) {
    let family = rule.family().unwrap_or(None);
    if let Some(v6) = family {
        // meta nfproto ipv4|ipv6: payload offsets below depend on it.
        e.push(meta(MetaKey::Nfproto));
        e.push(cmp(
            Operator::Equal,
            vec![if v6 { NFPROTO_IPV6 } else { NFPROTO_IPV4 }],
        ));
    }
}

/// A match on the packet's metadata (`iifname`, `oifname`, `meta l4proto`).
fn meta_match_exprs(e: &mut Vec<Expressions>, m: &Match) {
    match m {
        Match::Iface { out, name, neg } => {
            e.push(meta(if *out {
                MetaKey::Oifname
            } else {
                MetaKey::Iifname
            }));
            let mut data = name.as_bytes().to_vec();
            data.resize(16, 0); // IFNAMSIZ, as the kernel loads it
            e.push(cmp(op(*neg), data));
        }
        Match::Proto(p) => {
            e.push(meta(MetaKey::L4Proto));
            e.push(cmp(Operator::Equal, vec![p.number()]));
        }
        _ => {}
    }
}

/// A match that loads the packet's headers, its connection, a route or its socket.
fn load_match_exprs(e: &mut Vec<Expressions>, m: &Match) {
    match m {
        Match::Net { dst, net, neg } => {
            let (offset, len) = match (net, dst) {
                (IpNet::V4(_), false) => (12, 4),
                (IpNet::V4(_), true) => (16, 4),
                (IpNet::V6(_), false) => (8, 16),
                (IpNet::V6(_), true) => (24, 16),
            };
            e.push(payload(PAYLOAD_NETWORK, offset, len));
            if net.prefix_len() < net.max_prefix_len() {
                e.push(bitwise(ip_bytes(net.netmask()), vec![0; len as usize]));
            }
            e.push(cmp(op(*neg), ip_bytes(net.network())));
        }
        Match::Port { dst, lo, hi } => {
            e.push(payload(PAYLOAD_TRANSPORT, if *dst { 2 } else { 0 }, 2));
            if lo == hi {
                e.push(cmp(Operator::Equal, lo.to_be_bytes().to_vec()));
            } else {
                e.push(cmp(Operator::GreatherThanEqual, lo.to_be_bytes().to_vec()));
                e.push(cmp(Operator::LessThanEqual, hi.to_be_bytes().to_vec()));
            }
        }
        Match::CtState(mask) => {
            e.push(other(
                "ct",
                vec![u32_nla(NFTA_CT_DREG, 1), u32_nla(NFTA_CT_KEY, NFT_CT_STATE)],
            ));
            e.push(bitwise(mask.to_ne_bytes().to_vec(), vec![0; 4]));
            e.push(cmp(Operator::NotEqual, vec![0; 4]));
        }
        Match::CtStatus(mask) => {
            e.push(other(
                "ct",
                vec![
                    u32_nla(NFTA_CT_DREG, 1),
                    u32_nla(NFTA_CT_KEY, NFT_CT_STATUS),
                ],
            ));
            e.push(bitwise(mask.to_ne_bytes().to_vec(), vec![0; 4]));
            e.push(cmp(Operator::NotEqual, vec![0; 4]));
        }
        Match::DstLocal => {
            e.push(other(
                "fib",
                vec![
                    u32_nla(NFTA_FIB_DREG, 1),
                    u32_nla(NFTA_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE),
                    u32_nla(NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR),
                ],
            ));
            e.push(cmp(Operator::Equal, RTN_LOCAL.to_ne_bytes().to_vec()));
        }
        Match::Socket => {
            // The expression ends the rule where there is no socket; where there is
            // one, its transparent flag (0 or 1) is in the register.
            e.push(other(
                "socket",
                vec![
                    u32_nla(NFTA_SOCKET_KEY, NFT_SOCKET_TRANSPARENT),
                    u32_nla(NFTA_SOCKET_DREG, 1),
                ],
            ));
            e.push(cmp(Operator::GreatherThanEqual, vec![0]));
            e.push(cmp(Operator::LessThanEqual, vec![1]));
        }
        Match::Iface { .. } | Match::Proto(_) | Match::Invalid(_) => {}
    }
}

/// The rule's action (none, a verdict, `reject`, or NAT with its registers).
fn action_exprs(e: &mut Vec<Expressions>, rule: &Rule) {
    match &rule.action {
        Action::None => {}
        Action::Accept => e.push(verdict(NF_ACCEPT)),
        Action::Drop => e.push(verdict(NF_DROP)),
        Action::Reject => {
            if rule.proto_of() == Some(Proto::Tcp) {
                e.push(other(
                    "reject",
                    vec![u32_nla(NFTA_REJECT_TYPE, NFT_REJECT_TCP_RST)],
                ));
            } else {
                e.push(other(
                    "reject",
                    vec![
                        u32_nla(NFTA_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH),
                        DefaultNla::new(NFTA_REJECT_ICMP_CODE, vec![NFT_REJECT_ICMPX_PORT_UNREACH]),
                    ],
                ));
            }
        }
        Action::Masquerade => e.push(other("masq", vec![])),
        Action::Snat { to, ports, mode } => {
            e.push(immediate(Register::Reg1, ip_bytes(*to)));
            let mut attrs = vec![
                u32_nla(NFTA_NAT_TYPE, NFT_NAT_SNAT),
                u32_nla(NFTA_NAT_FAMILY, nat_family(*to)),
                u32_nla(NFTA_NAT_REG_ADDR_MIN, 1),
            ];
            if let Some((lo, hi)) = ports {
                e.push(immediate(Register::Reg2, lo.to_be_bytes().to_vec()));
                attrs.push(u32_nla(NFTA_NAT_REG_PROTO_MIN, 2));
                if lo != hi {
                    e.push(immediate(Register::Reg3, hi.to_be_bytes().to_vec()));
                    attrs.push(u32_nla(NFTA_NAT_REG_PROTO_MAX, 3));
                }
            }
            attrs.push(u32_nla(
                NFTA_NAT_FLAGS,
                match mode {
                    NatMode::PortPreserving => NF_NAT_RANGE_PERSISTENT,
                    NatMode::Random => NF_NAT_RANGE_PROTO_RANDOM_FULLY,
                },
            ));
            e.push(other("nat", attrs));
        }
        Action::NatPrefix { dnat, to } => {
            e.push(immediate(Register::Reg1, ip_bytes(to.network())));
            e.push(immediate(Register::Reg2, ip_bytes(to.broadcast())));
            e.push(other(
                "nat",
                vec![
                    u32_nla(
                        NFTA_NAT_TYPE,
                        if *dnat { NFT_NAT_DNAT } else { NFT_NAT_SNAT },
                    ),
                    u32_nla(NFTA_NAT_FAMILY, nat_family(to.addr())),
                    u32_nla(NFTA_NAT_REG_ADDR_MIN, 1),
                    u32_nla(NFTA_NAT_REG_ADDR_MAX, 2),
                    u32_nla(NFTA_NAT_FLAGS, NF_NAT_RANGE_NETMAP),
                ],
            ));
        }
        Action::DnatAddr { to } => {
            e.push(immediate(Register::Reg1, ip_bytes(*to)));
            e.push(other(
                "nat",
                vec![
                    u32_nla(NFTA_NAT_TYPE, NFT_NAT_DNAT),
                    u32_nla(NFTA_NAT_FAMILY, nat_family(*to)),
                    u32_nla(NFTA_NAT_REG_ADDR_MIN, 1),
                ],
            ));
        }
        Action::Dnat { to } => {
            e.push(immediate(Register::Reg1, ip_bytes(to.ip())));
            e.push(immediate(Register::Reg2, to.port().to_be_bytes().to_vec()));
            e.push(other(
                "nat",
                vec![
                    u32_nla(NFTA_NAT_TYPE, NFT_NAT_DNAT),
                    u32_nla(NFTA_NAT_FAMILY, nat_family(to.ip())),
                    u32_nla(NFTA_NAT_REG_ADDR_MIN, 1),
                    u32_nla(NFTA_NAT_REG_PROTO_MIN, 2),
                ],
            ));
        }
    }
}

fn nat_family(ip: IpAddr) -> u32 {
    u32::from(if ip.is_ipv6() {
        NFPROTO_IPV6
    } else {
        NFPROTO_IPV4
    })
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn op(neg: bool) -> Operator {
    if neg {
        Operator::NotEqual
    } else {
        Operator::Equal
    }
}

fn u32_nla(kind: u16, value: u32) -> DefaultNla {
    DefaultNla::new(kind, value.to_be_bytes().to_vec())
}

fn other(name: &str, attributes: Vec<DefaultNla>) -> Expressions {
    Expressions::Other {
        expression_type: name.to_string(),
        attributes,
    }
}

/// `meta load KEY => reg 1`
fn meta(key: MetaKey) -> Expressions {
    Expressions::Meta(vec![
        Meta::DestinationRegister(Register::Reg1),
        Meta::Key(key),
    ])
}

/// `cmp OP reg 1 DATA`
fn cmp(op: Operator, data: Vec<u8>) -> Expressions {
    Expressions::Cmp(vec![
        Cmp::SourceRegister(Register::Reg1),
        Cmp::Op(op),
        Cmp::Data(DataAttribute::Value(data)),
    ])
}

/// `payload load LENb @ BASE header + OFFSET => reg 1`
fn payload(base: u32, offset: u32, len: u32) -> Expressions {
    Expressions::Payload(vec![
        Payload::DestinationRegister(Register::Reg1),
        Payload::Base(base),
        Payload::Offset(offset),
        Payload::Len(len),
    ])
}

/// `bitwise reg 1 = (reg 1 & MASK) ^ XOR`
fn bitwise(mask: Vec<u8>, xor: Vec<u8>) -> Expressions {
    Expressions::Bitwise(vec![
        Bitwise::SourceRegister(Register::Reg1),
        Bitwise::DestinationRegister(Register::Reg1),
        Bitwise::Length(mask.len() as u32),
        Bitwise::Mask(DataAttribute::Value(mask)),
        Bitwise::Xor(DataAttribute::Value(xor)),
    ])
}

/// `immediate reg N DATA`
fn immediate(reg: Register, data: Vec<u8>) -> Expressions {
    Expressions::Immediate(vec![
        Immediate::DestinationRegister(reg),
        Immediate::Data(DataAttribute::Value(data)),
    ])
}

/// `immediate reg 0 accept|drop`
fn verdict(code: u32) -> Expressions {
    Expressions::Immediate(vec![
        Immediate::DestinationRegister(Register::Verdict),
        Immediate::Data(DataAttribute::Verdict(vec![VerdictAttribute::Code(
            Verdict::Other(code),
        )])),
    ])
}
