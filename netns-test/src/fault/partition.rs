//! Network partitions: groups of nodes that stop exchanging packets until healed.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::net::{Net, Node};
use crate::nft::{self, Hook, Rule, Ruleset};

/// A partition in force: made by [`Net::partition`], undone by [`Partition::heal`] or when
/// dropped.
///
/// Each member node gets an nftables table of its own (`inet netns_test_partitionN`) that
/// drops, in its input and output hooks, every packet from or to an address of a node of
/// another group. Rules of the topology and of the test (other tables) are untouched, and
/// established connections are cut too (the rules do not look at connection state).
#[must_use = "a partition heals when it is dropped: keep it in a variable until it should heal"]
#[derive(Debug)]
pub struct Partition {
    tables: Vec<(Node, String)>,
    groups: Vec<Vec<String>>,
}

impl Net {
    /// Splits the network: from now on no node of one group exchanges packets with a node
    /// of another group, whatever lies between them (a bridge, routers). Nodes in no group
    /// are not affected, nor is traffic within a group.
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::{Matrix, Probe};
    ///
    /// #[netns_test(topology = presets::docker_bridge(4))]
    /// async fn split_brain(net: Net) -> netns_test::Result<()> {
    ///     let split = net.partition(&[&["con1", "con2"], &["con3", "con4"]])?;
    ///     net.assert_matrix(Probe::Icmp, Matrix::groups(&[&["con1", "con2"], &["con3", "con4"]])).await;
    ///     split.heal()?;
    ///     net.assert_matrix(Probe::Icmp, Matrix::new(&["con1", "con2", "con3", "con4"]).expect_all(true)).await;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// It takes effect when this returns (one nf_tables transaction per member node,
    /// ~0.3 ms each) and lasts until [`Partition::heal`], or until the returned value is
    /// dropped. Packets are matched by the nodes' planned addresses (IPv4 and IPv6):
    /// addresses added at run time are not covered, and a packet whose addresses NAT
    /// rewrites on the way is judged by the rewritten ones. Neighbour discovery (ARP)
    /// still works across the cut; IP does not.
    ///
    /// Fails, changing nothing, when there are fewer than two groups, a group is empty, a
    /// node is unknown or named twice, or two nodes of different groups share one
    /// network namespace ([`crate::topology::NodeBuilder::net_of`]).
    pub fn partition(&self, groups: &[&[&str]]) -> Result<Partition> {
        let invalid = |msg: String| Error::Condition {
            node: None,
            message: format!("cannot partition: {msg}"),
        };
        if groups.len() < 2 {
            return Err(invalid(format!(
                "{} group(s) given; a partition separates at least two groups of nodes",
                groups.len()
            )));
        }
        let plan = self.plan();
        // Per group: the namespaces (plan indexes) of its members, and their addresses.
        let mut members: Vec<BTreeSet<usize>> = Vec::new();
        let mut addrs: Vec<BTreeSet<IpAddr>> = Vec::new();
        let mut seen: Vec<(&str, usize, usize)> = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            if group.is_empty() {
                return Err(invalid(format!("group {} is empty", g + 1)));
            }
            let mut m = BTreeSet::new();
            let mut a = BTreeSet::new();
            for &name in group.iter() {
                let node = self.try_node(name)?;
                let i = plan.node_index(name).expect("a node of the plan");
                let ns = plan.nodes[i].net_of.unwrap_or(i);
                if let Some((other, og, _)) = seen.iter().find(|(n, _, _)| *n == name) {
                    return Err(invalid(format!(
                        "node {other:?} is named twice (groups {} and {})",
                        og + 1,
                        g + 1
                    )));
                }
                if let Some((other, og, _)) = seen.iter().find(|(_, og, s)| *s == ns && *og != g) {
                    return Err(invalid(format!(
                        "{name:?} (group {}) and {other:?} (group {}) share one network namespace and cannot be separated",
                        g + 1,
                        og + 1
                    )));
                }
                seen.push((name, g, ns));
                m.insert(ns);
                a.extend(node.addrs().map(|n| n.addr()));
            }
            members.push(m);
            addrs.push(a);
        }
        let id = self.state().partitions.fetch_add(1, Ordering::Relaxed);
        let table = format!("netns_test_partition{id}");
        let mut partition = Partition {
            tables: Vec::new(),
            groups: groups
                .iter()
                .map(|g| g.iter().map(|s| s.to_string()).collect())
                .collect(),
        };
        for (g, nss) in members.iter().enumerate() {
            let others: BTreeSet<IpAddr> = addrs
                .iter()
                .enumerate()
                .filter(|(o, _)| *o != g)
                .flat_map(|(_, a)| a.iter().copied())
                .collect();
            let mut rules = Ruleset::named(&table);
            for &ip in &others {
                rules = rules
                    .filter(Hook::Input, Rule::new().src(ip).drop())
                    .filter(Hook::Output, Rule::new().dst(ip).drop());
            }
            for &ns in nss {
                let node = self.nodes()[ns].clone();
                // On failure, `partition` drops and removes the tables installed so far.
                node.run_blocking(|| nft::apply(&rules))
                    .map_err(|e| Error::Condition {
                        node: Some(node.name().to_string()),
                        message: format!(
                            "cannot partition: installing the rules in node {:?}: {e}",
                            node.name()
                        ),
                    })?;
                partition.tables.push((node, table.clone()));
            }
        }
        Ok(partition)
    }
}

impl Partition {
    /// Removes the partition's rules: traffic between the groups flows again (connections
    /// whose packets were dropped recover by retransmission).
    pub fn heal(mut self) -> Result<()> {
        self.remove()
    }

    /// The groups, as given.
    pub fn groups(&self) -> &[Vec<String>] {
        &self.groups
    }

    fn remove(&mut self) -> Result<()> {
        let mut first_error = None;
        for (node, table) in self.tables.drain(..) {
            if let Err(e) = node.run_blocking(|| nft::delete_table(&table)) {
                first_error.get_or_insert(Error::Condition {
                    node: Some(node.name().to_string()),
                    message: format!(
                        "healing the partition: removing table {table} in node {:?}: {e}",
                        node.name()
                    ),
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}
