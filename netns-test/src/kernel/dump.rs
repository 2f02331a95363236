//! Reading a node's state back from the kernel, for the diagnostics: rtnetlink dumps,
//! `/proc/sys`, and the nf_tables and conntrack listings, as plain data (no text; `diag`
//! renders it).

use std::io;
use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use netlink_packet_route::AddressFamily;
use rtnetlink::Handle;

use super::RouteEntry;
use crate::nft::conntrack;

/// One link, as `ip -s link` reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LinkState {
    pub(crate) index: u32,
    pub(crate) name: Option<String>,
    /// `IFLA_INFO_KIND`: `veth`, `bridge`, `vxlan`...
    pub(crate) kind: Option<String>,
    /// Administratively up (`IFF_UP`).
    pub(crate) up: bool,
    /// The operational state, as netlink-packet-route spells it (`UP`, `DOWN`, `UNKNOWN`).
    pub(crate) oper: Option<String>,
    pub(crate) mtu: Option<u32>,
    pub(crate) mac: Option<Vec<u8>>,
    /// The ifindex of the bridge it is a port of.
    pub(crate) master: Option<u32>,
    /// `IFLA_LINK`: the peer's ifindex for a veth.
    pub(crate) peer: Option<u32>,
    pub(crate) stats: Option<LinkStats>,
}

/// A link's counters (`IFLA_STATS64`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LinkStats {
    pub(crate) rx_packets: u64,
    pub(crate) rx_bytes: u64,
    pub(crate) rx_dropped: u64,
    pub(crate) rx_errors: u64,
    pub(crate) tx_packets: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) tx_dropped: u64,
    pub(crate) tx_errors: u64,
}

/// One address of a link (`ip addr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AddrState {
    pub(crate) index: u32,
    pub(crate) ip: IpAddr,
    pub(crate) prefix_len: u8,
}

/// One neighbour entry (`ip neigh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NeighState {
    pub(crate) ip: IpAddr,
    pub(crate) ifindex: u32,
    pub(crate) lladdr: Option<Vec<u8>>,
    /// The NUD state, as netlink-packet-route names it (`Reachable`, `Stale`, `Permanent`...).
    pub(crate) state: String,
}

/// One entry of a bridge's forwarding database (`bridge fdb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FdbEntry {
    pub(crate) mac: Vec<u8>,
    /// The ifindex of the port.
    pub(crate) port: u32,
    /// The ifindex of the bridge.
    pub(crate) master: Option<u32>,
    /// A permanent entry (the bridge's own addresses), not a learned one.
    pub(crate) permanent: bool,
}

/// A node's rtnetlink state, read in one go.
#[derive(Debug)]
pub(crate) struct NetlinkState {
    pub(crate) links: Result<Vec<LinkState>, rtnetlink::Error>,
    pub(crate) addresses: Result<Vec<AddrState>, rtnetlink::Error>,
    pub(crate) routes: Result<Vec<RouteEntry>, rtnetlink::Error>,
    pub(crate) neighbours: Result<Vec<NeighState>, rtnetlink::Error>,
    /// Read only when the node has a bridge.
    pub(crate) fdb: Option<Result<Vec<FdbEntry>, rtnetlink::Error>>,
}

/// What a node's netns holds outside rtnetlink.
#[derive(Debug)]
pub(crate) struct NetnsState {
    /// Each of [`SYSCTLS`] with what `/proc/sys` gave.
    pub(crate) sysctls: Vec<(&'static str, io::Result<String>)>,
    pub(crate) ruleset: crate::Result<String>,
    pub(crate) conntrack: crate::Result<Vec<conntrack::Entry>>,
}

/// Sysctls that decide how a node forwards and filters.
pub(crate) const SYSCTLS: &[&str] = &[
    "net/ipv4/ip_forward",
    "net/ipv6/conf/all/forwarding",
    "net/ipv4/conf/all/rp_filter",
    "net/ipv4/conf/default/rp_filter",
    "net/ipv4/ping_group_range",
    "net/ipv6/conf/all/disable_ipv6",
    "net/bridge/bridge-nf-call-iptables",
    "net/netfilter/nf_conntrack_count",
];

/// Links, addresses, routes (main table), neighbours and, on a node with a bridge, the
/// bridge FDB.
pub(crate) async fn read_netlink(nl: &Handle) -> NetlinkState {
    let links = read_links(nl).await;
    let addresses = read_addresses(nl).await;
    let routes = super::routes(nl).await;
    let neighbours = read_neighbours(nl).await;
    let has_bridge = links
        .as_ref()
        .is_ok_and(|ls| ls.iter().any(|l| l.kind.as_deref() == Some("bridge")));
    let fdb = if has_bridge {
        Some(read_fdb(nl).await)
    } else {
        None
    };
    NetlinkState {
        links,
        addresses,
        routes,
        neighbours,
        fdb,
    }
}

/// `ip -s link`.
pub(crate) async fn read_links(nl: &Handle) -> Result<Vec<LinkState>, rtnetlink::Error> {
    let links: Vec<LinkMessage> = nl.link().get().execute().try_collect().await?;
    Ok(links.iter().map(link_state).collect())
}

fn link_state(l: &LinkMessage) -> LinkState {
    let mut s = LinkState {
        index: l.header.index,
        up: l.header.flags.contains(LinkFlags::Up),
        ..LinkState::default()
    };
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => s.name = Some(n.clone()),
            LinkAttribute::OperState(st) => s.oper = Some(st.to_string()),
            LinkAttribute::Mtu(m) => s.mtu = Some(*m),
            LinkAttribute::Address(m) => s.mac = Some(m.clone()),
            LinkAttribute::Controller(m) => s.master = Some(*m),
            LinkAttribute::Link(p) => s.peer = Some(*p),
            LinkAttribute::Stats64(st) => {
                s.stats = Some(LinkStats {
                    rx_packets: st.rx_packets,
                    rx_bytes: st.rx_bytes,
                    rx_dropped: st.rx_dropped,
                    rx_errors: st.rx_errors,
                    tx_packets: st.tx_packets,
                    tx_bytes: st.tx_bytes,
                    tx_dropped: st.tx_dropped,
                    tx_errors: st.tx_errors,
                })
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        s.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    s
}

/// `ip addr`: every address with its local address (or, without one, its address).
pub(crate) async fn read_addresses(nl: &Handle) -> Result<Vec<AddrState>, rtnetlink::Error> {
    let addrs: Vec<AddressMessage> = nl.address().get().execute().try_collect().await?;
    Ok(addrs
        .iter()
        .filter_map(|a| {
            let local = a.attributes.iter().find_map(|x| match x {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let ip = local.or_else(|| {
                a.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            })?;
            Some(AddrState {
                index: a.header.index,
                ip,
                prefix_len: a.header.prefix_len,
            })
        })
        .collect())
}

/// `ip neigh`: the entries with an IP destination.
pub(crate) async fn read_neighbours(nl: &Handle) -> Result<Vec<NeighState>, rtnetlink::Error> {
    let neigh: Vec<NeighbourMessage> = nl.neighbours().get().execute().try_collect().await?;
    Ok(neigh
        .iter()
        .filter_map(|n| {
            let ip = n.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => {
                    Some(IpAddr::V4(*ip))
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => {
                    Some(IpAddr::V6(*ip))
                }
                _ => None,
            })?;
            Some(NeighState {
                ip,
                ifindex: n.header.ifindex,
                lladdr: lladdr(n).cloned(),
                state: format!("{:?}", n.header.state),
            })
        })
        .collect())
}

/// `bridge fdb`: the entries with a link-layer address.
pub(crate) async fn read_fdb(nl: &Handle) -> Result<Vec<FdbEntry>, rtnetlink::Error> {
    let fdb: Vec<NeighbourMessage> = nl
        .neighbours()
        .get()
        .set_address_family(AddressFamily::Bridge)
        .execute()
        .try_collect()
        .await?;
    Ok(fdb
        .iter()
        .filter_map(|n| {
            Some(FdbEntry {
                mac: lladdr(n)?.clone(),
                port: n.header.ifindex,
                master: n.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::Controller(m) => Some(*m),
                    _ => None,
                }),
                permanent: format!("{:?}", n.header.state) == "Permanent",
            })
        })
        .collect())
}

fn lladdr(n: &NeighbourMessage) -> Option<&Vec<u8>> {
    n.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(m) => Some(m),
        _ => None,
    })
}

/// [`SYSCTLS`], the ruleset and the conntrack table of the calling thread's netns.
pub(crate) fn read_netns_state() -> NetnsState {
    NetnsState {
        sysctls: read_sysctls(SYSCTLS),
        ruleset: crate::nft::list(),
        conntrack: conntrack::list(),
    }
}

/// The values of `keys` (`net/ipv4/ip_forward`) in the calling thread's netns, as
/// `/proc/sys` gives them.
pub(crate) fn read_sysctls(keys: &[&'static str]) -> Vec<(&'static str, io::Result<String>)> {
    keys.iter()
        .map(|&key| (key, std::fs::read_to_string(format!("/proc/sys/{key}"))))
        .collect()
}
