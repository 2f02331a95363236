//! `NETNS_TEST_PAUSE_ON_FAILURE`: a failing test keeps its sandbox alive once its
//! diagnostics are written, and the parent prints, per node, an `nsenter` line that opens
//! a shell in that node from another terminal, as the same user. That user is uid 0 of the
//! sandbox's user namespace with every id map (`crate::id_map`), so the shell, which keeps
//! its credentials (`--preserve-credentials`: without it nsenter calls `setgroups`, which
//! the single-id map denies), is root of the node; `-p` gives it the node's `/proc` and
//! ends it with the sandbox.
//!
//! The child sends [`Report::Paused`] with each node's netns fd (the sandbox's PID 1 holds
//! them all), then waits for [`RELEASE_SIGNAL`] or the pause's limit. The parent, which
//! knows the sandbox's PID as the user's terminal sees it, prints the commands, stops its
//! own clock for the pause, and turns Enter on its terminal (when stdin is one) into the
//! signal. Whatever ends the test's process ends the sandbox with it (PDEATHSIG): nothing
//! is left behind. The harness mode pauses with the same request, body and banner
//! (`crate::harness`).

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::report::{Report, Status};
use super::spec::parse_duration_ms;
use crate::net::Net;
use crate::sys;

/// `1` (or `true`, `yes`, `on`): pause for at most [`DEFAULT_LIMIT`]; a duration (`10m`,
/// `90s`): at most that long; `always`: also when `CI` is set.
pub(crate) const ENV_PAUSE: &str = "NETNS_TEST_PAUSE_ON_FAILURE";
/// How long a pause lasts unless the variable gives a duration.
pub(crate) const DEFAULT_LIMIT: Duration = Duration::from_secs(3600);
/// Ends a pause (`kill -USR1 PID`): what Enter on the test's terminal sends.
pub(crate) const RELEASE_SIGNAL: libc::c_int = libc::SIGUSR1;

/// What the variable asks of a failing test: read (silently) when the test starts, so
/// that its network can be kept, and judged only once it fails ([`Request::limit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request(String);

/// The variable's value, if it is set; says nothing (a passing test prints no note).
pub(crate) fn requested() -> Option<Request> {
    let value = std::env::var(ENV_PAUSE).ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| Request(value.to_string()))
}

impl Request {
    /// How long the failing test pauses, if it does; `None` when the value is off or not
    /// understood, and when `CI` is set and the value is not `always` (both said on
    /// stderr, once, for this failure).
    pub(crate) fn limit(&self) -> Option<Duration> {
        let (limit, explicit) = parse(&self.0)?;
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        if ci && !explicit {
            eprintln!(
                "netns-test: not pausing on this failure: CI is set ({ENV_PAUSE}=always pauses there too)"
            );
            return None;
        }
        Some(limit)
    }
}

/// A value of the variable: the limit, and whether it said `always`.
fn parse(value: &str) -> Option<(Duration, bool)> {
    match value.to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" => None,
        "1" | "true" | "yes" | "on" => Some((DEFAULT_LIMIT, false)),
        "always" => Some((DEFAULT_LIMIT, true)),
        v => match parse_duration_ms(v, false) {
            Ok(ms) => Some((Duration::from_millis(ms), false)),
            Err(_) => {
                eprintln!(
                    "netns-test: {ENV_PAUSE}={value:?} is not understood (1, always, or a \
                     duration like \"10m\"): not pausing"
                );
                None
            }
        },
    }
}

/// In the child, after the diagnostics: tells the parent what to print, then waits for
/// [`RELEASE_SIGNAL`] or `limit`.
pub(super) fn hold(net: &Net, status: &mut Status, limit: Duration) {
    let wake = UnixStream::pair().and_then(|(r, w)| {
        sys::on_signal_write_byte(RELEASE_SIGNAL, OwnedFd::from(w))?;
        Ok(r)
    });
    let r = match wake {
        Ok(r) => r,
        Err(e) => {
            eprintln!("netns-test: cannot pause ({e}): going on");
            return;
        }
    };
    status.send(&Report::Paused(body(net, limit)));
    let end = Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() || sys::wait_readable(r.as_fd(), Some(left)).unwrap_or(false) {
            return;
        }
    }
}

/// What [`banner`] reads: the pause's limit in seconds, then one `FD NODE` line per node.
pub(crate) fn body(net: &Net, limit: Duration) -> String {
    let mut body = format!("{}\n", limit.as_secs());
    for node in net.nodes() {
        let _ = writeln!(body, "{} {}", node.netns().as_raw_fd(), node.name());
    }
    body
}

/// In the parent: the lines that say how to enter each node of the paused sandbox `pid`
/// and how to let it go; `body` is what [`hold`] sent.
pub(crate) fn banner(name: &str, pid: libc::pid_t, body: &str, enter: bool) -> (String, Duration) {
    let mut lines = body.lines();
    let secs = lines.next().and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut out = format!(
        "netns-test: test {name} failed and is paused ({ENV_PAUSE}): its network stays up.\n\
         netns-test:   a shell in a node, from another terminal (as this user, root of the node):\n"
    );
    for line in lines {
        let Some((fd, node)) = line.split_once(' ') else {
            continue;
        };
        let _ = writeln!(
            out,
            "netns-test:     {node:<10} nsenter -t {pid} -U -m -p --preserve-credentials --net=/proc/{pid}/fd/{fd}"
        );
    }
    let _ = writeln!(
        out,
        "netns-test:   to let it go: {}`kill -USR1 {pid}`; it goes on by itself after {secs} s",
        if enter { "press Enter here, or " } else { "" }
    );
    (out, Duration::from_secs(secs))
}

/// Whether Enter on the parent's stdin can end a pause: stdin is a terminal.
pub(crate) fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_the_variable() {
        assert_eq!(parse("1"), Some((DEFAULT_LIMIT, false)));
        assert_eq!(parse("always"), Some((DEFAULT_LIMIT, true)));
        assert_eq!(parse("90s"), Some((Duration::from_secs(90), false)));
        assert_eq!(parse("0"), None);
        assert_eq!(parse("soon"), None);
    }

    #[test]
    fn the_banner_names_each_node_and_the_way_out() {
        let (text, limit) = banner("m::t", 4242, "60\n5 host\n7 a\n", false);
        assert_eq!(limit, Duration::from_secs(60));
        assert!(text.contains(
            "netns-test:     a          nsenter -t 4242 -U -m -p --preserve-credentials --net=/proc/4242/fd/7\n"
        ), "{text}");
        assert!(
            text.contains("to let it go: `kill -USR1 4242`; it goes on by itself after 60 s"),
            "{text}"
        );
    }
}
