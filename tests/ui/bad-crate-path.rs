use netns_test::netns_test;

#[netns_test(crate = "netns test")]
fn crate_path_with_a_space(net: netns_test::Net) {
    drop(net);
}

fn main() {}
