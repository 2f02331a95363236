//! Run-time operations on a node's links, addresses and routes, each the netlink request
//! of one `ip` command.

use std::net::IpAddr;

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressFlags};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

/// `ip addr add ADDR dev INDEX` (IPv6 with `nodad`).
pub(crate) async fn add_address(
    nl: &Handle,
    index: u32,
    addr: IpNet,
) -> Result<(), rtnetlink::Error> {
    let mut req = nl.address().add(index, addr.addr(), addr.prefix_len());
    if addr.addr().is_ipv6() {
        req.message_mut()
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    req.execute().await
}

/// `ip addr del ADDR dev INDEX`.
pub(crate) async fn del_address(
    nl: &Handle,
    index: u32,
    addr: IpNet,
) -> Result<(), rtnetlink::Error> {
    let mut msg = netlink_packet_route::address::AddressMessage::default();
    msg.header.index = index;
    msg.header.prefix_len = addr.prefix_len();
    msg.header.family = match addr {
        IpNet::V4(_) => netlink_packet_route::AddressFamily::Inet,
        IpNet::V6(_) => netlink_packet_route::AddressFamily::Inet6,
    };
    msg.attributes.push(AddressAttribute::Local(addr.addr()));
    msg.attributes.push(AddressAttribute::Address(addr.addr()));
    nl.address().del(msg).execute().await
}

fn route_message(dest: IpNet, via: Option<IpAddr>, dev: Option<u32>) -> RouteMessage {
    let mut msg = match (dest, via) {
        (IpNet::V4(d), via) => {
            let mut b = RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                .destination_prefix(d.network(), d.prefix_len());
            if let Some(IpAddr::V4(g)) = via {
                b = b.gateway(g);
            }
            b.build()
        }
        (IpNet::V6(d), via) => {
            let mut b = RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                .destination_prefix(d.network(), d.prefix_len());
            if let Some(IpAddr::V6(g)) = via {
                b = b.gateway(g);
            }
            b.build()
        }
    };
    if let Some(dev) = dev {
        msg.attributes.push(RouteAttribute::Oif(dev));
    }
    if via.is_none() {
        msg.header.scope = netlink_packet_route::route::RouteScope::Link;
    }
    // What `ip route add` uses; `ip route` shows no `proto` for it.
    msg.header.protocol = netlink_packet_route::route::RouteProtocol::Boot;
    msg
}

/// `ip route add DEST via VIA`.
pub(crate) async fn add_route(
    nl: &Handle,
    dest: IpNet,
    via: IpAddr,
) -> Result<(), rtnetlink::Error> {
    nl.route()
        .add(route_message(dest, Some(via), None))
        .execute()
        .await
}

/// `ip route add DEST dev INDEX` (on-link, no gateway).
pub(crate) async fn add_device_route(
    nl: &Handle,
    dest: IpNet,
    dev: u32,
) -> Result<(), rtnetlink::Error> {
    nl.route()
        .add(route_message(dest, None, Some(dev)))
        .execute()
        .await
}

/// `ip route del DEST`.
pub(crate) async fn del_route(nl: &Handle, dest: IpNet) -> Result<(), rtnetlink::Error> {
    let mut msg = route_message(dest, None, None);
    msg.header.scope = netlink_packet_route::route::RouteScope::NoWhere;
    nl.route().del(msg).execute().await
}

/// `ip link set INDEX up|down`.
pub(crate) async fn set_link(nl: &Handle, index: u32, up: bool) -> Result<(), rtnetlink::Error> {
    let b = LinkUnspec::new_with_index(index);
    let msg = if up { b.up() } else { b.down() }.build();
    nl.link().set(msg).execute().await
}

/// One route of a node's main table, as `ip route` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    /// Destination prefix (`0.0.0.0/0` for the default route).
    pub dest: IpNet,
    /// Next hop, if any.
    pub via: Option<IpAddr>,
    /// Output interface index.
    pub dev: Option<u32>,
}

/// `ip route show` and `ip -6 route show` of the main table.
pub(crate) async fn routes(nl: &Handle) -> Result<Vec<RouteEntry>, rtnetlink::Error> {
    let mut out = Vec::new();
    for v6 in [false, true] {
        let msg = if v6 {
            RouteMessageBuilder::<std::net::Ipv6Addr>::new().build()
        } else {
            RouteMessageBuilder::<std::net::Ipv4Addr>::new().build()
        };
        let mut stream = nl.route().get(msg).execute();
        while let Some(r) = stream.try_next().await? {
            if r.header.table != RouteMessage::default().header.table && r.header.table != 254 {
                continue;
            }
            let mut dest = None;
            let mut via = None;
            let mut dev = None;
            for a in &r.attributes {
                match a {
                    RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
                        dest = Some(IpAddr::V4(*ip))
                    }
                    RouteAttribute::Destination(RouteAddress::Inet6(ip)) => {
                        dest = Some(IpAddr::V6(*ip))
                    }
                    RouteAttribute::Gateway(RouteAddress::Inet(ip)) => via = Some(IpAddr::V4(*ip)),
                    RouteAttribute::Gateway(RouteAddress::Inet6(ip)) => via = Some(IpAddr::V6(*ip)),
                    RouteAttribute::Oif(i) => dev = Some(*i),
                    RouteAttribute::Table(t) if *t != 254 => continue,
                    _ => {}
                }
            }
            let unspecified = if v6 {
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
            };
            let dest = IpNet::new(
                dest.unwrap_or(unspecified),
                r.header.destination_prefix_length,
            )
            .expect("kernel prefix");
            if v6
                && (dest.addr().is_multicast()
                    || matches!(dest.addr(), IpAddr::V6(a) if a.segments()[0] == 0xfe80))
            {
                continue;
            }
            out.push(RouteEntry { dest, via, dev });
        }
    }
    Ok(out)
}

/// One end of a link made at run time.
pub(crate) struct NewLink<'a> {
    pub name: &'a str,
    pub index: u32,
    pub mac: [u8; 6],
}

/// `ip link add MAIN [master BRIDGE] type veth peer name PEER netns NS`, then both ends up
/// (the peer only with `peer_up`): `main` is made in the namespace of `nl`, the peer
/// directly in `peer_ns` (never moved), or next to `main` without one.
pub(crate) async fn add_veth(
    nl: &Handle,
    main: &NewLink<'_>,
    master: Option<u32>,
    peer: &NewLink<'_>,
    peer_ns: Option<(&Handle, std::os::fd::RawFd)>,
    peer_up: bool,
) -> Result<(), rtnetlink::Error> {
    use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth};
    use rtnetlink::{LinkMessageBuilder, LinkVeth};
    let mut peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
        .name(peer.name.to_string())
        .index(peer.index)
        .address(peer.mac.to_vec());
    if let Some((_, fd)) = peer_ns {
        peer_msg = peer_msg.setns_by_fd(fd);
    }
    let mut msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(main.name.to_string())
        .index(main.index)
        .address(main.mac.to_vec())
        .up()
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())));
    if let Some(master) = master {
        msg = msg.controller(master);
    }
    nl.link().add(msg.build()).execute().await?;
    if peer_up {
        set_link(peer_ns.map_or(nl, |(h, _)| h), peer.index, true).await?;
    }
    Ok(())
}

/// `ip link add NAME type dummy; ip link set NAME up`.
pub(crate) async fn add_dummy(nl: &Handle, link: &NewLink<'_>) -> Result<(), rtnetlink::Error> {
    let msg = rtnetlink::LinkDummy::new(link.name)
        .index(link.index)
        .address(link.mac.to_vec())
        .up()
        .build();
    nl.link().add(msg).execute().await
}

/// `ip link del INDEX` (for a veth, both ends go).
pub(crate) async fn del_link(nl: &Handle, index: u32) -> Result<(), rtnetlink::Error> {
    nl.link().del(index).execute().await
}
