//! Rootless, real-kernel network tests.
//!
//! `#[netns_test]` runs a test inside fresh Linux user + network namespaces, with a
//! [`Topology`] (bridges, veth pairs, addresses, routes) built over netlink before the
//! body starts and torn down by the kernel when it ends. It works under plain
//! `cargo test` and `cargo nextest run`, without root.
//!
//! ```no_run
//! use netns_test::{netns_test, presets, Net};
//!
//! #[netns_test(topology = presets::bridge_pair())]
//! async fn a_reaches_b(net: Net) -> std::io::Result<()> {
//!     let b = net.node("b");
//!     let server = b.run(async { tokio::net::TcpListener::bind("0.0.0.0:7000").await }).await?;
//!     let accept = b.spawn(async move { server.accept().await.map(|_| ()) });
//!     net.node("a").run(async { tokio::net::TcpStream::connect(("b", 7000)).await.map(drop) }).await?;
//!     accept.await.unwrap()
//! }
//! ```
//!
//! Where to look:
//!
//! - [`Topology`] and [`presets`]: the network, Docker's model in one declaration each
//!   (bridges, containers, routers, links, NAT, published ports, isolation, overlays).
//! - [`Lab`]: networks for programs that are not `#[netns_test]` tests (a `main`
//!   entering the namespaces once, then building any number of networks).
//! - [`sandbox`]: the runner behind the attribute, for code that runs a test without it.
//! - [`harness`]: the harness mode, every test of a `harness = false` target in one
//!   process (`netns_test::main!()`), for the most tests per second.
//! - [`Net`] and [`Node`]: the built network in the test body: addresses, code and
//!   programs inside a node, changes at run time through one handle per kind of object
//!   ([`Node::link`], [`Node::addr`], [`Node::route`], [`Node::nft`], [`Node::conditions`];
//!   the handle types are all here at the root, and every request of theirs is awaited);
//!   interfaces that change under a running test ([`Node::replug`] into another network,
//!   [`Node::add_iface`] and [`Node::remove_iface`], with [`IfaceOptions`]).
//! - [`Topology::dns_record`] and [`Net::dns`]: DNS records for any name (A, AAAA, TXT,
//!   CNAME) served by every node's name service, set at build time and changed at run time
//!   (what `dnsmasq --address=/NAME/IP` or `/etc/hosts` edits do), with reverse lookups of
//!   node addresses; Rust code in a node reads the node's `/etc/resolv.conf`, `/sys` and
//!   `/proc/net`, as under `ip netns exec`.
//! - [`reach`]: reachability and isolation assertions, matrices, waiting for a port.
//! - [`nft`]: nf_tables rules and conntrack over netlink, at build time or run time.
//! - [`fault`]: partitions, link rates, delay/jitter/loss (netem or a relay).
//! - [`environment`]: can this machine create the namespaces, and if not, why.
//! - The `netns-test-doctor` binary checks every feature of the machine at once.
#![warn(missing_docs)]
// Examples in the docs are code a user copies: a warning in one is a defect.
#![doc(test(attr(deny(warnings))))]
// `unsafe` lives in `sys` only: every other module uses its safe wrappers.
#![deny(unsafe_code)]

// One clear error instead of hundreds about missing `libc` items: the crate needs Linux
// user and network namespaces and netlink.
#[cfg(not(target_os = "linux"))]
compile_error!(
    "netns-test runs tests in Linux user and network namespaces and builds on Linux only. \
     In a workspace that also builds on macOS or Windows, declare it as \
     `[target.'cfg(target_os = \"linux\")'.dev-dependencies] netns-test = \"0.1\"` and put \
     the tests that use it behind `#![cfg(target_os = \"linux\")]`."
);

mod diag;
pub mod environment;
mod error;
pub mod fault;
pub mod harness;
mod id_map;
mod kernel;
mod net;
pub mod nft;
mod parse;
pub mod reach;
pub mod sandbox;
#[allow(unsafe_code)]
mod sys;
pub mod topology;

pub use error::{Error, Problem, Result};
// Every handle type of `Node`, in one place (as rtnetlink re-exports its handles).
pub use fault::ConditionsHandle;
pub use net::{AddrHandle, DnsHandle, LinkHandle, NftHandle, RouteHandle};
pub use net::{Iface, IfaceKind, IfaceOptions, Lab, Net, Node, RouteEntry};
/// The netlink crate whose [`rtnetlink::Handle`] [`Node::netlink`] returns, re-exported so
/// that requests of your own use the same version.
pub use rtnetlink;
pub use topology::{DnsRecords, Topology};
// `netns_test::presets`, documented here as well as in `topology`.
#[doc(inline)]
pub use topology::presets;

/// Marks a test that runs in its own user + network namespaces with a topology built for it.
///
/// ```no_run
/// use netns_test::{netns_test, Net, Topology};
///
/// fn lan() -> Topology {
///     Topology::new()
///         .bridge("docker0", "172.18.0.0/16")
///         .node("a", |n| n.on("docker0"))
///         .node("b", |n| n.on("docker0"))
/// }
///
/// #[netns_test(topology = lan(), timeout = "20s")]
/// fn b_has_its_address(net: Net) {
///     assert_eq!(net.node("b").ip().to_string(), "172.18.0.3");
/// }
/// ```
///
/// # Keys
///
/// - `topology = <expr>`: an expression of type [`Topology`], evaluated when the test
///   runs. Without it the test gets one isolated node, `host`, with `lo` up.
/// - `timeout = "30s"` (or `"500ms"`, `"2m"`, or an integer number of seconds): the whole
///   sandbox is killed when the test runs longer. Default 60 s, or the environment
///   variable `NETNS_TEST_TIMEOUT` (the same grammar: `30s`, `500ms`, `2m`, or `30` for
///   seconds; anything else, or zero, fails the test naming the variable).
/// - `keep_artifacts = true`: keep the test's diagnostics folder even when it passes.
/// - `crate = "path"`: where the `netns_test` crate is, if it was renamed.
///
/// The function may be `async` or not, take a [`Net`] or nothing, and return `()` or a
/// `Result<T, E: Debug>`. `#[ignore]` and doc comments pass through. `#[should_panic]`
/// (also `= "..."` or `(expected = "...")`) is judged by the runtime as libtest would,
/// against the body's own panic only: a timeout, a sandbox that cannot be created or a
/// topology that cannot be built fails the test whatever the attribute says.
///
/// In a `harness = false` target ending with `netns_test::main!();`, the same tests run in
/// [`harness`] mode: all in one process, each on a thread and in a network of its own. The
/// attribute registers every test for it (a `static` in a list the linker gathers), and
/// the `#[test]` function below reads the test from there; [`harness::tests`] lists them.
///
/// Without the macro, the default mode's test above is (the runner of [`sandbox`], public
/// API):
///
/// ```no_run
/// # #![allow(unused)] // `#[test]` functions are compiled only under `cargo test`
/// # use netns_test::{Net, Topology};
/// # fn lan() -> Topology { Topology::new() }
/// #[test]
/// fn b_has_its_address() {
///     fn b_has_its_address(net: Net) {}
///     netns_test::sandbox::run_sync(
///         netns_test::sandbox::TestSpec::new(concat!(module_path!(), "::", "b_has_its_address"))
///             .timeout_ms(20_000),
///         || lan(),
///         |net| b_has_its_address(net),
///     )
/// }
/// ```
///
/// # Limits
///
/// The sandbox raises its soft `RLIMIT_NOFILE` to the hard limit (each node costs a few
/// file descriptors) and, when even that is too low for the topology, fails before
/// building, naming `ulimit -n`, its value and the number needed. Running out of network
/// namespaces (`user.max_net_namespaces`), processes or threads (`ulimit -u`,
/// `kernel.threads-max`, a cgroup's `pids.max`) is reported with the limit, its value
/// and the remedy.
///
/// # Diagnostics
///
/// When a test fails (panic, `Err`, timeout), its sandbox writes a folder and the failure
/// output names it, followed by the topology's summary: `outcome.txt`, `topology.txt`,
/// `<node>.txt` (links, addresses, routes, neighbours, forwarding sysctls, nftables ruleset,
/// conntrack table) and `<node>-<iface>.pcap` (the last packets of every link, for
/// `tcpdump -nr` or Wireshark). It is `target/netns-test/<test path, :: as __>/`, or under
/// `$NETNS_TEST_ARTIFACTS`; a passing test leaves none unless `keep_artifacts = true` or
/// `NETNS_TEST_KEEP_ARTIFACTS=1`. `NETNS_TEST_CAPTURE=0` turns the packet capture off.
#[doc(inline)]
pub use netns_test_macros::netns_test;

#[doc(hidden)]
pub mod __private {
    //! What `#[netns_test]` expands to: the public runner of [`crate::sandbox`], under the
    //! one path the expansion names.
    pub use crate::sandbox::{
        run_async, run_sync, test_result, BodyResult, ShouldPanic, TestResult, TestSpec,
    };

    // The harness mode's registry (see `crate::harness`).
    pub use crate::harness::registry::{block_on, Registered, TESTS};
    pub use linkme;

    /// Not part of the API: for the project's own tests of hangs during a build. Sets a
    /// function that every network build of this process calls on its own thread, once
    /// the links are made and before they are up (a hook that blocks hangs the build);
    /// `false` if one was set already.
    pub fn set_build_hook(hook: fn()) -> bool {
        crate::net::set_build_hook(hook)
    }

    /// What [`crate::file!`] expands to: the topology of a file read at compile time, or
    /// a panic with the error (file, line, column) where the test evaluates it.
    #[track_caller]
    pub fn topology_file(text: &str, path: &str) -> crate::Topology {
        crate::Topology::from_toml(text, path).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A [`Topology`] from a TOML file (the format of [`Topology::from_file`],
/// `docs/lab-format.md`), the path relative to the crate's `Cargo.toml`. The file is read
/// at compile time (`include_str!`), so editing it rebuilds the tests that use it; a file
/// that is not a topology fails the test that evaluates it, naming the file, the line and
/// the column.
///
/// `use netns_test::*` brings this macro in next to the standard library's `file!`, which
/// makes a bare `file!` ambiguous (error E0659): write `netns_test::file!(..)` and
/// `std::file!()`, or import by name.
///
/// ```ignore
/// use netns_test::{netns_test, Net};
///
/// // examples/labs/docker_bridge.toml, in a crate at examples/
/// #[netns_test(topology = netns_test::file!("labs/docker_bridge.toml"))]
/// fn con1_has_its_address(net: Net) {
///     assert_eq!(net.node("con1").ip().to_string(), "172.18.0.2");
/// }
/// ```
#[macro_export]
macro_rules! file {
    ($path:literal) => {
        $crate::__private::topology_file(
            ::core::include_str!(::core::concat!(
                ::core::env!("CARGO_MANIFEST_DIR"),
                "/",
                $path
            )),
            ::core::concat!(::core::env!("CARGO_MANIFEST_DIR"), "/", $path),
        )
    };
}
