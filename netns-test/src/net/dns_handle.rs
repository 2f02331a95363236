//! DNS records at run time: [`Net::dns`] and its [`DnsHandle`].

use crate::error::{Error, Result};
use crate::net::Net;
use crate::topology::dns_records::dns_name;
use crate::topology::DnsRecords;

impl Net {
    /// The records of the network's name service, to change while the test runs: like
    /// editing a dnsmasq's `--address` lines (or every container's `/etc/hosts`) and
    /// reloading it. A change is what the next query gets, in every node; node names keep
    /// resolving, after the records (see [`crate::Topology::dns_record`]).
    ///
    /// ```no_run
    /// use netns_test::DnsRecords;
    /// # #[allow(dead_code)] async fn f(net: netns_test::Net) -> netns_test::Result<()> {
    /// // The relay moves to b: every node's next lookup of relay.test gets b's address.
    /// net.dns().set("relay.test", net.node("b").ip()).await?;
    /// net.dns().set("relay.test", DnsRecords::new().a("10.0.0.3").txt("v=2")).await?;
    /// // Only the members of network "front" see this one.
    /// net.dns().on("front").set("api.test", DnsRecords::new().a("10.0.0.9")).await?;
    /// net.dns().remove("relay.test").await?;
    /// # Ok(()) }
    /// ```
    pub fn dns(&self) -> DnsHandle {
        DnsHandle {
            net: self.clone(),
            network: None,
        }
    }
}

/// The DNS records of a network (see [`Net::dns`]), or of one network of it (see
/// [`DnsHandle::on`]).
#[derive(Clone, Debug)]
pub struct DnsHandle {
    net: Net,
    network: Option<String>,
}

impl DnsHandle {
    /// The records that only nodes on `network` (a bridge network or a link, by name) see,
    /// before the whole network's: like [`crate::topology::BridgeBuilder::dns_record`] at
    /// build time.
    pub fn on(mut self, network: &str) -> DnsHandle {
        self.network = Some(network.to_string());
        self
    }

    /// Sets the records of `name`, replacing any it had in this scope (like a dnsmasq
    /// `--address=/NAME/IP` line, changed and reloaded). Fails, changing nothing, on a name
    /// that is not a DNS name, records that cannot be served (an address that does not
    /// parse, a CNAME with other records, no records) or an unknown network.
    pub async fn set(&self, name: &str, records: impl Into<DnsRecords>) -> Result<()> {
        let records = records.into();
        let key = self.check(name)?;
        if let Some(problem) = records.problems().into_iter().next() {
            return Err(self.error(name, problem));
        }
        self.store().set(self.network.as_deref(), key, records);
        Ok(())
    }

    /// Removes the records of `name` from this scope: its next lookup gets a node's
    /// address if it is a node name, else the records of the whole network (for a
    /// network's scope), else `NXDOMAIN`. Fails on a name that has no records here, listing
    /// those that have.
    pub async fn remove(&self, name: &str) -> Result<()> {
        let key = self.check(name)?;
        let mut store = self.store();
        if store.remove(self.network.as_deref(), &key) {
            return Ok(());
        }
        let names = store.names(self.network.as_deref());
        let known = if names.is_empty() {
            "none has".to_string()
        } else {
            format!("those that have: {}", names.join(", "))
        };
        Err(self.error(name, format!("it has no records to remove ({known})")))
    }

    /// The name's key, or the error naming what is wrong (the name, the network).
    fn check(&self, name: &str) -> Result<String> {
        if let Some(network) = &self.network {
            let plan = self.net.plan();
            let on =
                |n: &crate::topology::PlannedNode| n.ifaces.iter().any(|i| i.network == *network);
            if !plan.nodes.iter().any(on) {
                let mut known: Vec<&str> = plan
                    .nodes
                    .iter()
                    .flat_map(|n| n.ifaces.iter().map(|i| i.network.as_str()))
                    .collect();
                known.sort_unstable();
                known.dedup();
                return Err(self.error(
                    name,
                    format!(
                        "no node is on network {network:?}; the networks are: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        dns_name(name).map_err(|e| self.error(name, e))
    }

    fn error(&self, name: &str, problem: String) -> Error {
        Error::Dns {
            name: name.to_string(),
            network: self.network.clone(),
            problem,
        }
    }

    fn store(&self) -> std::sync::RwLockWriteGuard<'_, crate::topology::dns_records::RecordStore> {
        self.net
            .inner
            .names
            .records
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }
}
