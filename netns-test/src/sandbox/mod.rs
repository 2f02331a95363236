//! Gets a test body into fresh namespaces and supervises it.
//!
//! libtest runs tests on threads, and a multi-threaded process cannot enter a new user
//! namespace. So the test function, when called by the runner (the *parent*), re-executes
//! the test binary for just this test (`NAME --exact`) as PID 1 of new user, network,
//! mount and PID namespaces (a raw `clone` with namespace flags, then `execve`). In that *child* the same
//! test function finds `NETNS_TEST_SANDBOX` set, builds the topology and runs the body.
//!
//! The parent relays the child's stdout/stderr into the test's output, kills the whole
//! sandbox on timeout, and turns the child's report (sent over fd 3) into the test's
//! outcome. When the child's PID 1 exits, or is killed, or the parent dies (PDEATHSIG), the
//! kernel kills every process in the sandbox and frees every namespace: nothing is named
//! globally, so nothing can be left behind.
//!
//! The parent alone judges the outcome, `#[should_panic]` included (the attribute is not
//! passed to libtest): only the body's own panic can satisfy it. Before the build, the
//! child raises its soft `RLIMIT_NOFILE` to the hard limit and checks the topology's cost
//! in file descriptors against it (see [`Lab`](crate::Lab)).

use std::future::Future;
use std::os::unix::ffi::OsStrExt;

use crate::net::Net;
use crate::topology::Topology;

// The runner's jobs, one file each: what the attribute knows and the timeout (`spec`),
// how the body ended and whether that passes (`verdict`, shared with the harness mode),
// the child's messages to the parent (`report`), and the two processes.
mod child;
mod parent;
pub(crate) mod pause;
mod report;
pub(crate) mod spec;
pub(crate) mod verdict;

pub use spec::{ShouldPanic, TestSpec};
#[allow(deprecated)]
pub use verdict::Outcome;
pub use verdict::{test_result, BodyResult, TestResult};

use child::child;
use parent::parent;
use spec::test_name;

/// Set in the sandboxed child: the name of the test it runs.
const ENV_SANDBOX: &str = "NETNS_TEST_SANDBOX";

/// Runs a synchronous test body in a sandbox.
///
/// A failure before the body runs (a topology that cannot be planned, a bad
/// `NETNS_TEST_TIMEOUT`, a sandbox that cannot be created) is reported at the caller: the
/// test, not this crate.
#[track_caller]
pub fn run_sync<R: TestResult>(
    spec: TestSpec,
    topology: impl FnOnce() -> Topology,
    body: impl FnOnce(Net) -> R,
) {
    match role(&spec) {
        Role::Parent => parent(&spec, topology),
        Role::Child => child(&spec, topology, |net| body(net).into_outcome()),
    }
}

/// Runs an async test body in a sandbox, on a tokio runtime standing in the host node.
///
/// Failures before the body runs are reported at the caller, as for [`run_sync`].
#[track_caller]
pub fn run_async<R: TestResult, F: Future<Output = R>>(
    spec: TestSpec,
    topology: impl FnOnce() -> Topology,
    body: impl FnOnce(Net) -> F,
) {
    match role(&spec) {
        Role::Parent => parent(&spec, topology),
        Role::Child => child(&spec, topology, |net| {
            let rt = net.handle().clone();
            rt.block_on(body(net)).into_outcome()
        }),
    }
}

enum Role {
    Parent,
    Child,
}

fn role(spec: &TestSpec) -> Role {
    match std::env::var_os(ENV_SANDBOX) {
        None => Role::Parent,
        Some(name) if name.as_bytes() == test_name(spec.path).as_bytes() => Role::Child,
        Some(name) => panic!(
            "netns-test: the sandbox for {:?} ran test {:?}: two tests share a name",
            name,
            test_name(spec.path)
        ),
    }
}
