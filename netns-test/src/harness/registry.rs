//! The tests of a harness-mode binary, as `#[netns_test]` registers them: one
//! [`Registered`] each in the distributed slice [`TESTS`] (linkme: the linker gathers the
//! entries of every crate into one section, so no code runs before `main`).

use std::future::Future;

use crate::net::Net;
use crate::sandbox::{Outcome, TestSpec};
use crate::topology::Topology;

/// A `#[netns_test]` function as its expansion registers it: the settings the default
/// mode's runner gets ([`TestSpec`]), whether it is `#[ignore]`d, and the function behind
/// two plain function pointers.
#[derive(Debug, Clone, Copy)]
pub struct Registered {
    /// Path, timeout, `keep_artifacts` and `#[should_panic]`, as the sandbox runner takes
    /// them.
    pub spec: TestSpec,
    /// `#[ignore]` (with or without a reason) is on the test.
    pub ignore: bool,
    /// The reason of `#[ignore = "reason"]`.
    pub ignore_reason: Option<&'static str>,
    /// The topology expression of the attribute (evaluated when the test runs).
    pub topology: fn() -> Topology,
    /// The test function, called with its network; an async function runs on the
    /// network's runtime ([`block_on`]). The value is the body's end as the runner judges
    /// it: `Ok`, or the `Debug` text of its error.
    pub body: fn(Net) -> Outcome,
}

/// Every registered test of the binary.
#[linkme::distributed_slice]
pub static TESTS: [Registered];

/// Runs an async test function on its network's runtime, from the thread that stands in
/// the host node (its sockets are the host's, as in a sync body).
pub fn block_on<F: Future<Output = Outcome>>(net: Net, body: impl FnOnce(Net) -> F) -> Outcome {
    let rt = net.clone();
    rt.block_on(body(net))
}
