//! DNS records in a topology file: `[[dns_record]]` ([`Topology::dns_record`]) and a
//! bridge's `[[bridge.dns_record]]` ([`BridgeBuilder::dns_record`]).

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::values::{V4, V6};
use crate::topology::dns_records::dns_name;
use crate::topology::DnsRecords;
#[cfg(doc)]
use crate::topology::{BridgeBuilder, Topology};

/// One name and its records, checked as the planner checks them.
#[derive(Debug)]
pub(super) struct DnsRecordDecl {
    pub(super) name: String,
    pub(super) records: DnsRecords,
}

/// One [`DnsRecords`] setter per key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsRecordTable {
    name: String,
    #[serde(default)]
    a: Vec<V4>,
    #[serde(default)]
    aaaa: Vec<V6>,
    #[serde(default)]
    txt: Vec<String>,
    cname: Option<String>,
    ttl: Option<u32>,
}

impl<'de> Deserialize<'de> for DnsRecordDecl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = DnsRecordTable::deserialize(d)?;
        let subject = format!("DNS record {:?}", t.name);
        dns_name(&t.name).map_err(|e| de::Error::custom(format_args!("{subject}: {e}")))?;
        let mut records = DnsRecords::new();
        for ip in &t.a {
            records = records.a(&ip.0);
        }
        for ip in &t.aaaa {
            records = records.aaaa(&ip.0);
        }
        for text in &t.txt {
            records = records.txt(text);
        }
        if let Some(target) = &t.cname {
            records = records.cname(target);
        }
        if let Some(seconds) = t.ttl {
            records = records.ttl(seconds);
        }
        if let Some(problem) = records.problems().into_iter().next() {
            return Err(de::Error::custom(format_args!("{subject}: {problem}")));
        }
        Ok(DnsRecordDecl {
            name: t.name,
            records,
        })
    }
}
