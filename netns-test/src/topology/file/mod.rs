//! Topology files: a [`Topology`] written in TOML (`docs/lab-format.md` is the reference),
//! read by [`Topology::from_file`], by [`crate::file!`] and by `netns-test lab FILE`.
//!
//! Each table of the file is a struct below that mirrors one builder (`[[node]]` is
//! [`NodeBuilder`], `[[bridge]]` [`BridgeBuilder`], ...), and each of its keys one call of
//! that builder, in the `apply` function next to it: a builder feature is one field and
//! one line. Unknown keys are errors (`deny_unknown_fields`) naming the known ones.

use std::path::Path;

use serde::de::Deserializer;
use serde::Deserialize;
use toml::Spanned;

use super::{AttachBuilder, BridgeBuilder, LinkBuilder, NodeBuilder, Topology, HOST};
use crate::error::{Error, Result};
use crate::nft::{Nat, Rule, Ruleset};

mod conditions;
mod dns;
mod values;
use self::conditions::{impair, ConditionsDecl};
use self::dns::DnsRecordDecl;
use self::values::*;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDecl {
    /// `[host]`: the host node's own settings.
    host: Option<Spanned<NodeDecl>>,
    #[serde(default)]
    bridge: Vec<BridgeDecl>,
    #[serde(default)]
    node: Vec<Spanned<NodeDecl>>,
    #[serde(default)]
    link: Vec<LinkDecl>,
    #[serde(default)]
    overlay: Vec<OverlayDecl>,
    /// `route_between = [["frontnet", "backnet"]]`.
    #[serde(default)]
    route_between: Vec<(String, String)>,
    /// `[[dns_record]]`: [`Topology::dns_record`].
    #[serde(default)]
    dns_record: Vec<DnsRecordDecl>,
}

/// `[[bridge]]`: [`Topology::bridge_with`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BridgeDecl {
    name: String,
    subnet: Subnet,
    gateway: Option<GatewayDecl>,
    #[serde(rename = "in")]
    in_node: Option<String>,
    ipv6: Option<Subnet>,
    #[serde(default)]
    masquerade: bool,
    nptv6: Option<Subnet>,
    #[serde(default)]
    hairpin: bool,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    scoped_names: bool,
    bridge_netfilter: Option<bool>,
    /// `[[bridge.dns_record]]`: [`BridgeBuilder::dns_record`].
    #[serde(default)]
    dns_record: Vec<DnsRecordDecl>,
}

impl BridgeDecl {
    fn apply(self, mut b: BridgeBuilder) -> BridgeBuilder {
        match self.gateway {
            Some(GatewayDecl::At(ip)) => b = b.gateway(&ip),
            Some(GatewayDecl::Off) => b = b.no_gateway(),
            None => {}
        }
        if let Some(node) = &self.in_node {
            b = b.in_node(node);
        }
        if let Some(subnet) = &self.ipv6 {
            b = b.ipv6(&subnet.0);
        }
        if self.masquerade {
            b = b.masquerade();
        }
        if let Some(outside) = &self.nptv6 {
            b = b.nptv6(&outside.0);
        }
        if self.hairpin {
            b = b.hairpin();
        }
        if self.internal {
            b = b.internal();
        }
        if self.scoped_names {
            b = b.scoped_names();
        }
        if let Some(on) = self.bridge_netfilter {
            b = b.bridge_netfilter(on);
        }
        for r in self.dns_record {
            b = b.dns_record(&r.name, r.records);
        }
        b
    }
}

/// `[[node]]` and `[host]`: [`NodeBuilder`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeDecl {
    name: Option<Spanned<String>>,
    /// [`Topology::router`]: forwarding on.
    #[serde(default)]
    router: bool,
    #[serde(default)]
    forwarding: bool,
    #[serde(default)]
    on: Vec<AttachEntry>,
    #[serde(default)]
    routes: Vec<RouteDecl>,
    #[serde(default = "yes")]
    default_route: bool,
    #[serde(default)]
    publish: Vec<Publish>,
    firewall: Option<FirewallDecl>,
    #[serde(default, deserialize_with = "shorthand_opt")]
    nat: Option<NatDecl>,
    nat64: Option<Nat64Decl>,
    #[serde(default = "yes")]
    wan_guard: bool,
    resolv_conf: Option<String>,
    #[serde(default)]
    keep_port_53_free: bool,
    /// `iface = [{ name = "svc0", addrs = ["10.200.0.1/32"] }]`: [`NodeBuilder::iface`].
    #[serde(default)]
    iface: Vec<IfaceDecl>,
    net_of: Option<String>,
}

/// An interface of the node's own: [`NodeBuilder::iface`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IfaceDecl {
    name: String,
    addrs: Vec<Cidr>,
}

fn yes() -> bool {
    true
}

fn shorthand_opt<'de, D: Deserializer<'de>, T: Shorthand>(d: D) -> Result<Option<T>, D::Error> {
    shorthand(d).map(Some)
}

impl NodeDecl {
    fn apply(self, mut n: NodeBuilder) -> NodeBuilder {
        if self.router || self.forwarding {
            n = n.forwarding();
        }
        for AttachEntry(attach) in &self.on {
            n = n.on_with(&attach.network, |a| attach.apply(a));
        }
        for route in &self.routes {
            n = n.route(&route.to.0, &route.via.0);
        }
        if !self.default_route {
            n = n.no_default_route();
        }
        for p in &self.publish {
            n = match p.proto {
                crate::nft::Proto::Udp => n.publish_udp(p.host_port, p.port),
                _ => n.publish(p.host_port, p.port),
            };
        }
        if let Some(firewall) = self.firewall {
            n = n.firewall(|r| firewall.apply(r));
        }
        if let Some(nat) = self.nat {
            n = n.nat(nat.0);
        }
        if let Some(Nat64Decl(Some(nat64))) = self.nat64 {
            n = n.nat64(nat64);
        }
        if !self.wan_guard {
            n = n.no_wan_guard();
        }
        if let Some(text) = &self.resolv_conf {
            n = n.resolv_conf(text);
        }
        if self.keep_port_53_free {
            n = n.keep_port_53_free();
        }
        for iface in &self.iface {
            let addrs: Vec<&str> = iface.addrs.iter().map(|a| a.0.as_str()).collect();
            n = n.iface(&iface.name, &addrs);
        }
        if let Some(other) = &self.net_of {
            n = n.net_of(other);
        }
        n
    }
}

/// One entry of a node's `on`: a network name, or a table ([`AttachBuilder`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachDecl {
    network: String,
    ip: Option<Addr>,
    ip6: Option<Addr>,
    name: Option<String>,
    peer_name: Option<String>,
    at: Option<String>,
    #[serde(default)]
    impairable: bool,
    #[serde(default)]
    down: bool,
    profile: Option<ProfileName>,
    conditions: Option<ConditionsDecl>,
    egress: Option<ConditionsDecl>,
    ingress: Option<ConditionsDecl>,
}

impl<'de> Deserialize<'de> for AttachEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        shorthand(d)
    }
}

/// What `on = [...]` holds: [`AttachDecl`] by name or as a table.
#[derive(Debug)]
struct AttachEntry(AttachDecl);

impl Shorthand for AttachEntry {
    type Table = AttachDecl;
    const EXPECTING: &'static str =
        "a network name, or a table such as { network = \"lan\", ip = \"10.0.0.5\" }";
    fn from_str<E: serde::de::Error>(s: &str) -> Result<Self, E> {
        Ok(AttachEntry(AttachDecl {
            network: s.to_string(),
            ..AttachDecl::default()
        }))
    }
    fn from_table(table: AttachDecl) -> Self {
        AttachEntry(table)
    }
}

impl AttachDecl {
    fn apply(&self, mut a: AttachBuilder) -> AttachBuilder {
        if let Some(ip) = &self.ip {
            a = a.ip(&ip.0);
        }
        if let Some(ip) = &self.ip6 {
            a = a.ip6(&ip.0);
        }
        if let Some(name) = &self.name {
            a = a.name(name);
        }
        if let Some(name) = &self.peer_name {
            a = a.peer_name(name);
        }
        if let Some(host) = &self.at {
            a = a.at(host);
        }
        if self.impairable {
            a = a.impairable();
        }
        if self.down {
            a = a.down();
        }
        impair(a, self.profile, self.conditions, self.egress, self.ingress)
    }
}

/// `routes = [{ to = "default", via = "10.0.0.1" }]`: [`NodeBuilder::route`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteDecl {
    to: Dest,
    via: Addr,
}

/// `nat = "home"` or `nat = { preset = "home", hairpin = false, ... }`: [`NodeBuilder::nat`].
#[derive(Debug)]
struct NatDecl(Nat);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NatTable {
    preset: NatPreset,
    mapping: Option<MappingName>,
    filtering: Option<FilteringName>,
    hairpin: Option<bool>,
    ports: Option<NatPortsDecl>,
    timeouts: Option<NatTimeoutsDecl>,
    outbound: Option<Vec<Outbound>>,
}

/// `ports = "preserve"`, `"random"` or `{ first = 40000, count = 100 }` (sequential).
#[derive(Debug)]
enum NatPortsDecl {
    Named(NatPortsName),
    Sequential(SequentialPorts),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum NatPortsName {
    Preserve,
    Random,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SequentialPorts {
    first: u16,
    count: u16,
}

impl<'de> Deserialize<'de> for NatPortsDecl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        shorthand(d)
    }
}

impl Shorthand for NatPortsDecl {
    type Table = SequentialPorts;
    const EXPECTING: &'static str = NAT_PORTS;
    fn from_str<E: serde::de::Error>(s: &str) -> Result<Self, E> {
        use serde::de::IntoDeserializer;
        NatPortsName::deserialize(s.into_deserializer())
            .map(NatPortsDecl::Named)
            .map_err(|_: E| E::custom(format_args!("{s:?} is not {NAT_PORTS}")))
    }
    fn from_table(t: SequentialPorts) -> Self {
        NatPortsDecl::Sequential(t)
    }
}

/// The forms of `nat.ports`, for its errors.
const NAT_PORTS: &str =
    "a NAT port choice: \"preserve\", \"random\", or { first = 40000, count = 100 } (sequential)";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NatTimeoutsDecl {
    udp: Option<Time>,
    udp_stream: Option<Time>,
    tcp_established: Option<Time>,
}

impl Shorthand for NatDecl {
    type Table = NatTable;
    const EXPECTING: &'static str =
        "a NAT preset name, or a table such as { preset = \"home\", hairpin = false }";
    fn from_str<E: serde::de::Error>(s: &str) -> Result<Self, E> {
        use serde::de::IntoDeserializer;
        NatPreset::deserialize(s.into_deserializer()).map(|p| NatDecl(p.value()))
    }
    fn from_table(t: NatTable) -> Self {
        let mut nat = t.preset.value();
        if let Some(m) = t.mapping {
            nat.mapping = m.value();
        }
        if let Some(f) = t.filtering {
            nat.filtering = f.value();
        }
        if let Some(h) = t.hairpin {
            nat.hairpin = h;
        }
        match t.ports {
            Some(NatPortsDecl::Named(NatPortsName::Preserve)) => {
                nat.ports = crate::nft::Ports::Preserve
            }
            Some(NatPortsDecl::Named(NatPortsName::Random)) => {
                nat.ports = crate::nft::Ports::Random
            }
            Some(NatPortsDecl::Sequential(SequentialPorts { first, count })) => {
                nat.ports = crate::nft::Ports::Sequential { first, count }
            }
            None => {}
        }
        if let Some(t) = t.timeouts {
            if let Some(d) = t.udp {
                nat.timeouts.udp = d.0;
            }
            if let Some(d) = t.udp_stream {
                nat.timeouts.udp_stream = d.0;
            }
            if let Some(d) = t.tcp_established {
                nat.timeouts.tcp_established = d.0;
            }
        }
        if let Some(out) = t.outbound {
            nat.outbound = Some(out.iter().map(|o| (o.0, o.1)).collect());
        }
        NatDecl(nat)
    }
}

/// `[node.firewall]`: [`NodeBuilder::firewall`], one [`Ruleset`] call per entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FirewallDecl {
    input_policy: Option<PolicyName>,
    forward_policy: Option<PolicyName>,
    output_policy: Option<PolicyName>,
    #[serde(default)]
    rules: Vec<RuleDecl>,
    #[serde(default)]
    masquerade: Vec<MasqueradeDecl>,
    #[serde(default)]
    snat: Vec<SnatDecl>,
    #[serde(default)]
    dnat: Vec<DnatDecl>,
    #[serde(default)]
    full_cone: Vec<FullConeDecl>,
    #[serde(default)]
    hairpin_masquerade: Vec<HairpinDecl>,
    /// The LAN interfaces of [`Ruleset::wan_guard`].
    wan_guard: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MasqueradeDecl {
    src: Net,
    not_oif: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnatDecl {
    src: Net,
    oif: Option<String>,
    to: Addr,
    ports: Option<Ports>,
    #[serde(default = "port_preserving")]
    mode: NatModeName,
}

fn port_preserving() -> NatModeName {
    NatModeName::PortPreserving
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DnatDecl {
    proto: Protocol,
    dst: Option<Addr>,
    dport: u16,
    to: Endpoint,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FullConeDecl {
    host: Addr,
    proto: Protocol,
    ports: Ports,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HairpinDecl {
    subnet: Net,
    lan: String,
}

/// One filter rule: [`Rule`], its matches and its verdict.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDecl {
    hook: HookName,
    src: Option<Net>,
    not_src: Option<Net>,
    dst: Option<Net>,
    not_dst: Option<Net>,
    iif: Option<String>,
    not_iif: Option<String>,
    oif: Option<String>,
    not_oif: Option<String>,
    proto: Option<Protocol>,
    dport: Option<Ports>,
    sport: Option<Ports>,
    ct: Option<CtName>,
    #[serde(default)]
    dst_local: bool,
    #[serde(default)]
    local_socket: bool,
    action: Option<ActionName>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CtName {
    Established,
    New,
    Dnat,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ActionName {
    Accept,
    Drop,
    Reject,
    Count,
}

impl RuleDecl {
    fn rule(&self) -> Rule {
        let mut r = Rule::new();
        let nets = [
            (&self.src, Rule::src as fn(Rule, ipnet::IpNet) -> Rule),
            (&self.not_src, Rule::not_src),
            (&self.dst, Rule::dst),
            (&self.not_dst, Rule::not_dst),
        ];
        for (net, add) in nets {
            if let Some(net) = net {
                r = add(r, net.0);
            }
        }
        let ifaces = [
            (&self.iif, Rule::iif as fn(Rule, &str) -> Rule),
            (&self.not_iif, Rule::not_iif),
            (&self.oif, Rule::oif),
            (&self.not_oif, Rule::not_oif),
        ];
        for (name, add) in ifaces {
            if let Some(name) = name {
                r = add(r, name);
            }
        }
        if let Some(p) = self.proto {
            r = r.proto(p.0);
        }
        if let Some(Ports(lo, hi)) = self.dport {
            r = r.dport_range(lo..=hi);
        }
        if let Some(Ports(lo, hi)) = self.sport {
            r = r.sport_range(lo..=hi);
        }
        r = match self.ct {
            Some(CtName::Established) => r.ct_established(),
            Some(CtName::New) => r.ct_new(),
            Some(CtName::Dnat) => r.ct_dnat(),
            None => r,
        };
        if self.dst_local {
            r = r.dst_local();
        }
        if self.local_socket {
            r = r.local_socket();
        }
        match self.action {
            Some(ActionName::Accept) => r.accept(),
            Some(ActionName::Drop) => r.drop(),
            Some(ActionName::Reject) => r.reject(),
            Some(ActionName::Count) | None => r,
        }
    }
}

impl FirewallDecl {
    /// NAT first, then filtering: the order of each chain's rules is the order of their
    /// array in the file.
    fn apply(self, mut r: Ruleset) -> Ruleset {
        use crate::nft::Hook;
        for m in &self.masquerade {
            r = r.nat_masquerade(m.src.0, m.not_oif.as_deref());
        }
        for s in &self.snat {
            let to = s.to.0.parse().expect("checked when read");
            let ports = s.ports.map(|Ports(lo, hi)| lo..=hi);
            r = r.snat(s.src.0, s.oif.as_deref(), to, ports, s.mode.value());
        }
        for d in &self.dnat {
            let dst = d
                .dst
                .as_ref()
                .map(|a| a.0.parse().expect("checked when read"));
            r = r.dnat(d.proto.0, dst, d.dport, d.to.0);
        }
        for f in &self.full_cone {
            let host = f.host.0.parse().expect("checked when read");
            r = r.full_cone(host, f.proto.0, f.ports.0..=f.ports.1);
        }
        for h in &self.hairpin_masquerade {
            r = r.hairpin_masquerade(h.subnet.0, &h.lan);
        }
        let policies = [
            (Hook::Input, self.input_policy),
            (Hook::Forward, self.forward_policy),
            (Hook::Output, self.output_policy),
        ];
        for (hook, policy) in policies {
            if let Some(p) = policy {
                r = r.policy(hook, p.value());
            }
        }
        for rule in &self.rules {
            r = r.filter(rule.hook.value(), rule.rule());
        }
        if let Some(lans) = &self.wan_guard {
            let lans: Vec<&str> = lans.iter().map(String::as_str).collect();
            r = r.wan_guard(&lans);
        }
        r
    }
}

/// `[[link]]`: [`Topology::link_with`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkDecl {
    a: String,
    b: String,
    subnet: Subnet,
    names: Option<(String, String)>,
    ips: Option<(Addr, Addr)>,
    ipv6: Option<Subnet>,
    #[serde(default)]
    impairable: bool,
    profile: Option<ProfileName>,
    conditions: Option<ConditionsDecl>,
    egress: Option<ConditionsDecl>,
    ingress: Option<ConditionsDecl>,
}

impl LinkDecl {
    fn apply(&self, mut l: LinkBuilder) -> LinkBuilder {
        if let Some((a, b)) = &self.names {
            l = l.names(a, b);
        }
        if let Some((a, b)) = &self.ips {
            l = l.ips(&a.0, &b.0);
        }
        if let Some(subnet) = &self.ipv6 {
            l = l.ipv6(&subnet.0);
        }
        if self.impairable {
            l = l.impairable();
        }
        impair(l, self.profile, self.conditions, self.egress, self.ingress)
    }
}

/// `[[overlay]]`: [`Topology::overlay`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverlayDecl {
    name: String,
    subnet: Subnet,
    vni: u32,
    hosts: Vec<String>,
}

impl Topology {
    /// Reads a topology from a TOML file (the format: `docs/lab-format.md`; the labs of
    /// `examples/labs/` are examples), the one `netns-test lab FILE` opens.
    ///
    /// Fails with [`Error::TopologyFile`], naming the file, the line and the column, when
    /// the file is not TOML or not a topology (an unknown key, a value of the wrong kind,
    /// an address that does not parse); a file that cannot be read fails with
    /// [`Error::Sys`]. A topology that reads well but cannot be planned (an unknown
    /// network, overlapping subnets) fails later, in [`Topology::plan`], as one written in
    /// Rust would.
    ///
    /// ```no_run
    /// use netns_test::{Lab, Topology};
    ///
    /// let lab = Lab::enter()?;
    /// let net = lab.build(&Topology::from_file("examples/labs/docker_bridge.toml")?)?;
    /// println!("{}", net.summary());
    /// # Ok::<(), netns_test::Error>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Topology> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::sys(format!("reading the topology file {}", path.display()), e))?;
        Topology::from_toml(&text, path)
    }

    /// Reads a topology from the text of a TOML file; `path` is what errors name.
    pub fn from_toml(text: &str, path: impl AsRef<Path>) -> Result<Topology> {
        let path = path.as_ref();
        let file: FileDecl = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            located(path, text, at, e.message())
        })?;
        file.into_topology(path, text)
    }
}

/// [`Error::TopologyFile`] at byte `at` of `text`.
fn located(path: &Path, text: &str, at: usize, message: &str) -> Error {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Error::TopologyFile {
        path: path.to_path_buf(),
        line,
        column,
        message: message.trim_end().to_string(),
    }
}

impl FileDecl {
    fn into_topology(self, path: &Path, text: &str) -> Result<Topology> {
        let mut t = Topology::new();
        for b in self.bridge {
            let (name, subnet) = (b.name.clone(), b.subnet.0.clone());
            t = t.bridge_with(&name, &subnet, |builder| b.apply(builder));
        }
        if let Some(host) = self.host {
            let at = host.span().start;
            let host = host.into_inner();
            if let Some(name) = &host.name {
                let message = format!(
                    "[host] takes no name: it is the node {HOST:?}; give other nodes a [[node]] of their own"
                );
                return Err(located(path, text, name.span().start, &message));
            }
            if host.router {
                let message = "[host] is not a router: write `forwarding = true` there instead";
                return Err(located(path, text, at, message));
            }
            t = t.host(|n| host.apply(n));
        }
        for node in self.node {
            let at = node.span().start;
            let mut node = node.into_inner();
            let Some(name) = node.name.take() else {
                return Err(located(
                    path,
                    text,
                    at,
                    "a [[node]] needs a name: name = \"a\"",
                ));
            };
            t = t.node(name.get_ref(), |n| node.apply(n));
        }
        for l in self.link {
            t = t.link_with(&l.a, &l.b, &l.subnet.0, |builder| l.apply(builder));
        }
        for o in self.overlay {
            let hosts: Vec<&str> = o.hosts.iter().map(String::as_str).collect();
            t = t.overlay(&o.name, &o.subnet.0, o.vni, &hosts);
        }
        for (a, b) in &self.route_between {
            t = t.route_between(a, b);
        }
        for r in self.dns_record {
            t = t.dns_record(&r.name, r.records);
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests;
