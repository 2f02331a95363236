use netns_test::netns_test;

struct Fixture;

impl Fixture {
    #[netns_test]
    fn method(&self, net: netns_test::Net) {
        drop(net);
    }
}

fn main() {}
