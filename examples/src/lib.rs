//! The labs of the classic "how Docker networking works" tutorials, rebuilt as
//! `#[netns_test]` tests. Nothing to import: the examples are the integration tests in
//! `tests/`, one file per lab, named for what it shows.
//!
//! | file | lab |
//! | --- | --- |
//! | `docker_bridge.rs` | `con1`/`con2` on `docker0` reach each other; `con3` on `testnet` is isolated |
//! | `container_network_by_hand.rs` | the `sample` namespace on `samplebr` (10.1.1.1/24), built by hand in the tutorial |
//! | `net_none.rs` | a container with `--net none`: only `lo` |
//! | `namespaces_on_a_bridge.rs` | `ns1`/`ns2` on `mydocker0` (gateway 172.16.1.254) |
//! | `routing_table_per_container.rs` | a route added in `netshoot-a` is invisible in `netshoot-b` |
//! | `host_to_container_http.rs` | `curl` from the host to an HTTP server over a bare veth (193.168.0.0/24) |
//! | `edge_bridges.rs` | namespaces `ns_1`/`ns_2` holding their own bridges `edge_bridge1`/`edge_bridge2` |
//! | `tcp_echo_by_name.rs` | TCP echo between two nodes by name, in Rust only (async and sync) |
//! | `sample_reaches_the_outside.rs` | `sample` behind `ip_forward=1` + `MASQUERADE`, with a resolver file of its own |
//! | `docker_nat_and_published_port.rs` | `docker0` with outbound NAT and `-p 8080:80` reached with `curl` |
//! | `user_networks_isolated.rs` | two user-defined networks isolated from each other, names scoped to each |
//! | `p2p_nat_traversal.rs` | hole punching through a rendezvous server behind endpoint-independent vs symmetric NATs |
//! | `nat_behaviours.rs` | RFC 4787 mapping and filtering, hairpinning on and off, carrier-grade NAT |
//! | `overlay_across_hosts.rs` | an overlay (VXLAN) joining containers on two hosts into one subnet |
//!
//! Run one with `cargo test -p netns-test-examples --test docker_bridge -- --nocapture`.
//!
//! The seed labs are also topology files in `labs/`, which `netns-test lab FILE` opens;
//! each example with a file checks that the file declares its topology
//! ([`assert_lab_file`]), and `tests/labs.rs` builds every file.

use netns_test::Topology;

/// The folder of the lab files, `examples/labs`.
pub const LABS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/labs");

/// Asserts that `labs/FILE` declares `topology`: the same plan (every name, address, MAC
/// and route), so that the lab `netns-test lab` opens is the one the example tests.
#[track_caller]
pub fn assert_lab_file(file: &str, topology: Topology) {
    let path = format!("{LABS}/{file}");
    let from_file = Topology::from_file(&path)
        .and_then(|t| t.plan())
        .unwrap_or_else(|e| panic!("{e}"));
    let expected = topology.plan().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        from_file == expected,
        "{path} does not declare the example's topology:\n--- the file plans\n{from_file:#?}\n--- the example plans\n{expected:#?}"
    );
}
