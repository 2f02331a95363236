use netns_test::netns_test;

#[netns_test]
fn two_params(net: netns_test::Net, port: u16) {
    drop(net);
    drop(port);
}

fn main() {}
