//! Faults and link conditions at run time: partitions, rate limits, delay, jitter and loss.
//!
//! | instead of                                              | write                                                          |
//! | ------------------------------------------------------- | -------------------------------------------------------------- |
//! | `ip link set eth0 down` / `up`                          | `node.link("eth0").down().await?` / [`up`](crate::LinkHandle::up) |
//! | `iptables -A INPUT -s B -j DROP` in every node, by hand | `let p = net.partition(&[&["a", "b"], &["c"]])?; ... p.heal()?` |
//! | `tc qdisc replace dev eth0 root tbf rate 10mbit ...`    | `node.conditions("eth0").rate(10_000_000).await?`              |
//! | `tc qdisc replace dev eth0 root netem delay 50ms 5ms loss 1%` | `node.conditions("eth0").set(Conditions::new().delay(ms(50)).jitter(ms(5)).loss(0.01)).await?` |
//! | `tc qdisc del dev eth0 root`                            | `node.conditions("eth0").clear().await?`                       |
//! | `tc -s qdisc show dev eth0` (a relay's counters)        | `node.conditions("eth0").stats().await?`                       |
//!
//! Conditions apply to the frames an interface **sends**, like a qdisc: for a symmetric
//! round-trip delay, set them on both ends of the link (or set the whole delay on one).
//!
//! # How conditions are made
//!
//! - **Rate**: a `tbf` qdisc on the interface (bucket of 5 ms at the rate, at least four
//!   full frames; queue of 50 ms), over rtnetlink.
//! - **Delay, jitter, loss** where the kernel has `sch_netem`: a `netem` qdisc on the
//!   interface, over rtnetlink (with netem's own rate limit when a rate is asked for too).
//!   Whether netem exists is found by trying ([`netem_available`]); a kernel that does not
//!   know it answers `ENOENT` ("Specified qdisc kind is unknown").
//! - **Delay, jitter, loss without netem**: a relay. A link declared impairable in the
//!   topology ([`LinkBuilder::impairable`](crate::topology::LinkBuilder::impairable),
//!   [`AttachBuilder::impairable`](crate::topology::AttachBuilder::impairable)) is built
//!   as two veth pairs with a hidden node in the middle (named `~relay-NODE-IFACE`), where
//!   one thread per direction reads every frame from one side with an `AF_PACKET` socket,
//!   drops it with the loss probability, holds it in a queue until its departure time
//!   (arrival + delay ± jitter, uniform, like netem without a distribution table) and
//!   writes it out of the other side. Addresses, MACs, names and routes at the two ends
//!   are what they would be without the relay; until conditions are set it forwards
//!   frames as they come. The rate is then still a `tbf` qdisc on the interface itself.
//!
//! [`Emulator`] forces one way or the other; by default netem is used where it exists.
//! A condition that cannot be honoured is an error that says why and what to do
//! ([`crate::Error::Condition`]): delay or loss on a link that is not impairable on a
//! kernel without netem, a loss outside 0..=1, a rate of 0.
//!
//! # Partitions
//!
//! [`Net::partition`] gives every member node an nftables table of its own that drops, in
//! its input and output hooks, packets from and to the addresses of the other groups'
//! nodes: it works the same on a bridge, across routers or over an overlay, leaves the
//! topology's and the test's own rules alone, and cuts established connections too.
//! [`Partition::heal`] (or dropping the [`Partition`]) deletes those tables.
//!
//! # The relay's limits
//!
//! - **Delay**: a frame leaves at its departure time plus the relay thread's wake-up
//!   latency (timer slack is set to 1 µs), counted from when the relay reads the frame;
//!   [`RelayStats::mean_lateness`] and [`RelayStats::max_lateness`] report it.
//! - **Loss**: an independent draw per frame (splitmix64, seeded per relay and direction,
//!   so the same sequence of frames sees the same drops run after run).
//! - **Frames, not packets**: TCP over veth sends GSO frames of up to 64 KiB, and the
//!   relay (like netem) delays or drops such a frame as a whole. Frames keep their
//!   offload metadata (`PACKET_VNET_HDR`), so checksums stay valid and no MTU applies
//!   inside the relay; a frame larger than 128 KiB is counted in [`RelayStats::failed`].
//! - **Reordering**: with jitter, a frame drawn a shorter delay overtakes earlier ones
//!   (as with netem); lowering the delay at run time lets new frames overtake queued ones.
//! - **Queue**: at most 1000 frames or 32 MiB per direction (netem's default limit is
//!   1000 packets); beyond that, and beyond what one thread reads, frames are dropped and
//!   counted in [`RelayStats::overflowed`]. Each side's socket buffers are 4 MiB
//!   (`SO_RCVBUFFORCE`, which the sandbox's user namespace may use; else up to
//!   `net.core.rmem_max`).
//! - **CPU**: one thread per direction, blocked in `ppoll` when idle; under load each
//!   takes up to a core.
//! - **Carrier**: the relay's own interfaces stay up when one end is taken down
//!   ([`LinkHandle::down`](crate::LinkHandle::down)): the other end keeps its carrier and
//!   sees silence instead.
//! - **Visibility**: the relay is a node of the [`Net`] without address or name
//!   ([`Node::is_relay`]; names start with [`RELAY_PREFIX`]); the diagnostics capture both
//!   of its links.
//!
//! How late, how lossy and how fast the relay and the rate limit are in practice (delay,
//! loss, throughput, frames per second, build cost, goodput under [`ConditionsHandle::rate`])
//! is measured by `relay_measurements` in `tests/faults.rs` and reported in
//! `docs/measurements.md`.

mod partition;

use std::fmt;
use std::time::Duration;

pub use partition::Partition;
// Planned by the topology; re-exported here, where relays are used.
pub use crate::net::RelayStats;
pub use crate::topology::{PlannedRelay, RelaySide, RELAY_PREFIX};

use crate::error::{Error, Result};
use crate::kernel::tc;
use crate::net::{relay, LinkConditions, Net, Node};
use crate::topology::Plan;

/// That the kernel has no netem qdisc, with the error that told, if known.
fn no_netem(net: &Net) -> String {
    format!(
        "this kernel has no netem qdisc (sch_netem{})",
        match net.state().netem.get() {
            Some(Err(e)) => format!(": {e}"),
            _ => String::new(),
        }
    )
}

/// The longest delay (plus jitter) accepted.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// Link conditions for the frames an interface sends: see [`ConditionsHandle::set`].
///
/// ```
/// use netns_test::fault::Conditions;
/// use std::time::Duration;
///
/// let wan = Conditions::new()
///     .delay(Duration::from_millis(40))
///     .jitter(Duration::from_millis(5))
///     .loss(0.01)
///     .rate(20_000_000);
/// // The same, as a struct:
/// let same = Conditions {
///     delay: Duration::from_millis(40),
///     jitter: Duration::from_millis(5),
///     loss: 0.01,
///     rate: Some(20_000_000),
///     ..Default::default()
/// };
/// assert_eq!(wan, same);
/// assert_eq!(wan.to_string(), "40 ms delay ± 5 ms, 1% loss, rate 20 Mbit/s");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Conditions {
    /// Added one-way delay.
    pub delay: Duration,
    /// Each frame's delay is drawn uniformly from `delay ± jitter` (at least 0).
    pub jitter: Duration,
    /// Probability that a frame is dropped, from 0.0 to 1.0.
    pub loss: f64,
    /// Rate limit in bits per second (layer 2: Ethernet headers count).
    pub rate: Option<u64>,
    /// What makes delay, jitter and loss.
    pub via: Emulator,
}

impl Conditions {
    /// No condition: the interface as built.
    pub fn new() -> Conditions {
        Conditions::default()
    }

    /// Sets the one-way delay.
    pub fn delay(mut self, delay: Duration) -> Conditions {
        self.delay = delay;
        self
    }

    /// Sets the jitter.
    pub fn jitter(mut self, jitter: Duration) -> Conditions {
        self.jitter = jitter;
        self
    }

    /// Sets the loss probability (0.3 drops 30% of frames).
    pub fn loss(mut self, loss: f64) -> Conditions {
        self.loss = loss;
        self
    }

    /// Sets the rate limit, in bits per second.
    pub fn rate(mut self, bits_per_sec: u64) -> Conditions {
        self.rate = Some(bits_per_sec);
        self
    }

    /// Sets what makes delay, jitter and loss.
    pub fn via(mut self, via: Emulator) -> Conditions {
        self.via = via;
        self
    }

    /// Delay, jitter or loss asked for (what a rate limit alone does not give).
    fn impairs(&self) -> bool {
        !self.delay.is_zero() || !self.jitter.is_zero() || self.loss > 0.0
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(0.0..=1.0).contains(&self.loss) {
            return Err(format!(
                "the loss must be a probability from 0.0 to 1.0 (0.3 drops 30% of frames), not {}",
                self.loss
            ));
        }
        if self.rate == Some(0) {
            return Err(
                "a rate of 0 bit/s would stop all traffic: take the link down with node.link(IFACE).down() instead"
                    .to_string(),
            );
        }
        if self.delay.saturating_add(self.jitter) > MAX_DELAY {
            return Err(format!(
                "delay plus jitter is {:?}; at most {MAX_DELAY:?} is supported",
                self.delay.saturating_add(self.jitter)
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Conditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.delay.is_zero() || !self.jitter.is_zero() {
            let mut s = format!("{} delay", fmt_duration(self.delay));
            if !self.jitter.is_zero() {
                s.push_str(&format!(" ± {}", fmt_duration(self.jitter)));
            }
            parts.push(s);
        }
        if self.loss > 0.0 {
            parts.push(format!("{}% loss", self.loss * 100.0));
        }
        if let Some(rate) = self.rate {
            parts.push(format!("rate {}", fmt_rate(rate)));
        }
        if parts.is_empty() {
            f.write_str("no conditions")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// `25 ms`, `500 µs`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1.0 {
        format!("{} ms", (ms * 1000.0).round() / 1000.0)
    } else {
        format!("{} µs", d.as_micros())
    }
}

/// `20 Mbit/s`, `1.5 Gbit/s`, `800 kbit/s`, `300 bit/s`.
pub(crate) fn fmt_rate(bits_per_sec: u64) -> String {
    let r = bits_per_sec as f64;
    let (v, unit) = if r >= 1e9 {
        (r / 1e9, "Gbit/s")
    } else if r >= 1e6 {
        (r / 1e6, "Mbit/s")
    } else if r >= 1e3 {
        (r / 1e3, "kbit/s")
    } else {
        (r, "bit/s")
    };
    format!("{} {unit}", (v * 100.0).round() / 100.0)
}

/// What makes delay, jitter and loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Emulator {
    /// netem where the kernel has it, else the link's relay.
    #[default]
    Auto,
    /// Only netem: an error on a kernel without it.
    Netem,
    /// Only the relay: an error on a link that is not impairable.
    Relay,
}

/// What [`ConditionsHandle::set`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Applied {
    /// No condition is left on the interface.
    Cleared,
    /// Only a rate limit: a `tbf` qdisc.
    Rate,
    /// A `netem` qdisc (with its rate limit, if one was asked for).
    Netem,
    /// The link's relay (and a `tbf` qdisc for a rate limit).
    Relay,
}

/// Remembers, for the diagnostics of `net`, what the frames `ifname` of `node` sends go
/// through now.
fn remember(net: &Net, node: &str, ifname: &str, c: &Conditions, applied: Applied) {
    let mut all = net
        .state()
        .conditions
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    all.retain(|l| !(l.node == node && l.iface == ifname));
    let via = match applied {
        Applied::Cleared => return,
        Applied::Rate => "tbf",
        Applied::Netem => "netem",
        Applied::Relay => "the link's relay",
    };
    all.push(LinkConditions {
        node: node.to_string(),
        iface: ifname.to_string(),
        delay: c.delay,
        jitter: c.jitter,
        loss: c.loss,
        rate: c.rate,
        via: via.to_string(),
    });
}

/// Remembers, for `net`, that the kernel has netem.
fn netem_is_present(net: &Net) {
    let _ = net.state().netem.set(Ok(()));
}

/// Remembers, for `net`, that the kernel has no netem, and how it said so.
fn netem_is_absent(net: &Net, e: &rtnetlink::Error) {
    let answer = match tc::errno(e) {
        Some(libc::ENOENT) => "ENOENT, \"Specified qdisc kind is unknown\"".to_string(),
        Some(libc::EOPNOTSUPP) => "EOPNOTSUPP".to_string(),
        _ => e.to_string(),
    };
    let _ = net
        .state()
        .netem
        .set(Err(format!("adding one was refused with {answer}")));
}

/// Whether the kernel has the `netem` qdisc (`sch_netem`), found by adding one to `lo`
/// of `node` and removing it again; the answer is remembered by the node's network.
pub async fn netem_available(node: &Node) -> Result<bool> {
    let net = node.network().ok_or_else(|| Error::NetworkGone {
        node: node.name().to_string(),
        needed_for: "probing netem needs the node's network",
    })?;
    if let Some(known) = net.state().netem.get() {
        return Ok(known.is_ok());
    }
    let nl = node.netlink();
    match tc::replace_root(nl, 1, "netem", tc::Netem::default().options()).await {
        Ok(()) => {
            netem_is_present(&net);
            tc::delete_root(nl, 1).await.map_err(|e| {
                Error::netlink(
                    format!("node {:?}: removing the netem probe from lo", node.name()),
                    e,
                )
            })?;
            Ok(true)
        }
        Err(e) if netem_absent(&e) => {
            netem_is_absent(&net, &e);
            Ok(false)
        }
        Err(e) => Err(Error::netlink(
            format!("node {:?}: adding a netem qdisc to lo", node.name()),
            e,
        )),
    }
}

/// The answers of a kernel without the qdisc kind.
fn netem_absent(e: &rtnetlink::Error) -> bool {
    matches!(tc::errno(e), Some(libc::ENOENT) | Some(libc::EOPNOTSUPP))
}

impl Default for tc::Netem {
    fn default() -> Self {
        tc::Netem {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            rate: None,
        }
    }
}

/// Where an interface of a node is in the plan.
struct Target {
    net: Net,
    /// The node (its namespace's owner, for a node sharing another's).
    node: usize,
    ifindex: u32,
}

impl Node {
    /// Whether this is the hidden relay node of an impairable link (see [`crate::fault`]).
    pub fn is_relay(&self) -> bool {
        self.name().starts_with(RELAY_PREFIX)
    }

    fn target(&self, ifname: &str) -> Result<Target> {
        let net = self.network().ok_or_else(|| Error::NetworkGone {
            node: self.name().to_string(),
            needed_for: "link conditions need the test's network",
        })?;
        let plan: &Plan = net.plan();
        let i = plan
            .node_index(self.name())
            .expect("a node of the network's plan");
        let node = plan.nodes[i].net_of.unwrap_or(i);
        let ifindex = plan.ifindex(node, ifname).ok_or_else(|| {
            let mut names: Vec<String> = plan
                .veths
                .iter()
                .flat_map(|v| &v.ends)
                .filter(|e| e.node == node)
                .map(|e| e.name.clone())
                .chain(
                    plan.bridges
                        .iter()
                        .filter(|b| b.node == node)
                        .map(|b| b.name.clone()),
                )
                .collect();
            names.sort();
            Error::UnknownInterface {
                node: self.name().to_string(),
                name: ifname.to_string(),
                known: names,
                conditions: true,
            }
        })?;
        Ok(Target { net, node, ifindex })
    }

    /// The link conditions of the frames interface `ifname` of this node sends: like `tc
    /// qdisc ... dev IFNAME root netem|tbf` run in the node (see [`crate::fault`]). The
    /// interface may be one of the node's, or, on the node holding a bridge, a bridge port
    /// (`a-eth0`: the frames toward `a`).
    pub fn conditions(&self, ifname: &str) -> ConditionsHandle {
        ConditionsHandle {
            node: self.clone(),
            ifname: ifname.to_string(),
        }
    }
}

/// The link conditions of one interface of a node (see [`Node::conditions`]), like `tc
/// qdisc replace|del dev IFACE root netem|tbf` commands.
#[derive(Clone, Debug)]
pub struct ConditionsHandle {
    node: Node,
    ifname: String,
}

impl ConditionsHandle {
    /// Limits the rate at which the interface sends, in bits per second (a `tbf` qdisc:
    /// `tc qdisc replace dev IFACE root tbf rate RATE burst 5ms limit 50ms`). Replaces
    /// every condition the interface had; the same as [`ConditionsHandle::set`] with only
    /// a rate.
    pub async fn rate(&self, bits_per_sec: u64) -> Result<()> {
        self.set(Conditions::new().rate(bits_per_sec))
            .await
            .map(drop)
    }

    /// Removes every condition from the interface (`tc qdisc del dev IFACE root`): no
    /// qdisc of ours, and its relay (if any) forwards frames as they come.
    pub async fn clear(&self) -> Result<()> {
        self.set(Conditions::new()).await.map(drop)
    }

    /// Sets the conditions of the frames the interface sends: delay, jitter, loss and
    /// rate, replacing whatever it had (`tc qdisc replace dev IFACE root netem delay D J
    /// loss L rate R`, or `tbf` for a rate alone, or the link's relay).
    ///
    /// ```no_run
    /// use netns_test::fault::Conditions;
    /// use netns_test::{netns_test, Net, Topology};
    /// use std::time::Duration;
    ///
    /// fn wan() -> Topology {
    ///     Topology::new()
    ///         .node("a", |n| n)
    ///         .node("b", |n| n)
    ///         // Impairable: delay and loss work even where the kernel has no netem.
    ///         .link_with("a", "b", "10.0.0.0/30", |l| l.impairable())
    /// }
    ///
    /// #[netns_test(topology = wan())]
    /// async fn survives_a_slow_lossy_link(net: Net) -> netns_test::Result<()> {
    ///     let slow = Conditions::new().delay(Duration::from_millis(25)).loss(0.02);
    ///     net.node("a").conditions("eth0").set(slow).await?;
    ///     net.node("b").conditions("eth0").set(slow).await?;
    ///     // ... 50 ms round trips, 4% of exchanges lose a packet
    ///     Ok(())
    /// }
    /// ```
    ///
    /// Delay, jitter and loss come from netem, or from the link's relay where the kernel
    /// has no netem (see the [module docs](crate::fault)); [`Conditions::via`] picks one.
    /// The result says which. Fails with [`Error::Condition`] when the conditions are
    /// invalid or cannot be made here, with what to do instead.
    pub async fn set(&self, c: Conditions) -> Result<Applied> {
        let applied = self.apply(c).await?;
        if let Some(net) = self.node.network() {
            remember(&net, self.node.name(), &self.ifname, &c, applied);
        }
        Ok(applied)
    }

    /// [`ConditionsHandle::set`], but for remembering what it did.
    async fn apply(&self, c: Conditions) -> Result<Applied> {
        let (node, ifname) = (&self.node, self.ifname.as_str());
        let refuse = |why: String| Error::Condition {
            node: Some(node.name().to_string()),
            message: format!("node {:?}: cannot set {c} on {ifname}: {why}", node.name()),
        };
        c.validate().map_err(refuse)?;
        let t = node.target(ifname)?;
        let nl = node.netlink();
        let relay = relay::find(&t.net, t.node, ifname);
        let nl_err = |what: &str| {
            let what = format!("node {:?}: {what} on {ifname}", node.name());
            move |e| Error::netlink(what, e)
        };
        let set_relay = |delay, jitter, loss| {
            if let Some((r, side)) = &relay {
                r.dirs[*side].set(delay, jitter, loss);
            }
        };
        // The rate (or nothing) on the interface itself: a tbf qdisc or none.
        let rate_only = || async {
            match c.rate {
                Some(bps) => {
                    tc::replace_root(nl, t.ifindex, "tbf", tc::Tbf::for_rate(bps).options())
                        .await
                        .map_err(nl_err("adding a tbf qdisc"))
                }
                None => tc::delete_root(nl, t.ifindex)
                    .await
                    .map_err(nl_err("removing the root qdisc")),
            }
        };
        if !c.impairs() {
            set_relay(Duration::ZERO, Duration::ZERO, 0.0);
            rate_only().await?;
            return Ok(if c.rate.is_some() {
                Applied::Rate
            } else {
                Applied::Cleared
            });
        }
        let try_netem = match c.via {
            Emulator::Relay => false,
            Emulator::Netem => true,
            Emulator::Auto => !matches!(t.net.state().netem.get(), Some(Err(_))),
        };
        if try_netem {
            let netem = tc::Netem {
                delay: c.delay,
                jitter: c.jitter,
                loss: c.loss,
                rate: c.rate.map(|bps| bps.div_ceil(8)),
            };
            match tc::replace_root(nl, t.ifindex, "netem", netem.options()).await {
                Ok(()) => {
                    netem_is_present(&t.net);
                    set_relay(Duration::ZERO, Duration::ZERO, 0.0);
                    return Ok(Applied::Netem);
                }
                Err(e) if netem_absent(&e) => netem_is_absent(&t.net, &e),
                Err(e) => return Err(nl_err("adding a netem qdisc")(e)),
            }
        }
        if c.via == Emulator::Netem {
            return Err(refuse(format!(
                "{}; use Emulator::Auto or Emulator::Relay on an impairable link, or a kernel with sch_netem",
                no_netem(&t.net)
            )));
        }
        let Some((r, side)) = &relay else {
            return Err(refuse(self.no_relay(c.via, &t.net)));
        };
        rate_only().await?;
        r.dirs[*side].set(c.delay, c.jitter, c.loss);
        Ok(Applied::Relay)
    }

    /// Why conditions that need a relay (`via`: [`Emulator::Relay`] or
    /// [`Emulator::Auto`] without netem) cannot be set on this interface, which has none.
    fn no_relay(&self, via: Emulator, net: &Net) -> String {
        let ifname = self.ifname.as_str();
        let link = self
            .node
            .try_iface(ifname)
            .map(|i| format!("link {}", i.network))
            .unwrap_or_else(|_| format!("link of {ifname}"));
        let how = "declare the link impairable in the topology: Topology::link_with(A, B, SUBNET, |l| l.impairable()) for a link, NodeBuilder::on_with(NETWORK, |a| a.impairable()) for a bridge attachment";
        if via == Emulator::Relay {
            format!("Emulator::Relay was asked for, but the {link} has no relay; {how}")
        } else {
            format!(
                "{}, and the {link} was not declared impairable, so no relay can stand in for it; {how}; or run on a kernel with sch_netem",
                no_netem(net)
            )
        }
    }

    /// The counters of the relay of the interface's impairable link, for the frames the
    /// interface sends (what `tc -s qdisc show dev IFACE` counts for a netem qdisc).
    pub async fn stats(&self) -> Result<RelayStats> {
        let (node, ifname) = (&self.node, self.ifname.as_str());
        let t = node.target(ifname)?;
        relay::find(&t.net, t.node, ifname)
            .map(|(r, side)| r.stats(side))
            .ok_or_else(|| Error::NoRelay {
                node: node.name().to_string(),
                iface: ifname.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_read_well_and_are_checked() {
        let c = Conditions::new()
            .delay(Duration::from_micros(500))
            .loss(0.3);
        assert_eq!(c.to_string(), "500 µs delay, 30% loss");
        assert_eq!(Conditions::new().to_string(), "no conditions");
        assert!(Conditions::new()
            .loss(1.5)
            .validate()
            .unwrap_err()
            .contains("not 1.5"));
        assert!(Conditions::new().loss(f64::NAN).validate().is_err());
        assert!(Conditions::new()
            .rate(0)
            .validate()
            .unwrap_err()
            .contains("link(IFACE).down()"));
        assert!(Conditions::new()
            .delay(Duration::from_secs(61))
            .validate()
            .is_err());
        assert_eq!(fmt_rate(1_500_000_000), "1.5 Gbit/s");
        assert_eq!(fmt_rate(800_000), "800 kbit/s");
    }
}
