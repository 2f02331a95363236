//! What happened to a probe: its outcome, the ICMP error behind it, and the result in
//! words. Pure: classifying and describing need no socket and no node.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::wait::fmt_dur;
use super::Probe;
#[cfg(doc)]
use super::ReachCheck;
#[cfg(doc)]
use crate::Node;

/// What happened to a probe.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The target answered: an echo reply, a completed handshake, a datagram back.
    Reached,
    /// No answer within the deadline.
    Timeout,
    /// Refused by the target itself: a TCP reset (`ECONNREFUSED`), or an ICMP destination
    /// unreachable whose source is the target (port unreachable: nothing listens; or
    /// administratively prohibited: its own firewall rejects it). The packet got there, so
    /// this is neither reached (nothing accepted it) nor isolation (the path exists): every
    /// check fails on it, [`Node::assert_cannot_reach`] included. A TCP reset carries no
    /// sender: one sent by a `reject` rule on a router counts as refused too.
    Refused,
    /// Network unreachable (`ENETUNREACH`): no route, here or at a router on the way; or a
    /// blackhole route in the source (`EINVAL`); or a source with no address of the
    /// probed family, only loopback or link-local ones (a `--net none` container, an
    /// IPv4-only node probing IPv6): its kernel sends nothing, which is the isolation such
    /// a node has ([`ProbeResult::no_source`] names the node and what would let it reach).
    NetUnreachable,
    /// Host unreachable (`EHOSTUNREACH`): a router (or the source itself) could not
    /// deliver it.
    HostUnreachable,
    /// Blocked by a firewall rule before the target: an ICMP "administratively
    /// prohibited" or "port unreachable" sent by a router on the way (a `reject` rule in
    /// between), or `EPERM`/`EACCES` when a rule or a `prohibit` route in the source
    /// stopped it.
    Prohibited,
    /// The probe could not be sent, in words naming the node, name, address family or
    /// `errno` and the remedy: an unknown node or name, a target with no address of the
    /// probed family, a socket that could not be opened, an unexpected error. Every check
    /// fails on it, the negative ones included. (A *source* with no address of the family
    /// is [`Outcome::NetUnreachable`]: the isolation of a node attached to nothing.)
    Failed(String),
}

impl Outcome {
    /// True for [`Outcome::Reached`]: the probe got through to something that answers.
    pub fn is_reached(&self) -> bool {
        matches!(self, Outcome::Reached)
    }

    /// True for [`Outcome::Refused`]: the target's own stack answered that nothing listens
    /// (or that its own firewall rejects it).
    pub fn is_refused(&self) -> bool {
        matches!(self, Outcome::Refused)
    }

    /// True when the probe was stopped before the target's stack: a timeout, an
    /// unreachable network or host (a source with no route out included), a firewall rule
    /// on the way. These, and only these, satisfy [`ReachCheck::cannot_reach`] and a
    /// matrix's `n`.
    pub fn is_blocked(&self) -> bool {
        matches!(
            self,
            Outcome::Timeout
                | Outcome::NetUnreachable
                | Outcome::HostUnreachable
                | Outcome::Prohibited
        )
    }

    /// The outcome of an error, given the ICMP error behind it (if any) and whether that
    /// ICMP error came from the target itself (an address of the target's node).
    pub(super) fn classify(
        e: &io::Error,
        icmp: Option<&IcmpNotice>,
        icmp_from_target: bool,
    ) -> Outcome {
        if let Some(n) = icmp.filter(|n| n.is_dest_unreachable()) {
            if icmp_from_target {
                return Outcome::Refused;
            }
            if n.is_prohibited() || n.is_port_unreachable() {
                return Outcome::Prohibited;
            }
        }
        match e.raw_os_error() {
            Some(libc::ECONNREFUSED) => Outcome::Refused,
            Some(libc::ENETUNREACH) => Outcome::NetUnreachable,
            Some(libc::EHOSTUNREACH | libc::EHOSTDOWN) => Outcome::HostUnreachable,
            Some(libc::EACCES | libc::EPERM) => Outcome::Prohibited,
            Some(libc::ETIMEDOUT) => Outcome::Timeout,
            _ => Outcome::Failed(format!("unexpected error {}", errno_text(e))),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Reached => f.write_str("reached"),
            Outcome::Timeout => f.write_str("timeout"),
            Outcome::Refused => f.write_str("refused: the path exists, nothing listens"),
            Outcome::NetUnreachable => f.write_str("network unreachable"),
            Outcome::HostUnreachable => f.write_str("host unreachable"),
            Outcome::Prohibited => f.write_str("prohibited"),
            Outcome::Failed(s) => write!(f, "could not probe: {s}"),
        }
    }
}

/// `EACCES (Permission denied)`.
pub(super) fn errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let errno = nix::errno::Errno::from_raw(n);
            format!("{errno:?} ({})", errno.desc())
        }
        None => e.to_string(),
    }
}

/// An ICMP error that came back for a probe (read from the socket's error queue).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IcmpNotice {
    /// Who sent it: a router on the way, the target, or the source itself.
    pub from: Option<IpAddr>,
    /// The node that has that address, if one does.
    pub from_node: Option<String>,
    /// ICMPv6 rather than ICMP.
    pub v6: bool,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
}

impl IcmpNotice {
    /// ICMP destination unreachable (type 3), ICMPv6 destination unreachable (type 1).
    fn is_dest_unreachable(&self) -> bool {
        self.icmp_type == if self.v6 { 1 } else { 3 }
    }

    /// Port (or protocol) unreachable: what a host answers when nothing listens, and what
    /// a `reject` rule sends.
    fn is_port_unreachable(&self) -> bool {
        if self.v6 {
            self.icmp_type == 1 && self.code == 4
        } else {
            self.icmp_type == 3 && matches!(self.code, 2 | 3)
        }
    }

    fn is_prohibited(&self) -> bool {
        if self.v6 {
            self.icmp_type == 1 && matches!(self.code, 1 | 5 | 6)
        } else {
            self.icmp_type == 3 && matches!(self.code, 9 | 10 | 13)
        }
    }

    fn meaning(&self) -> String {
        let (t, c) = (self.icmp_type, self.code);
        let s = if self.v6 {
            match (t, c) {
                (1, 0) => "destination unreachable, no route",
                (1, 1) => "destination unreachable, administratively prohibited",
                (1, 2) => "destination unreachable, beyond scope of source address",
                (1, 3) => "destination unreachable, address unreachable",
                (1, 4) => "destination unreachable, port unreachable",
                (1, 5) => "destination unreachable, source address failed policy",
                (1, 6) => "destination unreachable, reject route",
                (1, _) => "destination unreachable",
                (2, _) => "packet too big",
                (3, _) => "time exceeded (hop limit)",
                (4, _) => "parameter problem",
                _ => "",
            }
        } else {
            match (t, c) {
                (3, 0) => "destination unreachable, net unreachable",
                (3, 1) => "destination unreachable, host unreachable",
                (3, 2) => "destination unreachable, protocol unreachable",
                (3, 3) => "destination unreachable, port unreachable",
                (3, 4) => "destination unreachable, fragmentation needed",
                (3, 6) => "destination unreachable, network unknown",
                (3, 7) => "destination unreachable, host unknown",
                (3, 9) => "destination unreachable, network administratively prohibited",
                (3, 10) => "destination unreachable, host administratively prohibited",
                (3, 13) => "destination unreachable, communication administratively prohibited",
                (3, _) => "destination unreachable",
                (11, _) => "time exceeded (TTL)",
                (12, _) => "parameter problem",
                _ => "",
            }
        };
        let kind = if self.v6 { "ICMPv6" } else { "ICMP" };
        if s.is_empty() {
            format!("{kind} type {t} code {c}")
        } else {
            format!("{kind} {s} (type {t} code {c})")
        }
    }
}

/// The result of one probe from one node to one target.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProbeResult {
    /// The source node.
    pub from: String,
    /// The target as named in messages: `con3 (172.19.0.2)`.
    pub to: String,
    /// The target address, when it could be resolved.
    pub addr: Option<IpAddr>,
    /// The probe.
    pub probe: Probe,
    /// What happened.
    pub outcome: Outcome,
    /// Time to the answer (or to giving up).
    pub elapsed: Duration,
    /// The deadline the probe had.
    pub wait: Duration,
    /// Echo requests, connection attempts or datagrams sent.
    pub sent: u32,
    /// The `errno` of a failure, if there was one.
    pub errno: Option<i32>,
    /// The ICMP error that came back, if any.
    pub icmp: Option<IcmpNotice>,
    /// When the source has no address of the probed family to send from (only loopback or
    /// link-local ones, like a `--net none` container), so that its kernel sent nothing
    /// ([`Outcome::NetUnreachable`]): the sentence naming the node, its addresses and what
    /// would let it reach.
    pub no_source: Option<String>,
}

impl ProbeResult {
    fn v6(&self) -> bool {
        self.addr.is_some_and(|a| a.is_ipv6())
    }

    pub(super) fn probe_name(&self) -> String {
        self.probe.describe(self.v6())
    }

    /// What happened, in words: `timeout: no answer within 300 ms (3 echo requests sent)`.
    pub fn what_happened(&self) -> String {
        let elapsed = fmt_dur(self.elapsed);
        let unit = |n: u32| -> String {
            let (one, many) = match self.probe {
                Probe::Icmp => ("echo request", "echo requests"),
                Probe::Tcp(_) => ("connection attempt", "connection attempts"),
                Probe::Udp(_) => ("datagram", "datagrams"),
            };
            format!("{n} {}", if n == 1 { one } else { many })
        };
        let sock = self
            .addr
            .map(|a| SocketAddr::new(a, self.probe.port()).to_string())
            .unwrap_or_default();
        let icmp = self.icmp.as_ref().map(|n| match n.from {
            Some(from) => match &n.from_node {
                Some(node) => format!("; {} from {node} ({from})", n.meaning()),
                None => format!("; {} from {from}", n.meaning()),
            },
            None => format!("; {}", n.meaning()),
        });
        let icmp = icmp.unwrap_or_default();
        match &self.outcome {
            Outcome::Reached => match self.probe {
                Probe::Icmp => format!("echo reply after {elapsed}"),
                Probe::Tcp(_) => format!("connected to {sock} after {elapsed}"),
                Probe::Udp(_) => format!("answer from {sock} after {elapsed}"),
            },
            Outcome::Timeout => {
                let hint = match self.probe {
                    Probe::Udp(p) => format!(
                        "; is something answering on UDP port {p} there? (Node::udp_echo)"
                    ),
                    Probe::Tcp(_) => "; no SYN-ACK, no reset".to_string(),
                    Probe::Icmp => String::new(),
                };
                let errno = if self.errno == Some(libc::ETIMEDOUT) {
                    ", ETIMEDOUT"
                } else {
                    ""
                };
                format!(
                    "timeout: no answer within {} ({} sent{errno}{hint})",
                    fmt_dur(self.wait),
                    unit(self.sent)
                )
            }
            Outcome::Refused => {
                let target_fw = self.icmp.as_ref().is_some_and(IcmpNotice::is_prohibited);
                match self.probe {
                    _ if target_fw => format!(
                        "refused: the path exists, the target's own firewall rejects it{icmp}; after {elapsed}"
                    ),
                    Probe::Tcp(_) if icmp.is_empty() => format!(
                        "refused: the path exists, nothing listens on {sock} (TCP reset, ECONNREFUSED; a rule rejecting with a reset looks the same); after {elapsed}"
                    ),
                    Probe::Tcp(_) => format!(
                        "refused: the path exists, nothing listens on {sock}{icmp}; after {elapsed}"
                    ),
                    Probe::Udp(_) if icmp.is_empty() => format!(
                        "refused: the path exists, nothing listens on UDP {sock} (ICMP port unreachable, ECONNREFUSED); after {elapsed}"
                    ),
                    Probe::Udp(_) => format!(
                        "refused: the path exists, nothing listens on UDP {sock}{icmp}; after {elapsed}"
                    ),
                    Probe::Icmp => format!(
                        "refused: the path exists, the target does not answer echo requests (ECONNREFUSED){icmp}; after {elapsed}"
                    ),
                }
            }
            Outcome::NetUnreachable if self.errno == Some(libc::EINVAL) => format!(
                "network unreachable (EINVAL): a blackhole route in {} toward {} discards it (at once, nothing was sent)",
                self.from,
                self.addr.map(|a| a.to_string()).unwrap_or_default()
            ),
            Outcome::NetUnreachable if self.no_source.is_some() => format!(
                "no route from {}: {}",
                self.from,
                self.no_source.as_deref().unwrap_or_default()
            ),
            Outcome::NetUnreachable => {
                if icmp.is_empty() {
                    format!(
                        "network unreachable (ENETUNREACH): {} has no route to {} (at once, nothing was sent)",
                        self.from,
                        self.addr.map(|a| a.to_string()).unwrap_or_default()
                    )
                } else {
                    format!("network unreachable (ENETUNREACH){icmp}; after {elapsed}")
                }
            }
            Outcome::HostUnreachable if icmp.is_empty() => format!(
                "host unreachable (EHOSTUNREACH: no neighbour answered ARP/ND, or an unreachable route); after {elapsed}"
            ),
            Outcome::HostUnreachable => {
                format!("host unreachable (EHOSTUNREACH){icmp}; after {elapsed}")
            }
            Outcome::Prohibited => {
                let on_the_way = self
                    .icmp
                    .as_ref()
                    .is_some_and(|n| n.is_port_unreachable() && !n.is_prohibited());
                let why = match self.errno {
                    _ if on_the_way => format!(
                        "{}, not from the target: a reject rule on the way",
                        icmp.trim_start_matches("; ")
                    ),
                    _ if !icmp.is_empty() => icmp.trim_start_matches("; ").to_string(),
                    Some(libc::EPERM) => format!(
                        "EPERM: a netfilter rule in {} dropped it on the way out",
                        self.from
                    ),
                    Some(libc::EACCES) => {
                        "EACCES: rejected by a rule or a prohibit route".to_string()
                    }
                    _ => "a rule rejected it".to_string(),
                };
                format!("prohibited ({why}); after {elapsed}")
            }
            Outcome::Failed(s) => format!("could not probe: {s}"),
        }
    }
}

impl fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} by {}: {}",
            self.from,
            self.to,
            self.probe_name(),
            self.what_happened()
        )
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::reach::ISOLATION_WAIT;

    /// An ICMP error of `icmp_type`/`code` sent by `from`.
    pub(in crate::reach) fn notice(v6: bool, icmp_type: u8, code: u8, from: &str) -> IcmpNotice {
        IcmpNotice {
            from: Some(from.parse().unwrap()),
            from_node: None,
            v6,
            icmp_type,
            code,
        }
    }

    /// A probe from `a` to `b (10.0.0.3)` that ended in `outcome`.
    pub(in crate::reach) fn result(
        probe: Probe,
        outcome: Outcome,
        icmp: Option<IcmpNotice>,
    ) -> ProbeResult {
        ProbeResult {
            from: "a".into(),
            to: "b (10.0.0.3)".into(),
            addr: Some("10.0.0.3".parse().unwrap()),
            probe,
            outcome,
            elapsed: Duration::from_micros(200),
            wait: ISOLATION_WAIT,
            sent: 1,
            errno: None,
            icmp,
            no_source: None,
        }
    }

    /// Asserts that `text` holds every one of `parts`.
    pub(in crate::reach) fn has(text: &str, parts: &[&str]) {
        for p in parts {
            assert!(text.contains(p), "missing {p:?} in:\n{text}");
        }
    }

    #[test]
    fn icmp_notices_name_the_reason() {
        let n = notice(false, 3, 13, "10.0.0.1");
        assert!(n.is_prohibited());
        assert!(n.meaning().contains("administratively prohibited"));
        let e = io::Error::from_raw_os_error(libc::EHOSTUNREACH);
        assert_eq!(Outcome::classify(&e, Some(&n), false), Outcome::Prohibited);
        assert_eq!(Outcome::classify(&e, None, true), Outcome::HostUnreachable);
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(Outcome::classify(&e, None, true), Outcome::Refused);
    }

    /// A refusal is the target's own answer; the same ICMP error from anyone else is a
    /// rule on the way, and only blocked outcomes satisfy a negative check.
    #[test]
    fn refusals_come_from_the_target() {
        let err = io::Error::from_raw_os_error;
        let refused = err(libc::ECONNREFUSED);
        let hostunreach = err(libc::EHOSTUNREACH);
        let port = notice(false, 3, 3, "10.0.0.3");
        let port6 = notice(true, 1, 4, "fd00::3");
        let admin = notice(false, 3, 13, "10.0.0.3");
        let admin6 = notice(true, 1, 1, "fd00::1");
        use Outcome::*;
        // A TCP reset carries no sender: refused.
        assert_eq!(Outcome::classify(&refused, None, true), Refused);
        // Port unreachable: refused from the target, blocked from a router.
        assert_eq!(Outcome::classify(&refused, Some(&port), true), Refused);
        assert_eq!(Outcome::classify(&refused, Some(&port), false), Prohibited);
        assert_eq!(Outcome::classify(&refused, Some(&port6), true), Refused);
        assert_eq!(Outcome::classify(&refused, Some(&port6), false), Prohibited);
        // The target's own firewall: the packet got there.
        assert_eq!(Outcome::classify(&hostunreach, Some(&admin), true), Refused);
        assert_eq!(
            Outcome::classify(&hostunreach, Some(&admin), false),
            Prohibited
        );
        assert_eq!(
            Outcome::classify(&hostunreach, Some(&admin6), false),
            Prohibited
        );
        // Routers that cannot deliver.
        let net = notice(false, 3, 0, "192.168.1.1");
        assert_eq!(
            Outcome::classify(&err(libc::ENETUNREACH), Some(&net), false),
            NetUnreachable
        );
        let host = notice(false, 3, 1, "10.0.0.2");
        assert_eq!(
            Outcome::classify(&hostunreach, Some(&host), false),
            HostUnreachable
        );
        assert_eq!(Outcome::classify(&err(libc::EPERM), None, true), Prohibited);
        // Anything unexpected is an error that names the errno.
        let Failed(why) = Outcome::classify(&err(libc::EMSGSIZE), None, true) else {
            panic!("EMSGSIZE is not an outcome")
        };
        assert!(why.contains("EMSGSIZE (Message too long)"), "{why}");

        for (o, blocked) in [
            (Reached, false),
            (Refused, false),
            (Failed("x".into()), false),
            (Timeout, true),
            (NetUnreachable, true),
            (HostUnreachable, true),
            (Prohibited, true),
        ] {
            assert_eq!(o.is_blocked(), blocked, "{o}");
            assert_eq!(o.is_refused(), o == Refused, "{o}");
        }
        assert_eq!(
            Refused.to_string(),
            "refused: the path exists, nothing listens"
        );
    }

    /// A source with only loopback is isolated: network unreachable, blocked, and the words
    /// say why and how to attach it.
    #[test]
    fn a_source_without_an_address_has_no_route() {
        let mut r = result(Probe::Icmp, Outcome::NetUnreachable, None);
        r.errno = Some(libc::ENETUNREACH);
        r.no_source = Some("node \"a\" has no IPv4 address to send from".into());
        assert!(r.outcome.is_blocked());
        assert_eq!(
            r.what_happened(),
            "no route from a: node \"a\" has no IPv4 address to send from"
        );
    }

    #[test]
    fn a_reject_on_the_way_is_not_a_refusal() {
        let r = result(
            Probe::Udp(7),
            Outcome::Prohibited,
            Some(IcmpNotice {
                from_node: Some("router".into()),
                ..notice(false, 3, 3, "192.168.1.1")
            }),
        );
        has(
            &r.what_happened(),
            &["prohibited (ICMP destination unreachable, port unreachable (type 3 code 3) from router (192.168.1.1), not from the target: a reject rule on the way)"],
        );
        let mut r = result(Probe::Tcp(80), Outcome::NetUnreachable, None);
        r.errno = Some(libc::EINVAL);
        has(
            &r.what_happened(),
            &["network unreachable (EINVAL): a blackhole route in a toward 10.0.0.3 discards it"],
        );
    }
}
