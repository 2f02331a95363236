//! Interfaces that change under a running test: a node's interface replugged into another
//! network ([`Node::replug`]), interfaces of its own added and removed
//! ([`Node::add_iface`], [`Node::remove_iface`]). Each change is made in the kernel, then
//! in the node's interfaces as [`Node::ifaces`] shows them.
//!
//! | instead of                                                          | write |
//! | ------------------------------------------------------------------- | ----- |
//! | `ip link del eth0; ip link add eth0 type veth peer name P netns B; ip link set P master BR up; ip addr add ADDR dev eth0; ip link set eth0 up; ip route replace default via GW` | `node.replug("eth0", "BR").await?` |
//! | `ip link add svc0 type dummy; ip addr add 10.200.0.1/32 dev svc0; ip link set svc0 up` | `node.add_iface("svc0", IfaceOptions::new().addr("10.200.0.1/32")).await?` |
//! | `ip link del svc0`                                                  | `node.remove_iface("svc0").await?` |

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ipnet::IpNet;

use super::{Iface, Net, Node};
use crate::error::{Error, Result};
use crate::kernel::{self, NewLink};
use crate::topology::{
    mac_from_ipv4, mac_from_name, port_fallback_name, PlannedBridge, PlannedIface,
};

/// The kind of device behind an [`Iface`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IfaceKind {
    /// One end of a veth pair whose other end is a bridge port, a link's far end or a
    /// relay.
    Veth,
    /// A bridge the node holds.
    Bridge,
    /// A `dummy` device (`ip link add NAME type dummy`), made by [`Node::add_iface`].
    Dummy,
    /// What [`Node::add_iface`] makes where the kernel has no `dummy` driver: one end of
    /// a veth pair whose other end stays down in the same node, named `NAME~` (the
    /// interface itself is up with no carrier, `NO-CARRIER` in `ip link`; its addresses
    /// are local addresses of the node all the same).
    VethStandIn,
}

/// What [`Node::replug_with`] and [`Node::add_iface`] give the interface, as plain values
/// set one after the other.
///
/// ```
/// use netns_test::IfaceOptions;
/// let o = IfaceOptions::new().addr("10.2.0.50").addr("fd00:2::50/64").no_default_route();
/// # let _ = o;
/// ```
#[derive(Clone, Debug, Default)]
pub struct IfaceOptions {
    addrs: Vec<String>,
    default_route: bool,
}

impl IfaceOptions {
    /// No address given (a replugged interface gets the next free address of its new
    /// network's pool, an added one none), and the default route follows a replugged
    /// interface.
    pub fn new() -> Self {
        IfaceOptions {
            addrs: Vec::new(),
            default_route: true,
        }
    }

    /// An address, with or without its prefix length (`"10.2.0.50"`, `"10.200.0.1/32"`);
    /// without one, it gets the network's for a replugged interface, a host prefix (/32,
    /// /128) for an added one. Call it once per address. For [`Node::replug_with`], the
    /// given address of a family replaces the one from the pool.
    pub fn addr(mut self, addr: &str) -> Self {
        self.addrs.push(addr.to_string());
        self
    }

    /// For [`Node::replug_with`]: the node's default route stays as the unplugging left
    /// it (gone, if it went through the interface) instead of following it to the new
    /// network's gateway.
    pub fn no_default_route(mut self) -> Self {
        self.default_route = false;
        self
    }
}

impl Node {
    /// Unplugs interface `ifname` from its network and plugs it into the bridge network
    /// `network` (a bridge of the topology, in the host or in a router): what switching
    /// from Wi-Fi to cellular looks like to an endpoint. [`Node::replug_with`] with
    /// [`IfaceOptions::new`]; returns the interface as it is now.
    ///
    /// ```no_run
    /// # #[allow(dead_code)] async fn f(net: netns_test::Net) -> netns_test::Result<()> {
    /// let phone = net.node("phone");
    /// let eth0 = phone.replug("eth0", "cellular").await?;
    /// println!("now at {:?}", eth0.addrs);
    /// # Ok(()) }
    /// ```
    pub async fn replug(&self, ifname: &str, network: &str) -> Result<Iface> {
        self.replug_with(ifname, network, IfaceOptions::new()).await
    }

    /// [`Node::replug`], with the addresses (and default route) `options` give. The
    /// interface keeps its name and gets a new veth pair, created in place (the old pair
    /// is deleted, and with it the old addresses and every route through it; nothing is
    /// moved between namespaces): its port on the new bridge is named `nt` and 8 hex
    /// digits. It gets the address of each family the network has from `options`, else
    /// the lowest one no interface of the network has now (the gateway's and the other
    /// nodes' as [`Node::ifaces`] shows them), and a MAC from its IPv4 address as the
    /// build gives one. Where the node's default route of a family went through the
    /// interface, it now goes via the new network's gateway of that family (unless
    /// [`IfaceOptions::no_default_route`], or the network has none or is
    /// [internal](crate::topology::BridgeBuilder::internal)). Returns when the
    /// interface is up, as the build does for every link.
    ///
    /// Like `ip link del IFNAME; ip link add IFNAME type veth peer name PORT netns
    /// BRIDGE_NODE; ip link set PORT master BRIDGE up; ip addr add ADDR dev IFNAME; ip link
    /// set IFNAME up; ip route replace default via GATEWAY`.
    ///
    /// From then on every name service that knows the node answers its name with the new
    /// addresses (A, AAAA), and the reverse lookup (PTR) of the new addresses with its
    /// name, of the old ones no longer. Taking the interface down and up again
    /// ([`crate::LinkHandle::up`]) restores the default routes the replug made. An
    /// interface the node shares with others (`net_of`), a bridge, or an interface with a
    /// relay (an impairable attachment) cannot be replugged: the error says so.
    pub async fn replug_with(
        &self,
        ifname: &str,
        network: &str,
        options: IfaceOptions,
    ) -> Result<Iface> {
        let net = self.live_network()?;
        let _one_change_at_a_time = net.state().iface_changes.lock().await;
        let fail = |message: String| Error::IfaceChange {
            node: self.name().to_string(),
            iface: ifname.to_string(),
            message,
        };
        let old = self.try_iface(ifname)?;
        let plan = net.plan();
        let me = plan.node_index(self.name()).expect("a node of its network");
        if let Some(owner) = plan.nodes[me].net_of {
            return Err(fail(format!(
                "the node shares the network namespace of node {:?}: replug the interface there",
                plan.nodes[owner].name
            )));
        }
        if old.kind != super::IfaceKind::Veth {
            return Err(fail(format!(
                "it is a {:?} interface, not one plugged into a network: only those can be replugged",
                old.kind
            )));
        }
        if has_relay(&net, me, ifname) {
            return Err(fail(
                "its link has a relay (it was declared impairable), which a new veth pair would bypass: replug an interface declared without impairable()".to_string(),
            ));
        }
        let bridge = bridge_named(&net, network).map_err(&fail)?;
        if bridge.node == me {
            return Err(fail(format!(
                "the bridge {network:?} lives in this node: plug the interface into a bridge of another node"
            )));
        }
        let addrs = replug_addresses(&net, bridge, &options).map_err(&fail)?;
        let gateways: Vec<IpAddr> = if options.default_route && !bridge.internal {
            bridge.addrs.iter().map(IpNet::addr).collect()
        } else {
            Vec::new()
        };

        // The default routes through the old interface, which follow it.
        let routes = self.route().list().await?;
        let follows = |v6: bool| {
            routes.iter().any(|r| {
                r.dest.prefix_len() == 0
                    && r.dest.addr().is_ipv6() == v6
                    && r.dev == Some(old.index)
            })
        };
        let (follow4, follow6) = (follows(false), follows(true));

        let nl = self.netlink();
        kernel::del_link(nl, old.index)
            .await
            .map_err(super::handles::nl_err(
                self,
                format!("replugging {ifname}: deleting it from {}", old.network),
            ))?;
        let owner = &net.nodes()[bridge.node];
        let index = net.state().next_ifindex.fetch_add(2, Ordering::Relaxed);
        let port = port_fallback_name(self.name(), &format!("{ifname}@{network}"), 0);
        let mac = match addrs.iter().map(IpNet::addr).find(IpAddr::is_ipv4) {
            Some(IpAddr::V4(v4)) => mac_from_ipv4(v4),
            _ => mac_from_name(&format!("{}/{ifname}@{network}", self.name())),
        };
        let main = NewLink {
            name: &port,
            index: index + 1,
            mac: mac_from_name(&format!("{}/{port}", owner.name())),
        };
        let end = NewLink {
            name: ifname,
            index,
            mac,
        };
        kernel::add_veth(
            owner.netlink(),
            &main,
            Some(bridge.index),
            &end,
            Some((nl, self.netns().as_raw_fd())),
            true,
        )
        .await
        .map_err(super::handles::nl_err(
            self,
            format!(
                "replugging {ifname}: creating its veth pair with port {port} on bridge {network} in node {:?}",
                owner.name()
            ),
        ))?;
        for addr in &addrs {
            kernel::add_address(nl, index, *addr)
                .await
                .map_err(super::handles::nl_err(
                    self,
                    format!("replugging {ifname}: adding {addr}"),
                ))?;
        }
        wait_up(self, ifname, index).await?;
        let mut made = Vec::new();
        for gw in gateways {
            if (gw.is_ipv4() && follow4) || (gw.is_ipv6() && follow6) {
                let dest = if gw.is_ipv4() { "0.0.0.0/0" } else { "::/0" };
                let dest: IpNet = dest.parse().expect("a default route");
                kernel::add_route(nl, dest, gw)
                    .await
                    .map_err(super::handles::nl_err(
                        self,
                        format!("replugging {ifname}: adding the default route via {gw}"),
                    ))?;
                made.push((dest, gw));
            }
        }
        // What `LinkHandle::up` restores: the old routes went with the old pair.
        replug_routes(&net).insert((me, ifname.to_string()), made);
        let iface = Iface {
            name: ifname.to_string(),
            index,
            mac,
            network: network.to_string(),
            addrs,
            kind: super::IfaceKind::Veth,
        };
        self.update_ifaces(|ifaces| {
            if let Some(i) = ifaces.iter_mut().find(|i| i.name == ifname) {
                *i = iface.clone();
            }
        });
        names_follow(&net);
        Ok(iface)
    }

    /// Adds an interface of the node's own that joins no network, with the addresses
    /// `options` give (each with its prefix, or a host prefix): a `dummy` device where the
    /// kernel has the driver, else a veth whose peer `NAME~` stays in the node (up, with
    /// no address). [`Iface::kind`] of the result says which ([`IfaceKind::Dummy`],
    /// [`IfaceKind::VethStandIn`]); either way its addresses are the node's own, reached
    /// from the node itself. Returns when it is up, and shows in [`Node::ifaces`].
    ///
    /// Like `ip link add NAME type dummy; ip addr add CIDR dev NAME; ip link set NAME up`
    /// (the topology declares one with [`crate::topology::NodeBuilder::iface`]).
    ///
    /// The interface joins no network, so the node's name does not answer its addresses
    /// (nor their reverse lookups), as for the topology's: give them a name with
    /// [`crate::Net::dns`].
    ///
    /// ```no_run
    /// use netns_test::IfaceOptions;
    /// # #[allow(dead_code)] async fn f(net: netns_test::Net) -> netns_test::Result<()> {
    /// let a = net.node("a");
    /// let svc = a.add_iface("svc0", IfaceOptions::new().addr("10.200.0.1/32")).await?;
    /// println!("svc0 is a {:?}", svc.kind);
    /// a.remove_iface("svc0").await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_iface(&self, name: &str, options: IfaceOptions) -> Result<Iface> {
        let net = self.live_network()?;
        let _one_change_at_a_time = net.state().iface_changes.lock().await;
        let fail = |message: String| Error::IfaceChange {
            node: self.name().to_string(),
            iface: name.to_string(),
            message,
        };
        if name.is_empty() || name.len() > 15 || name.contains(['/', ':', ' ']) {
            return Err(fail(
                "an interface name must be 1-15 characters without '/', ':' or spaces".into(),
            ));
        }
        if name == "lo" || self.try_iface(name).is_ok() {
            return Err(fail(
                "the node has an interface of that name already: pick another name".into(),
            ));
        }
        let addrs = options
            .addrs
            .iter()
            .map(|a| parse_addr(a, None))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(&fail)?;
        let nl = self.netlink();
        let index = net.state().next_ifindex.fetch_add(2, Ordering::Relaxed);
        let link = NewLink {
            name,
            index,
            mac: mac_from_name(&format!("{}/{name}", self.name())),
        };
        let what = |step: &str| super::handles::nl_err(self, format!("{step} {name}"));
        let kind = match kernel::add_dummy(nl, &link).await {
            Ok(()) => super::IfaceKind::Dummy,
            Err(e) if kernel::tc::errno(&e) == Some(libc::EOPNOTSUPP) => {
                let peer_name = format!("{}~", &name[..name.len().min(14)]);
                let peer = NewLink {
                    name: &peer_name,
                    index: index + 1,
                    mac: mac_from_name(&format!("{}/{peer_name}", self.name())),
                };
                kernel::add_veth(nl, &link, None, &peer, None, true)
                    .await
                    .map_err(what("adding a veth pair (no dummy driver here) for"))?;
                super::IfaceKind::VethStandIn
            }
            Err(e) => return Err(what("adding a dummy device")(e)),
        };
        for addr in &addrs {
            kernel::add_address(nl, index, *addr)
                .await
                .map_err(what(&format!("adding {addr} to")))?;
        }
        wait_up(self, name, index).await?;
        let iface = Iface {
            name: name.to_string(),
            index,
            mac: link.mac,
            network: String::new(),
            addrs,
            kind,
        };
        self.update_ifaces(|ifaces| ifaces.push(iface.clone()));
        Ok(iface)
    }

    /// Removes interface `name` of the node (`ip link del NAME`): one added with
    /// [`Node::add_iface`] (with its peer, for a stand-in), or an interface plugged into a
    /// network, whose veth pair goes (the node is unplugged; its routes through it go
    /// too, and its name no longer answers the addresses it had there). A bridge the node
    /// holds, or an interface whose link has a relay (an impairable
    /// one), cannot be removed.
    pub async fn remove_iface(&self, name: &str) -> Result<()> {
        let net = self.live_network()?;
        let _one_change_at_a_time = net.state().iface_changes.lock().await;
        let iface = self.try_iface(name)?;
        let fail = |message: &str| Error::IfaceChange {
            node: self.name().to_string(),
            iface: name.to_string(),
            message: message.to_string(),
        };
        if iface.kind == super::IfaceKind::Bridge {
            return Err(fail(
                "it is a bridge of the topology, which its members need: it stays",
            ));
        }
        let me = net.plan().node_index(self.name());
        if me.is_some_and(|me| has_relay(&net, me, name)) {
            return Err(fail(
                "its link has a relay (it was declared impairable), whose threads use it: it stays; take it down with node.link(..).down() instead",
            ));
        }
        kernel::del_link(self.netlink(), iface.index)
            .await
            .map_err(super::handles::nl_err(self, format!("deleting {name}")))?;
        self.update_ifaces(|ifaces| ifaces.retain(|i| i.name != name));
        if let Some(me) = me {
            let owner = net.plan().nodes[me].net_of.unwrap_or(me);
            replug_routes(&net).remove(&(owner, name.to_string()));
        }
        if !iface.network.is_empty() {
            names_follow(&net);
        }
        Ok(())
    }

    /// The node's network, or [`Error::NetworkGone`].
    fn live_network(&self) -> Result<Net> {
        self.network().ok_or_else(|| Error::NetworkGone {
            node: self.name().to_string(),
            needed_for: "changing its interfaces needs the test's network",
        })
    }
}

/// Makes every name service answer node names, and their reverse lookups, from the
/// interfaces on networks as [`Node::ifaces`] shows them now, as the build does from the
/// plan's. An interface of a node's own ([`Node::add_iface`]) is on no network, so its
/// addresses answer no name, as at the build.
fn names_follow(net: &Net) {
    let mut now = net.plan().clone();
    for (planned, node) in now.nodes.iter_mut().zip(net.nodes()) {
        if planned.net_of.is_some() {
            continue; // Names come from the namespace's own node.
        }
        planned.ifaces = node
            .ifaces()
            .into_iter()
            .filter(|i| !i.network.is_empty())
            .map(|i| PlannedIface {
                name: i.name,
                network: i.network,
                mac: i.mac,
                addrs: i.addrs,
            })
            .collect();
    }
    net.inner.names.renew(&now);
}

/// The routes (destination, next hop) replugged interfaces got, by (node index,
/// interface).
pub(crate) type ReplugRoutes = std::collections::BTreeMap<(usize, String), Vec<(IpNet, IpAddr)>>;

/// The routes replugged interfaces got.
pub(super) fn replug_routes(net: &Net) -> std::sync::MutexGuard<'_, ReplugRoutes> {
    net.state()
        .replug_routes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Whether interface `ifname` of node `me` is one side of a relay.
fn has_relay(net: &Net, me: usize, ifname: &str) -> bool {
    net.plan()
        .relays
        .iter()
        .any(|r| r.sides.iter().any(|s| s.node == me && s.ifname == ifname))
}

/// Waits for a new interface to come up, as the build waits for its links.
async fn wait_up(node: &Node, ifname: &str, index: u32) -> Result<()> {
    const LIMIT: Duration = Duration::from_secs(10);
    if kernel::wait_link_up(node.netlink(), index, LIMIT).await? {
        Ok(())
    } else {
        Err(Error::LinksNotUp {
            after: LIMIT,
            links: vec![format!("{}:{ifname}", node.name())],
        })
    }
}

/// The bridge of the network called `network`, or why there is none.
fn bridge_named<'n>(net: &'n Net, network: &str) -> std::result::Result<&'n PlannedBridge, String> {
    let bridges = &net.plan().bridges;
    bridges.iter().find(|b| b.name == network).ok_or_else(|| {
        let known: Vec<&str> = bridges.iter().map(|b| b.name.as_str()).collect();
        format!(
            "there is no bridge network {network:?} to plug it into (the bridges are: {}): declare it with Topology::bridge",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        )
    })
}

/// The addresses a replugged interface gets on `bridge`'s network: those `options` give,
/// else per family of the network the lowest one that no interface of it has now.
fn replug_addresses(
    net: &Net,
    bridge: &PlannedBridge,
    options: &IfaceOptions,
) -> std::result::Result<Vec<IpNet>, String> {
    let network = bridge.name.as_str();
    let members: Vec<IpNet> = net
        .nodes()
        .iter()
        .flat_map(|n| n.ifaces())
        .filter(|i| i.network == network)
        .flat_map(|i| i.addrs)
        .collect();
    // The network's subnets: the gateway's, else its members'.
    let mut subnets: Vec<IpNet> = Vec::new();
    for a in bridge.addrs.iter().chain(&members) {
        if !subnets
            .iter()
            .any(|s| s.addr().is_ipv6() == a.addr().is_ipv6())
        {
            subnets.push(a.trunc());
        }
    }
    let given = options
        .addrs
        .iter()
        .map(|a| {
            let family = a.contains(':');
            let subnet = subnets.iter().find(|s| s.addr().is_ipv6() == family);
            parse_addr(a, subnet.map(IpNet::prefix_len))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for subnet in &subnets {
        let v6 = subnet.addr().is_ipv6();
        if let Some(a) = given.iter().find(|a| a.addr().is_ipv6() == v6) {
            out.push(*a);
            continue;
        }
        let used = |ip: IpAddr| bridge.addrs.iter().chain(&members).any(|a| a.addr() == ip);
        let free = subnet
            .hosts()
            .skip(1)
            .take(1 << 16)
            .find(|ip| !used(*ip))
            .ok_or_else(|| format!("the network {network:?} has no free address in {subnet}: give one with IfaceOptions::addr"))?;
        out.push(IpNet::new(free, subnet.prefix_len()).expect("the subnet's prefix"));
    }
    if out.is_empty() {
        return Err(format!(
            "the network {network:?} has no gateway and no member with an address to take its subnet from: give one with IfaceOptions::addr(\"ADDR/PREFIX\")"
        ));
    }
    let other_family: Vec<IpNet> = given
        .iter()
        .filter(|a| !out.iter().any(|o| o.addr().is_ipv6() == a.addr().is_ipv6()))
        .copied()
        .collect();
    out.extend(other_family);
    Ok(out)
}

/// An address with its prefix length, or without (then `prefix`, else a host prefix).
fn parse_addr(s: &str, prefix: Option<u8>) -> std::result::Result<IpNet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net);
    }
    let ip: IpAddr = s
        .parse()
        .map_err(|_| format!("{s:?} is not an address like \"10.2.0.50\" or \"10.200.0.1/32\""))?;
    let host = if ip.is_ipv4() { 32 } else { 128 };
    Ok(IpNet::new(ip, prefix.unwrap_or(host)).expect("a valid prefix"))
}
