//! DNS records: the whole network's and each bridge network's, checked and stored for the
//! name services.

use super::*;
use crate::topology::dns_records::dns_name;

impl Planner<'_> {
    pub(super) fn dns_records(&mut self) {
        let whole = self.topo.dns_records.iter().map(|(n, r)| (None, n, r));
        let scoped = self.topo.bridges.iter().flat_map(|b| {
            b.dns_records
                .iter()
                .map(move |(n, r)| (Some(b.name.as_str()), n, r))
        });
        let declared: Vec<_> = whole.chain(scoped).collect();
        for (network, name, records) in declared {
            let subject = match network {
                Some(net) => format!("DNS record {name:?} of network {net:?}"),
                None => format!("DNS record {name:?}"),
            };
            let key = match dns_name(name) {
                Ok(key) => key,
                Err(e) => {
                    self.err(subject.clone(), format!("{subject}: {e}"));
                    continue;
                }
            };
            for problem in records.problems() {
                self.err(subject.clone(), format!("{subject}: {problem}"));
            }
            if self.plan.dns.contains(network, &key) {
                self.err(
                    subject.clone(),
                    format!("{subject} is declared more than once: give all its records in one DnsRecords"),
                );
                continue;
            }
            self.plan.dns.set(network, key, records.clone());
        }
    }
}
