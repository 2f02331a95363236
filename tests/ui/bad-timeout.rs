use netns_test::netns_test;

#[netns_test(timeout = "10 seconds")]
fn unparsable_timeout(net: netns_test::Net) {
    drop(net);
}

fn main() {}
