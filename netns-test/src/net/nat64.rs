//! The NAT64 translator of a router that declares
//! [`NodeBuilder::nat64`](crate::topology::NodeBuilder::nat64): a userspace TCP proxy in
//! the router's namespace, like the relays of impairable links, since Linux has no
//! in-kernel NAT64 and `/dev/net/tun` (what tayga needs) is root-only.
//!
//! The router DNATs TCP to the NAT64 prefix to the translator's listening address
//! ([`PlannedNat64::listen`]); for each connection the translator reads the original
//! destination (`IP6T_SO_ORIGINAL_DST`), takes the IPv4 address embedded in it, connects
//! there from the router (so from the router's IPv4 address on the way out) and copies
//! bytes both ways until either side closes. A refused or unreachable IPv4 destination
//! resets the IPv6 connection.
//!
//! UDP goes to the same address and port: a UDP socket has no `IP6T_SO_ORIGINAL_DST`, so
//! the first datagram of each client endpoint is looked up in the router's conntrack table
//! (the entry the DNAT made holds the original destination); the client then gets an IPv4
//! socket of its own connected there, and answers go back from the translator's address,
//! which conntrack rewrites to the NAT64 address the client sent to. A client endpoint is
//! forgotten after [`UDP_IDLE`] without an answer; while it is known, it reaches one IPv4
//! destination only (a second one from the same port would clash in conntrack anyway).
//! ICMP echo is not translated.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::kernel::NodeNs;
use crate::sys;
use crate::topology::nat64::extract;
use crate::topology::{Plan, PlannedNat64};

/// Binds the translator of every NAT64 router in its namespace and serves it on the
/// network's runtime, whose tasks end with the network.
pub(crate) fn start(plan: &Plan, ns: &[NodeNs], rt: &tokio::runtime::Runtime) -> Result<()> {
    for (i, node) in plan.nodes.iter().enumerate() {
        let Some(nat64) = &node.nat64 else { continue };
        let what = || format!("starting the NAT64 translator of node {:?}", node.name);
        let netns = ns[i].netns.try_clone().map_err(|e| Error::sys(what(), e))?;
        let (listener, udp) = sys::in_netns(netns.as_fd(), || {
            Ok::<_, std::io::Error>((bind(nat64.listen)?, bind_udp(nat64.listen)?))
        })
        .and_then(|r| r)
        .map_err(|e| Error::sys(what(), e))?;
        let _guard = rt.enter();
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|e| Error::sys(what(), e))?;
        let udp = tokio::net::UdpSocket::from_std(udp).map_err(|e| Error::sys(what(), e))?;
        let netns = Arc::new(netns);
        rt.spawn(serve(listener, netns.clone(), nat64.clone()));
        rt.spawn(serve_udp(Arc::new(udp), netns, nat64.prefix));
    }
    Ok(())
}

fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    sock.set_reuse_address(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    Ok(sock.into())
}

fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        None,
    )?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    Ok(sock.into())
}

/// How long a UDP client endpoint is remembered without an answer from its destination.
pub(crate) const UDP_IDLE: Duration = Duration::from_secs(30);

/// Translates datagrams forever: each client endpoint gets an IPv4 socket of its own.
async fn serve_udp(sock: Arc<tokio::net::UdpSocket>, netns: Arc<OwnedFd>, prefix: ipnet::Ipv6Net) {
    let clients: Arc<Mutex<HashMap<SocketAddr, Arc<tokio::net::UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, client)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let known = clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&client)
            .cloned();
        let outside = match known {
            Some(s) => s,
            None => {
                let Ok(Some(s)) = udp_client(&netns, prefix, client).await else {
                    continue;
                };
                let s = Arc::new(s);
                clients
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(client, s.clone());
                tokio::spawn(udp_answers(
                    sock.clone(),
                    s.clone(),
                    client,
                    clients.clone(),
                ));
                s
            }
        };
        let _ = outside.send(&buf[..n]).await;
    }
}

/// The IPv4 socket for a new client endpoint, connected to the destination conntrack
/// recorded for it (`None` if there is no such entry, or it is outside the prefix).
async fn udp_client(
    netns: &OwnedFd,
    prefix: ipnet::Ipv6Net,
    client: SocketAddr,
) -> std::io::Result<Option<tokio::net::UdpSocket>> {
    let (entries, sock) = sys::in_netns(netns.as_fd(), || {
        let entries = crate::nft::conntrack::list().map_err(std::io::Error::other)?;
        let sock = std::net::UdpSocket::bind("0.0.0.0:0")?;
        Ok::<_, std::io::Error>((entries, sock))
    })??;
    let orig = entries.iter().map(|e| &e.orig).find(|t| {
        t.src == client.ip()
            && t.sport == client.port()
            && matches!(t.dst, IpAddr::V6(d) if prefix.contains(&d))
    });
    let Some(v4) = orig.and_then(|t| match t.dst {
        IpAddr::V6(d) => extract(prefix, d).map(|v4| SocketAddr::new(IpAddr::V4(v4), t.dport)),
        IpAddr::V4(_) => None,
    }) else {
        return Ok(None);
    };
    sock.set_nonblocking(true)?;
    let sock = tokio::net::UdpSocket::from_std(sock)?;
    sock.connect(v4).await?;
    Ok(Some(sock))
}

/// Sends the IPv4 answers for `client` back from the translator's socket, until the
/// endpoint is idle for [`UDP_IDLE`]; then forgets it.
async fn udp_answers(
    inside: Arc<tokio::net::UdpSocket>,
    outside: Arc<tokio::net::UdpSocket>,
    client: SocketAddr,
    clients: Arc<Mutex<HashMap<SocketAddr, Arc<tokio::net::UdpSocket>>>>,
) {
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, outside.recv(&mut buf)).await {
        let _ = inside.send_to(&buf[..n], client).await;
    }
    clients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&client);
}

/// Accepts translated connections forever.
async fn serve(listener: tokio::net::TcpListener, netns: Arc<OwnedFd>, nat64: PlannedNat64) {
    loop {
        let Ok((inside, _)) = listener.accept().await else {
            continue;
        };
        let netns = netns.clone();
        tokio::spawn(async move {
            let _ = translate(inside, &netns, nat64.prefix).await;
        });
    }
}

/// One connection: connect to the embedded IPv4 destination, then copy both ways.
async fn translate(
    mut inside: tokio::net::TcpStream,
    netns: &OwnedFd,
    prefix: ipnet::Ipv6Net,
) -> std::io::Result<()> {
    let _ = inside.set_nodelay(true);
    let dst = sys::original_dst_v6(inside.as_fd())?;
    let Some(v4) = extract(prefix, *dst.ip()) else {
        return reset(inside);
    };
    let to = SocketAddr::new(IpAddr::V4(v4), dst.port());
    // The socket must be the router's: created with the thread in its namespace.
    let sock = sys::in_netns(netns.as_fd(), || {
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
    })??;
    sock.set_nonblocking(true)?;
    let sock = tokio::net::TcpSocket::from_std_stream(sock.into());
    let mut outside = match sock.connect(to).await {
        Ok(s) => s,
        Err(_) => return reset(inside),
    };
    let _ = outside.set_nodelay(true);
    tokio::io::copy_bidirectional(&mut inside, &mut outside).await?;
    Ok(())
}

/// Closes `s` with a reset, as a router answers a connection it cannot forward.
fn reset(s: tokio::net::TcpStream) -> std::io::Result<()> {
    let s = s.into_std()?;
    socket2::SockRef::from(&s).set_linger(Some(std::time::Duration::ZERO))?;
    Ok(())
}
