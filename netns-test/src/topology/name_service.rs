//! The name service's planned facts: the address every node's resolver asks, its ports,
//! and the nf_tables redirect a node that keeps port 53 free gets (see the live responder
//! in `net/dns.rs`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::error::Error;
use crate::topology::{Plan, PlannedNode};

/// The address every node's resolver file names, like Docker's embedded DNS.
pub(crate) const ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// The port the responder listens on by default, and the one resolvers ask.
pub(crate) const PORT: u16 = 53;

/// The port the responder listens on in a node that keeps port 53 free; `ADDR:53` is
/// DNATed to it there.
pub(crate) const REDIRECTED_PORT: u16 = 53053;

/// The table of the redirect, apart from the node's other rules so that those can be
/// replaced at run time without touching it.
pub(crate) const TABLE: &str = "netns_test_dns";

/// `ADDR:53` to the responder, for a node that keeps port 53 free: `ip daddr 127.0.0.11
/// udp dport 53 dnat ip to 127.0.0.11:53053` in table `inet netns_test_dns` ([`TABLE`]).
pub(crate) fn redirect() -> crate::nft::Ruleset {
    crate::nft::Ruleset::named(TABLE).dnat(
        crate::nft::Proto::Udp,
        Some(IpAddr::V4(ADDR)),
        PORT,
        SocketAddr::new(IpAddr::V4(ADDR), REDIRECTED_PORT),
    )
}

/// The build error when the kernel refuses the redirect of a node that keeps port 53
/// free: names the node, the declaration (made by `declared_by`, the node itself or one
/// sharing its namespace), the kernel module and the ways out.
pub(crate) fn redirect_error(node: &str, declared_by: &str, e: Error) -> Error {
    let who = if declared_by == node {
        format!("node {node:?} declares keep_port_53_free()")
    } else {
        format!("node {declared_by:?}, which shares the network namespace of node {node:?}, declares keep_port_53_free()")
    };
    Error::Sys {
        what: format!(
            "{who}, so its name service is reached through an nf_tables DNAT rule \
             ({ADDR}:{PORT} to {ADDR}:{REDIRECTED_PORT}), which needs nf_tables NAT in the kernel: \
             the nft_nat module (CONFIG_NFT_NAT, with CONFIG_NF_TABLES). Load it \
             (`modprobe nft_nat`), or drop keep_port_53_free() if the DNS server under test \
             sets SO_REUSEADDR or SO_REUSEPORT (it can then bind port 53 next to the name \
             service). The kernel refused the rule"
        ),
        source: std::io::Error::other(e.to_string()),
    }
}

/// The node that keeps port 53 free in the namespace of node `i` (the node itself, or one
/// sharing its namespace), if any.
pub(crate) fn keeper(plan: &Plan, i: usize) -> Option<&PlannedNode> {
    std::iter::once(&plan.nodes[i])
        .chain(plan.nodes.iter().filter(|n| n.net_of == Some(i)))
        .find(|n| n.keep_port_53_free)
}
