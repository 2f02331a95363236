//! The planner: checks a [`Topology`] and decides its [`Plan`], one concern per file.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::builder::AttachSpec;
use super::*;
use crate::error::{Error, Problem, Result};
use crate::nft::{Hook, Rule, Ruleset};

pub(crate) use devices::{mac_from_ipv4, mac_from_name};
pub(crate) use names::port_fallback_name;

mod addressing;
mod devices;
mod dns;
mod names;
mod netfilter;
mod relays;
mod routing;

/// The state of one planning: the plan so far, the problems found, and what each step
/// leaves for the next. Each file of this module adds the steps of one concern;
/// [`Planner::run`] lists them in order.
pub(super) struct Planner<'t> {
    topo: &'t Topology,
    errors: Vec<Problem>,
    node_ix: HashMap<String, usize>,
    plan: Plan,
    /// Network name -> bridge index.
    bridge_ix: HashMap<String, usize>,
    /// Addresses handed out, for duplicate detection: address -> who.
    taken: HashMap<IpAddr, String>,
    /// Per-node interface names taken.
    ifnames: Vec<HashSet<String>>,
    /// Per-node interface names chosen in the topology (attachments, bridge ports, link
    /// ends), which names made up by the planner avoid whatever the declaration order.
    explicit: Vec<HashSet<String>>,
    /// Node -> default gateways (v4, v6).
    gateways: Vec<(Option<IpAddr>, Option<IpAddr>)>,
    /// Veths (indexes into `plan.veths`) that get a relay in the middle.
    impairable: Vec<usize>,
}

impl<'t> Planner<'t> {
    pub(super) fn new(topo: &'t Topology) -> Self {
        Planner {
            topo,
            errors: Vec::new(),
            node_ix: HashMap::new(),
            plan: Plan {
                nodes: Vec::new(),
                bridges: Vec::new(),
                veths: Vec::new(),
                routes: Vec::new(),
                vxlans: Vec::new(),
                relays: Vec::new(),
                conditions: Vec::new(),
                ifindexes: Vec::new(),
                dns: Default::default(),
            },
            bridge_ix: HashMap::new(),
            taken: HashMap::new(),
            ifnames: Vec::new(),
            explicit: Vec::new(),
            gateways: Vec::new(),
            impairable: Vec::new(),
        }
    }

    /// Records a problem about `subject` (the object the message starts with).
    fn err(&mut self, subject: impl Into<String>, msg: String) {
        self.errors.push(Problem::new(subject, msg));
    }

    fn specs(&self) -> impl Iterator<Item = &'t NodeSpec> {
        std::iter::once(&self.topo.host).chain(&self.topo.nodes)
    }

    /// Plans the topology: the steps in order, each commented with the file that holds it.
    /// Problems are collected by every step up to `netfilter` and reported together; the
    /// steps after it need a valid topology.
    pub(super) fn run(mut self) -> Result<Plan> {
        self.nodes(); // names
        self.shared_namespaces(); // names
        let subnets = self.subnets(); // addressing
        self.bridges(&subnets); // devices
        let declared_bridges = self.plan.bridges.len();
        self.overlay_bridges(); // devices
        self.bridge_netfilter(declared_bridges); // devices
        self.explicit_names(); // names
        self.dummies(); // names
        self.attachments(&subnets); // devices
        self.default_routes(); // routing
        self.links(); // devices
        self.vxlans(); // devices
        self.static_routes(); // routing
        self.netfilter(); // netfilter
        self.dns_records(); // dns
        if !self.errors.is_empty() {
            return Err(Error::InvalidTopology {
                problems: self.errors,
            });
        }
        self.auto_routes(); // routing
        self.shared_ifaces(); // names
        self.relays(); // relays
        self.indexes(); // devices
        Ok(self.plan)
    }
}
