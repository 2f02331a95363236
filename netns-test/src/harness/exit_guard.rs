//! A test that ends the process (`std::process::exit`, `libc::exit`) while tests run: an
//! exit handler reports it and makes the exit a failure (code 101), whatever its code.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The tests whose thread runs and has not reported (nor timed out), by id.
static RUNNING: Mutex<Vec<(u64, &'static str)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The test this thread runs, on a test's own thread.
    static THIS_TEST: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Registers the exit handler, once, before the first test starts.
pub(super) fn install() {
    if let Err(e) = crate::sys::at_exit(on_exit) {
        eprintln!(
            "netns-test: warning: no exit handler ({e}): a test that calls \
             std::process::exit would end the suite with its own exit code"
        );
    }
}

/// Test `name` starts; returns its id for [`ended`].
pub(super) fn started(name: &'static str) -> u64 {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    running().push((id, name));
    id
}

/// The test reported, or timed out (its thread is left behind).
pub(super) fn ended(id: u64) {
    running().retain(|&(i, _)| i != id);
}

/// Marks the calling thread as the one of test `name`.
pub(super) fn enter_test(name: &'static str) {
    THIS_TEST.with(|t| t.set(Some(name)));
}

fn running() -> std::sync::MutexGuard<'static, Vec<(u64, &'static str)>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the handler says, or `None` when no test is concerned (the harness's own
/// exit, after every test reported).
pub(super) fn report(exiting: Option<&str>, running: &[&str]) -> Option<String> {
    let others: Vec<&str> = running
        .iter()
        .copied()
        .filter(|&r| Some(r) != exiting)
        .collect();
    let mut out = match exiting {
        Some(me) => format!(
            "netns-test: test {me} called exit (std::process::exit or libc::exit) while it \
             ran. In harness mode every test runs in this one process, and its exit ends \
             them all.\n"
        ),
        None if running.is_empty() => return None,
        None => format!(
            "netns-test: the process called exit (std::process::exit or libc::exit) while \
             {} ran: {}, or a thread it started, called it. In harness mode every test \
             runs in this one process, and its exit ends them all.\n",
            if running.len() == 1 {
                "this test"
            } else {
                "these tests"
            },
            if running.len() == 1 {
                "it"
            } else {
                "one of them"
            },
        ),
    };
    if exiting.is_none() || !others.is_empty() {
        let list = if exiting.is_none() { running } else { &others };
        out.push_str(&format!(
            "netns-test: still running, and ended unfinished: {}\n",
            list.join(", ")
        ));
    }
    out.push_str(
        "netns-test: the tests that had not started did not run. The process exits with \
         code 101. Return from the test instead of exiting, or run it in the default mode \
         (a test target without `harness = false`), where each test has a process of its \
         own.\n",
    );
    Some(out)
}

extern "C" fn on_exit() {
    let me = THIS_TEST.try_with(Cell::get).ok().flatten();
    let running: Vec<&str> = match RUNNING.try_lock() {
        Ok(r) => r.iter().map(|&(_, n)| n).collect(),
        Err(std::sync::TryLockError::Poisoned(p)) => {
            p.into_inner().iter().map(|&(_, n)| n).collect()
        }
        // Held by a trial this very moment: some test is running.
        Err(std::sync::TryLockError::WouldBlock) => vec!["(a test starting or ending)"],
    };
    if let Some(text) = report(me, &running) {
        use std::io::Write;
        let _ = io::stderr().write_all(text.as_bytes());
        crate::sys::exit_now(101);
    }
}

#[cfg(test)]
mod tests {
    use super::report;

    #[test]
    fn the_harness_own_exit_is_not_reported() {
        assert_eq!(report(None, &[]), None);
    }

    #[test]
    fn a_test_that_exits_is_named_with_the_tests_it_interrupts() {
        let text = report(Some("a::exits"), &["a::exits", "b::runs"]).expect("reported");
        assert!(text.contains("test a::exits called exit"), "{text}");
        assert!(text.contains("ended unfinished: b::runs\n"), "{text}");
        assert!(text.contains("had not started did not run"), "{text}");
        assert!(text.contains("code 101"), "{text}");
        let alone = report(Some("a::exits"), &["a::exits"]).expect("reported");
        assert!(!alone.contains("ended unfinished"), "{alone}");
    }

    #[test]
    fn an_exit_from_another_thread_names_the_running_tests() {
        let text = report(None, &["a", "b"]).expect("reported");
        assert!(
            text.contains("while these tests ran: one of them"),
            "{text}"
        );
        assert!(text.contains("ended unfinished: a, b\n"), "{text}");
        let one = report(None, &["a"]).expect("reported");
        assert!(
            one.contains("while this test ran: it, or a thread"),
            "{one}"
        );
    }
}
