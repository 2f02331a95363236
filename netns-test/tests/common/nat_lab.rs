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

use netns_test::nft::{Nat, NatMode, Proto, Ruleset};
use netns_test::reach::{Filtering, Mapping, NatBehaviour};

const ADF: Filtering = Filtering::AddressDependent;
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
    /// In the hole-punching matrix (the tiers and the older declarations; the presets,
    /// made of the same tiers, are classified only).
    pub matrix: bool,
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
        matrix: true,
    },
    NatCase {
        kind: "snatpp",
        declared_as: "snat(.., NatMode::PortPreserving)",
        build: snat_port_preserving,
        one: NatBehaviour::new(EIM, APDF).port_preservation(true),
        second: NatBehaviour::new(EIM, APDF),
        matrix: true,
    },
    NatCase {
        kind: "snatrnd",
        declared_as: "snat(.., NatMode::Random)",
        build: snat_random,
        one: NatBehaviour::new(APDM, APDF),
        second: NatBehaviour::new(APDM, APDF),
        matrix: true,
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
        matrix: true,
    },
    NatCase {
        kind: "conehp",
        declared_as: "masquerade().hairpin() + full_cone(first host, udp 1024-65535)",
        build: masquerade_full_cone_hairpin,
        one: NatBehaviour::new(EIM, EIF)
            .hairpin(true)
            .port_preservation(true),
        second: NatBehaviour::new(EIM, APDF),
        matrix: true,
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
        matrix: true,
    },
    // The tiers of `NodeBuilder::nat`.
    NatCase {
        kind: "none",
        declared_as: "nat(Nat::none())",
        build: nat_none,
        one: NatBehaviour::new(Mapping::NoNat, EIF)
            .hairpin(true)
            .port_preservation(true),
        second: NatBehaviour::new(Mapping::NoNat, EIF)
            .hairpin(true)
            .port_preservation(true),
        matrix: true,
    },
    NatCase {
        kind: "fullcone",
        declared_as: "nat(Nat::full_cone())",
        build: nat_full_cone,
        one: NatBehaviour::new(EIM, EIF)
            .hairpin(true)
            .port_preservation(true),
        second: NatBehaviour::new(EIM, EIF).hairpin(true),
        matrix: true,
    },
    NatCase {
        kind: "addr",
        declared_as: "nat(Nat::address_restricted())",
        build: nat_address_restricted,
        one: NatBehaviour::new(EIM, ADF)
            .hairpin(true)
            .port_preservation(true),
        second: NatBehaviour::new(EIM, ADF).hairpin(true),
        matrix: true,
    },
    NatCase {
        kind: "port",
        declared_as: "nat(Nat::port_restricted())",
        build: nat_port_restricted,
        one: NatBehaviour::new(EIM, APDF)
            .hairpin(true)
            .port_preservation(true),
        second: NatBehaviour::new(EIM, APDF).hairpin(true),
        matrix: true,
    },
    NatCase {
        kind: "sym",
        declared_as: "nat(Nat::symmetric())",
        build: nat_symmetric,
        one: NatBehaviour::new(APDM, APDF),
        second: NatBehaviour::new(APDM, APDF),
        matrix: true,
    },
    NatCase {
        kind: "symseq",
        declared_as: "nat(Nat::symmetric_sequential())",
        build: nat_symmetric_sequential,
        one: NatBehaviour::new(APDM, APDF).sequential_ports(),
        second: NatBehaviour::new(APDM, APDF).sequential_ports(),
        matrix: true,
    },
    // The presets.
    NatCase {
        kind: "home",
        declared_as: "nat(Nat::home())",
        build: nat_home,
        one: NatBehaviour::new(EIM, APDF)
            .hairpin(true)
            .port_preservation(true),
        second: NatBehaviour::new(EIM, APDF).hairpin(true),
        matrix: false,
    },
    NatCase {
        kind: "cgnat",
        declared_as: "nat(Nat::home()) behind nat(Nat::cgnat())",
        build: nat_cgnat,
        one: NatBehaviour::new(EIM, APDF)
            .hairpin(true)
            .port_preservation(true),
        second: NatBehaviour::new(EIM, APDF).hairpin(true),
        matrix: false,
    },
    NatCase {
        kind: "mobile",
        declared_as: "nat(Nat::mobile())",
        build: nat_mobile,
        one: NatBehaviour::new(APDM, APDF),
        second: NatBehaviour::new(APDM, APDF),
        matrix: false,
    },
    NatCase {
        kind: "corp",
        declared_as: "nat(Nat::corporate()) with every port out",
        build: nat_corporate,
        one: NatBehaviour::new(APDM, APDF),
        second: NatBehaviour::new(APDM, APDF),
        matrix: false,
    },
    NatCase {
        kind: "hotel",
        declared_as: "nat(Nat::hotel()) with every port out",
        build: nat_hotel,
        one: NatBehaviour::new(EIM, APDF).port_preservation(true),
        second: NatBehaviour::new(EIM, APDF),
        matrix: false,
    },
    NatCase {
        kind: "cloud",
        declared_as: "nat(Nat::cloud())",
        build: nat_cloud,
        one: NatBehaviour::new(APDM, APDF),
        second: NatBehaviour::new(APDM, APDF),
        matrix: false,
    },
    NatCase {
        kind: "public",
        declared_as: "nat(Nat::public())",
        build: nat_public,
        one: NatBehaviour::new(Mapping::NoNat, EIF)
            .hairpin(true)
            .port_preservation(true),
        second: NatBehaviour::new(Mapping::NoNat, EIF)
            .hairpin(true)
            .port_preservation(true),
        matrix: false,
    },
];

/// A router with `nat` on its WAN `wan`.
fn nat_router(t: Topology, name: &str, lan: &str, subnet: &str, wan: &str, nat: Nat) -> Topology {
    t.bridge_with(lan, subnet, |b| b.in_node(name))
        .router(name, |n| {
            n.on_with("internet", |i| i.name("wan").ip(wan)).nat(nat)
        })
}

macro_rules! nat_rows {
    ($($f:ident = $nat:expr;)*) => {$(
        fn $f(t: Topology, name: &str, lan: &str, subnet: &str, wan: &str) -> Topology {
            nat_router(t, name, lan, subnet, wan, $nat)
        }
    )*};
}

/// The classifier's reflector listens on ports of its own: the presets that let only a
/// few ports out are classified with every port out (the rest of the preset as it is).
fn every_port_out(mut nat: Nat) -> Nat {
    nat.outbound = None;
    nat
}

nat_rows! {
    nat_none = Nat::none();
    nat_full_cone = Nat::full_cone();
    nat_address_restricted = Nat::address_restricted();
    nat_port_restricted = Nat::port_restricted();
    nat_symmetric = Nat::symmetric();
    nat_symmetric_sequential = Nat::symmetric_sequential();
    nat_home = Nat::home();
    nat_mobile = Nat::mobile();
    nat_corporate = every_port_out(Nat::corporate());
    nat_hotel = every_port_out(Nat::hotel());
    nat_cloud = Nat::cloud();
    nat_public = Nat::public();
}

/// Two levels: a home router on the carrier's network `{lan}_isp` (the LAN's subnet with
/// 100 added to its third byte), behind the carrier's NAT `{name}_cgn` on the internet.
fn nat_cgnat(t: Topology, name: &str, lan: &str, subnet: &str, wan: &str) -> Topology {
    let (isp, carrier) = (format!("{lan}_isp"), format!("{name}_cgn"));
    let mut bytes = subnet.split(['.', '/']);
    let (a, b, c) = (
        bytes.next().expect("subnet"),
        bytes.next().expect("subnet"),
        bytes.next().expect("subnet").parse::<u8>().expect("subnet") + 100,
    );
    let t = nat_router(
        t,
        &carrier,
        &isp,
        &format!("{a}.{b}.{c}.0/24"),
        wan,
        Nat::cgnat(),
    );
    let home_wan = format!("{a}.{b}.{c}.2");
    t.bridge_with(lan, subnet, |b| b.in_node(name))
        .router(name, |n| {
            n.on_with(&isp, |i| i.name("wan").ip(&home_wan))
                .nat(Nat::home())
        })
}

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
