//! The `#[netns_test]` attribute macro of the `netns-test` crate.
//!
//! Use it through `netns-test`, which re-exports it as `netns_test::netns_test`; the
//! attribute is documented there, together with the runtime its expansion calls into.
//! This crate is an implementation detail and has no API of its own.
#![forbid(unsafe_code)]

mod config;
mod expand;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Runs a test in fresh user + network namespaces. Documented on its re-export,
/// `netns_test::netns_test`.
#[proc_macro_attribute]
pub fn netns_test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::netns_test(args.into(), item.into()).into()
}
