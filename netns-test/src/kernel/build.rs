//! Applying a plan: namespaces, sysctls, devices, addresses, routes, and the wait for the
//! links to come up.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use futures::StreamExt;
use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, State};
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, LinkVxlan};

use super::ops::{add_address, add_route, set_link};
use super::NodeNs;
use crate::error::{Error, Result};
use crate::topology::name_service;
use crate::topology::Plan;
use crate::{nft, sys};

/// How long links may take to report operstate UP before the build fails: 10 s, plus
/// 20 ms per link (the kernel brings bridge ports up one after the other; 1000 ports on a
/// loaded 2-core machine have been seen to need more than 10 s).
fn up_timeout(links: usize) -> Duration {
    Duration::from_secs(10) + Duration::from_millis(20) * links as u32
}

/// Where a network's first node, the host, lives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum HostNs {
    /// A network namespace of its own, made for it.
    Fresh,
    /// The calling thread's, [`super::pool::prepare`]d already or not.
    Current { prepared: bool },
}

/// Creates one network namespace per node (the first node, the host, where `host_ns`
/// says), opens a netlink socket in each and sets the node's sysctls.
///
/// With `keep_nft`, each node's nf_tables socket stays open while the network lives (see
/// [`nft::Kept`]); without (a file descriptor limit too tight for it), it is closed by a
/// thread of its own as soon as the node's rules are in.
///
/// Must run inside a tokio runtime context: the netlink connections are spawned on it.
pub(crate) fn open_namespaces(plan: &Plan, keep_nft: bool, host_ns: HostNs) -> Result<Vec<NodeNs>> {
    let host = sys::current_netns().map_err(|e| Error::sys("opening the sandbox's netns", e))?;
    let ipv6 = plan
        .nodes
        .iter()
        .flat_map(|n| &n.ifaces)
        .flat_map(|i| &i.addrs)
        .any(|a| matches!(a, IpNet::V6(_)));
    let needed = plan.nodes.iter().filter(|n| n.net_of.is_none()).count() as u64;
    let closer = if keep_nft { None } else { nft_closer() };
    let mut created = 0u64;
    let mut out: Vec<Option<NodeNs>> = Vec::with_capacity(plan.nodes.len());
    for (i, node) in plan.nodes.iter().enumerate() {
        if node.net_of.is_some() {
            out.push(None);
            continue;
        }
        created += 1;
        let what = |step: &str| format!("{step} of node {:?}", node.name);
        let fresh = if let (0, HostNs::Current { prepared }) = (i, host_ns) {
            host.try_clone().map(|fd| (fd, prepared))
        } else {
            super::pool::take(host.as_fd())
        };
        let (netns, prepared) = fresh.map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOSPC) {
                crate::environment::out_of_net_namespaces(&node.name, created, needed, &e)
            } else {
                Error::sys(what("creating the network namespace"), e)
            }
        })?;
        let (conn, nl) = sys::in_netns(netns.as_fd(), || -> std::io::Result<_> {
            let (conn, nl, _) = rtnetlink::new_connection()?;
            // Loopback first: the name service (started by the live network) listens on it.
            if !prepared {
                super::pool::prepare()?;
            }
            set_sysctls(node.forwarding, ipv6)?;
            Ok((conn, nl))
        })
        .and_then(|r| r)
        .map_err(|e| Error::sys(what("setting up"), e))?;
        let kept = apply_rules(plan, i, &netns)?;
        install_nat(plan, i, &netns)?;
        tokio::spawn(conn);
        let nft = match kept {
            Some(kept) if !keep_nft => {
                // Dropped here if there is no closing thread (or it is gone).
                if let Some(closer) = &closer {
                    let _ = closer.send(kept);
                }
                None
            }
            kept => kept,
        };
        out.push(Some(NodeNs { netns, nl, nft }));
    }
    share_namespaces(plan, &mut out)?;
    Ok(out
        .into_iter()
        .map(|n| n.expect("every node has a namespace"))
        .collect())
}

/// A thread that closes the nf_tables sockets sent to it, or `None` if it cannot start.
fn nft_closer() -> Option<std::sync::mpsc::Sender<nft::Kept>> {
    let (tx, rx) = std::sync::mpsc::channel::<nft::Kept>();
    std::thread::Builder::new()
        .name("netns-test-nft-close".to_string())
        .spawn(move || rx.into_iter().for_each(drop))
        .ok()
        .map(|_| tx)
}

/// Applies node `i`'s nf_tables rules in its namespace `netns`, and returns the socket
/// they went through (`None` if the node has no rules).
///
/// Rules match interfaces by name, so they can go in before the interfaces exist. A node
/// that keeps port 53 free first gets the redirect to its name service (a transaction of
/// its own, so that a refusal is known to be the redirect's); a node with neither rules
/// nor the redirect gets no nf_tables socket at all.
fn apply_rules(plan: &Plan, i: usize, netns: &OwnedFd) -> Result<Option<nft::Kept>> {
    let node = &plan.nodes[i];
    let what = |step: &str| format!("{step} of node {:?}", node.name);
    // Who keeps port 53 free in this namespace: the node, or one sharing it.
    let keeps_53 = name_service::keeper(plan, i);
    let redirect = keeps_53.map(|_| name_service::redirect());
    let tables: Vec<&nft::Ruleset> = redirect.iter().chain(&node.rules).collect();
    if tables.is_empty() {
        return Ok(None);
    }
    let applied = sys::in_netns(netns.as_fd(), || nft::apply_each_kept(&tables))
        .map_err(|e| Error::sys(what("entering the namespace"), e))?;
    Ok(Some(applied.map_err(|(refused, e)| match keeps_53 {
        Some(by) if refused == 0 => name_service::redirect_error(&node.name, &by.name, e),
        _ => refused_rules(node, e),
    })?))
}

/// The build error when the kernel refuses node `node`'s rules: the errno kept, so that a
/// limit (EMFILE) can be named, and the kernel part named where prefix NAT was refused.
fn refused_rules(node: &crate::topology::PlannedNode, e: Error) -> Error {
    let what = |step: &str| format!("{step} of node {:?}", node.name);
    // The errno is kept, so that a limit (EMFILE) can be named.
    let source = match &e {
        Error::Nft { source, .. } => source.raw_os_error().map(std::io::Error::from_raw_os_error),
        _ => None,
    };
    let prefix_nat = node.rules.as_ref().is_some_and(|r| r.has_prefix_nat());
    let refused = source.as_ref().and_then(std::io::Error::raw_os_error);
    if prefix_nat && refused == Some(libc::EOPNOTSUPP) {
        return Error::Sys {
            what: format!(
                "{}: the node translates IPv6 prefixes (nptv6), which needs prefix NAT in \
                 nf_tables (NF_NAT_RANGE_NETMAP: Linux 5.8 or later, with the nft_nat \
                 module, CONFIG_NFT_NAT); this kernel refused it: {e}",
                what("applying the nftables rules")
            ),
            source: source.unwrap_or_else(|| std::io::Error::other(e.to_string())),
        };
    }
    Error::Sys {
        what: format!("{}: {e}", what("applying the nftables rules")),
        source: source.unwrap_or_else(|| std::io::Error::other(e.to_string())),
    }
}

/// Installs the node's declared NAT (`NodeBuilder::nat`), a table of its own.
fn install_nat(plan: &Plan, i: usize, netns: &OwnedFd) -> Result<()> {
    let node = &plan.nodes[i];
    let Some((nat, lans)) = &node.nat else {
        return Ok(());
    };
    let what = |step: &str| format!("{step} of node {:?}", node.name);
    sys::in_netns(netns.as_fd(), || nft::apply_nat(nat, lans))
        .map_err(|e| Error::sys(what("entering the namespace"), e))?
        .map_err(|e| Error::Sys {
            what: format!("{}: {e}", what("installing the NAT")),
            source: std::io::Error::other(e.to_string()),
        })
}

/// Gives the nodes sharing another's namespace (`--net container:X`) its fd and socket.
fn share_namespaces(plan: &Plan, out: &mut [Option<NodeNs>]) -> Result<()> {
    for (i, node) in plan.nodes.iter().enumerate() {
        if let Some(t) = node.net_of {
            let target = out[t].as_ref().expect("the target has its own namespace");
            let netns = target.netns.try_clone().map_err(|e| {
                Error::sys(format!("sharing the netns of {:?}", plan.nodes[t].name), e)
            })?;
            out[i] = Some(NodeNs {
                netns,
                nl: target.nl.clone(),
                nft: None,
            });
        }
    }
    Ok(())
}

/// Writes the sysctls of the calling thread's netns that depend on the node (those every
/// node gets are [`super::pool::prepare`]'s).
fn set_sysctls(forwarding: bool, ipv6: bool) -> std::io::Result<()> {
    if forwarding {
        write_sysctl("net/ipv4/ip_forward", "1")?;
        // IPv6 too, whatever the topology's addresses (IPv6 added at run time is
        // forwarded as well); `all` also sets `default`, so later interfaces follow. Only
        // a kernel without IPv6 (`ipv6.disable=1`) lacks the file: fine for an IPv4-only
        // topology.
        match write_sysctl("net/ipv6/conf/all/forwarding", "1") {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !ipv6 => {}
            r => r?,
        }
    }
    if ipv6 {
        // No duplicate address detection, even for link-local addresses: nothing is
        // tentative when the body starts.
        write_sysctl("net/ipv6/conf/all/accept_dad", "0")?;
        write_sysctl("net/ipv6/conf/default/accept_dad", "0")?;
    }
    Ok(())
}

/// `br_netfilter`'s switches: whether frames a bridge forwards traverse the IPv4, IPv6 and
/// ARP hooks of its namespace.
const BRIDGE_NF_SYSCTLS: [&str; 3] = [
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/bridge/bridge-nf-call-arptables",
];

/// Sets the bridge netfilter switches explicitly in every namespace holding a bridge (see
/// [`crate::topology::BridgeBuilder::bridge_netfilter`]), so that bridged traffic meets the
/// same hooks on every machine. Without `br_netfilter` there is nothing to switch off.
fn set_bridge_netfilter(plan: &Plan, ns: &[NodeNs]) -> Result<()> {
    for (node, on, bridges) in plan.bridge_netfilter() {
        let name = &plan.nodes[node].name;
        sys::in_netns(ns[node].netns.as_fd(), || {
            if !std::path::Path::new("/proc/sys/net/bridge").exists() {
                return if on {
                    Err(br_netfilter_missing(name, &bridges))
                } else {
                    Ok(())
                };
            }
            let value = if on { "1" } else { "0" };
            for key in BRIDGE_NF_SYSCTLS {
                write_sysctl(key, value).map_err(|e| {
                    Error::sys(
                        format!("node {name:?}: setting bridge netfilter to {value}"),
                        e,
                    )
                })?;
            }
            Ok(())
        })
        .map_err(|e| Error::sys(format!("entering the namespace of node {name:?}"), e))??;
    }
    Ok(())
}

/// The build's error where a topology asks for bridge netfilter and the kernel has none.
fn br_netfilter_missing(node: &str, bridges: &[&str]) -> Error {
    Error::NoBrNetfilter {
        node: node.to_string(),
        bridges: bridges.iter().map(|b| b.to_string()).collect(),
    }
}

/// Writes `/proc/sys/<key>` for the calling thread's netns.
pub(crate) fn write_sysctl(key: &str, value: &str) -> std::io::Result<()> {
    std::fs::write(format!("/proc/sys/{key}"), value)
        .map_err(|e| std::io::Error::new(e.kind(), format!("/proc/sys/{key}: {e}")))
}

/// Builds everything in `plan`, and returns its links while they may still be coming up:
/// what must be ready before their first frames is started by the caller, then
/// [`Built::wait_up`] returns when every link is operationally up.
///
/// The steps in order; the requests of one step run concurrently.
pub(crate) async fn build<'a>(plan: &'a Plan, ns: &'a [NodeNs]) -> Result<Built<'a>> {
    let b = Builder { plan, ns };
    set_bridge_netfilter(plan, ns)?;
    b.bridges().await?; // loopback is already up: see open_namespaces
    b.route_localnet()?;
    b.veths().await?;
    futures::try_join!(b.peers_up(), b.addresses())?;
    b.vxlans().await?; // once their underlay addresses exist
    b.routes().await?;
    Ok(Built { plan, ns })
}

/// The plan and the namespaces [`build`] applies it to, for its steps.
#[derive(Clone, Copy)]
struct Builder<'a> {
    plan: &'a Plan,
    ns: &'a [NodeNs],
}

impl Builder<'_> {
    fn name(&self, node: usize) -> &str {
        self.plan.nodes[node].name.as_str()
    }

    /// Bridges, up from the start.
    async fn bridges(&self) -> Result<()> {
        try_join_all(self.plan.bridges.iter().map(|b| async move {
            let msg = LinkBridge::new(&b.name)
                .index(b.index)
                .address(b.mac.to_vec())
                .up()
                .build();
            self.ns[b.node]
                .nl
                .link()
                .add(msg)
                .execute()
                .await
                .map_err(|e| {
                    Error::netlink(
                        format!("node {:?}: creating bridge {:?}", self.name(b.node), b.name),
                        e,
                    )
                })
        }))
        .await?;
        Ok(())
    }

    /// Bridges whose members' published ports are reached at 127.0.0.1 (see
    /// `Ruleset::publish`).
    fn route_localnet(&self) -> Result<()> {
        for b in self.plan.bridges.iter().filter(|b| b.route_localnet) {
            let key = format!("net/ipv4/conf/{}/route_localnet", b.name);
            sys::in_netns(self.ns[b.node].netns.as_fd(), || write_sysctl(&key, "1"))
                .and_then(|r| r)
                .map_err(|e| {
                    Error::sys(
                        format!(
                            "node {:?}: setting {key} for published ports",
                            self.name(b.node)
                        ),
                        e,
                    )
                })?;
        }
        Ok(())
    }

    /// Veth pairs, each end created directly in its namespace. The end that is a bridge
    /// port is the one the request is made for, so that its master is set in the same
    /// request. The peer cannot be brought up in the same request (veth_open fails with
    /// ENOTCONN before the pair is linked), so it is brought up with the addresses
    /// ([`Self::peers_up`]).
    async fn veths(&self) -> Result<()> {
        let ns = self.ns;
        try_join_all(self.plan.veths.iter().map(|v| async move {
            let (main, peer) = (&v.ends[main_end(v)], &v.ends[1 - main_end(v)]);
            let peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
                .name(peer.name.clone())
                .index(peer.index)
                .address(peer.mac.to_vec())
                .setns_by_fd(ns[peer.node].netns.as_raw_fd())
                .build();
            let mut msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                .name(main.name.clone())
                .index(main.index)
                .address(main.mac.to_vec());
            if !main.down {
                msg = msg.up();
            }
            let mut msg = msg.set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)));
            if let Some(b) = main.master {
                msg = msg.controller(self.plan.bridges[b].index);
            }
            ns[main.node]
                .nl
                .link()
                .add(msg.build())
                .execute()
                .await
                .map_err(|e| {
                    Error::netlink(
                        format!(
                            "creating veth {}:{} <-> {}:{}",
                            self.name(main.node),
                            main.name,
                            self.name(peer.node),
                            peer.name
                        ),
                        e,
                    )
                })
        }))
        .await?;
        Ok(())
    }

    /// The veth ends [`Self::veths`] left down, but those planned to start down.
    async fn peers_up(&self) -> Result<()> {
        let peers = self
            .plan
            .veths
            .iter()
            .map(|v| &v.ends[1 - main_end(v)])
            .filter(|peer| !peer.down);
        try_join_all(peers.map(|peer| async move {
            set_link(&self.ns[peer.node].nl, peer.index, true)
                .await
                .map_err(|e| {
                    Error::netlink(
                        format!("node {:?}: setting {} up", self.name(peer.node), peer.name),
                        e,
                    )
                })
        }))
        .await?;
        Ok(())
    }

    /// The addresses of bridges and veth ends (IPv6 without duplicate address detection:
    /// see `set_sysctls`).
    async fn addresses(&self) -> Result<()> {
        let bridges = self.plan.bridges.iter().flat_map(|b| {
            b.addrs
                .iter()
                .map(move |a| (b.node, b.index, b.name.as_str(), *a))
        });
        let ends = self.plan.veths.iter().flat_map(|v| &v.ends).flat_map(|e| {
            e.addrs
                .iter()
                .map(move |a| (e.node, e.index, e.name.as_str(), *a))
        });
        try_join_all(
            bridges
                .chain(ends)
                .map(|(node, index, ifname, addr)| async move {
                    add_address(&self.ns[node].nl, index, addr)
                        .await
                        .map_err(|e| {
                            Error::netlink(
                                format!("node {:?}: adding {addr} to {ifname}", self.name(node)),
                                e,
                            )
                        })
                }),
        )
        .await?;
        Ok(())
    }

    /// VXLAN devices of overlays, with one flooding entry per peer host.
    async fn vxlans(&self) -> Result<()> {
        try_join_all(self.plan.vxlans.iter().map(|x| async move {
            let nl = &self.ns[x.node].nl;
            let idx = x.index;
            let msg = LinkVxlan::new(&x.name, x.vni)
                .local(x.local)
                .port(VXLAN_PORT)
                .learning(true)
                .index(idx)
                .address(x.mac.to_vec())
                .controller(self.plan.bridges[x.master].index)
                .up()
                .build();
            let what = |step: &str| format!("node {:?}: {step} {}", self.name(x.node), x.name);
            nl.link()
                .add(msg)
                .execute()
                .await
                .map_err(|e| Error::netlink(what("creating"), e))?;
            for remote in &x.remotes {
                fdb_append_flood(nl, idx, IpAddr::V4(*remote))
                    .await
                    .map_err(|e| {
                        Error::netlink(what(&format!("adding flood entry to {remote} on")), e)
                    })?;
            }
            Ok::<_, Error>(())
        }))
        .await?;
        Ok(())
    }

    /// The plan's routes, but those through an interface that starts down (the kernel
    /// refuses a next hop on a link that is down; `LinkHandle::up` adds them).
    async fn routes(&self) -> Result<()> {
        let down: Vec<_> = self
            .plan
            .veths
            .iter()
            .flat_map(|v| &v.ends)
            .filter(|e| e.down)
            .collect();
        let through_down = |r: &&crate::topology::PlannedRoute| {
            down.iter()
                .any(|e| e.node == r.node && e.addrs.iter().any(|a| a.contains(&r.via)))
        };
        let routes = self.plan.routes.iter().filter(|r| !through_down(r));
        try_join_all(routes.map(|r| async move {
            add_route(&self.ns[r.node].nl, r.dest, r.via)
                .await
                .map_err(|e| {
                    Error::netlink(
                        format!(
                            "node {:?}: adding route {} via {}",
                            self.name(r.node),
                            r.dest,
                            r.via
                        ),
                        e,
                    )
                })
        }))
        .await?;
        Ok(())
    }
}

/// Which end of a veth pair the creating request is made for: the bridge port, if one
/// end is.
fn main_end(v: &crate::topology::PlannedVeth) -> usize {
    if v.ends[1].master.is_some() {
        1
    } else {
        0
    }
}

/// A network [`build`] made, whose links may not all be up yet.
///
/// The seam between the netlink layer and the live network: the relays of impairable
/// links are started here, by the caller, before the wait (so that they are ready before
/// the body's first frame, as when the build started them itself).
#[must_use = "the links may not be up yet: call wait_up"]
pub(crate) struct Built<'a> {
    plan: &'a Plan,
    ns: &'a [NodeNs],
}

impl Built<'_> {
    /// Returns when every veth end, and every bridge with ports, reports operstate UP.
    pub(crate) async fn wait_up(self) -> Result<()> {
        wait_up(self.plan, self.ns).await
    }
}

/// The IANA VXLAN port.
const VXLAN_PORT: u16 = 4789;

/// `bridge fdb append 00:00:00:00:00:00 dev INDEX dst REMOTE`: unknown and broadcast
/// frames are sent to `remote` too.
async fn fdb_append_flood(nl: &Handle, index: u32, remote: IpAddr) -> Result<(), rtnetlink::Error> {
    use netlink_packet_core::{
        NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST,
    };
    use netlink_packet_route::neighbour::{
        NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
    };
    use netlink_packet_route::RouteNetlinkMessage;

    let mut msg = NeighbourMessage::default();
    msg.header.family = netlink_packet_route::AddressFamily::Bridge;
    msg.header.ifindex = index;
    msg.header.state = NeighbourState::Permanent;
    msg.header.flags = NeighbourFlags::Own;
    msg.attributes
        .push(NeighbourAttribute::LinkLayerAddress(vec![0; 6]));
    msg.attributes
        .push(NeighbourAttribute::Destination(match remote {
            IpAddr::V4(v4) => NeighbourAddress::Inet(v4),
            IpAddr::V6(v6) => NeighbourAddress::Inet6(v6),
        }));
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(msg));
    // Append, not replace: every peer gets an all-zero entry of its own.
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
    let mut response = nl.clone().request(req)?;
    while let Some(message) = response.next().await {
        if let NetlinkPayload::Error(err) = message.payload {
            return Err(rtnetlink::Error::NetlinkError(err));
        }
    }
    Ok(())
}

/// Waits until every veth end, and every bridge with ports, reports operstate UP: but the
/// pairs with an end that starts down, and the bridges with no other ports.
async fn wait_up(plan: &Plan, ns: &[NodeNs]) -> Result<()> {
    let mut pending: HashMap<usize, Vec<(u32, String)>> = HashMap::new();
    let live = || plan.veths.iter().filter(|v| v.ends.iter().all(|e| !e.down));
    for v in live() {
        for e in &v.ends {
            pending
                .entry(e.node)
                .or_default()
                .push((e.index, e.name.clone()));
        }
    }
    for (b, bridge) in plan.bridges.iter().enumerate() {
        if live().any(|v| v.ends.iter().any(|e| e.master == Some(b))) {
            pending
                .entry(bridge.node)
                .or_default()
                .push((bridge.index, bridge.name.clone()));
        }
    }
    let total = pending.values().map(Vec::len).sum();
    let limit = up_timeout(total);
    let start = Instant::now();
    // Each check is a dump of the namespace's links, under a kernel lock that the kernel's
    // own bringing up of links needs too: the more links are still waiting, the longer
    // the pause between checks (0.5 ms for a few, at most 16 ms), so that a big bridge is
    // not held up by its own wait (1000 ports: ~1 s instead of ~5 s at a fixed 0.5 ms)
    // while a small network is seen up as soon as it is.
    loop {
        let checks = pending.iter().map(|(&node, links)| async move {
            let up = links_up(&ns[node].nl).await?;
            Ok::<_, Error>((
                node,
                links
                    .iter()
                    .filter(|(i, _)| !up.contains(i))
                    .cloned()
                    .collect::<Vec<_>>(),
            ))
        });
        let results = try_join_all(checks).await?;
        pending = results.into_iter().filter(|(_, l)| !l.is_empty()).collect();
        if pending.is_empty() {
            return Ok(());
        }
        if start.elapsed() > limit {
            let mut names: Vec<String> = pending
                .iter()
                .flat_map(|(n, l)| {
                    l.iter()
                        .map(move |(_, name)| format!("{}:{name}", plan.nodes[*n].name))
                })
                .collect();
            names.sort();
            return Err(Error::LinksNotUp {
                after: limit,
                links: names,
            });
        }
        let waiting: usize = pending.values().map(Vec::len).sum();
        let pause = (Duration::from_micros(500) + Duration::from_micros(15) * waiting as u32)
            .min(Duration::from_millis(16));
        // More links than one linkwatch run handles: see `kick`.
        if total > 200 {
            super::kick::kick().await;
        }
        tokio::time::sleep(pause).await;
    }
}

/// Waits until the link `index` reports operstate UP, for at most `limit`; false if it
/// did not.
pub(crate) async fn wait_link_up(nl: &Handle, index: u32, limit: Duration) -> Result<bool> {
    let start = Instant::now();
    loop {
        if links_up(nl).await?.contains(&index) {
            return Ok(true);
        }
        if start.elapsed() > limit {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

/// Indexes of the links whose operstate is UP.
async fn links_up(nl: &Handle) -> Result<std::collections::HashSet<u32>> {
    // Without statistics: a tenth of the bytes per link.
    let mut links = nl
        .link()
        .get()
        .set_filter_mask(
            netlink_packet_route::AddressFamily::Unspec,
            vec![netlink_packet_route::link::LinkExtentMask::SkipStats],
        )
        .execute();
    let mut up = std::collections::HashSet::new();
    while let Some(msg) = links
        .try_next()
        .await
        .map_err(|e| Error::netlink("listing links", e))?
    {
        if msg
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::OperState(State::Up)))
        {
            up.insert(msg.header.index);
        }
    }
    Ok(up)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_br_netfilter_is_named_with_the_remedy() {
        let msg = br_netfilter_missing("router", &["lan", "dmz"]).to_string();
        for part in [
            "node \"router\"",
            "bridges \"lan\", \"dmz\" ask for bridge netfilter",
            "bridge_netfilter(true)",
            "no /proc/sys/net/bridge",
            "the br_netfilter module is not loaded",
            "`sudo modprobe br_netfilter`",
            "or drop bridge_netfilter(true) from the topology",
        ] {
            assert!(msg.contains(part), "{part:?} missing from: {msg}");
        }
        let one = br_netfilter_missing("host", &["docker0"]).to_string();
        assert!(
            one.starts_with("node \"host\": bridge \"docker0\" asks for bridge netfilter"),
            "{one}"
        );
    }

    #[test]
    fn a_refused_prefix_nat_names_the_kernel_part() {
        let plan = crate::Topology::new()
            .router("r", |n| n)
            .bridge_with("lan6", "fd00:6::/64", |b| {
                b.in_node("r").nptv6("fd00:99::/64")
            })
            .plan()
            .unwrap();
        let refused = || Error::Nft {
            what: "nf_tables (table inet netns_test): adding a rule".into(),
            source: std::io::Error::from_raw_os_error(libc::EOPNOTSUPP),
            detail: String::new(),
        };
        let msg = refused_rules(plan.node("r").unwrap(), refused()).to_string();
        for part in [
            "applying the nftables rules of node \"r\"",
            "translates IPv6 prefixes (nptv6)",
            "NF_NAT_RANGE_NETMAP: Linux 5.8 or later",
            "CONFIG_NFT_NAT",
        ] {
            assert!(msg.contains(part), "{part:?} missing from: {msg}");
        }
        // Without prefix NAT, the refusal is reported as it was.
        let plain = crate::Topology::new().router("r", |n| n).plan().unwrap();
        let msg = refused_rules(plain.node("r").unwrap(), refused()).to_string();
        assert!(!msg.contains("nptv6"), "{msg}");
    }
}
