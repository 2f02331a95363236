//! Applying rulesets to, and listing them from, the calling thread's network namespace.

use super::*;

/// Installs `rules` in the calling thread's network namespace, replacing the previous
/// content of its table (`nft -f` with `delete table inet netns_test; table inet netns_test
/// { ... }`) in one atomic transaction.
///
/// From the test body, [`Node::nft`](crate::Node::nft) (`node.nft().apply(&rules).await`) does
/// the same in a node. Errors name the table, chain or rule the kernel refused and why.
///
/// It blocks until the kernel has committed the transaction: ~0.2 ms for a NAT table, chain
/// and rule. The kernel frees the replaced objects an RCU grace period later (~10-20 ms on
/// a small VM), in the background; another `apply` in the same namespace within that
/// window waits for it.
pub fn apply(rules: &Ruleset) -> Result<()> {
    apply_all(&[rules])
}

/// [`apply`] for several tables at once, in one batch (one round trip, one socket).
pub(crate) fn apply_all(rulesets: &[&Ruleset]) -> Result<()> {
    apply_all_kept(rulesets).map(drop)
}

/// The socket an [`apply_all_kept`] went through, open while this lives.
///
/// Closing a netfilter socket right after a commit waits for the kernel to release the
/// transaction, and meanwhile holds up other work in the namespace (a bridge created next
/// took ~20 ms instead of ~0.5 ms). The sandbox keeps each node's socket until the
/// network is dropped; it is then closed in the background.
pub(crate) struct Kept(#[allow(dead_code)] sock::Nfnl);

/// [`apply_all`], keeping the socket open (see [`Kept`]).
pub(crate) fn apply_all_kept(rulesets: &[&Ruleset]) -> Result<Kept> {
    for rules in rulesets {
        rules.validate()?;
    }
    let batch: Vec<_> = rulesets
        .iter()
        .flat_map(|r| expr::ruleset_batch(r))
        .collect();
    let tables: Vec<&str> = rulesets.iter().map(|r| r.table.as_str()).collect();
    let mut sock = sock::Nfnl::open().map_err(|e| sock::apply_error(&tables.join(", "), e))?;
    sock.batch(&batch)
        .map_err(|e| sock::apply_error(&tables.join(", "), e))?;
    Ok(Kept(sock))
}

/// Applies each ruleset in a transaction of its own, over one socket kept open (see
/// [`Kept`]); on failure, the index of the ruleset that failed (0 if no socket could be
/// opened) and why. Rulesets before it stay applied.
pub(crate) fn apply_each_kept(rulesets: &[&Ruleset]) -> std::result::Result<Kept, (usize, Error)> {
    for (i, rules) in rulesets.iter().enumerate() {
        rules.validate().map_err(|e| (i, e))?;
    }
    let first = rulesets.first().map_or(TABLE, |r| r.table.as_str());
    let mut sock = sock::Nfnl::open().map_err(|e| (0, sock::apply_error(first, e)))?;
    for (i, rules) in rulesets.iter().enumerate() {
        sock.batch(&expr::ruleset_batch(rules))
            .map_err(|e| (i, sock::apply_error(&rules.table, e)))?;
    }
    Ok(Kept(sock))
}

/// Deletes the table `inet netns_test` and with it every rule [`apply`] installed, in the
/// calling thread's network namespace (`nft delete table inet netns_test`). Not an error if
/// there is none. Connections already NATed keep their mapping (see [`conntrack::flush`]).
pub fn flush() -> Result<()> {
    delete_table(TABLE)
}

/// Deletes the table `inet NAME` of the calling thread's network namespace if it exists
/// (`nft destroy table inet NAME`).
pub fn delete_table(name: &str) -> Result<()> {
    let batch = expr::delete_table_batch(name);
    sock::Nfnl::open()
        .and_then(|mut s| s.batch(&batch))
        .map_err(|e| sock::apply_error(name, e))
}

/// Every nf_tables table, chain and rule of the calling thread's network namespace, as
/// `nft list ruleset`-like text, each rule followed by `# handle N, packets P bytes B`.
///
/// Rules are decoded from the expressions the kernel holds, so what is printed is what the
/// kernel runs: a rule this crate makes (in any table) reads as its nft text, e.g.
/// `ip saddr 172.18.0.0/16 oifname != "docker0" counter masquerade`; a rule made by other
/// tools (`nft`, `iptables-nft`) is shown as its raw expressions, `[ payload load 4b @
/// network header + 12 => reg 1 ] ...`, after the mark `# not a rule netns-test makes, raw
/// expressions:`, with its comment if it has one.
pub fn list() -> Result<String> {
    let dump = sock::Nfnl::open()
        .and_then(|mut s| s.dump_ruleset())
        .map_err(|f| f.into_error("nf_tables (listing the ruleset)"))?;
    Ok(render::ruleset(&dump))
}
