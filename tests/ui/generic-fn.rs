use netns_test::netns_test;

#[netns_test]
fn generic<T: Default>(net: netns_test::Net) {
    drop(net);
    drop(T::default());
}

fn main() {}
