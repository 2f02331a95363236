//! DNS records the name service serves besides node names: declared with
//! [`Topology::dns_record`](super::Topology::dns_record) and
//! [`BridgeBuilder::dns_record`](super::BridgeBuilder::dns_record), changed at run time
//! with `Net::dns`. Pure data: the records of a name, the store the live responder reads
//! (`net/dns.rs`), and the names of reverse lookups.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The TTL of a record unless [`DnsRecords::ttl`] sets one: 1 second, so that a resolver
/// that caches asks again soon after a change.
pub const DEFAULT_TTL: u32 = 1;

/// Longest chain of CNAMEs followed in one answer; a longer one (or a loop) is a server
/// failure, as in BIND.
pub(crate) const MAX_CNAME_CHAIN: usize = 8;

/// The records of one DNS name: addresses (A, AAAA), texts (TXT) or an alias (CNAME), and
/// their TTL. What `dnsmasq --address=/relay.test/10.0.0.5`, `--txt-record` and `--cname`
/// or a line in `/etc/hosts` declare, for every node of the network at once.
///
/// A value built with setters; an address that does not parse is reported where the
/// records are used ([`Topology::plan`](super::Topology::plan) or `DnsHandle::set`). An
/// address converts into records of its own: `t.dns_record("relay.test", ip)`.
///
/// ```
/// use netns_test::topology::DnsRecords;
///
/// let relay = DnsRecords::new()
///     .a("198.51.100.7")
///     .aaaa("2001:db8::7")
///     .txt("v=relay1")
///     .ttl(30);
/// let alias = DnsRecords::new().cname("relay.test");
/// # let _ = (relay, alias);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsRecords {
    pub(crate) addrs: Vec<IpAddr>,
    pub(crate) txt: Vec<String>,
    pub(crate) cname: Option<String>,
    pub(crate) ttl: u32,
    /// What did not parse, as messages.
    invalid: Vec<String>,
}

impl Default for DnsRecords {
    fn default() -> Self {
        Self::new()
    }
}

impl DnsRecords {
    /// No records yet, TTL [`DEFAULT_TTL`].
    pub fn new() -> Self {
        DnsRecords {
            addrs: Vec::new(),
            txt: Vec::new(),
            cname: None,
            ttl: DEFAULT_TTL,
            invalid: Vec::new(),
        }
    }

    /// An A record (`relay.test. 1 IN A 198.51.100.7`).
    pub fn a(mut self, ip: &str) -> Self {
        match ip.parse::<Ipv4Addr>() {
            Ok(ip) => self.addrs.push(ip.into()),
            Err(_) => self
                .invalid
                .push(format!("{ip:?} is not an IPv4 address (an A record)")),
        }
        self
    }

    /// An AAAA record (`relay.test. 1 IN AAAA 2001:db8::7`).
    pub fn aaaa(mut self, ip: &str) -> Self {
        match ip.parse::<Ipv6Addr>() {
            Ok(ip) => self.addrs.push(ip.into()),
            Err(_) => self
                .invalid
                .push(format!("{ip:?} is not an IPv6 address (an AAAA record)")),
        }
        self
    }

    /// An A or AAAA record, by the address's family (`node.ip()` gives one).
    pub fn addr(mut self, ip: impl Into<IpAddr>) -> Self {
        self.addrs.push(ip.into());
        self
    }

    /// A TXT record: one text, sent as strings of at most 255 bytes each.
    pub fn txt(mut self, text: &str) -> Self {
        self.txt.push(text.to_string());
        self
    }

    /// A CNAME record: the name is an alias of `target`, whose records a query gets too
    /// where the name service knows them (a node name, or a name with records). An alias
    /// has no other records.
    pub fn cname(mut self, target: &str) -> Self {
        match dns_name(target) {
            Ok(target) => self.cname = Some(target),
            Err(e) => self.invalid.push(format!("CNAME target: {e}")),
        }
        self
    }

    /// The TTL of every record of the name, in seconds (default [`DEFAULT_TTL`]).
    pub fn ttl(mut self, seconds: u32) -> Self {
        self.ttl = seconds;
        self
    }

    /// What is wrong with these records, as messages (none if they can be served).
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = self.invalid.clone();
        let data = !self.addrs.is_empty() || !self.txt.is_empty();
        if self.cname.is_some() && data {
            out.push(
                "a CNAME cannot have other records (RFC 1034): give the addresses or texts to its target"
                    .to_string(),
            );
        }
        if self.cname.is_none() && !data && self.invalid.is_empty() {
            out.push("no records: give an address, a text or a CNAME".to_string());
        }
        out
    }
}

impl From<IpAddr> for DnsRecords {
    fn from(ip: IpAddr) -> Self {
        DnsRecords::new().addr(ip)
    }
}

impl From<Ipv4Addr> for DnsRecords {
    fn from(ip: Ipv4Addr) -> Self {
        DnsRecords::new().addr(ip)
    }
}

impl From<Ipv6Addr> for DnsRecords {
    fn from(ip: Ipv6Addr) -> Self {
        DnsRecords::new().addr(ip)
    }
}

/// Checks a DNS name and gives the form the name service keys it by: lower case, without
/// a trailing dot. Labels of 1 to 63 letters, digits, `-` or `_`; at most 253 bytes.
pub(crate) fn dns_name(name: &str) -> Result<String, String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    let valid_label = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if bare.is_empty() || bare.len() > 253 || !bare.split('.').all(valid_label) {
        return Err(format!(
            "{name:?} is not a DNS name: use labels of 1-63 letters, digits, '-' or '_' \
             joined by dots, at most 253 bytes"
        ));
    }
    Ok(bare.to_ascii_lowercase())
}

/// The records set for names, by scope: the whole network (`None`) or one of its networks
/// (a bridge or link, by name), whose records only nodes on it see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RecordStore {
    scopes: BTreeMap<Option<String>, BTreeMap<String, DnsRecords>>,
}

impl RecordStore {
    /// Sets the records of `name` (checked, see [`dns_name`]) in `network`'s scope.
    pub(crate) fn set(&mut self, network: Option<&str>, name: String, records: DnsRecords) {
        self.scopes
            .entry(network.map(str::to_string))
            .or_default()
            .insert(name, records);
    }

    /// Removes the records of `name` from `network`'s scope; `false` if it had none.
    pub(crate) fn remove(&mut self, network: Option<&str>, name: &str) -> bool {
        let key = network.map(str::to_string);
        let Some(scope) = self.scopes.get_mut(&key) else {
            return false;
        };
        let removed = scope.remove(name).is_some();
        if scope.is_empty() {
            self.scopes.remove(&key);
        }
        removed
    }

    /// Whether `network`'s scope has records for `name`.
    pub(crate) fn contains(&self, network: Option<&str>, name: &str) -> bool {
        self.scopes
            .get(&network.map(str::to_string))
            .is_some_and(|s| s.contains_key(name))
    }

    /// The names with records in `network`'s scope.
    pub(crate) fn names(&self, network: Option<&str>) -> Vec<&str> {
        self.scopes
            .get(&network.map(str::to_string))
            .map(|s| s.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The records a node on `networks` sees for `name`: those of the first of its networks
    /// that has some, else the whole network's.
    pub(crate) fn lookup(&self, networks: &[String], name: &str) -> Option<&DnsRecords> {
        networks
            .iter()
            .filter_map(|n| self.scopes.get(&Some(n.clone())))
            .chain(self.scopes.get(&None))
            .find_map(|scope| scope.get(name))
    }
}

/// The name a reverse lookup of `ip` asks for: `4.3.2.1.in-addr.arpa` for 1.2.3.4, the
/// 32 nibbles in reverse under `ip6.arpa` for IPv6.
pub(crate) fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut out = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                out.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
            }
            out + "ip6.arpa"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_report_what_is_wrong() {
        assert!(DnsRecords::new()
            .a("10.0.0.1")
            .txt("x")
            .problems()
            .is_empty());
        let bad = DnsRecords::new().a("fd00::1").aaaa("10.0.0.1");
        assert_eq!(bad.problems().len(), 2, "{:?}", bad.problems());
        let both = DnsRecords::new().a("10.0.0.1").cname("b.test");
        assert!(both.problems()[0].contains("CNAME cannot have other records"));
        assert!(DnsRecords::new().problems()[0].contains("no records"));
        let target = DnsRecords::new().cname("not a name");
        assert!(target.problems()[0].contains("is not a DNS name"));
    }

    #[test]
    fn names_are_lower_case_without_the_root_dot() {
        assert_eq!(dns_name("Relay.Test.").unwrap(), "relay.test");
        for bad in ["", ".", "a..b", "a b", &"x".repeat(64), "é.test"] {
            assert!(dns_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_networks_records_come_before_the_whole_networks() {
        let mut store = RecordStore::default();
        store.set(
            None,
            "relay.test".into(),
            "10.0.0.1".parse::<IpAddr>().unwrap().into(),
        );
        store.set(
            Some("front"),
            "relay.test".into(),
            DnsRecords::new().a("10.1.0.1"),
        );
        let front = ["front".to_string()];
        assert_eq!(
            store.lookup(&front, "relay.test").unwrap().addrs[0].to_string(),
            "10.1.0.1"
        );
        assert_eq!(
            store.lookup(&[], "relay.test").unwrap().addrs[0].to_string(),
            "10.0.0.1"
        );
        assert!(store.remove(Some("front"), "relay.test"));
        assert!(!store.remove(Some("front"), "relay.test"));
        assert_eq!(
            store.lookup(&front, "relay.test").unwrap().addrs[0].to_string(),
            "10.0.0.1"
        );
    }

    #[test]
    fn reverse_names_are_those_of_in_addr_and_ip6_arpa() {
        assert_eq!(
            reverse_name("172.18.0.3".parse().unwrap()),
            "3.0.18.172.in-addr.arpa"
        );
        assert_eq!(
            reverse_name("2001:db8::567:89ab".parse().unwrap()),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }
}
