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

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

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
        let listener = sys::in_netns(netns.as_fd(), || bind(nat64.listen))
            .and_then(|r| r)
            .map_err(|e| Error::sys(what(), e))?;
        let _guard = rt.enter();
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|e| Error::sys(what(), e))?;
        rt.spawn(serve(listener, Arc::new(netns), nat64.clone()));
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
