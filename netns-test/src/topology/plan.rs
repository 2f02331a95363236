//! The plan: every device, name, address, MAC and route the kernel layer will create.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::nft::Ruleset;

#[cfg(doc)]
use super::{BridgeBuilder, NodeBuilder, HOST};

/// Everything the kernel layer will create, decided up front. The plan and its parts are
/// read, not made, outside this crate: they are `#[non_exhaustive]`, so that a field can
/// be added without breaking code that reads them.
///
/// ```compile_fail,E0639
/// let route = netns_test::topology::PlannedRoute {
///     node: 0,
///     dest: "0.0.0.0/0".parse().unwrap(),
///     via: "10.0.0.1".parse().unwrap(),
/// };
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// All nodes, [`HOST`] first; a node's index is its id in the rest of the plan.
    pub nodes: Vec<PlannedNode>,
    /// Bridges, in declaration order.
    pub bridges: Vec<PlannedBridge>,
    /// Veth pairs (bridge attachments and point-to-point links).
    pub veths: Vec<PlannedVeth>,
    /// Static routes, including default routes via gateways.
    pub routes: Vec<PlannedRoute>,
    /// VXLAN devices of overlay networks.
    pub vxlans: Vec<PlannedVxlan>,
    /// Relays in the middle of impairable links (see [`crate::fault`]).
    pub relays: Vec<PlannedRelay>,
    /// Link conditions declared in the topology, set when the network is built.
    pub conditions: Vec<PlannedConditions>,
    /// Per node, the index of each device by name: what [`Plan::ifindex`] reads, the
    /// same indexes as the devices' own `index`.
    pub(super) ifindexes: Vec<BTreeMap<String, u32>>,
    /// The DNS records declared, checked: what the name services start with.
    pub(crate) dns: super::dns_records::RecordStore,
}

/// A node of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedNode {
    /// Its name.
    pub name: String,
    /// IPv4/IPv6 forwarding on.
    pub forwarding: bool,
    /// Its interfaces other than `lo`, in creation order (for a node that shares another's
    /// namespace, that node's).
    pub ifaces: Vec<PlannedIface>,
    /// The node whose network namespace this one shares (`--net container:X`).
    pub net_of: Option<usize>,
    /// nftables rules applied to the node's namespace (NAT, published ports, isolation,
    /// the topology's firewall rules), if any.
    pub rules: Option<Ruleset>,
    /// Its own `/etc/resolv.conf` for the programs it starts, if any.
    pub resolv_conf: Option<String>,
    /// Port 53 is kept free for a DNS server under test
    /// ([`NodeBuilder::keep_port_53_free`]).
    pub keep_port_53_free: bool,
    /// Its NAT ([`NodeBuilder::nat`](crate::topology::NodeBuilder::nat)) and the LAN
    /// interfaces it translates (the bridges the node holds), if it has one.
    pub nat: Option<(crate::nft::Nat, Vec<String>)>,
    /// Its NAT64 translator ([`NodeBuilder::nat64`](crate::topology::NodeBuilder::nat64)),
    /// if it has one.
    pub nat64: Option<super::PlannedNat64>,
    /// The NAT64 prefix its name service synthesizes AAAA records in (DNS64), for a node
    /// on a NAT64 router's LAN.
    pub dns64: Option<ipnet::Ipv6Net>,
    /// Its interfaces that join no network ([`NodeBuilder::iface`]), made once the
    /// network is up: not in [`PlannedNode::ifaces`], which the build makes.
    pub dummies: Vec<PlannedDummy>,
}

/// An interface of a node's own that joins no network ([`NodeBuilder::iface`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedDummy {
    /// Interface name.
    pub name: String,
    /// Addresses with prefix length.
    pub addrs: Vec<IpNet>,
}

/// An interface of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedIface {
    /// Interface name.
    pub name: String,
    /// The network it belongs to (bridge or link name).
    pub network: String,
    /// MAC address.
    pub mac: [u8; 6],
    /// Addresses with prefix length.
    pub addrs: Vec<IpNet>,
}

/// A bridge device.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedBridge {
    /// The node it lives in.
    pub node: usize,
    /// Device name (also the network's name).
    pub name: String,
    /// Interface index (see [`Plan::ifindex`]).
    pub index: u32,
    /// MAC address.
    pub mac: [u8; 6],
    /// Gateway addresses on the bridge.
    pub addrs: Vec<IpNet>,
    /// Members are known by name only on this network.
    pub scoped_names: bool,
    /// An internal network ([`BridgeBuilder::internal`]): its members get no default
    /// route through it, at the build or when replugged into it.
    pub internal: bool,
    /// Bridged frames traverse the IP hooks of the node holding it (see
    /// [`BridgeBuilder::bridge_netfilter`]); the same for every bridge of a node.
    pub netfilter: bool,
    /// Packets from and to 127.0.0.0/8 may be routed through it
    /// (`net.ipv4.conf.BRIDGE.route_localnet=1`): a member publishes ports, reached at
    /// 127.0.0.1 in the node holding the bridge (see [`NodeBuilder::publish`]).
    pub route_localnet: bool,
}

/// One end of a veth pair.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VethEnd {
    /// The node it lives in.
    pub node: usize,
    /// Interface name.
    pub name: String,
    /// Interface index (see [`Plan::ifindex`]).
    pub index: u32,
    /// MAC address.
    pub mac: [u8; 6],
    /// Addresses with prefix length.
    pub addrs: Vec<IpNet>,
    /// The bridge (index into [`Plan::bridges`]) this end is a port of.
    pub master: Option<usize>,
    /// It starts down, and the build does not wait for it (see
    /// [`AttachBuilder::down`](crate::topology::AttachBuilder::down)).
    pub down: bool,
}

/// A veth pair, created with each end directly in its namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedVeth {
    /// The two ends.
    pub ends: [VethEnd; 2],
}

/// A static route.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedRoute {
    /// The node whose table gets it.
    pub node: usize,
    /// Destination (`0.0.0.0/0` for a default route).
    pub dest: IpNet,
    /// Next hop.
    pub via: IpAddr,
}

/// A VXLAN device joining one host's overlay bridge to the other hosts'.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedVxlan {
    /// The host node it lives in.
    pub node: usize,
    /// Device name.
    pub name: String,
    /// Interface index (see [`Plan::ifindex`]).
    pub index: u32,
    /// VXLAN network identifier.
    pub vni: u32,
    /// The underlay address it sends from.
    pub local: Ipv4Addr,
    /// The other hosts' underlay addresses (flooding entries).
    pub remotes: Vec<Ipv4Addr>,
    /// The overlay bridge (index into [`Plan::bridges`]) it is a port of.
    pub master: usize,
    /// MAC address.
    pub mac: [u8; 6],
}

impl Plan {
    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&PlannedNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Index of the node called `name`.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// The interface index of the device `ifname` that the plan creates in node `node` (a
    /// bridge, a veth end, a VXLAN device; not `lo`, which is 1 in every namespace), as
    /// the kernel layer creates it. Indexes count from 2 across the whole plan (bridges,
    /// then veth ends, then VXLAN devices), so no two devices share one, even in
    /// different namespaces: the kernel only treats a link's carrier change as urgent
    /// when its index differs from its peer's, and otherwise reports UP up to a second
    /// late.
    ///
    /// A node sharing another's namespace has no devices of its own: ask for that node's.
    pub fn ifindex(&self, node: usize, ifname: &str) -> Option<u32> {
        self.ifindexes.get(node)?.get(ifname).copied()
    }

    /// Every node holding bridges, with its bridge netfilter setting (the same for all its
    /// bridges, see [`BridgeBuilder::bridge_netfilter`]) and the names of its bridges.
    pub(crate) fn bridge_netfilter(&self) -> Vec<(usize, bool, Vec<&str>)> {
        let mut out: Vec<(usize, bool, Vec<&str>)> = Vec::new();
        for b in &self.bridges {
            match out.iter_mut().find(|(n, _, _)| *n == b.node) {
                Some((_, on, names)) => {
                    *on |= b.netfilter;
                    names.push(&b.name);
                }
                None => out.push((b.node, b.netfilter, vec![&b.name])),
            }
        }
        out
    }

    /// What decides the names node `x` knows ([`Plan::names_for`]), where that is not the
    /// node itself: whether it is the host, and the networks of its namespace (a node with
    /// interfaces finds its own name, and those sharing its namespace, on them). Nodes with
    /// the same view know the same names: a network of 1000 containers on one bridge
    /// needs one table, not 1000.
    pub(crate) fn names_view(&self, x: usize) -> Option<(bool, Vec<&str>)> {
        let ifaces = &self.nodes[self.nodes[x].net_of.unwrap_or(x)].ifaces;
        if ifaces.is_empty() {
            return None;
        }
        let mut nets: Vec<&str> = ifaces.iter().map(|i| i.network.as_str()).collect();
        nets.sort_unstable();
        nets.dedup();
        Some((x == 0, nets))
    }

    /// The names node `x` can resolve, with their addresses: every node's, except
    /// that members of networks with [`BridgeBuilder::scoped_names`] are known only to
    /// nodes sharing such a network with them (and to the host). A name resolves to the
    /// addresses on the network both share, else to all of the node's addresses.
    pub fn names_for(&self, x: usize) -> BTreeMap<String, Vec<IpAddr>> {
        let eff = |n: usize| self.nodes[n].net_of.unwrap_or(n);
        let scoped = |network: &str| {
            self.bridges
                .iter()
                .any(|b| b.name == network && b.scoped_names)
        };
        let xe = eff(x);
        let x_nets: HashSet<&str> = self.nodes[xe]
            .ifaces
            .iter()
            .map(|i| i.network.as_str())
            .collect();
        let mut out = BTreeMap::new();
        for (y, node) in self.nodes.iter().enumerate() {
            let ye = eff(y);
            let ifaces = &self.nodes[ye].ifaces;
            let shared: Vec<IpAddr> = ifaces
                .iter()
                .filter(|i| x_nets.contains(i.network.as_str()))
                .flat_map(|i| i.addrs.iter().map(|a| a.addr()))
                .collect();
            let public = ifaces.iter().any(|i| !scoped(&i.network));
            let all: Vec<IpAddr> = ifaces
                .iter()
                .flat_map(|i| i.addrs.iter().map(|a| a.addr()))
                .collect();
            let addrs = if !shared.is_empty() {
                shared
            } else if x == 0 || xe == ye || public {
                all
            } else {
                continue;
            };
            if !addrs.is_empty() {
                out.insert(node.name.to_ascii_lowercase(), addrs);
            }
        }
        out
    }

    /// A one-screen summary: nodes with their interfaces and addresses, bridges, routes.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let fwd = if node.forwarding { " (forwarding)" } else { "" };
            out.push_str(&format!("{}{}\n", node.name, fwd));
            for iface in &node.ifaces {
                let kind = if self
                    .bridges
                    .iter()
                    .any(|b| b.node == i && b.name == iface.name)
                {
                    "bridge".to_string()
                } else {
                    format!("[{}]", iface.network)
                };
                out.push_str(&format!(
                    "  {:<14} {:<18} {}\n",
                    iface.name,
                    kind,
                    join(&iface.addrs)
                ));
            }
            for r in self.routes.iter().filter(|r| r.node == i) {
                out.push_str(&format!("  route {} via {}\n", r.dest, r.via));
            }
        }
        out
    }
}

fn join(addrs: &[IpNet]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The prefix of every relay node's name. Node names declared by a topology cannot contain
/// it, so a relay never collides with a node of the test.
pub const RELAY_PREFIX: &str = "~relay-";

/// A relay in the middle of an impairable link: a hidden node whose two interfaces face the
/// link's two ends; a thread per direction copies frames between them, delaying and
/// dropping them as [`crate::fault::Conditions`] say.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedRelay {
    /// The relay's node (index into [`Plan::nodes`]).
    pub node: usize,
    /// The two ends of the link, in the order of the link's declaration (`a`, then `b` or
    /// the bridge port).
    pub sides: [RelaySide; 2],
}

/// Link conditions declared in the topology for the frames one interface sends
/// ([`AttachBuilder::egress`](crate::topology::AttachBuilder::egress) and the like).
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::derive_partial_eq_without_eq)]
#[non_exhaustive]
pub struct PlannedConditions {
    /// The node holding the interface (the bridge's node for a bridge port).
    pub node: usize,
    /// The interface.
    pub ifname: String,
    /// What it does to the frames it sends.
    pub conditions: super::conditions::Conditions,
}

// The planner rejects conditions whose probabilities are not in 0..=1: never NaN.
impl Eq for PlannedConditions {}

/// One side of a relay.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelaySide {
    /// The node holding this end of the link.
    pub node: usize,
    /// The interface of that end (`eth0` at a node, or the bridge port at the node holding
    /// the bridge). Conditions set on it apply to the frames it sends.
    pub ifname: String,
    /// The relay's interface facing it.
    pub relay_if: String,
}
