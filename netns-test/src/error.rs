//! The one error type of the runtime.

use std::fmt;

/// Everything that can go wrong while building or using a sandboxed network.
///
/// Every message names the node, link or address involved and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The topology is inconsistent; nothing was created.
    #[error("invalid topology:\n{}", Problems(.0))]
    InvalidTopology(Vec<String>),

    /// The environment cannot create the namespaces a test needs.
    #[error("{0}")]
    Environment(String),

    /// A netlink request failed while building or changing the network.
    #[error("{what}: {source}")]
    Netlink {
        /// What was being done, naming the node and interface.
        what: String,
        /// The kernel's answer.
        source: rtnetlink::Error,
    },

    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The errno.
        source: std::io::Error,
    },

    /// nf_tables or conntrack refused a request, or a ruleset is invalid; `what` names the
    /// table, chain or rule.
    #[error("{what}: {source}{detail}")]
    Nft {
        /// What was being done, naming the table, chain or rule.
        what: String,
        /// The kernel's errno (`InvalidInput` for a ruleset refused before sending).
        source: std::io::Error,
        /// Further lines (other refused messages of the same batch, a hint), each starting
        /// with a newline; often empty.
        detail: String,
    },

    /// A program run inside a node failed; the message has its status and stderr.
    #[error("{0}")]
    Command(String),

    /// A node, interface or address that the topology does not have.
    #[error("{0}")]
    NotFound(String),

    /// A link did not come up in time.
    #[error("{0}")]
    Timeout(String),

    /// A fault or link condition cannot be honoured (see [`crate::fault`]); the message
    /// says why and what to do.
    #[error("{0}")]
    Condition(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn sys(what: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        Error::Sys {
            what: what.into(),
            source: source.into(),
        }
    }

    pub(crate) fn netlink(what: impl Into<String>, source: rtnetlink::Error) -> Self {
        Error::Netlink {
            what: what.into(),
            source,
        }
    }
}

struct Problems<'a>(&'a [String]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {p}")?;
        }
        Ok(())
    }
}
