//! The sandbox's name service: like Docker's embedded DNS at `127.0.0.11`, every node runs
//! a tiny responder that answers, in this order:
//!
//! - the DNS records of the network (A, AAAA, TXT, CNAME; see
//!   [`crate::Topology::dns_record`] and [`crate::Net::dns`]), those of a network the node
//!   is on before the whole network's, read from one store at every query, so a change is
//!   what the next query gets; CNAMEs are followed in the answer;
//! - `A`/`AAAA` for the node names *that node* may know (see
//!   [`crate::topology::Plan::names_for`]), TTL 0;
//! - `PTR` for the addresses of those nodes (`3.0.18.172.in-addr.arpa`, `ip6.arpa`);
//!
//! and `NXDOMAIN` at once for anything else, so lookups of outside names fail fast instead
//! of timing out. Answers over 512 bytes are sent truncated (no EDNS, no TCP). A later step
//! (DNS64, say) goes in `lookup`, which every answer passes through.
//!
//! Node names follow the interfaces on networks: after [`crate::Node::replug`] or
//! [`crate::Node::remove_iface`], the next query gets the addresses the node has there
//! now, and their reverse lookups its name (an interface of its own,
//! [`crate::Node::add_iface`], is on no network and answers no name).
//!
//! The sandbox's `/etc/resolv.conf` points at it and its `/etc/nsswitch.conf` says
//! `hosts: files dns`, so glibc (`getaddrinfo`, `ping`, `curl`), Rust's
//! `ToSocketAddrs` and tokio all resolve through it, each in the node it runs in.
//!
//! # Port 53
//!
//! By default the responder listens on `127.0.0.11:53` (UDP) itself: no nf_tables rule is
//! involved, so a node needs nothing of the kernel's netfilter for names to work. Its
//! socket sets `SO_REUSEADDR` and `SO_REUSEPORT`, which on Linux lets a DNS server under
//! test bind the wildcard `0.0.0.0:53` (or `[::]:53`) next to it **if that server sets
//! either option too** (BIND, dnsmasq and most servers do; `std::net::UdpSocket::bind`
//! does not). Measured on Linux 6.18: with both sockets marked, the bind succeeds, queries
//! to `127.0.0.11:53` reach the responder (the more specific address wins) and queries to
//! every other address of the node reach the server under test; if the server sets
//! neither option, its bind fails with `EADDRINUSE`. (A server that binds `127.0.0.11:53`
//! itself takes the responder's queries over.) TCP port 53 is always free: the responder
//! serves UDP only.
//!
//! A node whose DNS server under test binds port 53 without those options declares it
//! with [`crate::topology::NodeBuilder::keep_port_53_free`]. Only then the responder
//! listens on `127.0.0.11:53053` instead, and an nf_tables rule in that node's namespace
//! (table `inet netns_test_dns`, `ip daddr 127.0.0.11 udp dport 53 dnat ip to
//! 127.0.0.11:53053`, as Docker does) sends the node's queries there, leaving port 53
//! entirely free. That rule needs nf_tables NAT in the kernel (`nft_nat`,
//! `CONFIG_NFT_NAT`); without it the network fails to build, naming the node and the
//! declaration.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use crate::topology::dns_records::{reverse_name, DnsRecords, RecordStore, MAX_CNAME_CHAIN};
pub(crate) use crate::topology::name_service::{ADDR, PORT, REDIRECTED_PORT};
use crate::topology::Plan;

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_PTR: u16 = 12;
const TYPE_TXT: u16 = 16;
const TYPE_AAAA: u16 = 28;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u8 = 1;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;
/// The TTL of node names and of their reverse lookups: never cached, as before records
/// existed.
const NODE_TTL: u32 = 0;
/// Largest answer over UDP without EDNS; a longer one is sent truncated (TC).
const MAX_UDP: usize = 512;

/// The node names one view knows, lower-cased, with their addresses, and the reverse
/// lookups of those addresses (`3.0.18.172.in-addr.arpa` -> `con2`), made when the
/// network is built and made again when an interface changes network (see
/// [`NameService::renew`]). Nodes with the same view share one (see `Plan::names_view`).
#[derive(Debug, Default)]
pub(crate) struct Zone {
    names: BTreeMap<String, Vec<IpAddr>>,
    reverse: HashMap<String, Vec<String>>,
}

impl Zone {
    /// The zone of node names `names`; an address several nodes hold (nodes sharing a
    /// namespace) answers each name, `owners` (the namespace's own node) first.
    pub(crate) fn new(names: BTreeMap<String, Vec<IpAddr>>, owners: &[String]) -> Zone {
        let mut reverse: HashMap<String, Vec<String>> = HashMap::new();
        for (name, addrs) in &names {
            for ip in addrs {
                reverse
                    .entry(reverse_name(*ip))
                    .or_default()
                    .push(name.clone());
            }
        }
        for list in reverse.values_mut() {
            list.sort_by_key(|n| !owners.contains(n));
        }
        Zone { names, reverse }
    }
}

/// The node names one namespace's name service answers, and the networks it is on (for
/// their records): replaced whole when an interface changes network.
#[derive(Debug)]
pub(crate) struct Names {
    zone: Arc<Zone>,
    networks: Vec<String>,
}

/// The name services of a network: the record store they all read, which `Net::dns`
/// changes, and the names each namespace answers, which [`NameService::renew`] replaces.
#[derive(Debug)]
pub(crate) struct NameService {
    pub records: Arc<RwLock<RecordStore>>,
    /// By node index; `None` for a node that shares another's namespace.
    names: Vec<Option<Arc<RwLock<Arc<Names>>>>>,
}

impl NameService {
    /// The name services of `plan`'s network, with the topology's records.
    pub(crate) fn new(plan: &Plan) -> NameService {
        let slot = |n: Names| Arc::new(RwLock::new(Arc::new(n)));
        NameService {
            records: Arc::new(RwLock::new(plan.dns.clone())),
            names: names(plan).into_iter().map(|n| n.map(slot)).collect(),
        }
    }

    /// What the name service of node `i` answers from (`None` for a node that shares
    /// another's namespace).
    pub(crate) fn view(&self, i: usize, dns64: Option<ipnet::Ipv6Net>) -> Option<View> {
        Some(View {
            names: self.names[i].clone()?,
            records: self.records.clone(),
            dns64,
        })
    }

    /// Answers node names from `now` from the next query on: the plan with every node's
    /// interfaces as they are now (after `Node::replug`, `Node::remove_iface`).
    pub(crate) fn renew(&self, now: &Plan) {
        for (slot, names) in self.names.iter().zip(names(now)) {
            if let (Some(slot), Some(names)) = (slot, names) {
                *slot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(names);
            }
        }
    }
}

/// The names each namespace of `plan` answers (see [`Plan::names_for`]): one zone per
/// view, shared by the namespaces that have it.
fn names(plan: &Plan) -> Vec<Option<Names>> {
    let owners: Vec<String> = plan
        .nodes
        .iter()
        .filter(|n| n.net_of.is_none())
        .map(|n| n.name.to_ascii_lowercase())
        .collect();
    let mut zones = HashMap::new();
    let mut out = Vec::new();
    for (i, node) in plan.nodes.iter().enumerate() {
        if node.net_of.is_some() {
            out.push(None);
            continue;
        }
        let zone = |i| Arc::new(Zone::new(plan.names_for(i), &owners));
        let zone = match plan.names_view(i) {
            Some(view) => zones.entry(view).or_insert_with(|| zone(i)).clone(),
            None => zone(i),
        };
        let mut networks: Vec<String> = node.ifaces.iter().map(|f| f.network.clone()).collect();
        networks.dedup();
        out.push(Some(Names { zone, networks }));
    }
    out
}

/// What one node's name service answers from: the names of its namespace and the
/// network's record store.
#[derive(Clone, Debug)]
pub(crate) struct View {
    names: Arc<RwLock<Arc<Names>>>,
    records: Arc<RwLock<RecordStore>>,
    /// The NAT64 prefix this view synthesizes AAAA records in (DNS64), if any.
    pub dns64: Option<ipnet::Ipv6Net>,
}

/// What a name is, for one view.
enum Found<'a> {
    Records(&'a DnsRecords),
    Node(&'a [IpAddr]),
    Reverse(&'a [String]),
}

/// One resource record of an answer.
struct Rr {
    owner: String,
    ttl: u32,
    data: Data,
}

enum Data {
    Ip(IpAddr),
    Txt(String),
    Cname(String),
    Ptr(String),
}

impl Data {
    fn qtype(&self) -> u16 {
        match self {
            Data::Ip(IpAddr::V4(_)) => TYPE_A,
            Data::Ip(IpAddr::V6(_)) => TYPE_AAAA,
            Data::Txt(_) => TYPE_TXT,
            Data::Cname(_) => TYPE_CNAME,
            Data::Ptr(_) => TYPE_PTR,
        }
    }
}

/// A name as it is in a view: the network's records first (a network's before the whole
/// network's), then node names, then reverse lookups of node addresses.
fn find<'a>(names: &'a Names, store: &'a RecordStore, name: &str) -> Option<Found<'a>> {
    if let Some(r) = store.lookup(&names.networks, name) {
        return Some(Found::Records(r));
    }
    if let Some(addrs) = names.zone.names.get(name) {
        return Some(Found::Node(addrs));
    }
    names.zone.reverse.get(name).map(|n| Found::Reverse(n))
}

/// The records answering `qtype` for `name` in `view`, CNAMEs followed, and the rcode.
fn lookup(view: &View, name: &str, qtype: u16) -> (Vec<Rr>, u8) {
    let store = view.records.read().unwrap_or_else(|e| e.into_inner());
    let names = view.names.read().unwrap_or_else(|e| e.into_inner()).clone();
    let mut out = Vec::new();
    let mut owner = name.to_string();
    for _ in 0..MAX_CNAME_CHAIN {
        let data: Vec<(u32, Data)> = match find(&names, &store, &owner) {
            None => return (out, RCODE_NXDOMAIN),
            Some(Found::Records(r)) => {
                if let Some(target) = &r.cname {
                    out.push(Rr {
                        owner: std::mem::replace(&mut owner, target.clone()),
                        ttl: r.ttl,
                        data: Data::Cname(target.clone()),
                    });
                    if qtype == TYPE_CNAME {
                        return (out, 0);
                    }
                    continue;
                }
                r.addrs
                    .iter()
                    .map(|ip| (r.ttl, Data::Ip(*ip)))
                    .chain(r.txt.iter().map(|t| (r.ttl, Data::Txt(t.clone()))))
                    .collect()
            }
            Some(Found::Node(addrs)) => addrs.iter().map(|ip| (NODE_TTL, Data::Ip(*ip))).collect(),
            Some(Found::Reverse(names)) => names
                .iter()
                .map(|n| (NODE_TTL, Data::Ptr(n.clone())))
                .collect(),
        };
        out.extend(
            dns64(view.dns64, data)
                .into_iter()
                .filter(|(_, d)| qtype == TYPE_ANY || d.qtype() == qtype)
                .map(|(ttl, data)| Rr {
                    owner: owner.clone(),
                    ttl,
                    data,
                }),
        );
        return (out, 0);
    }
    (out, RCODE_SERVFAIL) // a chain too long, or a loop
}

/// A name in wire format, uncompressed.
fn put_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// Reads the question's name from a query: labels from offset 12; returns the name and
/// the offset just past the name.
fn qname(msg: &[u8]) -> Option<(String, usize)> {
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return None; // no compression in questions
        }
        let label = msg.get(pos..pos + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += len;
    }
    Some((labels.join("."), pos))
}

/// The answer to one query (`None` for something that is not a query at all).
pub(crate) fn answer(view: &View, query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None; // too short, or a response
    }
    let qdcount = u16::from_be_bytes([query[4], query[5]]);
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&query[..2]); // id
    let rd = query[2] & 0x01;
    let parsed = (qdcount == 1).then(|| qname(query)).flatten();
    let Some((name, end)) = parsed.filter(|(_, end)| query.len() >= end + 4) else {
        out.extend_from_slice(&[0x80 | rd, RCODE_FORMERR, 0, 0, 0, 0, 0, 0, 0, 0]);
        return Some(out);
    };
    let qtype = u16::from_be_bytes([query[end], query[end + 1]]);
    let qclass = u16::from_be_bytes([query[end + 2], query[end + 3]]);
    let name = name.trim_end_matches('.');
    let (answers, rcode) = match qclass {
        CLASS_IN => lookup(view, name, qtype),
        _ => (Vec::new(), RCODE_NXDOMAIN),
    };
    // Authoritative answer; recursion "available" so resolvers do not complain.
    out.extend_from_slice(&[0x84 | rd, 0x80 | rcode]);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..end + 4]);
    for rr in &answers {
        if rr.owner == name {
            out.extend_from_slice(&[0xc0, 12]); // pointer to the question's name
        } else {
            put_name(&mut out, &rr.owner);
        }
        let mut data = Vec::new();
        match &rr.data {
            Data::Ip(IpAddr::V4(v4)) => data.extend_from_slice(&v4.octets()),
            Data::Ip(IpAddr::V6(v6)) => data.extend_from_slice(&v6.octets()),
            Data::Txt(text) => {
                // Character strings of at most 255 bytes; an empty text is one empty string.
                let bytes = text.as_bytes();
                for chunk in bytes.chunks(255) {
                    data.push(chunk.len() as u8);
                    data.extend_from_slice(chunk);
                }
                if bytes.is_empty() {
                    data.push(0);
                }
            }
            Data::Cname(target) | Data::Ptr(target) => put_name(&mut data, target),
        }
        out.extend_from_slice(&rr.data.qtype().to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&rr.ttl.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    if out.len() > MAX_UDP {
        // Truncated: the header and question only, with TC set.
        out.truncate(end + 4);
        out[2] |= 0x02;
        out[6..8].copy_from_slice(&0u16.to_be_bytes());
    }
    Some(out)
}

/// DNS64 (RFC 6147) for a view with a NAT64 `prefix` (a /96): the answers of a name that
/// has IPv4 addresses and no IPv6 one also get each IPv4 address embedded in the prefix
/// as an AAAA record, with the same TTL; a name with an IPv6 address of its own keeps
/// exactly what it had. What `dnsmasq --dns64`-style synthesis (or unbound's
/// `dns64-prefix`) answers. Records set at run time are synthesized as node names are.
fn dns64(prefix: Option<ipnet::Ipv6Net>, mut data: Vec<(u32, Data)>) -> Vec<(u32, Data)> {
    let Some(prefix) = prefix else {
        return data;
    };
    if data
        .iter()
        .any(|(_, d)| matches!(d, Data::Ip(IpAddr::V6(_))))
    {
        return data;
    }
    let synthesized: Vec<(u32, Data)> = data
        .iter()
        .filter_map(|(ttl, d)| match d {
            Data::Ip(IpAddr::V4(v4)) => Some((
                *ttl,
                Data::Ip(IpAddr::V6(crate::topology::nat64::embed(prefix, *v4))),
            )),
            _ => None,
        })
        .collect();
    data.extend(synthesized);
    data
}

/// Binds the responder's socket in the calling thread's netns (its `lo` must be up): on
/// `ADDR:53`, or on `ADDR:53053` if the node keeps port 53 free. `SO_REUSEADDR` and
/// `SO_REUSEPORT` let a DNS server under test that sets either bind the wildcard address
/// on the same port (see the module's docs).
pub(crate) fn bind(keep_port_53_free: bool) -> std::io::Result<std::net::UdpSocket> {
    let port = if keep_port_53_free {
        REDIRECTED_PORT
    } else {
        PORT
    };
    let sock = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&SocketAddr::new(IpAddr::V4(ADDR), port).into())
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("binding the name service to {ADDR}:{port}: {e}"),
            )
        })?;
    Ok(sock.into())
}

/// Answers queries on `sock` forever, from `view`.
pub(crate) async fn serve(sock: std::net::UdpSocket, view: View) {
    let Ok(sock) = tokio::net::UdpSocket::from_std(sock) else {
        return;
    };
    let mut buf = [0u8; 512];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = answer(&view, &buf[..n]) {
            let _ = sock.send_to(&reply, peer).await;
        }
    }
}

#[cfg(test)]
// `#[netns_test]` registers each test in a `#[link_section]` static (linkme), which the
// crate's `deny(unsafe_code)` sees in the crate's own tests only (not in a user's crate).
#[allow(unsafe_code)]
mod tests {
    use super::*;
    use crate::topology::name_service::redirect_error;
    use crate::Error;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    fn zone() -> View {
        let names = BTreeMap::from([(
            "con2".to_string(),
            vec!["172.18.0.3".parse().unwrap(), "fd00::3".parse().unwrap()],
        )]);
        let names = Names {
            zone: Arc::new(Zone::new(names, &[])),
            networks: Vec::new(),
        };
        View {
            names: Arc::new(RwLock::new(Arc::new(names))),
            records: Default::default(),
            dns64: None,
        }
    }

    #[test]
    fn answers_a_with_the_address() {
        let r = answer(&zone(), &query("CON2", TYPE_A)).unwrap();
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[3] & 0x0f, 0, "no error");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        assert_eq!(&r[r.len() - 4..], &[172, 18, 0, 3]);
    }

    #[test]
    fn answers_aaaa_separately() {
        let r = answer(&zone(), &query("con2", TYPE_AAAA)).unwrap();
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        assert_eq!(
            &r[r.len() - 16..],
            &"fd00::3".parse::<std::net::Ipv6Addr>().unwrap().octets()
        );
    }

    #[test]
    fn dns64_synthesizes_aaaa_for_records_set_at_run_time_and_only_for_ipv4_only_names() {
        let mut view = zone();
        view.dns64 = Some("64:ff9b::/96".parse().unwrap());
        let aaaa = |view: &View, name: &str| {
            let r = answer(view, &query(name, TYPE_AAAA)).unwrap();
            (u16::from_be_bytes([r[6], r[7]]), r[r.len() - 16..].to_vec())
        };
        // Set after the view was made, as `net.dns().set(..)` does.
        view.records.write().unwrap().set(
            None,
            "relay.test".to_string(),
            DnsRecords::new().a("192.0.2.7"),
        );
        let synthesized: std::net::Ipv6Addr = "64:ff9b::c000:207".parse().unwrap();
        assert_eq!(
            aaaa(&view, "relay.test"),
            (1, synthesized.octets().to_vec())
        );
        // A name with an IPv6 address of its own keeps exactly it.
        let own: std::net::Ipv6Addr = "fd00::3".parse().unwrap();
        assert_eq!(aaaa(&view, "con2"), (1, own.octets().to_vec()));
        // Without the prefix, nothing is synthesized.
        view.dns64 = None;
        assert_eq!(aaaa(&view, "relay.test").0, 0);
    }

    #[test]
    fn unknown_names_are_nxdomain_at_once() {
        let r = answer(&zone(), &query("con3", TYPE_A)).unwrap();
        assert_eq!(r[3] & 0x0f, RCODE_NXDOMAIN);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);
    }

    #[test]
    fn an_answer_over_512_bytes_is_truncated() {
        let view = zone();
        let long = DnsRecords::new().txt(&"x".repeat(600));
        view.records
            .write()
            .unwrap()
            .set(None, "long.test".into(), long);
        let r = answer(&view, &query("long.test", TYPE_TXT)).unwrap();
        assert_eq!(r[2] & 0x02, 0x02, "TC set");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0, "no answers");
        assert_eq!(
            r.len(),
            query("long.test", TYPE_TXT).len(),
            "header and question"
        );
        // Control: a short one fits.
        let short = DnsRecords::new().txt("v=1");
        view.records
            .write()
            .unwrap()
            .set(None, "long.test".into(), short);
        let r = answer(&view, &query("long.test", TYPE_TXT)).unwrap();
        assert_eq!((r[2] & 0x02, u16::from_be_bytes([r[6], r[7]])), (0, 1));
    }

    #[test]
    fn reverse_lookups_answer_the_node_that_owns_the_namespace_first() {
        let names = BTreeMap::from([
            ("app".to_string(), vec!["10.0.0.2".parse().unwrap()]),
            ("sidecar".to_string(), vec!["10.0.0.2".parse().unwrap()]),
        ]);
        let zone = Zone::new(names, &["sidecar".to_string()]);
        assert_eq!(zone.reverse["2.0.0.10.in-addr.arpa"], ["sidecar", "app"]);
    }

    #[test]
    fn garbage_is_a_format_error_not_a_crash() {
        let r = answer(&zone(), &[0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63]).unwrap();
        assert_eq!(r[3] & 0x0f, RCODE_FORMERR);
        assert!(answer(&zone(), &[1, 2, 3]).is_none());
    }

    #[test]
    fn a_refused_redirect_names_the_node_the_declaration_and_the_module() {
        let refused = Error::Nft {
            what: "nf_tables (table inet netns_test_dns): adding chain nat_prerouting".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
            detail: String::new(),
        };
        let text = redirect_error("dns", "dns", refused).to_string();
        for part in [
            "node \"dns\" declares keep_port_53_free()",
            "nft_nat",
            "CONFIG_NFT_NAT",
            "modprobe nft_nat",
            "SO_REUSEADDR",
            "adding chain nat_prerouting: No such file or directory",
        ] {
            assert!(text.contains(part), "no {part:?} in: {text}");
        }
        let refused = Error::Nft {
            what: "x".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
            detail: String::new(),
        };
        let text = redirect_error("app", "sidecar", refused).to_string();
        assert!(
            text.contains("node \"sidecar\", which shares the network namespace of node \"app\", declares keep_port_53_free()"),
            "{text}"
        );
    }

    /// Nodes `a` (default) and `b` (keeps port 53 free), on one link.
    fn two_nodes() -> crate::Topology {
        crate::Topology::new()
            .node("a", |n| n)
            .node("b", |n| n.keep_port_53_free())
            .link("a", "b", "10.53.0.0/30")
    }

    /// A DNS server under test: a UDP socket on `addr`, with the options given.
    fn server(addr: &str, reuse_addr: bool, reuse_port: bool) -> std::io::Result<socket2::Socket> {
        let addr: SocketAddr = addr.parse().expect("address");
        let s = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::DGRAM,
            None,
        )?;
        s.set_reuse_address(reuse_addr)?;
        s.set_reuse_port(reuse_port)?;
        s.bind(&addr.into())?;
        Ok(s)
    }

    /// What `name` resolves to in the calling thread's node, through `getaddrinfo`.
    fn resolve(name: &str) -> Vec<IpAddr> {
        use std::net::ToSocketAddrs;
        (name, 0)
            .to_socket_addrs()
            .unwrap_or_else(|e| panic!("resolving {name}: {e}"))
            .map(|a| a.ip())
            .collect()
    }

    /// Whether `s` receives a datagram sent to `to` from the calling thread's node within
    /// `ms` milliseconds.
    fn receives(s: &socket2::Socket, to: &str, ms: u64) -> bool {
        s.set_read_timeout(Some(std::time::Duration::from_millis(ms)))
            .expect("timeout");
        let c = std::net::UdpSocket::bind("0.0.0.0:0").expect("client");
        c.send_to(b"query", to).expect("send");
        let mut buf = [std::mem::MaybeUninit::new(0u8); 16];
        s.recv(&mut buf).is_ok_and(|n| n == 5)
    }

    /// Linux UDP: a server that sets SO_REUSEADDR or SO_REUSEPORT binds the wildcard port
    /// 53 next to the name service on 127.0.0.11:53, gets the queries to the node's other
    /// addresses, and names still resolve; one that sets neither cannot bind it, unless the
    /// node keeps port 53 free.
    #[crate::netns_test(crate = "crate", topology = two_nodes(), timeout = "20s")]
    fn a_dns_server_that_sets_reuse_options_binds_port_53_next_to_the_name_service(
        net: crate::Net,
    ) {
        {
            let a = net.node("a");
            a.run_blocking(|| {
                let peer: IpAddr = "10.53.0.2".parse().unwrap();
                assert_eq!(resolve("b"), [peer], "names resolve before");
                // Neither option: port 53 is taken by the name service.
                let plain = std::net::UdpSocket::bind("0.0.0.0:53")
                    .expect_err("the name service holds 127.0.0.11:53");
                assert_eq!(plain.kind(), std::io::ErrorKind::AddrInUse, "{plain}");
                for (what, addr, reuse_addr, reuse_port) in [
                    ("SO_REUSEADDR", "0.0.0.0:53", true, false),
                    ("SO_REUSEPORT", "0.0.0.0:53", false, true),
                    ("SO_REUSEADDR, IPv6 wildcard", "[::]:53", true, false),
                ] {
                    let s = server(addr, reuse_addr, reuse_port)
                        .unwrap_or_else(|e| panic!("{what}: binding {addr}: {e}"));
                    assert!(receives(&s, "10.53.0.1:53", 2000), "{what}: its query");
                    assert!(receives(&s, "127.0.0.1:53", 2000), "{what}: its query");
                    assert_eq!(resolve("b"), [peer], "{what}: names resolve next to it");
                    // What goes to 127.0.0.11 stays the name service's.
                    assert!(!receives(&s, "127.0.0.11:53", 200), "{what}: took a query");
                }
            });
            // Kept free: even a plain bind works, and names resolve through the redirect.
            net.node("b").run_blocking(|| {
                let s = std::net::UdpSocket::bind("0.0.0.0:53").expect("port 53 is free");
                assert_eq!(resolve("a"), ["10.53.0.1".parse::<IpAddr>().unwrap()]);
                drop(s);
            });
        }
    }
}
