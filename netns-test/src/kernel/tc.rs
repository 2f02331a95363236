//! Root qdiscs over rtnetlink: `tbf` (rate), `netem` (delay, jitter, loss, bursty loss,
//! reorder, duplicate, corrupt, limit, rate, seed), and deleting them. netlink-packet-route models neither qdisc's options, so `TCA_OPTIONS`
//! is encoded here from the kernel's UAPI (`linux/pkt_sched.h`).

use std::time::Duration;

use futures::StreamExt;
use netlink_packet_core::{
    DefaultNla, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::Handle;

/// `TCA_OPTIONS`.
const TCA_OPTIONS: u16 = 2;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
const TCA_NETEM_REORDER: u16 = 3;
const TCA_NETEM_CORRUPT: u16 = 4;
const TCA_NETEM_LOSS: u16 = 5;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_PRNG_SEED: u16 = 14;
/// In `TCA_NETEM_LOSS`: `struct tc_netem_gemodel`.
const NETEM_LOSS_GE: u16 = 2;
/// `TC_LINKLAYER_ETHERNET`: the kernel needs no rate table.
const LINKLAYER_ETHERNET: u8 = 1;
/// Packets netem holds at most (iproute2's default).
const NETEM_LIMIT: u32 = 1000;
/// The largest frame on a default veth (1500 + Ethernet header).
const MAX_FRAME: u64 = 1514;

/// A token bucket's parameters, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tbf {
    /// Bytes per second.
    pub rate: u64,
    /// Bucket size: what may pass at once at line rate.
    pub burst: u32,
    /// Queue length in bytes: what waits for tokens before frames are dropped.
    pub limit: u32,
}

impl Tbf {
    /// The bucket for `bits_per_sec`: a burst of 5 ms at the rate (at least 4 full frames:
    /// the kernel timer cannot pace single frames at high rates) and a queue of 50 ms.
    pub(crate) fn for_rate(bits_per_sec: u64) -> Tbf {
        let rate = bits_per_sec.div_ceil(8).max(1);
        let burst = (rate / 200).max(4 * MAX_FRAME).min(u64::from(u32::MAX / 2));
        let limit = (rate / 20 + burst).min(u64::from(u32::MAX));
        Tbf {
            rate,
            burst: burst as u32,
            limit: limit as u32,
        }
    }

    /// `TCA_OPTIONS` of `tc qdisc replace dev X root tbf rate R burst B limit L`.
    pub(crate) fn options(&self) -> Vec<u8> {
        // struct tc_tbf_qopt { tc_ratespec rate, peakrate; u32 limit, buffer, mtu }
        let mut qopt = Vec::with_capacity(36);
        qopt.extend(ratespec(self.rate));
        qopt.extend([0u8; 12]); // no peak rate
        qopt.extend(self.limit.to_ne_bytes());
        // The bucket as time at the rate, in scheduler ticks (64 ns); TCA_TBF_BURST below
        // is what current kernels use.
        let burst_ns = u128::from(self.burst) * 1_000_000_000 / u128::from(self.rate);
        qopt.extend(ticks(burst_ns).to_ne_bytes());
        qopt.extend(0u32.to_ne_bytes()); // mtu: only for a peak rate
        let mut out = nla(TCA_TBF_PARMS, &qopt);
        if self.rate > u64::from(u32::MAX) {
            out.extend(nla(TCA_TBF_RATE64, &self.rate.to_ne_bytes()));
        }
        out.extend(nla(TCA_TBF_BURST, &self.burst.to_ne_bytes()));
        out
    }
}

/// netem's parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Netem {
    pub delay: Duration,
    pub jitter: Duration,
    /// Probability, 0..=1.
    pub loss: f64,
    /// Gilbert-Elliott loss instead: p, r, loss in the bad state, loss in the good state.
    pub gemodel: Option<[f64; 4]>,
    pub reorder: f64,
    pub duplicate: f64,
    pub corrupt: f64,
    /// Packets held at most; [`NETEM_LIMIT`] when 0.
    pub limit: u32,
    /// Bytes per second, if limited.
    pub rate: Option<u64>,
    /// The seed of netem's draws (kernels without the attribute ignore it).
    pub seed: Option<u64>,
}

impl Netem {
    /// `TCA_OPTIONS` of `tc qdisc replace dev X root netem delay D J loss P [rate R]`:
    /// `struct tc_netem_qopt` followed by attributes (not nested).
    pub(crate) fn options(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        out.extend(ticks(self.delay.as_nanos()).to_ne_bytes()); // latency
        let limit = if self.limit == 0 {
            NETEM_LIMIT
        } else {
            self.limit
        };
        out.extend(limit.to_ne_bytes());
        out.extend(probability(self.loss).to_ne_bytes());
        // gap: iproute2's `reorder` without a gap means every frame may be sent at once.
        out.extend(u32::from(self.reorder > 0.0).to_ne_bytes());
        out.extend(probability(self.duplicate).to_ne_bytes());
        out.extend(ticks(self.jitter.as_nanos()).to_ne_bytes());
        // struct tc_netem_reorder / tc_netem_corrupt { u32 probability; u32 correlation }
        for (kind, p) in [
            (TCA_NETEM_REORDER, self.reorder),
            (TCA_NETEM_CORRUPT, self.corrupt),
        ] {
            if p > 0.0 {
                let mut v = probability(p).to_ne_bytes().to_vec();
                v.extend(0u32.to_ne_bytes());
                out.extend(nla(kind, &v));
            }
        }
        if let Some([p, r, loss_bad, loss_good]) = self.gemodel {
            // struct tc_netem_gemodel { u32 p, r, h, k1 }: the kernel loses a frame in
            // the bad state when its draw is above h, in the good one when below k1.
            let mut ge = Vec::with_capacity(16);
            for v in [p, r, 1.0 - loss_bad, loss_good] {
                ge.extend(probability(v).to_ne_bytes());
            }
            out.extend(nla(TCA_NETEM_LOSS, &nla(NETEM_LOSS_GE, &ge)));
        }
        if let Some(rate) = self.rate {
            // struct tc_netem_rate { u32 rate; s32 packet_overhead; u32 cell_size; s32 cell_overhead }
            let mut r = Vec::with_capacity(16);
            r.extend((rate.min(u64::from(u32::MAX)) as u32).to_ne_bytes());
            r.extend([0u8; 12]);
            out.extend(nla(TCA_NETEM_RATE, &r));
            if rate > u64::from(u32::MAX) {
                out.extend(nla(TCA_NETEM_RATE64, &rate.to_ne_bytes()));
            }
        }
        if let Some(seed) = self.seed {
            out.extend(nla(TCA_NETEM_PRNG_SEED, &seed.to_ne_bytes()));
        }
        out
    }
}

/// `struct tc_ratespec` for `rate` bytes/s (`~0` and `TCA_*_RATE64` above 32 bits).
fn ratespec(rate: u64) -> [u8; 12] {
    let mut r = [0u8; 12];
    r[1] = LINKLAYER_ETHERNET;
    r[8..12].copy_from_slice(&(rate.min(u64::from(u32::MAX)) as u32).to_ne_bytes());
    r
}

/// Nanoseconds as psched ticks (64 ns), saturating.
fn ticks(ns: u128) -> u32 {
    (ns >> 6).min(u128::from(u32::MAX)) as u32
}

/// A probability as the kernel's fraction of `u32::MAX`.
fn probability(p: f64) -> u32 {
    (p.clamp(0.0, 1.0) * f64::from(u32::MAX)).round() as u32
}

/// One netlink attribute: header, value, padding to 4 bytes.
fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut out = Vec::with_capacity(len.next_multiple_of(4));
    out.extend((len as u16).to_ne_bytes());
    out.extend(kind.to_ne_bytes());
    out.extend(value);
    out.resize(len.next_multiple_of(4), 0);
    out
}

fn root_message(ifindex: u32) -> TcMessage {
    let mut msg = TcMessage::default();
    msg.header.index = ifindex as i32;
    msg.header.parent = TcHandle::ROOT;
    msg
}

async fn request(
    nl: &Handle,
    msg: RouteNetlinkMessage,
    flags: u16,
) -> Result<(), rtnetlink::Error> {
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    let mut response = nl.clone().request(req)?;
    while let Some(message) = response.next().await {
        if let NetlinkPayload::Error(err) = message.payload {
            return Err(rtnetlink::Error::NetlinkError(err));
        }
    }
    Ok(())
}

/// `tc qdisc replace dev INDEX root KIND` with raw `TCA_OPTIONS`: changes the root qdisc
/// if it is of that kind already, replaces it otherwise.
pub(crate) async fn replace_root(
    nl: &Handle,
    ifindex: u32,
    kind: &str,
    options: Vec<u8>,
) -> Result<(), rtnetlink::Error> {
    let mut msg = root_message(ifindex);
    msg.attributes.push(TcAttribute::Kind(kind.to_string()));
    msg.attributes
        .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, options)));
    let msg = RouteNetlinkMessage::NewQueueDiscipline(msg);
    // A qdisc module the kernel just loaded answers EAGAIN: the request is to be replayed.
    let mut tries = 0;
    loop {
        match request(nl, msg.clone(), NLM_F_CREATE | NLM_F_REPLACE).await {
            Err(e) if errno(&e) == Some(libc::EAGAIN) && tries < 3 => tries += 1,
            r => return r,
        }
    }
}

/// `tc qdisc del dev INDEX root`; not an error when there is none (the default qdisc).
pub(crate) async fn delete_root(nl: &Handle, ifindex: u32) -> Result<(), rtnetlink::Error> {
    let msg = RouteNetlinkMessage::DelQueueDiscipline(root_message(ifindex));
    match request(nl, msg, 0).await {
        Err(e) if matches!(errno(&e), Some(libc::ENOENT) | Some(libc::EINVAL)) => Ok(()),
        r => r,
    }
}

/// The errno of a netlink error, if it is one.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tbf_options_follow_the_uapi_layout() {
        let t = Tbf::for_rate(10_000_000);
        assert_eq!(t.rate, 1_250_000);
        assert_eq!(t.burst, 6250);
        let o = t.options();
        // TCA_TBF_PARMS: 4-byte header + 36-byte tc_tbf_qopt.
        assert_eq!(u16::from_ne_bytes([o[0], o[1]]), 40);
        assert_eq!(u16::from_ne_bytes([o[2], o[3]]), TCA_TBF_PARMS);
        assert_eq!(o[4 + 1], LINKLAYER_ETHERNET);
        assert_eq!(
            u32::from_ne_bytes(o[4 + 8..4 + 12].try_into().unwrap()),
            1_250_000
        );
        assert_eq!(
            u32::from_ne_bytes(o[4 + 24..4 + 28].try_into().unwrap()),
            t.limit
        );
        // Then TCA_TBF_BURST; no RATE64 below 32 bits.
        assert_eq!(u16::from_ne_bytes([o[42], o[43]]), TCA_TBF_BURST);
        assert_eq!(o.len(), 40 + 8);
        let fast = Tbf::for_rate(400_000_000_000).options();
        assert_eq!(u16::from_ne_bytes([fast[42], fast[43]]), TCA_TBF_RATE64);
        assert_eq!(
            u32::from_ne_bytes(fast[4 + 8..4 + 12].try_into().unwrap()),
            u32::MAX
        );
    }

    #[test]
    fn netem_options_are_a_qopt_then_attributes() {
        let n = Netem {
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(1),
            loss: 0.25,
            rate: Some(1_000_000),
            ..Netem::default()
        };
        let o = n.options();
        let word = |i: usize| u32::from_ne_bytes(o[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(word(0), 10_000_000 / 64);
        assert_eq!(word(1), NETEM_LIMIT);
        assert_eq!(word(2), (u32::MAX as f64 * 0.25).round() as u32);
        assert_eq!(word(5), 1_000_000 / 64);
        assert_eq!(u16::from_ne_bytes([o[24], o[25]]), 20);
        assert_eq!(u16::from_ne_bytes([o[26], o[27]]), TCA_NETEM_RATE);
        assert_eq!(word(7), 1_000_000);
        assert_eq!(o.len(), 24 + 20);
        assert_eq!(probability(1.0), u32::MAX);
    }

    #[test]
    fn netem_reorder_corrupt_duplicate_bursty_loss_limit_and_seed() {
        let n = Netem {
            delay: Duration::from_millis(10),
            duplicate: 0.5,
            reorder: 0.25,
            corrupt: 1.0,
            gemodel: Some([0.01, 0.5, 1.0, 0.0]),
            limit: 100,
            seed: Some(7),
            ..Netem::default()
        };
        let o = n.options();
        let word = |i: usize| u32::from_ne_bytes(o[i..i + 4].try_into().unwrap());
        assert_eq!(word(4), 100); // limit
        assert_eq!(word(12), 1); // gap
        assert_eq!(word(16), probability(0.5)); // duplicate
                                                // REORDER { p, 0 }, CORRUPT { p, 0 }, LOSS { GE { p, r, h, k1 } }, PRNG_SEED.
        assert_eq!(u16::from_ne_bytes([o[26], o[27]]), TCA_NETEM_REORDER);
        assert_eq!(word(28), probability(0.25));
        assert_eq!(u16::from_ne_bytes([o[38], o[39]]), TCA_NETEM_CORRUPT);
        assert_eq!(word(40), u32::MAX);
        assert_eq!(u16::from_ne_bytes([o[48], o[49]]), 24);
        assert_eq!(u16::from_ne_bytes([o[50], o[51]]), TCA_NETEM_LOSS);
        assert_eq!(u16::from_ne_bytes([o[54], o[55]]), NETEM_LOSS_GE);
        assert_eq!(word(56), probability(0.01));
        assert_eq!(word(64), 0); // h = 1 - loss in the bad state
        assert_eq!(u16::from_ne_bytes([o[74], o[75]]), TCA_NETEM_PRNG_SEED);
        assert_eq!(u64::from_ne_bytes(o[76..84].try_into().unwrap()), 7);
        assert_eq!(o.len(), 84);
    }
}
