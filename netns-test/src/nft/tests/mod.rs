//! Unit tests of the nf_tables layer, by concern:
//!
//! - `encode`: the bytes of our messages against what `nf_tables.h` and `nfnetlink.h`
//!   define, written out with the independent attribute writer below (not with
//!   netlink-packet-netfilter), and the checks made before anything is sent;
//! - `decode`: dumped rules decoded back into nft syntax, including what the kernel adds
//!   and what this crate does not make;
//! - `sandboxed`: the kernel's own answers (refusals, dumps), each in a sandbox.

use super::expr::{self, BatchMsg, NFPROTO_INET};
use super::sock::encode_batch;
use super::*;

mod decode;
mod encode;
// `#[netns_test]` registers each test in a `#[link_section]` static (linkme), which the
// crate's `deny(unsafe_code)` sees in the crate's own tests only (not in a user's crate).
#[allow(unsafe_code)]
mod sandboxed;

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
