use netns_test::netns_test;

#[netns_test(timeout = "0s")]
fn zero_timeout(net: netns_test::Net) {
    drop(net);
}

fn main() {}
