use netns_test::netns_test;

#[netns_test(topolgy = netns_test::Topology::new(), timeout = "soon")]
fn two_bad_keys(net: netns_test::Net) {
    drop(net);
}

fn main() {}
