//! Per-network state of the features built on the live network, and the seed of its
//! random impairments.

use std::sync::OnceLock;

use super::{iface, LinkConditions, MatrixDiff};
use crate::error::{Error, Result};
use crate::topology::conditions::Conditions;

/// Per-network state of the features built on the live network.
#[derive(Debug)]
pub(crate) struct NetState {
    /// Whether the kernel had the netem qdisc when this network asked: `Err` with the
    /// kernel's refusal where it had not (see `fault::netem_available`).
    pub netem: OnceLock<std::result::Result<(), String>>,
    /// Numbers the partitions' tables, so that several partitions can hold at once.
    pub partitions: std::sync::atomic::AtomicU32,
    /// The next interface index for links made at run time (see `Node::replug`): above
    /// the plan's, so that no two links of the network share one.
    pub next_ifindex: std::sync::atomic::AtomicU32,
    /// Makes changes of interfaces one at a time, so that two never pick one address.
    pub iface_changes: tokio::sync::Mutex<()>,
    /// The routes `Node::replug` made through each interface, by (node index, interface):
    /// what `LinkHandle::up` restores for it instead of the plan's.
    pub replug_routes: std::sync::Mutex<iface::ReplugRoutes>,
    /// The seed of the network's random impairments ([`Net::seed`]).
    pub seed: u64,
    /// Set once random impairments are applied: a failing test then names the seed.
    pub seed_used: std::sync::atomic::AtomicBool,
    /// The conditions set on each interface, by (namespace's node index, interface).
    pub conditions: std::sync::Mutex<std::collections::BTreeMap<(usize, String), Conditions>>,
    /// The last reachability matrix check that did not hold, for the diagnostics.
    pub matrix_mismatch: std::sync::Mutex<Option<MatrixDiff>>,
    /// What makes the conditions of each interface (none once cleared), for the
    /// diagnostics.
    pub link_conditions: std::sync::Mutex<Vec<LinkConditions>>,
}

/// The variable that sets the seed of random impairments.
pub const SEED_ENV: &str = "NETNS_TEST_SEED";

/// The seed of a new network's random impairments: `NETNS_TEST_SEED` (decimal, or hex
/// after `0x`), else a fresh one.
pub(crate) fn seed_from_env() -> Result<u64> {
    match std::env::var(SEED_ENV) {
        Ok(v) => {
            let t = v.trim();
            let parsed = match t.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => t.parse(),
            };
            parsed.map_err(|_| Error::Environment {
                message: format!(
                    "{SEED_ENV}={v:?} is not a seed: give the number a failing test printed (decimal, or hex after 0x), or unset it for a fresh seed"
                ),
            })
        }
        Err(_) => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let mut s = std::hash::BuildHasher::build_hasher(
                &std::collections::hash_map::RandomState::new(),
            );
            std::hash::Hasher::write_u128(&mut s, t.as_nanos());
            std::hash::Hasher::write_u32(&mut s, std::process::id());
            // Printed and typed by people: kept to 9 digits.
            Ok(std::hash::Hasher::finish(&s) % 1_000_000_000)
        }
    }
}
