//! The packet capture: one `AF_PACKET` socket per namespace needed to see every veth
//! pair, read by one thread into a bounded ring per link until the test ends.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Shared;
use crate::net::Net;
use crate::sys;

/// Packets kept per link (the oldest go first).
pub(super) const RING_PACKETS: usize = 1000;
/// Bytes of packet data kept per link.
pub(super) const RING_BYTES: usize = 4 << 20;
/// Receive buffer: a whole GSO frame of a veth.
pub(super) const FRAME_BUF: usize = 256 << 10;

/// What the capture thread owns: one packet socket per namespace it listens in, and one
/// ring per link.
pub(super) struct Capture {
    pub(super) socks: Vec<Sock>,
    pub(super) rings: Vec<Ring>,
}

pub(super) struct Sock {
    /// `None` once reading failed for good.
    fd: Option<OwnedFd>,
    /// ifindex of a captured veth end -> its link's ring.
    ends: Vec<(u32, usize)>,
}

/// The last packets of one link (a veth pair: both ends carry the same frames, so it is
/// captured at one end).
pub(super) struct Ring {
    /// `<node>-<iface>` of the end the file is named after: the end that is not a bridge
    /// port (the container's `eth0`), or the first end of a point-to-point link.
    name: String,
    /// `node:iface <-> node:iface`, the named end first.
    pub(super) ends: String,
    /// Nodes and interfaces of both ends.
    pub(super) at: [(String, String); 2],
    /// `node:iface` where it is captured.
    pub(super) on: String,
    pub(super) packets: VecDeque<Packet>,
    bytes: usize,
    /// Packets dropped from the front to respect the bounds.
    pub(super) evicted: u64,
    /// Why reading stopped early, if it did.
    pub(super) error: Option<String>,
}

pub(super) struct Packet {
    pub(super) sec: i64,
    pub(super) nsec: u32,
    pub(super) orig_len: u32,
    pub(super) data: Box<[u8]>,
}

impl Ring {
    fn new(named: (&str, &str), other: (&str, &str)) -> Ring {
        Ring {
            name: format!("{}-{}", named.0, named.1),
            ends: format!("{}:{} <-> {}:{}", named.0, named.1, other.0, other.1),
            at: [
                (named.0.to_string(), named.1.to_string()),
                (other.0.to_string(), other.1.to_string()),
            ],
            on: String::new(),
            packets: VecDeque::new(),
            bytes: 0,
            evicted: 0,
            error: None,
        }
    }

    fn push(&mut self, p: Packet) {
        while !self.packets.is_empty()
            && (self.packets.len() >= RING_PACKETS || self.bytes + p.data.len() > RING_BYTES)
        {
            let old = self.packets.pop_front().expect("not empty");
            self.bytes -= old.data.len();
            self.evicted += 1;
        }
        self.bytes += p.data.len();
        self.packets.push_back(p);
    }

    pub(super) fn file_name(&self) -> String {
        format!("{}.pcap", self.name)
    }
}

/// Opens the packet sockets: as few namespaces as cover every veth pair (greedily, the node
/// with the most uncovered ends first; on a bridge, the bridge's node covers all its ports),
/// one socket each, opened by the calling thread standing in that namespace.
pub(super) fn open_capture(net: &Net) -> Result<Capture, String> {
    let plan = net.plan();
    // Bridge ports are not among a node's `ifaces`; the plan fixes every ifindex.
    let node_name = |i: usize| plan.nodes[i].name.as_str();
    let mut rings: Vec<Ring> = plan
        .veths
        .iter()
        .map(|v| {
            let (named, other) = if v.ends[0].master.is_some() && v.ends[1].master.is_none() {
                (&v.ends[1], &v.ends[0])
            } else {
                (&v.ends[0], &v.ends[1])
            };
            Ring::new(
                (node_name(named.node), &named.name),
                (node_name(other.node), &other.name),
            )
        })
        .collect();
    let mut uncovered: Vec<usize> = (0..plan.veths.len()).collect();
    let mut socks = Vec::new();
    while !uncovered.is_empty() {
        let mut count = vec![0usize; plan.nodes.len()];
        for &v in &uncovered {
            for e in &plan.veths[v].ends {
                count[e.node] += 1;
            }
        }
        let best = (0..plan.nodes.len())
            .max_by_key(|&i| (count[i], std::cmp::Reverse(i)))
            .expect("a veth has ends");
        let mut ends = Vec::new();
        uncovered.retain(|&v| {
            let Some(e) = plan.veths[v].ends.iter().find(|e| e.node == best) else {
                return true;
            };
            rings[v].on = format!("{}:{}", node_name(best), e.name);
            ends.push((e.index, v));
            false
        });
        let node = &net.nodes()[best];
        for chunk in ends.chunks(250) {
            let ifindexes: Vec<u32> = chunk.iter().map(|&(ix, _)| ix).collect();
            let fd = sys::in_netns(node.netns(), || sys::packet_socket(&ifindexes))
                .and_then(|r| r)
                .map_err(|e| format!("AF_PACKET socket in node {:?}: {e}", node.name()))?;
            socks.push(Sock {
                fd: Some(fd),
                ends: chunk.to_vec(),
            });
        }
    }
    Ok(Capture { socks, rings })
}

/// Reads every packet socket into the rings until told to stop (`S`, or the wake socket
/// closes), or writes the diagnostics and exits the process on the timeout signal (`T`).
pub(super) fn capture_loop(shared: &Shared, wake: UnixStream, mut cap: Capture) -> Capture {
    let mut buf = vec![0u8; FRAME_BUF];
    loop {
        let live: Vec<usize> = (0..cap.socks.len())
            .filter(|&i| cap.socks[i].fd.is_some())
            .collect();
        let mut poll: Vec<BorrowedFd<'_>> = vec![wake.as_fd()];
        poll.extend(
            live.iter()
                .filter_map(|&i| cap.socks[i].fd.as_ref().map(AsFd::as_fd)),
        );
        let ready = match sys::poll_readable(&poll, -1) {
            Ok(r) => r,
            Err(_) => return cap,
        };
        drop(poll);
        for (k, &i) in live.iter().enumerate() {
            if ready[k + 1] {
                drain(&mut cap.socks[i], &mut cap.rings, &mut buf);
            }
        }
        if !ready[0] {
            continue;
        }
        let mut cmd = [0u8; 16];
        match (&wake).read(&mut cmd) {
            Ok(0) => return cap,
            Ok(n) => {
                let cmd = &cmd[..n];
                if cmd.contains(&b'S') || cmd.contains(&b'T') {
                    for sock in &mut cap.socks {
                        drain(sock, &mut cap.rings, &mut buf);
                    }
                }
                if cmd.contains(&b'S') {
                    return cap;
                }
                if cmd.contains(&b'T') {
                    shared.on_timeout(&cap.rings);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return cap,
        }
    }
}

/// Reads every queued frame of one socket into the rings of their links.
fn drain(sock: &mut Sock, rings: &mut [Ring], buf: &mut [u8]) {
    let Some(fd) = sock.fd.as_ref() else { return };
    loop {
        match sys::packet_recv(fd.as_fd(), buf) {
            Ok(Some(f)) => {
                let Some(&(_, ring)) = sock.ends.iter().find(|(ix, _)| *ix == f.ifindex) else {
                    continue;
                };
                let (sec, nsec) = if f.sec == 0 && f.nsec == 0 {
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default();
                    (now.as_secs() as i64, now.subsec_nanos())
                } else {
                    (f.sec, f.nsec)
                };
                rings[ring].push(Packet {
                    sec,
                    nsec,
                    orig_len: f.orig_len.min(u32::MAX as usize) as u32,
                    data: buf[..f.len].into(),
                });
            }
            Ok(None) => return,
            // A captured link went down: reported once; capture goes on.
            Err(e) if e.raw_os_error() == Some(libc::ENETDOWN) => {}
            Err(e) => {
                for &(_, ring) in &sock.ends {
                    rings[ring].error = Some(format!("capture stopped: {e}"));
                }
                sock.fd = None;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_last_packets_within_its_bounds() {
        let mut r = Ring::new(("a", "eth0"), ("host", "a-eth0"));
        for i in 0..(RING_PACKETS + 5) {
            r.push(Packet {
                sec: i as i64,
                nsec: 0,
                orig_len: 60,
                data: vec![0u8; 60].into(),
            });
        }
        assert_eq!(r.packets.len(), RING_PACKETS);
        assert_eq!(r.evicted, 5);
        assert_eq!(r.packets.front().map(|p| p.sec), Some(5));
        let mut big = Ring::new(("a", "eth0"), ("host", "a-eth0"));
        for _ in 0..10 {
            big.push(Packet {
                sec: 0,
                nsec: 0,
                orig_len: 1 << 20,
                data: vec![0u8; 1 << 20].into(),
            });
        }
        assert!(big.bytes <= RING_BYTES, "{}", big.bytes);
        assert_eq!(big.packets.len(), 4);
    }
}
