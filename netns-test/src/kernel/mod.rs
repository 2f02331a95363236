//! The netlink layer: applies a [`Plan`](crate::topology::Plan) to the kernel, and the
//! netlink operations a test can make at run time. It knows the topology's plan, nf_tables
//! and the system calls, nothing above. What must run before the first frame (the name
//! services, the relays of impairable links) the live network starts between `build` and
//! `Built::wait_up`.
//!
//! - `build.rs`: a namespace and a netlink socket per node, then every device, address
//!   and route of the plan, and the wait for the links to come up.
//! - `ops.rs`: run-time operations on links, addresses and routes (`ip link`, `ip addr`,
//!   `ip route`).
//! - `dump.rs`: a node's state read back for the diagnostics, as plain data: links,
//!   addresses, routes, neighbours, a bridge's FDB, sysctls, nf_tables and conntrack.
//! - `tc.rs`: root qdiscs (`tbf`, `netem`), for link conditions.
//! - `kick.rs`: keeps the kernel's linkwatch going while many links come up.
//! - `pool.rs`: fresh network namespaces made ahead of time, for processes that build
//!   many networks.
//!
//! Every node gets its own rtnetlink socket, opened by a thread standing in that node's
//! namespace. Links are created with both ends directly in their target namespaces (moving
//! a link costs ~30x more), up from the start, with the ifindexes the plan fixed and its
//! MACs; requests of one phase run concurrently.

use std::os::fd::OwnedFd;

use rtnetlink::Handle;

use crate::nft;

mod build;
pub(crate) mod dump;
mod kick;
mod ops;
pub(crate) mod pool;
pub(crate) mod sockets;
pub(crate) mod tc;

pub(crate) use build::{build, open_namespaces, wait_link_up, write_sysctl, HostNs};
pub use ops::RouteEntry;
pub(crate) use ops::{
    add_address, add_device_route, add_dummy, add_route, add_veth, del_address, del_link,
    del_route, routes, set_link, NewLink,
};

/// A node's namespace and its netlink handle.
pub(crate) struct NodeNs {
    pub netns: OwnedFd,
    pub nl: Handle,
    /// The node's nf_tables socket, kept open (see [`nft::Kept`]).
    pub nft: Option<nft::Kept>,
}
