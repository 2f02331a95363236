//! The lab files of `labs/` (the seed labs, for `netns-test lab FILE`): each one reads and
//! builds, and each one is checked against the example it comes from.

use netns_test::{netns_test, Lab, Topology};
use netns_test_examples::LABS;

fn lab_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(LABS)
        .expect("reading examples/labs")
        .map(|e| e.expect("reading examples/labs").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "examples/labs holds only {files:?}");
    files
}

#[netns_test(timeout = "60s")]
fn every_lab_file_builds() {
    let lab = Lab::enter().expect("the sandbox's lab");
    for path in lab_files() {
        let topology = Topology::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let net = lab
            .build(&topology)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(net.nodes().len() > 1, "{}: no node built", path.display());
    }
}

/// A lab file no example checks could drift from the lab it names.
#[test]
fn every_lab_file_is_checked_by_an_example() {
    let examples: String = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests"))
        .expect("reading examples/tests")
        .map(|e| std::fs::read_to_string(e.expect("an entry").path()).unwrap_or_default())
        .collect();
    for path in lab_files() {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            examples.contains(&format!("assert_lab_file(\"{name}\"")),
            "no example calls assert_lab_file(\"{name}\", ..)"
        );
    }
}

/// `netns_test::file!` reads the file at compile time, relative to this crate.
#[netns_test(topology = netns_test::file!("labs/docker_bridge.toml"))]
fn a_test_takes_its_topology_from_a_file(net: netns_test::Net) {
    assert_eq!(net.node("con3").ip().to_string(), "172.19.0.2");
    assert_eq!(net.node("con3").iface("eth0").network, "testnet");
}
