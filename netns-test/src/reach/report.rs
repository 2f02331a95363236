//! Why a claim failed, in words: a failed single claim ([`ReachError`], with the
//! source's [`PathReport`]), and a matrix's expected and actual grids side by side (the
//! messages of [`MatrixReport`] and [`MatrixError`]).

use std::fmt;

use super::matrix::Expect;
use super::path::PathReport;
use super::probe::routes_of;
use super::wait::{fmt_dur, wait_note, WaitFrom, ISOLATION_WAIT_ENV};
#[cfg(doc)]
use super::{Matrix, ReachCheck};
use super::{MatrixError, MatrixReport, Names, Outcome, Probe, ProbeResult};
use crate::net::{DiffCell, MatrixDiff, Node};

/// A reachability claim that did not hold: who, to whom, by what, what happened, and the
/// path from the source.
#[derive(Clone, Debug)]
pub struct ReachError(Box<ReachErrorInner>);

#[derive(Clone, Debug)]
struct ReachErrorInner {
    result: ProbeResult,
    claim: Claim,
    path: PathReport,
    /// For a negative claim: where its wait came from.
    wait_from: Option<WaitFrom>,
}

/// Which claim a [`ReachError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Claim {
    /// [`ReachCheck::reaches`].
    Reaches,
    /// [`ReachCheck::cannot_reach`].
    CannotReach,
    /// [`ReachCheck::wait_until_reaches`].
    EventuallyReaches,
    /// [`Node::wait_for_port`].
    Accepts,
}

impl ReachError {
    pub(super) async fn new(node: &Node, result: ProbeResult, claim: Claim, names: &Names) -> Self {
        let path = PathReport::build(node, result.addr, names, &routes_of(node).await);
        ReachError(Box::new(ReachErrorInner {
            result,
            claim,
            path,
            wait_from: None,
        }))
    }

    pub(super) fn with_wait_from(mut self, from: WaitFrom) -> Self {
        self.0.wait_from = Some(from);
        self
    }

    /// The probe and what happened to it.
    pub fn result(&self) -> &ProbeResult {
        &self.0.result
    }

    /// What happened: for a failed "reaches" claim, why it did not; for a failed
    /// "cannot reach" claim, [`Outcome::Reached`], [`Outcome::Refused`] (the target
    /// answered) or [`Outcome::Failed`] (the probe could not be sent).
    pub fn outcome(&self) -> &Outcome {
        &self.0.result.outcome
    }

    /// The source's routes and addresses at the time of the failure.
    pub fn path(&self) -> &PathReport {
        &self.0.path
    }
}

impl fmt::Display for ReachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.0.result;
        let (from, to, probe, what) = (&r.from, &r.to, r.probe_name(), r.what_happened());
        let not_sent = matches!(r.outcome, Outcome::Failed(_));
        match self.0.claim {
            Claim::Reaches if not_sent => writeln!(
                f,
                "{from} should reach {to} by {probe}, but the probe could not be sent: {}",
                what.trim_start_matches("could not probe: ")
            )?,
            Claim::Reaches => {
                writeln!(f, "{from} should reach {to} by {probe}, but did not: {what}")?
            }
            Claim::CannotReach if not_sent => writeln!(
                f,
                "{from} should NOT reach {to} by {probe}, but that was not shown: the probe could not be sent: {}",
                what.trim_start_matches("could not probe: ")
            )?,
            Claim::CannotReach if r.outcome.is_refused() => {
                writeln!(
                    f,
                    "{from} should NOT reach {to} by {probe}, but the target answered: {what}"
                )?;
                let advice = match r.probe {
                    Probe::Tcp(p) if r.icmp.is_none() => format!(
                        "probe a port where something listens (start the server on TCP port {p} first), or use Probe::Icmp; if something does listen there, a reject rule on the way answered with a reset, which carries no sender: drop instead of rejecting, or probe by UDP"
                    ),
                    Probe::Tcp(p) => format!(
                        "probe a port where something listens (start the server on TCP port {p} first), or use Probe::Icmp"
                    ),
                    Probe::Udp(p) => format!(
                        "probe a port where something answers (run Node::udp_echo({p}) in the target first), or use Probe::Icmp"
                    ),
                    Probe::Icmp => "probe a TCP or UDP port where something listens".to_string(),
                };
                writeln!(
                    f,
                    "  a refusal is not isolation: the packet got to the target, only nothing took it; to assert isolation, {advice}"
                )?
            }
            Claim::CannotReach => writeln!(
                f,
                "{from} should NOT reach {to} by {probe}, but it did: {what}"
            )?,
            Claim::EventuallyReaches if not_sent => writeln!(
                f,
                "{from} did not reach {to} by {probe}: the probe could not be sent: {}",
                what.trim_start_matches("could not probe: ")
            )?,
            Claim::EventuallyReaches => writeln!(
                f,
                "{from} did not reach {to} by {probe} within {}, retrying all along; the last try: {what}",
                fmt_dur(r.wait)
            )?,
            Claim::Accepts => writeln!(
                f,
                "nothing in {from} answered on {probe} (probed at {to}) within {}, retrying all along; the last try: {what}",
                fmt_dur(r.wait)
            )?,
        }
        if let (Some(wait_from), false) = (self.0.wait_from, not_sent) {
            writeln!(f, "  {}", wait_note(r.wait, wait_from))?;
        }
        self.0.path.write(f, "  ")
    }
}

impl std::error::Error for ReachError {}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatrixError::Invalid(s) => f.write_str(s),
            MatrixError::Mismatch(r) => write!(f, "{r}"),
        }
    }
}

impl std::error::Error for MatrixError {}

/// The mark of an outcome in a matrix's actual grid.
fn outcome_symbol(o: &Outcome) -> &'static str {
    match o {
        Outcome::Reached => "y",
        Outcome::Refused => "r",
        Outcome::Failed(_) => "!",
        _ => "n",
    }
}

impl MatrixReport {
    fn grid(
        &self,
        title: &str,
        cell: impl Fn(usize, usize) -> (&'static str, bool),
    ) -> Vec<String> {
        let lw = self
            .rows
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0);
        let w = self
            .cols
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(1);
        let mut out = vec![title.to_string()];
        let mut header = " ".repeat(lw);
        for c in &self.cols {
            header.push_str(&format!(" {c:>w$} "));
        }
        out.push(header);
        for (r, name) in self.rows.iter().enumerate() {
            let mut line = format!("{name:<lw$}");
            for c in 0..self.cols.len() {
                let (txt, mark) = cell(r, c);
                line.push_str(&format!(" {txt:>w$}{}", if mark { "*" } else { " " }));
            }
            out.push(line);
        }
        out
    }

    /// The check as the diagnostics draw it: expected and observed, cell by cell.
    pub(super) fn diff(&self) -> MatrixDiff {
        let wrong = self.wrong_cells();
        let title = self
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let cells = (0..self.rows.len())
            .map(|r| {
                (0..self.cols.len())
                    .map(|c| {
                        let res = self.results[r][c].as_ref();
                        DiffCell {
                            expected: self.expected[r][c].symbol(),
                            observed: res.map_or("-", |res| outcome_symbol(&res.outcome)),
                            differs: res
                                .filter(|_| wrong.contains(&(r, c)))
                                .map(ProbeResult::what_happened),
                        }
                    })
                    .collect()
            })
            .collect();
        MatrixDiff {
            title,
            rows: self.rows.clone(),
            cols: self.cols.clone(),
            cells,
        }
    }
}

impl fmt::Display for MatrixReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wrong = self.wrong_cells();
        let v6 = self
            .results
            .iter()
            .flatten()
            .flatten()
            .any(|r| r.addr.is_some_and(|a| a.is_ipv6()));
        let probe = self.probe.describe(v6);
        let total = self.probed();
        if wrong.is_empty() {
            writeln!(
                f,
                "reachability by {probe} (row reaches column?): all {total} probed cells as expected"
            )?;
        } else {
            writeln!(
                f,
                "reachability by {probe} (row reaches column?): {} of {total} probed cells differ, marked *",
                wrong.len()
            )?;
        }
        let expected = self.grid("expected", |r, c| (self.expected[r][c].symbol(), false));
        let actual = self.grid("actual", |r, c| match &self.results[r][c] {
            None => ("-", false),
            Some(res) => (outcome_symbol(&res.outcome), wrong.contains(&(r, c))),
        });
        let width = expected
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        for (e, a) in expected.iter().zip(&actual) {
            let pad = width - e.chars().count();
            writeln!(f, "  {e}{}  |  {}", " ".repeat(pad), a.trim_end())?;
        }
        writeln!(
            f,
            "  (y reached, n not reached, r refused: the target answered but nothing listens, ! could not probe, - not probed, ? no expectation; * differs from the expectation)"
        )?;
        if !wrong.is_empty() {
            writeln!(f, "differences:")?;
            for &(r, c) in &wrong {
                let Some(res) = &self.results[r][c] else {
                    continue;
                };
                writeln!(
                    f,
                    "  {} -> {}: expected {}, got {}: {}",
                    res.from,
                    res.to,
                    self.expected[r][c].symbol(),
                    outcome_symbol(&res.outcome),
                    res.what_happened()
                )?;
                if res.outcome.is_refused() && self.expected[r][c] == Expect::NoReach {
                    writeln!(
                        f,
                        "      a refusal is not isolation: the packet got to {}; probe a port where something listens, or by ICMP",
                        res.to
                    )?;
                }
                if let Some((_, path)) = self.paths.iter().find(|(rc, _)| *rc == (r, c)) {
                    path.write(f, "      ")?;
                    writeln!(f)?;
                }
            }
        }
        let wait_from = match self.wait_from {
            WaitFrom::Default => {
                format!(", the default: raise it on a loaded machine with {ISOLATION_WAIT_ENV}")
            }
            WaitFrom::Env => format!(", set by {ISOLATION_WAIT_ENV}"),
            WaitFrom::Given => ", set by Matrix::isolation_wait".to_string(),
        };
        write!(
            f,
            "probed {total} cells concurrently in {} (reach timeout {}; isolation wait {}{wait_from})",
            fmt_dur(self.elapsed),
            fmt_dur(self.timeout),
            fmt_dur(self.isolation_wait)
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::reach::outcome::tests::{has, notice, result};
    use crate::reach::{IcmpNotice, REACH_TIMEOUT};

    fn reach_error(result: ProbeResult, claim: Claim, wait_from: Option<WaitFrom>) -> String {
        ReachError(Box::new(ReachErrorInner {
            path: PathReport {
                from: result.from.clone(),
                dest: result.addr,
                matching: vec!["10.0.0.0/24 dev eth0 (on link)".into()],
                family: Vec::new(),
                addrs: vec!["eth0 10.0.0.2/24".into()],
                error: None,
            },
            result,
            claim,
            wait_from,
        }))
        .to_string()
    }

    #[test]
    fn failed_negative_checks_say_why() {
        // A closed TCP port on a reachable host.
        let msg = reach_error(
            result(Probe::Tcp(80), Outcome::Refused, None),
            Claim::CannotReach,
            Some(WaitFrom::Default),
        );
        has(
            &msg,
            &[
                "a should NOT reach b (10.0.0.3) by TCP port 80, but the target answered: refused: the path exists, nothing listens on 10.0.0.3:80 (TCP reset, ECONNREFUSED",
                "a refusal is not isolation: the packet got to the target",
                "probe a port where something listens (start the server on TCP port 80 first), or use Probe::Icmp",
                "the probe waited up to 300 ms for an answer (the default isolation wait; on a loaded machine raise it with NETNS_TEST_ISOLATION_WAIT, e.g. NETNS_TEST_ISOLATION_WAIT=2s)",
                "a's route toward 10.0.0.3: 10.0.0.0/24 dev eth0 (on link)",
            ],
        );
        // A closed UDP port: the ICMP error from the target is named.
        let mut r = result(
            Probe::Udp(53),
            Outcome::Refused,
            Some(IcmpNotice {
                from_node: Some("b".into()),
                ..notice(false, 3, 3, "10.0.0.3")
            }),
        );
        r.wait = Duration::from_secs(2);
        let msg = reach_error(r, Claim::CannotReach, Some(WaitFrom::Env));
        has(
            &msg,
            &[
                "refused: the path exists, nothing listens on UDP 10.0.0.3:53; ICMP destination unreachable, port unreachable (type 3 code 3) from b (10.0.0.3)",
                "run Node::udp_echo(53) in the target first",
                "the probe waited up to 2 s for an answer (the isolation wait set by NETNS_TEST_ISOLATION_WAIT)",
            ],
        );
        // The target's own firewall.
        let msg = reach_error(
            result(
                Probe::Icmp,
                Outcome::Refused,
                Some(notice(false, 3, 13, "10.0.0.3")),
            ),
            Claim::CannotReach,
            Some(WaitFrom::Given),
        );
        has(
            &msg,
            &[
                "refused: the path exists, the target's own firewall rejects it; ICMP destination unreachable, communication administratively prohibited",
                "probe a TCP or UDP port where something listens",
                "(the wait given in the code; NETNS_TEST_ISOLATION_WAIT changes only the default)",
            ],
        );
        // Reached: the wait is still said.
        let msg = reach_error(
            result(Probe::Icmp, Outcome::Reached, None),
            Claim::CannotReach,
            Some(WaitFrom::Default),
        );
        has(
            &msg,
            &[
                "a should NOT reach b (10.0.0.3) by ICMP echo, but it did: echo reply after 0.20 ms",
                "waited up to 300 ms",
            ],
        );
        // Not sent: no wait, the reason.
        let mut r = result(
            Probe::Icmp,
            Outcome::Failed("the topology has no node \"bx\"; its nodes are: host, a, b".into()),
            None,
        );
        (r.to, r.addr, r.sent) = ("bx".into(), None, 0);
        let msg = reach_error(r.clone(), Claim::CannotReach, Some(WaitFrom::Default));
        has(
            &msg,
            &["a should NOT reach bx by ICMP echo, but that was not shown: the probe could not be sent: the topology has no node \"bx\"; its nodes are: host, a, b"],
        );
        assert!(!msg.contains("waited"), "{msg}");
        let msg = reach_error(r, Claim::Reaches, None);
        has(
            &msg,
            &["a should reach bx by ICMP echo, but the probe could not be sent: the topology has no node"],
        );
    }

    #[test]
    fn matrices_mark_refusals_and_probes_not_sent() {
        let names = vec!["a".to_string(), "b".to_string()];
        let mut refused = result(Probe::Tcp(80), Outcome::Refused, None);
        refused.to = "b (10.0.0.3)".into();
        let mut failed = result(
            Probe::Tcp(80),
            Outcome::Failed("node \"a\" has no IPv6 address".into()),
            None,
        );
        (failed.from, failed.to, failed.addr) = ("b".into(), "a".into(), None);
        let report = MatrixReport {
            probe: Probe::Tcp(80),
            rows: names.clone(),
            cols: names,
            expected: vec![
                vec![Expect::Skip, Expect::NoReach],
                vec![Expect::Any, Expect::Skip],
            ],
            results: vec![vec![None, Some(refused)], vec![Some(failed), None]],
            paths: Vec::new(),
            elapsed: Duration::from_millis(1),
            timeout: REACH_TIMEOUT,
            isolation_wait: Duration::from_secs(2),
            wait_from: WaitFrom::Env,
        };
        assert_eq!(report.mismatches().count(), 2);
        let text = report.to_string();
        has(
            &text,
            &[
                "2 of 2 probed cells differ, marked *",
                "r refused: the target answered but nothing listens, ! could not probe",
                "a -> b (10.0.0.3): expected n, got r: refused: the path exists, nothing listens on 10.0.0.3:80",
                "a refusal is not isolation: the packet got to b (10.0.0.3)",
                "b -> a: expected ?, got !: could not probe: node \"a\" has no IPv6 address",
                "isolation wait 2 s, set by NETNS_TEST_ISOLATION_WAIT",
            ],
        );
        let row = |name: &str| {
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{name} ")) && l.contains(" - "))
                .unwrap();
            line.split_once('|')
                .unwrap()
                .1
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        assert_eq!(row("a"), ["a", "-", "r*"]);
        assert_eq!(row("b"), ["b", "!*", "-"]);
    }
}

impl From<ReachError> for crate::Error {
    fn from(e: ReachError) -> Self {
        crate::Error::Reach(Box::new(e))
    }
}

impl From<MatrixError> for crate::Error {
    fn from(e: MatrixError) -> Self {
        crate::Error::Matrix(Box::new(e))
    }
}

// The accessors live here, next to the types they give back, so that the error layer
// names nothing of the layers above it.
impl crate::Error {
    /// The reachability claim that did not hold, for an [`Error::Reach`](crate::Error::Reach).
    pub fn as_reach(&self) -> Option<&ReachError> {
        match self {
            crate::Error::Reach(e) => e.downcast_ref(),
            _ => None,
        }
    }

    /// The invalid or unmatched matrix, for an [`Error::Matrix`](crate::Error::Matrix).
    pub fn as_matrix(&self) -> Option<&MatrixError> {
        match self {
            crate::Error::Matrix(e) => e.downcast_ref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod conversion_tests {
    use super::*;
    use crate::Result;

    #[test]
    fn reach_and_matrix_errors_convert_with_their_text() {
        fn check() -> Result<()> {
            Err(MatrixError::Invalid(
                "reachability matrix, line 2: no node \"x\"".into(),
            ))?;
            Ok(())
        }
        let e = check().unwrap_err();
        assert!(
            matches!(e.as_matrix(), Some(MatrixError::Invalid(_))),
            "{e:?}"
        );
        assert!(e.as_reach().is_none(), "{e:?}");
        assert_eq!(e.to_string(), "reachability matrix, line 2: no node \"x\"");
    }
}
