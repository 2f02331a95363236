// The harness mode's registration exists in every build, not only under `--test`: in a
// `harness = false` target, a wrong return type is reported at the type too.
use netns_test::{netns_test, Net};

#[netns_test]
fn returns_a_number(net: Net) -> u32 {
    net.nodes().len() as u32
}

netns_test::main!();
