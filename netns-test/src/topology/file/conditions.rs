//! Link conditions in a topology file: the `profile`, `conditions`, `egress` and `ingress`
//! keys of an attachment or a link, one call each of [`AttachBuilder`] or [`LinkBuilder`].

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::values::{EmulatorName, Probability, ProfileName, Rate, Time};
use crate::topology::conditions::{Conditions, GilbertElliott};
use crate::topology::profiles::Profile;
use crate::topology::{AttachBuilder, LinkBuilder};

/// A table of [`Conditions`], one setter per key, checked as the planner checks them.
#[derive(Clone, Copy, Debug)]
pub(super) struct ConditionsDecl(pub(super) Conditions);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionsTable {
    delay: Option<Time>,
    jitter: Option<Time>,
    loss: Option<Probability>,
    bursty_loss: Option<BurstyLossDecl>,
    reorder: Option<Probability>,
    duplicate: Option<Probability>,
    corrupt: Option<Probability>,
    rate: Option<Rate>,
    queue: Option<u32>,
    seed: Option<u64>,
    via: Option<EmulatorName>,
}

/// `bursty_loss = { p = 0.01, r = 0.25 }`: [`GilbertElliott::new`], then its loss
/// probabilities when given.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BurstyLossDecl {
    p: Probability,
    r: Probability,
    loss_bad: Option<Probability>,
    loss_good: Option<Probability>,
}

impl ConditionsTable {
    fn conditions(self) -> Conditions {
        let mut c = Conditions::new();
        if let Some(t) = self.delay {
            c = c.delay(t.0);
        }
        if let Some(t) = self.jitter {
            c = c.jitter(t.0);
        }
        if let Some(p) = self.loss {
            c = c.loss(p.0);
        }
        if let Some(b) = self.bursty_loss {
            let mut model = GilbertElliott::new(b.p.0, b.r.0);
            if let Some(p) = b.loss_bad {
                model.loss_bad = p.0;
            }
            if let Some(p) = b.loss_good {
                model.loss_good = p.0;
            }
            c = c.bursty_loss(model);
        }
        if let Some(p) = self.reorder {
            c = c.reorder(p.0);
        }
        if let Some(p) = self.duplicate {
            c = c.duplicate(p.0);
        }
        if let Some(p) = self.corrupt {
            c = c.corrupt(p.0);
        }
        if let Some(r) = self.rate {
            c = c.rate(r.0);
        }
        if let Some(q) = self.queue {
            c = c.queue(q);
        }
        if let Some(s) = self.seed {
            c = c.seed(s);
        }
        if let Some(v) = self.via {
            c = c.via(v.value());
        }
        c
    }
}

impl<'de> Deserialize<'de> for ConditionsDecl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let c = ConditionsTable::deserialize(d)?.conditions();
        c.validate().map_err(de::Error::custom)?;
        Ok(ConditionsDecl(c))
    }
}

/// The builders that take link conditions.
pub(super) trait Impair: Sized {
    fn profile(self, p: Profile) -> Self;
    fn conditions(self, c: Conditions) -> Self;
    fn egress(self, c: Conditions) -> Self;
    fn ingress(self, c: Conditions) -> Self;
}

macro_rules! impair {
    ($builder:ty) => {
        impl Impair for $builder {
            fn profile(self, p: Profile) -> Self {
                <$builder>::profile(self, p)
            }
            fn conditions(self, c: Conditions) -> Self {
                <$builder>::conditions(self, c)
            }
            fn egress(self, c: Conditions) -> Self {
                <$builder>::egress(self, c)
            }
            fn ingress(self, c: Conditions) -> Self {
                <$builder>::ingress(self, c)
            }
        }
    };
}
impair!(AttachBuilder);
impair!(LinkBuilder);

/// Applies the link-condition keys of an attachment or a link, in this order: `profile`
/// and `conditions` (both set both ways), then `egress` and `ingress` (one way each).
pub(super) fn impair<B: Impair>(
    mut b: B,
    profile: Option<ProfileName>,
    conditions: Option<ConditionsDecl>,
    egress: Option<ConditionsDecl>,
    ingress: Option<ConditionsDecl>,
) -> B {
    if let Some(p) = profile {
        b = b.profile(p.value());
    }
    if let Some(c) = conditions {
        b = b.conditions(c.0);
    }
    if let Some(c) = egress {
        b = b.egress(c.0);
    }
    if let Some(c) = ingress {
        b = b.ingress(c.0);
    }
    b
}
