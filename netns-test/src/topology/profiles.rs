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
/// The presets (one-way figures; a round trip is twice the delay). Each method's
/// documentation quotes its source and says which figures are the crate's own choice.
///
/// | preset | egress (upload) | ingress (download) | source |
/// | --- | --- | --- | --- |
/// | [`lan`](Profile::lan) | 1 Gbit/s, 0.1 ms | 1 Gbit/s, 0.1 ms | rate: IEEE 802.3ab (1000BASE-T); delay: the crate's choice |
/// | [`wifi`](Profile::wifi) | 33 Mbit/s, 1 ms | 40 Mbit/s, 1 ms | Apple Network Link Conditioner, "Wi-Fi" |
/// | [`bad_wifi`](Profile::bad_wifi) | 5 Mbit/s, 10 ± 10 ms, 2% loss in bursts of 4 | the same | delay: Sui et al., MobiSys 2016 (90th percentile Wi-Fi round trip, about 20 ms); the rest: the crate's choice |
/// | [`lte`](Profile::lte) (4G) | 10 Mbit/s, 25 ± 5 ms | 50 Mbit/s, 25 ± 5 ms | rates: Network Link Conditioner, "LTE"; delay: the crate's choice (3GPP TR 25.913 § 6.2.2 sets only the radio part, under 5 ms) |
/// | [`umts`](Profile::umts) (3G) | 330 kbit/s, 100 ms | 780 kbit/s, 100 ms | Network Link Conditioner, "3G" |
/// | [`satellite_leo`](Profile::satellite_leo) | 10 Mbit/s, 25 ± 5 ms, 0.5% loss | 100 Mbit/s, 25 ± 5 ms, 0.5% loss | delay: Michel et al., IMC 2022 (median round trip 50 ms, quartiles 40-60 ms); rates: the crate's choice within Starlink's advertised 5-20 Mbit/s up, 25-220 down; loss: the crate's choice |
/// | [`satellite_geo`](Profile::satellite_geo) | 3 Mbit/s, 300 ms | 25 Mbit/s, 300 ms | delay: geostationary physics, 239-278 ms one way, about 600 ms a round trip with the ground network; rates: HughesNet Gen5 (25 Mbit/s down, 3 up) |
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
    ///
    /// The rate is 1000BASE-T's (IEEE 802.3ab, 1000 Mbit/s). The 0.1 ms delay is our
    /// choice, not a standard's: a switch and two host stacks, a round trip of 0.2 ms.
    pub fn lan() -> Profile {
        Profile::symmetric(
            Conditions::new()
                .rate(1_000_000_000)
                .delay(Duration::from_micros(100)),
        )
    }

    /// A good Wi-Fi link: 33 Mbit/s up, 40 Mbit/s down, 1 ms each way.
    ///
    /// Apple's Network Link Conditioner (Additional Tools for Xcode), profile "Wi-Fi":
    /// downlink 40 Mbps, 1 ms delay; uplink 33 Mbps, 1 ms delay; no loss.
    pub fn wifi() -> Profile {
        Profile {
            egress: Conditions::new().rate(33_000_000).delay(ms(1)),
            ingress: Conditions::new().rate(40_000_000).delay(ms(1)),
        }
    }

    /// A busy or distant Wi-Fi link: 5 Mbit/s, 10 ms ± 10 ms, 2% loss in bursts of 4
    /// frames, each way.
    ///
    /// Delay: Sui et al., "Characterizing and Improving WiFi Latency in Large-Scale
    /// Operational Networks", MobiSys 2016, abstract and § 1: over 47,000 devices, the
    /// Wi-Fi hop's round trip (server to device, measured with two pings) has a median as
    /// low as 3 ms, a 90th percentile around 20 ms and a 99th around 250 ms. 10 ms each way
    /// is that 90th percentile. The ± 10 ms jitter, the 5 Mbit/s rate and the bursty 2%
    /// loss are the crate's choices, not the paper's.
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
    ///
    /// Rates: Apple's Network Link Conditioner, profile "LTE" (downlink 50 Mbps, uplink 10
    /// Mbps). Delay and jitter: the crate's choice, a 50 ms round trip. 3GPP TR 25.913
    /// (E-UTRA and E-UTRAN requirements) § 6.2.2 sets a one-way user-plane latency under 5
    /// ms, but only from the phone to the radio network's edge, unloaded, for a small IP
    /// packet; the other 20 ms stand for scheduling under load, backhaul and the core
    /// network.
    pub fn lte() -> Profile {
        let c = Conditions::new().delay(ms(25)).jitter(ms(5));
        Profile {
            egress: c.rate(10_000_000),
            ingress: c.rate(50_000_000),
        }
    }

    /// 3G (UMTS): 330 kbit/s up, 780 kbit/s down, 100 ms each way.
    ///
    /// Apple's Network Link Conditioner, profile "3G" ("3G, Average" in early releases):
    /// downlink 780 kbps, 100 ms delay; uplink 330 kbps, 100 ms delay; no loss.
    pub fn umts() -> Profile {
        let c = Conditions::new().delay(ms(100));
        Profile {
            egress: c.rate(330_000),
            ingress: c.rate(780_000),
        }
    }

    /// A low-earth-orbit satellite link (Starlink): 10 Mbit/s up, 100 Mbit/s down,
    /// 25 ms ± 5 ms and 0.5% loss each way.
    ///
    /// Delay: Michel et al., "A First Look at Starlink Performance", IMC 2022, idle round
    /// trips from a dish in Belgium to European RIPE Atlas anchors: median about 50 ms,
    /// quartiles 40 and 60 ms, minimum 20 ms. Rates: the crate's choice, inside the ranges
    /// Starlink advertises for its residential service (25-220 Mbit/s down, 5-20 Mbit/s
    /// up). Loss: the crate's choice; the paper finds that loss grows slightly under load,
    /// and Kassem et al., "A Browser-side View of Starlink Connectivity", IMC 2022, see
    /// bursts of up to 50% loss at satellite handovers, which a fixed rate does not model.
    pub fn satellite_leo() -> Profile {
        let c = Conditions::new().delay(ms(25)).jitter(ms(5)).loss(0.005);
        Profile {
            egress: c.rate(10_000_000),
            ingress: c.rate(100_000_000),
        }
    }

    /// A geostationary satellite link: 3 Mbit/s up, 25 Mbit/s down, 300 ms each way.
    ///
    /// Delay: physics. A geostationary satellite is 35,786 km up; ground to satellite to
    /// ground at the speed of light takes 239 ms below the satellite and 278 ms at the edge
    /// of its coverage, one way. 300 ms adds the ground network, a round trip of 600 ms,
    /// the "minimum latency of about 600 ms" for geostationary access that Michel et al.,
    /// IMC 2022, § 1 cite. Rates: HughesNet Gen5, whose plans are "designed to deliver
    /// download speeds of 25 Mbps and upload speeds of 3 Mbps" (HughesNet Gen5 terms and
    /// conditions).
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
    fn every_preset_is_valid() {
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
    }

    /// The figures the table above and README.md's table show, so that neither can drift
    /// from the code.
    #[test]
    fn every_preset_has_the_documented_figures() {
        let shown = |p: Profile| (p.egress.to_string(), p.ingress.to_string());
        let same = |s: &str| (s.to_string(), s.to_string());
        assert_eq!(shown(Profile::lan()), same("100 µs delay, rate 1 Gbit/s"));
        assert_eq!(
            shown(Profile::wifi()),
            (
                "1 ms delay, rate 33 Mbit/s".to_string(),
                "1 ms delay, rate 40 Mbit/s".to_string()
            )
        );
        let bad = Profile::bad_wifi();
        assert_eq!(bad.egress, bad.ingress);
        assert_eq!(bad.egress.delay, ms(10));
        assert_eq!(bad.egress.jitter, ms(10));
        assert_eq!(bad.egress.rate, Some(5_000_000));
        assert_eq!(
            shown(Profile::lte()),
            (
                "25 ms delay ± 5 ms, rate 10 Mbit/s".to_string(),
                "25 ms delay ± 5 ms, rate 50 Mbit/s".to_string()
            )
        );
        assert_eq!(
            shown(Profile::umts()),
            (
                "100 ms delay, rate 330 kbit/s".to_string(),
                "100 ms delay, rate 780 kbit/s".to_string()
            )
        );
        assert_eq!(
            shown(Profile::satellite_leo()),
            (
                "25 ms delay ± 5 ms, 0.5% loss, rate 10 Mbit/s".to_string(),
                "25 ms delay ± 5 ms, 0.5% loss, rate 100 Mbit/s".to_string()
            )
        );
        assert_eq!(
            shown(Profile::satellite_geo()),
            (
                "300 ms delay, rate 3 Mbit/s".to_string(),
                "300 ms delay, rate 25 Mbit/s".to_string()
            )
        );
        let ge = Profile::bad_wifi().egress.bursty_loss.unwrap();
        assert!((ge.mean_loss() - 0.02).abs() < 1e-9, "{}", ge.mean_loss());
        assert!((1.0 / ge.r - 4.0).abs() < 1e-9, "mean burst {}", 1.0 / ge.r);
    }

    /// The geostationary figures in `satellite_geo`'s documentation: 239 ms below the
    /// satellite, 278 ms at the edge of its coverage, both under the preset's 300 ms.
    #[test]
    fn geostationary_delay_is_above_the_light_time() {
        const C_KM_S: f64 = 299_792.458;
        const EARTH_KM: f64 = 6_378.137; // equatorial radius
        const GEO_KM: f64 = 35_786.0; // altitude
        let below = 2.0 * GEO_KM / C_KM_S * 1000.0;
        let orbit = EARTH_KM + GEO_KM;
        let edge = 2.0 * (orbit * orbit - EARTH_KM * EARTH_KM).sqrt() / C_KM_S * 1000.0;
        assert_eq!((below.round(), edge.round()), (239.0, 278.0));
        let geo = Profile::satellite_geo();
        assert!(geo.egress.delay.as_secs_f64() * 1000.0 > edge);
        assert_eq!(geo.egress.delay, geo.ingress.delay);
    }
}
