//! The child's report to the parent, over the status fd (fd 3).

use std::fs::File;
use std::io::Write;

use super::verdict::BodyEnd;
use crate::sys;

/// One message of the child's report to the parent, over the status fd (fd 3). The child
/// sends [`Report::Ready`] once the network is built, then one outcome; when the network
/// cannot be built, [`Report::Setup`] alone. [`Report::Spawn`] comes from the spawned
/// process before it runs the test binary (see [`crate::sys::spawn_sandbox`]), written
/// there without allocating in the same form as [`Report::encode`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Report {
    /// The network is built and the body runs.
    Ready,
    /// The test failed and its sandbox is paused (see `pause`): the pause's limit in
    /// seconds, then one `FD NODE` line per node.
    Paused(String),
    /// The body returned normally (or `Ok`).
    Ok,
    /// The body panicked with this message.
    Panic(String),
    /// The body panicked with a payload that is not a string.
    PanicPayload,
    /// The body returned this error (its `Debug` text).
    Err(String),
    /// The network could not be built: the error's message.
    Setup(String),
    /// A step of the sandbox's spawn failed, before the test binary ran.
    Spawn {
        /// The step, e.g. `execve`.
        step: String,
        /// Its errno.
        errno: i32,
    },
}

impl Report {
    /// The message as sent: a first line naming the kind, then the text, if any.
    pub(super) fn encode(&self) -> String {
        match self {
            Report::Ready => "ready\n".to_string(),
            Report::Paused(body) => format!("paused\n{body}.\n"),
            Report::Ok => "ok\n".to_string(),
            Report::Panic(msg) => format!("panic\n{msg}"),
            Report::PanicPayload => "panic-payload\n".to_string(),
            Report::Err(msg) => format!("err\n{msg}"),
            Report::Setup(msg) => format!("setup\n{msg}"),
            Report::Spawn { step, errno } => format!("spawn\n{step} errno={errno}"),
        }
    }

    /// Every message of what the child sent (`status`, read to its end): a spawn failure,
    /// or `Ready` and then the outcome, or an outcome alone (a setup failure); a message
    /// that is not complete or not known is left out, and the child's exit is judged.
    pub(super) fn decode(status: &str) -> Vec<Report> {
        let mut reports = Vec::new();
        if let Some(rest) = status.strip_prefix("spawn\n") {
            let rest = rest.trim();
            let (step, errno) = match rest.rsplit_once(" errno=") {
                Some((step, errno)) => (step, errno.parse().unwrap_or(0)),
                None => (rest, 0),
            };
            reports.push(Report::Spawn {
                step: step.to_string(),
                errno,
            });
            return reports;
        }
        let mut outcome = match status.strip_prefix("ready\n") {
            Some(rest) => {
                reports.push(Report::Ready);
                rest
            }
            None => status,
        };
        if let Some(rest) = outcome.strip_prefix("paused\n") {
            let Some((body, rest)) = rest.split_once("\n.\n") else {
                return reports;
            };
            reports.push(Report::Paused(format!("{body}\n")));
            outcome = rest;
        }
        let (kind, msg) = outcome.split_once('\n').unwrap_or((outcome, ""));
        reports.extend(match kind {
            "ok" => Some(Report::Ok),
            "panic" => Some(Report::Panic(msg.to_string())),
            "panic-payload" => Some(Report::PanicPayload),
            "err" => Some(Report::Err(msg.to_string())),
            "setup" => Some(Report::Setup(msg.to_string())),
            _ => None,
        });
        reports
    }

    /// Whether this is a final outcome, after which the child lets go of its output.
    pub(super) fn is_outcome(&self) -> bool {
        !matches!(
            self,
            Report::Ready | Report::Paused(_) | Report::Spawn { .. }
        )
    }

    /// The outcome that reports the body's end.
    pub(super) fn of_end(end: BodyEnd<'_>) -> Report {
        match end {
            BodyEnd::Returned => Report::Ok,
            BodyEnd::Err(msg) => Report::Err(msg.to_string()),
            BodyEnd::Panicked(Some(msg)) => Report::Panic(msg.to_string()),
            BodyEnd::Panicked(None) => Report::PanicPayload,
        }
    }
}

/// The child's end of the report channel to the parent (fd 3).
pub(super) struct Status(File);

impl Status {
    pub(super) fn take() -> Status {
        Status(sys::take_status_fd())
    }

    pub(super) fn send(&mut self, report: &Report) {
        // The parent reads to EOF; a failed write means it is gone, and PDEATHSIG follows.
        let _ = self.0.write_all(report.encode().as_bytes());
    }

    /// Sends the final outcome and lets go of everything the parent reads (the report
    /// channel, stdout, stderr), so that it can judge without waiting for this process
    /// to finish exiting. What the runner prints after this goes nowhere: the parent
    /// filters it anyway.
    pub(super) fn finish(mut self, report: &Report) {
        self.send(report);
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        sys::release_stdio();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_round_trips() {
        let outcomes = [
            Report::Ok,
            Report::Panic("boom\nat src/lib.rs:3".to_string()),
            Report::Panic(String::new()),
            Report::PanicPayload,
            Report::Err("Timeout(\"x\")\n".to_string()),
            Report::Setup("invalid topology:\n  - a".to_string()),
        ];
        for outcome in &outcomes {
            assert!(outcome.is_outcome(), "{outcome:?}");
            assert_eq!(
                Report::decode(&outcome.encode()),
                std::slice::from_ref(outcome)
            );
            let sent = Report::Ready.encode() + &outcome.encode();
            assert_eq!(Report::decode(&sent), [Report::Ready, outcome.clone()]);
        }
        assert_eq!(Report::decode(&Report::Ready.encode()), [Report::Ready]);
        let paused = Report::Paused("60\n5 host\n7 a\n".to_string());
        assert!(!paused.is_outcome());
        let sent = Report::Ready.encode() + &paused.encode() + &Report::Ok.encode();
        assert_eq!(Report::decode(&sent), [Report::Ready, paused, Report::Ok]);
        let spawn = Report::Spawn {
            step: "prctl(PR_SET_PDEATHSIG)".to_string(),
            errno: libc::EPERM,
        };
        assert!(!spawn.is_outcome() && !Report::Ready.is_outcome());
        assert_eq!(Report::decode(&spawn.encode()), [spawn]);
        // As the spawned process writes it, without allocating (crate::sys).
        assert_eq!(
            Report::decode("spawn\nexecve errno=2"),
            [Report::Spawn {
                step: "execve".to_string(),
                errno: 2
            }]
        );
        // Nothing, or a message cut short: no outcome, the exit is judged.
        assert_eq!(Report::decode(""), []);
        assert_eq!(Report::decode("ready\npan"), [Report::Ready]);
    }
}
