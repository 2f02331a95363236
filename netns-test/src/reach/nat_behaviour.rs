//! What a NAT does, in RFC 4787's terms: the behaviour the classifier measures and a
//! declared [`Nat`](crate::nft::Nat) is expected to show.

use std::fmt;

/// RFC 4787 *mapping* behaviour: which external endpoint a NAT gives one inside endpoint,
/// by destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mapping {
    /// No translation: the reflector sees the node's own address and port (a routed
    /// router, or none).
    NoNat,
    /// Endpoint-independent mapping (EIM): one external endpoint for every destination
    /// (full cone, address-restricted and port-restricted NATs).
    EndpointIndependent,
    /// Address-dependent mapping: one external endpoint per destination address.
    AddressDependent,
    /// Address- and port-dependent mapping: one per destination address and port (a
    /// "symmetric" NAT).
    AddressAndPortDependent,
}

/// RFC 4787 *filtering* behaviour: who may send to an external endpoint once the inside
/// host has sent from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Filtering {
    /// Endpoint-independent filtering (EIF): anyone (full cone; also no NAT and no
    /// firewall).
    EndpointIndependent,
    /// Address-dependent filtering (ADF): any port of an address the host sent to
    /// (address-restricted cone).
    AddressDependent,
    /// Address- and port-dependent filtering (APDF): only the address and port the host
    /// sent to (port-restricted cone, symmetric; what Linux connection tracking gives).
    AddressAndPortDependent,
}

/// How a NAT picks the external port of a new mapping (RFC 4787 section 4.2), as far as
/// one classification sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortAllocation {
    /// The external port is the inside one (port preservation; also no NAT).
    Preserving,
    /// Each new mapping gets the previous one's port + 1: the next one is predictable.
    /// Seen only where three mappings are made (address- and port-dependent mapping),
    /// when nothing else behind the NAT made one in between.
    Sequential,
    /// Neither: random ports, or an endpoint-independent NAT that did not preserve the
    /// port (it makes one mapping only, so a sequence cannot be seen).
    Random,
}

impl fmt::Display for PortAllocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortAllocation::Preserving => "preserving",
            PortAllocation::Sequential => "sequential",
            PortAllocation::Random => "random",
        })
    }
}

impl fmt::Display for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mapping::NoNat => "no NAT",
            Mapping::EndpointIndependent => "endpoint-independent mapping",
            Mapping::AddressDependent => "address-dependent mapping",
            Mapping::AddressAndPortDependent => "address- and port-dependent mapping",
        })
    }
}

impl fmt::Display for Filtering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Filtering::EndpointIndependent => "endpoint-independent filtering",
            Filtering::AddressDependent => "address-dependent filtering",
            Filtering::AddressAndPortDependent => "address- and port-dependent filtering",
        })
    }
}

/// What a NAT does, in RFC 4787's terms: what [`NatProbe::classify`](super::NatProbe::classify) measures and
/// [`NatProbe::assert`](super::NatProbe::assert) compares with a declared one.
///
/// ```
/// use netns_test::reach::{Filtering, Mapping, NatBehaviour};
///
/// // A home router (`masquerade()`): port-restricted cone.
/// let home = NatBehaviour::new(Mapping::EndpointIndependent, Filtering::AddressAndPortDependent)
///     .port_preservation(true);
/// assert_eq!(
///     home.to_string(),
///     "endpoint-independent mapping, address- and port-dependent filtering, no hairpinning, port preservation"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NatBehaviour {
    /// Which external endpoint an inside endpoint gets, by destination.
    pub mapping: Mapping,
    /// Who may send in.
    pub filtering: Filtering,
    /// A host reaches an external endpoint of its own NAT (RFC 4787 section 6).
    pub hairpin: bool,
    /// The external port is the inside one (RFC 4787 section 4.2.1).
    pub port_preservation: bool,
    /// How new mappings' ports are chosen: [`PortAllocation::Preserving`] exactly when
    /// `port_preservation`.
    pub port_allocation: PortAllocation,
}

impl NatBehaviour {
    /// What the classifier measures from the first host behind a declared [`Nat`](crate::nft::Nat) on
    /// a local port, in its terms: what to give
    /// [`Net::assert_nat`](crate::Net::assert_nat). (A second host on the same port
    /// gets another external port: no port preservation.) A routed router is
    /// [`reach::Mapping::NoNat`](crate::reach::Mapping::NoNat) with endpoint-independent
    /// filtering and hairpinning (the host's own address answers itself).
    ///
    /// ```
    /// use netns_test::nft::Nat;
    /// use netns_test::reach::{Filtering, Mapping, NatBehaviour};
    /// assert_eq!(
    ///     NatBehaviour::declared(&Nat::home()),
    ///     NatBehaviour::new(Mapping::EndpointIndependent, Filtering::AddressAndPortDependent)
    ///         .hairpin(true)
    ///         .port_preservation(true)
    /// );
    /// ```
    pub fn declared(nat: &crate::nft::Nat) -> NatBehaviour {
        use crate::nft::nat::{Filtering as DF, Mapping as DM, Ports};
        use Filtering as F;
        use Mapping as M;
        let mapping = match nat.mapping {
            DM::None => {
                return NatBehaviour::new(M::NoNat, F::EndpointIndependent)
                    .hairpin(true)
                    .port_preservation(true)
            }
            DM::EndpointIndependent => M::EndpointIndependent,
            DM::EndpointDependent => M::AddressAndPortDependent,
        };
        let filtering = match nat.filtering {
            DF::EndpointIndependent => F::EndpointIndependent,
            DF::AddressDependent => F::AddressDependent,
            DF::AddressAndPortDependent => F::AddressAndPortDependent,
        };
        let b = NatBehaviour::new(mapping, filtering).hairpin(nat.hairpin);
        match nat.ports {
            Ports::Preserve => b.port_preservation(true),
            Ports::Random => b,
            Ports::Sequential { .. } => b.sequential_ports(),
        }
    }

    /// This mapping and filtering, without hairpinning or port preservation.
    pub const fn new(mapping: Mapping, filtering: Filtering) -> NatBehaviour {
        NatBehaviour {
            mapping,
            filtering,
            hairpin: false,
            port_preservation: false,
            port_allocation: PortAllocation::Random,
        }
    }

    /// With hairpinning or without.
    pub const fn hairpin(mut self, yes: bool) -> NatBehaviour {
        self.hairpin = yes;
        self
    }

    /// With port preservation or without.
    pub const fn port_preservation(mut self, yes: bool) -> NatBehaviour {
        self.port_preservation = yes;
        self.port_allocation = if yes {
            PortAllocation::Preserving
        } else {
            PortAllocation::Random
        };
        self
    }

    /// With sequential, predictable ports (and no port preservation).
    pub const fn sequential_ports(mut self) -> NatBehaviour {
        self.port_preservation = false;
        self.port_allocation = PortAllocation::Sequential;
        self
    }

    /// Whether UDP hole punching between hosts behind two NATs of these behaviours gets
    /// through, by the classic rules: when both map endpoint-independently (or do not
    /// translate), or when either lets in anyone, or any port of an address it sent to
    /// (endpoint-independent or address-dependent filtering: a NAT sends from one
    /// address, whatever port it maps), once the peer answers to where the other's
    /// packets come from.
    pub fn hole_punching_with(&self, other: &NatBehaviour) -> bool {
        let eim =
            |b: &NatBehaviour| matches!(b.mapping, Mapping::NoNat | Mapping::EndpointIndependent);
        let open = |b: &NatBehaviour| {
            matches!(
                b.filtering,
                Filtering::EndpointIndependent | Filtering::AddressDependent
            )
        };
        (eim(self) && eim(other)) || open(self) || open(other)
    }

    /// The fields in which `self` (measured) differs from `declared`.
    pub(super) fn differences(&self, declared: &NatBehaviour) -> Vec<String> {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let mut d = Vec::new();
        if self.mapping != declared.mapping {
            d.push(format!(
                "mapping: measured {}, declared {}",
                self.mapping, declared.mapping
            ));
        }
        if self.filtering != declared.filtering {
            d.push(format!(
                "filtering: measured {}, declared {}",
                self.filtering, declared.filtering
            ));
        }
        if self.hairpin != declared.hairpin {
            d.push(format!(
                "hairpinning: measured {}, declared {}",
                yes(self.hairpin),
                yes(declared.hairpin)
            ));
        }
        if self.port_preservation != declared.port_preservation {
            d.push(format!(
                "port preservation: measured {}, declared {}",
                yes(self.port_preservation),
                yes(declared.port_preservation)
            ));
        } else if self.port_allocation != declared.port_allocation {
            d.push(format!(
                "port allocation: measured {}, declared {}",
                self.port_allocation, declared.port_allocation
            ));
        }
        d
    }
}

impl fmt::Display for NatBehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {}, {}, {}",
            self.mapping,
            self.filtering,
            if self.hairpin {
                "hairpinning"
            } else {
                "no hairpinning"
            },
            if self.port_preservation {
                "port preservation"
            } else {
                "no port preservation"
            }
        )?;
        if self.port_allocation == PortAllocation::Sequential {
            f.write_str(", sequential ports")?;
        }
        Ok(())
    }
}
