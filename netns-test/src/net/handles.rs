//! A node's run-time operations, grouped by the kind of object they change, like
//! rtnetlink's handles (`handle.link()`, `handle.route()`, `handle.address()`):
//!
//! | instead of                                   | write                                        |
//! | -------------------------------------------- | -------------------------------------------- |
//! | `ip link set eth0 down` / `up`               | `node.link("eth0").down().await?` / `.up()`  |
//! | `ip addr add 10.0.0.5/24 dev eth0` / `del`   | `node.addr("eth0").add("10.0.0.5/24").await?` / `.del(..)` |
//! | `ip route add 192.0.2.0/24 via 10.0.0.1`     | `node.route().add("192.0.2.0/24", gw).await?` |
//! | `ip route add 8.8.8.8 dev eth0`              | `node.route().add_dev("8.8.8.8/32", "eth0").await?` |
//! | `ip route del 192.0.2.0/24`                  | `node.route().del("192.0.2.0/24").await?`    |
//! | `ip route show; ip -6 route show`            | `node.route().list().await?`                 |
//! | `nft -f rules.nft`                           | `node.nft().apply(&rules).await?`            |
//! | `nft list ruleset`                           | `node.nft().list().await?`                   |
//! | `nft delete table inet netns_test`           | `node.nft().flush().await?`                  |
//! | `nft destroy table inet NAME`                | `node.nft().delete_table(NAME).await?`       |
//! | `conntrack -L` / `conntrack -F`              | `node.nft().conntrack().await?` / `.flush_conntrack().await?` |
//! | `tc qdisc replace dev eth0 root netem ...`   | `node.conditions("eth0").set(..).await?` (see [`crate::fault`]) |
//! | `tc -s qdisc show dev eth0`                  | `node.conditions("eth0").stats().await?`     |
//! | `ip link del eth0; ip link add eth0 type veth peer ... master BR` (move to another network) | `node.replug("eth0", "BR").await?` |
//! | `ip link add svc0 type dummy; ip addr add ...` / `ip link del svc0` | `node.add_iface("svc0", opts).await?` / `node.remove_iface("svc0").await?` |
//!
//! One rule for every handle, as rtnetlink's `execute().await`: **each request is an
//! `async fn`, awaited**. In a synchronous test or a `main`, [`crate::Net::block_on`]
//! drives one on the calling thread (`net.block_on(node.nft().list())?`); the request
//! itself runs in the handle's node whichever thread drives it. (`Node::block_on` is
//! something else: it runs a future of your own *inside* the node, like
//! [`crate::Node::run`].)
//!
//! A handle holds its node (a clone: cheap, the same node), so it can be kept in a
//! variable to make several changes to the same object. Every handle type is at the
//! crate root: [`crate::LinkHandle`], [`crate::AddrHandle`], [`crate::RouteHandle`],
//! [`crate::NftHandle`], [`crate::ConditionsHandle`].

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::{Error, Result};
use crate::kernel::{self, RouteEntry};
use crate::net::Node;
use crate::nft::{self, conntrack, Ruleset};
use crate::sys;

impl Node {
    /// The interface `name` of this node, to take it up or down: like `ip link set NAME
    /// ...` run in the node. `"lo"` is accepted too.
    ///
    /// ```no_run
    /// # #[allow(dead_code)] async fn f(net: netns_test::Net) -> netns_test::Result<()> {
    /// let eth0 = net.node("a").link("eth0");
    /// eth0.down().await?;
    /// eth0.up().await?;
    /// # Ok(()) }
    /// ```
    pub fn link(&self, name: &str) -> LinkHandle {
        LinkHandle {
            node: self.clone(),
            name: name.to_string(),
        }
    }

    /// The addresses of interface `ifname` of this node: like `ip addr ... dev IFNAME`
    /// run in the node.
    pub fn addr(&self, ifname: &str) -> AddrHandle {
        AddrHandle {
            node: self.clone(),
            ifname: ifname.to_string(),
        }
    }

    /// The main routing table of this node: like `ip route` run in the node.
    pub fn route(&self) -> RouteHandle {
        RouteHandle { node: self.clone() }
    }

    /// The nf_tables rules and connection tracking table of this node: like `nft` and
    /// `conntrack` run in the node, over netlink sockets opened in the node's namespace,
    /// whichever thread calls (the test body, a thread of another node, ...).
    ///
    /// ```no_run
    /// use netns_test::nft::Ruleset;
    /// # #[allow(dead_code)] async fn f(net: netns_test::Net) -> netns_test::Result<()> {
    /// let router = net.node("router");
    /// // iptables -t nat -A POSTROUTING -s 192.168.1.0/24 ! -o lan -j MASQUERADE
    /// router
    ///     .nft()
    ///     .apply(&Ruleset::new().nat_masquerade("192.168.1.0/24", Some("lan")))
    ///     .await?;
    /// println!("{}", router.nft().list().await?);
    /// # Ok(()) }
    /// ```
    pub fn nft(&self) -> NftHandle {
        NftHandle { node: self.clone() }
    }
}

/// One interface of a node (see [`Node::link`]), like `ip link set IFACE ...` commands.
#[derive(Clone, Debug)]
pub struct LinkHandle {
    node: Node,
    name: String,
}

impl LinkHandle {
    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Brings the interface up (`ip link set IFACE up`), and puts back what the kernel
    /// removed when it went down, as when a cable is plugged back in: the IPv6 addresses
    /// the topology gave the interface, and the routes the topology planned through it
    /// (the default route among them), or for an interface [replugged](Node::replug)
    /// the routes the replug made. Those still there are left as they are; routes
    /// and addresses added at run time otherwise are not restored. The same brings up an attachment
    /// declared down ([`crate::topology::AttachBuilder::down`]) with its routes.
    pub async fn up(&self) -> Result<()> {
        self.set(true).await?;
        self.restore_planned().await
    }

    /// Takes the interface down (`ip link set IFACE down`).
    pub async fn down(&self) -> Result<()> {
        self.set(false).await
    }

    /// Adds again the planned IPv6 addresses of the interface and the planned routes whose
    /// next hop is on one of its subnets (the kernel keeps IPv4 addresses on a link that
    /// goes down, but drops its IPv6 ones and every route through it).
    async fn restore_planned(&self) -> Result<()> {
        let (Some(net), Ok(iface)) = (self.node.network(), self.node.try_iface(&self.name)) else {
            // `lo`, a device made at run time, or a network already torn down.
            return Ok(());
        };
        let plan = net.plan();
        let Some(me) = plan.node_index(self.node.name()) else {
            return Ok(());
        };
        let owner = plan.nodes[me].net_of.unwrap_or(me);
        let sharing = |i: usize| i == owner || plan.nodes[i].net_of == Some(owner);
        let nl = self.node.netlink();
        let exists = |r: std::result::Result<(), rtnetlink::Error>| match r {
            Err(e) if kernel::tc::errno(&e) == Some(libc::EEXIST) => Ok(()),
            r => r,
        };
        for addr in iface.addrs.iter().filter(|a| a.addr().is_ipv6()) {
            exists(kernel::add_address(nl, iface.index, *addr).await).map_err(nl_err(
                &self.node,
                format!("{} up: restoring its address {addr}", self.name),
            ))?;
        }
        // A replugged interface's routes are those the replug made.
        let replugged = super::iface::replug_routes(&net)
            .get(&(owner, self.name.clone()))
            .cloned();
        let routes = replugged.unwrap_or_else(|| {
            plan.routes
                .iter()
                .filter(|r| sharing(r.node) && iface.addrs.iter().any(|a| a.contains(&r.via)))
                .map(|r| (r.dest, r.via))
                .collect()
        });
        for (dest, via) in routes {
            exists(kernel::add_route(nl, dest, via).await).map_err(nl_err(
                &self.node,
                format!("{} up: restoring the route {dest} via {via}", self.name),
            ))?;
        }
        Ok(())
    }

    async fn set(&self, up: bool) -> Result<()> {
        let index = ifindex(&self.node, &self.name)?;
        kernel::set_link(self.node.netlink(), index, up)
            .await
            .map_err(nl_err(
                &self.node,
                format!("setting {} {}", self.name, if up { "up" } else { "down" }),
            ))
    }
}

/// The addresses of one interface of a node (see [`Node::addr`]), like `ip addr ... dev
/// IFACE` commands.
#[derive(Clone, Debug)]
pub struct AddrHandle {
    node: Node,
    ifname: String,
}

impl AddrHandle {
    /// Adds an address with its prefix length, like `"10.0.0.5/24"` (`ip addr add CIDR dev
    /// IFACE`).
    pub async fn add(&self, cidr: &str) -> Result<()> {
        let addr = parse_cidr(cidr)?;
        let index = ifindex(&self.node, &self.ifname)?;
        kernel::add_address(self.node.netlink(), index, addr)
            .await
            .map_err(nl_err(
                &self.node,
                format!("adding {addr} to {}", self.ifname),
            ))
    }

    /// Removes an address (`ip addr del CIDR dev IFACE`).
    pub async fn del(&self, cidr: &str) -> Result<()> {
        let addr = parse_cidr(cidr)?;
        let index = ifindex(&self.node, &self.ifname)?;
        kernel::del_address(self.node.netlink(), index, addr)
            .await
            .map_err(nl_err(
                &self.node,
                format!("deleting {addr} from {}", self.ifname),
            ))
    }
}

/// The main routing table of a node (see [`Node::route`]), like `ip route` commands.
///
/// A destination is `"default"`, a CIDR (`"192.0.2.0/24"`, host bits are ignored) or an
/// address (a /32 or /128).
#[derive(Clone, Debug)]
pub struct RouteHandle {
    node: Node,
}

impl RouteHandle {
    /// Adds a route via a gateway (`ip route add DEST via VIA`); `dest` may be
    /// `"default"` (of the gateway's family).
    pub async fn add(&self, dest: &str, via: IpAddr) -> Result<()> {
        let dest = parse_dest(dest, via.is_ipv6())?;
        kernel::add_route(self.node.netlink(), dest, via)
            .await
            .map_err(nl_err(&self.node, format!("adding route {dest} via {via}")))
    }

    /// Adds an on-link route through an interface (`ip route add DEST dev IFACE`, like the
    /// Docker tutorial's `route add -host 8.8.8.8 dev eth0`).
    pub async fn add_dev(&self, dest: &str, ifname: &str) -> Result<()> {
        let dest = parse_dest(dest, false)?;
        let index = ifindex(&self.node, ifname)?;
        kernel::add_device_route(self.node.netlink(), dest, index)
            .await
            .map_err(nl_err(
                &self.node,
                format!("adding route {dest} dev {ifname}"),
            ))
    }

    /// Deletes a route (`ip route del DEST`); `"default"` is the IPv4 default route.
    pub async fn del(&self, dest: &str) -> Result<()> {
        let dest = parse_dest(dest, false)?;
        kernel::del_route(self.node.netlink(), dest)
            .await
            .map_err(nl_err(&self.node, format!("deleting route {dest}")))
    }

    /// The main table, IPv4 then IPv6 (`ip route show; ip -6 route show`), without
    /// link-local and multicast entries.
    pub async fn list(&self) -> Result<Vec<RouteEntry>> {
        let _one_dump_at_a_time = self.node.dump_lock().lock().await;
        kernel::routes(self.node.netlink())
            .await
            .map_err(nl_err(&self.node, "listing routes".to_string()))
    }
}

/// The nf_tables rules and connection tracking table of a node (see [`Node::nft`]), like
/// the `nft` and `conntrack` commands run in it.
///
/// Each request is awaited, as every handle's: when polled, it opens its netlink socket in
/// the node's namespace, whichever thread polls it, and completes once the kernel has
/// answered (a short exchange over a local socket, made within one poll). The free
/// functions of [`crate::nft`] do the same, synchronously, in the calling thread's
/// namespace instead.
#[derive(Clone, Debug)]
pub struct NftHandle {
    node: Node,
}

impl NftHandle {
    /// Installs `rules` in the node, replacing the previous content of their table, in one
    /// atomic transaction (`nft -f FILE` with `delete table inet TABLE; table inet TABLE {
    /// ... }`). See [`nft::apply`] for what errors name and how long it takes.
    pub async fn apply(&self, rules: &Ruleset) -> Result<()> {
        self.in_node(|| nft::apply(rules))
    }

    /// Every nf_tables table, chain and rule of the node as `nft list ruleset`-like text
    /// (see [`nft::list`]).
    pub async fn list(&self) -> Result<String> {
        self.in_node(nft::list)
    }

    /// Deletes the table `inet netns_test` ([`nft::TABLE`]) and with it the rules the
    /// topology declared for the node and every rule [`NftHandle::apply`] installed there
    /// (`nft delete table inet netns_test`: `nft flush ruleset` for the crate's rules).
    /// Not an error if there is none. Tables of [`nft::Ruleset::named`] and the name
    /// service's stay; connections already NATed keep their mapping (see
    /// [`NftHandle::flush_conntrack`]).
    pub async fn flush(&self) -> Result<()> {
        self.in_node(nft::flush)
    }

    /// Deletes the table `inet NAME` if it exists (`nft destroy table inet NAME`).
    pub async fn delete_table(&self, name: &str) -> Result<()> {
        self.in_node(|| nft::delete_table(name))
    }

    /// Every tracked connection of the node (`conntrack -L`); empty until something in it
    /// needs tracking (NAT, `ct state` rules).
    pub async fn conntrack(&self) -> Result<Vec<conntrack::Entry>> {
        self.in_node(conntrack::list)
    }

    /// Deletes every tracked connection of the node (`conntrack -F`): the next packet of
    /// each is treated as new, so changed NAT rules apply to connections that already
    /// exist.
    pub async fn flush_conntrack(&self) -> Result<()> {
        self.in_node(conntrack::flush)
    }

    /// Replaces the node's NAT by `nat` (see [`nft::nat`]), in one transaction: its maps
    /// start empty, connections already tracked keep their mapping until they expire (or
    /// [`NftHandle::expire_mappings`]). The LANs are the bridges the node holds. Also sets
    /// the node's NAT timeouts.
    pub async fn set_nat(&self, nat: &nft::Nat) -> Result<()> {
        let lans = self.lans();
        self.in_node(|| nft::apply_nat(nat, &lans))
    }

    /// The node's NAT mappings now (internal endpoint -> external endpoint, and the remote
    /// endpoint of each flow), read from its connection tracking table.
    pub async fn nat_mappings(&self) -> Result<Vec<nft::NatMapping>> {
        self.in_node(nft::mappings)
    }

    /// Expires the node's NAT mappings now, those of LAN host `host` (`Some(ip)`) or all
    /// (`None`): their tracked connections and their elements in the NAT's maps are deleted,
    /// so the next packet gets a new mapping, as after the timeout. Returns how many tracked
    /// connections were deleted.
    pub async fn expire_mappings(&self, host: Option<std::net::IpAddr>) -> Result<usize> {
        self.in_node(|| nft::expire_mappings(host))
    }

    /// The node's NAT timeouts, as its `net.netfilter.nf_conntrack_*` settings say.
    pub async fn nat_timeouts(&self) -> Result<nft::NatTimeouts> {
        self.in_node(nft::nat_timeouts)
    }

    /// The LAN interfaces of the node's NAT: the bridges it holds.
    fn lans(&self) -> Vec<String> {
        let Some(net) = self.node.network() else {
            return Vec::new();
        };
        let plan = net.plan();
        let Some(me) = plan.node_index(self.node.name()) else {
            return Vec::new();
        };
        plan.bridges
            .iter()
            .filter(|b| b.node == me)
            .map(|b| b.name.clone())
            .collect()
    }

    /// Runs `f` with the calling thread in the node's namespace, where `f` opens its
    /// socket, then moves the thread back to where it was (a panic in `f` too).
    fn in_node<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        let f = std::panic::AssertUnwindSafe(f);
        match sys::in_netns(self.node.netns(), || std::panic::catch_unwind(f)) {
            Ok(Ok(r)) => r,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(e) => Err(Error::sys(
                format!(
                    "node {:?}: entering its network namespace for nf_tables",
                    self.node.name()
                ),
                e,
            )),
        }
    }
}

/// The index of interface `ifname` of `node` (`lo` is 1).
fn ifindex(node: &Node, ifname: &str) -> Result<u32> {
    if ifname == "lo" {
        return Ok(1);
    }
    Ok(node.try_iface(ifname)?.index)
}

pub(super) fn nl_err(node: &Node, what: String) -> impl FnOnce(rtnetlink::Error) -> Error {
    let node = node.name().to_string();
    move |e| Error::netlink(format!("node {node:?}: {what}"), e)
}

fn parse_cidr(cidr: &str) -> Result<IpNet> {
    cidr.parse().map_err(|_| Error::Parse {
        what: "address with prefix",
        input: cidr.to_string(),
        expected: "not an address with prefix like \"10.0.0.5/24\"",
    })
}

fn parse_dest(dest: &str, v6: bool) -> Result<IpNet> {
    crate::parse::net(dest, Some(v6))
        .map(|n| n.trunc())
        .ok_or_else(|| Error::Parse {
            what: "route destination",
            input: dest.to_string(),
            expected: "neither \"default\", an address nor a CIDR",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_and_addresses_parse_as_ip_does() {
        assert_eq!(
            parse_dest("default", false).unwrap().to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(parse_dest("default", true).unwrap().to_string(), "::/0");
        assert_eq!(
            parse_dest("192.0.2.7/24", false).unwrap().to_string(),
            "192.0.2.0/24"
        );
        assert_eq!(
            parse_dest("8.8.8.8", false).unwrap().to_string(),
            "8.8.8.8/32"
        );
        let e = parse_dest("8.8.8", false).unwrap_err().to_string();
        assert!(e.contains("\"8.8.8\" is neither"), "{e}");
        assert_eq!(
            parse_cidr("10.0.0.5/24").unwrap().to_string(),
            "10.0.0.5/24"
        );
        let e = parse_cidr("10.0.0.5").unwrap_err().to_string();
        assert!(e.contains("like \"10.0.0.5/24\""), "{e}");
    }
}
