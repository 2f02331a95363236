//! What both fixtures share: the lab's shape and its UDP exchange.
//!
//! The lab: a relay server behind a public router (`dc`, no NAT), two home routers
//! (`home1`, `home2`: endpoint-independent mapping, address- and port-dependent
//! filtering, unsolicited inbound dropped) and one host behind each (`alice`, `bob`),
//! the three routers on one exchange network. IPv4 only on both sides.
//!
//! The exchange: `bob` registers with the relay, `alice` sends a message to the relay,
//! the relay forwards it to `bob`'s mapped address (which only bob's own packet opened
//! in `home2`), and `bob` receives it from the relay. Both hosts' packets must reach the
//! relay from their routers' WAN addresses, never from their LAN addresses.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

/// The relay's UDP port.
pub const RELAY_PORT: u16 = 3478;

/// How long each receive waits.
const WAIT: Duration = Duration::from_millis(500);
/// How many times a send whose packet did not arrive is repeated.
const TRIES: usize = 4;

/// What the relay saw.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    /// `alice`'s packet came from this address (her router's mapping).
    pub alice: SocketAddr,
    /// `bob`'s packet came from this address (his router's mapping).
    pub bob: SocketAddr,
}

impl Seen {
    /// Panics unless each host was seen from its router's WAN address.
    pub fn check(&self, home1_wan: IpAddr, home2_wan: IpAddr) {
        assert_eq!(
            self.alice.ip(),
            home1_wan,
            "alice is seen behind home1's NAT"
        );
        assert_eq!(self.bob.ip(), home2_wan, "bob is seen behind home2's NAT");
    }
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "udp exchange: ok (alice seen as {}, bob seen as {}, alice -> relay -> bob)",
            self.alice, self.bob
        )
    }
}

/// Sends `msg` from `from` to `to` until `on` receives it (at most [`TRIES`] times);
/// returns the address it came from.
fn deliver(from: &UdpSocket, to: SocketAddr, on: &UdpSocket, msg: &[u8]) -> io::Result<SocketAddr> {
    let mut buf = [0u8; 64];
    for _ in 0..TRIES {
        from.send_to(msg, to)?;
        loop {
            match on.recv_from(&mut buf) {
                Ok((n, peer)) if &buf[..n] == msg => return Ok(peer),
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) => return Err(e),
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "{:?} sent {TRIES} times to {to}, never received",
            String::from_utf8_lossy(msg)
        ),
    ))
}

/// The exchange, on sockets bound in the relay, `alice` and `bob`: `relay` is bound to
/// `relay_addr`.
pub fn exchange(
    relay: &UdpSocket,
    relay_addr: SocketAddr,
    alice: &UdpSocket,
    bob: &UdpSocket,
) -> io::Result<Seen> {
    for s in [relay, alice, bob] {
        s.set_read_timeout(Some(WAIT))?;
    }
    let bob_seen = deliver(bob, relay_addr, relay, b"bob registers")?;
    let alice_seen = deliver(alice, relay_addr, relay, b"alice to bob")?;
    let from = deliver(relay, bob_seen, bob, b"alice to bob")?;
    if from != relay_addr {
        return Err(io::Error::other(format!(
            "bob got the message from {from}, not from the relay {relay_addr}"
        )));
    }
    Ok(Seen {
        alice: alice_seen,
        bob: bob_seen,
    })
}
