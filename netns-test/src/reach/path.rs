//! The source's side of a failed claim: its routes toward the destination and its
//! addresses, as a [`PathReport`]. Pure: built from routes already read.

use std::fmt;
use std::net::IpAddr;

use super::Names;
use crate::net::{Node, RouteEntry};

/// What the way from the source looked like when a check failed: its routes toward the
/// destination (main table, longest prefix first) and its addresses.
#[derive(Clone, Debug)]
pub struct PathReport {
    pub(super) from: String,
    pub(super) dest: Option<IpAddr>,
    /// Routes whose prefix holds the destination, longest first.
    pub(super) matching: Vec<String>,
    /// Every route of the destination's family (shown when none matches).
    pub(super) family: Vec<String>,
    pub(super) addrs: Vec<String>,
    pub(super) error: Option<String>,
}

impl PathReport {
    /// The report of `node`'s way toward `dest`, given its routes (or why they could not
    /// be listed).
    pub(super) fn build(
        node: &Node,
        dest: Option<IpAddr>,
        names: &Names,
        routes: &Result<Vec<RouteEntry>, String>,
    ) -> PathReport {
        let ifname = |index: u32| -> String {
            if index == 1 {
                return "lo".to_string();
            }
            node.ifaces()
                .iter()
                .find(|i| i.index == index)
                .map_or_else(|| format!("if{index}"), |i| i.name.clone())
        };
        let fmt_route = |r: &RouteEntry| -> String {
            let mut s = r.dest.to_string();
            if let Some(via) = r.via {
                s.push_str(&format!(" via {}", names.addr_named(via)));
            }
            if let Some(dev) = r.dev {
                s.push_str(&format!(" dev {}", ifname(dev)));
            }
            if r.via.is_none() {
                s.push_str(" (on link)");
            }
            s
        };
        let addrs = node
            .ifaces()
            .iter()
            .flat_map(|i| i.addrs.iter().map(move |a| format!("{} {a}", i.name)))
            .collect();
        let mut report = PathReport {
            from: node.name().to_string(),
            dest,
            matching: Vec::new(),
            family: Vec::new(),
            addrs,
            error: None,
        };
        let Some(dest) = dest else {
            return report;
        };
        match routes {
            Ok(routes) => {
                let mut same: Vec<&RouteEntry> = routes
                    .iter()
                    .filter(|r| r.dest.addr().is_ipv6() == dest.is_ipv6())
                    .collect();
                report.family = same.iter().map(|r| fmt_route(r)).collect();
                same.retain(|r| r.dest.contains(&dest));
                same.sort_by_key(|r| std::cmp::Reverse(r.dest.prefix_len()));
                report.matching = same.iter().map(|r| fmt_route(r)).collect();
            }
            Err(e) => report.error = Some(e.clone()),
        }
        report
    }

    /// The routes toward the destination, longest prefix (the one used) first.
    pub fn routes(&self) -> &[String] {
        &self.matching
    }

    /// The source's addresses, as `eth0 172.18.0.2/16`.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    pub(super) fn write(&self, f: &mut dyn fmt::Write, indent: &str) -> fmt::Result {
        let from = &self.from;
        if let Some(dest) = self.dest {
            if let Some(e) = &self.error {
                writeln!(f, "{indent}{from}'s routes: could not be listed: {e}")?;
            } else if self.matching.is_empty() {
                let fam = if dest.is_ipv6() { "IPv6" } else { "IPv4" };
                if self.family.is_empty() {
                    writeln!(
                        f,
                        "{indent}{from} has no route toward {dest}, and no {fam} route at all"
                    )?;
                } else {
                    writeln!(
                        f,
                        "{indent}{from} has no route toward {dest}; its {fam} routes: {}",
                        self.family.join("; ")
                    )?;
                }
            } else {
                writeln!(
                    f,
                    "{indent}{from}'s route toward {dest}: {}",
                    self.matching[0]
                )?;
                for r in &self.matching[1..] {
                    writeln!(f, "{indent}  (also matching: {r})")?;
                }
            }
        }
        if self.addrs.is_empty() {
            write!(f, "{indent}{from}'s addresses: none (only lo)")
        } else {
            write!(f, "{indent}{from}'s addresses: {}", self.addrs.join(", "))
        }
    }
}

impl fmt::Display for PathReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, "")
    }
}
