use netns_test::netns_test;

#[netns_test(topology = )]
fn no_topology_given(net: netns_test::Net) {
    drop(net);
}

fn main() {}
