//! Every NAT the project can declare, as a table that grows: each row a router to build
//! and the behaviour a host behind it must be classified with. One topology holds them
//! all, two routers of each kind, side by side on one "internet":
//!
//! ```text
//!                       internet 198.51.100.0/24 (a bridge, no gateway)
//!   ┌──────────────┬─────────────────────────┬─────────────────────────┬── ...
//!   server .10     {kind}_ra wan .(20+2i)    {kind}_rb wan .(21+2i)
//!                  │ 10.i.1.0/24             │ 10.i.2.0/24
//!                  {kind}_a .2, {kind}_a2 .3 {kind}_b .2
//! ```

#![allow(dead_code)]

use std::net::IpAddr;

use netns_test::nft::{NatMode, Proto, Ruleset};
use netns_test::reach::{Filtering, Mapping, NatBehaviour};
use netns_test::Topology;

/// How one kind of router is declared: given the router's name, its LAN's subnet and its
/// WAN address, the topology with the router and its LAN bridge added.
pub(crate) type Build = fn(Topology, &str, &str, &str, &str) -> Topology;

/// One row: a kind of NAT router and what the classifier must find behind it.
pub(crate) struct NatCase {
    /// Names its routers and hosts (`{kind}_ra`, `{kind}_a`, ...).
    pub kind: &'static str,
    /// How it is declared, in words (for failure messages).
    pub declared_as: &'static str,
    pub build: Build,
    /// The behaviour a host sees, alone on its local port.
    pub one: NatBehaviour,
    /// The behaviour a second host sees on the same local port, while the first one's
    /// mappings are there.
    pub second: NatBehaviour,
}

const EIM: Mapping = Mapping::EndpointIndependent;
const APDM: Mapping = Mapping::AddressAndPortDependent;
const EIF: Filtering = Filtering::EndpointIndependent;
const APDF: Filtering = Filtering::AddressAndPortDependent;

/// Every kind, with its measured class. A new kind of NAT is one more row.
pub(crate) const NATS: &[NatCase] = &[
    NatCase {
        kind: "masq",
        declared_as: "masquerade()",
        build: masquerade,
        one: NatBehaviour::new(EIM, APDF).port_preservation(true),
        // Its port taken towards the same destinations, the second host gets another
        // port, the same towards every destination.
        second: NatBehaviour::new(EIM, APDF),
    },
    NatCase {
        kind: "snatpp",
        declared_as: "snat(.., NatMode::PortPreserving)",
        build: snat_port_preserving,
        one: NatBehaviour::new(EIM, APDF).port_preservation(true),
        second: NatBehaviour::new(EIM, APDF),
    },
    NatCase {
        kind: "snatrnd",
        declared_as: "snat(.., NatMode::Random)",
        build: snat_random,
        one: NatBehaviour::new(APDM, APDF),
        second: NatBehaviour::new(APDM, APDF),
    },
    NatCase {
        kind: "cone",
        declared_as: "masquerade() + full_cone(first host, udp 1024-65535)",
        build: masquerade_full_cone,
        // A LAN host's packet to the public address is sent back into the LAN with its
        // own address as the source, and dropped there (a martian source).
        one: NatBehaviour::new(EIM, EIF).port_preservation(true),
        // The static range belongs to the first host: what comes in unasked goes to it.
        second: NatBehaviour::new(EIM, APDF),
    },
    NatCase {
        kind: "conehp",
        declared_as: "masquerade().hairpin() + full_cone(first host, udp 1024-65535)",
        build: masquerade_full_cone_hairpin,
        one: NatBehaviour::new(EIM, EIF)
            .hairpin(true)
            .port_preservation(true),
        second: NatBehaviour::new(EIM, APDF),
    },
    NatCase {
        kind: "routed",
        declared_as: "a router without NAT",
        build: routed,
        // Nothing translates nor filters; the host's own address answers itself.
        one: NatBehaviour::new(Mapping::NoNat, EIF)
            .hairpin(true)
            .port_preservation(true),
        second: NatBehaviour::new(Mapping::NoNat, EIF)
            .hairpin(true)
            .port_preservation(true),
    },
];

/// The rendezvous server's address and the first host's address on a LAN.
pub(crate) const SERVER_IP: &str = "198.51.100.10";

/// How a router's LAN bridge is declared.
#[derive(Clone, Copy)]
enum Lan {
    Routed,
    /// `masquerade()`.
    Masquerade,
    /// `masquerade().hairpin()`.
    MasqueradeHairpin,
}

fn lan_router(
    t: Topology,
    name: &str,
    lan: &str,
    subnet: &str,
    wan: &str,
    lan_kind: Lan,
    rules: impl FnOnce(Ruleset) -> Ruleset,
) -> Topology {
    t.bridge_with(lan, subnet, |b| {
        let b = b.in_node(name);
        match lan_kind {
            Lan::Routed => b,
            Lan::Masquerade => b.masquerade(),
            Lan::MasqueradeHairpin => b.masquerade().hairpin(),
        }
    })
    .router(name, |n| {
        n.on_with("internet", |i| i.name("wan").ip(wan))
            .firewall(rules)
    })
}

fn masquerade(t: Topology, name: &str, lan: &str, subnet: &str, wan: &str) -> Topology {
    lan_router(t, name, lan, subnet, wan, Lan::Masquerade, |r| r)
}

/// The router's own `snat` rule comes before `masquerade()`'s, and decides the mapping.
fn snat(t: Topology, name: &str, lan: &str, subnet: &str, wan: &str, mode: NatMode) -> Topology {
    let wan_ip: IpAddr = wan.parse().expect("address");
    lan_router(t, name, lan, subnet, wan, Lan::Masquerade, |r| {
        r.snat(subnet, Some("wan"), wan_ip, Some(1024..=65535), mode)
    })
}

fn snat_port_preserving(t: Topology, name: &str, lan: &str, subnet: &str, wan: &str) -> Topology {
    snat(t, name, lan, subnet, wan, NatMode::PortPreserving)
}

fn snat_random(t: Topology, name: &str, lan: &str, subnet: &str, wan: &str) -> Topology {
    snat(t, name, lan, subnet, wan, NatMode::Random)
}

fn full_cone(t: Topology, name: &str, lan: &str, subnet: &str, wan: &str, kind: Lan) -> Topology {
    let first: IpAddr = first_host(subnet).parse().expect("address");
    lan_router(t, name, lan, subnet, wan, kind, |r| {
        r.full_cone(first, Proto::Udp, 1024..=65535)
    })
}

fn masquerade_full_cone(t: Topology, name: &str, lan: &str, subnet: &str, wan: &str) -> Topology {
    full_cone(t, name, lan, subnet, wan, Lan::Masquerade)
}

fn masquerade_full_cone_hairpin(
    t: Topology,
    name: &str,
    lan: &str,
    subnet: &str,
    wan: &str,
) -> Topology {
    full_cone(t, name, lan, subnet, wan, Lan::MasqueradeHairpin)
}

fn routed(t: Topology, name: &str, lan: &str, subnet: &str, wan: &str) -> Topology {
    lan_router(t, name, lan, subnet, wan, Lan::Routed, |r| r)
}

/// `10.i.1.2` for `10.i.1.0/24`.
fn first_host(subnet: &str) -> String {
    let base = subnet.split('/').next().expect("subnet");
    format!("{}.2", base.rsplit_once('.').expect("IPv4 subnet").0)
}

/// The internet with the rendezvous server, and for each kind two routers: `_ra` with
/// hosts `_a` and `_a2`, `_rb` with host `_b`.
pub(crate) fn every_nat() -> Topology {
    let mut t = Topology::new()
        .bridge_with("internet", "198.51.100.0/24", |b| b.no_gateway())
        .node("server", |n| n.on_ip("internet", SERVER_IP));
    for (i, case) in NATS.iter().enumerate() {
        let k = case.kind;
        for (side, lan, wan) in [("a", 1, 20 + 2 * i), ("b", 2, 21 + 2 * i)] {
            let subnet = format!("10.{}.{lan}.0/24", i + 1);
            let lan_name = format!("{k}_l{side}");
            t = (case.build)(
                t,
                &format!("{k}_r{side}"),
                &lan_name,
                &subnet,
                &format!("198.51.100.{wan}"),
            );
            let host = first_host(&subnet);
            t = t.node(&format!("{k}_{side}"), |n| n.on_ip(&lan_name, &host));
            if side == "a" {
                let second = format!("10.{}.{lan}.3", i + 1);
                t = t.node(&format!("{k}_a2"), |n| n.on_ip(&lan_name, &second));
            }
        }
    }
    t
}
