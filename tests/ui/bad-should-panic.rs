use netns_test::netns_test;

#[netns_test]
#[should_panic(expect = "boom")]
fn misspelt_expected() {
    panic!("boom");
}

#[netns_test]
#[should_panic]
#[should_panic(expected = "boom")]
fn twice() {
    panic!("boom");
}

fn main() {}
