use netns_test::netns_test;

#[netns_test(topolgy = netns_test::Topology::new())]
fn misspelled_key(net: netns_test::Net) {
    drop(net);
}

fn main() {}
