//! A UDP echo server in a node: something for [`Probe::Udp`] to reach.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use socket2::{Domain, Protocol, SockAddr, Type};

use super::probe::socket_in;
#[cfg(doc)]
use super::Probe;
use crate::net::Node;

impl Node {
    /// Runs a UDP echo server in this node on `port` (`0`: any free port), on `[::]`
    /// (IPv4 and IPv6) or `0.0.0.0` where IPv6 is off, so that [`Probe::Udp`] has
    /// something that answers. It is bound when this returns (no wait needed) and stops
    /// when the guard is dropped. Replaces `socat UDP-LISTEN:PORT,fork EXEC:cat`.
    ///
    /// Call it from the test body or a node's task (it uses this node's runtime).
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Probe;
    ///
    /// #[netns_test(topology = presets::bridge_pair())]
    /// async fn dns_port_open(net: Net) -> std::io::Result<()> {
    ///     let echo = net.node("b").udp_echo(53)?;
    ///     net.node("a").assert_reaches("b", Probe::Udp(53)).await;
    ///     assert!(echo.echoed() >= 1);
    ///     Ok(())
    /// }
    /// ```
    pub fn udp_echo(&self, port: u16) -> io::Result<UdpEcho> {
        // SO_REUSEADDR: port 53 next to the node's name service on 127.0.0.11:53.
        let v6 = socket_in(self, Domain::IPV6, Type::DGRAM, Protocol::UDP).and_then(|s| {
            s.set_only_v6(false)?;
            s.set_reuse_address(true)?;
            s.bind(&SockAddr::from(SocketAddr::new(
                Ipv6Addr::UNSPECIFIED.into(),
                port,
            )))?;
            Ok(s)
        });
        let sock = match v6 {
            Ok(s) => s,
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => return Err(e),
            Err(_) => {
                let s = socket_in(self, Domain::IPV4, Type::DGRAM, Protocol::UDP)?;
                s.set_reuse_address(true)?;
                s.bind(&SockAddr::from(SocketAddr::new(
                    Ipv4Addr::UNSPECIFIED.into(),
                    port,
                )))?;
                s
            }
        };
        let addr = sock
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("UDP socket without an IP address"))?;
        let count = Arc::new(AtomicU64::new(0));
        let counter = count.clone();
        let std_sock: std::net::UdpSocket = sock.into();
        let task = self.spawn(async move {
            let Ok(sock) = tokio::net::UdpSocket::from_std(std_sock) else {
                return;
            };
            let mut buf = vec![0u8; 65536];
            let mut errors = 0u32;
            while errors < 1000 {
                match sock.recv_from(&mut buf).await {
                    Ok((n, peer)) => {
                        errors = 0;
                        counter.fetch_add(1, Ordering::Relaxed);
                        let _ = sock.send_to(&buf[..n], peer).await;
                    }
                    Err(_) => errors += 1,
                }
            }
        });
        Ok(UdpEcho {
            node: self.name().to_string(),
            addr,
            count,
            task,
        })
    }
}

/// A UDP echo server running in a node (see [`Node::udp_echo`]); stops when dropped.
#[derive(Debug)]
pub struct UdpEcho {
    node: String,
    addr: SocketAddr,
    count: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl UdpEcho {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address it is bound to (`[::]:PORT` or `0.0.0.0:PORT`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node it runs in.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// How many datagrams it has received (and echoed) so far.
    pub fn echoed(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}
