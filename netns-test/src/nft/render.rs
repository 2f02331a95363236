//! Text: a [`Rule`] in nft syntax, and a dumped ruleset like `nft list ruleset`.

use std::fmt::{self, Write as _};

use ipnet::IpNet;
use netlink_packet_core::{DefaultNla, Nla};
use netlink_packet_netfilter::nftables::{
    Bitwise, ChainAttribute, ChainMessage, Cmp, DataAttribute, ExpressionAttribute, Expressions,
    Hook, Immediate, ListAttribute, Meta, Operator, Payload, Register, RuleAttribute, RuleMessage,
    TableAttribute, VerdictAttribute,
};

use super::decode;
use super::expr::{IPS_DST_NAT, UDATA_RULE_COMMENT};
use super::sock::RulesetDump;
use super::{Action, Match, NatMode, Proto, Rule};

fn net_text(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// Where a match is printed: `iifname`, `ct`, addresses, `fib`, `oifname`, then protocol
/// and ports, each group in the order the rule has them. The encoding keeps that order
/// within each group, so the text of a rule read back from the kernel is the text of the
/// rule that was installed.
fn rank(m: &Match) -> u8 {
    match m {
        Match::Iface { out: false, .. } => 0,
        Match::CtState(_) | Match::CtStatus(_) => 1,
        Match::Net { .. } => 2,
        Match::DstLocal | Match::Socket => 3,
        Match::Iface { out: true, .. } => 4,
        Match::Proto(_) | Match::Port { .. } => 5,
        Match::Invalid(_) => 6,
    }
}

/// `Rule`'s `Display`: the rule in nft syntax, its matches in [`rank`] order.
pub(crate) fn rule_text(rule: &Rule, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let proto = rule.proto_of();
    let has_ports = rule.matches.iter().any(|m| matches!(m, Match::Port { .. }));
    let mut words: Vec<String> = Vec::new();
    let mut matches: Vec<&Match> = rule.matches.iter().collect();
    matches.sort_by_key(|m| rank(m));
    for m in matches {
        match m {
            Match::Net { dst, net, neg } => words.push(format!(
                "{} {}{} {}",
                if matches!(net, IpNet::V6(_)) {
                    "ip6"
                } else {
                    "ip"
                },
                if *dst { "daddr" } else { "saddr" },
                if *neg { " !=" } else { "" },
                net_text(net)
            )),
            Match::Iface { out, name, neg } => words.push(format!(
                "{}{} {name:?}",
                if *out { "oifname" } else { "iifname" },
                if *neg { " !=" } else { "" },
            )),
            Match::Proto(p) if !has_ports => words.push(format!("meta l4proto {p}")),
            Match::Proto(_) => {}
            Match::Port { dst, lo, hi } => {
                let p = proto.map_or("th".to_string(), |p| p.to_string());
                let which = if *dst { "dport" } else { "sport" };
                if lo == hi {
                    words.push(format!("{p} {which} {lo}"));
                } else {
                    words.push(format!("{p} {which} {lo}-{hi}"));
                }
            }
            Match::CtState(mask) => {
                words.push(format!("ct state {}", decode::ct_states(*mask).join(",")))
            }
            Match::DstLocal => words.push("fib daddr type local".into()),
            Match::Socket => words.push("socket transparent 0-1".into()),
            Match::CtStatus(IPS_DST_NAT) => words.push("ct status dnat".into()),
            Match::CtStatus(mask) => words.push(format!("ct status & {mask:#x} != 0")),
            Match::Invalid(e) => words.push(format!("<invalid: {e}>")),
        }
    }
    words.push("counter".into());
    let fam = |ip: std::net::IpAddr| if ip.is_ipv6() { "ip6" } else { "ip" };
    match &rule.action {
        Action::None => {}
        Action::Accept => words.push("accept".into()),
        Action::Drop => words.push("drop".into()),
        Action::Reject if proto == Some(Proto::Tcp) => words.push("reject with tcp reset".into()),
        Action::Reject => words.push("reject with icmpx port-unreachable".into()),
        Action::Masquerade => words.push("masquerade".into()),
        Action::Snat { to, ports, mode } => {
            let addr = if to.is_ipv6() {
                format!("[{to}]")
            } else {
                to.to_string()
            };
            let mut s = match ports {
                None if to.is_ipv6() => format!("snat ip6 to {to}"),
                None => format!("snat ip to {to}"),
                Some((lo, hi)) if lo == hi => format!("snat {} to {addr}:{lo}", fam(*to)),
                Some((lo, hi)) => format!("snat {} to {addr}:{lo}-{hi}", fam(*to)),
            };
            s.push_str(match mode {
                NatMode::PortPreserving => " persistent",
                NatMode::Random => " fully-random",
            });
            words.push(s);
        }
        Action::Dnat { to } => words.push(format!("dnat {} to {to}", fam(to.ip()))),
        Action::DnatAddr { to } => words.push(format!("dnat {} to {to}", fam(*to))),
        Action::NatPrefix { dnat, to } => words.push(format!(
            "{} {} prefix to {to}",
            if *dnat { "dnat" } else { "snat" },
            fam(to.addr())
        )),
    }
    f.write_str(&words.join(" "))
}

fn family_name(f: u8) -> String {
    match f {
        1 => "inet".into(),
        2 => "ip".into(),
        3 => "arp".into(),
        5 => "netdev".into(),
        7 => "bridge".into(),
        10 => "ip6".into(),
        n => format!("family{n}"),
    }
}

fn hook_name(family: u8, hook: u32) -> String {
    let names: &[&str] = match family {
        5 => &["ingress", "egress"],
        3 => &["input", "output", "forward"],
        _ => &[
            "prerouting",
            "input",
            "forward",
            "output",
            "postrouting",
            "ingress",
        ],
    };
    names
        .get(hook as usize)
        .map_or_else(|| format!("hook{hook}"), |s| s.to_string())
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn nla_value(nla: &DefaultNla) -> Vec<u8> {
    let mut v = vec![0; nla.value_len()];
    nla.emit_value(&mut v);
    v
}

fn reg(r: &Register) -> u32 {
    u32::from(*r)
}

fn data_text(d: &DataAttribute) -> String {
    match d {
        DataAttribute::Value(v) => hex(v),
        DataAttribute::Verdict(attrs) => {
            let mut s = String::new();
            for a in attrs {
                match a {
                    VerdictAttribute::Code(c) => s.push_str(match u32::from(*c) as i32 {
                        0 => "drop",
                        1 => "accept",
                        -1 => "continue",
                        -2 => "break",
                        -3 => "jump",
                        -4 => "goto",
                        -5 => "return",
                        _ => "verdict?",
                    }),
                    VerdictAttribute::Chain(c) => {
                        let _ = write!(s, " {c}");
                    }
                    _ => {}
                }
            }
            s
        }
        other => format!("{other:?}"),
    }
}

/// One expression as `nft --debug=netlink` would show it (roughly).
fn expr_text(name: &str, e: &Expressions) -> String {
    match e {
        Expressions::Meta(a) => {
            let (mut key, mut dreg) = (String::from("?"), 0);
            for x in a {
                match x {
                    Meta::Key(k) => key = format!("{k:?}").to_lowercase(),
                    Meta::DestinationRegister(r) => dreg = reg(r),
                    _ => {}
                }
            }
            format!("meta load {key} => reg {dreg}")
        }
        Expressions::Payload(a) => {
            let (mut base, mut off, mut len, mut dreg) = (0, 0, 0, 0);
            for x in a {
                match x {
                    Payload::Base(b) => base = *b,
                    Payload::Offset(o) => off = *o,
                    Payload::Len(l) => len = *l,
                    Payload::DestinationRegister(r) => dreg = reg(r),
                    _ => {}
                }
            }
            let base = ["link", "network", "transport", "inner"]
                .get(base as usize)
                .copied()
                .unwrap_or("?");
            format!("payload load {len}b @ {base} header + {off} => reg {dreg}")
        }
        Expressions::Cmp(a) => {
            let (mut op, mut sreg, mut data) = ("?", 0, String::new());
            for x in a {
                match x {
                    Cmp::Op(o) => op = op_text(o),
                    Cmp::SourceRegister(r) => sreg = reg(r),
                    Cmp::Data(d) => data = data_text(d),
                    _ => {}
                }
            }
            format!("cmp {op} reg {sreg} {data}")
        }
        Expressions::Bitwise(a) => {
            let (mut s, mut d, mut mask, mut xor) = (0, 0, String::new(), String::new());
            for x in a {
                match x {
                    Bitwise::SourceRegister(r) => s = reg(r),
                    Bitwise::DestinationRegister(r) => d = reg(r),
                    Bitwise::Mask(m) => mask = data_text(m),
                    Bitwise::Xor(m) => xor = data_text(m),
                    _ => {}
                }
            }
            format!("bitwise reg {d} = (reg {s} & {mask}) ^ {xor}")
        }
        Expressions::Immediate(a) => {
            let (mut dreg, mut data) = (0, String::new());
            for x in a {
                match x {
                    Immediate::DestinationRegister(r) => dreg = reg(r),
                    Immediate::Data(d) => data = data_text(d),
                    _ => {}
                }
            }
            format!("immediate reg {dreg} {data}")
        }
        Expressions::Other {
            expression_type,
            attributes,
        } if expression_type == "counter" => {
            let (b, p) = counter_values(attributes);
            format!("counter pkts {p} bytes {b}")
        }
        Expressions::Other {
            expression_type,
            attributes,
        } => {
            let mut s = expression_type.clone();
            for a in attributes {
                let _ = write!(s, " {}={}", a.kind() & 0x3fff, hex(&nla_value(a)));
            }
            s
        }
        other => format!("{name} {other:?}"),
    }
}

/// A comparison's operator as `nft --debug=netlink` shows it.
fn op_text(o: &Operator) -> &'static str {
    match o {
        Operator::Equal => "eq",
        Operator::NotEqual => "neq",
        Operator::LessThan => "lt",
        Operator::LessThanEqual => "lte",
        Operator::GreaterThan => "gt",
        Operator::GreatherThanEqual => "gte",
        _ => "?",
    }
}

/// (bytes, packets) of a counter expression.
fn counter_values(attributes: &[DefaultNla]) -> (u64, u64) {
    let (mut bytes, mut packets) = (0, 0);
    for a in attributes {
        let v = nla_value(a);
        let Ok(v8) = <[u8; 8]>::try_from(v.as_slice()) else {
            continue;
        };
        match a.kind() & 0x3fff {
            1 => bytes = u64::from_be_bytes(v8),
            2 => packets = u64::from_be_bytes(v8),
            _ => {}
        }
    }
    (bytes, packets)
}

/// The comment libnftnl-style user data carries, if any.
fn comment(udata: &[u8]) -> Option<String> {
    let mut rest = udata;
    while rest.len() >= 2 {
        let (t, l) = (rest[0], rest[1] as usize);
        let v = rest.get(2..2 + l)?;
        if t == UDATA_RULE_COMMENT {
            let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
            return Some(String::from_utf8_lossy(&v[..end]).into_owned());
        }
        rest = &rest[2 + l..];
    }
    None
}

/// How `nft` names the standard priorities of tables of the IP families.
fn priority_text(family: u8, prio: i32) -> String {
    let named = match (family, prio) {
        (1 | 2 | 10, -300) => Some("raw"),
        (1 | 2 | 10, -150) => Some("mangle"),
        (1 | 2 | 10, -100) => Some("dstnat"),
        (1 | 2 | 10, 0) => Some("filter"),
        (1 | 2 | 10, 50) => Some("security"),
        (1 | 2 | 10, 100) => Some("srcnat"),
        _ => None,
    };
    named.map_or_else(|| prio.to_string(), str::to_string)
}

/// Marks a rule shown as raw expressions, where it stands instead of nft syntax.
pub(crate) const RAW_MARK: &str = "# not a rule netns-test makes, raw expressions:";

/// One dumped rule: its nft text if it is exactly a rule this crate makes (whatever the
/// table), else [`RAW_MARK`] and its expressions, as `nft --debug=netlink` shows them.
fn rule_body(exprs: &[(String, &Expressions)], comment: Option<String>) -> String {
    let read: Vec<decode::Ex> = exprs.iter().map(|(n, e)| decode::ex(n, e)).collect();
    if let Some(rule) = decode::rule(&read) {
        return rule.to_string();
    }
    let mut s = String::from(RAW_MARK);
    for (name, e) in exprs {
        let _ = write!(s, " [ {} ]", expr_text(name, e));
    }
    if let Some(c) = comment {
        let _ = write!(s, " comment {c:?}");
    }
    s
}

/// A dumped ruleset as `nft list ruleset`-like text, with each rule's handle and counter
/// in a trailing comment. Rules this crate makes are decoded from their expressions back
/// into nft syntax; any other rule shows its raw expressions after [`RAW_MARK`].
pub(crate) fn ruleset(d: &RulesetDump) -> String {
    let mut out = String::new();
    if d.tables.is_empty() {
        out.push_str("# no nf_tables tables in this network namespace\n");
    }
    for (tfam, t) in &d.tables {
        let mut tname = String::new();
        for a in &t.attributes {
            if let TableAttribute::Name(n) = a {
                tname = n.clone();
            }
        }
        let _ = writeln!(out, "table {} {tname} {{", family_name(*tfam));
        for (cfam, c) in d.chains.iter().filter(|(f, _)| f == tfam) {
            let c = DumpedChain::of(c);
            if c.table != tname {
                continue;
            }
            let _ = writeln!(out, "\tchain {} {{", c.name);
            if let Some(h) = c.hook {
                let _ = write!(
                    out,
                    "\t\ttype {} hook {} priority {};",
                    c.kind.as_deref().unwrap_or("filter"),
                    hook_name(*cfam, h),
                    priority_text(*cfam, c.prio.unwrap_or(0))
                );
                if let Some(p) = c.policy {
                    let _ = write!(out, " policy {};", if p == 0 { "drop" } else { "accept" });
                }
                out.push('\n');
            }
            for (_, r) in d.rules.iter().filter(|(f, _)| f == cfam) {
                let r = DumpedRule::of(r);
                if r.table != tname || r.chain != c.name {
                    continue;
                }
                let body = rule_body(&r.exprs, r.text);
                let _ = write!(out, "\t\t{body}  # handle {}", r.handle);
                if let Some((bytes, packets)) = r.counter {
                    let _ = write!(out, ", packets {packets} bytes {bytes}");
                }
                out.push('\n');
            }
            out.push_str("\t}\n");
        }
        out.push_str("}\n");
    }
    for u in &d.undecodable {
        let _ = writeln!(out, "# undecodable: {u}");
    }
    out
}

/// A dumped chain's attributes, for [`ruleset`].
struct DumpedChain {
    table: String,
    name: String,
    kind: Option<String>,
    policy: Option<u32>,
    hook: Option<u32>,
    prio: Option<i32>,
}

impl DumpedChain {
    fn of(c: &ChainMessage) -> Self {
        let mut chain = DumpedChain {
            table: String::new(),
            name: String::new(),
            kind: None,
            policy: None,
            hook: None,
            prio: None,
        };
        for a in &c.attributes {
            match a {
                ChainAttribute::Table(n) => chain.table = n.clone(),
                ChainAttribute::Name(n) => chain.name = n.clone(),
                ChainAttribute::Type(k) => chain.kind = Some(k.clone()),
                ChainAttribute::Policy(p) => chain.policy = Some(*p),
                ChainAttribute::Hook(h) => {
                    for x in h {
                        match x {
                            Hook::Number(n) => chain.hook = Some(u32::from(*n)),
                            Hook::Priority(p) => chain.prio = Some(*p as i32),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        chain
    }
}

/// A dumped rule's attributes, for [`ruleset`]: its expressions with their names, the
/// comment it carries and its counter's (bytes, packets).
struct DumpedRule<'a> {
    table: String,
    chain: String,
    handle: u64,
    exprs: Vec<(String, &'a Expressions)>,
    text: Option<String>,
    counter: Option<(u64, u64)>,
}

impl<'a> DumpedRule<'a> {
    fn of(r: &'a RuleMessage) -> Self {
        let mut rule = DumpedRule {
            table: String::new(),
            chain: String::new(),
            handle: 0,
            exprs: Vec::new(),
            text: None,
            counter: None,
        };
        for a in &r.attributes {
            match a {
                RuleAttribute::Table(n) => rule.table = n.clone(),
                RuleAttribute::Chain(n) => rule.chain = n.clone(),
                RuleAttribute::Handle(h) => rule.handle = *h,
                RuleAttribute::UserData(u) => rule.text = comment(u),
                RuleAttribute::Expressions(list) => {
                    for l in list {
                        let ListAttribute::Element(attrs) = l else {
                            continue;
                        };
                        rule.expression(attrs);
                    }
                }
                _ => {}
            }
        }
        rule
    }

    /// Adds one expression (its name, then its data), and the counter's values if it is
    /// the counter.
    fn expression(&mut self, attrs: &'a [ExpressionAttribute]) {
        let mut name = String::new();
        for x in attrs {
            match x {
                ExpressionAttribute::Name(n) => name = n.clone(),
                ExpressionAttribute::Data(e) => {
                    if let Expressions::Other {
                        expression_type,
                        attributes,
                    } = e
                    {
                        if expression_type == "counter" {
                            self.counter = Some(counter_values(attributes));
                        }
                    }
                    self.exprs.push((name.clone(), e));
                }
                _ => {}
            }
        }
    }
}
