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
    let line = out.lines().find(|line| line.contains(".timeout_ms("));
    match line.and_then(|l| l.split_once(".timeout_ms(")) {
        Some((_, rest)) => rest.split_once(')').expect("one argument").0.to_owned(),
        None => "none".to_owned(),
    }
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
    ::netns_test::__private::run_sync(
        __NETNS_TEST_a_reaches_b.spec,
        __NETNS_TEST_a_reaches_b.topology,
        __NETNS_TEST_a_reaches_b.body,
    )
}
#[doc(hidden)]
#[allow(non_upper_case_globals)]
#[::netns_test::__private::linkme::distributed_slice(::netns_test::__private::TESTS)]
#[linkme(crate = ::netns_test::__private::linkme)]
static __NETNS_TEST_a_reaches_b: ::netns_test::__private::Registered = {
    async fn a_reaches_b(net: Net) -> anyhow::Result<()> {
        net.node("a");
        Ok(())
    }
    ::netns_test::__private::Registered {
        spec: ::netns_test::__private::TestSpec::new(
                ::core::concat!(::core::module_path!(), "::", "a_reaches_b"),
            )
            .timeout_ms(10000u64),
        ignore: false,
        ignore_reason: ::core::option::Option::None,
        topology: || lan(),
        body: |net| ::netns_test::__private::block_on(
            net,
            |net| async move {
                ::netns_test::__private::test_result(a_reaches_b(net).await)
            },
        ),
    }
};
"#
    );
}

#[test]
fn sync_fn_without_args_keeps_attributes_but_not_should_panic() {
    let out = expand(
        "",
        "/// Checks nothing.\n#[ignore]\n#[should_panic(expected = \"boom\")]\npub(crate) fn plain() { panic!(\"boom\") }",
    );
    assert_eq!(
        out,
        r#"#[::core::prelude::v1::test]
/// Checks nothing.
#[ignore]
pub(crate) fn plain() {
    ::netns_test::__private::run_sync(
        __NETNS_TEST_plain.spec,
        __NETNS_TEST_plain.topology,
        __NETNS_TEST_plain.body,
    )
}
#[doc(hidden)]
#[allow(non_upper_case_globals)]
#[::netns_test::__private::linkme::distributed_slice(::netns_test::__private::TESTS)]
#[linkme(crate = ::netns_test::__private::linkme)]
static __NETNS_TEST_plain: ::netns_test::__private::Registered = {
    fn plain() {
        panic!("boom")
    }
    ::netns_test::__private::Registered {
        spec: ::netns_test::__private::TestSpec::new(
                ::core::concat!(::core::module_path!(), "::", "plain"),
            )
            .should_panic(::netns_test::__private::ShouldPanic::YesWithMessage("boom")),
        ignore: true,
        ignore_reason: ::core::option::Option::None,
        topology: || ::netns_test::Topology::new(),
        body: |_| ::netns_test::__private::test_result(plain()),
    }
};
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
    my::netns::__private::run_sync(
        __NETNS_TEST_uses_alias.spec,
        __NETNS_TEST_uses_alias.topology,
        __NETNS_TEST_uses_alias.body,
    )
}
#[doc(hidden)]
#[allow(non_upper_case_globals)]
#[my::netns::__private::linkme::distributed_slice(my::netns::__private::TESTS)]
#[linkme(crate = my::netns::__private::linkme)]
static __NETNS_TEST_uses_alias: my::netns::__private::Registered = {
    fn uses_alias(net: Net) {}
    my::netns::__private::Registered {
        spec: my::netns::__private::TestSpec::new(
                ::core::concat!(::core::module_path!(), "::", "uses_alias"),
            )
            .keep_artifacts(true),
        ignore: false,
        ignore_reason: ::core::option::Option::None,
        topology: || my::netns::Topology::new(),
        body: |net| my::netns::__private::test_result(uses_alias(net)),
    }
};
"#
    );
    assert!(
        expand(r#"crate = "::renamed""#, "fn t() {}").contains("::renamed::__private::run_sync(")
    );
}

#[test]
fn timeout_forms() {
    assert_eq!(timeout_ms(r#"timeout = "500ms""#), "500u64");
    assert_eq!(timeout_ms(r#"timeout = "30s""#), "30000u64");
    assert_eq!(timeout_ms(r#"timeout = "2m""#), "120000u64");
    assert_eq!(timeout_ms("timeout = 45"), "45000u64");
    assert_eq!(timeout_ms(""), "none");
}

/// The grammar shared with `NETNS_TEST_TIMEOUT` (the runtime tests its own parser against
/// the same file).
fn timeout_cases() -> Vec<(String, Result<u64, &'static str>)> {
    include_str!("../timeout-cases.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (text, expected) = l.rsplit_once(" => ").expect("`\"TEXT\" => RESULT`");
            let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
            let expected = match expected {
                "invalid" => Err("invalid"),
                "zero" => Err("zero"),
                "too large" => Err("too large"),
                ms => Ok(ms.parse().expect("milliseconds")),
            };
            (text.expect("a quoted text").to_string(), expected)
        })
        .collect()
}

/// What the attribute makes of `timeout = <value>`: milliseconds, or the kind of error.
fn attribute_timeout(value: &str) -> Result<u64, &'static str> {
    let errs = errors(&format!("timeout = {value}"), "fn t() {}");
    match errs.as_slice() {
        [] => {
            let ms = timeout_ms(&format!("timeout = {value}"));
            Ok(ms.trim_end_matches("u64").parse().expect("milliseconds"))
        }
        [e] if e.starts_with("invalid timeout") => Err("invalid"),
        [e] if e.contains("greater than zero") => Err("zero"),
        [e] if e.contains("too large") => Err("too large"),
        other => panic!("timeout = {value}: {other:?}"),
    }
}

#[test]
fn timeout_grammar_is_the_shared_one() {
    let cases = timeout_cases();
    assert!(cases.len() > 20, "{cases:?}");
    for (text, expected) in cases {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            // Digits alone: the integer form; as a string, a unit is missing.
            assert_eq!(attribute_timeout(&text), expected, "timeout = {text}");
            assert_eq!(
                attribute_timeout(&format!("{text:?}")),
                Err("invalid"),
                "timeout = {text:?}"
            );
        } else {
            assert_eq!(
                attribute_timeout(&format!("{text:?}")),
                expected,
                "timeout = {text:?}"
            );
        }
    }
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
    assert!(out.contains("fn r#match() {\n    ::netns_test"), "{out}");
    assert!(out.contains("static __NETNS_TEST_match:"), "{out}");
    assert!(out.contains("    fn r#match() {}"), "{out}");
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
    assert!(out.contains("::netns_test::__private::block_on("), "{out}");
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
    assert_eq!(
        errors("timeout = ", "fn t() {}"),
        ["`timeout` needs a value after `=`: write `timeout = \"30s\"`"]
    );
    assert_eq!(
        errors("topology = , timeout = ", "fn t() {}"),
        [
            "`topology` needs a value after `=`: write `topology = my_topology()`",
            "`timeout` needs a value after `=`: write `timeout = \"30s\"`",
        ]
    );
    // The keys after a missing value are still read.
    let out = expand(r#"timeout = , keep_artifacts = true"#, "fn t() {}");
    assert!(out.contains(".keep_artifacts(true)"), "{out}");
}

#[test]
fn should_panic_forms() {
    let spec = |attr: &str| {
        let out = expand("", &format!("{attr}\nfn t() {{ panic!() }}"));
        assert!(!out.contains("#[should_panic"), "{out}");
        let line = out.lines().find(|line| line.contains(".should_panic("));
        line.map_or("none".to_owned(), |l| l.trim().to_owned())
    };
    assert_eq!(
        spec("#[should_panic]"),
        ".should_panic(::netns_test::__private::ShouldPanic::Yes),"
    );
    assert_eq!(
        spec("#[should_panic = \"boom\"]"),
        ".should_panic(::netns_test::__private::ShouldPanic::YesWithMessage(\"boom\")),"
    );
    assert_eq!(
        spec("#[should_panic(expected = \"boom\")]"),
        ".should_panic(::netns_test::__private::ShouldPanic::YesWithMessage(\"boom\")),"
    );
    // No `#[should_panic]`: the default, no setter.
    assert_eq!(spec(""), "none");
}

#[test]
fn should_panic_errors() {
    let wrong = "`#[should_panic]` takes no argument or `expected = \"...\"`: write `#[should_panic]` or `#[should_panic(expected = \"part of the panic message\")]`";
    for attr in [
        "#[should_panic(expect = \"boom\")]",
        "#[should_panic(\"boom\")]",
        "#[should_panic = 3]",
        "#[should_panic(expected = \"a\", extra = 1)]",
    ] {
        assert_eq!(
            errors("", &format!("{attr}\nfn t() {{}}")),
            [wrong],
            "{attr}"
        );
    }
    assert_eq!(
        errors("", "#[should_panic]\n#[should_panic]\nfn t() {}"),
        ["`#[should_panic]` given more than once"]
    );
    assert_eq!(
        errors(
            "",
            "#[should_panic]\nfn t() -> Result<(), String> { Ok(()) }"
        ),
        ["functions using `#[should_panic]` must return `()`"]
    );
    assert!(errors("", "#[should_panic]\nfn t() -> () {}").is_empty());
}

#[test]
fn net_by_reference_says_to_take_it_by_value() {
    assert_eq!(
        errors("", "fn t(net: &Net) {}"),
        ["a `#[netns_test]` function takes the `Net` handle by value: write `net: Net` instead of `net: &Net`"]
    );
    assert_eq!(
        errors("", "fn t(n: &mut netns_test::Net) {}"),
        ["a `#[netns_test]` function takes the `Net` handle by value: write `n: netns_test::Net` instead of `n: &mut netns_test::Net`"]
    );
    assert_eq!(
        errors("", "fn t(net: &str) {}"),
        ["the parameter of a `#[netns_test]` function is the `Net` handle, taken by value: write `net: Net` instead of `net: &str`"]
    );
}

/// What the harness mode registers of a test: its `#[ignore]` (with the reason), and its
/// `#[cfg]`s, which the registration follows.
#[test]
fn registration_follows_ignore_and_cfg() {
    let field = |out: &str, key: &str| -> String {
        out.lines()
            .find(|line| line.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .trim()
            .to_owned()
    };
    let out = expand("", "#[ignore = \"needs a fix\"]\nfn later() {}");
    assert!(
        out.contains("#[ignore = \"needs a fix\"]\nfn later() {"),
        "{out}"
    );
    assert_eq!(field(&out, "ignore:"), "ignore: true,");
    assert_eq!(
        field(&out, "ignore_reason:"),
        "ignore_reason: ::core::option::Option::Some(\"needs a fix\"),"
    );
    let out = expand("", "fn now() {}");
    assert_eq!(field(&out, "ignore:"), "ignore: false,");
    let out = expand(
        "",
        "#[cfg(feature = \"slow\")]\n#[allow(unused)]\nfn slow() {}",
    );
    assert!(
        out.contains("#[cfg(feature = \"slow\")]\n#[doc(hidden)]\n#[allow(non_upper_case_globals)]\n#[::netns_test::__private::linkme::distributed_slice("),
        "{out}"
    );
    assert!(
        out.contains("#[::core::prelude::v1::test]\n#[cfg(feature = \"slow\")]\n#[allow(unused)]\nfn slow() {"),
        "{out}"
    );
    // Only the `#[cfg]` goes to the registration.
    assert_eq!(out.matches("#[allow(unused)]").count(), 1, "{out}");
}

/// The function exists once, in the registration, whichever mode runs it: the `#[test]`
/// function (compiled only under `--test`) reads it from there.
#[test]
fn the_function_is_emitted_once() {
    let out = expand("", "async fn once(net: Net) { net.host(); }");
    assert_eq!(out.matches("async fn once(net: Net)").count(), 1, "{out}");
    let test_fn = &out[..out.find("#[doc(hidden)]").expect("registration")];
    assert!(!test_fn.contains("async fn"), "{test_fn}");
}
