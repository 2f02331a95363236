//! The values of a topology file that are more than a string or a number: each read with
//! its own check, so that a wrong one is reported at its own line and column.

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::nft::{Filtering, Hook, Mapping, NatMode, Policy, Proto};
use crate::topology::conditions::Emulator;
use crate::topology::profiles::Profile;

/// A type written either as a string (its shorthand) or as a table.
pub(super) trait Shorthand: Sized {
    /// The table form.
    type Table: for<'de> Deserialize<'de>;
    /// What the error says is expected.
    const EXPECTING: &'static str;
    fn from_str<E: de::Error>(s: &str) -> Result<Self, E>;
    fn from_table(table: Self::Table) -> Self;
}

/// Reads a [`Shorthand`] type.
pub(super) fn shorthand<'de, D: Deserializer<'de>, T: Shorthand>(d: D) -> Result<T, D::Error> {
    struct V<T>(PhantomData<T>);
    impl<'de, T: Shorthand> Visitor<'de> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(T::EXPECTING)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            T::from_str(s)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::Table::deserialize(de::value::MapAccessDeserializer::new(map)).map(T::from_table)
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// Implements `Deserialize` for a type that parses from a string, with `$what` as what a
/// wrong value should have been.
macro_rules! from_text {
    ($ty:ty, $what:literal, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                let parse: fn(&str) -> Option<$ty> = $parse;
                parse(&text)
                    .ok_or_else(|| de::Error::custom(format_args!("{text:?} is not {}", $what)))
            }
        }
    };
}

/// An IPv4 or IPv6 subnet, `10.0.0.0/24`, kept as written for the builder.
#[derive(Clone, Debug)]
pub(super) struct Subnet(pub(super) String);
from_text!(Subnet, "a subnet (like 10.0.0.0/24 or fd00::/64)", |s| s
    .parse::<IpNet>()
    .ok()
    .map(|_| Subnet(s.to_string())));

/// An IPv4 or IPv6 address, kept as written for the builder.
#[derive(Clone, Debug)]
pub(super) struct Addr(pub(super) String);
from_text!(Addr, "an IP address (like 10.0.0.5)", |s| s
    .parse::<IpAddr>()
    .ok()
    .map(|_| Addr(s.to_string())));

/// An address or a subnet, as rules match them.
#[derive(Clone, Debug)]
pub(super) struct Net(pub(super) IpNet);
from_text!(
    Net,
    "an address or a subnet (like 10.0.0.5 or 10.0.0.0/24)",
    |s| crate::parse::net(s, None).map(Net)
);

/// A route destination: `default`, an address or a subnet.
#[derive(Clone, Debug)]
pub(super) struct Dest(pub(super) String);
from_text!(
    Dest,
    "a route destination (\"default\", an address or a subnet)",
    |s| crate::parse::net(s, Some(false)).map(|_| Dest(s.into()))
);

/// `ADDR:PORT`.
#[derive(Clone, Debug)]
pub(super) struct Endpoint(pub(super) SocketAddr);
from_text!(
    Endpoint,
    "an address and a port (like 172.17.0.2:80)",
    |s| s.parse().ok().map(Endpoint)
);

/// A published port, Docker's `-p`: `"8080:80"` or `"5353:53/udp"`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Publish {
    pub(super) proto: Proto,
    pub(super) host_port: u16,
    pub(super) port: u16,
}
from_text!(
    Publish,
    "a published port (\"HOST_PORT:PORT\", or \"HOST_PORT:PORT/udp\" as docker run -p)",
    |s| {
        let (ports, proto) = match s.split_once('/') {
            None => (s, Proto::Tcp),
            Some((ports, "tcp")) => (ports, Proto::Tcp),
            Some((ports, "udp")) => (ports, Proto::Udp),
            Some(_) => return None,
        };
        let (host_port, port) = ports.split_once(':')?;
        Some(Publish {
            proto,
            host_port: host_port.parse().ok()?,
            port: port.parse().ok()?,
        })
    }
);

/// A port or a range of ports: `80` or `"1000-2000"`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ports(pub(super) u16, pub(super) u16);

impl<'de> Deserialize<'de> for Ports {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Ports;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port (80) or a range of ports (\"1000-2000\")")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Ports, E> {
                let port = u16::try_from(n)
                    .map_err(|_| E::custom(format_args!("{n} is not a port (0 to 65535)")))?;
                Ok(Ports(port, port))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Ports, E> {
                let range = s.split_once('-').and_then(|(lo, hi)| {
                    let (lo, hi) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
                    (lo <= hi).then_some(Ports(lo, hi))
                });
                range.ok_or_else(|| {
                    E::custom(format_args!(
                        "{s:?} is not a range of ports (\"LOW-HIGH\", like \"1000-2000\")"
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `"30s"`, `"500ms"`, `"2m"`, `"5h"`, and `"100us"` for the delays of fast links.
#[derive(Clone, Copy, Debug)]
pub(super) struct Time(pub(super) Duration);
from_text!(
    Time,
    "a duration (like \"500ms\", \"30s\", \"2m\", \"5h\")",
    |s| {
        let split = s.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = s[..split].parse().ok()?;
        let us = match &s[split..] {
            "us" | "µs" => n,
            "ms" => n.checked_mul(1000)?,
            "s" => n.checked_mul(1_000_000)?,
            "m" => n.checked_mul(60_000_000)?,
            "h" => n.checked_mul(3_600_000_000)?,
            _ => return None,
        };
        Some(Time(Duration::from_micros(us)))
    }
);

/// A probability, from 0.0 to 1.0: `0.01` drops 1% of frames.
#[derive(Clone, Copy, Debug)]
pub(super) struct Probability(pub(super) f64);

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Probability;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a probability from 0.0 to 1.0 (0.01 is 1% of frames)")
            }
            fn visit_f64<E: de::Error>(self, p: f64) -> Result<Probability, E> {
                if (0.0..=1.0).contains(&p) {
                    Ok(Probability(p))
                } else {
                    Err(E::custom(format_args!(
                        "{p} is not a probability: from 0.0 to 1.0 (0.01 is 1% of frames)"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Probability, E> {
                self.visit_f64(n as f64)
            }
        }
        d.deserialize_any(V)
    }
}

/// A rate in bits per second: a number, or with tc's units, `"800kbit"`, `"20mbit"`,
/// `"1.5gbit"`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rate(pub(super) u64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rate in bits per second (20000000, or \"20mbit\" as tc writes it)")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Rate, E> {
                u64::try_from(n).map(Rate).map_err(|_| {
                    E::custom(format_args!(
                        "{n} is not a rate: bits per second, 0 or more"
                    ))
                })
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Rate, E> {
                let lower = s.to_ascii_lowercase();
                let units = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)];
                let rate = units.iter().find_map(|(unit, scale)| {
                    let n: f64 = lower.strip_suffix(unit)?.trim().parse().ok()?;
                    (n.is_finite() && n >= 0.0).then(|| Rate((n * scale).round() as u64))
                });
                rate.ok_or_else(|| {
                    E::custom(format_args!(
                        "{s:?} is not a rate: bits per second, or a number with kbit, mbit or gbit (\"20mbit\")"
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// An address with its prefix length, `10.200.0.1/32`, kept as written for the builder.
#[derive(Clone, Debug)]
pub(super) struct Cidr(pub(super) String);
from_text!(
    Cidr,
    "an address with its prefix length (like 10.200.0.1/32 or fd00::1/128)",
    |s| s.parse::<IpNet>().ok().map(|_| Cidr(s.to_string()))
);

/// An IPv4 address: an A record.
#[derive(Clone, Debug)]
pub(super) struct V4(pub(super) String);
from_text!(V4, "an IPv4 address (an A record)", |s| s
    .parse::<std::net::Ipv4Addr>()
    .ok()
    .map(|_| V4(s.to_string())));

/// An IPv6 address: an AAAA record.
#[derive(Clone, Debug)]
pub(super) struct V6(pub(super) String);
from_text!(V6, "an IPv6 address (an AAAA record)", |s| s
    .parse::<std::net::Ipv6Addr>()
    .ok()
    .map(|_| V6(s.to_string())));

/// A router's NAT64: `true` for the well-known prefix, or a /96 prefix of its own.
#[derive(Clone, Debug)]
pub(super) struct Nat64Decl(pub(super) Option<crate::topology::Nat64>);

impl<'de> Deserialize<'de> for Nat64Decl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use crate::topology::Nat64;
        struct V;
        impl Visitor<'_> for V {
            type Value = Nat64Decl;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true (the prefix 64:ff9b::/96), or a /96 prefix like \"fd00:64::/96\"")
            }
            fn visit_bool<E: de::Error>(self, on: bool) -> Result<Nat64Decl, E> {
                Ok(Nat64Decl(on.then(Nat64::default)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Nat64Decl, E> {
                let nat64 = Nat64::prefix(s);
                nat64.parse().map_err(E::custom)?;
                Ok(Nat64Decl(Some(nat64)))
            }
        }
        d.deserialize_any(V)
    }
}

/// An outbound allowance of a NAT: `"tcp/443"`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Outbound(pub(super) Proto, pub(super) u16);
from_text!(
    Outbound,
    "a protocol and a port (like \"tcp/443\" or \"udp/53\")",
    |s| {
        let (proto, port) = s.split_once('/')?;
        let proto = match proto {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            _ => return None,
        };
        Some(Outbound(proto, port.parse().ok()?))
    }
);

/// A protocol: `"tcp"`, `"udp"`, `"icmp"`, `"icmpv6"` or a number.
#[derive(Clone, Copy, Debug)]
pub(super) struct Protocol(pub(super) Proto);

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Protocol;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"tcp\", \"udp\", \"icmp\", \"icmpv6\" or a protocol number")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Protocol, E> {
                u8::try_from(n)
                    .map(|n| Protocol(Proto::from_number(n)))
                    .map_err(|_| E::custom(format_args!("{n} is not a protocol number (0 to 255)")))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Protocol, E> {
                Ok(Protocol(match s {
                    "tcp" => Proto::Tcp,
                    "udp" => Proto::Udp,
                    "icmp" => Proto::Icmp,
                    "icmpv6" => Proto::Icmpv6,
                    _ => {
                        return Err(E::custom(format_args!(
                            "{s:?} is not a protocol: \"tcp\", \"udp\", \"icmp\", \"icmpv6\" or a number"
                        )))
                    }
                }))
            }
        }
        d.deserialize_any(V)
    }
}

/// Defines a unit enum read from snake_case names, and what each maps to.
macro_rules! names {
    ($(#[$doc:meta])* $name:ident => $target:ty { $($variant:ident => $value:expr),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub(super) enum $name { $($variant),+ }

        impl $name {
            pub(super) fn value(self) -> $target {
                match self { $($name::$variant => $value),+ }
            }
        }
    };
}

names!(
    /// A link-conditions preset ([`Profile`]'s constructors).
    ProfileName => Profile {
        Lan => Profile::lan(),
        Wifi => Profile::wifi(),
        BadWifi => Profile::bad_wifi(),
        Lte => Profile::lte(),
        Umts => Profile::umts(),
        SatelliteLeo => Profile::satellite_leo(),
        SatelliteGeo => Profile::satellite_geo(),
    }
);
names!(
    /// What makes delay, jitter and loss.
    EmulatorName => Emulator { Auto => Emulator::Auto, Netem => Emulator::Netem, Relay => Emulator::Relay }
);
names!(
    /// A filter hook.
    HookName => Hook { Input => Hook::Input, Forward => Hook::Forward, Output => Hook::Output }
);
names!(
    /// A chain policy.
    PolicyName => Policy { Accept => Policy::Accept, Drop => Policy::Drop }
);
names!(
    /// How source NAT picks ports.
    NatModeName => NatMode { PortPreserving => NatMode::PortPreserving, Random => NatMode::Random }
);
names!(
    /// A NAT's mapping behaviour.
    MappingName => Mapping {
        None => Mapping::None,
        EndpointIndependent => Mapping::EndpointIndependent,
        EndpointDependent => Mapping::EndpointDependent,
    }
);
names!(
    /// A NAT's filtering behaviour.
    FilteringName => Filtering {
        EndpointIndependent => Filtering::EndpointIndependent,
        AddressDependent => Filtering::AddressDependent,
        AddressAndPortDependent => Filtering::AddressAndPortDependent,
    }
);
names!(
    /// A NAT tier or preset ([`crate::nft::Nat`]'s constructors).
    NatPreset => crate::nft::Nat {
        None => crate::nft::Nat::none(),
        FullCone => crate::nft::Nat::full_cone(),
        AddressRestricted => crate::nft::Nat::address_restricted(),
        PortRestricted => crate::nft::Nat::port_restricted(),
        Symmetric => crate::nft::Nat::symmetric(),
        SymmetricSequential => crate::nft::Nat::symmetric_sequential(),
        Home => crate::nft::Nat::home(),
        Cgnat => crate::nft::Nat::cgnat(),
        Mobile => crate::nft::Nat::mobile(),
        Corporate => crate::nft::Nat::corporate(),
        Hotel => crate::nft::Nat::hotel(),
        Cloud => crate::nft::Nat::cloud(),
        Public => crate::nft::Nat::public(),
    }
);

/// A bridge's gateway: an address, or `false` for none.
#[derive(Clone, Debug)]
pub(super) enum GatewayDecl {
    At(String),
    Off,
}

impl<'de> Deserialize<'de> for GatewayDecl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = GatewayDecl;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IP address, or false for a bridge without one")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<GatewayDecl, E> {
                match b {
                    false => Ok(GatewayDecl::Off),
                    true => Err(E::custom(
                        "`gateway = true` says nothing: leave it out for the subnet's first address, give an address, or write false for none",
                    )),
                }
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<GatewayDecl, E> {
                s.parse::<IpAddr>()
                    .map(|_| GatewayDecl::At(s.to_string()))
                    .map_err(|_| E::custom(format_args!("{s:?} is not an IP address")))
            }
        }
        d.deserialize_any(V)
    }
}
