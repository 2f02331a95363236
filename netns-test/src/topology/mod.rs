//! The declarative network model: what exists, validated and planned before any kernel work.
//!
//! A [`Topology`] follows Docker's networking model:
//!
//! | Docker / the tutorials                 | here                                              |
//! | -------------------------------------- | ------------------------------------------------- |
//! | the host                               | the implicit node [`HOST`] (the sandbox's netns)  |
//! | `docker0`, `br-xxxx`, `samplebr`       | [`Topology::bridge`]: a bridge holding a gateway  |
//! | a container on a network               | [`Topology::node`] with [`NodeBuilder::on`]       |
//! | `--net none`                           | a node with no attachment (only `lo`)             |
//! | a veth pair between two namespaces     | [`Topology::link`]                                |
//! | `veth1 ... peer name veth2` on a bridge | [`AttachBuilder::name`], [`AttachBuilder::peer_name`] |
//! | `bridge-nf-call-iptables`              | [`BridgeBuilder::bridge_netfilter`] (default off) |
//! | a router                               | [`Topology::router`] (forwarding on)              |
//! | a bridge inside a namespace            | [`BridgeBuilder::in_node`]                        |
//! | an IPv6-only network (`ip -6 addr add .. nodad`) | [`Topology::bridge`] with an IPv6 subnet |
//! | `ip6tables -t nat .. -j MASQUERADE`    | [`BridgeBuilder::masquerade`] on an IPv6 subnet   |
//! | tayga + dnsmasq/unbound DNS64          | [`NodeBuilder::nat64`] with [`Nat64`]             |
//!
//! [`Topology::plan`] checks the whole model and decides every interface name, address, MAC
//! and route up front, deterministically: the same topology gives the same plan every run.

#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;

// The builders a topology is declared with, and the specs they fill in.
mod builder;
// Topologies read from TOML files (`Topology::from_file`).
pub(crate) mod dns_records;
mod file;
pub(crate) mod name_service;
// NAT64 + DNS64: the prefix and the planned translator.
pub(crate) mod nat64;
// What the planner decides: the `Plan` and its `Planned*` parts.
mod plan;
// Link conditions and their presets, declared on links and attachments (public in `fault`).
pub(crate) mod conditions;
pub(crate) mod profiles;
// Checks a topology and decides its plan, one file per concern.
mod planner;
pub mod presets;
#[cfg(test)]
mod tests;

pub use self::builder::{AttachBuilder, BridgeBuilder, LinkBuilder, NodeBuilder};
use self::builder::{BridgeSpec, Gateway, LinkSpec, NodeSpec, OverlaySpec};
pub use self::dns_records::{DnsRecords, DEFAULT_TTL};
pub use self::nat64::{Nat64, PlannedNat64};
pub use self::plan::{
    Plan, PlannedBridge, PlannedConditions, PlannedDummy, PlannedIface, PlannedNode, PlannedRelay,
    PlannedRoute, PlannedVeth, PlannedVxlan, RelaySide, VethEnd, RELAY_PREFIX,
};
use self::planner::Planner;
pub(crate) use self::planner::{mac_from_ipv4, mac_from_name, port_fallback_name};

/// The name of the implicit node that stands for the host: the sandbox's own network
/// namespace, where bridges live unless placed in a node.
pub const HOST: &str = "host";

/// A network topology: nodes, bridge networks and point-to-point links.
///
/// ```
/// use netns_test::Topology;
///
/// // The tutorial's three containers: con1 and con2 on docker0, con3 on testnet.
/// let t = Topology::new()
///     .bridge("docker0", "172.18.0.0/16")
///     .bridge("testnet", "172.19.0.0/16")
///     .node("con1", |n| n.on("docker0"))
///     .node("con2", |n| n.on("docker0"))
///     .node("con3", |n| n.on("testnet"));
/// let plan = t.plan().unwrap();
/// assert_eq!(plan.node("con2").unwrap().ifaces[0].addrs[0].to_string(), "172.18.0.3/16");
/// ```
#[derive(Clone, Debug)]
pub struct Topology {
    host: NodeSpec,
    nodes: Vec<NodeSpec>,
    bridges: Vec<BridgeSpec>,
    links: Vec<LinkSpec>,
    overlays: Vec<OverlaySpec>,
    routed_between: Vec<(String, String)>,
    /// Records of the whole network's name service ([`Topology::dns_record`]).
    dns_records: Vec<(String, DnsRecords)>,
}

impl Default for Topology {
    fn default() -> Self {
        Self::new()
    }
}

impl Topology {
    /// An empty topology: only the [`HOST`] node, with `lo` up.
    pub fn new() -> Self {
        Topology {
            host: NodeSpec::new(HOST),
            nodes: Vec::new(),
            bridges: Vec::new(),
            links: Vec::new(),
            overlays: Vec::new(),
            routed_between: Vec::new(),
            dns_records: Vec::new(),
        }
    }

    /// Adds a bridge network on the host, with the gateway at the subnet's first address
    /// on the bridge itself, like `docker0` (`ip link add docker0 type bridge; ip addr add
    /// 172.17.0.1/16 dev docker0`).
    ///
    /// An IPv6 `subnet` makes the network IPv6-only: the bridge holds the subnet's `::1`,
    /// members get addresses from `::2` (NODAD) and a default route `::/0` via the
    /// gateway, and no IPv4 at all (`ip -6 addr add fd00:1::1/64 dev br0 nodad`). For a
    /// dual-stack network give an IPv4 subnet and [`BridgeBuilder::ipv6`].
    ///
    /// ```
    /// use netns_test::Topology;
    ///
    /// let t = Topology::new()
    ///     .bridge("v6net", "fd00:6::/64")
    ///     .node("a", |n| n.on("v6net"));
    /// let plan = t.plan().unwrap();
    /// assert_eq!(plan.node("a").unwrap().ifaces[0].addrs[0].to_string(), "fd00:6::2/64");
    /// ```
    pub fn bridge(self, name: &str, subnet: &str) -> Self {
        self.bridge_with(name, subnet, |b| b)
    }

    /// Adds a bridge network configured by `f`: gateway address, IPv6 subnet, the node it
    /// lives in.
    pub fn bridge_with(
        mut self,
        name: &str,
        subnet: &str,
        f: impl FnOnce(BridgeBuilder) -> BridgeBuilder,
    ) -> Self {
        let spec = BridgeSpec {
            name: name.to_string(),
            subnet: subnet.to_string(),
            subnet6: None,
            gateway: Gateway::Auto,
            owner: HOST.to_string(),
            scoped_names: false,
            masquerade: false,
            nptv6: None,
            hairpin: false,
            internal: false,
            netfilter: false,
            dns_records: Vec::new(),
        };
        self.bridges.push(f(BridgeBuilder(spec)).0);
        self
    }

    /// Adds a container-like node: its own network namespace, `lo` up, one `ethN` per
    /// attachment in the order they are declared.
    pub fn node(mut self, name: &str, f: impl FnOnce(NodeBuilder) -> NodeBuilder) -> Self {
        self.nodes.push(f(NodeBuilder(NodeSpec::new(name))).0);
        self
    }

    /// Adds a router: a node with IPv4 and IPv6 forwarding on (see
    /// [`NodeBuilder::forwarding`]).
    pub fn router(self, name: &str, f: impl FnOnce(NodeBuilder) -> NodeBuilder) -> Self {
        self.node(name, |n| f(n.forwarding()))
    }

    /// Configures the [`HOST`] node: its routes, forwarding, attachments to bridges that live
    /// in other nodes.
    pub fn host(mut self, f: impl FnOnce(NodeBuilder) -> NodeBuilder) -> Self {
        let host = std::mem::replace(&mut self.host, NodeSpec::new(HOST));
        self.host = f(NodeBuilder(host)).0;
        self
    }

    /// Adds a point-to-point link (a bare veth pair, no bridge) between two nodes, with the
    /// subnet's first address on `a` and the second on `b`. Either end may be [`HOST`].
    /// An IPv6 `subnet` makes the link IPv6-only (`::1` at `a`, `::2` at `b`).
    pub fn link(self, a: &str, b: &str, subnet: &str) -> Self {
        self.link_with(a, b, subnet, |l| l)
    }

    /// Adds a point-to-point link configured by `f`: interface names, addresses, IPv6.
    pub fn link_with(
        mut self,
        a: &str,
        b: &str,
        subnet: &str,
        f: impl FnOnce(LinkBuilder) -> LinkBuilder,
    ) -> Self {
        let spec = LinkSpec {
            a: a.to_string(),
            b: b.to_string(),
            subnet: subnet.to_string(),
            subnet6: None,
            names: None,
            ips: None,
            impairable: false,
            down: false,
            profile: Default::default(),
        };
        self.links.push(f(LinkBuilder(spec)).0);
        self
    }

    /// Adds an overlay network spanning several host-like nodes, like Docker's overlay
    /// driver: in each of `hosts` a bridge named `name` joined to a VXLAN device (`vni`,
    /// UDP 4789) that reaches the other hosts at their first IPv4 address, so containers
    /// attached on different hosts ([`AttachBuilder::at`]) share one subnet.
    ///
    /// Like `ip link add vxlanVNI type vxlan id VNI local IP dstport 4789` plus
    /// `bridge fdb append 00:00:00:00:00:00 dev vxlanVNI dst PEER` on each host.
    pub fn overlay(mut self, name: &str, subnet: &str, vni: u32, hosts: &[&str]) -> Self {
        self.overlays.push(OverlaySpec {
            name: name.to_string(),
            subnet: subnet.to_string(),
            vni,
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        });
        self
    }

    /// Lets the host forward between two of its bridge networks, which are otherwise
    /// isolated from each other once the host forwards at all (Docker's isolation chains:
    /// `iptables -I DOCKER-ISOLATION -i A -o B -j DROP`).
    pub fn route_between(mut self, a: &str, b: &str) -> Self {
        self.routed_between.push((a.to_string(), b.to_string()));
        self
    }

    /// DNS records for `name` that every node's name service answers, besides node names
    /// (which they take precedence over): A, AAAA, TXT or a CNAME, TTL
    /// [`DEFAULT_TTL`] unless set. Like `dnsmasq --address=/relay.test/198.51.100.7`
    /// (and `--txt-record`, `--cname`) or a line added to every container's `/etc/hosts`;
    /// `getaddrinfo`, hickory and `dig` in any node see them, and reverse lookups of node
    /// addresses answer the node's name. Records only one network's members see are
    /// [`BridgeBuilder::dns_record`]; at run time, `Net::dns` changes both.
    ///
    /// ```
    /// use netns_test::topology::DnsRecords;
    /// use netns_test::Topology;
    ///
    /// let t = Topology::new()
    ///     .bridge("lan", "10.0.0.0/24")
    ///     .node("a", |n| n.on("lan"))
    ///     .dns_record("relay.test", DnsRecords::new().a("10.0.0.2").aaaa("fd00::2"))
    ///     .dns_record("www.relay.test", DnsRecords::new().cname("relay.test"));
    /// t.plan().unwrap();
    /// ```
    pub fn dns_record(mut self, name: &str, records: impl Into<DnsRecords>) -> Self {
        self.dns_records.push((name.to_string(), records.into()));
        self
    }

    /// The names of all nodes, [`HOST`] first.
    pub fn node_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(&self.host)
            .chain(&self.nodes)
            .map(|n| n.name.as_str())
    }

    /// Validates the topology and decides every name, address, MAC and route.
    ///
    /// Fails with [`Error::InvalidTopology`] listing every problem found, each naming the
    /// node, network or link at fault.
    pub fn plan(&self) -> Result<Plan> {
        Planner::new(self).run()
    }
}
