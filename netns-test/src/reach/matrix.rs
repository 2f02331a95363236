//! Reachability matrices: the table, the expectation of each cell, what a check found
//! and which cells a probe's outcome contradicts. Pure: parsing, building and diffing need
//! no socket and no node (the probing is in `check`, the messages and the side-by-side
//! rendering in `report`).

use std::str::FromStr;
use std::time::Duration;

use super::path::PathReport;
use super::wait::WaitFrom;
#[cfg(doc)]
use super::ISOLATION_WAIT;
use super::{Outcome, Probe, ProbeResult, REACH_TIMEOUT};
#[cfg(doc)]
use crate::Net;

/// What a matrix cell expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `y`: the row node reaches the column node.
    Reach,
    /// `n`: it does not: the probe is stopped before the target (waits the isolation
    /// wait; see [`Outcome::is_blocked`]). A refusal (`r`) differs: the target answered.
    NoReach,
    /// `?`: probe and report, expect nothing (a probe that could not be sent, `!`, still
    /// differs).
    Any,
    /// `-`: do not probe.
    Skip,
}

impl Expect {
    pub(super) fn symbol(self) -> &'static str {
        match self {
            Expect::Reach => "y",
            Expect::NoReach => "n",
            Expect::Any => "?",
            Expect::Skip => "-",
        }
    }

    fn parse(tok: &str) -> Option<Expect> {
        Some(match tok {
            "y" | "Y" | "yes" | "1" | "+" | "✓" => Expect::Reach,
            "n" | "N" | "no" | "0" | "x" | "X" | "✗" => Expect::NoReach,
            "?" => Expect::Any,
            "-" | "." => Expect::Skip,
            _ => return None,
        })
    }

    /// Whether `outcome` is what the cell expects. A probe that could not be sent differs
    /// from every expectation; a refusal is neither reaching nor isolation.
    fn holds(self, outcome: &Outcome) -> bool {
        match self {
            _ if matches!(outcome, Outcome::Failed(_)) => false,
            Expect::Reach => outcome.is_reached(),
            Expect::NoReach => outcome.is_blocked(),
            Expect::Any | Expect::Skip => true,
        }
    }
}

/// The expected reachability between nodes: rows are sources, columns are targets.
///
/// Write it as a table (`y` reaches, `n` does not, `-` not probed, `?` probe without
/// expectation; also `1`/`0`, `yes`/`no`, `.`; `#` starts a comment):
///
/// ```no_run
/// # use netns_test::{netns_test, presets, Net};
/// use netns_test::reach::Probe;
///
/// #[netns_test(topology = presets::two_networks())]
/// async fn docker_networks(net: Net) {
///     net.assert_matrix(Probe::Icmp, "
///              con1 con2 con3
///         con1   -    y    n
///         con2   y    -    n
///         con3   n    n    -
///     ").await;
/// }
/// ```
///
/// or build it:
///
/// ```no_run
/// # use netns_test::{netns_test, presets, Net};
/// use netns_test::reach::{Matrix, Probe};
/// use std::time::Duration;
///
/// #[netns_test(topology = presets::two_networks())]
/// async fn docker_networks(net: Net) {
///     let expected = Matrix::groups(&[&["con1", "con2"], &["con3"]])
///         .expect("con3", "host", true)
///         .isolation_wait(Duration::from_millis(500));
///     net.assert_matrix(Probe::Icmp, expected).await;
/// }
/// ```
///
/// Every cell is probed concurrently: a cell expected to reach returns as soon as the
/// answer comes (or after [`Matrix::timeout`]), every other cell waits one shared
/// [`Matrix::isolation_wait`], so a whole matrix costs about one isolation wait. Each
/// column is probed at the node's first IPv4 address (first IPv6 address after
/// [`Matrix::ipv6`]). `n` holds when the probe is stopped on the way (silence, an
/// unreachable, a firewall rule on the way; the report says which); a refusal by the
/// target (`r` in the report: the path exists, nothing listens on the port) differs from
/// both `y` and `n`, and a probe that could not be sent (`!`: a column node without an
/// address of the family, a socket refused) differs from every expectation. Replaces
/// Mininet's `pingAll`, with the expectation stated.
#[derive(Clone, Debug)]
pub struct Matrix {
    pub(super) rows: Vec<String>,
    pub(super) cols: Vec<String>,
    pub(super) cells: Vec<Vec<Expect>>,
    pub(super) timeout: Duration,
    /// `None`: the default (`NETNS_TEST_ISOLATION_WAIT` or [`ISOLATION_WAIT`]).
    pub(super) isolation_wait: Option<Duration>,
    pub(super) v6: bool,
}

impl Matrix {
    fn square(names: &[&str], cell: impl Fn(usize, usize) -> Expect) -> Matrix {
        let n = names.len();
        Matrix {
            rows: names.iter().map(|s| s.to_string()).collect(),
            cols: names.iter().map(|s| s.to_string()).collect(),
            cells: (0..n)
                .map(|r| {
                    (0..n)
                        .map(|c| if r == c { Expect::Skip } else { cell(r, c) })
                        .collect()
                })
                .collect(),
            timeout: REACH_TIMEOUT,
            isolation_wait: None,
            v6: false,
        }
    }

    /// Every pair of `nodes` (not a node to itself), with no expectation yet (`?`): set
    /// them with [`Matrix::expect`] and [`Matrix::expect_all`].
    pub fn new(nodes: &[&str]) -> Matrix {
        Matrix::square(nodes, |_, _| Expect::Any)
    }

    /// Isolated groups: every node reaches every node of its own group and none of the
    /// others (Docker's user-defined networks).
    pub fn groups(groups: &[&[&str]]) -> Matrix {
        let names: Vec<&str> = groups.iter().flat_map(|g| g.iter().copied()).collect();
        let group: Vec<usize> = groups
            .iter()
            .enumerate()
            .flat_map(|(i, g)| std::iter::repeat_n(i, g.len()))
            .collect();
        Matrix::square(&names, |r, c| {
            if group[r] == group[c] {
                Expect::Reach
            } else {
                Expect::NoReach
            }
        })
    }

    /// Parses a table (see the type's documentation). [`Net::assert_matrix`] takes the
    /// text directly.
    pub fn parse(table: &str) -> Result<Matrix, MatrixError> {
        let bad = |line: usize, msg: String| {
            MatrixError::Invalid(format!("reachability matrix, line {line}: {msg}"))
        };
        let mut lines = table
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim()))
            .filter(|(_, l)| !l.is_empty());
        let Some((_, header)) = lines.next() else {
            return Err(MatrixError::Invalid(
                "reachability matrix: the table is empty; write a header line of column (target) node names, then one line per source node: its name and one cell (y, n, - or ?) per column".to_string(),
            ));
        };
        let cols: Vec<String> = header.split_whitespace().map(str::to_string).collect();
        check_unique(&cols, "column")?;
        let mut rows = Vec::new();
        let mut cells = Vec::new();
        for (no, line) in lines {
            let mut words = line.split_whitespace();
            let name = words.next().expect("non-empty line").to_string();
            let toks: Vec<&str> = words.collect();
            if toks.len() != cols.len() {
                return Err(bad(
                    no,
                    format!(
                        "row {name:?} has {} cells but the header names {} columns ({})",
                        toks.len(),
                        cols.len(),
                        cols.join(" ")
                    ),
                ));
            }
            let row = toks
                .iter()
                .enumerate()
                .map(|(c, t)| {
                    Expect::parse(t).ok_or_else(|| {
                        bad(
                            no,
                            format!(
                                "cell {name} -> {} is {t:?}: write y (reaches), n (does not), - (not probed) or ? (no expectation)",
                                cols[c]
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            rows.push(name);
            cells.push(row);
        }
        if rows.is_empty() {
            return Err(MatrixError::Invalid(
                "reachability matrix: a header but no rows: add one line per source node"
                    .to_string(),
            ));
        }
        check_unique(&rows, "row")?;
        Ok(Matrix {
            rows,
            cols,
            cells,
            timeout: REACH_TIMEOUT,
            isolation_wait: None,
            v6: false,
        })
    }

    /// Sets one cell: whether `from` reaches `to`.
    ///
    /// # Panics
    /// If `from` is not a row or `to` not a column of the matrix.
    pub fn expect(mut self, from: &str, to: &str, reaches: bool) -> Matrix {
        let r = self.rows.iter().position(|n| n == from);
        let c = self.cols.iter().position(|n| n == to);
        match (r, c) {
            (Some(r), Some(c)) => {
                self.cells[r][c] = if reaches {
                    Expect::Reach
                } else {
                    Expect::NoReach
                }
            }
            _ => panic!(
                "Matrix::expect({from:?}, {to:?}): the matrix has rows {} and columns {}",
                self.rows.join(", "),
                self.cols.join(", ")
            ),
        }
        self
    }

    /// Sets every cell between different nodes.
    pub fn expect_all(mut self, reaches: bool) -> Matrix {
        let want = if reaches {
            Expect::Reach
        } else {
            Expect::NoReach
        };
        for (r, row) in self.cells.iter_mut().enumerate() {
            for (c, cell) in row.iter_mut().enumerate() {
                if self.rows[r] != self.cols[c] {
                    *cell = want;
                }
            }
        }
        self
    }

    /// How long a cell expected to reach waits for its answer (default
    /// [`REACH_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Matrix {
        self.timeout = timeout;
        self
    }

    /// How long every other cell waits for an answer that should not come (default
    /// [`ISOLATION_WAIT`], or `NETNS_TEST_ISOLATION_WAIT` when set; a wait given here is
    /// used as given); the whole matrix costs about this much.
    pub fn isolation_wait(mut self, wait: Duration) -> Matrix {
        self.isolation_wait = Some(wait);
        self
    }

    /// Probes each column's first IPv6 address instead of its first IPv4 address.
    pub fn ipv6(mut self) -> Matrix {
        self.v6 = true;
        self
    }

    /// The cells to probe, as (row, column, wait): every cell but the `-` ones; a cell
    /// expected to reach waits [`Matrix::timeout`], every other one `isolation_wait`.
    pub(super) fn probes(&self, isolation_wait: Duration) -> Vec<(usize, usize, Duration)> {
        let mut out = Vec::new();
        for (r, row) in self.cells.iter().enumerate() {
            for (c, &cell) in row.iter().enumerate() {
                match cell {
                    Expect::Skip => {}
                    Expect::Reach => out.push((r, c, self.timeout)),
                    Expect::NoReach | Expect::Any => out.push((r, c, isolation_wait)),
                }
            }
        }
        out
    }
}

fn check_unique(names: &[String], what: &str) -> Result<(), MatrixError> {
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(MatrixError::Invalid(format!(
                "reachability matrix: {what} {n:?} appears twice"
            )));
        }
    }
    Ok(())
}

impl FromStr for Matrix {
    type Err = MatrixError;

    fn from_str(s: &str) -> Result<Matrix, MatrixError> {
        Matrix::parse(s)
    }
}

/// Anything [`Net::check_matrix`] takes as the expectation: a table as text, or a
/// [`Matrix`].
pub trait IntoMatrix {
    /// The matrix, or why the text is not one.
    fn into_matrix(self) -> Result<Matrix, MatrixError>;
}

impl IntoMatrix for Matrix {
    fn into_matrix(self) -> Result<Matrix, MatrixError> {
        Ok(self)
    }
}
impl IntoMatrix for &Matrix {
    fn into_matrix(self) -> Result<Matrix, MatrixError> {
        Ok(self.clone())
    }
}
impl IntoMatrix for &str {
    fn into_matrix(self) -> Result<Matrix, MatrixError> {
        Matrix::parse(self)
    }
}
impl IntoMatrix for String {
    fn into_matrix(self) -> Result<Matrix, MatrixError> {
        Matrix::parse(&self)
    }
}
impl IntoMatrix for &String {
    fn into_matrix(self) -> Result<Matrix, MatrixError> {
        Matrix::parse(self)
    }
}

/// Why a matrix check failed.
#[derive(Clone, Debug)]
pub enum MatrixError {
    /// The table or the matrix does not fit the network (a typo, an unknown node).
    Invalid(String),
    /// Some cells differ from the expectation: the report renders expected and actual
    /// side by side with the differing cells marked, then explains each of them.
    Mismatch(Box<MatrixReport>),
}

/// What a matrix check found: every probed cell's result, and how long it took. Its
/// `Display` is the side-by-side rendering of expected and actual.
#[derive(Clone, Debug)]
pub struct MatrixReport {
    pub(super) probe: Probe,
    pub(super) rows: Vec<String>,
    pub(super) cols: Vec<String>,
    pub(super) expected: Vec<Vec<Expect>>,
    /// `None` for a cell not probed.
    pub(super) results: Vec<Vec<Option<ProbeResult>>>,
    /// The path from the source of each differing cell.
    pub(super) paths: Vec<((usize, usize), PathReport)>,
    pub(super) elapsed: Duration,
    pub(super) timeout: Duration,
    pub(super) isolation_wait: Duration,
    pub(super) wait_from: WaitFrom,
}

impl MatrixReport {
    fn cell(&self, from: &str, to: &str) -> Option<&ProbeResult> {
        let r = self.rows.iter().position(|n| n == from)?;
        let c = self.cols.iter().position(|n| n == to)?;
        self.results[r][c].as_ref()
    }

    /// Whether `from` reached `to` ([`Outcome::is_reached`]; a refusal is `false`); `None` if
    /// the cell was not probed. [`MatrixReport::result`] has the whole outcome.
    pub fn reached(&self, from: &str, to: &str) -> Option<bool> {
        self.cell(from, to).map(|r| r.outcome.is_reached())
    }

    /// The probe result of one cell.
    pub fn result(&self, from: &str, to: &str) -> Option<&ProbeResult> {
        self.cell(from, to)
    }

    /// The cells that differ from the expectation.
    pub fn mismatches(&self) -> impl Iterator<Item = &ProbeResult> + '_ {
        self.wrong_cells()
            .into_iter()
            .filter_map(|(r, c)| self.results[r][c].as_ref())
    }

    /// How long probing the whole matrix took (all cells concurrently).
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// How many cells were probed.
    pub fn probed(&self) -> usize {
        self.results.iter().flatten().flatten().count()
    }

    /// The cells that differ from the expectation.
    pub(super) fn wrong_cells(&self) -> Vec<(usize, usize)> {
        differences(&self.expected, &self.results)
    }
}

/// The cells whose result contradicts the expectation, row by row: the diff of a matrix
/// check. `results[r][c]` is `None` for a cell not probed.
pub(super) fn differences(
    expected: &[Vec<Expect>],
    results: &[Vec<Option<ProbeResult>>],
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (r, row) in results.iter().enumerate() {
        for (c, res) in row.iter().enumerate() {
            if let Some(res) = res {
                if !expected[r][c].holds(&res.outcome) {
                    out.push((r, c));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_parse() {
        let m = Matrix::parse(
            "
                  con1 con2 con3   # targets
            con1   -    y    n
            con2   1    .    0
            con3   no   yes  ?
            ",
        )
        .unwrap();
        assert_eq!(m.rows, ["con1", "con2", "con3"]);
        assert_eq!(m.cols, ["con1", "con2", "con3"]);
        use Expect::*;
        assert_eq!(
            m.cells,
            vec![
                vec![Skip, Reach, NoReach],
                vec![Reach, Skip, NoReach],
                vec![NoReach, Reach, Any]
            ]
        );
    }

    #[test]
    fn bad_tables_say_where() {
        let e = Matrix::parse("a b\na - y\nb y").unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("1 cells") && e.contains("2 columns"),
            "{e}"
        );
        let e = Matrix::parse("a b\na - maybe").unwrap_err().to_string();
        assert!(e.contains("a -> b") && e.contains("\"maybe\""), "{e}");
        let e = Matrix::parse("a a\na - -").unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
        assert!(Matrix::parse("  \n").is_err());
    }

    #[test]
    fn groups_and_builder() {
        let m = Matrix::groups(&[&["a", "b"], &["c"]]).expect("c", "a", true);
        use Expect::*;
        assert_eq!(
            m.cells,
            vec![
                vec![Skip, Reach, NoReach],
                vec![Reach, Skip, NoReach],
                vec![Reach, NoReach, Skip]
            ]
        );
        let m = Matrix::new(&["a", "b"]).expect_all(false);
        assert_eq!(m.cells, vec![vec![Skip, NoReach], vec![NoReach, Skip]]);
    }

    /// The diff: which outcomes satisfy which expectation.
    #[test]
    fn cells_hold_by_outcome() {
        use Outcome::*;
        let outcomes = [
            Reached,
            Timeout,
            Refused,
            NetUnreachable,
            HostUnreachable,
            Prohibited,
            Failed("no address".into()),
        ];
        let holds = |e: Expect| -> Vec<bool> { outcomes.iter().map(|o| e.holds(o)).collect() };
        // y: reached only.
        assert_eq!(
            holds(Expect::Reach),
            [true, false, false, false, false, false, false]
        );
        // n: stopped before the target; a refusal and a probe not sent are not isolation.
        assert_eq!(
            holds(Expect::NoReach),
            [false, true, false, true, true, true, false]
        );
        // ?: anything that was probed.
        assert_eq!(
            holds(Expect::Any),
            [true, true, true, true, true, true, false]
        );
    }

    #[test]
    fn differences_are_the_cells_that_do_not_hold() {
        use crate::reach::outcome::tests::result;
        use crate::reach::Probe;
        let m = Matrix::parse(
            "
               a b c
            a  - y n
            b  n - ?
            c  y y -
            ",
        )
        .unwrap();
        let r = |o: Outcome| Some(result(Probe::Icmp, o, None));
        let results = vec![
            vec![None, r(Outcome::Reached), r(Outcome::Refused)],
            vec![r(Outcome::Timeout), None, r(Outcome::Failed("x".into()))],
            vec![r(Outcome::Timeout), r(Outcome::Reached), None],
        ];
        // a -> c refused (not isolation), b -> c not sent (differs even from `?`),
        // c -> a timed out (expected to reach).
        assert_eq!(differences(&m.cells, &results), [(0, 2), (1, 2), (2, 0)]);
        // Cells not probed never differ.
        let none = vec![vec![None; 3]; 3];
        assert!(differences(&m.cells, &none).is_empty());
    }

    #[test]
    fn cells_wait_by_expectation() {
        let m = Matrix::parse(
            "a b c
a - y n
b ? - -
c . y -",
        )
        .unwrap()
        .timeout(Duration::from_millis(700));
        let iso = Duration::from_millis(400);
        assert_eq!(
            m.probes(iso),
            [
                (0, 1, Duration::from_millis(700)),
                (0, 2, iso),
                (1, 0, iso),
                (2, 1, Duration::from_millis(700)),
            ]
        );
        // The default reach timeout, and the wait given to the matrix is kept as given.
        let m = Matrix::new(&["a", "b"]).expect_all(true);
        assert_eq!(
            m.probes(iso),
            [(0, 1, REACH_TIMEOUT), (1, 0, REACH_TIMEOUT)]
        );
        let m = m.isolation_wait(Duration::from_secs(1)).ipv6();
        assert_eq!(
            (m.isolation_wait, m.v6),
            (Some(Duration::from_secs(1)), true)
        );
    }
}
