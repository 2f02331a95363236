use netns_test::{netns_test, Net};

#[netns_test]
fn borrows_the_network(net: &Net) {
    let _ = net.nodes();
}

fn main() {}
