//! What the attribute knows about a test ([`TestSpec`]), and the grammar of its timeout,
//! shared by both runners.

use std::time::Duration;

/// Overrides the default timeout of every test.
pub(crate) const ENV_TIMEOUT: &str = "NETNS_TEST_TIMEOUT";
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the attribute knows about a test: built with [`TestSpec::new`] and one setter per
/// key of the attribute, each `const`, so that a `static` can hold it.
///
/// ```
/// use netns_test::sandbox::{ShouldPanic, TestSpec};
///
/// const SPEC: TestSpec = TestSpec::new(concat!(module_path!(), "::", "a_reaches_b"))
///     .timeout_ms(20_000)
///     .should_panic(ShouldPanic::YesWithMessage("boom"));
/// assert_eq!(SPEC.timeout_ms, Some(20_000));
/// assert!(!SPEC.keep_artifacts);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TestSpec {
    /// `module_path!()` of the test plus `::` plus its name.
    pub path: &'static str,
    /// Timeout from the attribute, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Keep diagnostics for passing tests too.
    pub keep_artifacts: bool,
    /// What the test's `#[should_panic]` asks for. The attribute is not passed on to
    /// libtest: only a panic of the body itself can satisfy it, never a failure of the
    /// sandbox (a timeout, an environment that cannot create namespaces, a topology that
    /// cannot be built).
    pub should_panic: ShouldPanic,
}

impl TestSpec {
    /// The test at `path` (`module_path!()` of the test, `::`, its name) with the
    /// attribute's defaults: the timeout of `NETNS_TEST_TIMEOUT` or 60 s, diagnostics
    /// kept on failure only, no `#[should_panic]`.
    pub const fn new(path: &'static str) -> TestSpec {
        TestSpec {
            path,
            timeout_ms: None,
            keep_artifacts: false,
            should_panic: ShouldPanic::No,
        }
    }

    /// `timeout = "..."`: the timeout in milliseconds, over `NETNS_TEST_TIMEOUT`.
    pub const fn timeout_ms(mut self, ms: u64) -> TestSpec {
        self.timeout_ms = Some(ms);
        self
    }

    /// `keep_artifacts = true`: keep the diagnostics folder of a passing test too.
    pub const fn keep_artifacts(mut self, keep: bool) -> TestSpec {
        self.keep_artifacts = keep;
        self
    }

    /// `#[should_panic]` of the test, judged against the body's own panic only.
    pub const fn should_panic(mut self, should_panic: ShouldPanic) -> TestSpec {
        self.should_panic = should_panic;
        self
    }
}

/// `#[should_panic]` of a test, as libtest knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShouldPanic {
    /// No `#[should_panic]`: the body must return normally (or `Ok`).
    No,
    /// `#[should_panic]`: the body must panic.
    Yes,
    /// `#[should_panic(expected = "...")]`: the body must panic with a message that
    /// contains this text.
    YesWithMessage(&'static str),
}

/// The name libtest knows the test by: its path without the crate name.
pub(crate) fn test_name(path: &str) -> &str {
    path.split_once("::").map_or(path, |(_, rest)| rest)
}

/// Why a text is not a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DurationError {
    Invalid,
    Zero,
    TooLarge,
}

/// The attribute's grammar of a timeout (`netns-test-macros`, `config.rs`, has the same
/// function; both are tested against its `timeout-cases.txt`): ASCII digits followed by
/// `ms`, `s` or `m`; with `bare_seconds`, digits alone are seconds.
pub(super) fn parse_duration_ms(text: &str, bare_seconds: bool) -> Result<u64, DurationError> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let factor: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "" if bare_seconds => 1_000,
        _ => return Err(DurationError::Invalid),
    };
    if number.is_empty() {
        return Err(DurationError::Invalid);
    }
    let ms = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or(DurationError::TooLarge)?;
    if ms == 0 {
        return Err(DurationError::Zero);
    }
    Ok(ms)
}

/// A value of `NETNS_TEST_TIMEOUT`: the attribute's grammar, as a string (`"30s"`, or
/// `"30"` for the integer form).
fn parse_env_timeout(text: &str) -> Result<Duration, String> {
    let forms = "a duration like \"500ms\", \"30s\" or \"2m\", or an integer number of seconds \
                 like \"30\"";
    match parse_duration_ms(text, true) {
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(DurationError::Invalid) => Err(format!(
            "netns-test: {ENV_TIMEOUT}={text:?} is not a timeout: expected {forms} (the grammar \
             of #[netns_test(timeout = ...)])"
        )),
        Err(DurationError::Zero) => Err(format!(
            "netns-test: {ENV_TIMEOUT}={text:?}: the timeout must be greater than zero; set {forms}, \
             or unset {ENV_TIMEOUT} for the default of {DEFAULT_TIMEOUT:?}"
        )),
        Err(DurationError::TooLarge) => Err(format!(
            "netns-test: {ENV_TIMEOUT}={text:?}: the timeout is too large: it must fit in a u64 \
             number of milliseconds"
        )),
    }
}

/// The test's timeout: the attribute's, else `NETNS_TEST_TIMEOUT`, else the default. A
/// `NETNS_TEST_TIMEOUT` that is not a timeout is an error even where the attribute sets
/// one: a misspelt setting must not go unnoticed.
pub(crate) fn timeout(spec: &TestSpec) -> Result<Duration, String> {
    let env = std::env::var_os(ENV_TIMEOUT);
    pick_timeout(spec, env.as_deref().map(|v| v.to_string_lossy()).as_deref())
}

fn pick_timeout(spec: &TestSpec, env: Option<&str>) -> Result<Duration, String> {
    let env = env.map(parse_env_timeout).transpose()?;
    Ok(match spec.timeout_ms {
        Some(ms) => Duration::from_millis(ms),
        None => env.unwrap_or(DEFAULT_TIMEOUT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_name_drops_the_crate() {
        assert_eq!(test_name("my_crate::net::a_reaches_b"), "net::a_reaches_b");
        assert_eq!(test_name("it::a"), "a");
    }

    /// The grammar shared with the attribute (its crate tests its own parser against the
    /// same file).
    fn timeout_cases() -> Vec<(String, Result<u64, DurationError>)> {
        include_str!("../../../netns-test-macros/timeout-cases.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (text, expected) = l.rsplit_once(" => ").expect("`\"TEXT\" => RESULT`");
                let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
                let expected = match expected {
                    "invalid" => Err(DurationError::Invalid),
                    "zero" => Err(DurationError::Zero),
                    "too large" => Err(DurationError::TooLarge),
                    ms => Ok(ms.parse().expect("milliseconds")),
                };
                (text.expect("a quoted text").to_string(), expected)
            })
            .collect()
    }

    #[test]
    fn netns_test_timeout_has_the_attributes_grammar() {
        let cases = timeout_cases();
        assert!(cases.len() > 20, "{cases:?}");
        for (text, expected) in cases {
            assert_eq!(parse_duration_ms(&text, true), expected, "{text:?}");
        }
    }

    #[test]
    fn a_bad_netns_test_timeout_names_the_variable() {
        let spec = TestSpec::new("it::t").timeout_ms(1000);
        for zero in ["0", "0ms", "0s"] {
            let e = pick_timeout(&spec, Some(zero)).unwrap_err();
            assert!(e.contains(&format!("NETNS_TEST_TIMEOUT=\"{zero}\"")), "{e}");
            assert!(e.contains("must be greater than zero"), "{e}");
            assert!(!e.contains("timed out"), "{e}");
        }
        let e = pick_timeout(&spec, Some("soon")).unwrap_err();
        assert!(
            e.contains("NETNS_TEST_TIMEOUT=\"soon\" is not a timeout"),
            "{e}"
        );
        assert!(e.contains("\"500ms\", \"30s\" or \"2m\""), "{e}");
        // The attribute wins over a valid variable.
        assert_eq!(pick_timeout(&spec, Some("90")), Ok(Duration::from_secs(1)));
        let default = TestSpec::new("it::t");
        assert_eq!(
            pick_timeout(&default, Some("90")),
            Ok(Duration::from_secs(90))
        );
        assert_eq!(
            pick_timeout(&default, Some("250ms")),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(pick_timeout(&default, None), Ok(DEFAULT_TIMEOUT));
    }
}
