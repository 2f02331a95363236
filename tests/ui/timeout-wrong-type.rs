use netns_test::netns_test;

#[netns_test(timeout = std::time::Duration::from_secs(10))]
fn timeout_is_an_expression(net: netns_test::Net) {
    drop(net);
}

fn main() {}
