use netns_test::netns_test;

#[netns_test]
fn borrows_the_network_mutably(net: &mut netns_test::Net) {
    let _ = net.nodes();
}

fn main() {}
