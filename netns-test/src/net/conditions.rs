//! Link conditions on an interface: `tbf`, `netem` or the link's relay (see
//! [`crate::fault`], where they are public).

use std::sync::atomic::Ordering::Relaxed;

use crate::error::{Error, Result};
use crate::kernel::tc;
use crate::net::{relay, LinkConditions, Net, Node, RelayStats};
use crate::topology::conditions::{Conditions, Emulator};
use crate::topology::{Plan, RELAY_PREFIX};

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
        .link_conditions
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
    /// (`a-eth0`: the frames toward `a`). [`ConditionsHandle::ingress`] gives the frames
    /// it receives instead.
    pub fn conditions(&self, ifname: &str) -> ConditionsHandle {
        ConditionsHandle {
            node: self.clone(),
            ifname: ifname.to_string(),
            ingress: false,
        }
    }
}

/// The link conditions of one interface of a node (see [`Node::conditions`]), like `tc
/// qdisc replace|del dev IFACE root netem|tbf` commands.
#[derive(Clone, Debug)]
pub struct ConditionsHandle {
    node: Node,
    ifname: String,
    /// The frames the interface receives: those the other end of its link sends.
    ingress: bool,
}

/// The end of the link of interface `ifname` of node `node` (plan indexes, namespace
/// owners) that is not it: the other end of its veth pair, or across its relay.
fn far_end(net: &Net, node: usize, ifname: &str) -> Option<(usize, String)> {
    if let Some((r, side)) = relay::find(net, node, ifname) {
        return Some(r.sides[1 - side].clone());
    }
    let plan = net.plan();
    plan.veths.iter().find_map(|v| {
        let k = v
            .ends
            .iter()
            .position(|e| e.node == node && e.name == ifname)?;
        let other = &v.ends[1 - k];
        Some((other.node, other.name.clone()))
    })
}

impl ConditionsHandle {
    /// The frames this interface receives instead of those it sends: the conditions of
    /// the other end of its link (the bridge port for a bridge attachment, the peer node's
    /// interface for a point-to-point link), which is where `tc` would need an ifb device
    /// and an ingress redirect (`tc qdisc add dev eth0 handle ffff: ingress; tc filter add
    /// dev eth0 parent ffff: matchall action mirred egress redirect dev ifb0; tc qdisc add
    /// dev ifb0 root netem ...`).
    pub fn ingress(mut self) -> ConditionsHandle {
        self.ingress = true;
        self
    }

    /// The node and interface whose sent frames this handle conditions.
    fn sender(&self) -> Result<(Node, String)> {
        if !self.ingress {
            return Ok((self.node.clone(), self.ifname.clone()));
        }
        let t = self.node.target(&self.ifname)?;
        let (n, ifname) = far_end(&t.net, t.node, &self.ifname).ok_or_else(|| {
            Error::Condition {
                node: Some(self.node.name().to_string()),
                message: format!(
                    "node {:?}: {} is not one end of a link of the topology, so nothing stands for its ingress",
                    self.node.name(),
                    self.ifname
                ),
            }
        })?;
        Ok((t.net.nodes()[n].clone(), ifname))
    }

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

    /// The conditions in force, as last set by the topology or the test
    /// ([`Conditions::new`] when none were), like `tc qdisc show dev IFACE`.
    pub async fn get(&self) -> Result<Conditions> {
        let (node, ifname) = self.sender()?;
        let t = node.target(&ifname)?;
        let set = t.net.state().conditions.lock();
        let set = set.unwrap_or_else(|e| e.into_inner());
        Ok(set.get(&(t.node, ifname)).copied().unwrap_or_default())
    }

    /// Sets the conditions of the frames the interface sends (or, after
    /// [`ingress`](ConditionsHandle::ingress), receives): delay, jitter, loss, bursty
    /// loss, reorder, duplicate, corrupt, queue and rate, replacing whatever it had (`tc
    /// qdisc replace dev IFACE root netem delay D J loss L reorder R duplicate P corrupt
    /// C limit Q rate R`, or `tbf` for a rate alone, or the link's relay).
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
    ///     net.node("a").conditions("eth0").ingress().set(slow).await?; // b's eth0
    ///     // ... 50 ms round trips, 4% of exchanges lose a packet
    ///     Ok(())
    /// }
    /// ```
    ///
    /// Delay, jitter and loss come from netem, or from the link's relay where the kernel
    /// has no netem (see the [module docs](crate::fault)); [`Conditions::via`] picks one.
    /// The result says which. Random draws come from [`Conditions::seed`], else from
    /// [`Net::seed`]. Fails with [`Error::Condition`] when the conditions are invalid or
    /// cannot be made here, with what to do instead.
    pub async fn set(&self, c: Conditions) -> Result<Applied> {
        let (node, ifname) = self.sender()?;
        let applied = set(&node, &ifname, c).await?;
        let t = node.target(&ifname)?;
        if c.random() {
            t.net.state().seed_used.store(true, Relaxed);
        }
        remember(&t.net, t.net.nodes()[t.node].name(), &ifname, &c, applied);
        let mut set = t.net.state().conditions.lock();
        let set = set.as_mut().unwrap_or_else(|e| e.get_mut());
        set.insert((t.node, ifname), c);
        Ok(applied)
    }

    /// The counters of the relay of the interface's impairable link, for the frames the
    /// interface sends (what `tc -s qdisc show dev IFACE` counts for a netem qdisc).
    pub async fn stats(&self) -> Result<RelayStats> {
        let (node, ifname) = self.sender()?;
        let t = node.target(&ifname)?;
        relay::find(&t.net, t.node, &ifname)
            .map(|(r, side)| r.stats(side))
            .ok_or_else(|| Error::NoRelay {
                node: node.name().to_string(),
                iface: ifname.to_string(),
            })
    }
}

/// Sets the conditions declared in the network's topology, before its test starts.
pub(crate) async fn apply_planned(net: &Net) -> Result<()> {
    for p in &net.plan().conditions {
        let node = &net.nodes()[p.node];
        node.conditions(&p.ifname)
            .set(p.conditions)
            .await
            .map_err(|e| Error::Condition {
                node: Some(node.name().to_string()),
                message: format!("setting the topology's link conditions: {e}"),
            })?;
    }
    Ok(())
}

/// Sets `c` on the frames `ifname` of `node` sends: see [`ConditionsHandle::set`].
async fn set(node: &Node, ifname: &str, c: Conditions) -> Result<Applied> {
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
    let seed = c.seed.unwrap_or(t.net.seed());
    let set_relay = |i: relay::Impairment| {
        if let Some((r, side)) = &relay {
            r.dirs[*side].set(i);
        }
    };
    // The rate (or nothing) on the interface itself: a tbf qdisc or none.
    let rate_only = || async {
        match c.rate {
            Some(bps) => tc::replace_root(nl, t.ifindex, "tbf", tc::Tbf::for_rate(bps).options())
                .await
                .map_err(nl_err("adding a tbf qdisc")),
            None => tc::delete_root(nl, t.ifindex)
                .await
                .map_err(nl_err("removing the root qdisc")),
        }
    };
    let idle = relay::Impairment {
        seed,
        ..Default::default()
    };
    if !c.impairs() {
        set_relay(idle);
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
            gemodel: c
                .bursty_loss
                .map(|ge| [ge.p, ge.r, ge.loss_bad, ge.loss_good]),
            reorder: c.reorder,
            duplicate: c.duplicate,
            corrupt: c.corrupt,
            limit: c.queue.unwrap_or(0),
            rate: c.rate.map(|bps| bps.div_ceil(8)),
            seed: Some(seed),
        };
        match tc::replace_root(nl, t.ifindex, "netem", netem.options()).await {
            Ok(()) => {
                netem_is_present(&t.net);
                set_relay(idle);
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
        return Err(refuse(no_relay(node, ifname, c.via, &t.net)));
    };
    if let Some(q) = c.queue.filter(|&q| q as usize > relay::QUEUE_FRAMES) {
        return Err(refuse(format!(
            "queue {q} frames: the relay holds at most {} frames per direction; ask for at most that many, or run on a kernel with sch_netem",
            relay::QUEUE_FRAMES
        )));
    }
    rate_only().await?;
    r.dirs[*side].set(relay::Impairment {
        delay: c.delay,
        jitter: c.jitter,
        loss: c.loss,
        bursty: c.bursty_loss.map(|ge| relay::GeLoss {
            p: ge.p,
            r: ge.r,
            loss_bad: ge.loss_bad,
            loss_good: ge.loss_good,
        }),
        reorder: c.reorder,
        duplicate: c.duplicate,
        corrupt: c.corrupt,
        queue: c.queue.map_or(0, |q| q as usize),
        seed,
    });
    Ok(Applied::Relay)
}

/// Why conditions that need a relay (`via`: [`Emulator::Relay`] or [`Emulator::Auto`]
/// without netem) cannot be set on interface `ifname` of `node`, which has none.
fn no_relay(node: &Node, ifname: &str, via: Emulator, net: &Net) -> String {
    let link = node
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
