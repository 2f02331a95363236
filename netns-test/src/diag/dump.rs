//! The text file of each node (`<node>.txt`): what the kernel had in the node's netns at the
//! failure, as `ip`, `bridge`, `sysctl`, `nft` and `conntrack` show it.
//!
//! Reading and rendering are kept apart. The `read_*` functions ask the kernel (rtnetlink
//! dumps, `/proc/sys`, and the `nft` layer's listings) and return plain data, with no text;
//! they live in the netlink layer (`kernel/dump.rs`). The `render_*` functions turn that data into the text
//! of the file and ask the kernel nothing. [`node_report`] runs the first, then the second.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;

use super::capture::Ring;
use crate::kernel::dump::*;
use crate::kernel::sockets::{read_sockets, SocketEntry};
use crate::kernel::RouteEntry;
use crate::net::Node;
use crate::nft::conntrack;
use crate::sys;

/// What the kernel had in one node at the failure: read once, rendered as `<node>.txt` and
/// in `report.html`.
pub(super) struct NodeState {
    pub(super) name: String,
    pub(super) netlink: io::Result<NetlinkState>,
    pub(super) netns: io::Result<NetnsState>,
    pub(super) sockets: io::Result<Vec<SocketEntry>>,
}

/// Reads the state of `node` (a netlink socket of its own on `rt`, then its netns);
/// `owners` maps socket inodes to the processes holding them.
pub(super) fn read_node(
    node: &Node,
    owners: &HashMap<u32, Vec<String>>,
    rt: &tokio::runtime::Runtime,
) -> NodeState {
    let netlink = read_netlink_in(node, rt);
    let netns = sys::in_netns(node.netns(), read_netns_state);
    let sockets = sys::in_netns(node.netns(), || read_sockets(owners)).and_then(|r| r);
    NodeState {
        name: node.name().to_string(),
        netlink,
        netns,
        sockets,
    }
}

/// The text file of one node: its netlink state, its sysctls, nftables ruleset,
/// conntrack table and sockets, and what the capture kept of its links.
pub(super) fn node_report(state: &NodeState, rings: &[Ring]) -> String {
    let mut out = format!("node {}\n", state.name);
    match &state.netlink {
        Ok(state) => out.push_str(&render_netlink(state)),
        Err(e) => {
            let _ = writeln!(out, "\n(no netlink socket in this node: {e})");
        }
    }
    match &state.netns {
        Ok(state) => out.push_str(&render_netns_state(state)),
        Err(e) => {
            let _ = writeln!(out, "\n(could not enter the node's netns: {e})");
        }
    }
    out.push_str("\n-- sockets (ss -tunap)\n");
    out.push_str(&indent(&render_sockets(&state.sockets)));
    out.push_str(&render_capture(&state.name, rings));
    out
}

// ---------------------------------------------------------------------------------------
// Reading: through `kernel::dump`, on a socket of the diagnostics' own.

/// [`read_netlink`] over a fresh rtnetlink socket in the node's netns, on `rt` (a runtime
/// of the diagnostics' own: the test's runtimes may be stuck).
fn read_netlink_in(node: &Node, rt: &tokio::runtime::Runtime) -> io::Result<NetlinkState> {
    let conn = {
        let _enter = rt.enter();
        sys::in_netns(node.netns(), rtnetlink::new_connection)
    };
    let (conn, handle, _) = conn??;
    rt.spawn(conn);
    Ok(rt.block_on(read_netlink(&handle)))
}

// ---------------------------------------------------------------------------------------
// Rendering: the data above as the text of `<node>.txt`.

/// Links, addresses, routes, neighbours and the bridge FDB, as `ip` and `bridge` show them.
fn render_netlink(s: &NetlinkState) -> String {
    let names: HashMap<u32, String> = s
        .links
        .iter()
        .flatten()
        .map(|l| (l.index, l.name.clone().unwrap_or_else(|| "?".to_string())))
        .collect();
    let name = |i: u32| names.get(&i).cloned().unwrap_or_else(|| format!("if{i}"));
    let mut out = String::new();
    section(
        &mut out,
        "links (ip link)",
        "links",
        &s.links,
        |out, links| {
            for l in links {
                out.push_str(&render_link(l, &names));
            }
        },
    );
    section(
        &mut out,
        "addresses (ip addr)",
        "addresses",
        &s.addresses,
        |out, addrs| {
            for a in addrs {
                let _ = writeln!(out, "  {:<12} {}/{}", name(a.index), a.ip, a.prefix_len);
            }
        },
    );
    let title = "routes (ip route; ip -6 route; main table)";
    section(&mut out, title, "routes", &s.routes, |out, routes| {
        render_routes(out, routes, &name)
    });
    section(
        &mut out,
        "neighbours (ip neigh)",
        "neighbours",
        &s.neighbours,
        |out, neigh| render_neighbours(out, neigh, &name),
    );
    if let Some(fdb) = &s.fdb {
        let title = "bridge forwarding database (bridge fdb; learned unicast entries)";
        section(&mut out, title, "the FDB", fdb, |out, fdb| {
            render_fdb(out, fdb, &name)
        });
    }
    out
}

/// A section of `<node>.txt` headed `title`: what `body` writes of the listing, or why
/// `what` could not be listed.
fn section<T, E: std::fmt::Display>(
    out: &mut String,
    title: &str,
    what: &str,
    listing: &Result<T, E>,
    body: impl FnOnce(&mut String, &T),
) {
    let _ = write!(out, "\n-- {title}\n");
    match listing {
        Ok(v) => body(out, v),
        Err(e) => {
            let _ = writeln!(out, "  (could not list {what}: {e})");
        }
    }
}

/// Routes as `ip route` shows them.
pub(super) fn render_routes(out: &mut String, routes: &[RouteEntry], name: &dyn Fn(u32) -> String) {
    for r in routes {
        let dest = if r.dest.prefix_len() == 0 {
            "default".to_string()
        } else {
            r.dest.to_string()
        };
        let _ = write!(out, "  {dest}");
        if let Some(via) = r.via {
            let _ = write!(out, " via {via}");
        }
        if let Some(dev) = r.dev {
            let _ = write!(out, " dev {}", name(dev));
        }
        out.push('\n');
    }
}

/// Neighbours as `ip neigh` shows them, without multicast ones.
fn render_neighbours(out: &mut String, neigh: &[NeighState], name: &dyn Fn(u32) -> String) {
    let mut any = false;
    for n in neigh.iter().filter(|n| !n.ip.is_multicast()) {
        any = true;
        let _ = write!(out, "  {} dev {}", n.ip, name(n.ifindex));
        if let Some(ll) = &n.lladdr {
            let _ = write!(out, " lladdr {}", mac(ll));
        }
        let _ = writeln!(out, " {}", n.state.to_uppercase());
    }
    if !any {
        out.push_str("  (none)\n");
    }
}

/// The learned unicast entries of a bridge's FDB, as `bridge fdb` shows them.
fn render_fdb(out: &mut String, fdb: &[FdbEntry], name: &dyn Fn(u32) -> String) {
    let mut any = false;
    let learned = fdb
        .iter()
        .filter(|e| !e.permanent && e.mac.first().is_none_or(|b| b & 1 == 0));
    for e in learned {
        any = true;
        let _ = write!(out, "  {} port {}", mac(&e.mac), name(e.port));
        if let Some(m) = e.master {
            let _ = write!(out, " master {}", name(m));
        }
        out.push('\n');
    }
    if !any {
        out.push_str("  (none learned)\n");
    }
}

/// One line of `ip -s link` (two with the counters).
fn render_link(l: &LinkState, names: &HashMap<u32, String>) -> String {
    let mut s = format!("  {}: ", l.index);
    let _ = write!(s, "{:<12}", l.name.as_deref().unwrap_or("?"));
    if let Some(kind) = l.kind.as_deref().filter(|k| !k.is_empty()) {
        let _ = write!(s, " {kind:<6}");
    }
    let admin = if l.up { "up" } else { "DOWN" };
    let _ = write!(
        s,
        " admin {admin} oper {}",
        l.oper.as_deref().unwrap_or("?")
    );
    if let Some(m) = l.mtu {
        let _ = write!(s, " mtu {m}");
    }
    if let Some(a) = &l.mac {
        let _ = write!(s, " mac {}", mac(a));
    }
    if let Some(m) = l.master {
        let _ = write!(
            s,
            " master {}",
            names.get(&m).cloned().unwrap_or_else(|| format!("if{m}"))
        );
    }
    if let Some(p) = l.peer.filter(|&p| p != l.index) {
        let _ = write!(s, " peer-ifindex {p}");
    }
    if let Some(st) = l.stats {
        let _ = write!(
            s,
            "\n      rx {} pkts {} bytes {} dropped {} errors; tx {} pkts {} bytes {} dropped {} errors",
            st.rx_packets,
            st.rx_bytes,
            st.rx_dropped,
            st.rx_errors,
            st.tx_packets,
            st.tx_bytes,
            st.tx_dropped,
            st.tx_errors
        );
    }
    s.push('\n');
    s
}

/// The sysctls, `nft list ruleset` and `conntrack -L`.
fn render_netns_state(state: &NetnsState) -> String {
    let mut s = String::from("\n-- sysctls\n");
    for (key, value) in &state.sysctls {
        let value = match value {
            Ok(v) => v.trim().replace('\t', " "),
            Err(e) if e.kind() == io::ErrorKind::NotFound => "(absent)".to_string(),
            Err(e) => format!("(unreadable: {e})"),
        };
        let _ = writeln!(s, "  {} = {value}", key.replace('/', "."));
    }
    s.push_str("\n-- nftables (nft list ruleset)\n");
    s.push_str(&indent(&render_ruleset(&state.ruleset)));
    s.push_str("\n-- conntrack (conntrack -L)\n");
    s.push_str(&indent(&render_conntrack(&state.conntrack)));
    s
}

/// The sockets as `ss -tunap` lists them: protocol, state, queues, addresses, owners.
pub(super) fn render_sockets(sockets: &io::Result<Vec<SocketEntry>>) -> String {
    let list = match sockets {
        Ok(list) if list.is_empty() => return "(no TCP or UDP sockets)".to_string(),
        Ok(list) => list,
        Err(e) => return format!("(could not list the sockets: {e})"),
    };
    let mut out = String::new();
    for s in list {
        let _ = write!(
            out,
            "{:<4} {:<10} {:>6} {:>6} {:<24} {:<24}",
            s.proto,
            s.state,
            s.recv_q,
            s.send_q,
            s.local.to_string(),
            s.peer.to_string()
        );
        if !s.owners.is_empty() {
            let _ = write!(out, " {}", s.owners.join(","));
        }
        out.push('\n');
    }
    out
}

pub(super) fn render_ruleset(ruleset: &crate::Result<String>) -> String {
    match ruleset {
        Ok(s) if s.trim().is_empty() => "(no tables)".to_string(),
        Ok(s) => s.clone(),
        Err(e) => format!("(could not list the ruleset: {e})"),
    }
}

pub(super) fn render_conntrack(entries: &crate::Result<Vec<conntrack::Entry>>) -> String {
    match entries {
        Ok(entries) if entries.is_empty() => "(no entries)".to_string(),
        Ok(entries) => entries.iter().map(|e| format!("{e}\n")).collect(),
        Err(e) => format!("(could not list the conntrack table: {e})"),
    }
}

/// What the capture kept of the links of node `node`, one line per end in it.
fn render_capture(node: &str, rings: &[Ring]) -> String {
    let mut out = String::new();
    let mine: Vec<(&str, &Ring)> = rings
        .iter()
        .flat_map(|r| {
            r.at.iter()
                .filter(|(n, _)| n == node)
                .map(move |(_, iface)| (iface.as_str(), r))
        })
        .collect();
    if !mine.is_empty() {
        out.push_str("\n-- capture (the last packets of each link)\n");
        for (iface, r) in mine {
            let _ = write!(
                out,
                "  {iface}: {} packets in {} (link {})",
                r.packets.len(),
                r.file_name(),
                r.ends
            );
            if r.evicted > 0 {
                let _ = write!(out, " ({} older ones dropped from the ring)", r.evicted);
            }
            if let Some(e) = &r.error {
                let _ = write!(out, " [{e}]");
            }
            out.push('\n');
        }
    }
    out
}

fn indent(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let _ = writeln!(out, "  {line}");
    }
    if out.is_empty() {
        out.push_str("  (empty)\n");
    }
    out
}

fn mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::RouteEntry;

    fn link(index: u32, name: &str, kind: Option<&str>) -> LinkState {
        LinkState {
            index,
            name: Some(name.to_string()),
            kind: kind.map(str::to_string),
            up: true,
            oper: Some("UP".to_string()),
            mtu: Some(1500),
            mac: Some(vec![2, 0x42, 10, 0, 0, index as u8]),
            ..LinkState::default()
        }
    }

    /// The text is made from the data alone, as `ip` and `bridge` would print it: names
    /// for ifindexes, multicast neighbours and permanent or multicast FDB entries left out.
    #[test]
    fn netlink_state_renders_as_ip_and_bridge_show_it() {
        let mut port = link(4, "a-eth0", Some("veth"));
        port.master = Some(2);
        port.peer = Some(3);
        port.stats = Some(LinkStats {
            rx_packets: 7,
            rx_bytes: 507,
            tx_packets: 12,
            tx_bytes: 884,
            ..LinkStats::default()
        });
        let mut down = link(9, "x", None);
        down.up = false;
        down.peer = Some(9);
        let state = NetlinkState {
            links: Ok(vec![link(2, "br0", Some("bridge")), port, down]),
            addresses: Ok(vec![AddrState {
                index: 2,
                ip: "10.0.0.1".parse().unwrap(),
                prefix_len: 24,
            }]),
            routes: Ok(vec![
                RouteEntry {
                    dest: "0.0.0.0/0".parse().unwrap(),
                    via: Some("10.0.0.254".parse().unwrap()),
                    dev: Some(2),
                },
                RouteEntry {
                    dest: "10.0.0.0/24".parse().unwrap(),
                    via: None,
                    dev: Some(7),
                },
            ]),
            neighbours: Ok(vec![
                NeighState {
                    ip: "10.0.0.2".parse().unwrap(),
                    ifindex: 2,
                    lladdr: Some(vec![2, 0x42, 10, 0, 0, 2]),
                    state: "Reachable".to_string(),
                },
                NeighState {
                    ip: "ff02::1".parse().unwrap(),
                    ifindex: 2,
                    lladdr: None,
                    state: "Noarp".to_string(),
                },
            ]),
            fdb: Some(Ok(vec![
                FdbEntry {
                    mac: vec![2, 0x42, 10, 0, 0, 2],
                    port: 4,
                    master: Some(2),
                    permanent: false,
                },
                FdbEntry {
                    mac: vec![0x33, 0x33, 0, 0, 0, 1],
                    port: 4,
                    master: Some(2),
                    permanent: false,
                },
                FdbEntry {
                    mac: vec![2, 0x42, 10, 0, 0, 4],
                    port: 4,
                    master: None,
                    permanent: true,
                },
            ])),
        };
        assert_eq!(
            render_netlink(&state),
            "\n-- links (ip link)\n\
             \x20 2: br0          bridge admin up oper UP mtu 1500 mac 02:42:0a:00:00:02\n\
             \x20 4: a-eth0       veth   admin up oper UP mtu 1500 mac 02:42:0a:00:00:04 master br0 peer-ifindex 3\n\
             \x20     rx 7 pkts 507 bytes 0 dropped 0 errors; tx 12 pkts 884 bytes 0 dropped 0 errors\n\
             \x20 9: x            admin DOWN oper UP mtu 1500 mac 02:42:0a:00:00:09\n\
             \n-- addresses (ip addr)\n\
             \x20 br0          10.0.0.1/24\n\
             \n-- routes (ip route; ip -6 route; main table)\n\
             \x20 default via 10.0.0.254 dev br0\n\
             \x20 10.0.0.0/24 dev if7\n\
             \n-- neighbours (ip neigh)\n\
             \x20 10.0.0.2 dev br0 lladdr 02:42:0a:00:00:02 REACHABLE\n\
             \n-- bridge forwarding database (bridge fdb; learned unicast entries)\n\
             \x20 02:42:0a:00:00:02 port a-eth0 master br0\n"
        );
    }

    /// Empty tables say so; a node without a bridge has no FDB section.
    #[test]
    fn empty_tables_say_so_and_sysctls_print_as_sysctl_does() {
        let state = NetlinkState {
            links: Ok(vec![]),
            addresses: Ok(vec![]),
            routes: Ok(vec![]),
            neighbours: Ok(vec![]),
            fdb: None,
        };
        let text = render_netlink(&state);
        assert!(
            text.contains("-- neighbours (ip neigh)\n  (none)\n"),
            "{text}"
        );
        assert!(!text.contains("bridge fdb"), "{text}");
        let netns = NetnsState {
            sysctls: vec![
                ("net/ipv4/ip_forward", Ok("1\n".to_string())),
                (
                    "net/ipv4/ping_group_range",
                    Ok("0\t2147483647\n".to_string()),
                ),
                (
                    "net/bridge/bridge-nf-call-iptables",
                    Err(io::ErrorKind::NotFound.into()),
                ),
            ],
            ruleset: Ok(String::new()),
            conntrack: Ok(vec![]),
        };
        assert_eq!(
            render_netns_state(&netns),
            "\n-- sysctls\n\
             \x20 net.ipv4.ip_forward = 1\n\
             \x20 net.ipv4.ping_group_range = 0 2147483647\n\
             \x20 net.bridge.bridge-nf-call-iptables = (absent)\n\
             \n-- nftables (nft list ruleset)\n\
             \x20 (no tables)\n\
             \n-- conntrack (conntrack -L)\n\
             \x20 (no entries)\n"
        );
    }
}
