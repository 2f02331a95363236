use netns_test::netns_test;

#[netns_test]
#[test]
fn already_a_test(net: netns_test::Net) {
    drop(net);
}

fn main() {}
