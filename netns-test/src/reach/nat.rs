//! Which NAT a node is behind, measured: RFC 4787 mapping and filtering behaviour,
//! hairpinning and port preservation, found the RFC 5780 way by a STUN reflector with two
//! addresses and two ports on the public side and one socket in the node.
//!
//! ```text
//!   node (one UDP socket)  ──NAT──>  reflector in a public node
//!                                    A1:P1  A1:P2
//!                                    A2:P1  A2:P2   (A2: a second address it is given)
//! ```
//!
//! From one socket, in this order (each a STUN binding request, re-sent every 40 ms until
//! answered):
//!
//! 1. **The positive control**: to A1:P1, answered with the source endpoint the
//!    reflector saw (XOR-MAPPED-ADDRESS). It must come; its round trip sets the wait of
//!    step 2.
//! 2. **Filtering and hairpinning**, asked together: to A1:P1 asking for the answer from
//!    A2:P2 (CHANGE-REQUEST, change address and port): answered, the NAT lets in anyone
//!    once the host has sent, *endpoint-independent filtering* (EIF). To A1:P1 asking for
//!    the answer from A1:P2 (change port): answered, *address-dependent filtering* (ADF);
//!    neither, *address- and port-dependent filtering* (APDF). And to the endpoint seen at
//!    A1:P1: the request comes back to the socket through the NAT (*hairpinning*), or not.
//! 3. **Mapping**: to A2:P1 (another address), then A2:P2 (another port). The same
//!    endpoint towards A1 and A2: *endpoint-independent mapping* (EIM); the same only
//!    towards A2:P1 and A2:P2: *address-dependent mapping* (ADM); else *address- and
//!    port-dependent mapping* (APDM, "symmetric"). The node's own address and port:
//!    [`Mapping::NoNat`].
//! 4. **Port preservation and allocation**: the port seen at A1:P1 is the socket's own
//!    ([`PortAllocation::Preserving`]); three mappings with consecutive ports are
//!    [`PortAllocation::Sequential`], what port-predicting hole punching needs.
//!
//! The waits: step 2's answers, which may not come, are waited for 20 round trips of
//! step 1, at least 25 ms, at most [`NatProbe::wait`] (150 ms by default). Answers that come later, while
//! the mappings are asked for, count. One that comes after the verdict is not lost
//! silently: the socket listens one more wait in the background and says on stderr which
//! answer came late (the verdict is then wrong: give a longer wait); a new classification
//! from the same node and port ends that watch first. On an idle machine a
//! classification takes about 30 ms.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipnet::{IpNet, Ipv4Net};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

pub use super::nat_behaviour::{Filtering, Mapping, NatBehaviour, PortAllocation};
use super::stun::{self, Change, Message};
use crate::kernel;
use crate::net::{Net, Node};

/// The longest wait for answers that may not come, by default.
pub const NAT_WAIT: Duration = Duration::from_millis(150);
/// How long a request that must be answered (a mapping) is re-sent before the
/// classification fails.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// A request is re-sent this often until answered.
const RESEND: Duration = Duration::from_millis(40);

/// A classification: the behaviour measured and what it was measured from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatClass {
    /// The behaviour.
    pub behaviour: NatBehaviour,
    /// The node classified.
    pub node: String,
    /// The probing socket's local port.
    pub local_port: u16,
    /// Each destination of a mapping request (A1:P1, A2:P1, and A2:P2 unless the first two
    /// already agreed) with the source endpoint the reflector saw there.
    pub mapped: Vec<(SocketAddr, SocketAddr)>,
    /// How long the classification took.
    pub took: Duration,
}

impl NatClass {
    /// The external endpoint the node's socket has towards the reflector's primary
    /// endpoint (what a STUN client reports as its server-reflexive address).
    pub fn external(&self) -> SocketAddr {
        self.mapped[0].1
    }
}

impl fmt::Display for NatClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (port {}: ", self.behaviour, self.local_port)?;
        for (i, (to, seen)) in self.mapped.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}seen as {seen} by {to}")?;
        }
        write!(f, "; {} ms)", self.took.as_millis())
    }
}

/// Why a classification could not be made: no public node for the reflector, no answer
/// from it, a socket that could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatError(String);

impl fmt::Display for NatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NatError {}

impl From<NatError> for crate::Error {
    fn from(e: NatError) -> crate::Error {
        crate::Error::Reach(Box::new(e))
    }
}

fn err(msg: impl Into<String>) -> NatError {
    NatError(msg.into())
}

// ---------------------------------------------------------------------------------------
// The reflector

/// An IPv4 STUN reflector with two addresses and two ports (RFC 5780) in a public node:
/// what [`NatProbe`] classifies against. Its second address is added to the interface of
/// the node's first IPv4 address (the highest free address of that subnet) and removed by
/// [`NatReflector::stop`], or when it is dropped.
///
/// It answers any STUN binding request (MAPPED-ADDRESS, XOR-MAPPED-ADDRESS,
/// RESPONSE-ORIGIN, OTHER-ADDRESS, and CHANGE-REQUEST honoured), so a STUN client under
/// test can use it too: [`NatReflector::addr`] is its server address.
///
/// ```no_run
/// # use netns_test::{netns_test, Net, Topology};
/// use netns_test::reach::NatReflector;
/// # fn two_lans() -> Topology { Topology::new() }
///
/// #[netns_test(topology = two_lans())]
/// async fn two_hosts_on_one_port(net: Net) -> anyhow::Result<()> {
///     let reflector = NatReflector::start(&net.node("server")).await?;
///     let a = reflector.classify(&net.node("a"), 4000).await?;
///     let b = reflector.classify(&net.node("b"), 4000).await?;
///     println!("a: {a}\nb: {b}");
///     reflector.stop().await;
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct NatReflector {
    node: Node,
    /// `[address][port]`: A1:P1, A1:P2, A2:P1, A2:P2.
    endpoints: [[SocketAddrV4; 2]; 2],
    /// The second address, on this interface, while it is there.
    added: Option<(String, String)>,
    tasks: Vec<JoinHandle<()>>,
}

impl NatReflector {
    /// Starts a reflector in `node`, which must have an IPv4 address; it listens when this
    /// returns.
    pub async fn start(node: &Node) -> Result<NatReflector, NatError> {
        let (ifname, net1) = node
            .ifaces()
            .iter()
            .find_map(|i| {
                i.addrs.iter().find_map(|a| match a {
                    IpNet::V4(v4) => Some((i.name.clone(), *v4)),
                    IpNet::V6(_) => None,
                })
            })
            .ok_or_else(|| {
                err(format!(
                    "node {:?} has no IPv4 address for the NAT reflector: attach it to a public network",
                    node.name()
                ))
            })?;
        // The highest address of the subnet no node has; a lower one where another
        // reflector of the node has it.
        let index = node
            .try_iface(&ifname)
            .map_err(|e| err(e.to_string()))?
            .index;
        let mut tried = Vec::new();
        let (a2, cidr) = loop {
            let a2 = second_address(node, net1, &tried)?;
            let cidr = format!("{a2}/{}", net1.prefix_len());
            let net2 =
                IpNet::V4(Ipv4Net::new(a2, net1.prefix_len()).map_err(|e| err(e.to_string()))?);
            match kernel::add_address(node.netlink(), index, net2).await {
                Ok(()) => break (a2, cidr),
                Err(e) if tried.len() < 16 && kernel::tc::errno(&e) == Some(libc::EEXIST) => {
                    tried.push(a2)
                }
                Err(e) => {
                    return Err(err(format!(
                        "adding the NAT reflector's second address {cidr} to {ifname} of node {:?}: {e}",
                        node.name()
                    )))
                }
            }
        };
        let mut reflector = NatReflector {
            node: node.clone(),
            endpoints: [[SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0); 2]; 2],
            added: Some((ifname, cidr)),
            tasks: Vec::new(),
        };
        let a1 = net1.addr();
        let name = node.name().to_string();
        let socks = node
            .run(async move {
                // P1 and P2 are free ports of A1; A2 is new, so they are free there too.
                let mut socks: Vec<Vec<Arc<UdpSocket>>> = vec![Vec::new(), Vec::new()];
                for _ in 0..2 {
                    let s1 = UdpSocket::bind((a1, 0)).await?;
                    let port = s1.local_addr()?.port();
                    let s2 = UdpSocket::bind((a2, port)).await?;
                    socks[0].push(Arc::new(s1));
                    socks[1].push(Arc::new(s2));
                }
                std::io::Result::Ok(socks)
            })
            .await
            .map_err(|e| {
                err(format!(
                    "binding the NAT reflector's sockets in node {name:?}: {e}"
                ))
            })?;
        for (i, row) in socks.iter().enumerate() {
            for (j, s) in row.iter().enumerate() {
                let SocketAddr::V4(a) = s.local_addr().map_err(|e| err(e.to_string()))? else {
                    return Err(err("the NAT reflector's socket is not IPv4"));
                };
                reflector.endpoints[i][j] = a;
            }
        }
        let socks = Arc::new(socks);
        for i in 0..2 {
            for j in 0..2 {
                let (socks, ends) = (socks.clone(), reflector.endpoints);
                reflector.tasks.push(node.spawn(reflect(socks, ends, i, j)));
            }
        }
        Ok(reflector)
    }

    /// Its primary endpoint (A1:P1): the STUN server address for a client under test.
    pub fn addr(&self) -> SocketAddr {
        self.endpoints[0][0].into()
    }

    /// Its other endpoint (A2:P2), as OTHER-ADDRESS names it.
    pub fn other_addr(&self) -> SocketAddr {
        self.endpoints[1][1].into()
    }

    /// The node it runs in.
    pub fn node(&self) -> &str {
        self.node.name()
    }

    /// Classifies the NAT `node` is behind, from a UDP socket bound to `local_port` (`0`:
    /// any free port), waiting at most [`NAT_WAIT`] for answers that may not come (see
    /// [`NatProbe::wait`] for the waits).
    pub async fn classify(&self, node: &Node, local_port: u16) -> Result<NatClass, NatError> {
        self.classify_with(node, local_port, NAT_WAIT).await
    }

    async fn classify_with(
        &self,
        node: &Node,
        local_port: u16,
        wait: Duration,
    ) -> Result<NatClass, NatError> {
        let own: Vec<IpAddr> = node.addrs().map(|a| a.addr()).collect();
        let (ends, name) = (self.endpoints, node.name().to_string());
        node.run(classify(name, own, local_port, ends, wait)).await
    }

    /// Stops it and removes its second address.
    pub async fn stop(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Some((ifname, cidr)) = self.added.take() {
            let _ = self.node.addr(&ifname).del(&cidr).await;
        }
    }
}

impl Drop for NatReflector {
    fn drop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Some((ifname, cidr)) = self.added.take() {
            let handle = self.node.addr(&ifname);
            drop(self.node.spawn(async move {
                let _ = handle.del(&cidr).await;
            }));
        }
    }
}

/// The highest address of `net` that no node of the network has, other than `taken`.
fn second_address(node: &Node, net: Ipv4Net, taken: &[Ipv4Addr]) -> Result<Ipv4Addr, NatError> {
    let used: Vec<IpAddr> = match node.network() {
        Some(n) => n
            .nodes()
            .iter()
            .flat_map(|n| n.addrs().map(|a| a.addr()).collect::<Vec<_>>())
            .collect(),
        None => node.addrs().map(|a| a.addr()).collect(),
    };
    let (first, last) = (u32::from(net.network()), u32::from(net.broadcast()));
    (first + 1..last)
        .rev()
        .take(1024)
        .map(Ipv4Addr::from)
        .find(|a| !used.contains(&IpAddr::V4(*a)) && !taken.contains(a))
        .ok_or_else(|| {
            err(format!(
                "no free address in {net} for the NAT reflector's second address in node {:?}",
                node.name()
            ))
        })
}

/// Answers the binding requests arriving at socket `[i][j]`, from the socket the request
/// asks for.
async fn reflect(
    socks: Arc<Vec<Vec<Arc<UdpSocket>>>>,
    ends: [[SocketAddrV4; 2]; 2],
    i: usize,
    j: usize,
) {
    let mut buf = [0u8; 1500];
    let mut errors = 0u32;
    while errors < 1000 {
        let Ok((n, from)) = socks[i][j].recv_from(&mut buf).await else {
            errors += 1;
            continue;
        };
        let (Some(Message::Request { id, change }), SocketAddr::V4(from)) =
            (stun::parse(&buf[..n]), from)
        else {
            continue;
        };
        let (ri, rj) = (i ^ usize::from(change.ip), j ^ usize::from(change.port));
        let reply = stun::response(id, from, ends[ri][rj], ends[1 - ri][1 - rj]);
        let _ = socks[ri][rj].send_to(&reply, from).await;
    }
}

// ---------------------------------------------------------------------------------------
// The probing side

/// Transaction ids unique within the process.
fn new_id() -> [u8; 12] {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut id = [0u8; 12];
    id[..8].copy_from_slice(&n.to_be_bytes());
    id[8..].copy_from_slice(&t.to_be_bytes());
    id
}

/// The probing socket and what has come back to it so far.
struct Exchange {
    sock: UdpSocket,
    /// Answers by transaction id: the mapped endpoint.
    answers: HashMap<[u8; 12], SocketAddr>,
    /// Our own requests that came back to us (hairpinning).
    own: Vec<[u8; 12]>,
}

impl Exchange {
    /// Sends `msg` to `to` every [`RESEND`] until `done` holds of what has arrived, or
    /// `within` has passed; whether `done` holds at the end.
    async fn exchange(
        &mut self,
        msg: &[u8],
        to: SocketAddr,
        within: Duration,
        done: impl Fn(&Exchange) -> bool,
    ) -> bool {
        let end = Instant::now() + within;
        let mut buf = [0u8; 1500];
        while Instant::now() < end {
            let _ = self.sock.send_to(msg, to).await;
            let next = (Instant::now() + RESEND).min(end);
            while let Ok(Ok((n, _))) = timeout_at(next, self.sock.recv_from(&mut buf)).await {
                self.take(&buf[..n]);
                if done(self) {
                    return true;
                }
            }
        }
        done(self)
    }

    /// Sends each message to its destination every [`RESEND`] until `done` holds or
    /// `within` has passed.
    async fn exchange_many(
        &mut self,
        msgs: &[(Vec<u8>, SocketAddr)],
        within: Duration,
        done: impl Fn(&Exchange) -> bool,
    ) {
        let end = Instant::now() + within;
        let mut buf = [0u8; 1500];
        while Instant::now() < end && !done(self) {
            for (msg, to) in msgs {
                let _ = self.sock.send_to(msg, *to).await;
            }
            let next = (Instant::now() + RESEND).min(end);
            while let Ok(Ok((n, _))) = timeout_at(next, self.sock.recv_from(&mut buf)).await {
                self.take(&buf[..n]);
                if done(self) {
                    return;
                }
            }
        }
    }

    /// Records what has come.
    fn take(&mut self, b: &[u8]) {
        match stun::parse(b) {
            Some(Message::Response { id, mapped, .. }) => {
                self.answers.insert(id, mapped);
            }
            Some(Message::Request { id, .. }) => self.own.push(id),
            None => {}
        }
    }

    /// Takes what is queued on the socket, without waiting.
    fn drain(&mut self) {
        let mut buf = [0u8; 1500];
        while let Ok((n, _)) = self.sock.try_recv_from(&mut buf) {
            self.take(&buf[..n]);
        }
    }

    /// A binding request to `to`; its transaction id and whether it was answered.
    async fn ask(&mut self, to: SocketAddrV4, change: Change, within: Duration) -> [u8; 12] {
        let id = new_id();
        let msg = stun::request(id, change);
        self.exchange(&msg, to.into(), within, |x| x.answers.contains_key(&id))
            .await;
        id
    }

    /// The endpoint `to` sees, or why there is none.
    async fn mapped(&mut self, node: &str, to: SocketAddrV4) -> Result<SocketAddr, NatError> {
        let id = self.ask(to, Change::default(), ANSWER_WITHIN).await;
        self.answers.get(&id).copied().ok_or_else(|| {
            err(format!(
                "no answer from the NAT reflector at {to} to node {node:?} within {} ms: the node has no route to it, or the way back is dropped",
                ANSWER_WITHIN.as_millis()
            ))
        })
    }
}

async fn classify(
    node: String,
    own: Vec<IpAddr>,
    local_port: u16,
    ends: [[SocketAddrV4; 2]; 2],
    wait: Duration,
) -> Result<NatClass, NatError> {
    let started = Instant::now();
    if local_port != 0 {
        end_watch(&node, local_port).await;
    }
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, local_port))
        .await
        .map_err(|e| {
            err(format!(
                "binding the NAT probe's UDP socket to port {local_port} in node {node:?}: {e}"
            ))
        })?;
    let local_port = sock.local_addr().map_err(|e| err(e.to_string()))?.port();
    let mut x = Exchange {
        sock,
        answers: HashMap::new(),
        own: Vec::new(),
    };
    let primary = ends[0][0];
    // 1. The positive control: the primary endpoint must answer; how long it took is the
    // round trip the waits are made of.
    let m1 = x.mapped(&node, primary).await?;
    let wait = adaptive_wait(started.elapsed(), wait);
    // 2. Filtering and hairpinning, at once: answers from the other address and port,
    // from the other port, and our own request sent to our external endpoint. The
    // primary endpoint's answer opened nothing for the other address (or, with
    // address-and-port-dependent filtering, for the other port).
    let both = Change {
        ip: true,
        port: true,
    };
    let port = Change {
        ip: false,
        port: true,
    };
    let (from_anyone, from_same_addr, hairpin_id) = (new_id(), new_id(), new_id());
    let hairpin_msg = stun::request(hairpin_id, Change::default());
    let optional = [
        (stun::request(from_anyone, both), SocketAddr::from(primary)),
        (
            stun::request(from_same_addr, port),
            SocketAddr::from(primary),
        ),
        (hairpin_msg, m1),
    ];
    let all_came = |x: &Exchange| {
        x.answers.contains_key(&from_anyone)
            && x.answers.contains_key(&from_same_addr)
            && x.own.contains(&hairpin_id)
    };
    x.exchange_many(&optional, wait, all_came).await;
    // 3. Mapping.
    let m2 = x.mapped(&node, ends[1][0]).await?;
    let mut mapped = vec![(primary.into(), m1), (ends[1][0].into(), m2)];
    let mapping = if m1 == m2 {
        if own.contains(&m1.ip()) && m1.port() == local_port {
            Mapping::NoNat
        } else {
            Mapping::EndpointIndependent
        }
    } else {
        let m3 = x.mapped(&node, ends[1][1]).await?;
        mapped.push((ends[1][1].into(), m3));
        if m3 == m2 {
            Mapping::AddressDependent
        } else {
            Mapping::AddressAndPortDependent
        }
    };
    // Answers that came late, while the mappings were asked for, count: the NAT let them
    // in. So do those already queued on the socket now.
    x.drain();
    let filtering = if x.answers.contains_key(&from_anyone) {
        Filtering::EndpointIndependent
    } else if x.answers.contains_key(&from_same_addr) {
        Filtering::AddressDependent
    } else {
        Filtering::AddressAndPortDependent
    };
    let hairpin = x.own.contains(&hairpin_id);
    let port_allocation = if m1.port() == local_port {
        PortAllocation::Preserving
    } else if mapped.len() == 3
        && mapped
            .windows(2)
            .all(|w| w[1].1.port() == w[0].1.port().wrapping_add(1))
    {
        PortAllocation::Sequential
    } else {
        PortAllocation::Random
    };
    let behaviour = NatBehaviour {
        mapping,
        filtering,
        hairpin,
        port_preservation: m1.port() == local_port,
        port_allocation,
    };
    let took = started.elapsed();
    // Answers that may still come are not lost silently: the socket listens `wait` more
    // in the background and says on stderr which one came after the verdict.
    if !all_came(&x) {
        let watch = LateWatch {
            node: node.clone(),
            sock: x.sock,
            ids: [
                (from_anyone, "the answer from the other address and port"),
                (from_same_addr, "the answer from the other port"),
                (hairpin_id, "the hairpinned request"),
            ],
            wait,
        };
        late_watch(watch, local_port).await;
    }
    Ok(NatClass {
        behaviour,
        node,
        local_port,
        mapped,
        took,
    })
}

/// The shortest wait for an answer that may not come.
const MIN_WAIT: Duration = Duration::from_millis(25);
/// The wait is this many round trips of the positive control.
const RTT_MULTIPLE: u32 = 20;

/// How long to wait for answers that may not come, given the round trip of one that had
/// to: `RTT_MULTIPLE` round trips, at least [`MIN_WAIT`], at most `ceiling`.
fn adaptive_wait(rtt: Duration, ceiling: Duration) -> Duration {
    (rtt * RTT_MULTIPLE)
        .max(MIN_WAIT)
        .min(ceiling.max(MIN_WAIT))
}

/// A finished classification's socket, listening for the answers it did not get.
struct LateWatch {
    node: String,
    sock: UdpSocket,
    ids: [([u8; 12], &'static str); 3],
    wait: Duration,
}

type Watches = std::sync::Mutex<HashMap<(String, u16), JoinHandle<()>>>;

/// The background watches by node and port: a new classification from the same port
/// ends the watch first (and takes its socket's port).
fn watches() -> &'static Watches {
    static W: std::sync::OnceLock<Watches> = std::sync::OnceLock::new();
    W.get_or_init(Default::default)
}

/// Ends the watch of `node`'s `port`, if there is one, and waits for its socket to close.
async fn end_watch(node: &str, port: u16) {
    let handle = watches()
        .lock()
        .map_or(None, |mut w| w.remove(&(node.to_string(), port)));
    if let Some(h) = handle {
        h.abort();
        let _ = h.await;
    }
}

async fn late_watch(w: LateWatch, port: u16) {
    let key = (w.node.clone(), port);
    let task = tokio::spawn(async move {
        let end = Instant::now() + w.wait;
        let mut buf = [0u8; 1500];
        while let Ok(Ok((n, _))) = timeout_at(end, w.sock.recv_from(&mut buf)).await {
            let id = match stun::parse(&buf[..n]) {
                Some(Message::Response { id, .. } | Message::Request { id, .. }) => id,
                None => continue,
            };
            if let Some((_, what)) = w.ids.iter().find(|(i, _)| *i == id) {
                eprintln!(
                    "netns-test: NAT classification of node {:?}: {what} came after the verdict, which is wrong; give it a longer `NatProbe::wait` than {} ms",
                    w.node,
                    w.wait.as_millis()
                );
            }
        }
    });
    if let Ok(mut w) = watches().lock() {
        if let Some(old) = w.insert(key, task) {
            old.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The claims

impl Net {
    /// Classifies the NAT node `node` is behind (see [`NatProbe`]), with the reflector in
    /// the first public node: `net.classify_nat("alice").await?`.
    pub async fn classify_nat(&self, node: &str) -> Result<NatClass, NatError> {
        self.nat_probe(node).classify().await
    }

    /// Classifies the NAT `node` is behind and panics, saying what was measured against
    /// what was declared, unless it is `declared`.
    pub async fn assert_nat(&self, node: &str, declared: NatBehaviour) -> NatClass {
        self.nat_probe(node).assert(declared).await
    }

    /// A classification of the NAT `node` is behind, to set up before it runs: which
    /// node hosts the reflector, the local port, the wait.
    pub fn nat_probe(&self, node: &str) -> NatProbe {
        NatProbe {
            net: self.clone(),
            node: node.to_string(),
            reflector: None,
            local_port: 0,
            wait: NAT_WAIT,
        }
    }
}

/// One classification of the NAT a node is behind (module docs: [`crate::reach`]; the
/// steps: [`NatReflector`]), ended by [`NatProbe::classify`] or [`NatProbe::assert`].
///
/// ```no_run
/// # use netns_test::{netns_test, Net, Topology};
/// use netns_test::reach::{Filtering, Mapping, NatBehaviour};
/// # fn home() -> Topology { Topology::new() }
///
/// #[netns_test(topology = home())]
/// async fn a_home_router_is_port_restricted(net: Net) -> anyhow::Result<()> {
///     let class = net.classify_nat("alice").await?;
///     println!("{class}");
///     let port_restricted =
///         NatBehaviour::new(Mapping::EndpointIndependent, Filtering::AddressAndPortDependent)
///             .port_preservation(true);
///     net.nat_probe("alice").local_port(4000).reflector("server").assert(port_restricted).await;
///     Ok(())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct NatProbe {
    net: Net,
    node: String,
    reflector: Option<String>,
    local_port: u16,
    wait: Duration,
}

impl NatProbe {
    /// Runs the reflector in node `name` (by default: the first node, in declaration
    /// order, that forwards nothing, has an IPv4 address, shares no network with the
    /// probed node and is only on networks of the host (the "internet" of a topology),
    /// not on a LAN inside a router).
    pub fn reflector(mut self, name: &str) -> NatProbe {
        self.reflector = Some(name.to_string());
        self
    }

    /// Binds the probing socket to this UDP port (default `0`: any free port).
    pub fn local_port(mut self, port: u16) -> NatProbe {
        self.local_port = port;
        self
    }

    /// The longest wait for the answers that may not come (the filtering and hairpinning
    /// requests), which is otherwise 20 round trips of the first answer, at least 25 ms;
    /// default [`NAT_WAIT`].
    pub fn wait(mut self, wait: Duration) -> NatProbe {
        self.wait = wait;
        self
    }

    /// Measures the NAT's behaviour.
    pub async fn classify(self) -> Result<NatClass, NatError> {
        let node = self
            .net
            .try_node(&self.node)
            .map_err(|e| err(e.to_string()))?;
        let host = match &self.reflector {
            Some(name) => self.net.try_node(name).map_err(|e| err(e.to_string()))?,
            None => public_node(&self.net, &self.node)?,
        };
        let reflector = NatReflector::start(&host).await?;
        let class = reflector
            .classify_with(&node, self.local_port, self.wait)
            .await;
        reflector.stop().await;
        class
    }

    /// Measures the NAT's behaviour and panics unless it is `declared`, naming each field
    /// that differs, measured against declared, and what the measure was made of.
    pub async fn assert(self, declared: NatBehaviour) -> NatClass {
        let node = self.node.clone();
        let class = match self.classify().await {
            Ok(c) => c,
            Err(e) => panic!("classifying the NAT of node {node:?}: {e}"),
        };
        let diff = class.behaviour.differences(&declared);
        assert!(
            diff.is_empty(),
            "the NAT of node {node:?} is not the one declared:\n  {}\nmeasured: {class}\ndeclared: {declared}",
            diff.join("\n  ")
        );
        class
    }
}

/// The default node for the reflector (see [`NatProbe::reflector`]).
fn public_node(net: &Net, probed: &str) -> Result<Node, NatError> {
    let plan = net.plan();
    let networks = |name: &str| -> Vec<String> {
        plan.nodes
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.ifaces.iter().map(|i| i.network.clone()).collect())
            .unwrap_or_default()
    };
    let mine = networks(probed);
    let held_by_host = |network: &str| {
        plan.bridges
            .iter()
            .any(|b| b.name == network && b.node == 0)
    };
    plan.nodes
        .iter()
        .skip(1)
        .find(|n| {
            n.name != probed
                && !n.forwarding
                && n.net_of.is_none()
                && n.ifaces.iter().any(|i| i.addrs.iter().any(|a| a.addr().is_ipv4()))
                && n.ifaces
                    .iter()
                    .all(|i| held_by_host(&i.network) && !mine.contains(&i.network))
        })
        .and_then(|n| net.try_node(&n.name).ok())
        .ok_or_else(|| {
            err(format!(
                "no public node to run the NAT reflector in for node {probed:?} (one on a network of the host only, sharing none with {probed:?}): name one with `net.nat_probe({probed:?}).reflector(\"server\")`"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EIM: Mapping = Mapping::EndpointIndependent;
    const APDM: Mapping = Mapping::AddressAndPortDependent;
    const EIF: Filtering = Filtering::EndpointIndependent;
    const APDF: Filtering = Filtering::AddressAndPortDependent;

    #[test]
    fn hole_punching_follows_the_classic_rules() {
        let port_restricted = NatBehaviour::new(EIM, APDF);
        let symmetric = NatBehaviour::new(APDM, APDF);
        let full_cone = NatBehaviour::new(EIM, EIF);
        let none = NatBehaviour::new(Mapping::NoNat, EIF);
        let address_dependent = NatBehaviour::new(Mapping::AddressDependent, APDF);
        for (a, b, through) in [
            (port_restricted, port_restricted, true),
            (port_restricted, none, true),
            (symmetric, full_cone, true),
            (symmetric, none, true),
            (symmetric, symmetric, false),
            (symmetric, port_restricted, false),
            (address_dependent, port_restricted, false),
            (
                symmetric,
                NatBehaviour::new(EIM, Filtering::AddressDependent),
                true,
            ),
        ] {
            assert_eq!(a.hole_punching_with(&b), through, "{a} x {b}");
            assert_eq!(b.hole_punching_with(&a), through, "{b} x {a}");
        }
    }

    #[test]
    fn the_wait_is_twenty_round_trips_between_the_floor_and_the_ceiling() {
        let ms = Duration::from_millis;
        assert_eq!(adaptive_wait(Duration::from_micros(200), NAT_WAIT), ms(25));
        assert_eq!(adaptive_wait(ms(3), NAT_WAIT), ms(60));
        assert_eq!(adaptive_wait(ms(30), NAT_WAIT), NAT_WAIT);
        // A ceiling under the floor is the floor.
        assert_eq!(adaptive_wait(ms(1), ms(5)), ms(25));
    }

    #[test]
    fn sequential_ports_are_named_and_compared() {
        let seq = NatBehaviour::new(APDM, APDF).sequential_ports();
        assert_eq!(
            seq.to_string(),
            "address- and port-dependent mapping, address- and port-dependent filtering, no hairpinning, no port preservation, sequential ports"
        );
        assert_eq!(
            NatBehaviour::new(APDM, APDF).differences(&seq),
            ["port allocation: measured random, declared sequential"]
        );
        // Port preservation is named once, not again as an allocation.
        let kept = NatBehaviour::new(EIM, APDF).port_preservation(true);
        assert_eq!(kept.port_allocation, PortAllocation::Preserving);
        assert_eq!(kept.differences(&seq).len(), 2);
    }

    #[test]
    fn differences_name_each_field_measured_against_declared() {
        let measured = NatBehaviour::new(EIM, APDF).port_preservation(true);
        assert!(measured.differences(&measured).is_empty());
        let declared = NatBehaviour::new(APDM, APDF).hairpin(true);
        assert_eq!(
            measured.differences(&declared),
            [
                "mapping: measured endpoint-independent mapping, declared address- and port-dependent mapping",
                "hairpinning: measured no, declared yes",
                "port preservation: measured yes, declared no",
            ]
        );
    }
}
