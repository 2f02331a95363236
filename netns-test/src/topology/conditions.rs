//! [`Conditions`](crate::fault::Conditions): what a link does to the frames one of its ends sends.

use std::fmt;
use std::time::Duration;

/// The longest delay (plus jitter) accepted.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// Link conditions for the frames an interface sends: see [`ConditionsHandle::set`].
///
/// ```
/// use netns_test::fault::Conditions;
/// use std::time::Duration;
///
/// let wan = Conditions::new()
///     .delay(Duration::from_millis(40))
///     .jitter(Duration::from_millis(5))
///     .loss(0.01)
///     .rate(20_000_000);
/// // The same, as a struct:
/// let same = Conditions {
///     delay: Duration::from_millis(40),
///     jitter: Duration::from_millis(5),
///     loss: 0.01,
///     rate: Some(20_000_000),
///     ..Default::default()
/// };
/// assert_eq!(wan, same);
/// assert_eq!(wan.to_string(), "40 ms delay ± 5 ms, 1% loss, rate 20 Mbit/s");
/// ```
///
/// [`ConditionsHandle::set`]: crate::fault::ConditionsHandle::set
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Conditions {
    /// Added one-way delay.
    pub delay: Duration,
    /// Each frame's delay is drawn uniformly from `delay ± jitter` (at least 0).
    pub jitter: Duration,
    /// Probability that a frame is dropped, from 0.0 to 1.0, each frame on its own.
    pub loss: f64,
    /// Loss in bursts instead of [`loss`](Conditions::loss): netem's `loss gemodel`.
    pub bursty_loss: Option<GilbertElliott>,
    /// Probability that a frame is sent at once instead of after the delay, overtaking
    /// the frames delayed before it (netem's `reorder P gap 1`; needs a delay).
    pub reorder: f64,
    /// Probability that a frame is sent twice (netem's `duplicate`).
    pub duplicate: f64,
    /// Probability that a frame is sent with one bit flipped after its Ethernet header
    /// (netem's `corrupt`).
    pub corrupt: f64,
    /// Frames waiting for their delay at most (netem's `limit`, 1000 unless set); the
    /// frames beyond are dropped.
    pub queue: Option<u32>,
    /// Rate limit in bits per second (layer 2: Ethernet headers count).
    pub rate: Option<u64>,
    /// The seed of every random draw, instead of the test's ([`crate::Net::seed`]).
    pub seed: Option<u64>,
    /// What makes delay, jitter and loss.
    pub via: Emulator,
}

/// Bursty loss by the Gilbert-Elliott model: a good and a bad state, a frame moving the
/// link from one to the other with the probabilities `p` and `r`, each state losing
/// frames with its own probability. netem's `loss gemodel p r 1-h 1-k`.
///
/// ```
/// use netns_test::fault::GilbertElliott;
///
/// // 2% of frames lost, in bursts of 4 on average.
/// let ge = GilbertElliott::bursts(0.02, 4.0);
/// assert!((ge.mean_loss() - 0.02).abs() < 1e-9);
/// assert_eq!(ge.r, 0.25);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GilbertElliott {
    /// Probability of going from the good state to the bad one, per frame.
    pub p: f64,
    /// Probability of going from the bad state back to the good one, per frame.
    pub r: f64,
    /// Loss probability in the bad state (netem's `1-h`).
    pub loss_bad: f64,
    /// Loss probability in the good state (netem's `1-k`).
    pub loss_good: f64,
}

impl GilbertElliott {
    /// The Gilbert model: every frame lost in the bad state, none in the good one.
    pub fn new(p: f64, r: f64) -> GilbertElliott {
        GilbertElliott {
            p,
            r,
            loss_bad: 1.0,
            loss_good: 0.0,
        }
    }

    /// The Gilbert model losing `mean_loss` of the frames in bursts of `mean_burst`
    /// frames on average (`r = 1 / mean_burst`, `p = r * loss / (1 - loss)`).
    pub fn bursts(mean_loss: f64, mean_burst: f64) -> GilbertElliott {
        let r = 1.0 / mean_burst.max(1.0);
        let loss = mean_loss.clamp(0.0, 0.99);
        GilbertElliott::new(r * loss / (1.0 - loss), r)
    }

    /// The fraction of frames lost in the long run.
    pub fn mean_loss(&self) -> f64 {
        if self.p + self.r == 0.0 {
            return self.loss_good;
        }
        let bad = self.p / (self.p + self.r);
        bad * self.loss_bad + (1.0 - bad) * self.loss_good
    }
}

impl Conditions {
    /// No condition: the interface as built.
    pub fn new() -> Conditions {
        Conditions::default()
    }

    /// Sets the one-way delay.
    pub fn delay(mut self, delay: Duration) -> Conditions {
        self.delay = delay;
        self
    }

    /// Sets the jitter.
    pub fn jitter(mut self, jitter: Duration) -> Conditions {
        self.jitter = jitter;
        self
    }

    /// Sets the loss probability (0.3 drops 30% of frames), each frame on its own.
    pub fn loss(mut self, loss: f64) -> Conditions {
        self.loss = loss;
        self
    }

    /// Sets bursty loss (Gilbert-Elliott), instead of independent loss.
    pub fn bursty_loss(mut self, model: GilbertElliott) -> Conditions {
        self.bursty_loss = Some(model);
        self
    }

    /// Sets the probability that a frame overtakes the delayed ones (needs a delay).
    pub fn reorder(mut self, probability: f64) -> Conditions {
        self.reorder = probability;
        self
    }

    /// Sets the probability that a frame is sent twice.
    pub fn duplicate(mut self, probability: f64) -> Conditions {
        self.duplicate = probability;
        self
    }

    /// Sets the probability that a frame is sent with one bit flipped.
    pub fn corrupt(mut self, probability: f64) -> Conditions {
        self.corrupt = probability;
        self
    }

    /// Sets how many frames may wait for their delay.
    pub fn queue(mut self, frames: u32) -> Conditions {
        self.queue = Some(frames);
        self
    }

    /// Sets the rate limit, in bits per second.
    pub fn rate(mut self, bits_per_sec: u64) -> Conditions {
        self.rate = Some(bits_per_sec);
        self
    }

    /// Sets the seed of the random draws (the test's seed unless set).
    pub fn seed(mut self, seed: u64) -> Conditions {
        self.seed = Some(seed);
        self
    }

    /// Sets what makes delay, jitter and loss.
    pub fn via(mut self, via: Emulator) -> Conditions {
        self.via = via;
        self
    }

    /// Anything beyond a rate limit asked for (what a `tbf` qdisc alone does not give).
    pub(crate) fn impairs(&self) -> bool {
        !self.delay.is_zero() || self.queue.is_some() || self.random()
    }

    /// Anything drawn at random asked for.
    pub(crate) fn random(&self) -> bool {
        !self.jitter.is_zero()
            || self.loss > 0.0
            || self.bursty_loss.is_some()
            || self.reorder > 0.0
            || self.duplicate > 0.0
            || self.corrupt > 0.0
    }

    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        if !(0.0..=1.0).contains(&self.loss) {
            return Err(format!(
                "the loss must be a probability from 0.0 to 1.0 (0.3 drops 30% of frames), not {}",
                self.loss
            ));
        }
        let mut probabilities = vec![
            ("reorder", self.reorder),
            ("duplicate", self.duplicate),
            ("corrupt", self.corrupt),
        ];
        if let Some(ge) = &self.bursty_loss {
            probabilities.extend([
                ("bursty_loss.p", ge.p),
                ("bursty_loss.r", ge.r),
                ("bursty_loss.loss_bad", ge.loss_bad),
                ("bursty_loss.loss_good", ge.loss_good),
            ]);
        }
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "{name} must be a probability from 0.0 to 1.0, not {p}"
                ));
            }
        }
        if self.loss > 0.0 && self.bursty_loss.is_some() {
            return Err(
                "loss and bursty_loss are two models of the same loss: set one of them".to_string(),
            );
        }
        if self.reorder > 0.0 && self.delay.is_zero() {
            return Err(
                "reorder sends some frames at once, ahead of the delayed ones: it needs a delay (Conditions::delay)"
                    .to_string(),
            );
        }
        if self.queue == Some(0) {
            return Err(
                "a queue of 0 frames would drop every delayed frame: take the link down with node.link(IFACE).down() instead"
                    .to_string(),
            );
        }
        if self.rate == Some(0) {
            return Err(
                "a rate of 0 bit/s would stop all traffic: take the link down with node.link(IFACE).down() instead"
                    .to_string(),
            );
        }
        if self.delay.saturating_add(self.jitter) > MAX_DELAY {
            return Err(format!(
                "delay plus jitter is {:?}; at most {MAX_DELAY:?} is supported",
                self.delay.saturating_add(self.jitter)
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Conditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.delay.is_zero() || !self.jitter.is_zero() {
            let mut s = format!("{} delay", fmt_duration(self.delay));
            if !self.jitter.is_zero() {
                s.push_str(&format!(" ± {}", fmt_duration(self.jitter)));
            }
            parts.push(s);
        }
        if self.loss > 0.0 {
            parts.push(format!("{}% loss", percent(self.loss)));
        }
        if let Some(ge) = &self.bursty_loss {
            parts.push(format!(
                "bursty loss (Gilbert-Elliott p {}%, r {}%, {}% lost when bad, {}% when good)",
                percent(ge.p),
                percent(ge.r),
                percent(ge.loss_bad),
                percent(ge.loss_good)
            ));
        }
        for (name, p) in [
            ("reorder", self.reorder),
            ("duplicate", self.duplicate),
            ("corrupt", self.corrupt),
        ] {
            if p > 0.0 {
                parts.push(format!("{}% {name}", percent(p)));
            }
        }
        if let Some(q) = self.queue {
            parts.push(format!("queue {q} frames"));
        }
        if let Some(rate) = self.rate {
            parts.push(format!("rate {}", fmt_rate(rate)));
        }
        if let Some(seed) = self.seed {
            parts.push(format!("seed {seed}"));
        }
        if parts.is_empty() {
            f.write_str("no conditions")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// A probability as a percentage without float noise (`0.3` is `30`, not `30.000000000000004`).
fn percent(p: f64) -> f64 {
    (p * 100.0 * 1e6).round() / 1e6
}

pub(crate) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1.0 {
        format!("{} ms", (ms * 1000.0).round() / 1000.0)
    } else {
        format!("{} µs", d.as_micros())
    }
}

/// `20 Mbit/s`, `1.5 Gbit/s`, `800 kbit/s`, `300 bit/s`.
pub(crate) fn fmt_rate(bits_per_sec: u64) -> String {
    let r = bits_per_sec as f64;
    let (v, unit) = if r >= 1e9 {
        (r / 1e9, "Gbit/s")
    } else if r >= 1e6 {
        (r / 1e6, "Mbit/s")
    } else if r >= 1e3 {
        (r / 1e3, "kbit/s")
    } else {
        (r, "bit/s")
    };
    format!("{} {unit}", (v * 100.0).round() / 100.0)
}

/// What makes delay, jitter and loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Emulator {
    /// netem where the kernel has it, else the link's relay.
    #[default]
    Auto,
    /// Only netem: an error on a kernel without it.
    Netem,
    /// Only the relay: an error on a link that is not impairable.
    Relay,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_read_well_and_are_checked() {
        let c = Conditions::new()
            .delay(Duration::from_micros(500))
            .loss(0.3);
        assert_eq!(c.to_string(), "500 µs delay, 30% loss");
        assert_eq!(Conditions::new().to_string(), "no conditions");
        assert!(Conditions::new()
            .loss(1.5)
            .validate()
            .unwrap_err()
            .contains("not 1.5"));
        assert!(Conditions::new().loss(f64::NAN).validate().is_err());
        assert!(Conditions::new()
            .rate(0)
            .validate()
            .unwrap_err()
            .contains("link(IFACE).down()"));
        assert!(Conditions::new()
            .delay(Duration::from_secs(61))
            .validate()
            .is_err());
        assert_eq!(fmt_rate(1_500_000_000), "1.5 Gbit/s");
        assert_eq!(fmt_rate(800_000), "800 kbit/s");
    }

    #[test]
    fn each_new_parameter_is_shown_and_checked_by_name() {
        let c = Conditions::new()
            .delay(Duration::from_millis(10))
            .bursty_loss(GilbertElliott::new(0.01, 0.5))
            .reorder(0.25)
            .duplicate(0.01)
            .corrupt(0.001)
            .queue(100)
            .seed(7);
        assert_eq!(
            c.to_string(),
            "10 ms delay, bursty loss (Gilbert-Elliott p 1%, r 50%, 100% lost when bad, 0% when good), \
             25% reorder, 1% duplicate, 0.1% corrupt, queue 100 frames, seed 7"
        );
        assert_eq!(c.validate(), Ok(()));
        assert!(c.random() && c.impairs());
        let err = |c: Conditions| c.validate().unwrap_err();
        assert!(err(Conditions::new().duplicate(2.0)).starts_with("duplicate must be"));
        assert!(err(Conditions::new().corrupt(-1.0)).starts_with("corrupt must be"));
        assert!(err(Conditions::new().reorder(0.1)).contains("needs a delay"));
        assert!(err(Conditions::new().queue(0)).contains("queue of 0"));
        assert!(err(Conditions::new()
            .loss(0.1)
            .bursty_loss(GilbertElliott::new(0.1, 0.1)))
        .contains("set one of them"));
        let ge = GilbertElliott {
            p: 1.5,
            ..GilbertElliott::new(0.0, 0.0)
        };
        assert!(err(Conditions::new().bursty_loss(ge)).starts_with("bursty_loss.p must be"));
        // A rate or a queue alone is not random; a queue needs netem or the relay.
        assert!(!Conditions::new().rate(1000).impairs());
        assert!(Conditions::new().queue(10).impairs());
        assert!(!Conditions::new().queue(10).random());
    }
}
