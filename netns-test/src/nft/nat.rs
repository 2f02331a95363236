//! A router's NAT as one declaration: RFC 4787 mapping, filtering, hairpinning and port
//! allocation, and the NAT's timeouts.
//!
//! [`Nat`] is a plain value: take a tier ([`Nat::full_cone`], [`Nat::port_restricted`],
//! ...) or a preset named after a real network ([`Nat::home`], [`Nat::mobile`], ...),
//! change its fields if needed, and declare it on a router with
//! [`NodeBuilder::nat`](crate::topology::NodeBuilder::nat) or install it at run time with
//! [`NftHandle::set_nat`](crate::NftHandle::set_nat).
//!
//! Each tier and preset as the classifier ([`crate::reach`], `net.classify_nat`)
//! measures it behind a router of its own, a host alone on its local port (a second host
//! on the same port gets another external port), and whether UDP hole punching through a
//! rendezvous gets through it (`netns-test/tests/hole_punch_matrix.rs`, 50 punches per pair of
//! tiers); [`NatBehaviour::declared`](crate::reach::NatBehaviour::declared) gives the measured class of a declaration:
//!
//! | declared | mapping | filtering | hairpin | ports | hole punching with |
//! | --- | --- | --- | --- | --- | --- |
//! | [`Nat::none`], [`Nat::public`] | none (routed) | endpoint-independent | yes | the host's own | all |
//! | [`Nat::full_cone`] | endpoint-independent | endpoint-independent | yes | preserved | all |
//! | [`Nat::address_restricted`] | endpoint-independent | address-dependent | yes | preserved | all |
//! | [`Nat::port_restricted`], [`Nat::home`] | endpoint-independent | address+port-dependent | yes | preserved | all but symmetric (sequential: by port prediction) |
//! | [`Nat::home`] behind [`Nat::cgnat`] | endpoint-independent | address+port-dependent | yes | preserved | as port-restricted |
//! | [`Nat::hotel`] | endpoint-independent | address+port-dependent | no | preserved | as port-restricted |
//! | [`Nat::symmetric`], [`Nat::mobile`], [`Nat::cloud`], [`Nat::corporate`] | address+port-dependent | address+port-dependent | no | random | full cone, address-restricted, none |
//! | [`Nat::symmetric_sequential`] | address+port-dependent | address+port-dependent | no | sequential | the same, and endpoint-independent mapping by port prediction |
//!
//! [`Nat::corporate`] and [`Nat::hotel`] are measured with every port out: the
//! classifier's reflector listens on ports of its own, which their outbound rules drop.
//!
//! The NAT lives in a table of its own, `inet netns_nat` ([`NAT_TABLE`]), so that
//! [`NftHandle::apply`](crate::NftHandle::apply) (which replaces `inet netns_test`) keeps
//! it. Its dynamic maps hold the mappings, as a real NAT's table does:
//!
//! - `out`: internal endpoint -> external endpoint, filled when a LAN host's packet leaves
//!   through the WAN; with endpoint-independent mapping, a new flow of the same internal
//!   endpoint reuses it, whoever it goes to. Two hosts on the same local port get two
//!   external ports (the second one a random one), each kept for every destination.
//! - `in`: external port -> internal endpoint, what endpoint-independent and
//!   address-dependent filtering DNAT inbound packets through. It is filled only when the
//!   host sends: nothing is open before.
//! - `adf`: external port . remote address, the addresses each mapping sent to.
//!
//! Each element lives for the protocol's timeout ([`NatTimeouts`]) and is refreshed by
//! every outgoing packet. Unsolicited inbound TCP and UDP for the router itself is dropped
//! in its input hook (as [`Ruleset::wan_guard`](super::Ruleset::wan_guard) does), and so is
//! any new inbound connection from the WAN that no DNAT let in.
//!
//! IPv4 only: IPv6 has no NAT in this table (it is routed).

use std::time::Duration;

use super::Proto;

/// The table a [`Nat`] is installed in: `inet netns_nat`.
pub const NAT_TABLE: &str = "netns_nat";

/// Which external endpoint an internal endpoint gets (RFC 4787 section 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mapping {
    /// No translation at all: the router only routes.
    None,
    /// Endpoint-independent (EIM): one external endpoint for every destination.
    EndpointIndependent,
    /// Address-and-port-dependent (EDM, "symmetric"): a new external port per
    /// destination address and port.
    EndpointDependent,
}

/// Who may send to a mapped external endpoint (RFC 4787 section 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Filtering {
    /// Endpoint-independent (EIF): anyone, once the internal endpoint has sent.
    EndpointIndependent,
    /// Address-dependent (ADF): any port of an address the internal endpoint sent to.
    AddressDependent,
    /// Address-and-port-dependent (APDF): only the address and port it sent to (what
    /// connection tracking alone gives).
    AddressAndPortDependent,
}

/// How a new mapping's external port is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ports {
    /// The internal port, where that leaves the mapping unique (port preservation);
    /// a random one otherwise.
    Preserve,
    /// A random port (nft `masquerade fully-random`).
    Random,
    /// The next port of `first..first + count`, in the order mappings are made, shared by
    /// every host behind the router: a new mapping gets the previous one's port + 1 (and
    /// wraps to `first`). nft `masquerade to :numgen inc mod COUNT offset FIRST`: nftables
    /// has no sequential allocator, but the `numgen inc` counter of the rule, evaluated
    /// once per new connection, is one.
    Sequential {
        /// The first port.
        first: u16,
        /// How many ports (at least 1).
        count: u16,
    },
}

/// The NAT's timeouts: how long a mapping (and its connection tracking entry) lives
/// without traffic. Written to the router's `net.netfilter.nf_conntrack_udp_timeout`,
/// `nf_conntrack_udp_timeout_stream` and `nf_conntrack_tcp_timeout_established` (per
/// network namespace) and used as the lifetime of the NAT's map elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NatTimeouts {
    /// A UDP flow seen in one direction only (Linux's default: 30 s).
    pub udp: Duration,
    /// A UDP flow seen in both directions (Linux's default: 120 s); also the lifetime of
    /// a UDP mapping in the NAT's maps.
    pub udp_stream: Duration,
    /// An established TCP connection (Linux's default: 5 days); also the lifetime of a TCP
    /// mapping in the NAT's maps.
    pub tcp_established: Duration,
}

impl Default for NatTimeouts {
    /// Linux's defaults: 30 s, 120 s, 5 days.
    fn default() -> Self {
        NatTimeouts {
            udp: Duration::from_secs(30),
            udp_stream: Duration::from_secs(120),
            tcp_established: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

/// A router's NAT (see the [module](self) for the tiers and what each does).
///
/// Every field is public: a tier or preset is a starting point to change.
///
/// ```
/// use netns_test::nft::{Filtering, Mapping, Nat};
/// let mut nat = Nat::home();
/// nat.hairpin = false;
/// assert_eq!(nat.mapping, Mapping::EndpointIndependent);
/// assert_eq!(nat.filtering, Filtering::AddressAndPortDependent);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Nat {
    /// Which external endpoint an internal one gets.
    pub mapping: Mapping,
    /// Who may send in to a mapping.
    pub filtering: Filtering,
    /// A LAN host reaches another one at its mapped external endpoint, and sees the
    /// sender's external endpoint as the source (RFC 4787 REQ-9).
    pub hairpin: bool,
    /// How a new mapping's port is chosen.
    pub ports: Ports,
    /// The NAT's timeouts.
    pub timeouts: NatTimeouts,
    /// Outbound new connections allowed, as (protocol, destination port); `None`: all.
    /// Others are dropped in the forward hook (a corporate firewall).
    pub outbound: Option<Vec<(Proto, u16)>>,
}

impl Nat {
    fn tier(mapping: Mapping, filtering: Filtering, hairpin: bool, ports: Ports) -> Nat {
        Nat {
            mapping,
            filtering,
            hairpin,
            ports,
            timeouts: NatTimeouts::default(),
            outbound: None,
        }
    }

    /// No NAT: the router routes, the LAN's addresses are seen as they are.
    pub fn none() -> Nat {
        Nat::tier(
            Mapping::None,
            Filtering::EndpointIndependent,
            false,
            Ports::Preserve,
        )
    }

    /// Full cone: endpoint-independent mapping and filtering (EIM + EIF), hairpinning,
    /// ports preserved. Once a host has sent from a port, anyone can reach it there.
    pub fn full_cone() -> Nat {
        Nat::tier(
            Mapping::EndpointIndependent,
            Filtering::EndpointIndependent,
            true,
            Ports::Preserve,
        )
    }

    /// Address-restricted cone: EIM + address-dependent filtering (ADF), hairpinning,
    /// ports preserved: any port of an address the host sent to gets in.
    pub fn address_restricted() -> Nat {
        Nat::tier(
            Mapping::EndpointIndependent,
            Filtering::AddressDependent,
            true,
            Ports::Preserve,
        )
    }

    /// Port-restricted cone, the home router: EIM + address-and-port-dependent filtering
    /// (APDF), hairpinning, ports preserved.
    pub fn port_restricted() -> Nat {
        Nat::tier(
            Mapping::EndpointIndependent,
            Filtering::AddressAndPortDependent,
            true,
            Ports::Preserve,
        )
    }

    /// Symmetric: a new random external port per destination (EDM + APDF), no
    /// hairpinning. Hole punching through it fails against anything but a full cone.
    pub fn symmetric() -> Nat {
        Nat::tier(
            Mapping::EndpointDependent,
            Filtering::AddressAndPortDependent,
            false,
            Ports::Random,
        )
    }

    /// Symmetric with sequential, predictable ports (EDM + APDF): each new mapping gets the
    /// previous one's port + 1, from 20000 (see [`Ports::Sequential`]), what port-guessing
    /// traversal relies on.
    pub fn symmetric_sequential() -> Nat {
        Nat::tier(
            Mapping::EndpointDependent,
            Filtering::AddressAndPortDependent,
            false,
            Ports::Sequential {
                first: 20000,
                count: 10000,
            },
        )
    }

    /// Any combination (the custom form); hairpinning off, default timeouts.
    pub fn custom(mapping: Mapping, filtering: Filtering, ports: Ports) -> Nat {
        Nat::tier(mapping, filtering, false, ports)
    }

    /// Home router: [`Nat::port_restricted`], nothing inbound that the LAN did not ask for.
    pub fn home() -> Nat {
        Nat::port_restricted()
    }

    /// One level of carrier-grade NAT (RFC 6888): EIM + APDF, hairpinning, ports
    /// preserved where they can be, UDP mappings kept 2 minutes (its REQ-8 minimum). Put
    /// home routers behind it for two levels (see
    /// [`presets::cgnat_nat`](crate::topology::presets::cgnat_nat)).
    pub fn cgnat() -> Nat {
        Nat::port_restricted()
    }

    /// Mobile carrier: [`Nat::symmetric`] (random port per destination), no hairpinning.
    pub fn mobile() -> Nat {
        Nat::symmetric()
    }

    /// Corporate network: [`Nat::symmetric`], and only TCP 80 and 443 and UDP 53 out.
    pub fn corporate() -> Nat {
        let mut nat = Nat::symmetric();
        nat.outbound = Some(vec![(Proto::Tcp, 80), (Proto::Tcp, 443), (Proto::Udp, 53)]);
        nat
    }

    /// Hotel or captive-portal network: [`Nat::port_restricted`] without hairpinning
    /// (guests do not reach each other through it) and short UDP timeouts (10 s unreplied,
    /// 30 s replied), only web, DNS and the usual VPN/QUIC ports out (TCP 80, 443, UDP 53,
    /// 443).
    pub fn hotel() -> Nat {
        let mut nat = Nat::port_restricted();
        nat.hairpin = false;
        nat.timeouts.udp = Duration::from_secs(10);
        nat.timeouts.udp_stream = Duration::from_secs(30);
        nat.outbound = Some(vec![
            (Proto::Tcp, 80),
            (Proto::Tcp, 443),
            (Proto::Udp, 53),
            (Proto::Udp, 443),
        ]);
        nat
    }

    /// Cloud NAT gateway: [`Nat::symmetric`] with long UDP timeouts (350 s, as the large
    /// clouds' NAT gateways).
    pub fn cloud() -> Nat {
        let mut nat = Nat::symmetric();
        nat.timeouts.udp = Duration::from_secs(350);
        nat.timeouts.udp_stream = Duration::from_secs(350);
        nat
    }

    /// A public address: no NAT ([`Nat::none`]).
    pub fn public() -> Nat {
        Nat::none()
    }

    /// Checks the declaration; `Err` says what is wrong.
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        if let Ports::Sequential { first, count } = self.ports {
            if count == 0 || u32::from(first) + u32::from(count) - 1 > 65535 {
                return Err(format!(
                    "sequential ports from {first}, {count} of them, do not fit in 1-65535"
                ));
            }
        }
        let t = &self.timeouts;
        for (name, d) in [
            ("udp", t.udp),
            ("udp_stream", t.udp_stream),
            ("tcp_established", t.tcp_established),
        ] {
            if d.as_secs() == 0 {
                return Err(format!(
                    "the {name} timeout must be at least 1 s, not {d:?}"
                ));
            }
        }
        Ok(())
    }
}

/// One mapping of a NAT, read from the router's connection tracking table: an internal
/// endpoint, the external endpoint it is seen as, and the remote endpoint of the flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NatMapping {
    /// TCP or UDP (or another protocol, ports 0).
    pub proto: Proto,
    /// The LAN host's address and port.
    pub internal: std::net::SocketAddr,
    /// What the outside sees: the router's address and the mapped port.
    pub external: std::net::SocketAddr,
    /// Where the flow goes.
    pub remote: std::net::SocketAddr,
}

impl std::fmt::Display for NatMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} -> {} (to {})",
            self.proto, self.internal, self.external, self.remote
        )
    }
}
