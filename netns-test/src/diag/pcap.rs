//! Classic pcap files: the 40 bytes of headers the format needs, written here rather
//! than through the `pcap-file` crate (which would bring `syn` 1 and `thiserror` 1 into
//! every user's build); the tests read the files back with `pcap-file`.

use std::io::{self, Write};

use super::capture::{Packet, FRAME_BUF};

/// The pcap global header's magic for nanosecond timestamps.
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u32 = 1;

/// Writes a classic pcap file (nanosecond timestamps, Ethernet frames).
pub(super) fn write_pcap<'a>(
    w: &mut impl Write,
    packets: impl Iterator<Item = &'a Packet>,
) -> io::Result<()> {
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&PCAP_MAGIC_NS.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    header.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    header.extend_from_slice(&(FRAME_BUF as u32).to_le_bytes()); // snaplen
    header.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    w.write_all(&header)?;
    for p in packets {
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&(p.sec.clamp(0, u32::MAX as i64) as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&p.nsec.to_le_bytes());
        rec[8..12].copy_from_slice(&(p.data.len() as u32).to_le_bytes());
        rec[12..16].copy_from_slice(&p.orig_len.to_le_bytes());
        w.write_all(&rec)?;
        w.write_all(&p.data)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_layout() {
        let p = Packet {
            sec: 1_700_000_000,
            nsec: 123_456_789,
            orig_len: 100,
            data: vec![0xab; 60].into(),
        };
        let mut out = Vec::new();
        write_pcap(&mut out, [&p].into_iter()).unwrap();
        assert_eq!(out.len(), 24 + 16 + 60);
        assert_eq!(&out[0..4], &0xa1b2_3c4du32.to_le_bytes());
        assert_eq!(&out[20..24], &1u32.to_le_bytes());
        assert_eq!(&out[24..28], &1_700_000_000u32.to_le_bytes());
        assert_eq!(&out[28..32], &123_456_789u32.to_le_bytes());
        assert_eq!(&out[32..36], &60u32.to_le_bytes());
        assert_eq!(&out[36..40], &100u32.to_le_bytes());
    }
}
