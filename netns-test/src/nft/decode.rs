//! Dumped rules back into [`Rule`]s: the inverse of [`super::expr::rule_exprs`].
//!
//! A dumped rule is recognised only when it is exactly what this crate emits for some
//! [`Rule`]: the expressions are read into a candidate rule, which is encoded again and
//! compared with the dump, expression by expression and attribute by attribute (after
//! the few normalisations the kernel applies, such as a NAT expression's register for the
//! range's upper end). Anything else, including rules other tools made, is left to the
//! caller's raw rendering.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;
use netlink_packet_core::{Emitable, NlaBuffer, NlasIterator};
use netlink_packet_netfilter::nftables::{ExpressionAttribute, Expressions, ListAttribute};

use super::expr::{self, CT_ESTABLISHED, CT_NEW, CT_RELATED};
use super::{Action, Match, NatMode, Proto, Rule};

// nf_tables.h values this decoder reads; the encoder's twins live in expr.rs.
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_CMP_LTE: u32 = 3;
const NFT_CMP_GTE: u32 = 5;
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
const NFT_META_NFPROTO: u32 = 15;
const NFT_META_L4PROTO: u32 = 16;
const NFT_PAYLOAD_NETWORK: u32 = 1;
const NFT_PAYLOAD_TRANSPORT: u32 = 2;
const NFT_CT_STATE: u32 = 0;
const NFT_CT_STATUS: u32 = 2;
const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
const NFTA_FIB_F_DADDR: u32 = 1 << 1;
const RTN_LOCAL: u32 = 2;
const NFT_SOCKET_TRANSPARENT: u32 = 0;
const NFT_REJECT_TCP_RST: u32 = 1;
const NFT_REJECT_ICMPX_UNREACH: u32 = 2;
const NFT_REJECT_ICMPX_PORT_UNREACH: u8 = 1;
const NFT_NAT_SNAT: u32 = 0;
const NFT_NAT_DNAT: u32 = 1;
const NF_NAT_RANGE_MAP_IPS: u32 = 1 << 0;
const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 1 << 1;
const NF_NAT_RANGE_PERSISTENT: u32 = 1 << 3;
const NF_NAT_RANGE_PROTO_RANDOM_FULLY: u32 = 1 << 4;
const NF_NAT_RANGE_NETMAP: u32 = 1 << 6;
const NF_ACCEPT: u32 = 1;
const NF_DROP: u32 = 0;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

/// One expression, with exactly the attributes this crate uses; [`Ex::Unknown`] for any
/// other expression or any attribute this crate never sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ex {
    Meta {
        key: u32,
        dreg: u32,
    },
    Cmp {
        sreg: u32,
        op: u32,
        data: Vec<u8>,
    },
    Payload {
        dreg: u32,
        base: u32,
        offset: u32,
        len: u32,
    },
    Bitwise {
        sreg: u32,
        dreg: u32,
        len: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    Immediate {
        dreg: u32,
        data: Vec<u8>,
    },
    Verdict(u32),
    Counter,
    Ct {
        dreg: u32,
        key: u32,
    },
    Fib {
        dreg: u32,
        result: u32,
        flags: u32,
    },
    Socket {
        key: u32,
        dreg: u32,
    },
    Reject {
        kind: u32,
        code: Option<u8>,
    },
    Masq,
    Nat {
        kind: u32,
        family: u32,
        /// Registers of the address range's ends (the kernel fills in the upper one).
        addr: Option<(u32, u32)>,
        /// Registers of the port range's ends.
        proto: Option<(u32, u32)>,
        /// Range flags, without the two the kernel derives from the registers.
        flags: u32,
    },
    Unknown,
}

/// The attributes of a netlink attribute stream, type bits masked off.
fn attrs(bytes: &[u8]) -> Option<Vec<(u16, Vec<u8>)>> {
    let mut out = Vec::new();
    for nla in NlasIterator::new(bytes) {
        let nla: NlaBuffer<&[u8]> = nla.ok()?;
        out.push((nla.kind(), nla.value().to_vec()));
    }
    Some(out)
}

fn be32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.try_into().ok()?))
}

/// The bytes of an `NFTA_DATA_VALUE` nested in `v`.
fn data_value(v: &[u8]) -> Option<Vec<u8>> {
    match attrs(v)?.as_slice() {
        [(1, bytes)] => Some(bytes.clone()),
        _ => None,
    }
}

/// The code of an `NFTA_DATA_VERDICT` without a chain, nested in `v`.
fn data_verdict(v: &[u8]) -> Option<u32> {
    match attrs(v)?.as_slice() {
        [(2, verdict)] => match attrs(verdict)?.as_slice() {
            [(1, code)] => be32(code),
            _ => None,
        },
        _ => None,
    }
}

/// Reads `(kind, value)` pairs into named fields: each kind at most once, and only the
/// kinds listed.
struct Fields(Vec<(u16, Vec<u8>)>);

impl Fields {
    fn take(&mut self, kind: u16) -> Option<Vec<u8>> {
        let i = self.0.iter().position(|(k, _)| *k == kind)?;
        Some(self.0.remove(i).1)
    }

    fn u32(&mut self, kind: u16) -> Option<u32> {
        self.take(kind).and_then(|v| be32(&v))
    }

    /// Whether nothing else is left.
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// The expression named `name` with attribute stream `bytes`, or `None` if it is not one
/// this crate emits.
fn ex_of(name: &str, bytes: &[u8]) -> Option<Ex> {
    let mut f = Fields(attrs(bytes)?);
    let ex = match name {
        "meta" => Ex::Meta {
            key: f.u32(2)?,
            dreg: f.u32(1)?,
        },
        "cmp" => Ex::Cmp {
            sreg: f.u32(1)?,
            op: f.u32(2)?,
            data: data_value(&f.take(3)?)?,
        },
        "payload" => Ex::Payload {
            dreg: f.u32(1)?,
            base: f.u32(2)?,
            offset: f.u32(3)?,
            len: f.u32(4)?,
        },
        "bitwise" => {
            // NFTA_BITWISE_OP: only the mask-and-xor operation (0), which is the default.
            if f.u32(6).is_some_and(|op| op != 0) {
                return None;
            }
            Ex::Bitwise {
                sreg: f.u32(1)?,
                dreg: f.u32(2)?,
                len: f.u32(3)?,
                mask: data_value(&f.take(4)?)?,
                xor: data_value(&f.take(5)?)?,
            }
        }
        "immediate" => {
            let dreg = f.u32(1)?;
            let data = f.take(2)?;
            if dreg == 0 {
                Ex::Verdict(data_verdict(&data)?)
            } else {
                Ex::Immediate {
                    dreg,
                    data: data_value(&data)?,
                }
            }
        }
        "counter" => {
            // NFTA_COUNTER_BYTES, _PACKETS and _PAD: the values, not part of the rule.
            for k in [1, 2, 3] {
                f.take(k);
            }
            Ex::Counter
        }
        "ct" => Ex::Ct {
            dreg: f.u32(1)?,
            key: f.u32(2)?,
        },
        "fib" => Ex::Fib {
            dreg: f.u32(1)?,
            result: f.u32(2)?,
            flags: f.u32(3)?,
        },
        "socket" => Ex::Socket {
            key: f.u32(1)?,
            dreg: f.u32(2)?,
        },
        "reject" => Ex::Reject {
            kind: f.u32(1)?,
            code: match f.take(2).as_deref() {
                Some(&[code]) => Some(code),
                Some(_) => return None,
                None => None,
            },
        },
        "masq" => {
            if f.u32(1).is_some_and(|flags| flags != 0) {
                return None;
            }
            Ex::Masq
        }
        "nat" => nat_of(&mut f)?,
        _ => return None,
    };
    f.done().then_some(ex)
}

/// The fields of a `nat` expression (its flags without those its registers imply).
fn nat_of(f: &mut Fields) -> Option<Ex> {
    let kind = f.u32(1)?;
    let family = f.u32(2)?;
    let range = |f: &mut Fields, min: u16, max: u16| -> Option<Option<(u32, u32)>> {
        match (f.u32(min), f.take(max)) {
            (Some(lo), None) => Some(Some((lo, lo))),
            (Some(lo), Some(hi)) => Some(Some((lo, be32(&hi)?))),
            (None, None) => Some(None),
            (None, Some(_)) => None,
        }
    };
    let addr = range(f, 3, 4)?;
    let proto = range(f, 5, 6)?;
    let flags = f.u32(7).unwrap_or(0) & !(NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED);
    Some(Ex::Nat {
        kind,
        family,
        addr,
        proto,
        flags,
    })
}

/// An expression as this module reads it (`Ex::Unknown` if it is not one of ours).
pub(crate) fn ex(name: &str, e: &Expressions) -> Ex {
    let mut bytes = vec![0; e.buffer_len()];
    e.emit(&mut bytes);
    ex_of(name, &bytes).unwrap_or(Ex::Unknown)
}

/// [`ex`] for an expression this crate builds (its name comes from its variant).
fn own(e: Expressions) -> Ex {
    let ListAttribute::Element(parts) = ListAttribute::from(e) else {
        return Ex::Unknown;
    };
    let mut name = String::new();
    for p in &parts {
        match p {
            ExpressionAttribute::Name(n) => name = n.clone(),
            ExpressionAttribute::Data(d) => return ex(&name, d),
            _ => {}
        }
    }
    Ex::Unknown
}

/// The expressions [`super::expr::rule_exprs`] makes for `rule`, as this module reads them.
pub(crate) fn encoded(rule: &Rule) -> Vec<Ex> {
    expr::rule_exprs(rule).into_iter().map(own).collect()
}

/// The rule whose encoding `exprs` is, if it is one: the candidate read from the
/// expressions must encode to exactly `exprs` again.
pub(crate) fn rule(exprs: &[Ex]) -> Option<Rule> {
    let rule = candidate(exprs)?;
    (rule.validate().is_ok() && encoded(&rule) == exprs).then_some(rule)
}

fn addr_of(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(bytes).ok()?,
        ))),
        _ => None,
    }
}

/// The prefix length of a contiguous netmask.
fn prefix_of(mask: &[u8]) -> Option<u8> {
    let ones: u32 = mask.iter().map(|b| b.count_ones()).sum();
    let contiguous = mask.iter().enumerate().all(|(i, &b)| {
        let bits = ones.saturating_sub(i as u32 * 8).min(8);
        b == if bits == 0 { 0 } else { 0xff << (8 - bits) }
    });
    contiguous.then_some(ones as u8)
}

fn is_cmp(e: &Ex, op: u32) -> Option<&[u8]> {
    match e {
        Ex::Cmp {
            sreg: 1,
            op: o,
            data,
        } if *o == op => Some(data),
        _ => None,
    }
}

/// Reads the expressions into a rule, loosely; [`rule`] checks the result.
fn candidate(exprs: &[Ex]) -> Option<Rule> {
    let mut rule = Rule::new();
    let mut rest = after_family(exprs)?;
    while let Some((m, used)) = next_match(rest)? {
        rule = rule.with(m);
        rest = &rest[used..];
    }
    let [Ex::Counter, action @ ..] = rest else {
        return None;
    };
    rule.action = action_of(action)?;
    Some(rule)
}

/// The expressions after `meta nfproto ipv4|ipv6`, if they start with it: implied by the
/// matches, it is re-derived on encoding.
fn after_family(exprs: &[Ex]) -> Option<&[Ex]> {
    if let [Ex::Meta {
        key: NFT_META_NFPROTO,
        dreg: 1,
    }, Ex::Cmp {
        sreg: 1,
        op: NFT_CMP_EQ,
        data,
    }, tail @ ..] = exprs
    {
        if data[..] != [NFPROTO_IPV4] && data[..] != [NFPROTO_IPV6] {
            return None;
        }
        return Some(tail);
    }
    Some(exprs)
}

/// The match `rest` starts with and how many expressions it takes; `Some(None)` where no
/// match starts (the counter, or what is not a rule), `None` for a match that is not one
/// this crate makes.
fn next_match(rest: &[Ex]) -> Option<Option<(Match, usize)>> {
    Some(Some(match rest {
        [Ex::Meta { key, dreg: 1 }, c, ..]
            if *key == NFT_META_IIFNAME || *key == NFT_META_OIFNAME =>
        {
            let (neg, data) = eq_or_neq(c)?;
            let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
            let name = std::str::from_utf8(&data[..end]).ok()?.to_string();
            let out = *key == NFT_META_OIFNAME;
            (Match::Iface { out, name, neg }, 2)
        }
        [Ex::Meta {
            key: NFT_META_L4PROTO,
            dreg: 1,
        }, c, ..] => {
            let [n] = is_cmp(c, NFT_CMP_EQ)? else {
                return None;
            };
            (Match::Proto(Proto::from_number(*n)), 2)
        }
        [Ex::Payload {
            dreg: 1,
            base: NFT_PAYLOAD_NETWORK,
            offset,
            len,
        }, tail @ ..] => net_match(*offset, *len, tail)?,
        [Ex::Payload {
            dreg: 1,
            base: NFT_PAYLOAD_TRANSPORT,
            offset,
            len: 2,
        }, c, tail @ ..] => port_match(*offset, c, tail)?,
        [Ex::Ct { dreg: 1, key }, Ex::Bitwise { mask, .. }, c, ..] => {
            is_cmp(c, NFT_CMP_NEQ)?;
            let mask = u32::from_ne_bytes(mask[..].try_into().ok()?);
            let known = CT_NEW | CT_ESTABLISHED | CT_RELATED;
            match *key {
                // Only the states `ct state` is printed with.
                NFT_CT_STATE if mask != 0 && mask & !known == 0 => (Match::CtState(mask), 3),
                NFT_CT_STATUS => (Match::CtStatus(mask), 3),
                _ => return None,
            }
        }
        [Ex::Fib {
            dreg: 1,
            result: NFT_FIB_RESULT_ADDRTYPE,
            flags: NFTA_FIB_F_DADDR,
        }, c, ..] => {
            (is_cmp(c, NFT_CMP_EQ)? == RTN_LOCAL.to_ne_bytes()).then_some(())?;
            (Match::DstLocal, 2)
        }
        [Ex::Socket {
            key: NFT_SOCKET_TRANSPARENT,
            dreg: 1,
        }, lo, hi, ..] => {
            (is_cmp(lo, NFT_CMP_GTE)? == [0] && is_cmp(hi, NFT_CMP_LTE)? == [1]).then_some(())?;
            (Match::Socket, 3)
        }
        _ => return Some(None),
    }))
}

/// `(negated, data)` of a comparison for equality or inequality.
fn eq_or_neq(c: &Ex) -> Option<(bool, &[u8])> {
    match (is_cmp(c, NFT_CMP_EQ), is_cmp(c, NFT_CMP_NEQ)) {
        (Some(d), _) => Some((false, d)),
        (_, Some(d)) => Some((true, d)),
        _ => None,
    }
}

/// A match on the source or destination address, from the network header's payload at
/// `offset` and `len`, then `tail`: an optional mask and the comparison.
fn net_match(offset: u32, len: u32, tail: &[Ex]) -> Option<(Match, usize)> {
    let dst = match (offset, len) {
        (12, 4) | (8, 16) => false,
        (16, 4) | (24, 16) => true,
        _ => return None,
    };
    let (prefix, c, used) = match tail {
        [Ex::Bitwise { mask, .. }, c, ..] => (prefix_of(mask)?, c, 3),
        [c, ..] => ((len * 8) as u8, c, 2),
        [] => return None,
    };
    let (neg, data) = eq_or_neq(c)?;
    let net = IpNet::new(addr_of(data)?, prefix).ok()?;
    Some((Match::Net { dst, net, neg }, used))
}

/// A match on the source or destination port, from the transport header's payload at
/// `offset`, then the comparison `c` (and, for a range, the first of `tail`).
fn port_match(offset: u32, c: &Ex, tail: &[Ex]) -> Option<(Match, usize)> {
    let dst = match offset {
        0 => false,
        2 => true,
        _ => return None,
    };
    let port = |d: &[u8]| Some(u16::from_be_bytes(d.try_into().ok()?));
    if let Some(d) = is_cmp(c, NFT_CMP_EQ) {
        let p = port(d)?;
        Some((Match::Port { dst, lo: p, hi: p }, 2))
    } else {
        let lo = port(is_cmp(c, NFT_CMP_GTE)?)?;
        let hi = port(is_cmp(tail.first()?, NFT_CMP_LTE)?)?;
        Some((Match::Port { dst, lo, hi }, 3))
    }
}

/// The action whose expressions (after the counter) are `action`.
fn action_of(action: &[Ex]) -> Option<Action> {
    let imm = |e: &Ex, reg: u32| match e {
        Ex::Immediate { dreg, data } if *dreg == reg => Some(data.clone()),
        _ => None,
    };
    let port = |d: Vec<u8>| Some(u16::from_be_bytes(d[..].try_into().ok()?));
    Some(match action {
        [] => Action::None,
        [Ex::Verdict(NF_ACCEPT)] => Action::Accept,
        [Ex::Verdict(NF_DROP)] => Action::Drop,
        [Ex::Reject {
            kind: NFT_REJECT_TCP_RST,
            code: None,
        }]
        | [Ex::Reject {
            kind: NFT_REJECT_ICMPX_UNREACH,
            code: Some(NFT_REJECT_ICMPX_PORT_UNREACH),
        }] => Action::Reject,
        [Ex::Masq] => Action::Masquerade,
        [a, b, Ex::Nat {
            kind,
            flags: NF_NAT_RANGE_NETMAP,
            ..
        }] => {
            let (lo, hi) = (addr_of(&imm(a, 1)?)?, addr_of(&imm(b, 2)?)?);
            let len = match (lo, hi) {
                (IpAddr::V4(l), IpAddr::V4(h)) => (u32::from(l) ^ u32::from(h)).leading_zeros(),
                (IpAddr::V6(l), IpAddr::V6(h)) => (u128::from(l) ^ u128::from(h)).leading_zeros(),
                _ => return None,
            };
            Action::NatPrefix {
                dnat: *kind == NFT_NAT_DNAT,
                to: IpNet::new(lo, len as u8).ok()?,
            }
        }
        [a, ports @ .., Ex::Nat {
            kind, flags, proto, ..
        }] => {
            let to = addr_of(&imm(a, 1)?)?;
            match (*kind, ports) {
                (NFT_NAT_SNAT, _) => {
                    let ports = match ports {
                        [] => None,
                        [lo] => {
                            let lo = port(imm(lo, 2)?)?;
                            Some((lo, lo))
                        }
                        [lo, hi] => Some((port(imm(lo, 2)?)?, port(imm(hi, 3)?)?)),
                        _ => return None,
                    };
                    let mode = match *flags {
                        NF_NAT_RANGE_PERSISTENT => NatMode::PortPreserving,
                        NF_NAT_RANGE_PROTO_RANDOM_FULLY => NatMode::Random,
                        _ => return None,
                    };
                    Action::Snat { to, ports, mode }
                }
                (NFT_NAT_DNAT, []) => Action::DnatAddr { to },
                (NFT_NAT_DNAT, [p]) if proto.is_some() => Action::Dnat {
                    to: SocketAddr::new(to, port(imm(p, 2)?)?),
                },
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// The states of a `ct state` mask, in nft's words.
pub(crate) fn ct_states(mask: u32) -> Vec<&'static str> {
    [
        (CT_NEW, "new"),
        (CT_ESTABLISHED, "established"),
        (CT_RELATED, "related"),
    ]
    .into_iter()
    .filter(|(bit, _)| mask & bit != 0)
    .map(|(_, name)| name)
    .collect()
}
