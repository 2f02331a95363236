//! The expansion, compared as pretty-printed source.

use proc_macro2::TokenStream;

fn expand(args: &str, item: &str) -> String {
    let args: TokenStream = args.parse().unwrap();
    let item: TokenStream = item.parse().unwrap();
    let out = crate::expand::netns_test(args, item);
    prettyplease::unparse(&syn::parse2(out).unwrap())
}

/// The messages of the `compile_error!`s in an expansion, in order.
fn errors(args: &str, item: &str) -> Vec<String> {
    let args: TokenStream = args.parse().unwrap();
    let item: TokenStream = item.parse().unwrap();
    let out = crate::expand::netns_test(args, item);
    let file: syn::File = syn::parse2(out).unwrap();
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Macro(m) if m.mac.path.segments.last().unwrap().ident == "compile_error" => {
                Some(m.mac.parse_body::<syn::LitStr>().unwrap().value())
            }
            _ => None,
        })
        .collect()
}

fn timeout_ms(args: &str) -> String {
    let out = expand(args, "fn t() {}");
    let line = out
        .lines()
        .find(|line| line.contains("timeout_ms:"))
        .unwrap();
    line.trim()
        .trim_start_matches("timeout_ms: ")
        .trim_end_matches(',')
        .to_owned()
}

#[test]
fn async_fn_with_net_returning_result() {
    let out = expand(
        r#"topology = lan(), timeout = "10s""#,
        "async fn a_reaches_b(net: Net) -> anyhow::Result<()> { net.node(\"a\"); Ok(()) }",
    );
    assert_eq!(
        out,
        r#"#[::core::prelude::v1::test]
fn a_reaches_b() {
    async fn a_reaches_b(net: Net) -> anyhow::Result<()> {
        net.node("a");
        Ok(())
    }
    ::netns_test::__private::run_async(
        ::netns_test::__private::TestSpec {
            path: ::core::concat!(::core::module_path!(), "::", "a_reaches_b"),
            timeout_ms: ::core::option::Option::Some(10000u64),
            keep_artifacts: false,
            should_panic: false,
        },
        || lan(),
        |net| a_reaches_b(net),
    )
}
"#
    );
}

#[test]
fn sync_fn_without_args_keeps_attributes_on_the_test() {
    let out = expand(
        "",
        "/// Checks nothing.\n#[ignore]\n#[should_panic(expected = \"boom\")]\npub(crate) fn plain() { panic!(\"boom\") }",
    );
    assert_eq!(
        out,
        r#"#[::core::prelude::v1::test]
/// Checks nothing.
#[ignore]
#[should_panic(expected = "boom")]
pub(crate) fn plain() {
    fn plain() {
        panic!("boom")
    }
    ::netns_test::__private::run_sync(
        ::netns_test::__private::TestSpec {
            path: ::core::concat!(::core::module_path!(), "::", "plain"),
            timeout_ms: ::core::option::Option::None,
            keep_artifacts: false,
            should_panic: true,
        },
        || ::netns_test::Topology::new(),
        |_| plain(),
    )
}
"#
    );
}

#[test]
fn custom_crate_path() {
    let out = expand(
        r#"crate = "my::netns", keep_artifacts = true"#,
        "fn uses_alias(net: Net) {}",
    );
    assert_eq!(
        out,
        r#"#[::core::prelude::v1::test]
fn uses_alias() {
    fn uses_alias(net: Net) {}
    my::netns::__private::run_sync(
        my::netns::__private::TestSpec {
            path: ::core::concat!(::core::module_path!(), "::", "uses_alias"),
            timeout_ms: ::core::option::Option::None,
            keep_artifacts: true,
            should_panic: false,
        },
        || my::netns::Topology::new(),
        |net| uses_alias(net),
    )
}
"#
    );
    assert!(
        expand(r#"crate = "::renamed""#, "fn t() {}").contains("::renamed::__private::run_sync(")
    );
}

#[test]
fn timeout_forms() {
    assert_eq!(
        timeout_ms(r#"timeout = "500ms""#),
        "::core::option::Option::Some(500u64)"
    );
    assert_eq!(
        timeout_ms(r#"timeout = "30s""#),
        "::core::option::Option::Some(30000u64)"
    );
    assert_eq!(
        timeout_ms(r#"timeout = "2m""#),
        "::core::option::Option::Some(120000u64)"
    );
    assert_eq!(
        timeout_ms("timeout = 45"),
        "::core::option::Option::Some(45000u64)"
    );
    assert_eq!(timeout_ms(""), "::core::option::Option::None");
}

#[test]
fn bad_timeouts() {
    let forms = "expected a string like \"500ms\", \"30s\" or \"2m\", or an integer number of seconds like `30`";
    for bad in ["10", "10 s", "s", "10h", "-1s", "1.5s", ""] {
        assert_eq!(
            errors(&format!("timeout = {bad:?}"), "fn t() {}"),
            [format!("invalid timeout {bad:?}: {forms}")],
        );
    }
    for zero in ["\"0s\"", "\"0ms\"", "0"] {
        assert_eq!(
            errors(&format!("timeout = {zero}"), "fn t() {}"),
            ["the timeout must be greater than zero"],
        );
    }
    assert_eq!(
        errors("timeout = foo", "fn t() {}"),
        [format!("`timeout` expects {}", &forms["expected ".len()..])],
    );
    assert_eq!(
        errors("timeout = 10s", "fn t() {}"),
        ["a timeout with a unit is written as a string: `timeout = \"10s\"`"],
    );
    assert_eq!(
        errors("timeout = 1.5", "fn t() {}"),
        ["fractional seconds are not supported: write the timeout in milliseconds, like \"1500ms\""],
    );
    assert_eq!(
        errors("timeout = \"99999999999999999999m\"", "fn t() {}"),
        ["the timeout is too large: it must fit in a u64 number of milliseconds"],
    );
}

#[test]
fn raw_identifier_keeps_its_prefix_in_the_test_path() {
    let out = expand("", "fn r#match() {}");
    assert!(out.contains("fn r#match() {\n    fn r#match() {}"), "{out}");
    assert!(out.contains(r#""::", "r#match")"#), "{out}");
}

#[test]
fn body_is_passed_through_even_when_it_does_not_parse() {
    let out = crate::expand::netns_test(
        TokenStream::new(),
        "fn editing() { let = ; }".parse().unwrap(),
    )
    .to_string();
    assert!(out.contains("fn editing () { let = ; }"), "{out}");
    assert!(!out.contains("compile_error"), "{out}");
}

#[test]
fn all_errors_are_reported_and_the_test_is_still_expanded() {
    let item = "async fn t(net: Net) {}";
    let args =
        r#"topolgy = lan(), timeout = "soon", timeout = 3, keep_artifacts = 1, crate = "a b""#;
    assert_eq!(
        errors(args, item),
        [
            "unknown key `topolgy`: `#[netns_test]` accepts `topology`, `timeout`, `keep_artifacts` and `crate` (did you mean `topology`?)",
            "invalid timeout \"soon\": expected a string like \"500ms\", \"30s\" or \"2m\", or an integer number of seconds like `30`",
            "`timeout` set more than once",
            "`keep_artifacts` expects `true` or `false`",
            "`crate` expects a path to the netns-test crate, like \"::netns_test\" or \"my_netns_test\", but \"a b\" is not a path",
        ]
    );
    let out = expand(args, item);
    assert!(
        out.starts_with("#[::core::prelude::v1::test]\nfn t() {"),
        "{out}"
    );
    assert!(out.contains("::netns_test::__private::run_async("), "{out}");
    assert!(out.contains("|| ::netns_test::Topology::new(),"), "{out}");
}

#[test]
fn valid_keys_are_kept_when_others_are_wrong() {
    let out = expand(r#"topology = lan(), colour = "red""#, "fn t() {}");
    assert!(out.contains("|| lan(),"), "{out}");
    assert!(out.contains("compile_error!"), "{out}");
}

#[test]
fn key_shapes() {
    assert_eq!(
        errors("timeout", "fn t() {}"),
        ["`timeout` needs a value: write `timeout = \"30s\"`"]
    );
    assert_eq!(
        errors("topology(lan())", "fn t() {}"),
        ["`topology` needs a value: write `topology = my_topology()`"]
    );
    assert_eq!(
        errors("crate = netns_test", "fn t() {}"),
        ["`crate` expects a string literal holding a path, like `crate = \"::netns_test\"`"]
    );
    assert_eq!(
        errors("a::b = 1", "fn t() {}"),
        ["unknown key `a::b`: `#[netns_test]` accepts `topology`, `timeout`, `keep_artifacts` and `crate`"]
    );
    assert_eq!(errors("timeout = ", "fn t() {}").len(), 1);
}

#[test]
fn item_errors() {
    assert_eq!(
        errors("", "struct NotAFn;"),
        ["`#[netns_test]` can only be applied to a function, not to a struct"]
    );
    assert_eq!(
        errors("", "impl Foo {}"),
        ["`#[netns_test]` can only be applied to a function, not to an impl block"]
    );
    assert_eq!(
        errors("", "fn g<T: Default>() {}"),
        ["`#[netns_test]` functions cannot be generic: the test has nothing to instantiate them with"]
    );
    assert_eq!(
        errors("", "fn w() where u8: Copy {}"),
        ["`#[netns_test]` functions cannot have a `where` clause"]
    );
    assert_eq!(
        errors("", "fn m(&self) {}"),
        ["`#[netns_test]` functions cannot take `self`: write a free function that takes a `Net` or nothing"]
    );
    assert_eq!(
        errors("", "unsafe fn u() {}"),
        ["`#[netns_test]` functions cannot be `unsafe`"]
    );
    assert_eq!(
        errors("", "fn p(net: Net, port: u16, name: &str) {}"),
        ["a `#[netns_test]` function takes at most one parameter, the `Net` handle, but `p` takes 3"]
    );
    assert_eq!(
        errors("", "#[test] fn t(net: Net) {}"),
        ["`#[netns_test]` already makes this function a test: remove `#[test]`"]
    );
    assert_eq!(
        errors("", "#[tokio::test] async fn t(net: Net) {}"),
        ["`#[netns_test]` already makes this function a test: remove `#[tokio::test]` (`#[netns_test]` runs async functions itself)"]
    );
}

#[test]
fn an_invalid_signature_is_emitted_as_written() {
    let out = expand("timeout = 0", "fn p(a: u8, b: u8) {}");
    assert!(
        out.starts_with("#[allow(dead_code)]\nfn p(a: u8, b: u8) {}\n"),
        "{out}"
    );
    assert!(!out.contains("core::prelude::v1::test"), "{out}");
}

#[test]
fn a_redundant_test_attribute_is_dropped_from_the_expansion() {
    let out = expand("", "#[test]\n#[ignore]\nfn t() {}");
    assert!(
        out.starts_with("#[::core::prelude::v1::test]\n#[ignore]\nfn t() {"),
        "{out}"
    );
    assert!(!out.lines().any(|line| line == "#[test]"), "{out}");
    assert_eq!(out.matches("v1::test]").count(), 1, "{out}");
}
