//! How a test body ended, and whether that is what the test expects: the judgement both
//! runners make, `#[should_panic]` included.

use std::any::Any;
use std::fmt::Debug;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::spec::ShouldPanic;

/// How the body ended, as the child reports it and the harness mode sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyEnd<'a> {
    Returned,
    Err(&'a str),
    /// The panic message, `None` when the payload was not a string.
    Panicked(Option<&'a str>),
}

/// Whether the body's end is the test's expected outcome (libtest's rules for
/// `#[should_panic]`); if not, why, in libtest's words.
pub(crate) fn verdict(should_panic: ShouldPanic, end: BodyEnd<'_>) -> Result<(), String> {
    match (should_panic, end) {
        (ShouldPanic::No, BodyEnd::Returned) => Ok(()),
        (ShouldPanic::No, BodyEnd::Err(msg)) => Err(format!("the test returned an error: {msg}")),
        (ShouldPanic::No, BodyEnd::Panicked(msg)) => Err(format!(
            "the test panicked: {}",
            msg.unwrap_or(NON_STRING_PAYLOAD)
        )),
        (ShouldPanic::Yes, BodyEnd::Panicked(_)) => Ok(()),
        (ShouldPanic::YesWithMessage(expected), BodyEnd::Panicked(Some(msg))) => {
            if msg.contains(expected) {
                Ok(())
            } else {
                Err(format!(
                    "panic did not contain expected string\n      panic message: `{msg:?}`,\n \
                     expected substring: `{expected:?}`"
                ))
            }
        }
        (ShouldPanic::YesWithMessage(expected), BodyEnd::Panicked(None)) => Err(format!(
            "expected panic with string value,\n found non-string value\n     expected substring: \
             `{expected:?}`"
        )),
        (_, BodyEnd::Returned) => Err("test did not panic as expected".to_string()),
        (_, BodyEnd::Err(msg)) => Err(format!(
            "test did not panic as expected: it returned an error: {msg}"
        )),
    }
}

const NON_STRING_PAYLOAD: &str = "the test panicked with a non-string payload";

/// The body's value, checked where the test's return type is written (the expansion
/// spans this call there): `()` or `Result<T, E: Debug>`. Its own type is concrete, so
/// that a wrong return type is reported once, at the type.
pub fn test_result<R: TestResult>(result: R) -> BodyResult {
    BodyResult(result.into_outcome())
}

/// A body's value judged by [`test_result`]: the `Debug` text of its error, if any.
#[derive(Debug)]
pub struct BodyResult(Result<(), String>);

/// The former name of [`BodyResult`].
#[deprecated(note = "renamed `BodyResult`: `reach::Outcome` is a probe's outcome")]
pub type Outcome = BodyResult;

impl TestResult for BodyResult {
    fn into_outcome(self) -> Result<(), String> {
        self.0
    }
}

/// What a test body may return: `()` or `Result<T, E: Debug>`.
#[diagnostic::on_unimplemented(
    message = "a `#[netns_test]` function must return `()` or `Result<T, E: Debug>`, not `{Self}`"
)]
pub trait TestResult {
    /// `Err` with the error's `Debug` text.
    fn into_outcome(self) -> Result<(), String>;
}

impl TestResult for () {
    fn into_outcome(self) -> Result<(), String> {
        Ok(())
    }
}

impl<T, E: Debug> TestResult for Result<T, E> {
    fn into_outcome(self) -> Result<(), String> {
        self.map(drop).map_err(|e| format!("{e:?}"))
    }
}

/// A body's end as `catch_unwind` gives it: what it returned, or its panic.
pub(crate) struct Caught {
    result: std::thread::Result<Result<(), String>>,
    /// The panic's message, if it panicked with a string.
    message: Option<String>,
}

impl Caught {
    /// Runs the body, catching its panic.
    pub(crate) fn run(body: impl FnOnce() -> Result<(), String>) -> Caught {
        let result = catch_unwind(AssertUnwindSafe(body));
        let message = result.as_ref().err().and_then(|p| panic_message(&**p));
        Caught { result, message }
    }

    /// The reason, when the body called [`crate::harness::ignore`].
    pub(crate) fn ignored(&self) -> Option<&str> {
        self.result
            .as_ref()
            .err()
            .and_then(|p| Ignored::reason(&**p))
    }

    /// Makes the body's end this error instead (an ignore where libtest has no such
    /// outcome).
    pub(crate) fn fail_with(&mut self, msg: String) {
        self.result = Ok(Err(msg));
        self.message = None;
    }

    /// How the body ended, for [`verdict`].
    pub(crate) fn end(&self) -> BodyEnd<'_> {
        match &self.result {
            Ok(Ok(())) => BodyEnd::Returned,
            Ok(Err(msg)) => BodyEnd::Err(msg),
            Err(_) => BodyEnd::Panicked(self.message.as_deref()),
        }
    }

    /// Goes on as the body ended: returns, panics with its error, or resumes its panic.
    pub(crate) fn resume(self) {
        match self.result {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => panic!("the test returned an error: {msg}"),
            Err(payload) => resume_unwind(payload),
        }
    }
}

/// The message of a panic, `None` for a payload that is not a string.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<String> {
    if let Some(s) = payload.downcast_ref::<&str>() {
        Some(s.to_string())
    } else {
        payload.downcast_ref::<String>().cloned()
    }
}

/// The payload with which [`crate::harness::ignore`] unwinds the body.
pub(crate) struct Ignored(pub(crate) String);

impl Ignored {
    /// The reason, when `payload` is an [`crate::harness::ignore`]'s.
    pub(crate) fn reason(payload: &(dyn Any + Send)) -> Option<&str> {
        payload.downcast_ref::<Ignored>().map(|i| i.0.as_str())
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn should_panic_is_judged_as_libtest_does() {
        use BodyEnd::{Panicked, Returned};
        use ShouldPanic::{No, Yes, YesWithMessage};
        assert_eq!(verdict(No, Returned), Ok(()));
        assert_eq!(verdict(Yes, Panicked(Some("boom"))), Ok(()));
        assert_eq!(verdict(Yes, Panicked(None)), Ok(()));
        assert_eq!(
            verdict(YesWithMessage("oo"), Panicked(Some("boom"))),
            Ok(())
        );
        assert_eq!(
            verdict(Yes, Returned),
            Err("test did not panic as expected".to_string())
        );
        assert_eq!(
            verdict(YesWithMessage("x"), Returned),
            Err("test did not panic as expected".to_string())
        );
        assert_eq!(
            verdict(YesWithMessage("bang"), Panicked(Some("boom"))),
            Err(
                "panic did not contain expected string\n      panic message: `\"boom\"`,\n \
                 expected substring: `\"bang\"`"
                    .to_string()
            )
        );
        assert!(verdict(YesWithMessage("bang"), Panicked(None))
            .unwrap_err()
            .contains("expected panic with string value"));
        assert!(verdict(Yes, BodyEnd::Err("no"))
            .unwrap_err()
            .contains("did not panic as expected"));
        assert_eq!(
            verdict(No, BodyEnd::Err("no")),
            Err("the test returned an error: no".to_string())
        );
    }
}
