//! NAT64 + DNS64 as one router declaration ([`NodeBuilder::nat64`]): the prefix IPv4
//! addresses are embedded in (RFC 6052) and the planned translator.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::Ipv6Net;

#[cfg(doc)]
use super::NodeBuilder;

/// The TCP port the translator listens on in the router; connections to the prefix are
/// DNATed to it.
pub(crate) const PORT: u16 = 6464;

/// A NAT64 prefix: IPv4 address `a.b.c.d` is `PREFIX::a.b.c.d` inside it (RFC 6052,
/// a /96). [`Nat64::default`] is the well-known prefix `64:ff9b::/96`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nat64 {
    prefix: String,
}

impl Default for Nat64 {
    /// The well-known prefix `64:ff9b::/96` (RFC 6052).
    fn default() -> Self {
        Nat64::prefix("64:ff9b::/96")
    }
}

impl Nat64 {
    /// A network-specific prefix instead of `64:ff9b::/96`, such as `"fd00:64::/96"`
    /// (tayga's `prefix`, dnsmasq's `dns64` prefix). Only /96 prefixes are supported: the
    /// plan refuses others.
    pub fn prefix(prefix: &str) -> Nat64 {
        Nat64 {
            prefix: prefix.to_string(),
        }
    }

    /// The prefix, checked: an IPv6 /96.
    pub(crate) fn parse(&self) -> Result<Ipv6Net, String> {
        match self.prefix.parse::<Ipv6Net>() {
            Ok(n) if n.prefix_len() == 96 => Ok(n.trunc()),
            Ok(n) => Err(format!(
                "NAT64 prefix {n} is a /{}: only /96 prefixes are supported, like \"64:ff9b::/96\"",
                n.prefix_len()
            )),
            Err(_) => Err(format!(
                "NAT64 prefix {:?} is not an IPv6 CIDR like \"64:ff9b::/96\"",
                self.prefix
            )),
        }
    }
}

/// A router's planned NAT64: the prefix, and where the translator listens (an address of
/// the router's own, on its IPv6-only LAN).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedNat64 {
    /// The /96 prefix IPv4 addresses are embedded in.
    pub prefix: Ipv6Net,
    /// The translator's listening address: TCP to the prefix is DNATed here.
    pub listen: SocketAddr,
}

/// `v4` inside `prefix` (a /96): `64:ff9b::c633:6402` for 198.51.100.2.
pub(crate) fn embed(prefix: Ipv6Net, v4: Ipv4Addr) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(prefix.network()) | u128::from(u32::from(v4)))
}

/// The IPv4 address embedded in `v6`, if `v6` is inside `prefix` (a /96).
pub(crate) fn extract(prefix: Ipv6Net, v6: Ipv6Addr) -> Option<Ipv4Addr> {
    prefix
        .contains(&v6)
        .then(|| Ipv4Addr::from(u128::from(v6) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_addresses_are_embedded_in_the_last_32_bits() {
        let p = Nat64::default().parse().unwrap();
        let v6 = embed(p, Ipv4Addr::new(198, 51, 100, 2));
        assert_eq!(v6.to_string(), "64:ff9b::c633:6402");
        assert_eq!(extract(p, v6), Some(Ipv4Addr::new(198, 51, 100, 2)));
        assert_eq!(extract(p, "fd00::1".parse().unwrap()), None);
    }

    #[test]
    fn only_96_prefixes_are_accepted() {
        let e = Nat64::prefix("fd00:64::/64").parse().unwrap_err();
        assert!(e.contains("only /96 prefixes are supported"), "{e}");
        assert!(Nat64::prefix("nope").parse().is_err());
    }
}
