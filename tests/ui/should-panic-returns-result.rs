use netns_test::netns_test;

#[netns_test]
#[should_panic]
fn panics_or_errs() -> Result<(), String> {
    Err("no".to_string())
}

fn main() {}
