//! Installing a [`Nat`] in the calling thread's network namespace, reading its mappings
//! and timeouts back, and expiring its mappings.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::conntrack_impl::{self as conntrack, Entry};
use super::nat::{Nat, NatMapping, NatTimeouts, NAT_TABLE};
use super::{sets, sock, Proto};
use crate::error::{Error, Result};

const UDP: &str = "net/netfilter/nf_conntrack_udp_timeout";
const UDP_STREAM: &str = "net/netfilter/nf_conntrack_udp_timeout_stream";
const TCP_ESTABLISHED: &str = "net/netfilter/nf_conntrack_tcp_timeout_established";

/// Installs `nat` for a router whose LAN interfaces are `lans`, replacing the previous NAT
/// (its table `inet netns_nat`, maps emptied) in one transaction, then sets its timeouts.
pub(crate) fn apply_nat(nat: &Nat, lans: &[String]) -> Result<()> {
    if let Err(e) = nat.validate() {
        return Err(Error::Nft {
            what: format!("invalid NAT for table inet {NAT_TABLE}: {e}"),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
            detail: String::new(),
        });
    }
    if lans.is_empty() && nat.mapping != super::Mapping::None {
        return Err(Error::Nft {
            what: format!(
                "NAT for table inet {NAT_TABLE}: the router holds no LAN (a bridge in the \
                 node, `bridge_with(.., |b| b.in_node(ROUTER))`) to translate"
            ),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
            detail: String::new(),
        });
    }
    let batch = sets::nat_batch(nat, lans);
    sock::Nfnl::open()
        .and_then(|mut s| s.batch(&batch))
        .map_err(|e| sock::apply_error(NAT_TABLE, e))?;
    if nat.mapping == super::Mapping::None {
        return Ok(());
    }
    let t = &nat.timeouts;
    for (key, d) in [
        (UDP, t.udp),
        (UDP_STREAM, t.udp_stream),
        (TCP_ESTABLISHED, t.tcp_established),
    ] {
        let path = format!("/proc/sys/{key}");
        std::fs::write(&path, d.as_secs().to_string())
            .map_err(|e| Error::sys(format!("setting the NAT's timeout: writing {path}"), e))?;
    }
    Ok(())
}

/// The NAT timeouts of the calling thread's network namespace.
pub(crate) fn nat_timeouts() -> Result<NatTimeouts> {
    let read = |key: &str| -> Result<Duration> {
        let path = format!("/proc/sys/{key}");
        let text =
            std::fs::read_to_string(&path).map_err(|e| Error::sys(format!("reading {path}"), e))?;
        let secs = text.trim().parse::<u64>().map_err(|_| {
            Error::sys(
                format!("reading {path}: {text:?} is not a number of seconds"),
                std::io::Error::from(std::io::ErrorKind::InvalidData),
            )
        })?;
        Ok(Duration::from_secs(secs))
    };
    Ok(NatTimeouts {
        udp: read(UDP)?,
        udp_stream: read(UDP_STREAM)?,
        tcp_established: read(TCP_ESTABLISHED)?,
    })
}

fn mapping_of(e: &Entry) -> Option<NatMapping> {
    if !e.is_src_nat() || e.is_dst_nat() {
        return None;
    }
    Some(NatMapping {
        proto: e.proto,
        internal: SocketAddr::new(e.orig.src, e.orig.sport),
        external: SocketAddr::new(e.reply.dst, e.reply.dport),
        remote: SocketAddr::new(e.orig.dst, e.orig.dport),
    })
}

/// The NAT's current mappings in the calling thread's network namespace: every
/// source-NATed flow that a LAN host started, sorted by internal, then remote endpoint.
pub(crate) fn mappings() -> Result<Vec<NatMapping>> {
    let mut v: Vec<NatMapping> = conntrack::list()?.iter().filter_map(mapping_of).collect();
    v.sort_by_key(|m| (m.internal, m.remote, m.proto.number()));
    Ok(v)
}

/// Forgets the NAT's mappings now, those of LAN host `host` or all: their tracked
/// connections (outbound ones and those let in through them) and their elements in the
/// NAT's maps, so that the next packet makes a new mapping. Returns how many tracked
/// connections were deleted.
pub(crate) fn expire_mappings(host: Option<IpAddr>) -> Result<usize> {
    let all = conntrack::list()?;
    let ours = |e: &Entry| match host {
        None => e.is_src_nat() || e.is_dst_nat(),
        // Outbound: the host is the original source; let in: the host answers.
        Some(h) => (e.is_src_nat() && e.orig.src == h) || (e.is_dst_nat() && e.reply.src == h),
    };
    let chosen: Vec<&Entry> = all.iter().filter(|e| ours(e)).collect();
    let mut s = sock::Nfnl::open().map_err(|e| sock::apply_error(NAT_TABLE, e))?;
    let ignore_missing = |r: std::result::Result<(), sock::Failure>| match r {
        Err(f) if f.source.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r,
    };
    let batches: Vec<_> = match host {
        None => sets::flush_sets_batch(&[sets::SET_OUT, sets::SET_IN, sets::SET_ADF]),
        Some(_) => {
            let mut v = Vec::new();
            for m in chosen.iter().filter_map(|e| mapping_of(e)) {
                if !matches!(m.proto, Proto::Tcp | Proto::Udp) {
                    continue;
                }
                let (ip, port) = (m.internal.ip(), m.internal.port());
                v.push(sets::delete_element(
                    sets::SET_OUT,
                    sets::key_out(m.proto, ip, port),
                ));
                let ext = m.external.port();
                v.push(sets::delete_element(
                    sets::SET_IN,
                    sets::key_in(m.proto, ext),
                ));
                v.push(sets::delete_element(
                    sets::SET_ADF,
                    sets::key_adf(m.proto, ext, m.remote.ip()),
                ));
            }
            v
        }
    };
    for b in batches {
        ignore_missing(s.batch(std::slice::from_ref(&b)))
            .map_err(|e| sock::apply_error(NAT_TABLE, e))?;
    }
    // By tuple: the entries' timeouts tick between the two listings.
    conntrack::delete(|e| {
        chosen
            .iter()
            .any(|c| c.proto == e.proto && c.orig == e.orig)
    })
}
