//! One line per captured frame, in the spirit of `tcpdump -n`: ARP, IPv4 and IPv6 with
//! TCP (flags), UDP and ICMP; anything else by its EtherType. For the packet timelines of
//! `report.html`; the pcaps hold the frames themselves.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a frame is, in one line.
pub(super) fn summary(frame: &[u8]) -> String {
    if frame.len() < 14 {
        return format!("short frame ({} bytes)", frame.len());
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let p = &frame[14..];
    match ethertype {
        0x0806 => arp(p),
        0x0800 if p.len() >= 20 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let src = IpAddr::V4(Ipv4Addr::new(p[12], p[13], p[14], p[15]));
            let dst = IpAddr::V4(Ipv4Addr::new(p[16], p[17], p[18], p[19]));
            transport(p[9], src, dst, p.get(ihl..).unwrap_or(&[]))
        }
        0x86dd if p.len() >= 40 => {
            let addr = |i: usize| {
                let b: [u8; 16] = p[i..i + 16].try_into().expect("16 bytes");
                IpAddr::V6(Ipv6Addr::from(b))
            };
            transport(p[6], addr(8), addr(24), &p[40..])
        }
        t => format!("ethertype 0x{t:04x}, {} bytes", frame.len()),
    }
}

fn arp(p: &[u8]) -> String {
    if p.len() < 28 {
        return "ARP (short)".to_string();
    }
    let ip = |i: usize| Ipv4Addr::new(p[i], p[i + 1], p[i + 2], p[i + 3]);
    match u16::from_be_bytes([p[6], p[7]]) {
        1 => format!("ARP who-has {} tell {}", ip(24), ip(14)),
        2 => format!("ARP reply {} is-at {}", ip(14), mac(&p[8..14])),
        op => format!("ARP op {op}"),
    }
}

fn transport(proto: u8, src: IpAddr, dst: IpAddr, l4: &[u8]) -> String {
    let port = |i: usize| l4.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    match proto {
        6 => {
            let mut s = format!(
                "TCP {src}:{} > {dst}:{}",
                port(0).unwrap_or(0),
                port(2).unwrap_or(0)
            );
            if let Some(&flags) = l4.get(13) {
                let names = [
                    (0x02, 'S'),
                    (0x10, '.'),
                    (0x08, 'P'),
                    (0x01, 'F'),
                    (0x04, 'R'),
                ];
                s.push_str(" [");
                for (bit, c) in names {
                    if flags & bit != 0 {
                        s.push(c);
                    }
                }
                s.push(']');
                let data_off = usize::from(l4[12] >> 4) * 4;
                let _ = write!(s, " len {}", l4.len().saturating_sub(data_off));
            }
            s
        }
        17 => format!(
            "UDP {src}:{} > {dst}:{} len {}",
            port(0).unwrap_or(0),
            port(2).unwrap_or(0),
            l4.len().saturating_sub(8)
        ),
        1 | 58 => {
            let kind = match (proto, l4.first()) {
                (1, Some(8)) | (58, Some(128)) => "echo request".to_string(),
                (1, Some(0)) | (58, Some(129)) => "echo reply".to_string(),
                (1, Some(3)) | (58, Some(1)) => "destination unreachable".to_string(),
                (58, Some(135)) => "neighbor solicitation".to_string(),
                (58, Some(136)) => "neighbor advertisement".to_string(),
                (58, Some(133)) => "router solicitation".to_string(),
                (58, Some(143)) => "multicast listener report".to_string(),
                (_, Some(t)) => format!("type {t}"),
                (_, None) => "(short)".to_string(),
            };
            let name = if proto == 1 { "ICMP" } else { "ICMP6" };
            format!("{name} {src} > {dst} {kind}")
        }
        p => format!("IP proto {p} {src} > {dst}"),
    }
}

fn mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn frames_read_as_tcpdump_shows_them() {
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 3,
        ];
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&7001u16.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = 0x02;
        ip.extend_from_slice(&tcp);
        assert_eq!(
            summary(&eth(0x0800, &ip)),
            "TCP 10.0.0.2:40000 > 10.0.0.3:7001 [S] len 0"
        );
        let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 2, 10, 0, 0, 2]);
        arp.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 3]);
        assert_eq!(
            summary(&eth(0x0806, &arp)),
            "ARP who-has 10.0.0.3 tell 10.0.0.2"
        );
        assert_eq!(summary(&[1, 2]), "short frame (2 bytes)");
    }
}
