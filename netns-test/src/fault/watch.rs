//! [`NeverReaches`]: a negative claim that holds for the whole test body, not one instant.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::net::{Net, Node};
use crate::reach::{Outcome, Probe};

/// How long each probe of a [`NeverReaches`] waits for an answer (re-sending while it
/// waits): a window of reachability this long is caught.
pub const WATCH_PERIOD: Duration = Duration::from_millis(100);

/// A watch that `from` never reaches `to`, probing every address of `to` in a loop in the
/// background from [`Net::never_reaches`] until [`finish`](NeverReaches::finish) or drop.
///
/// Its verdict: [`finish`](NeverReaches::finish) returns an error naming each time a
/// probe got through (an answer, or a refusal by `to` itself: either way the path was
/// open); dropped unfinished at the end of the body, it panics with that message, which
/// fails the test. A watch that never completed a round of probes fails too: it proved
/// nothing.
#[must_use = "the watch reports when finished or dropped: keep it in a variable for as long as the claim holds"]
#[derive(Debug)]
pub struct NeverReaches {
    what: String,
    addrs: Vec<IpAddr>,
    state: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    rounds: AtomicU64,
    reached: Mutex<Vec<String>>,
}

/// What a finished [`NeverReaches`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    /// Complete rounds of probes (one per watched address each).
    pub rounds: u64,
    /// The addresses of `to` that were probed.
    pub addrs: Vec<IpAddr>,
}

impl Net {
    /// Watches, in the background, that node `from` never reaches `to` by `probe`, from
    /// now until the returned guard is finished or dropped: what `while ! ping -c1 -W0.1
    /// B; do :; done` in a background shell would notice, as a verdict. `to` is a node,
    /// watched at every address it has, IPv4 and IPv6; or one address (`"10.0.0.3"`,
    /// `"fd00::3"`), to watch only that one.
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Probe;
    ///
    /// #[netns_test(topology = presets::docker_bridge(3))]
    /// async fn never_directly(net: Net) -> netns_test::Result<()> {
    ///     let cut = net.partition(&[&["con1"], &["con3"]])?;
    ///     let watch = net.never_reaches("con1", "con3", Probe::Icmp)?;
    ///     // ... the body: a relay-only exchange, restarts, reconnections ...
    ///     watch.finish().await?; // or dropped at the end of the body: a panic if it failed
    ///     drop(cut);
    ///     Ok(())
    /// }
    /// ```
    ///
    /// Fails at once when a node is unknown or `to` has no address.
    pub fn never_reaches(&self, from: &str, to: &str, probe: Probe) -> Result<NeverReaches> {
        let src = self.try_node(from)?;
        let addrs: Vec<IpAddr> = match to.parse::<IpAddr>() {
            Ok(addr) => vec![addr],
            Err(_) => self.try_node(to)?.addrs().map(|a| a.addr()).collect(),
        };
        if addrs.is_empty() {
            return Err(Error::NoAddress {
                node: to.to_string(),
                network: None,
            });
        }
        let what = format!("{from} never reaches {to} by {probe}");
        let state = Arc::new(Shared::default());
        let task = self.handle().spawn(watch(
            src,
            to.to_string(),
            addrs.clone(),
            probe,
            state.clone(),
        ));
        Ok(NeverReaches {
            what,
            addrs,
            state,
            task: Some(task),
        })
    }
}

/// The background loop: probes every watched address, round after round, until stopped.
async fn watch(from: Node, to: String, addrs: Vec<IpAddr>, probe: Probe, state: Arc<Shared>) {
    let start = Instant::now();
    while !state.stop.load(Relaxed) {
        for &addr in &addrs {
            let r = from.reach(addr, probe).within(WATCH_PERIOD).result().await;
            if r.outcome.is_reached() || r.outcome.is_refused() {
                let how = if r.outcome == Outcome::Reached {
                    "reached"
                } else {
                    "was refused by (so got through to)"
                };
                state
                    .reached
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!(
                        "{} {how} {to} ({addr}) by {probe} {:?} into the watch",
                        from.name(),
                        start.elapsed()
                    ));
            }
            if state.stop.load(Relaxed) {
                return;
            }
        }
        state.rounds.fetch_add(1, Relaxed);
    }
}

impl NeverReaches {
    /// Stops the watch and gives its verdict: what it probed, or an [`Error::Condition`]
    /// naming every time `from` got through to `to` (or that no round of probes was
    /// completed).
    pub async fn finish(mut self) -> Result<Watched> {
        self.state.stop.store(true, Relaxed);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.verdict()
    }

    fn verdict(&self) -> Result<Watched> {
        let reached = self
            .state
            .reached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let rounds = self.state.rounds.load(Relaxed);
        if !reached.is_empty() {
            return Err(Error::Condition {
                node: None,
                message: format!(
                    "the watch \"{}\" failed {} time(s): {}",
                    self.what,
                    reached.len(),
                    reached.join("; ")
                ),
            });
        }
        if rounds == 0 {
            return Err(Error::Condition {
                node: None,
                message: format!(
                    "the watch \"{}\" proved nothing: it ended before one round of probes (each waits {WATCH_PERIOD:?}); keep it longer",
                    self.what
                ),
            });
        }
        Ok(Watched {
            rounds,
            addrs: self.addrs.clone(),
        })
    }
}

impl Drop for NeverReaches {
    fn drop(&mut self) {
        let Some(task) = self.task.take() else {
            return;
        };
        self.state.stop.store(true, Relaxed);
        task.abort();
        if std::thread::panicking() {
            return;
        }
        // A round cut short by the end of the body still counts what it saw.
        if let Err(e) = self.verdict() {
            panic!("{e}");
        }
    }
}
