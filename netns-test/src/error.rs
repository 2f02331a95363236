//! The one error type of the runtime.

use std::fmt;

/// Everything that can go wrong while building or using a sandboxed network.
///
/// Every message names the node, link or address involved and, where there is one, the fix.
/// Variants carry the objects involved as fields; new variants may come in minor
/// releases, so a `match` on it needs a `_` arm:
///
/// ```
/// # #[allow(dead_code)]
/// fn what_to_fix(e: &netns_test::Error) -> Vec<String> {
///     match e {
///         netns_test::Error::InvalidTopology { problems } => {
///             problems.iter().map(|p| p.subject.clone()).collect()
///         }
///         netns_test::Error::UnknownNode { name, .. } => vec![format!("node {name:?}")],
///         _ => Vec::new(),
///     }
/// }
/// ```
///
/// Without it, even a match naming every variant there is today does not compile:
///
/// ```compile_fail,E0004
/// # #[allow(dead_code)]
/// fn kind(e: &netns_test::Error) -> &'static str {
///     use netns_test::Error::*;
///     match e {
///         InvalidTopology { .. } | TopologyFile { .. } | Environment { .. } | NoBrNetfilter { .. } => "setup",
///         Netlink { .. } | Sys { .. } | Nft { .. } | Command { .. } => "kernel",
///         UnknownNode { .. } | UnknownInterface { .. } | NoAddress { .. } => "lookup",
///         NoRelay { .. } | NetworkGone { .. } | Parse { .. } | Condition { .. } => "usage",
///         Unsupported { .. } | Limit { .. } | ThreadsRunning { .. } | LinksNotUp { .. } => "machine",
///         Reach(_) | Matrix(_) => "claim",
///     }
/// }
/// ```
/// Its `Debug` text is its message, as `anyhow::Error`'s is, so a test body that returns
/// `netns_test::Result` and fails shows what went wrong; `{:#?}` shows the variant and
/// its fields.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The topology is inconsistent; nothing was created. Every problem found is listed.
    #[error("invalid topology:\n{}", Problems(problems))]
    InvalidTopology {
        /// The problems, in the order the planner found them.
        problems: Vec<Problem>,
    },

    /// A topology file ([`crate::Topology::from_file`]) is not valid TOML or not a
    /// topology: the message names the file, the line and column, what is wrong and, where
    /// there is one, the fix (for an unknown key, the keys that are known there).
    #[error("{}:{line}:{column}: {message}", .path.display())]
    TopologyFile {
        /// The file, as given.
        path: std::path::PathBuf,
        /// The line, from 1.
        line: usize,
        /// The column, from 1, in characters.
        column: usize,
        /// What is wrong, and the fix.
        message: String,
    },

    /// The environment cannot run what was asked; the message names the cause and the
    /// remedy. (The common cases have variants of their own: [`Error::Unsupported`],
    /// [`Error::Limit`], [`Error::NoBrNetfilter`], [`Error::ThreadsRunning`].)
    #[error("{message}")]
    Environment {
        /// The cause and the remedy.
        message: String,
    },

    /// Bridges of a node ask for bridge netfilter, and the kernel has no `br_netfilter`.
    #[error(
        "node {node:?}: {} for bridge netfilter (bridge_netfilter(true)), but this kernel has no \
         /proc/sys/net/bridge: the br_netfilter module is not loaded. Load it with `sudo \
         modprobe br_netfilter` (its switches are per namespace from Linux 5.3 on), or drop \
         bridge_netfilter(true) from the topology",
        bridges_ask(bridges)
    )]
    NoBrNetfilter {
        /// The node holding the bridges.
        node: String,
        /// The bridges that ask for it.
        bridges: Vec<String>,
    },

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

    /// A program run inside a node exited with a failure ([`crate::Node::output`]).
    #[error("node {node:?}: `{command}` failed ({status}): {stderr}")]
    Command {
        /// The node it ran in.
        node: String,
        /// The command line as shown (program and arguments, space-separated).
        command: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// Its standard error, trailing whitespace removed.
        stderr: String,
    },

    /// A node the topology does not have.
    #[error("the topology has no node {name:?}; its nodes are: {}", .known.join(", "))]
    UnknownNode {
        /// The name asked for.
        name: String,
        /// The nodes there are, the host first.
        known: Vec<String>,
    },

    /// An interface a node does not have.
    #[error("{}", unknown_interface(node, name, known, *conditions))]
    UnknownInterface {
        /// The node asked.
        node: String,
        /// The interface asked for.
        name: String,
        /// The interfaces it has, `lo` left out.
        known: Vec<String>,
        /// Whether it was asked for to set link conditions on (see [`crate::fault`]);
        /// the message says so.
        conditions: bool,
    },

    /// A node has no IPv4 address (on a network, when one was named).
    #[error("{}", no_address(node, network.as_deref()))]
    NoAddress {
        /// The node.
        node: String,
        /// The network asked for, `None` for any.
        network: Option<String>,
    },

    /// The link of an interface has no relay: it was not declared impairable.
    #[error("node {node:?}: the link of {iface} has no relay: it was not declared impairable")]
    NoRelay {
        /// The node.
        node: String,
        /// Its interface.
        iface: String,
    },

    /// A node outlived its network, and what was asked needs the network.
    #[error("node {node:?}: {needed_for}, which is gone")]
    NetworkGone {
        /// The node.
        node: String,
        /// What needs the network, e.g. "link conditions need the test's network".
        needed_for: &'static str,
    },

    /// DNS records that cannot be set or removed at run time (see [`crate::Net::dns`]).
    #[error("DNS name {name:?}{}: {problem}", network.as_ref().map(|n| format!(" on network {n:?}")).unwrap_or_default())]
    Dns {
        /// The name, as given.
        name: String,
        /// The network whose records were changed; `None` for the whole network's.
        network: Option<String>,
        /// What is wrong, and the fix.
        problem: String,
    },

    /// A text argument (an address, a CIDR, a route destination) does not parse.
    #[error("{input:?} is {expected}")]
    Parse {
        /// What it should be, e.g. "route destination".
        what: &'static str,
        /// The text given.
        input: String,
        /// What is expected, as the message says it after "is", e.g. `neither "default",
        /// an address nor a CIDR`.
        expected: &'static str,
    },

    /// The sandbox cannot be created here: a namespace step failed. The message names each
    /// likely cause and its remedy (see [`crate::environment::probe`]).
    #[error("netns-test cannot run tests here: {step} failed: {source}.\n  cause: {}", .causes.join("\n  cause: "))]
    Unsupported {
        /// The step that failed.
        step: String,
        /// Its errno.
        source: std::io::Error,
        /// The causes found on this machine, each with its remedy.
        causes: Vec<String>,
    },

    /// A limit of the machine or the process (`RLIMIT_NOFILE`, `user.max_net_namespaces`)
    /// is too low for the topology.
    #[error("{message} {remedy}")]
    Limit {
        /// The limit, e.g. "RLIMIT_NOFILE" or "user.max_net_namespaces".
        limit: &'static str,
        /// Its value, `None` when unreadable or unlimited.
        current: Option<u64>,
        /// What the topology needs.
        needed: u64,
        /// The node whose namespace could not be created, if any.
        node: Option<String>,
        /// The message up to the remedy: what was needed, what the limit is.
        message: String,
        /// The remedy, a sentence starting "Remedy:".
        remedy: String,
    },

    /// [`crate::Lab::enter`] was called when the process already runs threads.
    #[error(
        "Lab::enter must run before the process starts any thread, and this one runs \
         {threads}: call it first thing in main (before a tokio runtime, a logger or a \
         test harness starts threads). Inside a #[netns_test] test, use its Net."
    )]
    ThreadsRunning {
        /// How many threads the process runs.
        threads: u64,
    },

    /// Links did not come up in time while building the network.
    #[error("links still not operationally up after {after:?}: {}", .links.join(", "))]
    LinksNotUp {
        /// How long the build waited.
        after: std::time::Duration,
        /// The links still down, `node:interface`, sorted.
        links: Vec<String>,
    },

    /// A fault or link condition cannot be honoured (see [`crate::fault`]); the message
    /// says why and what to do.
    #[error("{message}")]
    Condition {
        /// The node whose link or rules were involved, if one was.
        node: Option<String>,
        /// The whole message, naming the node and the link.
        message: String,
    },

    /// A run-time change of a node's interfaces ([`crate::Node::replug`],
    /// [`crate::Node::add_iface`], [`crate::Node::remove_iface`]) that cannot be made; the
    /// message says why and what to do.
    #[error("node {node:?}: {iface}: {message}")]
    IfaceChange {
        /// The node.
        node: String,
        /// Its interface.
        iface: String,
        /// Why, and what to do.
        message: String,
    },

    /// A reachability claim did not hold: a [`crate::reach::ReachError`] (`?` converts
    /// it; [`Error::as_reach`] gives it back). Boxed so that this lowest layer names
    /// nothing of the layers above it.
    #[error(transparent)]
    Reach(Box<dyn std::error::Error + Send + Sync + 'static>),

    /// A reachability matrix is invalid or did not match: a
    /// [`crate::reach::MatrixError`], converted the same way and given back by
    /// [`Error::as_matrix`].
    #[error(transparent)]
    Matrix(Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// One problem of an invalid topology ([`Error::InvalidTopology`]). Made by the planner
/// only:
///
/// ```compile_fail,E0639
/// let _ = netns_test::Problem { subject: String::new(), message: String::new() };
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The object the problem is about, as the message names it: `node "a"`, `bridge
    /// "docker0"`, `link a--b`, `node "a" on "lan"`, ...
    pub subject: String,
    /// The whole sentence, starting with the subject, and the fix where there is one.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            subject: subject.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Debug for Error {
    /// The message (`{:?}`), or the variant with its fields (`{:#?}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return fmt::Display::fmt(self, f);
        }
        macro_rules! variant {
            ($name:literal $(, $field:ident)*) => {
                f.debug_struct($name)$(.field(stringify!($field), $field))*.finish()
            };
        }
        match self {
            Error::InvalidTopology { problems } => variant!("InvalidTopology", problems),
            Error::TopologyFile {
                path,
                line,
                column,
                message,
            } => variant!("TopologyFile", path, line, column, message),
            Error::Environment { message } => variant!("Environment", message),
            Error::NoBrNetfilter { node, bridges } => variant!("NoBrNetfilter", node, bridges),
            Error::Netlink { what, source } => variant!("Netlink", what, source),
            Error::Sys { what, source } => variant!("Sys", what, source),
            Error::Nft {
                what,
                source,
                detail,
            } => variant!("Nft", what, source, detail),
            Error::Command {
                node,
                command,
                status,
                stderr,
            } => variant!("Command", node, command, status, stderr),
            Error::UnknownNode { name, known } => variant!("UnknownNode", name, known),
            Error::UnknownInterface {
                node,
                name,
                known,
                conditions,
            } => variant!("UnknownInterface", node, name, known, conditions),
            Error::NoAddress { node, network } => variant!("NoAddress", node, network),
            Error::NoRelay { node, iface } => variant!("NoRelay", node, iface),
            Error::NetworkGone { node, needed_for } => variant!("NetworkGone", node, needed_for),
            Error::Dns {
                name,
                network,
                problem,
            } => variant!("Dns", name, network, problem),
            Error::Parse {
                what,
                input,
                expected,
            } => variant!("Parse", what, input, expected),
            Error::Unsupported {
                step,
                source,
                causes,
            } => variant!("Unsupported", step, source, causes),
            Error::Limit {
                limit,
                current,
                needed,
                node,
                message,
                remedy,
            } => variant!("Limit", limit, current, needed, node, message, remedy),
            Error::ThreadsRunning { threads } => variant!("ThreadsRunning", threads),
            Error::LinksNotUp { after, links } => variant!("LinksNotUp", after, links),
            Error::Condition { node, message } => variant!("Condition", node, message),
            Error::IfaceChange {
                node,
                iface,
                message,
            } => variant!("IfaceChange", node, iface, message),
            Error::Reach(e) => f.debug_tuple("Reach").field(e).finish(),
            Error::Matrix(e) => f.debug_tuple("Matrix").field(e).finish(),
        }
    }
}

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

fn bridges_ask(bridges: &[String]) -> String {
    let names: Vec<String> = bridges.iter().map(|b| format!("{b:?}")).collect();
    match names.len() {
        1 => format!("bridge {} asks", names[0]),
        _ => format!("bridges {} ask", names.join(", ")),
    }
}

fn no_address(node: &str, network: Option<&str>) -> String {
    match network {
        Some(network) => format!("node {node:?} has no IPv4 address on {network:?}"),
        None => format!("node {node:?} has no IPv4 address: attach it to a network"),
    }
}

fn unknown_interface(node: &str, name: &str, known: &[String], conditions: bool) -> String {
    if conditions {
        format!(
            "node {node:?} has no interface {name:?} to set conditions on; it has: {}",
            if known.is_empty() {
                "none but lo".to_string()
            } else {
                known.join(", ")
            }
        )
    } else {
        format!(
            "node {node:?} has no interface {name:?}; it has: lo, {}",
            known.join(", ")
        )
    }
}

struct Problems<'a>(&'a [Problem]);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_name_what_there_is() {
        let e = Error::UnknownNode {
            name: "c".into(),
            known: vec!["host".into(), "a".into()],
        };
        assert_eq!(
            e.to_string(),
            "the topology has no node \"c\"; its nodes are: host, a"
        );
        let known = vec!["eth0".to_string(), "eth1".to_string()];
        let e = |known: &[String], conditions| Error::UnknownInterface {
            node: "a".into(),
            name: "eth9".into(),
            known: known.to_vec(),
            conditions,
        };
        assert_eq!(
            e(&known, false).to_string(),
            "node \"a\" has no interface \"eth9\"; it has: lo, eth0, eth1"
        );
        assert_eq!(
            e(&known, true).to_string(),
            "node \"a\" has no interface \"eth9\" to set conditions on; it has: eth0, eth1"
        );
        assert_eq!(
            e(&[], true).to_string(),
            "node \"a\" has no interface \"eth9\" to set conditions on; it has: none but lo"
        );
        let e = |network: Option<&str>| Error::NoAddress {
            node: "a".into(),
            network: network.map(String::from),
        };
        assert_eq!(
            e(Some("lan")).to_string(),
            "node \"a\" has no IPv4 address on \"lan\""
        );
        assert_eq!(
            e(None).to_string(),
            "node \"a\" has no IPv4 address: attach it to a network"
        );
    }

    #[test]
    fn a_failed_command_names_node_command_status_and_stderr() {
        use std::os::unix::process::ExitStatusExt;
        let e = Error::Command {
            node: "a".into(),
            command: "ip route".into(),
            status: std::process::ExitStatus::from_raw(2 << 8),
            stderr: "Error: nope".into(),
        };
        assert_eq!(
            e.to_string(),
            "node \"a\": `ip route` failed (exit status: 2): Error: nope"
        );
    }

    /// A body returning `netns_test::Result` is judged by its error's `Debug` text: the
    /// message, not `Matrix(Mismatch(MatrixReport { .. }))`.
    #[test]
    fn debug_is_the_message_and_alternate_debug_the_variant() {
        #[derive(Debug)]
        struct MatrixReport {
            rows: usize,
        }
        impl fmt::Display for MatrixReport {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a -> b: expected reachable, got unreachable ({} rows)",
                    self.rows
                )
            }
        }
        impl std::error::Error for MatrixReport {}
        let e = Error::Matrix(Box::new(MatrixReport { rows: 2 }));
        let message = "a -> b: expected reachable, got unreachable (2 rows)";
        assert_eq!(format!("{e:?}"), message);
        let judged = crate::sandbox::verdict::test_result(Err::<(), _>(e));
        assert_eq!(
            format!("{judged:?}"),
            format!("BodyResult(Err({message:?}))")
        );
        let e = Error::UnknownNode {
            name: "c".into(),
            known: vec!["a".into()],
        };
        assert_eq!(format!("{e:?}"), e.to_string());
        assert_eq!(
            format!("{e:#?}"),
            "UnknownNode {\n    name: \"c\",\n    known: [\n        \"a\",\n    ],\n}"
        );
        let e = Error::Matrix(Box::new(MatrixReport { rows: 2 }));
        assert!(
            format!("{e:#?}").starts_with("Matrix(\n    MatrixReport {"),
            "{e:#?}"
        );
    }
}
