//! The STUN messages the NAT reflector speaks (RFC 5389 binding requests and responses,
//! with RFC 5780's CHANGE-REQUEST, RESPONSE-ORIGIN and OTHER-ADDRESS), IPv4 only: enough
//! for [`super::nat`]'s classifier and for a STUN client under test.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

/// The fixed cookie of every RFC 5389 message.
const MAGIC: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_RESPONSE: u16 = 0x0101;
const MAPPED_ADDRESS: u16 = 0x0001;
const CHANGE_REQUEST: u16 = 0x0003;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const RESPONSE_ORIGIN: u16 = 0x802b;
const OTHER_ADDRESS: u16 = 0x802c;
/// CHANGE-REQUEST flags.
const CHANGE_IP: u32 = 0x4;
const CHANGE_PORT: u32 = 0x2;

/// Where a request asks the answer to come from (RFC 5780 CHANGE-REQUEST).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) ip: bool,
    pub(crate) port: bool,
}

/// A STUN message this module reads or writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    /// A binding request, with its transaction id.
    Request { id: [u8; 12], change: Change },
    /// A binding response: the source endpoint the reflector saw.
    Response {
        id: [u8; 12],
        mapped: SocketAddr,
        origin: Option<SocketAddr>,
    },
}

pub(crate) fn request(id: [u8; 12], change: Change) -> Vec<u8> {
    let mut attrs = Vec::new();
    if change.ip || change.port {
        let flags =
            if change.ip { CHANGE_IP } else { 0 } | if change.port { CHANGE_PORT } else { 0 };
        attr(&mut attrs, CHANGE_REQUEST, &flags.to_be_bytes());
    }
    message(BINDING_REQUEST, id, &attrs)
}

/// A binding response to `id`: `mapped` (as MAPPED-ADDRESS and XOR-MAPPED-ADDRESS), the
/// endpoint it is sent from and the reflector's other endpoint.
pub(crate) fn response(
    id: [u8; 12],
    mapped: SocketAddrV4,
    origin: SocketAddrV4,
    other: SocketAddrV4,
) -> Vec<u8> {
    let mut attrs = Vec::new();
    attr(&mut attrs, MAPPED_ADDRESS, &addr_value(mapped, None));
    attr(
        &mut attrs,
        XOR_MAPPED_ADDRESS,
        &addr_value(mapped, Some(id)),
    );
    attr(&mut attrs, RESPONSE_ORIGIN, &addr_value(origin, None));
    attr(&mut attrs, OTHER_ADDRESS, &addr_value(other, None));
    message(BINDING_RESPONSE, id, &attrs)
}

fn message(kind: u16, id: [u8; 12], attrs: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(20 + attrs.len());
    m.extend_from_slice(&kind.to_be_bytes());
    m.extend_from_slice(&u16::try_from(attrs.len()).unwrap_or(0).to_be_bytes());
    m.extend_from_slice(&MAGIC.to_be_bytes());
    m.extend_from_slice(&id);
    m.extend_from_slice(attrs);
    m
}

fn attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// An address attribute's value; XORed with the cookie (the port's high half) when `id`
/// is given (the transaction id takes part only for IPv6).
fn addr_value(a: SocketAddrV4, xor: Option<[u8; 12]>) -> [u8; 8] {
    let (mut port, mut ip) = (a.port(), u32::from(*a.ip()));
    if xor.is_some() {
        port ^= (MAGIC >> 16) as u16;
        ip ^= MAGIC;
    }
    let mut v = [0u8; 8];
    v[1] = 0x01;
    v[2..4].copy_from_slice(&port.to_be_bytes());
    v[4..8].copy_from_slice(&ip.to_be_bytes());
    v
}

fn read_addr(v: &[u8], xor: bool) -> Option<SocketAddr> {
    if v.len() < 8 || v[1] != 0x01 {
        return None;
    }
    let mut port = u16::from_be_bytes([v[2], v[3]]);
    let mut ip = u32::from_be_bytes([v[4], v[5], v[6], v[7]]);
    if xor {
        port ^= (MAGIC >> 16) as u16;
        ip ^= MAGIC;
    }
    Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
}

/// Reads a binding request or response; `None` for anything else.
pub(crate) fn parse(b: &[u8]) -> Option<Message> {
    if b.len() < 20 || u32::from_be_bytes([b[4], b[5], b[6], b[7]]) != MAGIC {
        return None;
    }
    let kind = u16::from_be_bytes([b[0], b[1]]);
    let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
    let id: [u8; 12] = b[8..20].try_into().ok()?;
    let body = b.get(20..20 + len)?;
    let (mut change, mut mapped, mut xor_mapped, mut origin) =
        (Change::default(), None, None, None);
    let mut rest = body;
    while rest.len() >= 4 {
        let t = u16::from_be_bytes([rest[0], rest[1]]);
        let l = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let v = rest.get(4..4 + l)?;
        match t {
            CHANGE_REQUEST if l == 4 => {
                let f = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                change = Change {
                    ip: f & CHANGE_IP != 0,
                    port: f & CHANGE_PORT != 0,
                };
            }
            MAPPED_ADDRESS => mapped = read_addr(v, false),
            XOR_MAPPED_ADDRESS => xor_mapped = read_addr(v, true),
            RESPONSE_ORIGIN => origin = read_addr(v, false),
            _ => {}
        }
        rest = rest.get((4 + l).next_multiple_of(4)..).unwrap_or(&[]);
    }
    match kind {
        BINDING_REQUEST => Some(Message::Request { id, change }),
        BINDING_RESPONSE => Some(Message::Response {
            id,
            mapped: xor_mapped.or(mapped)?,
            origin,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_read_back_as_written() {
        let id = *b"0123456789ab";
        let change = Change {
            ip: true,
            port: false,
        };
        assert_eq!(
            parse(&request(id, change)),
            Some(Message::Request { id, change })
        );
        let plain = request(id, Change::default());
        assert_eq!(plain.len(), 20, "no CHANGE-REQUEST when nothing changes");
        let mapped: SocketAddrV4 = "198.51.100.1:4000".parse().unwrap();
        let origin: SocketAddrV4 = "198.51.100.10:3478".parse().unwrap();
        let other: SocketAddrV4 = "198.51.100.254:3479".parse().unwrap();
        let r = response(id, mapped, origin, other);
        assert_eq!(
            parse(&r),
            Some(Message::Response {
                id,
                mapped: mapped.into(),
                origin: Some(origin.into())
            })
        );
        // RFC 5389 framing: type, length of the attributes, the cookie.
        assert_eq!(&r[..2], &[0x01, 0x01]);
        assert_eq!(usize::from(u16::from_be_bytes([r[2], r[3]])), r.len() - 20);
        assert_eq!(&r[4..8], &[0x21, 0x12, 0xA4, 0x42]);
    }

    #[test]
    fn the_xor_mapped_address_is_xored_with_the_cookie() {
        // RFC 5769 2.2's sample response: 192.0.2.1:32853.
        let v = addr_value("192.0.2.1:32853".parse().unwrap(), Some([0; 12]));
        assert_eq!(v, [0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43]);
    }

    #[test]
    fn other_datagrams_are_not_stun() {
        assert_eq!(parse(b"punch"), None);
        assert_eq!(parse(&[0u8; 20]), None);
        let mut truncated = request(
            *b"0123456789ab",
            Change {
                ip: true,
                port: true,
            },
        );
        truncated.truncate(24);
        assert_eq!(parse(&truncated), None);
    }
}
