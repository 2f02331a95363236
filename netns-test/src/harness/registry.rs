//! The `#[netns_test]` tests of a binary, as the attribute registers them: one
//! [`Registered`] each in the distributed slice [`TESTS`] (linkme: the linker gathers the
//! entries of every crate into one section, so no code runs before `main`), listed by
//! [`tests`].

use std::future::Future;

use crate::net::Net;
use crate::sandbox::{self, BodyResult, TestSpec};
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
    pub body: fn(Net) -> BodyResult,
}

/// Every registered test of the binary.
#[linkme::distributed_slice]
pub static TESTS: [Registered];

/// Runs an async test function on its network's runtime, from the thread that stands in
/// the host node (its sockets are the host's, as in a sync body).
pub fn block_on<F: Future<Output = BodyResult>>(
    net: Net,
    body: impl FnOnce(Net) -> F,
) -> BodyResult {
    let rt = net.clone();
    rt.block_on(body(net))
}

/// Every `#[netns_test]` test of this binary, in libtest's order (by name), for a program
/// that lists or runs them.
///
/// ```no_run
/// // A `harness = false` target that runs its tests in the default mode, one sandbox
/// // process each, with libtest-mimic (the `--exact` run of a sandbox included).
/// use libtest_mimic::{Arguments, Trial};
/// use netns_test::{harness, netns_test, Net};
///
/// #[netns_test]
/// fn host_has_loopback(net: Net) {
///     assert!(net.host().ifaces().is_empty());
/// }
///
/// fn main() {
///     let trials = harness::tests().into_iter().map(|test| {
///         Trial::test(test.name(), move || {
///             test.run();
///             Ok(())
///         })
///         .with_ignored_flag(test.is_ignored())
///     });
///     libtest_mimic::run(&Arguments::from_args(), trials.collect()).exit();
/// }
/// ```
pub fn tests() -> Vec<Test> {
    let mut tests: Vec<Test> = TESTS.iter().map(Test).collect();
    // The linker's order is no order at all.
    tests.sort_by_key(Test::name);
    tests
}

/// A `#[netns_test]` test of this binary, as [`tests`] lists it.
#[derive(Debug, Clone, Copy)]
pub struct Test(pub(super) &'static Registered);

impl Test {
    /// The name libtest knows it by: its path without the crate name
    /// (`net::a_reaches_b`).
    pub fn name(&self) -> &'static str {
        sandbox::spec::test_name(self.0.spec.path)
    }

    /// What the attribute says about it: its path, timeout, `keep_artifacts` and
    /// `#[should_panic]`.
    pub fn spec(&self) -> TestSpec {
        self.0.spec
    }

    /// Whether it is `#[ignore]`d (with or without a reason).
    pub fn is_ignored(&self) -> bool {
        self.0.ignore
    }

    /// The reason of `#[ignore = "reason"]`.
    pub fn ignore_reason(&self) -> Option<&'static str> {
        self.0.ignore_reason
    }

    /// Runs it in the default mode, as the attribute's `#[test]` function does
    /// ([`sandbox::run_sync`]): in a sandbox process that runs this binary again with the
    /// test's [`name`](Self::name), `--exact` and libtest's other arguments, so the
    /// binary's `main` must run the test then (libtest's does, and libtest-mimic's with
    /// trials that call `run`). Panics when the test fails, as the test would.
    #[track_caller]
    pub fn run(&self) {
        sandbox::run_sync(self.0.spec, self.0.topology, self.0.body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crate's own `#[netns_test(crate = "crate")]` tests are listed, by name.
    #[test]
    fn tests_lists_the_registered_tests_in_libtests_order() {
        let names: Vec<&str> = tests().iter().map(Test::name).collect();
        assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
        let dns = "net::dns::tests::\
                   a_dns_server_that_sets_reuse_options_binds_port_53_next_to_the_name_service";
        let test = tests().into_iter().find(|t| t.name() == dns);
        let test = test.unwrap_or_else(|| panic!("{dns} not in {names:?}"));
        assert_eq!(test.spec().path, format!("netns_test::{dns}"));
        assert_eq!(test.spec().timeout_ms, Some(20_000));
        assert!(!test.is_ignored() && test.ignore_reason().is_none());
        assert!(names.contains(
            &"nft::tests::sandboxed::kernel_refusal_names_the_message_and_applies_nothing"
        ));
    }
}
