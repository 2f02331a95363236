//! [`Profile`](crate::fault::Profile): link conditions a user recognizes, both directions, with their sources.

use std::time::Duration;

use super::conditions::{Conditions, GilbertElliott};

/// Link conditions in both directions, seen from the node: what it sends (`egress`, its
/// upload) and what it receives (`ingress`, its download). A plain value: change a field
/// or call a method of [`Conditions`] on it before use.
///
/// ```
/// use netns_test::fault::Profile;
/// use netns_test::Topology;
///
/// let mut lte = Profile::lte();
/// lte.ingress.loss = 0.01; // a worse cell than the preset
/// let t = Topology::new()
///     .bridge("wan", "10.0.0.0/24")
///     .node("phone", |n| n.on_with("wan", |a| a.profile(lte)))
///     .node("server", |n| n.on("wan"));
/// # t.plan().unwrap();
/// ```
///
/// The presets (one-way figures; a round trip is twice the delay):
///
/// | preset | egress (upload) | ingress (download) | source |
/// | --- | --- | --- | --- |
/// | [`lan`](Profile::lan) | 1 Gbit/s, 0.1 ms | 1 Gbit/s, 0.1 ms | Gigabit Ethernet (IEEE 802.3ab), one switch |
/// | [`wifi`](Profile::wifi) | 33 Mbit/s, 1 ms | 40 Mbit/s, 1 ms | Apple Network Link Conditioner, "Wi-Fi" |
/// | [`bad_wifi`](Profile::bad_wifi) | 5 Mbit/s, 10 ± 10 ms, 2% loss in bursts of 4 | the same | a busy Wi-Fi hop adds tens of ms: Sui et al., "Characterizing and Improving WiFi Latency in Large-Scale Operational Networks", MobiSys 2016 |
/// | [`lte`](Profile::lte) (4G) | 10 Mbit/s, 25 ± 5 ms | 50 Mbit/s, 25 ± 5 ms | rates: Network Link Conditioner, "LTE"; delay: a 50 ms round trip, 3GPP TR 25.913's 5 ms one-way radio target plus the core network and backhaul |
/// | [`umts`](Profile::umts) (3G) | 330 kbit/s, 100 ms | 780 kbit/s, 100 ms | Network Link Conditioner, "3G" |
/// | [`satellite_leo`](Profile::satellite_leo) | 10 Mbit/s, 20 ± 5 ms, 0.5% loss | 100 Mbit/s, 20 ± 5 ms, 0.5% loss | Starlink's published specifications (25-60 ms latency, 25-220 Mbit/s down, 5-20 up); loss: Michel et al., "A First Look at Starlink Performance", IMC 2022 |
/// | [`satellite_geo`](Profile::satellite_geo) | 3 Mbit/s, 300 ms | 25 Mbit/s, 300 ms | 35,786 km up and down at the speed of light is 239-279 ms one way, plus the ground network; 25/3 Mbit/s consumer plans (HughesNet Gen5) |
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Profile {
    /// What the node sends.
    pub egress: Conditions,
    /// What the node receives.
    pub ingress: Conditions,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Profile {
    /// The same conditions both ways.
    pub fn symmetric(c: Conditions) -> Profile {
        Profile {
            egress: c,
            ingress: c,
        }
    }

    /// A switched Gigabit Ethernet LAN: 1 Gbit/s, 0.1 ms each way.
    pub fn lan() -> Profile {
        Profile::symmetric(
            Conditions::new()
                .rate(1_000_000_000)
                .delay(Duration::from_micros(100)),
        )
    }

    /// A good Wi-Fi link: 33 Mbit/s up, 40 Mbit/s down, 1 ms each way.
    pub fn wifi() -> Profile {
        Profile {
            egress: Conditions::new().rate(33_000_000).delay(ms(1)),
            ingress: Conditions::new().rate(40_000_000).delay(ms(1)),
        }
    }

    /// A busy or distant Wi-Fi link: 5 Mbit/s, 10 ms ± 10 ms, 2% loss in bursts of 4
    /// frames, each way.
    pub fn bad_wifi() -> Profile {
        Profile::symmetric(
            Conditions::new()
                .rate(5_000_000)
                .delay(ms(10))
                .jitter(ms(10))
                .bursty_loss(GilbertElliott::bursts(0.02, 4.0)),
        )
    }

    /// 4G (LTE): 10 Mbit/s up, 50 Mbit/s down, 25 ms ± 5 ms each way.
    pub fn lte() -> Profile {
        let c = Conditions::new().delay(ms(25)).jitter(ms(5));
        Profile {
            egress: c.rate(10_000_000),
            ingress: c.rate(50_000_000),
        }
    }

    /// 3G (UMTS): 330 kbit/s up, 780 kbit/s down, 100 ms each way.
    pub fn umts() -> Profile {
        let c = Conditions::new().delay(ms(100));
        Profile {
            egress: c.rate(330_000),
            ingress: c.rate(780_000),
        }
    }

    /// A low-earth-orbit satellite link (Starlink): 10 Mbit/s up, 100 Mbit/s down,
    /// 20 ms ± 5 ms and 0.5% loss each way.
    pub fn satellite_leo() -> Profile {
        let c = Conditions::new().delay(ms(20)).jitter(ms(5)).loss(0.005);
        Profile {
            egress: c.rate(10_000_000),
            ingress: c.rate(100_000_000),
        }
    }

    /// A geostationary satellite link: 3 Mbit/s up, 25 Mbit/s down, 300 ms each way.
    pub fn satellite_geo() -> Profile {
        let c = Conditions::new().delay(ms(300));
        Profile {
            egress: c.rate(3_000_000),
            ingress: c.rate(25_000_000),
        }
    }
}

impl From<Conditions> for Profile {
    /// The same conditions both ways.
    fn from(c: Conditions) -> Profile {
        Profile::symmetric(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_and_reads_as_documented() {
        for (name, p) in [
            ("lan", Profile::lan()),
            ("wifi", Profile::wifi()),
            ("bad_wifi", Profile::bad_wifi()),
            ("lte", Profile::lte()),
            ("umts", Profile::umts()),
            ("satellite_leo", Profile::satellite_leo()),
            ("satellite_geo", Profile::satellite_geo()),
        ] {
            assert_eq!(p.egress.validate(), Ok(()), "{name}");
            assert_eq!(p.ingress.validate(), Ok(()), "{name}");
        }
        assert_eq!(
            Profile::lte().ingress.to_string(),
            "25 ms delay ± 5 ms, rate 50 Mbit/s"
        );
        assert_eq!(
            Profile::satellite_geo().egress.to_string(),
            "300 ms delay, rate 3 Mbit/s"
        );
        let loss = Profile::bad_wifi().egress.bursty_loss.unwrap().mean_loss();
        assert!((loss - 0.02).abs() < 1e-9, "{loss}");
    }
}
