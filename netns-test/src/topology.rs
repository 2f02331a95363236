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
//!
//! [`Topology::plan`] checks the whole model and decides every interface name, address, MAC
//! and route up front, deterministically: the same topology gives the same plan every run.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::{Error, Result};
pub use crate::fault::{PlannedRelay, RelaySide};
use crate::nft::{Hook, Proto, Rule, Ruleset};

/// The name of the implicit node that stands for the host: the sandbox's own network
/// namespace, where bridges live unless placed in a node.
pub const HOST: &str = "host";

/// Longest interface name the kernel accepts (`IFNAMSIZ - 1`).
const IFNAMSIZ: usize = 15;

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
}

impl Default for Topology {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Debug)]
struct NodeSpec {
    name: String,
    attach: Vec<AttachSpec>,
    forwarding: bool,
    routes: Vec<(String, String)>,
    default_route: bool,
    net_of: Option<String>,
    publish: Vec<(Proto, u16, u16)>,
    firewall: Option<Ruleset>,
    resolv_conf: Option<String>,
    keep_port_53_free: bool,
}

#[derive(Clone, Debug)]
struct AttachSpec {
    network: String,
    ip: Option<String>,
    ip6: Option<String>,
    ifname: Option<String>,
    peer: Option<String>,
    at: Option<String>,
    impairable: bool,
}

#[derive(Clone, Debug)]
struct OverlaySpec {
    name: String,
    subnet: String,
    vni: u32,
    hosts: Vec<String>,
}

#[derive(Clone, Debug)]
enum Gateway {
    Auto,
    At(String),
    Off,
}

#[derive(Clone, Debug)]
struct BridgeSpec {
    name: String,
    subnet: String,
    subnet6: Option<String>,
    gateway: Gateway,
    owner: String,
    scoped_names: bool,
    masquerade: bool,
    hairpin: bool,
    internal: bool,
    netfilter: bool,
}

#[derive(Clone, Debug)]
struct LinkSpec {
    a: String,
    b: String,
    subnet: String,
    subnet6: Option<String>,
    names: Option<(String, String)>,
    ips: Option<(String, String)>,
    impairable: bool,
}

impl NodeSpec {
    fn new(name: &str) -> Self {
        NodeSpec {
            name: name.to_string(),
            attach: Vec::new(),
            forwarding: false,
            routes: Vec::new(),
            default_route: true,
            net_of: None,
            publish: Vec::new(),
            firewall: None,
            resolv_conf: None,
            keep_port_53_free: false,
        }
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
        }
    }

    /// Adds a bridge network on the host, with the gateway at the subnet's first address
    /// on the bridge itself, like `docker0` (`ip link add docker0 type bridge; ip addr add
    /// 172.17.0.1/16 dev docker0`).
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
            hairpin: false,
            internal: false,
            netfilter: false,
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

/// Configures a node; see [`Topology::node`].
#[derive(Debug)]
pub struct NodeBuilder(NodeSpec);

impl NodeBuilder {
    /// Attaches the node to a network with the next free address of its pool (like
    /// `docker run --net NAME`, or `docker network connect` for a second one).
    pub fn on(self, network: &str) -> Self {
        self.on_with(network, |a| a)
    }

    /// Attaches the node to a network with a fixed IPv4 address (`docker run --ip`).
    pub fn on_ip(self, network: &str, ip: &str) -> Self {
        self.on_with(network, |a| a.ip(ip))
    }

    /// Attaches the node to a network, configured by `f`.
    pub fn on_with(
        mut self,
        network: &str,
        f: impl FnOnce(AttachBuilder) -> AttachBuilder,
    ) -> Self {
        let spec = AttachSpec {
            network: network.to_string(),
            ip: None,
            ip6: None,
            ifname: None,
            peer: None,
            at: None,
            impairable: false,
        };
        self.0.attach.push(f(AttachBuilder(spec)).0);
        self
    }

    /// Turns IPv4 and IPv6 forwarding on (`sysctl net.ipv4.ip_forward=1
    /// net.ipv6.conf.all.forwarding=1`), whether or not the topology gives the node IPv6
    /// addresses, so that IPv6 added at run time is forwarded too (on a kernel without
    /// IPv6, only IPv4 of an IPv4-only topology).
    pub fn forwarding(mut self) -> Self {
        self.0.forwarding = true;
        self
    }

    /// Adds a static route (`ip route add DEST via VIA`); `dest` may be `"default"`.
    pub fn route(mut self, dest: &str, via: &str) -> Self {
        self.0.routes.push((dest.to_string(), via.to_string()));
        self
    }

    /// Does not add the default route via the first network's gateway.
    pub fn no_default_route(mut self) -> Self {
        self.0.default_route = false;
        self
    }

    /// Publishes a TCP port: connections to `host_port` on any address of the node
    /// holding the gateway of this node's first network (the host, for `docker0`) are
    /// forwarded to `port` here, from other nodes and from that node itself (Docker's
    /// `-p HOST_PORT:PORT`). Turns forwarding on there.
    pub fn publish(mut self, host_port: u16, port: u16) -> Self {
        self.0.publish.push((Proto::Tcp, host_port, port));
        self
    }

    /// [`NodeBuilder::publish`] for UDP (`-p HOST_PORT:PORT/udp`).
    pub fn publish_udp(mut self, host_port: u16, port: u16) -> Self {
        self.0.publish.push((Proto::Udp, host_port, port));
        self
    }

    /// nftables rules for this node, applied before the test body starts: filtering,
    /// NAT, default policies (see [`crate::nft::Ruleset`]). Change them at run time with
    /// [`crate::Node::nft`]: `node.nft().apply(&rules)`.
    ///
    /// ```
    /// use netns_test::nft::{Policy, Proto, Rule, Hook};
    /// use netns_test::Topology;
    ///
    /// // iptables -P FORWARD DROP; iptables -A FORWARD -p tcp --dport 80 -j ACCEPT
    /// let t = Topology::new().router("fw", |n| {
    ///     n.firewall(|r| r.forward_policy(Policy::Drop).filter(Hook::Forward, Rule::new().proto(Proto::Tcp).dport(80).accept()))
    /// });
    /// # t.plan().unwrap();
    /// ```
    pub fn firewall(mut self, f: impl FnOnce(Ruleset) -> Ruleset) -> Self {
        let rules = self.0.firewall.take().unwrap_or_default();
        self.0.firewall = Some(f(rules));
        self
    }

    /// The node's own `/etc/resolv.conf`, seen by the programs started in it
    /// ([`crate::Node::command`]), like `/etc/netns/NAME/resolv.conf` for `ip netns exec`.
    /// Name lookups from Rust code in the node still use the node's name service.
    pub fn resolv_conf(mut self, contents: &str) -> Self {
        self.0.resolv_conf = Some(contents.to_string());
        self
    }

    /// Keeps UDP port 53 entirely free in this node's network namespace, for a DNS server
    /// under test that binds `0.0.0.0:53` (or `[::]:53`) without `SO_REUSEADDR` or
    /// `SO_REUSEPORT`, such as one using `std::net::UdpSocket::bind`.
    ///
    /// By default the node's name service listens on `127.0.0.11:53` itself, with
    /// `SO_REUSEADDR` and `SO_REUSEPORT`, and needs no netfilter at all: a server that sets
    /// either option binds the wildcard port 53 next to it and gets every query but those
    /// to `127.0.0.11`; one that sets neither fails with `EADDRINUSE`. With this,
    /// the name service listens on `127.0.0.11:53053` instead and an nf_tables rule sends
    /// the node's queries for `127.0.0.11:53` there, as Docker's embedded DNS does (table
    /// `inet netns_test_dns`: `ip daddr 127.0.0.11 udp dport 53 dnat ip to
    /// 127.0.0.11:53053`). Names resolve the same either way.
    ///
    /// Needs nf_tables NAT in the kernel (the `nft_nat` module, `CONFIG_NFT_NAT`): without
    /// it the network fails to build, naming the node and this declaration.
    pub fn keep_port_53_free(mut self) -> Self {
        self.0.keep_port_53_free = true;
        self
    }

    /// Shares the network namespace of another node instead of having one: Docker's
    /// `--net container:NAME`, or `--net host` with [`HOST`]. The node then has that
    /// node's interfaces, addresses, routes and names, and no attachment of its own.
    pub fn net_of(mut self, node: &str) -> Self {
        self.0.net_of = Some(node.to_string());
        self
    }
}

/// Configures one attachment of a node to a network; see [`NodeBuilder::on_with`].
#[derive(Debug)]
pub struct AttachBuilder(AttachSpec);

impl AttachBuilder {
    /// A fixed IPv4 address inside the network's subnet.
    pub fn ip(mut self, ip: &str) -> Self {
        self.0.ip = Some(ip.to_string());
        self
    }

    /// A fixed IPv6 address inside the network's IPv6 subnet.
    pub fn ip6(mut self, ip: &str) -> Self {
        self.0.ip6 = Some(ip.to_string());
        self
    }

    /// The interface name inside the node (default `ethN`).
    pub fn name(mut self, ifname: &str) -> Self {
        self.0.ifname = Some(ifname.to_string());
        self
    }

    /// The name of the other end of the veth pair: the bridge port, in the node holding
    /// the bridge. Like `ip link add veth1 type veth peer name veth2; ip link set veth2
    /// master samplebr` in the tutorials:
    ///
    /// ```
    /// use netns_test::Topology;
    ///
    /// let t = Topology::new()
    ///     .bridge("samplebr", "10.1.1.0/24")
    ///     .node("sample", |n| n.on_with("samplebr", |a| a.name("veth1").peer_name("veth2")));
    /// let plan = t.plan().unwrap();
    /// assert_eq!(plan.veths[0].ends[1].name, "veth2");
    /// ```
    ///
    /// Without it the port is named `NODE-IFNAME` (`sample-veth1`, `con1-eth0`). Where
    /// that is longer than 15 bytes (the kernel's limit) or already taken in the bridge's
    /// node, the port gets a name derived from a hash of the node and interface names
    /// instead: `nt` followed by 8 lowercase hex digits (`nt5c1e0b9a`), the same on every
    /// run. Names of that shape are kept for these ports: a topology that gives one to
    /// an interface, a bridge or an overlay is rejected when planned, so the fallback can
    /// never collide with a name chosen in the topology.
    pub fn peer_name(mut self, ifname: &str) -> Self {
        self.0.peer = Some(ifname.to_string());
        self
    }

    /// For an overlay network: the host the node runs on, whose overlay bridge it is
    /// plugged into.
    pub fn at(mut self, host: &str) -> Self {
        self.0.at = Some(host.to_string());
        self
    }

    /// Lets the test delay and drop this attachment's frames even where the kernel has no
    /// netem: a hidden relay namespace is put between the node and the bridge (see
    /// [`crate::fault`]).
    pub fn impairable(mut self) -> Self {
        self.0.impairable = true;
        self
    }
}

/// Configures a bridge network; see [`Topology::bridge_with`].
#[derive(Debug)]
pub struct BridgeBuilder(BridgeSpec);

impl BridgeBuilder {
    /// The gateway address held by the bridge (default: the subnet's first address).
    pub fn gateway(mut self, ip: &str) -> Self {
        self.0.gateway = Gateway::At(ip.to_string());
        self
    }

    /// No address on the bridge: a plain switch; members get no default route through it.
    pub fn no_gateway(mut self) -> Self {
        self.0.gateway = Gateway::Off;
        self
    }

    /// Puts the bridge inside a node instead of the host (the "edge bridge" of the
    /// namespace tutorials, or a home router's built-in switch).
    pub fn in_node(mut self, node: &str) -> Self {
        self.0.owner = node.to_string();
        self
    }

    /// Source NAT for the network's subnet when it leaves the node holding the bridge
    /// through any other interface, with forwarding on there: Docker's outbound NAT,
    /// `sysctl -w net.ipv4.ip_forward=1; iptables -t nat -A POSTROUTING -s SUBNET ! -o
    /// BRIDGE -j MASQUERADE` (and the IPv6 subnet likewise). Other nodes get no route to
    /// a masqueraded subnet: it is hidden behind the NAT.
    pub fn masquerade(mut self) -> Self {
        self.0.masquerade = true;
        self
    }

    /// Hairpinning (NAT loopback) at the node holding the bridge: a member connecting to
    /// a port that node publishes, at any of its addresses (its public one too), reaches
    /// the member behind it, masqueraded to the gateway address so the answers come back
    /// the same way (see [`crate::nft::Ruleset::hairpin_masquerade`]: nft `ct status dnat
    /// ip saddr SUBNET oifname BRIDGE masquerade`). Without it, such a connection fails
    /// wherever bridged traffic does not pass netfilter (no `br_netfilter`).
    pub fn hairpin(mut self) -> Self {
        self.0.hairpin = true;
        self
    }

    /// An internal network (`docker network create --internal`): its members reach each
    /// other and the gateway, nothing beyond; they get no default route and the node
    /// holding the bridge forwards nothing in or out of it.
    pub fn internal(mut self) -> Self {
        self.0.internal = true;
        self
    }

    /// Members are known by name only to the nodes on this network (and to the host),
    /// like on Docker's user-defined networks; by default every node resolves every
    /// node's name.
    pub fn scoped_names(mut self) -> Self {
        self.0.scoped_names = true;
        self
    }

    /// Gives the network an IPv6 subnet too: gateway `::1`, members from `::2` (NODAD).
    pub fn ipv6(mut self, subnet: &str) -> Self {
        self.0.subnet6 = Some(subnet.to_string());
        self
    }

    /// Whether frames this bridge forwards between its ports traverse the IP hooks of the
    /// node holding it (nftables `inet`/`ip`/`ip6` chains, conntrack, NAT) as if they were
    /// routed: `br_netfilter`'s `net.bridge.bridge-nf-call-iptables`, `-ip6tables` and
    /// `-arptables`. Default **off**: bridged frames are only switched, so a FORWARD rule
    /// of that node never sees traffic between two members of the bridge, on every
    /// machine, whether `br_netfilter` is loaded or not (Docker hosts load it and set 1).
    ///
    /// Every namespace holding a bridge gets these sysctls set explicitly before the test
    /// body starts (per namespace since Linux 5.3). They are one switch per namespace, not
    /// per bridge: bridges in one node must agree, else the topology is rejected when
    /// planned. An overlay's bridges follow the other bridges of their node. On
    /// (`bridge_netfilter(true)`) needs the `br_netfilter` module: where it is not loaded,
    /// the build fails naming it (`sudo modprobe br_netfilter`).
    ///
    /// ```
    /// use netns_test::Topology;
    ///
    /// // Docker's ICC=false needs it: `iptables -I FORWARD -i docker0 -o docker0 -j DROP`.
    /// let t = Topology::new()
    ///     .bridge_with("docker0", "172.17.0.0/16", |b| b.bridge_netfilter(true))
    ///     .node("con1", |n| n.on("docker0"));
    /// assert!(t.plan().unwrap().bridges[0].netfilter);
    /// ```
    pub fn bridge_netfilter(mut self, on: bool) -> Self {
        self.0.netfilter = on;
        self
    }
}

/// Configures a point-to-point link; see [`Topology::link_with`].
#[derive(Debug)]
pub struct LinkBuilder(LinkSpec);

impl LinkBuilder {
    /// Interface names at `a` and at `b` (default `ethN` in each node).
    pub fn names(mut self, a: &str, b: &str) -> Self {
        self.0.names = Some((a.to_string(), b.to_string()));
        self
    }

    /// Fixed IPv4 addresses at `a` and at `b`.
    pub fn ips(mut self, a: &str, b: &str) -> Self {
        self.0.ips = Some((a.to_string(), b.to_string()));
        self
    }

    /// An IPv6 subnet for the link too (`::1` at `a`, `::2` at `b`).
    pub fn ipv6(mut self, subnet: &str) -> Self {
        self.0.subnet6 = Some(subnet.to_string());
        self
    }

    /// Lets the test delay and drop the link's frames even where the kernel has no netem:
    /// a hidden relay namespace is put in the middle of the link (see [`crate::fault`]).
    pub fn impairable(mut self) -> Self {
        self.0.impairable = true;
        self
    }
}

/// Everything the kernel layer will create, decided up front.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

/// A VXLAN device joining one host's overlay bridge to the other hosts'.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedVxlan {
    /// The host node it lives in.
    pub node: usize,
    /// Device name.
    pub name: String,
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

/// A node of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

/// An interface of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
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
pub struct PlannedBridge {
    /// The node it lives in.
    pub node: usize,
    /// Device name (also the network's name).
    pub name: String,
    /// MAC address.
    pub mac: [u8; 6],
    /// Gateway addresses on the bridge.
    pub addrs: Vec<IpNet>,
    /// Members are known by name only on this network.
    pub scoped_names: bool,
    /// Bridged frames traverse the IP hooks of the node holding it (see
    /// [`BridgeBuilder::bridge_netfilter`]); the same for every bridge of a node.
    pub netfilter: bool,
}

/// One end of a veth pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VethEnd {
    /// The node it lives in.
    pub node: usize,
    /// Interface name.
    pub name: String,
    /// MAC address.
    pub mac: [u8; 6],
    /// Addresses with prefix length.
    pub addrs: Vec<IpNet>,
    /// The bridge (index into [`Plan::bridges`]) this end is a port of.
    pub master: Option<usize>,
}

/// A veth pair, created with each end directly in its namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedVeth {
    /// The two ends.
    pub ends: [VethEnd; 2],
}

/// A static route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRoute {
    /// The node whose table gets it.
    pub node: usize,
    /// Destination (`0.0.0.0/0` for a default route).
    pub dest: IpNet,
    /// Next hop.
    pub via: IpAddr,
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

/// A deterministic, locally administered unicast MAC derived from a name.
fn mac_from_name(name: &str) -> [u8; 6] {
    // FNV-1a, 64 bit.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    [0x02, b[1], b[2], b[3], b[4], b[5]]
}

/// Docker's MAC scheme: `02:42` followed by the IPv4 address.
fn mac_from_ipv4(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('-')
}

fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= IFNAMSIZ
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
}

/// The name of the bridge port of `node`'s interface `ifname` when `NODE-IFNAME` does not
/// fit or is taken: `nt` and 8 hex digits of an FNV-1a hash of both names (of the next
/// `attempt` if that is taken too). See [`AttachBuilder::peer_name`].
fn port_fallback_name(node: &str, ifname: &str, attempt: u32) -> String {
    let key = match attempt {
        0 => format!("{node}-{ifname}"),
        k => format!("{node}-{ifname}#{k}"),
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("nt{:08x}", (h >> 32) as u32 ^ h as u32)
}

/// Whether `name` has the shape of [`port_fallback_name`], which the topology's own names
/// may not take.
fn is_port_fallback(name: &str) -> bool {
    name.len() == 10
        && name.starts_with("nt")
        && name[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn reserved_name(what: &str, name: &str) -> String {
    format!(
        "{what}: the name {name:?} has the shape netns-test keeps for bridge ports whose NODE-IFNAME does not fit in 15 bytes (\"nt\" and 8 hex digits): pick another name"
    )
}

/// One L3 segment: the nodes with an address in one subnet.
#[derive(Debug)]
struct Segment {
    /// Members: (node, its address there).
    members: Vec<(usize, IpAddr)>,
}

struct Planner<'t> {
    topo: &'t Topology,
    errors: Vec<String>,
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
    fn new(topo: &'t Topology) -> Self {
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
            },
            bridge_ix: HashMap::new(),
            taken: HashMap::new(),
            ifnames: Vec::new(),
            explicit: Vec::new(),
            gateways: Vec::new(),
            impairable: Vec::new(),
        }
    }

    fn err(&mut self, msg: String) {
        self.errors.push(msg);
    }

    fn specs(&self) -> impl Iterator<Item = &'t NodeSpec> {
        std::iter::once(&self.topo.host).chain(&self.topo.nodes)
    }

    fn run(mut self) -> Result<Plan> {
        self.nodes();
        self.shared_namespaces();
        let subnets = self.subnets();
        self.bridges(&subnets);
        let declared_bridges = self.plan.bridges.len();
        self.overlay_bridges();
        self.bridge_netfilter(declared_bridges);
        self.explicit_names();
        self.attachments(&subnets);
        self.links();
        self.vxlans();
        self.static_routes();
        self.netfilter();
        if !self.errors.is_empty() {
            return Err(Error::InvalidTopology(self.errors));
        }
        self.auto_routes();
        for i in 0..self.plan.nodes.len() {
            if let Some(t) = self.plan.nodes[i].net_of {
                self.plan.nodes[i].ifaces = self.plan.nodes[t].ifaces.clone();
            }
        }
        crate::fault::insert_relays(&mut self.plan, &self.impairable);
        Ok(self.plan)
    }

    fn nodes(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in specs {
            if !valid_node_name(&spec.name) {
                self.err(format!(
                    "node name {:?} is not a valid host name: use 1-63 letters, digits, '-', '_' or '.'",
                    spec.name
                ));
            }
            if self.node_ix.contains_key(&spec.name) {
                let hint = if spec.name == HOST {
                    " (\"host\" is the implicit host node: configure it with Topology::host)"
                } else {
                    ""
                };
                self.err(format!(
                    "node {:?} is declared more than once{hint}: give each node its own name",
                    spec.name
                ));
                continue;
            }
            self.node_ix
                .insert(spec.name.clone(), self.plan.nodes.len());
            self.plan.nodes.push(PlannedNode {
                name: spec.name.clone(),
                forwarding: spec.forwarding,
                ifaces: Vec::new(),
                net_of: None,
                rules: spec.firewall.clone(),
                resolv_conf: spec.resolv_conf.clone(),
                keep_port_53_free: spec.keep_port_53_free,
            });
            self.ifnames.push(HashSet::from(["lo".to_string()]));
            self.explicit.push(HashSet::new());
            self.gateways.push((None, None));
        }
    }

    /// The nftables rules that Docker's iptables rules become: masquerade, published
    /// ports, internal networks, isolation between the host's bridges.
    fn netfilter(&mut self) {
        let add = |plan: &mut Plan, node: usize, f: &dyn Fn(Ruleset) -> Ruleset| {
            let rules = plan.nodes[node].rules.take().unwrap_or_default();
            plan.nodes[node].rules = Some(f(rules));
        };
        for spec in &self.topo.bridges {
            let Some(&b) = self.bridge_ix.get(&spec.name) else {
                continue;
            };
            let owner = self.plan.bridges[b].node;
            let name = spec.name.clone();
            let subnets: Vec<IpNet> = self.plan.bridges[b]
                .addrs
                .iter()
                .map(|a| a.trunc())
                .collect();
            if spec.hairpin {
                if subnets.is_empty() {
                    self.err(format!("bridge {name:?}: hairpin needs a gateway on the bridge to masquerade to; drop no_gateway()"));
                }
                self.plan.nodes[owner].forwarding = true;
                for net in &subnets {
                    add(&mut self.plan, owner, &|r| {
                        r.hairpin_masquerade(*net, &name)
                    });
                }
            }
            if spec.masquerade {
                if subnets.is_empty() {
                    self.err(format!("bridge {name:?}: masquerade needs a gateway on the bridge; drop no_gateway()"));
                }
                self.plan.nodes[owner].forwarding = true;
                for net in subnets {
                    add(&mut self.plan, owner, &|r| {
                        r.nat_masquerade(net, Some(&name))
                    });
                }
            }
            if spec.internal {
                // Docker's: -i BR ! -o BR -j DROP; -o BR ! -i BR -j DROP (traffic between
                // members may pass the forward hook too, where bridges are filtered).
                add(&mut self.plan, owner, &|r| {
                    r.filter(Hook::Forward, Rule::new().iif(&name).not_oif(&name).drop())
                        .filter(Hook::Forward, Rule::new().oif(&name).not_iif(&name).drop())
                });
            }
        }
        // Published ports, at the node holding the gateway of the node's first network.
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in specs {
            if spec.publish.is_empty() {
                continue;
            }
            let node = self.node_ix[&spec.name];
            let first = spec
                .attach
                .iter()
                .find_map(|a| self.bridge_ix.get(&a.network).map(|&b| (a, b)));
            let Some((attach, b)) = first.filter(|(_, b)| !self.plan.bridges[*b].addrs.is_empty())
            else {
                self.err(format!(
                    "node {:?} publishes ports but is on no bridge network with a gateway: attach it to one",
                    spec.name
                ));
                continue;
            };
            let owner = self.plan.bridges[b].node;
            let Some(ip) = self.plan.nodes[node]
                .ifaces
                .iter()
                .filter(|i| i.network == attach.network)
                .flat_map(|i| &i.addrs)
                .map(|a| a.addr())
                .find(IpAddr::is_ipv4)
            else {
                continue;
            };
            self.plan.nodes[owner].forwarding = true;
            for &(proto, host_port, port) in &spec.publish {
                let to = std::net::SocketAddr::new(ip, port);
                add(&mut self.plan, owner, &|r| {
                    r.dnat(proto, None, host_port, to)
                });
            }
        }
        // Isolation between the host's bridges once it forwards.
        if self.plan.nodes[0].forwarding {
            let host_bridges: Vec<String> = self
                .plan
                .bridges
                .iter()
                .filter(|b| b.node == 0 && self.topo.bridges.iter().any(|s| s.name == b.name))
                .map(|b| b.name.clone())
                .collect();
            for a in &host_bridges {
                for b in &host_bridges {
                    let routed = self
                        .topo
                        .routed_between
                        .iter()
                        .any(|(x, y)| (x == a && y == b) || (x == b && y == a));
                    if a != b && !routed {
                        add(&mut self.plan, 0, &|r| {
                            r.filter(Hook::Forward, Rule::new().iif(a).oif(b).drop())
                        });
                    }
                }
            }
        }
        for (a, b) in &self.topo.routed_between {
            for n in [a, b] {
                if !self.bridge_ix.contains_key(n) {
                    self.err(format!(
                        "route_between({a:?}, {b:?}): there is no bridge network {n:?}"
                    ));
                }
            }
        }
    }

    /// One bridge per overlay host, registered as `NAME@HOST`.
    fn overlay_bridges(&mut self) {
        for o in &self.topo.overlays {
            if self.bridge_ix.contains_key(&o.name) {
                self.err(format!("overlay {:?}: a bridge network has that name too: give each network its own name", o.name));
            }
            if o.hosts.len() < 2 {
                self.err(format!(
                    "overlay {:?}: an overlay joins at least two hosts",
                    o.name
                ));
            }
            if o.vni == 0 || o.vni >= 1 << 24 {
                self.err(format!(
                    "overlay {:?}: VNI {} is outside 1..16777215",
                    o.name, o.vni
                ));
            }
            for host in &o.hosts {
                let Some(&h) = self.node_ix.get(host) else {
                    self.err(format!("overlay {:?}: host {host:?} does not exist: declare it with Topology::node", o.name));
                    continue;
                };
                if !valid_ifname(&o.name) || !self.ifnames[h].insert(o.name.clone()) {
                    self.err(format!("overlay {:?}: the name must be a free interface name (1-15 characters) in {host:?}", o.name));
                } else if is_port_fallback(&o.name) {
                    self.err(reserved_name(&format!("overlay {:?}", o.name), &o.name));
                }
                self.bridge_ix
                    .insert(format!("{}@{host}", o.name), self.plan.bridges.len());
                self.plan.bridges.push(PlannedBridge {
                    node: h,
                    name: o.name.clone(),
                    mac: mac_from_name(&format!("{host}/{}", o.name)),
                    addrs: Vec::new(),
                    scoped_names: false,
                    netfilter: false,
                });
            }
        }
    }

    /// The VXLAN device of each overlay host, sending from the host's first IPv4 address.
    fn vxlans(&mut self) {
        for o in &self.topo.overlays {
            let mut locals = Vec::new();
            for host in &o.hosts {
                let Some(&h) = self.node_ix.get(host) else {
                    continue;
                };
                let ip = self.plan.nodes[h]
                    .ifaces
                    .iter()
                    .flat_map(|i| &i.addrs)
                    .find_map(|a| match a {
                        IpNet::V4(n) => Some(n.addr()),
                        IpNet::V6(_) => None,
                    });
                match ip {
                    Some(ip) => locals.push((h, host, ip)),
                    None => self.err(format!(
                        "overlay {:?}: host {host:?} has no IPv4 address to carry it: attach it to an underlay network",
                        o.name
                    )),
                }
            }
            for &(h, host, local) in &locals {
                let name = format!("vxlan{}", o.vni);
                if !self.ifnames[h].insert(name.clone()) {
                    self.err(format!(
                        "overlay {:?}: {host:?} already has an interface {name:?}: use another VNI",
                        o.name
                    ));
                }
                self.plan.vxlans.push(PlannedVxlan {
                    node: h,
                    mac: mac_from_name(&format!("{host}/{name}")),
                    name,
                    vni: o.vni,
                    local,
                    remotes: locals.iter().filter(|l| l.0 != h).map(|l| l.2).collect(),
                    master: self.bridge_ix[&format!("{}@{host}", o.name)],
                });
            }
        }
    }

    /// Resolves `net_of`: the target must exist and have a namespace of its own, and the
    /// sharing node can have nothing of its own.
    fn shared_namespaces(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in specs {
            let Some(target) = &spec.net_of else { continue };
            let what = format!("node {:?} shares the network of {target:?}", spec.name);
            let Some(&t) = self.node_ix.get(target) else {
                self.err(format!(
                    "{what}, which does not exist: declare it or use HOST"
                ));
                continue;
            };
            let i = self.node_ix[&spec.name];
            if t == i {
                self.err(format!("{what}: a node cannot share its own namespace"));
                continue;
            }
            if let Some(tt) = self
                .specs()
                .find(|n| n.name == *target)
                .and_then(|n| n.net_of.clone())
            {
                self.err(format!(
                    "{what}, which shares {tt:?}'s: share {tt:?}'s directly"
                ));
                continue;
            }
            if !spec.attach.is_empty() || !spec.routes.is_empty() || spec.forwarding {
                self.err(format!(
                    "{what}: it has no interfaces, routes or forwarding of its own; configure {target:?} instead"
                ));
            }
            let owns_bridge = self.topo.bridges.iter().any(|b| b.owner == spec.name);
            let has_link = self
                .topo
                .links
                .iter()
                .any(|l| l.a == spec.name || l.b == spec.name);
            if owns_bridge || has_link {
                self.err(format!(
                    "{what}: put its bridges and links on {target:?} instead"
                ));
            }
            self.plan.nodes[i].net_of = Some(t);
        }
    }

    /// Parses every network's subnets and checks that no two overlap.
    fn subnets(&mut self) -> BTreeMap<String, (Option<Ipv4Net>, Option<Ipv6Net>)> {
        let mut out = BTreeMap::new();
        let mut all: Vec<(String, IpNet)> = Vec::new();
        let nets: Vec<(String, String, Option<String>, &str)> = self
            .topo
            .bridges
            .iter()
            .map(|b| {
                (
                    b.name.clone(),
                    b.subnet.clone(),
                    b.subnet6.clone(),
                    "bridge",
                )
            })
            .chain(
                self.topo
                    .links
                    .iter()
                    .map(|l| (link_name(l), l.subnet.clone(), l.subnet6.clone(), "link")),
            )
            .chain(
                self.topo
                    .overlays
                    .iter()
                    .map(|o| (o.name.clone(), o.subnet.clone(), None, "overlay")),
            )
            .collect();
        for (name, v4, v6, kind) in nets {
            let v4 = match v4.parse::<Ipv4Net>() {
                Ok(n) => Some(n.trunc()),
                Err(_) => {
                    self.err(format!(
                        "{kind} {name:?}: subnet {v4:?} is not an IPv4 CIDR like \"10.0.0.0/24\""
                    ));
                    None
                }
            };
            let v6 = v6.and_then(|s| match s.parse::<Ipv6Net>() {
                Ok(n) => Some(n.trunc()),
                Err(_) => {
                    self.err(format!(
                        "{kind} {name:?}: IPv6 subnet {s:?} is not an IPv6 CIDR like \"fd00:1::/64\""
                    ));
                    None
                }
            });
            for net in v4.map(IpNet::V4).into_iter().chain(v6.map(IpNet::V6)) {
                if let Some((other, o)) = all
                    .iter()
                    .find(|(_, o)| o.contains(&net.network()) || net.contains(&o.network()))
                {
                    self.err(format!(
                        "{kind} {name:?}: subnet {net} overlaps {o} of {other:?}: give each network its own range"
                    ));
                }
                all.push((name.clone(), net));
            }
            out.insert(name, (v4, v6));
        }
        out
    }

    fn bridges(&mut self, subnets: &BTreeMap<String, (Option<Ipv4Net>, Option<Ipv6Net>)>) {
        for spec in &self.topo.bridges {
            if self.bridge_ix.contains_key(&spec.name)
                || self.topo.links.iter().any(|l| link_name(l) == spec.name)
            {
                self.err(format!(
                    "network {:?} is declared more than once: give each network its own name",
                    spec.name
                ));
                continue;
            }
            if !valid_ifname(&spec.name) {
                self.err(format!(
                    "bridge {:?}: the name is also the device name and must be 1-15 characters without '/', ':' or spaces",
                    spec.name
                ));
            } else if is_port_fallback(&spec.name) {
                self.err(reserved_name(
                    &format!("bridge {:?}", spec.name),
                    &spec.name,
                ));
            }
            let Some(&owner) = self.node_ix.get(&spec.owner) else {
                self.err(format!(
                    "bridge {:?} is placed in node {:?}, which does not exist: declare the node or drop in_node()",
                    spec.name, spec.owner
                ));
                continue;
            };
            if !self.ifnames[owner].insert(spec.name.clone()) {
                self.err(format!(
                    "bridge {:?}: node {:?} already has an interface of that name",
                    spec.name, spec.owner
                ));
            }
            let (v4, v6) = subnets.get(&spec.name).copied().unwrap_or((None, None));
            let mut addrs = Vec::new();
            if let Some(net) = v4 {
                let gw = match &spec.gateway {
                    Gateway::Off => None,
                    Gateway::Auto => net.hosts().next(),
                    Gateway::At(s) => self
                        .parse_in(
                            s,
                            IpNet::V4(net),
                            &format!("gateway of bridge {:?}", spec.name),
                        )
                        .and_then(|ip| match ip {
                            IpAddr::V4(ip) => Some(ip),
                            IpAddr::V6(_) => None,
                        }),
                };
                if let Some(gw) = gw {
                    self.take(IpAddr::V4(gw), format!("gateway of {:?}", spec.name));
                    addrs.push(IpNet::V4(
                        Ipv4Net::new(gw, net.prefix_len()).expect("prefix from a parsed net"),
                    ));
                }
            }
            if let (Some(net), false) = (v6, matches!(spec.gateway, Gateway::Off)) {
                let gw = first_v6(net);
                self.take(IpAddr::V6(gw), format!("gateway of {:?}", spec.name));
                addrs.push(IpNet::V6(
                    Ipv6Net::new(gw, net.prefix_len()).expect("prefix from a parsed net"),
                ));
            }
            self.bridge_ix
                .insert(spec.name.clone(), self.plan.bridges.len());
            self.plan.bridges.push(PlannedBridge {
                node: owner,
                name: spec.name.clone(),
                mac: mac_from_name(&format!("{}/{}", spec.owner, spec.name)),
                addrs,
                scoped_names: spec.scoped_names,
                netfilter: spec.netfilter,
            });
        }
    }

    /// Parses `s` as an address inside `net` that is not its network or broadcast address.
    fn parse_in(&mut self, s: &str, net: IpNet, what: &str) -> Option<IpAddr> {
        let Ok(ip) = s.parse::<IpAddr>() else {
            self.err(format!("{what}: {s:?} is not an IP address"));
            return None;
        };
        if !net.contains(&ip) {
            self.err(format!(
                "{what}: {ip} is outside the subnet {net}: pick an address inside it"
            ));
            return None;
        }
        let edge = match net {
            IpNet::V4(n) if n.prefix_len() < 31 => {
                ip == IpAddr::V4(n.network()) || ip == IpAddr::V4(n.broadcast())
            }
            IpNet::V6(n) if n.prefix_len() < 127 => ip == IpAddr::V6(n.network()),
            _ => false,
        };
        if edge {
            self.err(format!(
                "{what}: {ip} is the network or broadcast address of {net}: pick a host address"
            ));
            return None;
        }
        Some(ip)
    }

    fn take(&mut self, ip: IpAddr, who: String) -> bool {
        if let Some(prev) = self.taken.get(&ip) {
            let msg = format!(
                "address {ip} is given to both {prev} and {who}: each address may be used once"
            );
            self.err(msg);
            return false;
        }
        self.taken.insert(ip, who);
        true
    }

    fn next_ifname(&mut self, node: usize, wanted: Option<&str>, what: &str) -> String {
        match wanted {
            Some(name) => self.claim_ifname(node, name, what),
            None => {
                let name = (0..)
                    .map(|i| format!("eth{i}"))
                    .find(|n| !self.ifnames[node].contains(n) && !self.explicit[node].contains(n))
                    .expect("an unused ethN");
                self.ifnames[node].insert(name.clone());
                name
            }
        }
    }

    /// Takes the interface name `name`, chosen in the topology, in `node`.
    fn claim_ifname(&mut self, node: usize, name: &str, what: &str) -> String {
        if !valid_ifname(name) {
            self.err(format!(
                "{what}: interface name {name:?} must be 1-15 characters without '/', ':' or spaces"
            ));
        } else if is_port_fallback(name) {
            self.err(reserved_name(what, name));
        } else if !self.ifnames[node].insert(name.to_string()) {
            let node_name = self.plan.nodes[node].name.clone();
            self.err(format!(
                "{what}: node {node_name:?} already has an interface named {name:?}: pick another name"
            ));
        }
        name.to_string()
    }

    /// The bridge port of `node`'s interface `ifname`, in `owner`: `wanted`, else
    /// `NODE-IFNAME`, else (too long, or taken) [`port_fallback_name`].
    fn port_name(
        &mut self,
        owner: usize,
        node: &str,
        ifname: &str,
        wanted: Option<&str>,
        what: &str,
    ) -> String {
        if let Some(name) = wanted {
            return self.claim_ifname(owner, name, &format!("{what}: the bridge port"));
        }
        let free =
            |p: &Self, n: &str| !p.ifnames[owner].contains(n) && !p.explicit[owner].contains(n);
        let plain = format!("{node}-{ifname}");
        let name = if plain.len() <= IFNAMSIZ && free(self, &plain) {
            plain
        } else {
            (0..)
                .map(|attempt| port_fallback_name(node, ifname, attempt))
                .find(|n| free(self, n))
                .expect("an unused fallback name")
        };
        self.ifnames[owner].insert(name.clone());
        name
    }

    /// The node holding the bridge an attachment plugs into, if it exists.
    fn attachment_owner(&self, a: &AttachSpec) -> Option<usize> {
        let key = match (
            &a.at,
            self.topo.overlays.iter().any(|o| o.name == a.network),
        ) {
            (Some(host), true) => format!("{}@{host}", a.network),
            _ => a.network.clone(),
        };
        self.bridge_ix.get(&key).map(|&b| self.plan.bridges[b].node)
    }

    /// Collects the interface names the topology chooses, per node, before any name is
    /// made up: a default (`ethN`, `NODE-IFNAME`) never takes a name that an attachment or
    /// a link declared later asks for.
    fn explicit_names(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in specs {
            let node = self.node_ix[&spec.name];
            for a in &spec.attach {
                if let Some(name) = &a.ifname {
                    self.explicit[node].insert(name.clone());
                }
                if let (Some(name), Some(owner)) = (&a.peer, self.attachment_owner(a)) {
                    self.explicit[owner].insert(name.clone());
                }
            }
        }
        for l in &self.topo.links {
            let Some((x, y)) = &l.names else { continue };
            for (node, name) in [(&l.a, x), (&l.b, y)] {
                if let Some(&n) = self.node_ix.get(node) {
                    self.explicit[n].insert(name.clone());
                }
            }
        }
    }

    /// Resolves the bridge netfilter switch of every node holding bridges: one sysctl per
    /// namespace, so the bridges declared in one node must agree; overlay bridges (from
    /// `declared` on) follow them.
    fn bridge_netfilter(&mut self, declared: usize) {
        let mut first: HashMap<usize, usize> = HashMap::new();
        for b in 0..declared {
            let bridge = &self.plan.bridges[b];
            let Some(&f) = first.get(&bridge.node) else {
                first.insert(bridge.node, b);
                continue;
            };
            let other = &self.plan.bridges[f];
            if other.netfilter != bridge.netfilter {
                let (on, off) = if other.netfilter {
                    (other, bridge)
                } else {
                    (bridge, other)
                };
                let msg = format!(
                    "bridges {:?} and {:?} both live in node {:?}, where bridge netfilter (net.bridge.bridge-nf-call-iptables) is one switch for the whole namespace, but {:?} asks for it with bridge_netfilter(true) and {:?} does not: give both the same bridge_netfilter(..), or put one of them in another node with in_node()",
                    other.name, bridge.name, self.plan.nodes[bridge.node].name, on.name, off.name
                );
                self.err(msg);
            }
        }
        for b in declared..self.plan.bridges.len() {
            let node = self.plan.bridges[b].node;
            self.plan.bridges[b].netfilter = first
                .get(&node)
                .is_some_and(|&f| self.plan.bridges[f].netfilter);
        }
    }

    fn attachments(&mut self, subnets: &BTreeMap<String, (Option<Ipv4Net>, Option<Ipv6Net>)>) {
        // Explicit addresses first, so that pools skip them whatever the declaration order.
        let specs: Vec<&NodeSpec> = self.specs().collect();
        let mut fixed: Vec<Vec<(Option<IpAddr>, Option<IpAddr>)>> = Vec::new();
        for spec in &specs {
            let mut per = Vec::new();
            for a in &spec.attach {
                let what = format!("node {:?} on {:?}", spec.name, a.network);
                let (v4, v6) = subnets.get(&a.network).copied().unwrap_or((None, None));
                let ip = match (&a.ip, v4) {
                    (Some(s), Some(net)) => self
                        .parse_in(s, IpNet::V4(net), &what)
                        .filter(|ip| self.take(*ip, what.clone())),
                    _ => None,
                };
                let ip6 = match (&a.ip6, v6) {
                    (Some(s), Some(net)) => self
                        .parse_in(s, IpNet::V6(net), &what)
                        .filter(|ip| self.take(*ip, what.clone())),
                    (Some(_), None) => {
                        self.err(format!("{what}: an IPv6 address is given but the network has no IPv6 subnet: add .ipv6(\"fd00::/64\") to the bridge"));
                        None
                    }
                    _ => None,
                };
                per.push((ip, ip6));
            }
            fixed.push(per);
        }
        for (spec, fixed) in specs.iter().zip(fixed) {
            let node = self.node_ix[&spec.name];
            for (a, (ip, ip6)) in spec.attach.iter().zip(fixed) {
                let what = format!("node {:?} on {:?}", spec.name, a.network);
                let overlay_bridge = match (
                    &a.at,
                    self.topo.overlays.iter().find(|o| o.name == a.network),
                ) {
                    (Some(host), Some(_)) => {
                        match self.bridge_ix.get(&format!("{}@{host}", a.network)) {
                            Some(&b) => Some(b),
                            None => {
                                self.err(format!("{what}: {host:?} is not one of the overlay's hosts: add it to Topology::overlay"));
                                continue;
                            }
                        }
                    }
                    (None, Some(_)) => {
                        self.err(format!("{what}: say which host the node runs on: on_with({:?}, |a| a.at(\"HOST\"))", a.network));
                        continue;
                    }
                    (Some(_), None) => {
                        self.err(format!("{what}: at() is only for overlay networks"));
                        continue;
                    }
                    (None, None) => None,
                };
                let Some(bridge) =
                    overlay_bridge.or_else(|| self.bridge_ix.get(&a.network).copied())
                else {
                    let known: Vec<&str> =
                        self.topo.bridges.iter().map(|b| b.name.as_str()).collect();
                    self.err(format!(
                        "{what}: there is no bridge network {:?} (known: {}): declare it with Topology::bridge",
                        a.network,
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    ));
                    continue;
                };
                let owner = self.plan.bridges[bridge].node;
                if owner == node {
                    self.err(format!(
                        "{what}: the bridge lives in this node already; its address is the bridge's gateway"
                    ));
                    continue;
                }
                let (v4, v6) = subnets[&a.network];
                let ip =
                    ip.or_else(|| v4.and_then(|net| self.alloc(IpNet::V4(net), &a.network, &what)));
                let ip6 = ip6
                    .or_else(|| v6.and_then(|net| self.alloc(IpNet::V6(net), &a.network, &what)));
                let mut addrs = Vec::new();
                if let (Some(ip), Some(net)) = (ip, v4) {
                    addrs.push(IpNet::new(ip, net.prefix_len()).expect("valid prefix"));
                }
                if let (Some(ip), Some(net)) = (ip6, v6) {
                    addrs.push(IpNet::new(ip, net.prefix_len()).expect("valid prefix"));
                }
                let ifname = self.next_ifname(node, a.ifname.as_deref(), &what);
                let peer = self.port_name(owner, &spec.name, &ifname, a.peer.as_deref(), &what);
                let mac = match ip {
                    Some(IpAddr::V4(v4)) => mac_from_ipv4(v4),
                    _ => mac_from_name(&format!("{}/{}", spec.name, ifname)),
                };
                let owner_name = self.plan.nodes[owner].name.clone();
                if a.impairable {
                    self.impairable.push(self.plan.veths.len());
                }
                self.plan.veths.push(PlannedVeth {
                    ends: [
                        VethEnd {
                            node,
                            name: ifname.clone(),
                            mac,
                            addrs: addrs.clone(),
                            master: None,
                        },
                        VethEnd {
                            node: owner,
                            name: peer.clone(),
                            mac: mac_from_name(&format!("{owner_name}/{peer}")),
                            addrs: Vec::new(),
                            master: Some(bridge),
                        },
                    ],
                });
                self.plan.nodes[node].ifaces.push(PlannedIface {
                    name: ifname,
                    network: a.network.clone(),
                    mac,
                    addrs,
                });
                // Docker's rule: the first network with a gateway gives the default route
                // (an internal network gives none).
                let internal = self
                    .topo
                    .bridges
                    .iter()
                    .any(|b| b.name == a.network && b.internal);
                let gws: Vec<IpAddr> = if internal {
                    Vec::new()
                } else {
                    self.plan.bridges[bridge]
                        .addrs
                        .iter()
                        .map(|a| a.addr())
                        .collect()
                };
                let slot = &mut self.gateways[node];
                for gw in gws {
                    match gw {
                        IpAddr::V4(_) if slot.0.is_none() && ip.is_some() => slot.0 = Some(gw),
                        IpAddr::V6(_) if slot.1.is_none() && ip6.is_some() => slot.1 = Some(gw),
                        _ => {}
                    }
                }
            }
        }
        // The bridges' own addresses appear as interfaces of their owners too.
        for b in &self.plan.bridges {
            let iface = PlannedIface {
                name: b.name.clone(),
                network: b.name.clone(),
                mac: b.mac,
                addrs: b.addrs.clone(),
            };
            self.plan.nodes[b.node].ifaces.push(iface);
        }
        for spec in &specs {
            let i = self.node_ix[&spec.name];
            let has_default = spec
                .routes
                .iter()
                .any(|(d, _)| d == "default" || d == "0.0.0.0/0");
            if !spec.default_route || has_default {
                self.gateways[i].0 = None;
            }
            let has_default6 = spec.routes.iter().any(|(d, _)| d == "::/0");
            if !spec.default_route || has_default6 {
                self.gateways[i].1 = None;
            }
            if let Some(gw) = self.gateways[i].0 {
                self.plan.routes.push(PlannedRoute {
                    node: i,
                    dest: "0.0.0.0/0".parse().expect("cidr"),
                    via: gw,
                });
            }
            if let Some(gw) = self.gateways[i].1 {
                self.plan.routes.push(PlannedRoute {
                    node: i,
                    dest: "::/0".parse().expect("cidr"),
                    via: gw,
                });
            }
        }
    }

    fn alloc(&mut self, net: IpNet, network: &str, what: &str) -> Option<IpAddr> {
        let free = match net {
            IpNet::V4(n) => n
                .hosts()
                .map(IpAddr::V4)
                .find(|ip| !self.taken.contains_key(ip)),
            IpNet::V6(n) => v6_hosts(n).find(|ip| !self.taken.contains_key(ip)),
        };
        match free {
            Some(ip) => {
                self.taken.insert(ip, what.to_string());
                Some(ip)
            }
            None => {
                self.err(format!(
                    "{what}: the address pool of {network:?} ({net}) is exhausted: use a larger subnet"
                ));
                None
            }
        }
    }

    fn links(&mut self) {
        for spec in &self.topo.links {
            let name = link_name(spec);
            let (Some(&a), Some(&b)) = (self.node_ix.get(&spec.a), self.node_ix.get(&spec.b))
            else {
                for n in [&spec.a, &spec.b] {
                    if !self.node_ix.contains_key(n) {
                        self.err(format!("link {name}: node {n:?} does not exist: declare it with Topology::node"));
                    }
                }
                continue;
            };
            if a == b {
                self.err(format!(
                    "link {name}: both ends are node {:?}: a link joins two different nodes",
                    spec.a
                ));
                continue;
            }
            let Ok(net) = spec.subnet.parse::<Ipv4Net>().map(|n| n.trunc()) else {
                continue;
            };
            let what = format!("link {name}");
            let mut ips: [Option<IpAddr>; 2] = [None, None];
            if let Some((ia, ib)) = &spec.ips {
                ips[0] = self.parse_in(ia, IpNet::V4(net), &format!("{what} at {:?}", spec.a));
                ips[1] = self.parse_in(ib, IpNet::V4(net), &format!("{what} at {:?}", spec.b));
            } else {
                let mut hosts = net.hosts();
                ips = [hosts.next().map(IpAddr::V4), hosts.next().map(IpAddr::V4)];
                if ips[1].is_none() {
                    self.err(format!("{what}: subnet {net} has fewer than two host addresses: use a /30 or /31 or larger"));
                }
            }
            let v6 = spec
                .subnet6
                .as_deref()
                .and_then(|s| s.parse::<Ipv6Net>().ok())
                .map(|n| n.trunc());
            let ends = [(a, &spec.a, 0usize), (b, &spec.b, 1usize)];
            let mut planned = Vec::new();
            for (node, node_name, k) in ends {
                let who = format!("{what} at {node_name:?}");
                let mut addrs = Vec::new();
                if let Some(ip) = ips[k] {
                    if self.take(ip, who.clone()) {
                        addrs.push(IpNet::new(ip, net.prefix_len()).expect("valid prefix"));
                    }
                }
                if let Some(n6) = v6 {
                    let ip = v6_hosts(n6).nth(k).expect("an IPv6 subnet has two hosts");
                    if self.take(ip, who.clone()) {
                        addrs.push(IpNet::new(ip, n6.prefix_len()).expect("valid prefix"));
                    }
                }
                let wanted = spec
                    .names
                    .as_ref()
                    .map(|(x, y)| if k == 0 { x.as_str() } else { y.as_str() });
                let ifname = self.next_ifname(node, wanted, &who);
                let mac = mac_from_name(&format!("{node_name}/{ifname}"));
                self.plan.nodes[node].ifaces.push(PlannedIface {
                    name: ifname.clone(),
                    network: name.clone(),
                    mac,
                    addrs: addrs.clone(),
                });
                planned.push(VethEnd {
                    node,
                    name: ifname,
                    mac,
                    addrs,
                    master: None,
                });
            }
            let [ea, eb]: [VethEnd; 2] = planned.try_into().expect("two ends");
            if spec.impairable {
                self.impairable.push(self.plan.veths.len());
            }
            self.plan.veths.push(PlannedVeth { ends: [ea, eb] });
        }
    }

    fn static_routes(&mut self) {
        let specs: Vec<&NodeSpec> = self.specs().collect();
        for spec in &specs {
            let i = self.node_ix[&spec.name];
            for (dest, via) in &spec.routes {
                let what = format!("node {:?} route {dest} via {via}", spec.name);
                let via_ip = match via.parse::<IpAddr>() {
                    Ok(ip) => ip,
                    Err(_) => {
                        self.err(format!("{what}: {via:?} is not an IP address"));
                        continue;
                    }
                };
                let dest_net = match dest.as_str() {
                    "default" if via_ip.is_ipv4() => {
                        Ok("0.0.0.0/0".parse::<IpNet>().expect("cidr"))
                    }
                    "default" => Ok("::/0".parse::<IpNet>().expect("cidr")),
                    d => d
                        .parse::<IpNet>()
                        .or_else(|_| d.parse::<IpAddr>().map(IpNet::from)),
                };
                let Ok(dest_net) = dest_net else {
                    self.err(format!(
                        "{what}: {dest:?} is neither \"default\", an address nor a CIDR"
                    ));
                    continue;
                };
                if dest_net.addr().is_ipv4() != via_ip.is_ipv4() {
                    self.err(format!(
                        "{what}: destination and gateway are of different IP families"
                    ));
                    continue;
                }
                let on_link = self.plan.nodes[i]
                    .ifaces
                    .iter()
                    .flat_map(|f| &f.addrs)
                    .any(|a| a.contains(&via_ip));
                if !on_link {
                    self.err(format!(
                        "{what}: {via_ip} is not on any subnet of {:?}: the next hop must be a neighbour",
                        spec.name
                    ));
                    continue;
                }
                self.plan.routes.push(PlannedRoute {
                    node: i,
                    dest: dest_net.trunc(),
                    via: via_ip,
                });
            }
        }
    }

    /// Routes through forwarding nodes to every subnet a node is not on, unless its
    /// default route already leads there through the same next hop.
    fn auto_routes(&mut self) {
        // Segments: subnet -> members (node, address).
        let mut segs: BTreeMap<String, (IpNet, Vec<(usize, IpAddr)>)> = BTreeMap::new();
        for (n, node) in self.plan.nodes.iter().enumerate() {
            for a in node.ifaces.iter().flat_map(|i| &i.addrs) {
                segs.entry(a.trunc().to_string())
                    .or_insert_with(|| (a.trunc(), Vec::new()))
                    .1
                    .push((n, a.addr()));
            }
        }
        let segments: Vec<Segment> = segs
            .values()
            .map(|(_, m)| Segment { members: m.clone() })
            .collect();
        let nets: Vec<IpNet> = segs.values().map(|(n, _)| *n).collect();
        let hidden: HashSet<IpNet> = self
            .topo
            .bridges
            .iter()
            .filter(|b| b.masquerade)
            .filter_map(|b| self.bridge_ix.get(&b.name))
            .flat_map(|&b| self.plan.bridges[b].addrs.iter().map(|a| a.trunc()))
            .collect();
        let mut extra = Vec::new();
        for src in 0..self.plan.nodes.len() {
            // BFS over nodes; first hop remembered per reached node.
            let mut first_hop: HashMap<usize, (IpAddr, bool)> = HashMap::new();
            let mut queue = VecDeque::from([src]);
            let mut seen = HashSet::from([src]);
            while let Some(x) = queue.pop_front() {
                for (s, seg) in segments.iter().enumerate() {
                    if !seg.members.iter().any(|m| m.0 == x) {
                        continue;
                    }
                    for &(y, ip) in &seg.members {
                        if seen.contains(&y) || !self.plan.nodes[y].forwarding {
                            continue;
                        }
                        if ip.is_ipv4() != nets[s].addr().is_ipv4() {
                            continue;
                        }
                        seen.insert(y);
                        let hop = if x == src {
                            (ip, ip.is_ipv4())
                        } else {
                            first_hop[&x]
                        };
                        first_hop.insert(y, hop);
                        queue.push_back(y);
                    }
                }
            }
            let direct: HashSet<usize> = (0..nets.len())
                .filter(|&s| segments[s].members.iter().any(|m| m.0 == src))
                .collect();
            for (s, net) in nets.iter().enumerate() {
                // A masqueraded subnet is hidden behind its NAT: nobody outside routes to it.
                if direct.contains(&s) || hidden.contains(net) {
                    continue;
                }
                // The nearest forwarding node on that segment, in BFS order of discovery.
                let hop = segments[s]
                    .members
                    .iter()
                    .filter_map(|m| first_hop.get(&m.0).copied())
                    .find(|(ip, _)| ip.is_ipv4() == net.addr().is_ipv4());
                let Some((via, _)) = hop else { continue };
                let default = if via.is_ipv4() {
                    self.gateways[src].0
                } else {
                    self.gateways[src].1
                };
                let has_route = self.plan.routes.iter().any(|r| {
                    r.node == src && (r.dest == *net || (r.dest.prefix_len() == 0 && r.via == via))
                });
                if default == Some(via) || has_route {
                    continue;
                }
                extra.push(PlannedRoute {
                    node: src,
                    dest: *net,
                    via,
                });
            }
        }
        self.plan.routes.extend(extra);
    }
}

fn link_name(l: &LinkSpec) -> String {
    format!("{}<->{}", l.a, l.b)
}

fn first_v6(net: Ipv6Net) -> Ipv6Addr {
    v6_hosts(net)
        .next()
        .and_then(|ip| match ip {
            IpAddr::V6(ip) => Some(ip),
            IpAddr::V4(_) => None,
        })
        .expect("an IPv6 subnet has hosts")
}

/// Host addresses of an IPv6 subnet from `::1` (the subnet-router anycast `::` excluded).
fn v6_hosts(net: Ipv6Net) -> impl Iterator<Item = IpAddr> {
    let base = u128::from(net.network());
    let size: u128 = if net.prefix_len() == 0 {
        u128::MAX
    } else {
        (1u128 << (128 - net.prefix_len())) - 1
    };
    let start = if net.prefix_len() >= 127 { 0 } else { 1 };
    (start..=size.min(1 << 20)).map(move |i| IpAddr::V6(Ipv6Addr::from(base + i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(t: Topology) -> String {
        match t.plan() {
            Err(Error::InvalidTopology(p)) => p.join("\n"),
            other => panic!("expected an invalid topology, got {other:?}"),
        }
    }

    #[test]
    fn docker0_members_get_sequential_addresses_and_default_route() {
        let p = Topology::new()
            .bridge("docker0", "172.18.0.0/16")
            .node("con1", |n| n.on("docker0"))
            .node("con2", |n| n.on("docker0"))
            .plan()
            .unwrap();
        let con1 = p.node("con1").unwrap();
        assert_eq!(con1.ifaces[0].name, "eth0");
        assert_eq!(con1.ifaces[0].addrs[0].to_string(), "172.18.0.2/16");
        assert_eq!(con1.ifaces[0].mac, [0x02, 0x42, 0xac, 0x12, 0, 2]);
        assert_eq!(
            p.node("con2").unwrap().ifaces[0].addrs[0].to_string(),
            "172.18.0.3/16"
        );
        assert_eq!(p.bridges[0].addrs[0].to_string(), "172.18.0.1/16");
        assert_eq!(p.nodes[0].name, HOST);
        let routes: Vec<String> = p
            .routes
            .iter()
            .map(|r| format!("{} {} {}", p.nodes[r.node].name, r.dest, r.via))
            .collect();
        assert_eq!(
            routes,
            ["con1 0.0.0.0/0 172.18.0.1", "con2 0.0.0.0/0 172.18.0.1"]
        );
        // The host side of each veth is a port of docker0.
        assert_eq!(p.veths[0].ends[1].name, "con1-eth0");
        assert_eq!(p.veths[0].ends[1].master, Some(0));
    }

    #[test]
    fn the_same_topology_plans_the_same_every_time() {
        let t = crate::presets::lan_wan(3);
        assert_eq!(t.plan().unwrap(), t.clone().plan().unwrap());
    }

    #[test]
    fn explicit_addresses_are_skipped_by_the_pool() {
        let p = Topology::new()
            .bridge_with("mydocker0", "172.16.0.0/16", |b| b.gateway("172.16.1.254"))
            .node("ns1", |n| n.on("mydocker0"))
            .node("ns2", |n| n.on_ip("mydocker0", "172.16.0.1"))
            .plan()
            .unwrap();
        assert_eq!(
            p.node("ns1").unwrap().ifaces[0].addrs[0].to_string(),
            "172.16.0.2/16"
        );
        assert_eq!(p.routes[0].via.to_string(), "172.16.1.254");
    }

    #[test]
    fn dual_stack_bridge_gives_ipv6_addresses_and_default_route() {
        let p = Topology::new()
            .bridge_with("br0", "10.0.0.0/24", |b| b.ipv6("fd00:1::/64"))
            .node("a", |n| n.on("br0"))
            .plan()
            .unwrap();
        let a = p.node("a").unwrap();
        assert_eq!(a.ifaces[0].addrs[1].to_string(), "fd00:1::2/64");
        assert!(p
            .routes
            .iter()
            .any(|r| r.dest.to_string() == "::/0" && r.via.to_string() == "fd00:1::1"));
    }

    #[test]
    fn routers_in_a_line_get_routes_to_every_subnet() {
        let p = crate::presets::router_line(3).plan().unwrap();
        let r1 = p.node_index("r1").unwrap();
        let r1_routes: Vec<String> = p
            .routes
            .iter()
            .filter(|r| r.node == r1)
            .map(|r| r.dest.to_string())
            .collect();
        // r1 is on the left host's link and r1<->r2; it needs r2<->r3 and r3's right link.
        assert_eq!(r1_routes.len(), 2, "{r1_routes:?}\n{}", p.summary());
        let left = p.node_index("left").unwrap();
        let left_routes: Vec<String> = p
            .routes
            .iter()
            .filter(|r| r.node == left)
            .map(|r| r.dest.to_string())
            .collect();
        assert_eq!(left_routes.len(), 3, "{left_routes:?}");
    }

    #[test]
    fn duplicate_and_unknown_names_are_reported_together() {
        let msg = problems(
            Topology::new()
                .bridge("br0", "10.0.0.0/24")
                .node("a", |n| n.on("br0"))
                .node("a", |n| n.on("br1"))
                .link("a", "ghost", "10.9.0.0/30"),
        );
        assert!(
            msg.contains("node \"a\" is declared more than once"),
            "{msg}"
        );
        assert!(
            msg.contains("no bridge network \"br1\" (known: br0)"),
            "{msg}"
        );
        assert!(msg.contains("node \"ghost\" does not exist"), "{msg}");
    }

    #[test]
    fn address_outside_subnet_is_rejected() {
        let msg = problems(
            Topology::new()
                .bridge("br0", "10.0.0.0/24")
                .node("a", |n| n.on_ip("br0", "10.0.1.5")),
        );
        assert!(
            msg.contains("node \"a\" on \"br0\": 10.0.1.5 is outside the subnet 10.0.0.0/24"),
            "{msg}"
        );
    }

    #[test]
    fn overlapping_subnets_are_rejected() {
        let msg = problems(
            Topology::new()
                .bridge("br0", "10.0.0.0/16")
                .bridge("br1", "10.0.5.0/24"),
        );
        assert!(msg.contains("overlaps 10.0.0.0/16 of \"br0\""), "{msg}");
    }

    #[test]
    fn exhausted_pool_names_the_network() {
        let msg = problems(
            Topology::new()
                .bridge("tiny", "10.0.0.0/30")
                .node("a", |n| n.on("tiny"))
                .node("b", |n| n.on("tiny")),
        );
        assert!(
            msg.contains(
                "node \"b\" on \"tiny\": the address pool of \"tiny\" (10.0.0.0/30) is exhausted"
            ),
            "{msg}"
        );
    }

    #[test]
    fn duplicate_address_names_both_users() {
        let msg = problems(
            Topology::new()
                .bridge("br0", "10.0.0.0/24")
                .node("a", |n| n.on_ip("br0", "10.0.0.1")),
        );
        assert!(
            msg.contains(
                "address 10.0.0.1 is given to both gateway of \"br0\" and node \"a\" on \"br0\""
            ),
            "{msg}"
        );
    }

    #[test]
    fn bad_cidr_and_bad_names_are_explained() {
        let msg = problems(
            Topology::new()
                .bridge("a-very-long-bridge-name", "10.0.0/24")
                .node("bad name", |n| n),
        );
        assert!(
            msg.contains("\"bad name\" is not a valid host name"),
            "{msg}"
        );
        assert!(msg.contains("is not an IPv4 CIDR"), "{msg}");
        assert!(msg.contains("must be 1-15 characters"), "{msg}");
    }

    #[test]
    fn every_node_knows_every_name_unless_scoped() {
        let p = Topology::new()
            .bridge("docker0", "172.18.0.0/16")
            .bridge_with("testnet", "172.19.0.0/16", |b| b.scoped_names())
            .node("con1", |n| n.on("docker0"))
            .node("con2", |n| n.on("docker0"))
            .node("con3", |n| n.on("testnet"))
            .node("con4", |n| n.on("testnet"))
            .plan()
            .unwrap();
        let con1 = p.names_for(p.node_index("con1").unwrap());
        assert_eq!(con1["con2"], vec!["172.18.0.3".parse::<IpAddr>().unwrap()]);
        assert!(
            !con1.contains_key("con3"),
            "con3 is known only on testnet: {con1:?}"
        );
        let con3 = p.names_for(p.node_index("con3").unwrap());
        assert!(
            con3.contains_key("con4") && con3.contains_key("con1"),
            "{con3:?}"
        );
        let host = p.names_for(0);
        assert!(
            host.contains_key("con3") && host.contains_key("con1"),
            "{host:?}"
        );
    }

    #[test]
    fn a_node_sharing_a_namespace_has_its_interfaces_and_names() {
        let p = Topology::new()
            .bridge("docker0", "172.17.0.0/16")
            .node("web", |n| n.on("docker0"))
            .node("sidecar", |n| n.net_of("web"))
            .node("hostnet", |n| n.net_of(HOST))
            .plan()
            .unwrap();
        let sidecar = p.node("sidecar").unwrap();
        assert_eq!(sidecar.net_of, p.node_index("web"));
        assert_eq!(sidecar.ifaces, p.node("web").unwrap().ifaces);
        assert_eq!(
            p.names_for(0)["sidecar"],
            vec!["172.17.0.2".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(p.node("hostnet").unwrap().ifaces[0].name, "docker0");
    }

    #[test]
    fn sharing_errors_name_the_fix() {
        let msg = problems(
            Topology::new()
                .bridge("br0", "10.0.0.0/24")
                .node("a", |n| n.on("br0"))
                .node("b", |n| n.net_of("a").on("br0"))
                .node("c", |n| n.net_of("b"))
                .node("d", |n| n.net_of("nobody")),
        );
        assert!(msg.contains("configure \"a\" instead"), "{msg}");
        assert!(msg.contains("share \"a\"'s directly"), "{msg}");
        assert!(msg.contains("\"nobody\", which does not exist"), "{msg}");
    }

    #[test]
    fn hairpin_masquerades_dnated_lan_traffic_at_the_bridge_owner() {
        let p = Topology::new()
            .router("r", |n| n)
            .bridge_with("lan", "192.168.1.0/24", |b| b.in_node("r").hairpin())
            .node("web", |n| n.on("lan").publish(8080, 80))
            .plan()
            .unwrap();
        let r = p.node("r").unwrap();
        let rules = r.rules.as_ref().unwrap().to_string();
        assert!(
            rules.contains(
                r#"ct status dnat ip saddr 192.168.1.0/24 oifname "lan" counter masquerade"#
            ),
            "{rules}"
        );
        assert!(r.forwarding);
        let msg = problems(
            Topology::new().bridge_with("sw", "10.0.0.0/24", |b| b.no_gateway().hairpin()),
        );
        assert!(msg.contains("hairpin needs a gateway"), "{msg}");
    }

    #[test]
    fn cgnat_hides_both_levels_of_nat_from_the_server() {
        let p = crate::presets::cgnat().plan().unwrap();
        let server = p.node_index("server").unwrap();
        assert!(
            !p.routes.iter().any(|r| r.node == server),
            "{}",
            p.summary()
        );
        for home in ["home1", "home2"] {
            let h = p.node_index(home).unwrap();
            assert!(
                p.routes.iter().any(|r| r.node == h
                    && r.dest.prefix_len() == 0
                    && r.via.to_string() == "100.64.0.1"),
                "{}",
                p.summary()
            );
        }
    }

    /// The bridge ports (veth ends with a master) of `p` in `node`, by name.
    fn ports(p: &Plan, node: &str) -> Vec<String> {
        let n = p.node_index(node).unwrap();
        p.veths
            .iter()
            .flat_map(|v| &v.ends)
            .filter(|e| e.node == n && e.master.is_some())
            .map(|e| e.name.clone())
            .collect()
    }

    #[test]
    fn the_bridge_port_can_be_named() {
        let p = Topology::new()
            .bridge("samplebr", "10.1.1.0/24")
            .node("sample", |n| {
                n.on_with("samplebr", |a| a.name("veth1").peer_name("veth2"))
            })
            .plan()
            .unwrap();
        assert_eq!(p.node("sample").unwrap().ifaces[0].name, "veth1");
        assert_eq!(ports(&p, HOST), ["veth2"]);
        // Into a bridge inside a node, too; the port's name must be free there.
        let msg = problems(
            Topology::new()
                .router("r", |n| n)
                .bridge_with("lan", "10.0.0.0/24", |b| b.in_node("r"))
                .node("a", |n| n.on_with("lan", |x| x.peer_name("lan")))
                .node("b", |n| n.on_with("lan", |x| x.peer_name("bad/name"))),
        );
        assert!(
            msg.contains("node \"a\" on \"lan\": the bridge port: node \"r\" already has an interface named \"lan\": pick another name"),
            "{msg}"
        );
        assert!(msg.contains("node \"b\" on \"lan\": the bridge port: interface name \"bad/name\" must be 1-15 characters"), "{msg}");
    }

    #[test]
    fn a_bridge_port_too_long_for_node_ifname_gets_a_reserved_name_that_collides_with_nothing() {
        // "frontend-web-01-eth0" is 20 bytes: over the kernel's 15. Before, the port
        // silently became "veth0", and a link named "veth0" was then rejected.
        let p = Topology::new()
            .bridge("br0", "10.0.0.0/24")
            .node("frontend-web-01", |n| n.on("br0"))
            .node("frontend-web-02", |n| n.on("br0"))
            .node("peer", |n| n)
            .link_with(HOST, "peer", "10.9.0.0/30", |l| l.names("veth0", "veth1"))
            .plan()
            .unwrap();
        let names = ports(&p, HOST);
        assert_eq!(names.len(), 2, "{names:?}");
        for name in &names {
            assert!(is_port_fallback(name), "{name}");
            assert!(name.len() <= IFNAMSIZ);
        }
        // Two long names sharing their first 15 bytes get different ports.
        assert_ne!(names[0], names[1]);
        assert_eq!(names[0], port_fallback_name("frontend-web-01", "eth0", 0));
        // Deterministic: the same name whatever else the topology holds.
        let again = Topology::new()
            .bridge("br0", "10.0.0.0/24")
            .node("frontend-web-01", |n| n.on("br0"))
            .plan()
            .unwrap();
        assert_eq!(ports(&again, HOST)[0], names[0]);
        // The user's veth0 is the link's end in the host.
        let host = p.node(HOST).unwrap();
        assert!(host
            .ifaces
            .iter()
            .any(|i| i.name == "veth0" && i.network == "host<->peer"));
        let all: HashSet<&str> = p
            .veths
            .iter()
            .flat_map(|v| &v.ends)
            .filter(|e| e.node == 0)
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(all.len(), 3, "{all:?}");
    }

    #[test]
    fn a_default_bridge_port_leaves_names_chosen_in_the_topology_alone() {
        // "a-eth0" is both a's default port and a name the topology gives a link end, and
        // "b-eth0" is b's default port and the explicit port of c: the topology's names win
        // whatever the order, the defaults fall back.
        let p = Topology::new()
            .bridge("br0", "10.0.0.0/24")
            .node("a", |n| n.on("br0"))
            .node("b", |n| n.on("br0"))
            .node("c", |n| n.on_with("br0", |x| x.peer_name("b-eth0")))
            .node("d", |n| n)
            .link_with(HOST, "d", "10.9.0.0/30", |l| l.names("a-eth0", "eth0"))
            .plan()
            .unwrap();
        let names = ports(&p, HOST);
        assert!(is_port_fallback(&names[0]), "{names:?}");
        assert!(is_port_fallback(&names[1]), "{names:?}");
        assert_eq!(names[2], "b-eth0");
        // Defaults inside a node skip an explicit name declared later, too.
        let p = Topology::new()
            .bridge("br0", "10.0.0.0/24")
            .bridge("br1", "10.0.1.0/24")
            .node("a", |n| n.on("br0").on_with("br1", |x| x.name("eth0")))
            .plan()
            .unwrap();
        let a: Vec<&str> = p
            .node("a")
            .unwrap()
            .ifaces
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(a, ["eth1", "eth0"]);
    }

    #[test]
    fn names_of_the_reserved_port_shape_are_rejected() {
        let msg = problems(
            Topology::new()
                .bridge("nt00000000", "10.0.0.0/24")
                .bridge("br1", "10.0.1.0/24")
                .node("a", |n| n.on_with("br1", |x| x.name("nt0123abcd")))
                .node("b", |n| n.on_with("br1", |x| x.peer_name("ntdeadbeef")))
                .link_with("a", "b", "10.9.0.0/30", |l| l.names("x", "nt89abcdef")),
        );
        for (who, name) in [
            ("bridge \"nt00000000\"", "nt00000000"),
            ("node \"a\" on \"br1\"", "nt0123abcd"),
            ("node \"b\" on \"br1\": the bridge port", "ntdeadbeef"),
            ("link a<->b at \"b\"", "nt89abcdef"),
        ] {
            let expected = format!("{who}: the name {name:?} has the shape netns-test keeps for bridge ports whose NODE-IFNAME does not fit in 15 bytes (\"nt\" and 8 hex digits): pick another name");
            assert!(msg.contains(&expected), "{expected}\nnot in:\n{msg}");
        }
        // Near misses are ordinary names.
        for name in [
            "nt0123abc",
            "nt0123abcde",
            "nt0123ABCD",
            "ns0123abcd",
            "nt0123abcg",
        ] {
            assert!(!is_port_fallback(name), "{name}");
        }
    }

    #[test]
    fn bridge_netfilter_is_off_unless_asked_and_one_setting_per_namespace() {
        let p = crate::presets::two_networks().plan().unwrap();
        assert!(p.bridges.iter().all(|b| !b.netfilter));
        assert_eq!(
            p.bridge_netfilter(),
            [(0, false, vec!["docker0", "testnet"])]
        );
        let p = Topology::new()
            .node("r", |n| n)
            .bridge_with("docker0", "172.17.0.0/16", |b| b.bridge_netfilter(true))
            .bridge_with("lan", "10.0.0.0/24", |b| b.in_node("r"))
            .plan()
            .unwrap();
        assert_eq!(
            p.bridge_netfilter(),
            [(0, true, vec!["docker0"]), (1, false, vec!["lan"])]
        );
        // Both bridges of the host must agree: the switch is the namespace's.
        let msg = problems(
            Topology::new()
                .bridge("docker0", "172.17.0.0/16")
                .bridge_with("testnet", "172.19.0.0/16", |b| b.bridge_netfilter(true)),
        );
        assert!(
            msg.contains("bridges \"docker0\" and \"testnet\" both live in node \"host\", where bridge netfilter (net.bridge.bridge-nf-call-iptables) is one switch for the whole namespace, but \"testnet\" asks for it with bridge_netfilter(true) and \"docker0\" does not: give both the same bridge_netfilter(..), or put one of them in another node with in_node()"),
            "{msg}"
        );
        // An overlay's bridge follows the other bridges of its host.
        let p = Topology::new()
            .bridge_with("underlay", "10.0.0.0/24", |b| b.bridge_netfilter(true))
            .node("h1", |n| n.on("underlay"))
            .node("h2", |n| n.on("underlay"))
            .bridge_with("local", "10.1.0.0/24", |b| {
                b.in_node("h1").bridge_netfilter(true)
            })
            .overlay("ov", "10.2.0.0/24", 42, &["h1", "h2"])
            .plan()
            .unwrap();
        let ov: Vec<(String, bool)> = p
            .bridges
            .iter()
            .filter(|b| b.name == "ov")
            .map(|b| (p.nodes[b.node].name.clone(), b.netfilter))
            .collect();
        assert_eq!(ov, [("h1".to_string(), true), ("h2".to_string(), false)]);
    }
}
