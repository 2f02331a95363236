use netns_test::netns_test;

#[netns_test(timeout = , keep_artifacts = true)]
fn no_timeout_given(net: netns_test::Net) {
    drop(net);
}

fn main() {}
