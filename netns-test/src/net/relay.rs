//! The relay: one thread per direction copying frames between the two interfaces of a
//! relay node, through random drops, duplicates, corruption and a delay queue (see the
//! module docs of [`crate::fault`] for what it can and cannot do). Each network owns its
//! relays.

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
    /// Extra copies sent by the duplicate probability.
    pub duplicated: u64,
    /// Frames sent with a bit flipped by the corrupt probability.
    pub corrupted: u64,
    /// Frames sent at once by the reorder probability, without their delay (ahead of the
    /// frames delayed before them).
    pub reordered: u64,
    /// How late after its departure time a delayed frame left, on average.
    pub mean_lateness: Duration,
    /// The latest a delayed frame left after its departure time.
    pub max_lateness: Duration,
    /// The last such failure.
    pub last_error: Option<String>,
}

/// Gilbert-Elliott loss: a good and a bad state, each with its own loss probability.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct GeLoss {
    /// Probability of going from good to bad, per frame.
    pub p: f64,
    /// Probability of going from bad to good, per frame.
    pub r: f64,
    /// Loss probability in the bad state.
    pub loss_bad: f64,
    /// Loss probability in the good state.
    pub loss_good: f64,
}

/// What one direction of a relay does to the frames it forwards.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Impairment {
    pub delay: Duration,
    pub jitter: Duration,
    /// Independent loss probability.
    pub loss: f64,
    /// Bursty loss instead, if set.
    pub bursty: Option<GeLoss>,
    /// Probability that a frame skips the delay queue (sent at once, ahead of others).
    pub reorder: f64,
    pub duplicate: f64,
    pub corrupt: f64,
    /// Frames the delay queue holds at most; 0 for [`QUEUE_FRAMES`].
    pub queue: usize,
    /// What every draw comes from (mixed with the relay's name and the direction).
    pub seed: u64,
}

impl Impairment {
    /// Nothing to do: frames are forwarded as they come.
    fn is_none(&self) -> bool {
        *self
            == Impairment {
                seed: self.seed,
                ..Impairment::default()
            }
    }
}

/// What one direction of a relay does, changed at run time by the test.
#[derive(Debug, Default)]
pub(crate) struct Direction {
    /// The impairment, and a count of its changes the forwarding thread watches.
    params: Mutex<Impairment>,
    generation: AtomicU64,
    forwarded: AtomicU64,
    lost: AtomicU64,
    overflowed: AtomicU64,
    failed: AtomicU64,
    duplicated: AtomicU64,
    corrupted: AtomicU64,
    reordered: AtomicU64,
    /// Frames sent from the delay queue, and how late after their deadline (sum, max).
    delayed: AtomicU64,
    late_sum_ns: AtomicU64,
    late_max_ns: AtomicU64,
    /// Frames the kernel dropped at the relay's socket (read from it by `stats`).
    socket_drops: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Direction {
    /// Sets what the direction does; its random streams restart from the seed, so the same
    /// impairment over the same traffic drops the same frames.
    pub(crate) fn set(&self, i: Impairment) {
        *self.params.lock().unwrap_or_else(|e| e.into_inner()) = i;
        self.generation.fetch_add(1, Relaxed);
    }

    /// What the direction does now.
    pub(crate) fn get(&self) -> Impairment {
        *self.params.lock().unwrap_or_else(|e| e.into_inner())
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
            duplicated: self.duplicated.load(Relaxed),
            corrupted: self.corrupted.load(Relaxed),
            reordered: self.reordered.load(Relaxed),
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
            let salt = fnv1a(format!("{name}/{d}").as_bytes());
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("relay{k}.{d}"))
                .spawn(move || forward(&dir, &rx, &tx, salt, &stop))
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

/// Bytes of the `virtio_net_hdr` in front of every frame (`PACKET_VNET_HDR`).
const VNET_HDR: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum is still to be computed.
const NEEDS_CSUM: u8 = 1;
/// Flows whose streams a direction keeps; beyond, all restart (see [`Streams`]).
const MAX_FLOWS: usize = 4096;

/// The random state of one flow: its stream and its Gilbert-Elliott state.
struct Flow {
    rng: Rng,
    bad: bool,
}

/// One random stream per flow (addresses, protocol and ports), each seeded from the
/// direction's seed and the flow: the frames of a flow see the same draws whatever other
/// traffic (ARP, neighbour discovery, other connections) crosses the link, and in
/// whatever order the flows interleave.
struct Streams {
    seed: u64,
    flows: std::collections::HashMap<u64, Flow>,
}

impl Streams {
    fn new(seed: u64) -> Streams {
        Streams {
            seed,
            flows: std::collections::HashMap::new(),
        }
    }

    fn of(&mut self, frame: &[u8]) -> &mut Flow {
        if self.flows.len() >= MAX_FLOWS {
            self.flows.clear();
        }
        let key = flow_key(frame);
        let seed = self.seed;
        self.flows.entry(key).or_insert_with(|| Flow {
            rng: Rng(mix(seed, key)),
            bad: false,
        })
    }
}

/// What identifies a frame's flow: its EtherType, and for IPv4 and IPv6 its addresses, its
/// protocol and (TCP, UDP) ports. `frame` starts with the `virtio_net_hdr`.
pub(crate) fn flow_key(frame: &[u8]) -> u64 {
    let eth = frame.get(VNET_HDR..).unwrap_or_default();
    let Some(ethertype) = eth.get(12..14) else {
        return 0;
    };
    let ip = &eth[14..];
    let (addrs, proto, l4) = match ethertype {
        [0x08, 0x00] if ip.len() >= 20 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            (&ip[12..20], ip[9], ip.get(ihl..))
        }
        [0x86, 0xdd] if ip.len() >= 40 => (&ip[8..40], ip[6], ip.get(40..)),
        _ => return fnv1a(ethertype),
    };
    let ports = match (proto, l4) {
        (6 | 17, Some(l4)) if l4.len() >= 4 => &l4[..4],
        _ => &[],
    };
    let mut key = Vec::with_capacity(2 + 32 + 1 + 4);
    key.extend_from_slice(ethertype);
    key.extend_from_slice(addrs);
    key.push(proto);
    key.extend_from_slice(ports);
    fnv1a(&key)
}

/// What happens to one frame: dropped, or sent `copies` times (1 or 2), the first copy
/// corrupted or not, after `wait` or at once (`skip_queue`: reordered ahead).
#[derive(Debug, PartialEq)]
struct Fate {
    lost: bool,
    copies: u8,
    corrupt: Option<u64>,
    skip_queue: bool,
    wait: u64,
}

/// Draws a frame's fate from its flow's stream, in netem's order: loss, duplicate,
/// corrupt, reorder, then the delay.
fn fate(i: &Impairment, flow: &mut Flow, len: usize) -> Fate {
    let rng = &mut flow.rng;
    let lost = match &i.bursty {
        Some(ge) => {
            // Gilbert-Elliott as netem draws it: the state moves, then the loss of the
            // state the frame arrived in applies.
            let was_bad = flow.bad;
            if was_bad {
                flow.bad = !rng.chance(ge.r);
            } else {
                flow.bad = rng.chance(ge.p);
            }
            rng.chance(if was_bad { ge.loss_bad } else { ge.loss_good })
        }
        None => rng.chance(i.loss),
    };
    let mut f = Fate {
        lost,
        copies: 1,
        corrupt: None,
        skip_queue: false,
        wait: 0,
    };
    if lost {
        return f;
    }
    if rng.chance(i.duplicate) {
        f.copies = 2;
    }
    if rng.chance(i.corrupt) && len > 0 {
        f.corrupt = Some(rng.below(len as u64 * 8));
    }
    let delay = i.delay.as_nanos().min(u128::from(u64::MAX)) as u64;
    let jitter = i.jitter.as_nanos().min(u128::from(u64::MAX)) as u64;
    if i.reorder > 0.0 && rng.chance(i.reorder) {
        f.skip_queue = true;
        return f;
    }
    f.wait = if jitter > 0 {
        let spread = rng.below(2 * jitter + 1);
        (delay + spread).saturating_sub(jitter)
    } else {
        delay
    };
    f
}

/// Flips bit `bit` of the frame's bytes after the Ethernet header, and leaves a checksum
/// the kernel was still to compute as it is (partial): like a bit flipped on the wire, the
/// receiver's checksum check fails, except in GSO frames, whose segments get theirs anew.
fn corrupt(frame: &mut [u8], bit: u64) {
    let start = VNET_HDR + 14;
    if frame.len() <= start {
        return;
    }
    let n = (frame.len() - start) as u64 * 8;
    let bit = bit % n;
    frame[start + (bit / 8) as usize] ^= 1 << (bit % 8);
    if frame[1] == 0 {
        frame[0] &= !NEEDS_CSUM;
    }
}

/// One direction, until `stop`: frames read from `rx` meet their fate (see [`fate`]), wait
/// in the queue until their deadline (now + delay ± jitter) and are written to `tx`.
/// `salt` tells this direction's streams from the other relays'.
fn forward(dir: &Direction, rx: &OwnedFd, tx: &OwnedFd, salt: u64, stop: &AtomicBool) {
    let _ = sys::set_timer_slack(1_000);
    let mut params = Impairment::default();
    let mut generation = u64::MAX;
    let mut streams = Streams::new(0);
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
        let g = dir.generation.load(Relaxed);
        if g != generation {
            generation = g;
            params = dir.get();
            streams = Streams::new(mix(params.seed, salt));
        }
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
            recycle(&mut pool, p.frame);
        }
        match sys::relay_recv(rx.as_fd(), &mut buf) {
            Ok(Some(f)) if f.outgoing => {}
            Ok(Some(f)) if f.truncated => dir.fail(
                "receiving",
                std::io::Error::other(format!("a frame larger than {FRAME_BUFFER} bytes")),
            ),
            Ok(Some(f)) => {
                let arrived = Instant::now();
                let frame = &mut buf[..f.len];
                if params.is_none() && queue.is_empty() {
                    send(frame);
                    continue;
                }
                let fate = fate(&params, streams.of(frame), f.len);
                if fate.lost {
                    dir.lost.fetch_add(1, Relaxed);
                    continue;
                }
                for copy in 0..fate.copies {
                    if copy == 1 {
                        dir.duplicated.fetch_add(1, Relaxed);
                    }
                    let mut out = pool.pop().unwrap_or_default();
                    out.clear();
                    out.extend_from_slice(frame);
                    if let (0, Some(bit)) = (copy, fate.corrupt) {
                        corrupt(&mut out, bit);
                        dir.corrupted.fetch_add(1, Relaxed);
                    }
                    if fate.skip_queue || (fate.wait == 0 && queue.is_empty()) {
                        if fate.skip_queue {
                            dir.reordered.fetch_add(1, Relaxed);
                        }
                        send(&out);
                        recycle(&mut pool, out);
                        continue;
                    }
                    let limit = if params.queue == 0 {
                        QUEUE_FRAMES
                    } else {
                        params.queue
                    };
                    if queue.len() >= limit || queued_bytes + out.len() > QUEUE_BYTES {
                        dir.overflowed.fetch_add(1, Relaxed);
                        recycle(&mut pool, out);
                        continue;
                    }
                    queued_bytes += out.len();
                    queue.push(Pending {
                        deadline: arrived + Duration::from_nanos(fate.wait),
                        seq,
                        frame: out,
                    });
                    seq += 1;
                }
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

/// Keeps a frame's buffer for the next one (up to 64 of them).
fn recycle(pool: &mut Vec<Vec<u8>>, frame: Vec<u8>) {
    if pool.len() < 64 {
        pool.push(frame);
    }
}

/// FNV-1a: names and flows as 64-bit numbers.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Two numbers as one seed (one splitmix64 step over their combination).
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    Rng(a ^ b.rotate_left(32)).next_u64()
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

    /// True with probability `p` (0 draws nothing: a stream is not advanced by what is
    /// not asked for).
    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        let threshold = (p.min(1.0) * (1u64 << 32) as f64).round() as u64;
        u64::from(self.next_u32()) < threshold
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
        let mut rng = Rng(fnv1a(b"x"));
        let n = 100_000;
        let below = (0..n)
            .filter(|_| rng.next_u32() < u32::MAX / 10 * 3)
            .count();
        assert!((28_000..32_000).contains(&below), "{below}");
        let mean = (0..n).map(|_| rng.below(1001)).sum::<u64>() as f64 / n as f64;
        assert!((490.0..510.0).contains(&mean), "{mean}");
    }

    /// A UDP/IPv4 frame (after the vnet header) from port `sport`, carrying `seq`.
    fn udp_frame(sport: u16, seq: u32) -> Vec<u8> {
        let mut f = vec![0u8; VNET_HDR + 14 + 20 + 8 + 4];
        let e = VNET_HDR;
        f[e + 12..e + 14].copy_from_slice(&[0x08, 0x00]);
        f[e + 14] = 0x45;
        f[e + 14 + 9] = 17;
        f[e + 14 + 12..e + 14 + 20].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        f[e + 34..e + 36].copy_from_slice(&sport.to_be_bytes());
        f[e + 36..e + 38].copy_from_slice(&9000u16.to_be_bytes());
        let n = f.len();
        f[n - 4..].copy_from_slice(&seq.to_be_bytes());
        f
    }

    /// The sequence numbers of a flow of `n` frames that `i` drops, with other traffic
    /// interleaved every `noise` frames.
    fn dropped(i: &Impairment, n: u32, noise: Option<u32>) -> Vec<u32> {
        let mut streams = Streams::new(mix(i.seed, 1));
        let mut out = Vec::new();
        for seq in 0..n {
            if noise.is_some_and(|k| seq % k == 0) {
                let arp = {
                    let mut f = vec![0u8; VNET_HDR + 42];
                    f[VNET_HDR + 12..VNET_HDR + 14].copy_from_slice(&[0x08, 0x06]);
                    f
                };
                fate(i, streams.of(&arp), arp.len());
                let other = udp_frame(4000, seq);
                fate(i, streams.of(&other), other.len());
            }
            let f = udp_frame(5000, seq);
            if fate(i, streams.of(&f), f.len()).lost {
                out.push(seq);
            }
        }
        out
    }

    #[test]
    fn the_same_seed_drops_the_same_frames_of_a_flow_whatever_else_crosses() {
        let i = Impairment {
            loss: 0.3,
            seed: 42,
            ..Impairment::default()
        };
        let a = dropped(&i, 400, None);
        assert_eq!(a, dropped(&i, 400, Some(3)));
        assert!((80..160).contains(&a.len()), "{}", a.len());
        let other = Impairment { seed: 43, ..i };
        assert_ne!(a, dropped(&other, 400, None));
        // Flows are told apart by their ports.
        assert_ne!(flow_key(&udp_frame(5000, 0)), flow_key(&udp_frame(4000, 0)));
        assert_eq!(flow_key(&udp_frame(5000, 0)), flow_key(&udp_frame(5000, 7)));
    }

    #[test]
    fn bursty_loss_comes_in_bursts_at_its_mean_rate() {
        let i = Impairment {
            bursty: Some(GeLoss {
                p: 0.01,
                r: 0.25,
                loss_bad: 1.0,
                loss_good: 0.0,
            }),
            seed: 1,
            ..Impairment::default()
        };
        let lost = dropped(&i, 100_000, None);
        let rate = lost.len() as f64 / 100_000.0;
        // p / (p + r) = 3.8%, in runs of 1 / r = 4 frames on average.
        assert!((0.03..0.047).contains(&rate), "{rate}");
        let runs = 1 + lost.windows(2).filter(|w| w[1] != w[0] + 1).count();
        let mean_run = lost.len() as f64 / runs as f64;
        assert!((3.0..5.0).contains(&mean_run), "{mean_run}");
    }

    #[test]
    fn duplicate_corrupt_and_reorder_draw_as_asked() {
        let i = Impairment {
            delay: Duration::from_millis(10),
            duplicate: 1.0,
            corrupt: 1.0,
            reorder: 1.0,
            ..Impairment::default()
        };
        let mut flow = Flow {
            rng: Rng(1),
            bad: false,
        };
        let f = fate(&i, &mut flow, 100);
        assert_eq!((f.lost, f.copies, f.skip_queue), (false, 2, true));
        let mut frame = udp_frame(5000, 1);
        frame[0] = NEEDS_CSUM;
        let before = frame.clone();
        corrupt(&mut frame, f.corrupt.unwrap());
        let flipped: u32 = frame
            .iter()
            .zip(&before)
            .skip(1)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!(flipped, 1);
        // The checksum is left as it was, not computed over the flipped bit.
        assert_eq!(frame[0] & NEEDS_CSUM, 0);
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
