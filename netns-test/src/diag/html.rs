//! `report.html`: the folder in one page that opens from a CI artifact, with no network,
//! no server and no script: the topology drawn as inline SVG, the failure, each node's
//! state (addresses, routes, nftables, conntrack, sockets) and each link's packet
//! timeline, with relative links to the pcaps. Every text from the test or the kernel is
//! escaped.

use std::fmt::Write as _;

use super::capture::{Packet, Ring};
use super::decode::summary;
use super::dump::{render_conntrack, render_ruleset, render_sockets, NodeState};
use crate::net::{LinkConditions, MatrixDiff};
use crate::topology::conditions::{fmt_duration, fmt_rate};
use crate::topology::Plan;

/// Packets shown at the start and at the end (the failure) of each link's timeline.
const FIRST_SHOWN: usize = 3;
const LAST_SHOWN: usize = 12;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ccc}\
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px}\
.fail{background:#fde8e8;border-left:4px solid #c00}\
table{border-collapse:collapse;font-size:12px}td,th{padding:2px 8px;text-align:left;\
border-bottom:1px solid #eee;font-family:monospace}\
svg text{font:12px monospace}.mentioned rect{stroke:#c00;stroke-width:3}\
td.differs{background:#f8c4c4;font-weight:bold}";

/// What the features recorded about the network at the failure.
#[derive(Debug, Default)]
pub(super) struct Notes {
    /// The last reachability matrix that did not hold.
    pub(super) matrix: Option<MatrixDiff>,
    /// The conditions set on interfaces.
    pub(super) conditions: Vec<LinkConditions>,
}

/// The page, from what the folder's other files hold.
pub(super) fn render(
    test: &str,
    outcome: &str,
    plan: &Plan,
    nodes: &[NodeState],
    rings: &[Ring],
    notes: &Notes,
) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>netns-test: {t}</title><style>{STYLE}</style></head><body>\n\
         <h1>netns-test: {t}</h1>\n<h2>Outcome</h2>\n<pre class=\"fail\">{o}</pre>\n",
        t = esc(test),
        o = esc(outcome)
    );
    if let Some(m) = &notes.matrix {
        matrix_section(&mut h, m);
    }
    h.push_str("<h2>Topology</h2>\n");
    h.push_str(&svg(plan, outcome));
    h.push_str(&topology_notes(plan));
    conditions_section(&mut h, &notes.conditions);
    h.push_str("<h2>Nodes</h2>\n");
    for n in nodes {
        node_section(&mut h, n);
    }
    h.push_str("<h2>Links: packet timelines</h2>\n");
    let t0 = rings
        .iter()
        .filter_map(|r| r.packets.front())
        .map(stamp)
        .min()
        .unwrap_or(0);
    for r in rings {
        link_section(&mut h, r, t0);
    }
    h.push_str("</body></html>\n");
    h
}

/// Escapes text for HTML content and attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether the failure message names `node` as a word of its own.
fn mentioned(outcome: &str, node: &str) -> bool {
    outcome
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .any(|w| w == node)
}

/// The topology: nodes in a row at the top, bridges in a row below, each container's
/// interface a line to its bridge and each point-to-point link a curve between two nodes,
/// labelled with interface names and addresses. Nodes named by the failure are outlined
/// in red.
fn svg(plan: &Plan, outcome: &str) -> String {
    const W: usize = 170;
    let n = plan.nodes.len().max(plan.bridges.len()).max(1);
    let (width, height) = (n * W + 20, 330);
    let node_x = |i: usize| 10 + i * W + W / 2;
    let bridge_x = |i: usize| 10 + i * W + W / 2;
    let (node_y, bridge_y) = (70, 250);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"topology\">\n"
    );
    for v in &plan.veths {
        let [a, b] = &v.ends;
        match (a.master, b.master) {
            (Some(br), None) | (None, Some(br)) => {
                let end = if a.master.is_none() { a } else { b };
                let (x1, x2) = (node_x(end.node), bridge_x(br));
                let _ = writeln!(
                    s,
                    "<line x1=\"{x1}\" y1=\"{}\" x2=\"{x2}\" y2=\"{}\" stroke=\"#357\"/>\
                     <text x=\"{}\" y=\"{}\">{}</text>",
                    node_y + 22,
                    bridge_y - 14,
                    (x1 + x2) / 2 + 4,
                    (node_y + bridge_y) / 2,
                    esc(&iface_label(&end.name, &end.addrs))
                );
            }
            _ => {
                let (x1, x2) = (node_x(a.node), node_x(b.node));
                let mid = (x1 + x2) / 2;
                let _ = writeln!(
                    s,
                    "<path d=\"M{x1} {y} Q{mid} {top} {x2} {y}\" fill=\"none\" stroke=\"#753\"/>\
                     <text x=\"{x1}\" y=\"{ty}\">{la}</text><text x=\"{x2}\" y=\"{ty2}\">{lb}</text>",
                    y = node_y - 22,
                    top = 0,
                    ty = node_y - 30,
                    ty2 = node_y - 44,
                    la = esc(&iface_label(&a.name, &a.addrs)),
                    lb = esc(&iface_label(&b.name, &b.addrs)),
                );
            }
        }
    }
    for (i, b) in plan.bridges.iter().enumerate() {
        let x = bridge_x(i);
        let _ = writeln!(
            s,
            "<g><line x1=\"{x}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\" stroke-dasharray=\"3\"/>\
             <rect x=\"{}\" y=\"{}\" width=\"150\" height=\"30\" rx=\"12\" fill=\"#e8f0fa\" stroke=\"#357\"/>\
             <text x=\"{}\" y=\"{}\">bridge {}</text><text x=\"{}\" y=\"{}\">{} (in {})</text></g>",
            bridge_y + 15,
            node_x(b.node),
            node_y + 22,
            x - 75,
            bridge_y - 15,
            x - 68,
            bridge_y + 4,
            esc(&b.name),
            x - 68,
            bridge_y + 32,
            esc(&addrs(&b.addrs)),
            esc(&plan.nodes[b.node].name)
        );
    }
    for (i, node) in plan.nodes.iter().enumerate() {
        let x = node_x(i);
        let mut extra = Vec::new();
        if node.forwarding {
            extra.push("router".to_string());
        }
        if let Some((nat, _)) = &node.nat {
            extra.push(format!("NAT {nat:?}"));
        } else if node.rules.is_some() {
            extra.push("nftables".to_string());
        }
        if let Some(of) = node.net_of {
            extra.push(format!("net of {}", plan.nodes[of].name));
        }
        if plan.relays.iter().any(|r| r.node == i) {
            extra.push("link conditions".to_string());
        }
        let class = if mentioned(outcome, &node.name) {
            " class=\"mentioned\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<g{class}><rect x=\"{}\" y=\"{}\" width=\"150\" height=\"44\" rx=\"4\" fill=\"#fff\" stroke=\"#333\"/>\
             <text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text><text x=\"{}\" y=\"{}\">{}</text></g>",
            x - 75,
            node_y - 22,
            x - 68,
            node_y - 4,
            esc(&node.name),
            x - 68,
            node_y + 14,
            esc(&extra.join(", "))
        );
    }
    s.push_str("</svg>\n");
    s
}

fn iface_label(name: &str, a: &[ipnet::IpNet]) -> String {
    if a.is_empty() {
        name.to_string()
    } else {
        format!("{name} {}", addrs(a))
    }
}

fn addrs(a: &[ipnet::IpNet]) -> String {
    a.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the drawing leaves out: NAT tiers, link conditions, VXLAN devices.
fn topology_notes(plan: &Plan) -> String {
    let mut out = String::from("<ul>\n");
    for node in &plan.nodes {
        if let Some((nat, lans)) = &node.nat {
            let _ = writeln!(
                out,
                "<li>{}: NAT {} for {}</li>",
                esc(&node.name),
                esc(&format!("{nat:?}")),
                esc(&lans.join(", "))
            );
        }
    }
    for r in &plan.relays {
        let side = |i: usize| format!("{}:{}", plan.nodes[r.sides[i].node].name, r.sides[i].ifname);
        let _ = writeln!(
            out,
            "<li>link {} &lt;-&gt; {} runs through relay node {}: its conditions (loss, delay, rate) apply there</li>",
            esc(&side(0)),
            esc(&side(1)),
            esc(&plan.nodes[r.node].name)
        );
    }
    for v in &plan.vxlans {
        let _ = writeln!(
            out,
            "<li>VXLAN {} in {}</li>",
            esc(&v.name),
            esc(&plan.nodes[v.node].name)
        );
    }
    out.push_str("</ul>\n");
    if out == "<ul>\n</ul>\n" {
        String::new()
    } else {
        out
    }
}

/// The matrix diff: per pair, expected / observed, the mismatches highlighted with what
/// happened.
fn matrix_section(h: &mut String, m: &MatrixDiff) {
    let _ = writeln!(
        h,
        "<h2>Reachability matrix</h2>\n<p>The last matrix check of this network that did \
         not hold: {}. A cell is <i>expected / observed</i> (row \
         reaches column?): y reached, n not reached, r refused, ! could not probe, - not \
         probed, ? no expectation.</p>\n<table>\n<tr><th></th>",
        esc(&m.title)
    );
    for c in &m.cols {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>\n");
    for (row, cells) in m.rows.iter().zip(&m.cells) {
        let _ = write!(h, "<tr><th>{}</th>", esc(row));
        for cell in cells {
            let _ = match &cell.differs {
                Some(what) => write!(
                    h,
                    "<td class=\"differs\" title=\"{}\">{} / {}</td>",
                    esc(what),
                    cell.expected,
                    cell.observed
                ),
                None => write!(h, "<td>{} / {}</td>", cell.expected, cell.observed),
            };
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n<ul>\n");
    for (r, cells) in m.cells.iter().enumerate() {
        for (c, cell) in cells.iter().enumerate() {
            if let Some(what) = &cell.differs {
                let _ = writeln!(
                    h,
                    "<li>{} -&gt; {}: expected {}, got {}: {}</li>",
                    esc(&m.rows[r]),
                    esc(&m.cols[c]),
                    cell.expected,
                    cell.observed,
                    esc(what)
                );
            }
        }
    }
    h.push_str("</ul>\n");
}

/// The link conditions at the failure, one row per direction (the frames an interface
/// sends).
fn conditions_section(h: &mut String, all: &[LinkConditions]) {
    if all.is_empty() {
        return;
    }
    h.push_str(
        "<h3>Link conditions</h3>\n<table>\n<tr><th>frames sent by</th><th>delay</th>\
         <th>jitter</th><th>loss</th><th>rate</th><th>made by</th></tr>\n",
    );
    for l in all {
        let _ = writeln!(
            h,
            "<tr><td>{}:{}</td><td>{}</td><td>{}</td><td>{}%</td><td>{}</td><td>{}</td></tr>",
            esc(&l.node),
            esc(&l.iface),
            fmt_duration(l.delay),
            fmt_duration(l.jitter),
            (l.loss * 1e4).round() / 100.0,
            l.rate.map_or_else(|| "-".to_string(), fmt_rate),
            esc(&l.via)
        );
    }
    h.push_str("</table>\n");
}

/// A node: addresses, routes, nftables, conntrack and sockets.
fn node_section(h: &mut String, n: &NodeState) {
    let _ = writeln!(
        h,
        "<h3 id=\"node-{id}\">node {id}</h3>\n<p><a href=\"{file}\">{file}</a> (everything, as text)</p>",
        id = esc(&n.name),
        file = esc(&super::folder::node_file(&n.name))
    );
    let mut pre = |title: &str, body: String| {
        let _ = writeln!(h, "<h4>{}</h4><pre>{}</pre>", esc(title), esc(&body));
    };
    match &n.netlink {
        Ok(s) => {
            let names = |i: u32| {
                s.links
                    .iter()
                    .flatten()
                    .find(|l| l.index == i)
                    .and_then(|l| l.name.clone())
                    .unwrap_or_else(|| format!("if{i}"))
            };
            let addrs = match &s.addresses {
                Ok(a) => a
                    .iter()
                    .map(|a| format!("{:<12} {}/{}\n", names(a.index), a.ip, a.prefix_len))
                    .collect(),
                Err(e) => format!("(could not list addresses: {e})"),
            };
            pre("addresses (ip addr)", addrs);
            let routes = match &s.routes {
                Ok(r) => {
                    let mut out = String::new();
                    super::dump::render_routes(&mut out, r, &names);
                    out
                }
                Err(e) => format!("(could not list routes: {e})"),
            };
            pre("routes (ip route)", routes);
        }
        Err(e) => pre("netlink", format!("(no netlink socket in this node: {e})")),
    }
    match &n.netns {
        Ok(s) => {
            pre("nftables (nft list ruleset)", render_ruleset(&s.ruleset));
            pre("conntrack (conntrack -L)", render_conntrack(&s.conntrack));
        }
        Err(e) => pre("netns", format!("(could not enter the node's netns: {e})")),
    }
    pre("sockets (ss -tunap)", render_sockets(&n.sockets));
}

fn stamp(p: &Packet) -> i128 {
    i128::from(p.sec) * 1_000_000_000 + i128::from(p.nsec)
}

/// A link: its counts, first and last packet, and the packets at its start and at the
/// failure, with a link to its pcap.
fn link_section(h: &mut String, r: &Ring, t0: i128) {
    let file = r.file_name();
    let mut packets: Vec<&Packet> = r.packets.iter().collect();
    packets.sort_by_key(|p| stamp(p));
    let _ = write!(
        h,
        "<h3>{}</h3>\n<p><a href=\"{f}\">{f}</a>: {} packets",
        esc(&r.ends),
        packets.len(),
        f = esc(&file)
    );
    if r.evicted > 0 {
        let _ = write!(h, " (the last ones; {} older ones dropped)", r.evicted);
    }
    let ms = |p: &Packet| format!("{:.3}", (stamp(p) - t0) as f64 / 1e6);
    if let (Some(first), Some(last)) = (packets.first(), packets.last()) {
        let _ = write!(h, ", first at +{} ms, last at +{} ms", ms(first), ms(last));
    }
    if let Some(e) = &r.error {
        let _ = write!(h, " [{}]", esc(e));
    }
    h.push_str("</p>\n");
    if packets.is_empty() {
        return;
    }
    h.push_str("<table><tr><th>#</th><th>+ms</th><th>bytes</th><th>packet</th></tr>\n");
    let len = packets.len();
    let shown = |i: usize| i < FIRST_SHOWN || i + LAST_SHOWN >= len;
    let mut gap = false;
    for (i, p) in packets.iter().enumerate() {
        if !shown(i) {
            if !gap {
                let hidden = len - FIRST_SHOWN - LAST_SHOWN;
                let _ = writeln!(h, "<tr><td colspan=\"4\">... {hidden} more ...</td></tr>");
                gap = true;
            }
            continue;
        }
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            ms(p),
            p.orig_len,
            esc(&summary(&p.data))
        );
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_named_nodes_are_found() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert!(mentioned("could not reach b from a", "b"));
        assert!(!mentioned("could not reach bob", "b"));
    }

    /// A failure message with markup in it stays text, and the page names the test.
    #[test]
    fn the_page_escapes_the_failure_and_draws_every_node() {
        let plan = crate::topology::presets::bridge_pair()
            .plan()
            .expect("plan");
        let page = render(
            "t::x",
            "<b>boom</b> at b",
            &plan,
            &[],
            &[],
            &Notes::default(),
        );
        assert!(page.contains("&lt;b&gt;boom&lt;/b&gt; at b"), "{page}");
        assert!(!page.contains("<b>boom"), "{page}");
        for n in &plan.nodes {
            assert!(
                page.contains(&format!(">{}</text>", n.name)),
                "{}: {page}",
                n.name
            );
        }
        assert!(page.contains("class=\"mentioned\""), "{page}");
        assert!(!page.contains("Reachability matrix"), "{page}");
        assert!(!page.contains("Link conditions"), "{page}");
    }

    /// A matrix that failed the test is drawn as its own table, expected / observed, the
    /// mismatch highlighted; conditions are listed with their values per direction.
    #[test]
    fn the_page_shows_the_matrix_diff_and_the_link_conditions() {
        use crate::net::DiffCell;
        let plan = crate::topology::presets::bridge_pair()
            .plan()
            .expect("plan");
        let cell = |expected, observed, differs: Option<&str>| DiffCell {
            expected,
            observed,
            differs: differs.map(str::to_string),
        };
        let title =
            "reachability by ICMP echo (row reaches column?): 1 of 2 probed cells differ, marked *";
        let notes = Notes {
            matrix: Some(MatrixDiff {
                title: title.to_string(),
                rows: vec!["a".into(), "b".into()],
                cols: vec!["a".into(), "b".into()],
                cells: vec![
                    vec![cell("-", "-", None), cell("n", "y", Some("reply in 1 ms"))],
                    vec![cell("y", "y", None), cell("-", "-", None)],
                ],
            }),
            conditions: vec![LinkConditions {
                node: "a".into(),
                iface: "eth0".into(),
                delay: std::time::Duration::from_millis(25),
                jitter: std::time::Duration::ZERO,
                loss: 0.02,
                rate: Some(10_000_000),
                via: "netem".into(),
            }],
        };
        let page = render("t::x", &format!("{title}\n..."), &plan, &[], &[], &notes);
        assert!(page.contains("<h2>Reachability matrix</h2>"), "{page}");
        assert!(
            page.contains("<td class=\"differs\" title=\"reply in 1 ms\">n / y</td>"),
            "{page}"
        );
        assert!(page.contains("<td>y / y</td>"), "{page}");
        assert!(page.contains("<li>a -&gt; b: expected n, got y: reply in 1 ms</li>"));
        assert!(
            page.contains("<tr><td>a:eth0</td><td>25 ms</td><td>0 µs</td><td>2%</td><td>10 Mbit/s</td><td>netem</td></tr>"),
            "{page}"
        );
    }
}
