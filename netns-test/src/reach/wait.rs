//! How long probes wait: the reach timeout, the isolation wait and the environment
//! variable that raises it. Pure: no sockets, no nodes.

use std::time::Duration;

/// How long a probe that is expected to reach waits for an answer by default. It returns as
/// soon as the answer comes, so a passing check costs the round trip, not this.
pub const REACH_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a probe that is expected *not* to reach waits before it concludes that nothing
/// answers (by default). Inside one machine an answer takes microseconds to a few
/// milliseconds; raise it on a very loaded machine with the environment variable
/// [`ISOLATION_WAIT_ENV`] (for every check), or in the code with
/// [`Matrix::isolation_wait`](super::Matrix::isolation_wait) and
/// [`ReachCheck::isolation_wait`](super::ReachCheck::isolation_wait).
pub const ISOLATION_WAIT: Duration = Duration::from_millis(300);

/// The environment variable that raises the default isolation wait:
/// `NETNS_TEST_ISOLATION_WAIT=2s` (see the [module documentation](super)).
pub const ISOLATION_WAIT_ENV: &str = "NETNS_TEST_ISOLATION_WAIT";

/// The longest isolation wait the environment variable may ask for.
const ISOLATION_WAIT_MAX: Duration = Duration::from_secs(60);

/// Where the wait of a negative probe came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WaitFrom {
    /// [`ISOLATION_WAIT`].
    Default,
    /// [`ISOLATION_WAIT_ENV`].
    Env,
    /// The code: `ReachCheck::isolation_wait`, `Matrix::isolation_wait`.
    Given,
}

/// Parses a value of [`ISOLATION_WAIT_ENV`]: `"300ms"`, `"2s"`, `"1m"` or whole seconds.
fn parse_isolation_wait(value: &str) -> Result<Duration, String> {
    let v = value.trim();
    let bad = |why: &str| {
        format!(
            "{ISOLATION_WAIT_ENV}={value:?} {why}: write a duration like \"500ms\", \"2s\" or \"1m\" (a whole number of seconds without a unit), from the default {} up to {}; it raises the wait of every negative reachability check",
            fmt_dur(ISOLATION_WAIT),
            fmt_dur(ISOLATION_WAIT_MAX)
        )
    };
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    if num.is_empty() {
        return Err(bad("is not a duration"));
    }
    let factor: u64 = match unit {
        "" | "s" => 1000,
        "ms" => 1,
        "m" => 60_000,
        _ => return Err(bad("is not a duration")),
    };
    let ms = num
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| bad("is too large"))?;
    let d = Duration::from_millis(ms);
    if d < ISOLATION_WAIT {
        return Err(bad(&format!(
            "is shorter than the default {}: the variable only raises the wait (a shorter one lets a slow answer pass for isolation)",
            fmt_dur(ISOLATION_WAIT)
        )));
    }
    if d > ISOLATION_WAIT_MAX {
        return Err(bad(&format!(
            "is {}, longer than {}: every negative check would wait that long",
            fmt_dur(d),
            fmt_dur(ISOLATION_WAIT_MAX)
        )));
    }
    Ok(d)
}

/// The default isolation wait in effect: [`ISOLATION_WAIT_ENV`] if set (and not empty),
/// else [`ISOLATION_WAIT`]. Read at every check, so a test may set the variable itself.
pub(super) fn default_isolation_wait() -> Result<(Duration, WaitFrom), String> {
    match std::env::var(ISOLATION_WAIT_ENV) {
        Err(std::env::VarError::NotPresent) => Ok((ISOLATION_WAIT, WaitFrom::Default)),
        Err(std::env::VarError::NotUnicode(v)) => Err(format!(
            "{ISOLATION_WAIT_ENV}={v:?} is not UTF-8: write a duration like \"2s\""
        )),
        Ok(v) if v.trim().is_empty() => Ok((ISOLATION_WAIT, WaitFrom::Default)),
        Ok(v) => parse_isolation_wait(&v).map(|d| (d, WaitFrom::Env)),
    }
}

/// One sentence on how long a negative probe waited and how to change it.
pub(super) fn wait_note(wait: Duration, from: WaitFrom) -> String {
    let w = fmt_dur(wait);
    match from {
        WaitFrom::Default => format!(
            "the probe waited up to {w} for an answer (the default isolation wait; on a loaded machine raise it with {ISOLATION_WAIT_ENV}, e.g. {ISOLATION_WAIT_ENV}=2s)"
        ),
        WaitFrom::Env => format!(
            "the probe waited up to {w} for an answer (the isolation wait set by {ISOLATION_WAIT_ENV})"
        ),
        WaitFrom::Given => format!(
            "the probe waited up to {w} for an answer (the wait given in the code; {ISOLATION_WAIT_ENV} changes only the default)"
        ),
    }
}

/// A duration as messages show it: `0.25 ms`, `2.5 ms`, `300 ms`, `2 s`, `2.5 s`.
pub(super) fn fmt_dur(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        let s = format!("{:.2}", d.as_secs_f64());
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_dur(Duration::from_micros(250)), "0.25 ms");
        assert_eq!(fmt_dur(Duration::from_micros(2500)), "2.5 ms");
        assert_eq!(fmt_dur(Duration::from_millis(300)), "300 ms");
        assert_eq!(fmt_dur(Duration::from_secs(2)), "2 s");
        assert_eq!(fmt_dur(Duration::from_millis(2500)), "2.5 s");
    }

    #[test]
    fn isolation_wait_values_parse() {
        let ok = |v: &str| parse_isolation_wait(v).unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert_eq!(ok("300ms"), Duration::from_millis(300));
        assert_eq!(ok("2s"), Duration::from_secs(2));
        assert_eq!(ok(" 1500ms "), Duration::from_millis(1500));
        assert_eq!(ok("1m"), Duration::from_secs(60));
        assert_eq!(ok("5"), Duration::from_secs(5));
        for (bad, why) in [
            ("abc", "is not a duration"),
            ("2h", "is not a duration"),
            ("1.5s", "is not a duration"),
            ("-1s", "is not a duration"),
            ("s", "is not a duration"),
            ("0", "shorter than the default 300 ms"),
            ("0ms", "shorter than the default 300 ms"),
            ("100ms", "shorter than the default 300 ms"),
            ("61s", "longer than 60 s"),
            ("300", "longer than 60 s"),
            ("99999999999999999999s", "is too large"),
        ] {
            let e = parse_isolation_wait(bad).unwrap_err();
            assert!(
                e.contains(&format!("NETNS_TEST_ISOLATION_WAIT={bad:?}")) && e.contains(why),
                "{bad:?}: {e}"
            );
            assert!(e.contains("\"2s\""), "{e}");
        }
    }
}
