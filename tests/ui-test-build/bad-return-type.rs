// Compiled with `rustc --test` by tests/compile_fail.rs: each `//~ TEXT: MESSAGE` names
// the text an error points at on that line and a part of its message.
use netns_test::{netns_test, Net};

#[netns_test]
fn returns_a_number(net: Net) -> u32 { //~ u32: must return `()` or `Result<T, E: Debug>`, not `u32`
    net.nodes().len() as u32
}

#[netns_test]
async fn returns_a_number_too() -> Option<u8> { //~ Option<u8>: must return `()` or `Result<T, E: Debug>`, not `Option<u8>`
    None
}

type Outcome = Result<(), String>;

#[netns_test]
fn returns_an_alias_of_result() -> Outcome {
    Ok(())
}

#[netns_test]
async fn returns_a_result(net: Net) -> std::io::Result<usize> {
    Ok(net.nodes().len())
}
