//! What the features record about a network for its diagnostics (`report.html`): the last
//! reachability matrix that did not hold, and the link conditions set on each interface.
//! Plain values, so that the diagnostics need not know the features' own types.

use std::time::Duration;

/// A reachability matrix check that did not hold (`reach::Matrix::check`), cell by cell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MatrixDiff {
    /// The first line of the check's message (`reachability by ...: N of M probed cells
    /// differ, marked *`).
    pub title: String,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    /// `cells[row][col]`: the expected mark, the observed mark (`-` if not probed), and
    /// what happened where the two differ.
    pub cells: Vec<Vec<DiffCell>>,
}

/// One cell of a [`MatrixDiff`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DiffCell {
    pub expected: &'static str,
    pub observed: &'static str,
    /// What happened, where the observation contradicts the expectation.
    pub differs: Option<String>,
}

/// The conditions of the frames one interface sends (`fault::ConditionsHandle::set`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinkConditions {
    pub node: String,
    pub iface: String,
    pub delay: Duration,
    pub jitter: Duration,
    pub loss: f64,
    /// Bits per second.
    pub rate: Option<u64>,
    /// What makes them: `netem`, `tbf`, the link's relay.
    pub via: String,
}
