//! The connection tracking table over ctnetlink (`conntrack -L`, `conntrack -F`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute, ConntrackMessage, IPTuple, ProtoInfo, ProtoInfoTCP, ProtoTuple, Protocol,
    Tuple as CtTuple,
};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};

use super::sock::Nfnl;
use super::Proto;
use crate::error::Result;

// enum ip_conntrack_status (nf_conntrack_common.h)
const IPS_SEEN_REPLY: u32 = 1 << 1;
const IPS_ASSURED: u32 = 1 << 2;
const IPS_SRC_NAT: u32 = 1 << 4;
const IPS_DST_NAT: u32 = 1 << 5;

/// One direction of a connection: addresses and ports as the packets carry them.
///
/// For protocols without ports (ICMP, ...) both ports are 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

impl fmt::Display for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "src={} dst={} sport={} dport={}",
            self.src, self.dst, self.sport, self.dport
        )
    }
}

/// The state of a tracked TCP connection (`enum tcp_conntrack`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum TcpState {
    None,
    SynSent,
    SynRecv,
    Established,
    FinWait,
    CloseWait,
    LastAck,
    TimeWait,
    Close,
    SynSent2,
    Other(u8),
}

impl TcpState {
    fn from_u8(n: u8) -> TcpState {
        use TcpState::*;
        match n {
            0 => None,
            1 => SynSent,
            2 => SynRecv,
            3 => Established,
            4 => FinWait,
            5 => CloseWait,
            6 => LastAck,
            7 => TimeWait,
            8 => Close,
            9 => SynSent2,
            n => Other(n),
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TcpState::*;
        let s = match self {
            None => "NONE",
            SynSent => "SYN_SENT",
            SynRecv => "SYN_RECV",
            Established => "ESTABLISHED",
            FinWait => "FIN_WAIT",
            CloseWait => "CLOSE_WAIT",
            LastAck => "LAST_ACK",
            TimeWait => "TIME_WAIT",
            Close => "CLOSE",
            SynSent2 => "SYN_SENT2",
            Other(n) => return write!(f, "STATE{n}"),
        };
        f.write_str(s)
    }
}

/// One tracked connection (a line of `conntrack -L`).
///
/// `orig` is the connection as its first packet looked; `reply` is what the answers carry.
/// With source NAT, `reply.dst` is the mapped address and `reply.dport` the mapped port;
/// with destination NAT, `reply.src` is the real server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The transport protocol.
    pub proto: Proto,
    /// The original direction.
    pub orig: Tuple,
    /// The reply direction.
    pub reply: Tuple,
    /// TCP only: the tracked state.
    pub tcp_state: Option<TcpState>,
    /// `enum ip_conntrack_status` bits (`IPS_*`).
    pub status: u32,
    /// Seconds until the entry expires.
    pub timeout: Option<u32>,
    /// The connection mark.
    pub mark: Option<u32>,
}

impl Entry {
    /// Source NAT (masquerade, snat) rewrote this connection.
    pub fn is_src_nat(&self) -> bool {
        self.status & IPS_SRC_NAT != 0
    }

    /// Destination NAT (dnat, published ports) rewrote this connection.
    pub fn is_dst_nat(&self) -> bool {
        self.status & IPS_DST_NAT != 0
    }

    /// A reply was seen.
    pub fn seen_reply(&self) -> bool {
        self.status & IPS_SEEN_REPLY != 0
    }

    /// Assured: it will not be dropped early when the table fills up.
    pub fn assured(&self) -> bool {
        self.status & IPS_ASSURED != 0
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8} {:<3}",
            self.proto.to_string(),
            self.proto.number()
        )?;
        if let Some(t) = self.timeout {
            write!(f, " {t}")?;
        }
        if let Some(s) = self.tcp_state {
            write!(f, " {s}")?;
        }
        write!(f, " {}", self.orig)?;
        if !self.seen_reply() {
            f.write_str(" [UNREPLIED]")?;
        }
        write!(f, " {}", self.reply)?;
        if self.assured() {
            f.write_str(" [ASSURED]")?;
        }
        if let Some(m) = self.mark {
            write!(f, " mark={m}")?;
        }
        Ok(())
    }
}

fn tuple(parts: &[CtTuple]) -> (Tuple, Option<u8>) {
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let mut t = Tuple {
        src: unspecified,
        dst: unspecified,
        sport: 0,
        dport: 0,
    };
    let mut proto = None;
    for p in parts {
        match p {
            CtTuple::Ip(ips) => {
                for ip in ips {
                    match ip {
                        IPTuple::SourceAddress(a) => t.src = *a,
                        IPTuple::DestinationAddress(a) => t.dst = *a,
                        _ => {}
                    }
                }
            }
            CtTuple::Proto(ps) => {
                for x in ps {
                    match x {
                        ProtoTuple::Protocol(n) => proto = Some(u8::from(*n)),
                        ProtoTuple::SourcePort(n) => t.sport = *n,
                        ProtoTuple::DestinationPort(n) => t.dport = *n,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    (t, proto)
}

fn entry(attrs: &[ConntrackAttribute]) -> Option<Entry> {
    let mut orig = None;
    let mut reply = None;
    let mut proto = None;
    let mut e = Entry {
        proto: Proto::Other(0),
        orig: tuple(&[]).0,
        reply: tuple(&[]).0,
        tcp_state: None,
        status: 0,
        timeout: None,
        mark: None,
    };
    for a in attrs {
        match a {
            ConntrackAttribute::CtaTupleOrig(t) => {
                let (t, p) = tuple(t);
                orig = Some(t);
                proto = proto.or(p);
            }
            ConntrackAttribute::CtaTupleReply(t) => {
                let (t, p) = tuple(t);
                reply = Some(t);
                proto = proto.or(p);
            }
            ConntrackAttribute::CtaProtoInfo(infos) => {
                for i in infos {
                    if let ProtoInfo::TCP(tcp) = i {
                        for x in tcp {
                            if let ProtoInfoTCP::State(s) = x {
                                e.tcp_state = Some(TcpState::from_u8(*s));
                            }
                        }
                    }
                }
            }
            ConntrackAttribute::CtaStatus(s) => e.status = s.bits(),
            ConntrackAttribute::CtaTimeout(t) => e.timeout = Some(*t),
            ConntrackAttribute::CtaMark(m) => e.mark = Some(*m),
            _ => {}
        }
    }
    e.orig = orig?;
    e.reply = reply?;
    e.proto = Proto::from_number(proto?);
    Some(e)
}

fn ct_request(m: ConntrackMessage) -> NetfilterMessage {
    // AF_UNSPEC: IPv4 and IPv6 alike.
    NetfilterMessage::new(NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, 0), m)
}

/// Every tracked connection of the calling thread's network namespace (`conntrack -L`).
///
/// The table is empty until something in the namespace needs tracking (NAT, `ct state`
/// rules).
pub fn list() -> Result<Vec<Entry>> {
    let ctx = "conntrack (this network namespace)";
    let mut s = Nfnl::open().map_err(|f| f.into_error(ctx))?;
    let msgs = s
        .dump(
            ct_request(ConntrackMessage::Get(vec![])),
            "dumping the connection tracking table",
        )
        .map_err(|f| f.into_error(ctx))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            Ok(NetfilterMessage {
                inner: NetfilterMessageInner::Conntrack(ConntrackMessage::New(attrs)),
                ..
            }) => entry(&attrs),
            _ => None,
        })
        .collect())
}

/// Deletes every tracked connection of the calling thread's network namespace
/// (`conntrack -F`): the next packet of each is treated as new, so changed NAT rules apply
/// to connections that already exist.
pub fn flush() -> Result<()> {
    let ctx = "conntrack (this network namespace)";
    let mut s = Nfnl::open().map_err(|f| f.into_error(ctx))?;
    s.request(
        ct_request(ConntrackMessage::Delete(vec![])),
        "flushing the connection tracking table",
    )
    .map_err(|f| f.into_error(ctx))
}

/// Deletes the tracked connections of the calling thread's network namespace for which
/// `which` is true (`conntrack -D` with a filter), and returns how many were deleted: the
/// next packet of each is treated as new. A connection that ended meanwhile is skipped.
pub fn delete(which: impl Fn(&Entry) -> bool) -> Result<usize> {
    let ctx = "conntrack (this network namespace)";
    let chosen: Vec<Entry> = list()?.into_iter().filter(|e| which(e)).collect();
    let mut s = Nfnl::open().map_err(|f| f.into_error(ctx))?;
    let mut deleted = 0;
    for e in &chosen {
        let tuple = vec![
            CtTuple::Ip(vec![
                IPTuple::SourceAddress(e.orig.src),
                IPTuple::DestinationAddress(e.orig.dst),
            ]),
            CtTuple::Proto(vec![
                ProtoTuple::Protocol(Protocol::from(e.proto.number())),
                ProtoTuple::SourcePort(e.orig.sport),
                ProtoTuple::DestinationPort(e.orig.dport),
            ]),
        ];
        let what = format!("deleting the tracked connection {}", e.orig);
        // A delete by tuple needs the tuple's family (AF_UNSPEC: EOPNOTSUPP).
        let family = if e.orig.src.is_ipv6() {
            NetfilterProtoFamily::IPv6
        } else {
            NetfilterProtoFamily::IPv4
        };
        let msg = NetfilterMessage::new(
            NetfilterHeader::new(family, 0, 0),
            ConntrackMessage::Delete(vec![ConntrackAttribute::CtaTupleOrig(tuple)]),
        );
        match s.request(msg, &what) {
            Ok(()) => deleted += 1,
            Err(f) if f.source.raw_os_error() == Some(libc::ENOENT) => {}
            Err(f) => return Err(f.into_error(ctx)),
        }
    }
    Ok(deleted)
}
