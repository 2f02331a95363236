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
