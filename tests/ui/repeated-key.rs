use netns_test::netns_test;

#[netns_test(timeout = "10s", timeout = "20s")]
fn timeout_twice(net: netns_test::Net) {
    drop(net);
}

fn main() {}
