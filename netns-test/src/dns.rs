//! The sandbox's name service: like Docker's embedded DNS at `127.0.0.11`, every node runs
//! a tiny responder that answers `A`/`AAAA` queries for the node names *that node* may
//! know (see [`crate::topology::Plan::names_for`]), and `NXDOMAIN` at once for anything
//! else, so lookups of outside names fail fast instead of timing out.
//!
//! The sandbox's `/etc/resolv.conf` points at it and its `/etc/nsswitch.conf` says
//! `hosts: files dns`, so glibc (`getaddrinfo`, `ping`, `curl`), Rust's
//! `ToSocketAddrs` and tokio all resolve through it, each in the node it runs in.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The address every node's resolver file names, like Docker's embedded DNS.
pub(crate) const ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// The port the responder really listens on. `ADDR:53` is DNATed to it in every node (as
/// Docker does), so that port 53 stays free for DNS servers under test: a UDP socket on
/// `127.0.0.11:53` would make their `0.0.0.0:53` fail with EADDRINUSE.
pub(crate) const PORT: u16 = 53053;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u8 = 1;
const RCODE_NXDOMAIN: u8 = 3;
const TTL: u32 = 0;

/// Names a node can resolve, lower-cased, with their addresses.
pub(crate) type Zone = HashMap<String, Vec<IpAddr>>;

/// Reads the question's name from a query: labels from offset 12; returns the name and
/// the offset just past the name.
fn qname(msg: &[u8]) -> Option<(String, usize)> {
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return None; // no compression in questions
        }
        let label = msg.get(pos..pos + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += len;
    }
    Some((labels.join("."), pos))
}

/// The answer to one query (`None` for something that is not a query at all).
pub(crate) fn answer(zone: &Zone, query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None; // too short, or a response
    }
    let qdcount = u16::from_be_bytes([query[4], query[5]]);
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&query[..2]); // id
    let rd = query[2] & 0x01;
    let parsed = (qdcount == 1).then(|| qname(query)).flatten();
    let Some((name, end)) = parsed.filter(|(_, end)| query.len() >= end + 4) else {
        out.extend_from_slice(&[0x80 | rd, RCODE_FORMERR, 0, 0, 0, 0, 0, 0, 0, 0]);
        return Some(out);
    };
    let qtype = u16::from_be_bytes([query[end], query[end + 1]]);
    let qclass = u16::from_be_bytes([query[end + 2], query[end + 3]]);
    let name = name.trim_end_matches('.');
    let addrs = zone.get(name);
    let answers: Vec<&IpAddr> = match (addrs, qclass) {
        (Some(a), CLASS_IN) => a
            .iter()
            .filter(|ip| (qtype == TYPE_A && ip.is_ipv4()) || (qtype == TYPE_AAAA && ip.is_ipv6()))
            .collect(),
        _ => Vec::new(),
    };
    // Authoritative answer; recursion "available" so resolvers do not complain.
    let rcode = if addrs.is_some() { 0 } else { RCODE_NXDOMAIN };
    out.extend_from_slice(&[0x84 | rd, 0x80 | rcode]);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..end + 4]);
    for ip in answers {
        out.extend_from_slice(&[0xc0, 12]); // pointer to the question's name
        let (ty, data): (u16, Vec<u8>) = match ip {
            IpAddr::V4(v4) => (TYPE_A, v4.octets().to_vec()),
            IpAddr::V6(v6) => (TYPE_AAAA, v6.octets().to_vec()),
        };
        out.extend_from_slice(&ty.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    Some(out)
}

/// Binds the responder's socket in the calling thread's netns (its `lo` must be up).
pub(crate) fn bind() -> std::io::Result<std::net::UdpSocket> {
    let sock = std::net::UdpSocket::bind(SocketAddr::new(IpAddr::V4(ADDR), PORT))?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// `ADDR:53` to the responder: `nat output ip daddr 127.0.0.11 udp dport 53 dnat to
/// 127.0.0.11:53053`, in a table of its own so that the node's other rules can be
/// replaced at run time without touching it.
pub(crate) fn redirect() -> crate::nft::Ruleset {
    crate::nft::Ruleset::named("netns_test_dns").dnat(
        crate::nft::Proto::Udp,
        Some(IpAddr::V4(ADDR)),
        53,
        SocketAddr::new(IpAddr::V4(ADDR), PORT),
    )
}

/// Answers queries on `sock` forever.
pub(crate) async fn serve(sock: std::net::UdpSocket, zone: Zone) {
    let Ok(sock) = tokio::net::UdpSocket::from_std(sock) else {
        return;
    };
    let mut buf = [0u8; 512];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = answer(&zone, &buf[..n]) {
            let _ = sock.send_to(&reply, peer).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    fn zone() -> Zone {
        Zone::from([(
            "con2".to_string(),
            vec!["172.18.0.3".parse().unwrap(), "fd00::3".parse().unwrap()],
        )])
    }

    #[test]
    fn answers_a_with_the_address() {
        let r = answer(&zone(), &query("CON2", TYPE_A)).unwrap();
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[3] & 0x0f, 0, "no error");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        assert_eq!(&r[r.len() - 4..], &[172, 18, 0, 3]);
    }

    #[test]
    fn answers_aaaa_separately() {
        let r = answer(&zone(), &query("con2", TYPE_AAAA)).unwrap();
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        assert_eq!(
            &r[r.len() - 16..],
            &"fd00::3".parse::<std::net::Ipv6Addr>().unwrap().octets()
        );
    }

    #[test]
    fn unknown_names_are_nxdomain_at_once() {
        let r = answer(&zone(), &query("con3", TYPE_A)).unwrap();
        assert_eq!(r[3] & 0x0f, RCODE_NXDOMAIN);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);
    }

    #[test]
    fn garbage_is_a_format_error_not_a_crash() {
        let r = answer(&zone(), &[0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63]).unwrap();
        assert_eq!(r[3] & 0x0f, RCODE_FORMERR);
        assert!(answer(&zone(), &[1, 2, 3]).is_none());
    }
}
