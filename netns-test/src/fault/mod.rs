//! Faults and link conditions: partitions, links down, rate limits, delay, jitter, loss
//! (independent or in bursts), reorder, duplicate, corrupt; declared in the topology or
//! set at run time, seeded, and proven by probes when asked.
//!
//! | instead of                                              | write                                                          |
//! | ------------------------------------------------------- | -------------------------------------------------------------- |
//! | `ip link set eth0 down` / `up`                          | `node.link("eth0").down().await?` / [`up`](crate::LinkHandle::up) |
//! | `iptables -A INPUT -s B -j DROP` in every node, by hand | `let p = net.partition(&[&["a", "b"], &["c"]])?; ... p.heal()?` |
//! | `tc qdisc replace dev eth0 root tbf rate 10mbit ...`    | `node.conditions("eth0").rate(10_000_000).await?`              |
//! | `tc qdisc replace dev eth0 root netem delay 50ms 5ms loss 1%` | `node.conditions("eth0").set(Conditions::new().delay(ms(50)).jitter(ms(5)).loss(0.01)).await?` |
//! | `tc qdisc del dev eth0 root`                            | `node.conditions("eth0").clear().await?`                       |
//! | `tc -s qdisc show dev eth0` (a relay's counters)        | `node.conditions("eth0").stats().await?`                       |
//! | `tc qdisc show dev eth0` (what is set)                  | `node.conditions("eth0").get().await?`                         |
//! | `netem loss gemodel 1% 25%` / `reorder 25% gap 1` / `duplicate 1%` / `corrupt 0.1%` / `limit 100` | [`Conditions::bursty_loss`], [`reorder`](Conditions::reorder), [`duplicate`](Conditions::duplicate), [`corrupt`](Conditions::corrupt), [`queue`](Conditions::queue) |
//! | an ifb device, an ingress qdisc, a mirred redirect, netem on the ifb | `node.conditions("eth0").ingress().set(..).await?`    |
//! | `tc qdisc add ...` in a setup script, after the topology | `.link_with(A, B, SUBNET, \|l\| l.egress(c).ingress(c2))`, `a.profile(Profile::lte())` |
//! | `netem ... seed N` (and no seed without netem)          | [`Conditions::seed`], or `NETNS_TEST_SEED=N` for a whole run ([`Net::seed`]) |
//!
//! Conditions apply to the frames an interface **sends**, like a qdisc:
//! [`ConditionsHandle::ingress`] gives the frames it receives, set on the other end of its
//! link (the bridge port of an attachment, the peer's interface of a link), where a
//! physical interface would need an ifb device.
//!
//! # Conditions in the topology
//!
//! A link or an attachment declares what it does both ways:
//! [`egress`](crate::topology::LinkBuilder::egress) (what `a`, or the attached node,
//! sends), [`ingress`](crate::topology::LinkBuilder::ingress) (what it receives),
//! [`conditions`](crate::topology::LinkBuilder::conditions) (both the same) or
//! [`profile`](crate::topology::LinkBuilder::profile) (a [`Profile`]: LAN, Wi-Fi, bad
//! Wi-Fi, 4G, 3G, LEO and GEO satellite presets, each with its figures and their source,
//! or the test's own). They are set when the network is built, before the body starts, and
//! read back and changed like conditions set at run time. Anything beyond a rate limit
//! makes the link impairable, so the same topology runs where the kernel has netem and
//! where it has not.
//!
//! ```
//! use netns_test::fault::{Conditions, Profile};
//! use netns_test::Topology;
//! use std::time::Duration;
//!
//! let t = Topology::new()
//!     .bridge("wan", "10.0.0.0/24")
//!     .node("phone", |n| n.on_with("wan", |a| a.profile(Profile::lte())))
//!     .node("server", |n| n.on("wan"))
//!     .node("peer", |n| n)
//!     .link_with("server", "peer", "10.0.1.0/30", |l| {
//!         l.egress(Conditions::new().delay(Duration::from_millis(20)).loss(0.01))
//!     });
//! assert_eq!(t.plan().unwrap().conditions.len(), 3);
//! ```
//!
//! # Seeds
//!
//! Every random draw (relay loss, bursty loss, jitter, reorder, duplicate, corrupt) comes
//! from a seed: [`Conditions::seed`] if given, else the network's [`Net::seed`], which is
//! [`SEED_ENV`] (`NETNS_TEST_SEED`) when set and a fresh number otherwise. The relay keeps
//! one stream per flow (EtherType, addresses, protocol, ports), restarted by each
//! [`ConditionsHandle::set`]: the frames of a flow meet the same fate for the same seed
//! whatever other traffic (ARP, neighbour discovery, other connections) crosses the link.
//! A failing test that used random conditions prints, with its diagnostics:
//!
//! ```text
//! netns-test: random link conditions drew from seed 48213377: NETNS_TEST_SEED=48213377 replays the same draws for the same traffic
//! ```
//!
//! netem draws from the same seed where the kernel takes one (`TCA_NETEM_PRNG_SEED`);
//! older kernels ignore it, and their netem draws are not replayed.
//!
//! # Faults that prove themselves
//!
//! An injected fault that silently did nothing makes a chaos test pass for the wrong
//! reason. [`Net::verified`] applies a fault between a positive control (the probe gets
//! through before) and a proof (it does not after; or, for an impairment, the round trip
//! grew or the relay counted its drops, copies, flips or reorders); a fault that did
//! nothing fails naming it. It is asked for, not the default: each proof costs probes and
//! an isolation wait.
//!
//! [`Net::never_reaches`] watches a negative claim for the whole body: a background loop
//! probes every address of the target (IPv4 and IPv6) each [`WATCH_PERIOD`], and the
//! guard it returns fails with every time a probe got through, when finished or when
//! dropped at the end of the body.
//!
//! # How conditions are made
//!
//! - **Rate**: a `tbf` qdisc on the interface (bucket of 5 ms at the rate, at least four
//!   full frames; queue of 50 ms), over rtnetlink.
//! - **Delay, jitter, loss, bursty loss, reorder, duplicate, corrupt, queue** where the
//!   kernel has `sch_netem`: a `netem` qdisc on the interface, over rtnetlink (with
//!   netem's own rate limit when a rate is asked for too).
//!   Whether netem exists is found by trying ([`netem_available`]); a kernel that does not
//!   know it answers `ENOENT` ("Specified qdisc kind is unknown").
//! - **The same without netem**: a relay. A link declared impairable in the
//!   topology ([`LinkBuilder::impairable`](crate::topology::LinkBuilder::impairable),
//!   [`AttachBuilder::impairable`](crate::topology::AttachBuilder::impairable)) is built
//!   as two veth pairs with a hidden node in the middle (named `~relay-NODE-IFACE`), where
//!   one thread per direction reads every frame from one side with an `AF_PACKET` socket,
//!   draws its fate in netem's order (loss, duplicate, corrupt, reorder), holds it in a
//!   queue until its departure time (arrival + delay ± jitter, uniform, like netem without
//!   a distribution table; at once when reordered) and writes it out of the other side. Addresses, MACs, names and routes at the two ends
//!   are what they would be without the relay; until conditions are set it forwards
//!   frames as they come. The rate is then still a `tbf` qdisc on the interface itself.
//!
//! [`Emulator`] forces one way or the other; by default netem is used where it exists.
//! A condition that cannot be honoured is an error that says why and what to do
//! ([`crate::Error::Condition`]): delay or loss on a link that is not impairable on a
//! kernel without netem, a probability outside 0..=1 (named: `duplicate must be ...`),
//! independent and bursty loss together, reorder without a delay, a queue of 0 or, on the
//! relay, above its 1000 frames, a rate of 0.
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
//! - **Loss**: an independent draw per frame, or Gilbert-Elliott's two states (the state
//!   moves, then the loss of the state the frame arrived in applies, as in netem); each
//!   flow draws from its own splitmix64 stream (see [Seeds](#seeds)). A direction keeps
//!   4096 flows' streams; past that they all restart.
//! - **Duplicate, corrupt**: a duplicate is a second copy sent right after the first
//!   (counted in [`RelayStats::duplicated`]); a corrupted frame has one bit flipped after
//!   its Ethernet header, and a checksum the kernel was still to compute is left as it was,
//!   so the receiver drops it like a frame damaged on the wire, except in GSO frames,
//!   whose segments get their checksums anew ([`RelayStats::corrupted`]).
//! - **Frames, not packets**: TCP over veth sends GSO frames of up to 64 KiB, and the
//!   relay (like netem) delays or drops such a frame as a whole. Frames keep their
//!   offload metadata (`PACKET_VNET_HDR`), so checksums stay valid and no MTU applies
//!   inside the relay; a frame larger than 128 KiB is counted in [`RelayStats::failed`].
//! - **Reordering**: [`Conditions::reorder`] sends a frame at once, ahead of the delayed
//!   ones ([`RelayStats::reordered`]); with jitter, a frame drawn a shorter delay
//!   overtakes earlier ones (as with netem); lowering the delay at run time lets new frames
//!   overtake queued ones.
//! - **Queue**: at most 1000 frames (or [`Conditions::queue`], up to 1000) or 32 MiB per
//!   direction (netem's default limit is 1000 packets); beyond that, and beyond what one thread reads, frames are dropped and
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
mod verify;
mod watch;

pub use partition::Partition;
pub use verify::Verified;
pub use watch::{NeverReaches, Watched, WATCH_PERIOD};
// Declared in topologies; re-exported here, where conditions are set.
pub use crate::topology::conditions::{Conditions, Emulator, GilbertElliott, MAX_DELAY};
pub use crate::topology::profiles::Profile;
// Set by the network (the topology's conditions, when it is built); re-exported here.
pub use crate::net::conditions::{netem_available, Applied, ConditionsHandle};
// Planned by the topology; re-exported here, where relays are used.
pub use crate::net::{RelayStats, SEED_ENV};
pub use crate::topology::{PlannedRelay, RelaySide, RELAY_PREFIX};

#[cfg(doc)]
use crate::net::{Net, Node};
