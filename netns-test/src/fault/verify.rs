//! Faults that prove themselves: a probe before (the positive control) and after.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{Applied, Conditions, ConditionsHandle, Partition};
use crate::error::{Error, Result};
use crate::net::{Net, Node};
use crate::reach::{Outcome, Probe, Target};

/// Probes that a fault took effect: made by [`Net::verified`], each method applies one
/// fault between a positive control and a proof.
///
/// | fault | before (positive control) | after (proof) |
/// | --- | --- | --- |
/// | [`partition`](Verified::partition), [`link_down`](Verified::link_down), [`fault`](Verified::fault) | `from` reaches `to` | `from` no longer reaches `to` (within the isolation wait) |
/// | [`conditions`](Verified::conditions) | `from` reaches `to`; its round trip | a delay: the round trip grew by at least half of it; loss, bursty loss, duplicate, corrupt, reorder on a relay: its counter moved within a bounded number of probes |
///
/// A fault that did nothing fails with [`Error::Condition`] naming it, what was probed
/// and what came back; a positive control that fails says the probe proves nothing here.
/// Verification is asked for, not done by default: it costs a probe before and after (an
/// isolation claim waits [`ISOLATION_WAIT`](crate::reach::ISOLATION_WAIT)).
#[derive(Clone, Debug)]
#[must_use = "a Verified applies nothing until one of its methods is awaited"]
pub struct Verified {
    net: Net,
    from: Node,
    to: Node,
    probe: Probe,
    wait: Option<Duration>,
}

impl Net {
    /// Faults applied through the returned value are proven by `probe` from node `from` to
    /// node `to`: it must get through before the fault, and not after (see [`Verified`]).
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Probe;
    ///
    /// #[netns_test(topology = presets::docker_bridge(3))]
    /// async fn split(net: Net) -> netns_test::Result<()> {
    ///     let proof = net.verified("con1", "con3", Probe::Icmp)?;
    ///     // Fails if con1 did not reach con3 before, or still does after.
    ///     let cut = proof.partition(&[&["con1", "con2"], &["con3"]]).await?;
    ///     cut.heal()?;
    ///     proof.link_down("con3", "eth0").await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn verified(&self, from: &str, to: &str, probe: Probe) -> Result<Verified> {
        Ok(Verified {
            net: self.clone(),
            from: self.try_node(from)?,
            to: self.try_node(to)?,
            probe,
            wait: None,
        })
    }
}

impl Verified {
    /// How long the proof waits for the answer that must not come (default: the
    /// isolation wait of [`crate::reach`]).
    pub fn isolation_wait(mut self, wait: Duration) -> Verified {
        self.wait = Some(wait);
        self
    }

    fn what(&self) -> String {
        format!(
            "{} -> {} by {}",
            self.from.name(),
            self.to.name(),
            self.probe
        )
    }

    /// The positive control: the probe gets through now. Returns its round trip.
    async fn control(&self, fault: &str) -> Result<Duration> {
        self.from
            .reach(Target::from(&self.to), self.probe)
            .reaches()
            .await
            .map_err(|e| Error::Condition {
                node: Some(self.from.name().to_string()),
                message: format!(
                    "cannot verify {fault}: the positive control failed, {} before it, so a probe failing after it would prove nothing: {e}",
                    self.what()
                ),
            })
    }

    /// The proof of a cut: the probe no longer gets through.
    async fn cut(&self, fault: &str) -> Result<()> {
        let mut check = self.from.reach(Target::from(&self.to), self.probe);
        if let Some(wait) = self.wait {
            check = check.isolation_wait(wait);
        }
        match check.cannot_reach().await {
            Ok(_) => Ok(()),
            Err(e) if e.outcome().is_reached() || e.outcome().is_refused() => {
                Err(Error::Condition {
                    node: Some(self.from.name().to_string()),
                    message: format!(
                        "{fault} did nothing: {} still gets through after it was applied ({})",
                        self.what(),
                        e.result()
                    ),
                })
            }
            Err(e) => Err(Error::Condition {
                node: Some(self.from.name().to_string()),
                message: format!("cannot verify {fault}: {e}"),
            }),
        }
    }

    /// [`Net::partition`], proven: `from` reached `to` before, and does not after.
    pub async fn partition(&self, groups: &[&[&str]]) -> Result<Partition> {
        let fault = format!("the partition {groups:?}");
        self.control(&fault).await?;
        let p = self.net.partition(groups)?;
        self.cut(&fault).await?;
        Ok(p)
    }

    /// `ip link set IFACE down` in `node` ([`LinkHandle::down`](crate::LinkHandle::down)),
    /// proven.
    pub async fn link_down(&self, node: &str, iface: &str) -> Result<()> {
        let fault = format!("taking {iface} of {node:?} down");
        self.control(&fault).await?;
        self.net.try_node(node)?.link(iface).down().await?;
        self.cut(&fault).await
    }

    /// Any fault that should stop the probe (a firewall rule, a route removed, a process
    /// stopped): `apply` runs between the positive control and the proof; `name` names it
    /// in a failure.
    pub async fn fault<T>(&self, name: &str, apply: impl Future<Output = Result<T>>) -> Result<T> {
        self.control(name).await?;
        let t = apply.await?;
        self.cut(name).await?;
        Ok(t)
    }

    /// [`ConditionsHandle::set`], proven along the probe's path (see [`Verified`]). A rate,
    /// a queue, a jitter alone and, on netem, the random impairments show in no single
    /// probe: they are set but not proven, and conditions with nothing provable are
    /// refused, naming them.
    pub async fn conditions(&self, on: &ConditionsHandle, c: Conditions) -> Result<Applied> {
        let fault = format!("the conditions {c}");
        let refuse = |message: String| Error::Condition {
            node: Some(self.from.name().to_string()),
            message,
        };
        let before = self.min_rtt(&fault).await?;
        let applied = on.set(c).await?;
        let relay = applied == Applied::Relay;
        let counted: Vec<(&str, f64)> = [
            ("loss", c.loss),
            ("bursty loss", c.bursty_loss.map_or(0.0, |g| g.mean_loss())),
            ("duplicate", c.duplicate),
            ("corrupt", c.corrupt),
            ("reorder", c.reorder),
        ]
        .into_iter()
        .filter(|(_, p)| *p > 0.0 && relay)
        .collect();
        if c.delay.is_zero() && counted.is_empty() {
            return Err(refuse(format!(
                "cannot verify {fault}: nothing of it shows in a probe ({}); check it with the test's own traffic and ConditionsHandle::stats",
                if relay { "a rate, a queue or a jitter alone" } else { "without a delay, on netem" }
            )));
        }
        if !c.delay.is_zero() {
            let after = self.min_rtt(&fault).await?;
            if after < before + c.delay / 2 {
                return Err(refuse(format!(
                    "{fault} did nothing: the round trip {} is {after:?}, {before:?} before, not the {:?} more the delay adds",
                    self.what(),
                    c.delay
                )));
            }
        }
        if !counted.is_empty() {
            self.counters_move(on, &fault, &counted).await?;
        }
        Ok(applied)
    }

    /// The shortest of three round trips (also the positive control).
    async fn min_rtt(&self, fault: &str) -> Result<Duration> {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            best = best.min(self.control(fault).await?);
        }
        Ok(best)
    }

    /// Probes until each relay counter of `counted` moved: at most enough probes that a
    /// counter of that probability stays still with a chance below one in a million.
    async fn counters_move(
        &self,
        on: &ConditionsHandle,
        fault: &str,
        counted: &[(&str, f64)],
    ) -> Result<()> {
        const MAX_PROBES: u32 = 1000;
        let least = counted.iter().map(|(_, p)| *p).fold(1.0, f64::min);
        let needed = (14.0 / least).ceil();
        let refuse = |message: String| Error::Condition {
            node: Some(self.from.name().to_string()),
            message,
        };
        if needed > f64::from(MAX_PROBES) {
            return Err(refuse(format!(
                "cannot verify {fault}: a probability of {least} needs about {needed} probes to show, more than {MAX_PROBES}; verify a higher one, or check ConditionsHandle::stats after the test's own traffic"
            )));
        }
        let start = on.stats().await?;
        let started = Instant::now();
        let mut still: Vec<&str> = counted.iter().map(|(n, _)| *n).collect();
        let mut sent = 0;
        while sent < needed as u32 && started.elapsed() < Duration::from_secs(30) {
            let r = self
                .from
                .reach(Target::from(&self.to), self.probe)
                .within(Duration::from_millis(200))
                .result()
                .await;
            sent += 1;
            if let Outcome::Failed(why) = &r.outcome {
                return Err(refuse(format!("cannot verify {fault}: {why}")));
            }
            let now = on.stats().await?;
            still.retain(|name| match *name {
                "loss" | "bursty loss" => now.lost == start.lost,
                "duplicate" => now.duplicated == start.duplicated,
                "corrupt" => now.corrupted == start.corrupted,
                _ => now.reordered == start.reordered,
            });
            if still.is_empty() {
                return Ok(());
            }
        }
        Err(refuse(format!(
            "{fault} did nothing: after {sent} probes {} the relay had not counted any {}",
            self.what(),
            still.join(" or ")
        )))
    }
}
