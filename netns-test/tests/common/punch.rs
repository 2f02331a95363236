//! UDP hole punching through a rendezvous server: the server, and one peer's socket that
//! registers, looks its peer up and punches. Shared by the hole-punching tests.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use netns_test::Node;
use tokio::net::UdpSocket;
use tokio::time::{sleep, timeout_at, Instant};

/// Punches are this far apart.
pub(crate) const PUNCH_INTERVAL: Duration = Duration::from_millis(10);

/// The rendezvous server at `addr` in `node`: `REGISTER name` -> `SEEN ip:port` (the
/// endpoint it saw), `LOOKUP name` -> `PEER ip:port` or `UNKNOWN`.
pub(crate) async fn start_server(node: &Node, addr: SocketAddr) -> anyhow::Result<()> {
    let sock = node.run(UdpSocket::bind(addr)).await?;
    node.spawn(async move {
        let mut seen: HashMap<String, SocketAddr> = HashMap::new();
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            let reply = match msg.split_once(' ') {
                Some(("REGISTER", name)) => {
                    seen.insert(name.to_string(), from);
                    format!("SEEN {from}")
                }
                Some(("LOOKUP", name)) => seen
                    .get(name)
                    .map_or("UNKNOWN".to_string(), |a| format!("PEER {a}")),
                _ => "ERROR".to_string(),
            };
            let _ = sock.send_to(reply.as_bytes(), from).await;
        }
    });
    Ok(())
}

/// How long a peer punches, and how it counts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Punching {
    /// Punch for at most this long.
    pub for_at_most: Duration,
    /// Once nothing has come, keep listening this long after the last punch (a punch
    /// that arrives late still counts).
    pub late: Duration,
    /// Answer to the endpoint the peer's punches come from, when it is not the one the
    /// server reported (what ICE calls a peer-reflexive candidate): what lets a peer
    /// behind a NAT that lets anyone in reach one behind a symmetric NAT.
    pub learn: bool,
    /// Port prediction: punch the `predict` ports after the one the server reported too
    /// (what gets through a symmetric NAT with sequential ports, whose mapping towards
    /// this peer is made after the one the server saw: its port + 1, or a few more when
    /// other hosts behind it made mappings in between). Only from behind a NAT that maps
    /// endpoint-independently: from behind a symmetric one, each guess would take a port.
    pub predict: u16,
}

/// What one peer got in one round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Punched {
    /// Punches from the peer.
    pub got: usize,
    /// The endpoint the last one came from, if any came.
    pub from: Option<SocketAddr>,
}

/// One peer's fresh socket for one round.
pub(crate) struct Peer {
    pub node: Node,
    pub name: String,
    pub sock: Arc<UdpSocket>,
    pub server: SocketAddr,
}

impl Peer {
    pub(crate) async fn bind(
        node: &Node,
        name: String,
        server: SocketAddr,
    ) -> anyhow::Result<Peer> {
        let sock = node.run(UdpSocket::bind("0.0.0.0:0")).await?;
        Ok(Peer {
            node: node.clone(),
            name,
            sock: Arc::new(sock),
            server,
        })
    }

    /// Asks the server; the answer's text after `prefix`, parsed. Up to 5 tries, 100 ms
    /// apart.
    pub(crate) async fn ask(
        &self,
        msg: String,
        prefix: &'static str,
    ) -> anyhow::Result<SocketAddr> {
        let (sock, name, server) = (self.sock.clone(), self.name.clone(), self.server);
        self.node
            .run(async move {
                let mut buf = [0u8; 512];
                for _ in 0..5 {
                    sock.send_to(msg.as_bytes(), server).await?;
                    let deadline = Instant::now() + Duration::from_millis(100);
                    while let Ok(got) = timeout_at(deadline, sock.recv_from(&mut buf)).await {
                        let (n, from) = got?;
                        let text = String::from_utf8_lossy(&buf[..n]);
                        if let (true, Some(addr)) = (from == server, text.strip_prefix(prefix)) {
                            return Ok(addr.parse()?);
                        }
                    }
                }
                anyhow::bail!("{name}: no answer from the server to {msg:?}")
            })
            .await
    }

    /// Registers; the endpoint the server saw.
    pub(crate) async fn register(&self) -> anyhow::Result<SocketAddr> {
        self.ask(format!("REGISTER {}", self.name), "SEEN ").await
    }

    /// The endpoint the server saw for `peer`.
    pub(crate) async fn lookup(&self, peer: &str) -> anyhow::Result<SocketAddr> {
        self.ask(format!("LOOKUP {peer}"), "PEER ").await
    }

    /// After `delay`, sends `punch NAME` to `to` every [`PUNCH_INTERVAL`] until three more
    /// have left since the first one from `peer` arrived (so the other side gets ours too),
    /// or for `how.for_at_most`, then (if none came) listens `how.late` more.
    pub(crate) fn punch(
        &self,
        to: SocketAddr,
        peer: &str,
        delay: Duration,
        how: Punching,
    ) -> impl std::future::Future<Output = Punched> {
        let sock = self.sock.clone();
        let (mine, theirs) = (format!("punch {}", self.name), format!("punch {peer}"));
        self.node.run(async move {
            sleep(delay).await;
            let (start, mut to, mut after) = (Instant::now(), to, 0);
            let mut seen = Punched { got: 0, from: None };
            let mut buf = [0u8; 64];
            let take = |b: &[u8], from: SocketAddr, seen: &mut Punched| {
                if b == theirs.as_bytes() {
                    seen.got += 1;
                    seen.from = Some(from);
                }
            };
            while start.elapsed() < how.for_at_most && after < 3 {
                // Unconnected: the ICMP errors of early punches are not reported.
                let _ = sock.send_to(mine.as_bytes(), to).await;
                if seen.got == 0 {
                    for k in 1..=how.predict {
                        let guess = SocketAddr::new(to.ip(), to.port().wrapping_add(k));
                        let _ = sock.send_to(mine.as_bytes(), guess).await;
                    }
                }
                let next = Instant::now() + PUNCH_INTERVAL;
                while let Ok(Ok((n, from))) = timeout_at(next, sock.recv_from(&mut buf)).await {
                    take(&buf[..n], from, &mut seen);
                    if how.learn {
                        if let Some(from) = seen.from {
                            to = from;
                        }
                    }
                }
                after += usize::from(seen.got > 0);
            }
            if seen.got == 0 {
                let end = Instant::now() + how.late;
                while let Ok(Ok((n, from))) = timeout_at(end, sock.recv_from(&mut buf)).await {
                    take(&buf[..n], from, &mut seen);
                }
            }
            seen
        })
    }
}
