//! The builders a [`Topology`] is declared with, and the specs they fill in.

use super::conditions::Conditions;
use super::profiles::Profile;
use crate::nft::{Nat, Proto, Ruleset};

#[cfg(doc)]
use super::{Topology, HOST};

/// Configures a node; see [`Topology::node`].
#[derive(Debug)]
pub struct NodeBuilder(pub(super) NodeSpec);

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
            down: false,
            profile: Profile::default(),
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
    /// forwarded to `port` here, from other nodes and from that node itself, 127.0.0.1
    /// included (Docker's `-p HOST_PORT:PORT`: `curl http://localhost:8080/` in the host
    /// answers). Turns forwarding on there, and `route_localnet` on the bridge (see
    /// [`crate::nft::Ruleset::publish`]).
    ///
    /// IPv4 only: the port is forwarded to this node's IPv4 address, so `[::1]:HOST_PORT`
    /// and the host's IPv6 addresses are not published. `[::1]` would need more than an
    /// IPv6 address: IPv6 has no `route_localnet`, the switch that lets the kernel route
    /// a loopback source out through a bridge (Docker, too, answers `[::1]` only through
    /// its userland proxy).
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
    /// [`crate::Node::nft`]: `node.nft().apply(&rules).await`.
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

    /// The router's NAT, one declaration (see [`crate::nft::nat`] for the tiers, their
    /// RFC 4787 behaviour and the presets): the bridges the node holds are its LANs,
    /// every other interface its WAN. It lives in the table `inet netns_nat`, which
    /// [`crate::NftHandle::apply`] does not touch; change it at run time with
    /// [`crate::NftHandle::set_nat`]. It brings its own WAN guard.
    ///
    /// ```
    /// use netns_test::{nft::Nat, Topology};
    /// let t = Topology::new()
    ///     .router("r", |n| n.nat(Nat::full_cone()))
    ///     .bridge_with("lan", "192.168.1.0/24", |b| b.in_node("r"))
    ///     .node("a", |n| n.on("lan"));
    /// # t.plan().unwrap();
    /// ```
    pub fn nat(mut self, nat: Nat) -> Self {
        self.0.nat = Some(nat);
        self
    }

    /// NAT64 + DNS64 for the IPv6-only networks whose bridges this router holds: the
    /// members' name service answers AAAA queries for names that have only IPv4
    /// addresses with the IPv4 address embedded in the prefix (`64:ff9b::198.51.100.2`),
    /// and the router translates TCP and UDP to those addresses into IPv4 from its own
    /// IPv4 address, so an IPv6-only node reaches an IPv4-only server by name. What
    /// `tayga` with `dnsmasq --dns64` (or `unbound`'s `dns64` module) do by hand.
    ///
    /// Linux has no in-kernel NAT64, so the translator is the framework's own, in
    /// userspace, like the relays of impairable links: an nf_tables rule in the router
    /// (`ip6 daddr 64:ff9b::/96 meta l4proto tcp dnat ip6 to [LAN_GATEWAY]:6464`, and
    /// the same for UDP, table `inet netns_test`) hands each connection to it, it reads
    /// the original destination (`IP6T_SO_ORIGINAL_DST` for TCP, the conntrack entry for
    /// UDP), connects to the embedded IPv4 address and copies both ways. ICMP echo to
    /// the prefix is not translated. Needs nf_tables NAT (`nft_nat`).
    ///
    /// ```
    /// use netns_test::topology::Nat64;
    /// use netns_test::Topology;
    ///
    /// let t = Topology::new()
    ///     .router("r", |n| n.nat64(Nat64::default()))
    ///     .bridge_with("lan6", "fd00:6::/64", |b| b.in_node("r"))
    ///     .link("r", "server", "198.51.100.0/24")
    ///     .node("server", |n| n)
    ///     .node("a", |n| n.on("lan6"));
    /// let plan = t.plan().unwrap();
    /// assert_eq!(plan.node("a").unwrap().dns64.unwrap().to_string(), "64:ff9b::/96");
    /// ```
    pub fn nat64(mut self, nat64: super::Nat64) -> Self {
        self.0.nat64 = Some(nat64);
        self
    }

    /// Leaves the node's WAN side open, as a plain Linux box rather than a home router:
    /// without it, a node other than [`HOST`] that masquerades a bridge it holds (or whose
    /// [`NodeBuilder::firewall`] source-NATs through a named interface) drops new TCP and
    /// UDP connections addressed to itself from outside its LANs, unless one of its
    /// sockets would receive them ([`crate::nft::Ruleset::wan_guard`]: what keeps hole
    /// punching through it reliable). With this, such packets reach the node's stack,
    /// which answers a closed port with a reset or ICMP port unreachable, and connection
    /// tracking keeps an entry for each.
    pub fn no_wan_guard(mut self) -> Self {
        self.0.wan_guard = false;
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

    /// An interface of the node's own that joins no network, with these addresses (with
    /// their prefix length, `"10.200.0.1/32"`): a `dummy` device, or where the kernel has
    /// no `dummy` driver a veth whose peer stays down in the node (see
    /// [`crate::IfaceKind`]). Like `ip link add NAME type dummy; ip addr add CIDR dev
    /// NAME; ip link set NAME up`. It is made once the network is up, as
    /// [`crate::Node::add_iface`] makes one at run time, and shows in
    /// [`crate::Node::ifaces`].
    ///
    /// ```
    /// use netns_test::Topology;
    ///
    /// let t = Topology::new().node("a", |n| n.iface("svc0", &["10.200.0.1/32", "fd00:200::1/128"]));
    /// assert_eq!(t.plan().unwrap().node("a").unwrap().dummies[0].name, "svc0");
    /// ```
    pub fn iface(mut self, name: &str, addrs: &[&str]) -> Self {
        self.0.dummies.push((
            name.to_string(),
            addrs.iter().map(|a| a.to_string()).collect(),
        ));
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
pub struct AttachBuilder(pub(super) AttachSpec);

impl AttachBuilder {
    /// A fixed IPv4 address inside the network's subnet (an IPv6 address on an
    /// IPv6-only network).
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

    /// The node's interface starts down, as a cable not yet plugged in: it has its
    /// addresses, but the build neither brings it up nor waits for it, and the routes
    /// through it (the default route among them) are not added. `node.link(IFNAME).up()`
    /// brings it up and adds those routes ([`crate::LinkHandle::up`]). Like `ip link add
    /// ... type veth` without the `ip link set eth0 up` that follows it.
    ///
    /// ```
    /// use netns_test::Topology;
    ///
    /// let t = Topology::new()
    ///     .bridge("wifi", "10.1.0.0/24")
    ///     .node("phone", |n| n.on_with("wifi", |a| a.down()));
    /// let plan = t.plan().unwrap();
    /// assert!(plan.veths[0].ends[0].down);
    /// ```
    pub fn down(mut self) -> Self {
        self.0.down = true;
        self
    }

    /// Link conditions for the frames the node sends on this attachment, set when the
    /// network is built: like `tc qdisc add dev eth0 root netem ...` in the node (see
    /// [`crate::fault`]). Delay, loss and the other random impairments make the
    /// attachment [impairable](AttachBuilder::impairable), so they work where the kernel
    /// has no netem too.
    pub fn egress(mut self, c: Conditions) -> Self {
        self.0.profile.egress = c;
        self
    }

    /// Link conditions for the frames the node receives on this attachment: set on the
    /// bridge port, the other end of the veth pair (what `tc qdisc add dev ifb0 root netem
    /// ...` behind an ingress redirect to an ifb device does for a physical interface).
    pub fn ingress(mut self, c: Conditions) -> Self {
        self.0.profile.ingress = c;
        self
    }

    /// The same link conditions both ways (`egress` and `ingress`).
    pub fn conditions(self, c: Conditions) -> Self {
        self.profile(Profile::symmetric(c))
    }

    /// Link conditions both ways from a [`Profile`] (a preset such as [`Profile::lte`], or
    /// one of the test's own).
    ///
    /// ```
    /// use netns_test::fault::Profile;
    /// use netns_test::Topology;
    ///
    /// let t = Topology::new()
    ///     .bridge("wan", "10.0.0.0/24")
    ///     .node("phone", |n| n.on_with("wan", |a| a.profile(Profile::umts())))
    ///     .node("server", |n| n.on("wan"));
    /// let plan = t.plan().unwrap();
    /// // The phone's upload, and its download on the bridge port.
    /// assert_eq!(plan.conditions[0].ifname, "eth0");
    /// assert_eq!(plan.conditions[1].ifname, "phone-eth0");
    /// assert_eq!(plan.conditions[1].conditions.rate, Some(780_000));
    /// ```
    pub fn profile(mut self, p: Profile) -> Self {
        self.0.profile = p;
        self
    }
}

/// Configures a bridge network; see [`Topology::bridge_with`].
#[derive(Debug)]
pub struct BridgeBuilder(pub(super) BridgeSpec);

impl BridgeBuilder {
    /// The gateway address held by the bridge (default: the subnet's first address); on
    /// an IPv6-only network, the IPv6 gateway.
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

    /// NPTv6 (RFC 6296) at the node holding the bridge: the network's IPv6 prefix is
    /// swapped for `outside` (same length, host bits kept) when it leaves through any other
    /// interface, and back for connections to `outside`, with forwarding on there. Other
    /// nodes get a route to `outside` through that node, not to the LAN's own prefix.
    /// Like `ip6tables -t nat -A POSTROUTING -s fd00:6::/64 ! -o lan6 -j NETMAP --to
    /// fd00:99::/64` plus the `PREROUTING` rule back (see [`crate::nft::Ruleset::nptv6`]);
    /// needs prefix NAT in nf_tables (Linux 5.8), or the build fails naming it.
    ///
    /// ```
    /// use netns_test::Topology;
    ///
    /// let t = Topology::new()
    ///     .router("r", |n| n)
    ///     .bridge_with("lan6", "fd00:6::/64", |b| b.in_node("r").nptv6("fd00:99::/64"))
    ///     .node("a", |n| n.on("lan6"));
    /// let rules = t.plan().unwrap().node("r").unwrap().rules.clone().unwrap().to_string();
    /// assert!(rules.contains("snat ip6 prefix to fd00:99::/64"), "{rules}");
    /// ```
    pub fn nptv6(mut self, outside: &str) -> Self {
        self.0.nptv6 = Some(outside.to_string());
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

    /// DNS records for `name` that only nodes on this network see (those with an
    /// interface on it, the node holding the bridge included), before the whole network's
    /// ([`Topology::dns_record`](super::Topology::dns_record)): like a dnsmasq serving
    /// only this network's subnet, or Docker's `--network-alias` on a user-defined network.
    pub fn dns_record(mut self, name: &str, records: impl Into<super::DnsRecords>) -> Self {
        self.0.dns_records.push((name.to_string(), records.into()));
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
pub struct LinkBuilder(pub(super) LinkSpec);

impl LinkBuilder {
    /// Interface names at `a` and at `b` (default `ethN` in each node).
    pub fn names(mut self, a: &str, b: &str) -> Self {
        self.0.names = Some((a.to_string(), b.to_string()));
        self
    }

    /// Fixed IPv4 addresses at `a` and at `b` (IPv6 addresses on an IPv6-only link).
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

    /// Link conditions for the frames `a` sends (and `b` receives), set when the network
    /// is built: like `tc qdisc add dev eth0 root netem ...` in `a` (see [`crate::fault`]).
    /// Delay, loss and the other random impairments make the link
    /// [impairable](LinkBuilder::impairable), so they work where the kernel has no netem
    /// too.
    pub fn egress(mut self, c: Conditions) -> Self {
        self.0.profile.egress = c;
        self
    }

    /// Link conditions for the frames `a` receives (and `b` sends): set on `b`'s end,
    /// where an ifb device would be needed on a physical link (`tc filter add dev eth0
    /// ingress ... action mirred egress redirect dev ifb0`, then netem on `ifb0`).
    pub fn ingress(mut self, c: Conditions) -> Self {
        self.0.profile.ingress = c;
        self
    }

    /// `a`'s interface starts down, as a cable not yet plugged in there: both ends have
    /// their addresses, but the build neither brings `a`'s end up nor waits for the link,
    /// and `a`'s routes through it are not added (the link has no carrier at either end
    /// until then). `node.link(IFNAME).up()` in `a` brings it up and adds those routes
    /// ([`crate::LinkHandle::up`]), as for an attachment declared
    /// [down](AttachBuilder::down). Like `ip link add ... type veth` without the `ip link
    /// set eth0 up` in `a` that follows it.
    ///
    /// ```
    /// use netns_test::Topology;
    ///
    /// let t = Topology::new()
    ///     .node("a", |n| n)
    ///     .node("b", |n| n)
    ///     .link_with("a", "b", "10.9.0.0/30", |l| l.down());
    /// let plan = t.plan().unwrap();
    /// assert!(plan.veths[0].ends[0].down && !plan.veths[0].ends[1].down);
    /// ```
    pub fn down(mut self) -> Self {
        self.0.down = true;
        self
    }

    /// The same link conditions both ways.
    pub fn conditions(self, c: Conditions) -> Self {
        self.profile(Profile::symmetric(c))
    }

    /// Link conditions both ways from a [`Profile`], seen from `a` (its `egress` is what
    /// `a` sends).
    pub fn profile(mut self, p: Profile) -> Self {
        self.0.profile = p;
        self
    }
}

/// A node as declared: what [`NodeBuilder`] fills in.
#[derive(Clone, Debug)]
pub(super) struct NodeSpec {
    pub(super) name: String,
    pub(super) attach: Vec<AttachSpec>,
    pub(super) forwarding: bool,
    pub(super) routes: Vec<(String, String)>,
    pub(super) default_route: bool,
    pub(super) net_of: Option<String>,
    pub(super) publish: Vec<(Proto, u16, u16)>,
    pub(super) firewall: Option<Ruleset>,
    pub(super) resolv_conf: Option<String>,
    pub(super) keep_port_53_free: bool,
    pub(super) wan_guard: bool,
    pub(super) nat: Option<Nat>,
    pub(super) nat64: Option<super::Nat64>,
    pub(super) dummies: Vec<(String, Vec<String>)>,
}

impl NodeSpec {
    pub(super) fn new(name: &str) -> Self {
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
            wan_guard: true,
            nat: None,
            nat64: None,
            dummies: Vec::new(),
        }
    }
}

/// An attachment as declared: what [`AttachBuilder`] fills in.
#[derive(Clone, Debug)]
pub(super) struct AttachSpec {
    pub(super) network: String,
    pub(super) ip: Option<String>,
    pub(super) ip6: Option<String>,
    pub(super) ifname: Option<String>,
    pub(super) peer: Option<String>,
    pub(super) at: Option<String>,
    pub(super) impairable: bool,
    pub(super) down: bool,
    pub(super) profile: Profile,
}

/// An overlay network as declared ([`Topology::overlay`]).
#[derive(Clone, Debug)]
pub(super) struct OverlaySpec {
    pub(super) name: String,
    pub(super) subnet: String,
    pub(super) vni: u32,
    pub(super) hosts: Vec<String>,
}

/// Where a bridge's gateway address is: the subnet's first host, a given one, none.
#[derive(Clone, Debug)]
pub(super) enum Gateway {
    Auto,
    At(String),
    Off,
}

/// A bridge network as declared: what [`BridgeBuilder`] fills in.
#[derive(Clone, Debug)]
pub(super) struct BridgeSpec {
    pub(super) name: String,
    pub(super) subnet: String,
    pub(super) subnet6: Option<String>,
    pub(super) gateway: Gateway,
    pub(super) owner: String,
    pub(super) scoped_names: bool,
    pub(super) masquerade: bool,
    pub(super) nptv6: Option<String>,
    pub(super) hairpin: bool,
    pub(super) internal: bool,
    pub(super) netfilter: bool,
    pub(super) dns_records: Vec<(String, super::DnsRecords)>,
}

/// A point-to-point link as declared: what [`LinkBuilder`] fills in.
#[derive(Clone, Debug)]
pub(super) struct LinkSpec {
    pub(super) a: String,
    pub(super) b: String,
    pub(super) subnet: String,
    pub(super) subnet6: Option<String>,
    pub(super) names: Option<(String, String)>,
    pub(super) ips: Option<(String, String)>,
    pub(super) impairable: bool,
    pub(super) down: bool,
    pub(super) profile: Profile,
}
