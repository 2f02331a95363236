//! The relay: one thread per direction copying frames between the two interfaces of a
//! relay node, through a delay queue and a random drop (see the module docs of
//! [`crate::fault`] for what it can and cannot do). Each network owns its relays.

use std::collections::BinaryHeap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::kernel::{self, NodeNs};
use crate::net::Net;
use crate::sys;
use crate::topology::Plan;

/// Frames a direction holds at most (netem's default limit too).
pub(crate) const QUEUE_FRAMES: usize = 1000;
/// Bytes a direction holds at most (GSO frames are up to 64 KiB each).
pub(crate) const QUEUE_BYTES: usize = 32 << 20;
/// Kernel buffer of each relay socket.
const SOCKET_BUFFER: usize = 4 << 20;
/// Room for the virtio_net_hdr and the largest GSO frame (64 KiB + headers).
const FRAME_BUFFER: usize = 128 << 10;

/// Counters of one direction of a relay: the frames one end of an impairable link sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Frames written out of the other side.
    pub forwarded: u64,
    /// Frames dropped by the loss probability.
    pub lost: u64,
    /// Frames dropped because the relay could not keep up: its delay queue was full, or
    /// frames came faster than it read them and its socket's buffer overflowed.
    pub overflowed: u64,
    /// Frames that could not be read or written (too large, an interface down, ...).
    pub failed: u64,
    /// Frames that went through the delay queue (the others were forwarded at once).
    pub delayed: u64,
    /// How late after its departure time a delayed frame left, on average.
    pub mean_lateness: Duration,
    /// The latest a delayed frame left after its departure time.
    pub max_lateness: Duration,
    /// The last such failure.
    pub last_error: Option<String>,
}

/// What one direction of a relay does, changed at run time by the test.
#[derive(Debug, Default)]
pub(crate) struct Direction {
    delay_ns: AtomicU64,
    jitter_ns: AtomicU64,
    /// Drop when a uniform 32-bit draw is below this (0: never, 2^32: always).
    loss_threshold: AtomicU64,
    forwarded: AtomicU64,
    lost: AtomicU64,
    overflowed: AtomicU64,
    failed: AtomicU64,
    /// Frames sent from the delay queue, and how late after their deadline (sum, max).
    delayed: AtomicU64,
    late_sum_ns: AtomicU64,
    late_max_ns: AtomicU64,
    /// Frames the kernel dropped at the relay's socket (read from it by `stats`).
    socket_drops: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Direction {
    pub(crate) fn set(&self, delay: Duration, jitter: Duration, loss: f64) {
        let ns = |d: Duration| d.as_nanos().min(u128::from(u64::MAX)) as u64;
        self.delay_ns.store(ns(delay), Relaxed);
        self.jitter_ns.store(ns(jitter), Relaxed);
        let threshold = (loss.clamp(0.0, 1.0) * (1u64 << 32) as f64).round() as u64;
        self.loss_threshold.store(threshold, Relaxed);
    }

    /// The counters; `rx` is the socket this direction reads.
    pub(crate) fn stats(&self, rx: &OwnedFd) -> RelayStats {
        if let Ok(n) = sys::packet_drops(rx.as_fd()) {
            self.socket_drops.fetch_add(u64::from(n), Relaxed);
        }
        RelayStats {
            forwarded: self.forwarded.load(Relaxed),
            lost: self.lost.load(Relaxed),
            overflowed: self.overflowed.load(Relaxed) + self.socket_drops.load(Relaxed),
            failed: self.failed.load(Relaxed),
            delayed: self.delayed.load(Relaxed),
            mean_lateness: Duration::from_nanos(
                self.late_sum_ns
                    .load(Relaxed)
                    .checked_div(self.delayed.load(Relaxed))
                    .unwrap_or(0),
            ),
            max_lateness: Duration::from_nanos(self.late_max_ns.load(Relaxed)),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    fn fail(&self, what: &str, e: std::io::Error) {
        self.failed.fetch_add(1, Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{what}: {e}"));
    }
}

/// A running relay, owned by its network: its threads stop when the network is dropped.
#[derive(Debug)]
pub(crate) struct Relay {
    /// The link's ends: (node index in the plan, interface name).
    pub sides: [(usize, String); 2],
    /// `dirs[i]`: the frames side `i` sends.
    pub dirs: [Arc<Direction>; 2],
    /// `sockets[i]`: the relay's socket facing side `i` (what `dirs[i]` reads).
    pub sockets: [Arc<OwnedFd>; 2],
    /// Set when the network goes: both threads end within [`STOP_CHECK`].
    stop: Arc<AtomicBool>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

/// How often an idle relay thread looks whether its network is gone.
const STOP_CHECK: Duration = Duration::from_millis(100);

impl Relay {
    /// The counters of the frames side `side` sends.
    pub(crate) fn stats(&self, side: usize) -> RelayStats {
        self.dirs[side].stats(&self.sockets[side])
    }
}

/// The relay on the link whose end is `ifname` of node `node` (a plan index; a node that
/// shares another's namespace is looked up as that one) in `net`, and which side that end
/// is.
pub(crate) fn find(net: &Net, node: usize, ifname: &str) -> Option<(Arc<Relay>, usize)> {
    let node = net.plan().nodes.get(node)?.net_of.unwrap_or(node);
    net.relays().iter().find_map(|r| {
        r.sides
            .iter()
            .position(|(n, i)| *n == node && i == ifname)
            .map(|side| (r.clone(), side))
    })
}

/// Opens the sockets of every planned relay in its node and starts its two threads.
pub(crate) fn start(plan: &Plan, ns: &[NodeNs]) -> Result<Vec<Arc<Relay>>> {
    let mut started = Vec::new();
    for (k, relay) in plan.relays.iter().enumerate() {
        let name = &plan.nodes[relay.node].name;
        let what = || {
            let s = &relay.sides;
            format!(
                "starting the relay of the impairable link {}:{} <-> {}:{} in node {name:?}",
                plan.nodes[s[0].node].name, s[0].ifname, plan.nodes[s[1].node].name, s[1].ifname
            )
        };
        let socks = sys::in_netns(ns[relay.node].netns.as_fd(), || {
            relay
                .sides
                .iter()
                .map(|side| {
                    // The relay's own stack stays silent on the link (no IPv6 link-local
                    // address, no router solicitations); best effort.
                    let _ = kernel::write_sysctl(
                        &format!("net/ipv6/conf/{}/disable_ipv6", side.relay_if),
                        "1",
                    );
                    let index = plan
                        .ifindex(relay.node, &side.relay_if)
                        .expect("the plan gives every relay interface an index");
                    sys::relay_socket(index, SOCKET_BUFFER).map(Arc::new)
                })
                .collect::<std::io::Result<Vec<_>>>()
        })
        .and_then(|r| r)
        .map_err(|e| Error::sys(format!("{}: an AF_PACKET socket on each side", what()), e))?;
        let dirs = [
            Arc::new(Direction::default()),
            Arc::new(Direction::default()),
        ];
        let stop = Arc::new(AtomicBool::new(false));
        for d in 0..2 {
            let (dir, rx, tx) = (dirs[d].clone(), socks[d].clone(), socks[1 - d].clone());
            let seed = seed(&format!("{name}/{d}"));
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("relay{k}.{d}"))
                .spawn(move || forward(&dir, &rx, &tx, seed, &stop))
                .map_err(|e| Error::sys(format!("{}: a thread", what()), e))?;
        }
        started.push(Arc::new(Relay {
            sides: relay.sides.clone().map(|s| (s.node, s.ifname)),
            dirs,
            sockets: [socks[0].clone(), socks[1].clone()],
            stop,
        }));
    }
    Ok(started)
}

/// A frame waiting for its departure time; the heap's top is the earliest (then the first
/// queued).
struct Pending {
    deadline: Instant,
    seq: u64,
    frame: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.deadline, self.seq) == (o.deadline, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.deadline, o.seq).cmp(&(self.deadline, self.seq))
    }
}

/// One direction, until `stop`: frames read from `rx` are dropped with the loss
/// probability, held until their deadline (now + delay ± jitter) and written to `tx`.
fn forward(dir: &Direction, rx: &OwnedFd, tx: &OwnedFd, seed: u64, stop: &AtomicBool) {
    let _ = sys::set_timer_slack(1_000);
    let mut rng = Rng(seed);
    let mut buf = vec![0u8; FRAME_BUFFER];
    let mut queue: BinaryHeap<Pending> = BinaryHeap::new();
    let mut queued_bytes = 0usize;
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let mut seq = 0u64;
    // Counted before the send: whoever sees a frame's effect (a reply, a connection) and
    // then reads the counters finds it counted, even if this thread is descheduled right
    // after the send.
    let send = |frame: &[u8]| {
        dir.forwarded.fetch_add(1, Relaxed);
        if let Err(e) = sys::relay_send(tx.as_fd(), frame) {
            dir.forwarded.fetch_sub(1, Relaxed);
            dir.fail("sending", e);
        }
    };
    while !stop.load(Relaxed) {
        let now = Instant::now();
        while queue.peek().is_some_and(|p| p.deadline <= now) {
            let p = queue.pop().expect("peeked");
            queued_bytes -= p.frame.len();
            send(&p.frame);
            let late = Instant::now()
                .saturating_duration_since(p.deadline)
                .as_nanos() as u64;
            dir.delayed.fetch_add(1, Relaxed);
            dir.late_sum_ns.fetch_add(late, Relaxed);
            dir.late_max_ns.fetch_max(late, Relaxed);
            if pool.len() < 64 {
                pool.push(p.frame);
            }
        }
        match sys::relay_recv(rx.as_fd(), &mut buf) {
            Ok(Some(f)) if f.outgoing => {}
            Ok(Some(f)) if f.truncated => dir.fail(
                "receiving",
                std::io::Error::other(format!("a frame larger than {FRAME_BUFFER} bytes")),
            ),
            Ok(Some(f)) => {
                let arrived = Instant::now();
                let threshold = dir.loss_threshold.load(Relaxed);
                if threshold > 0 && u64::from(rng.next_u32()) < threshold {
                    dir.lost.fetch_add(1, Relaxed);
                    continue;
                }
                let delay = dir.delay_ns.load(Relaxed);
                let jitter = dir.jitter_ns.load(Relaxed);
                let frame = &buf[..f.len];
                if delay == 0 && jitter == 0 && queue.is_empty() {
                    send(frame);
                    continue;
                }
                if queue.len() >= QUEUE_FRAMES || queued_bytes + f.len > QUEUE_BYTES {
                    dir.overflowed.fetch_add(1, Relaxed);
                    continue;
                }
                let wait = if jitter > 0 {
                    let spread = rng.below(2 * jitter + 1);
                    (delay + spread).saturating_sub(jitter)
                } else {
                    delay
                };
                let mut copy = pool.pop().unwrap_or_default();
                copy.clear();
                copy.extend_from_slice(frame);
                queued_bytes += copy.len();
                queue.push(Pending {
                    deadline: arrived + Duration::from_nanos(wait),
                    seq,
                    frame: copy,
                });
                seq += 1;
            }
            Ok(None) => {
                let timeout = queue
                    .peek()
                    .map(|p| p.deadline.saturating_duration_since(Instant::now()))
                    .map_or(STOP_CHECK, |t| t.min(STOP_CHECK));
                if timeout != Duration::ZERO {
                    if let Err(e) = sys::wait_readable(rx.as_fd(), Some(timeout)) {
                        dir.fail("waiting", e);
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
            // ENETDOWN once when a side goes down, and the like: count, and go on.
            Err(e) => {
                dir.fail("receiving", e);
                let _ = sys::wait_readable(rx.as_fd(), Some(Duration::from_millis(1)));
            }
        }
    }
}

/// A deterministic seed per relay direction (FNV-1a of its name).
fn seed(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// splitmix64: small, fast, and good enough for drop and jitter draws.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `0..n` (n > 0), by widening multiplication (bias below 2^-64 * n).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rng_draws_evenly() {
        let mut rng = Rng(seed("x"));
        let n = 100_000;
        let below = (0..n)
            .filter(|_| rng.next_u32() < u32::MAX / 10 * 3)
            .count();
        assert!((28_000..32_000).contains(&below), "{below}");
        let mean = (0..n).map(|_| rng.below(1001)).sum::<u64>() as f64 / n as f64;
        assert!((490.0..510.0).contains(&mean), "{mean}");
    }

    #[test]
    fn the_queue_pops_earliest_then_first() {
        let t = Instant::now();
        let mut q = BinaryHeap::new();
        for (ms, seq) in [(5, 0), (1, 1), (5, 2), (3, 3)] {
            q.push(Pending {
                deadline: t + Duration::from_millis(ms),
                seq,
                frame: Vec::new(),
            });
        }
        let order: Vec<u64> = std::iter::from_fn(|| q.pop().map(|p| p.seq)).collect();
        assert_eq!(order, [1, 3, 0, 2]);
    }
}
