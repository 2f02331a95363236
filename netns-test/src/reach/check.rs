//! The claims a test makes: one check from a node to a target ([`Node::reach`], and the
//! one-line forms `ping`, `assert_reaches`, `assert_cannot_reach`, `wait_for_port`), and a
//! whole matrix over a network ([`Net::assert_matrix`]).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::probe::{probe_target, routes_of, Mode};
use super::report::Claim;
use super::wait::{default_isolation_wait, WaitFrom};
#[cfg(doc)]
use super::ISOLATION_WAIT;
use super::{
    node_addr, IntoMatrix, Matrix, MatrixError, MatrixReport, Names, Outcome, PathReport, Probe,
    ProbeResult, ReachError, Target, TargetKind, REACH_TIMEOUT,
};
use crate::net::{Net, Node};

/// One reachability check, from a node to a target by a probe, ready to run: made by
/// [`Node::reach`], given its waits by [`ReachCheck::within`] and
/// [`ReachCheck::isolation_wait`], run by the method that says what to conclude.
///
/// | instead of                              | write                                                       |
/// | --------------------------------------- | ----------------------------------------------------------- |
/// | `nc -z -w5 b 80`                        | `a.reach(&b, Probe::Tcp(80)).within(secs(5)).reaches()`     |
/// | `! ping -c1 -W2 b` (isolation)          | `a.reach(&b, Probe::Icmp).isolation_wait(secs(2)).cannot_reach()` |
/// | `until nc -z b 80; do sleep 0.1; done`  | `a.reach(&b, Probe::Tcp(80)).wait_until_reaches(secs(10))`  |
/// | `ping -c1 -W2 b; echo $?`               | `a.reach(&b, Probe::Icmp).result()`                         |
///
/// (`secs` is `Duration::from_secs`; every method is `async`: `.await` it.)
///
/// Nothing is sent until a method is awaited; each await probes anew, so one check may
/// serve as the positive control and, after a change, as the negative claim.
#[derive(Clone, Debug)]
#[must_use = "a reachability check sends nothing until one of its methods (reaches, cannot_reach, ...) is awaited"]
pub struct ReachCheck {
    from: Node,
    target: Target,
    probe: Probe,
    within: Duration,
    /// `None`: the default ([`ISOLATION_WAIT`] or `NETNS_TEST_ISOLATION_WAIT`).
    isolation_wait: Option<Duration>,
}

impl ReachCheck {
    /// How long a probe that should get through waits for its answer (`ping -W`,
    /// `nc -w`): [`REACH_TIMEOUT`] unless set. It returns as soon as the answer comes.
    /// Used by [`reaches`](ReachCheck::reaches), [`assert_reaches`](ReachCheck::assert_reaches)
    /// and [`result`](ReachCheck::result).
    pub fn within(mut self, timeout: Duration) -> ReachCheck {
        self.within = timeout;
        self
    }

    /// How long [`cannot_reach`](ReachCheck::cannot_reach) and
    /// [`assert_cannot_reach`](ReachCheck::assert_cannot_reach) wait for the answer that
    /// must not come: [`ISOLATION_WAIT`], or `NETNS_TEST_ISOLATION_WAIT` when set, unless
    /// set here; a wait set here is used as given, whatever the variable says.
    pub fn isolation_wait(mut self, wait: Duration) -> ReachCheck {
        self.isolation_wait = Some(wait);
        self
    }

    /// Probes once, waiting up to [`within`](ReachCheck::within) for the answer, and says
    /// what happened without claiming anything: `ping -c1 -W2 b; echo $?`, with the
    /// reason instead of an exit code. Never fails: a probe that could not be sent is
    /// [`Outcome::Failed`].
    pub async fn result(&self) -> ProbeResult {
        let names = Names::of(&self.from);
        self.once(self.within, &names).await
    }

    /// Checks that the probe gets through within [`within`](ReachCheck::within): what
    /// `ping -c1 -W2 b` or `nc -z -w2 b 80` succeeding shows. Returns the time the answer
    /// took.
    ///
    /// # Errors
    /// A [`ReachError`] saying from where to where, by what, what happened (timeout,
    /// refused, unreachable with the ICMP error and who sent it, could not be sent) and
    /// the source's routes and addresses.
    pub async fn reaches(&self) -> Result<Duration, ReachError> {
        let names = Names::of(&self.from);
        let r = self.once(self.within, &names).await;
        if r.outcome.is_reached() {
            Ok(r.elapsed)
        } else {
            Err(ReachError::new(&self.from, r, Claim::Reaches, &names).await)
        }
    }

    /// Checks that the probe does *not* get through: it is sent and stopped before the
    /// target (nothing answers within the isolation wait, or an unreachable or prohibited
    /// answer: [`Outcome::is_blocked`]). What `! ping -c1 -W1 b` means to say, without
    /// letting a refusal or a typo pass. Returns what happened (a test may insist on, say,
    /// [`Outcome::Timeout`] rather than [`Outcome::Prohibited`]).
    ///
    /// The wait is [`ISOLATION_WAIT`], or `NETNS_TEST_ISOLATION_WAIT` when set (see the
    /// [module documentation](super)), or [`isolation_wait`](ReachCheck::isolation_wait).
    ///
    /// # Errors
    /// A [`ReachError`] when the target answered ([`Outcome::Reached`]), when it refused
    /// ([`Outcome::Refused`]: the path exists, nothing listens; probe a port where
    /// something does), and when the probe could not be sent ([`Outcome::Failed`]: an
    /// unknown node or name, a target with no address of the probed family, a socket that
    /// could not be opened, an invalid `NETNS_TEST_ISOLATION_WAIT`). A source with no
    /// address of the family (a node attached to nothing) is isolated: that passes.
    pub async fn cannot_reach(&self) -> Result<Outcome, ReachError> {
        let names = Names::of(&self.from);
        let (wait, wait_from) = match self.isolation_wait {
            Some(wait) => (wait, WaitFrom::Given),
            None => match default_isolation_wait() {
                Ok(default) => default,
                Err(why) => {
                    let (to, addr) = self.target.resolve(&names);
                    let result = ProbeResult {
                        from: self.from.name().to_string(),
                        to,
                        addr: addr.ok(),
                        probe: self.probe,
                        outcome: Outcome::Failed(why),
                        elapsed: Duration::ZERO,
                        wait: Duration::ZERO,
                        sent: 0,
                        errno: None,
                        icmp: None,
                        no_source: None,
                    };
                    return Err(
                        ReachError::new(&self.from, result, Claim::CannotReach, &names).await,
                    );
                }
            },
        };
        let r = self.once(wait, &names).await;
        if r.outcome.is_blocked() {
            Ok(r.outcome)
        } else {
            Err(ReachError::new(&self.from, r, Claim::CannotReach, &names)
                .await
                .with_wait_from(wait_from))
        }
    }

    /// Asserts that the probe gets through (see [`reaches`](ReachCheck::reaches)); returns
    /// the time the answer took.
    ///
    /// # Panics
    /// With the [`ReachError`] message.
    pub async fn assert_reaches(&self) -> Duration {
        self.reaches().await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Asserts that the probe does not get through: the isolation claim (see
    /// [`cannot_reach`](ReachCheck::cannot_reach)); returns what stopped it.
    ///
    /// # Panics
    /// With the [`ReachError`] message when the target answers, when it refuses, and when
    /// the probe cannot be sent.
    pub async fn assert_cannot_reach(&self) -> Outcome {
        self.cannot_reach().await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until the probe gets through, retrying through refusals and unreachable
    /// answers (a service still starting, a route about to appear), for at most
    /// `timeout`: `until nc -z b 80; do sleep 0.1; done` with a deadline and without the
    /// sleeps. Returns how long it took.
    ///
    /// # Errors
    /// A [`ReachError`] with the last try's outcome when `timeout` passes first.
    pub async fn wait_until_reaches(&self, timeout: Duration) -> Result<Duration, ReachError> {
        self.persist(timeout, Claim::EventuallyReaches).await
    }

    /// One probe that stops at the first definite answer.
    async fn once(&self, wait: Duration, names: &Names) -> ProbeResult {
        probe_target(
            &self.from,
            &self.target,
            self.probe,
            wait,
            Mode::Once,
            names,
        )
        .await
    }

    /// Probes through errors until reached or `deadline`, for `claim`.
    async fn persist(&self, deadline: Duration, claim: Claim) -> Result<Duration, ReachError> {
        let names = Names::of(&self.from);
        let r = probe_target(
            &self.from,
            &self.target,
            self.probe,
            deadline,
            Mode::Persist,
            &names,
        )
        .await;
        if r.outcome.is_reached() {
            Ok(r.elapsed)
        } else {
            Err(ReachError::new(&self.from, r, claim, &names).await)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Node: the check, and its one-line forms.

impl Node {
    /// A reachability check from this node to `target` by `probe` (an ICMP echo like
    /// `ping`, a TCP connect like `nc -z`, a UDP datagram like `nc -u`), to be given its
    /// waits and run by the method that says what to conclude (see [`ReachCheck`]). A
    /// name in `target` is a node of this node's network.
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::{Outcome, Probe};
    /// use std::time::Duration;
    ///
    /// #[netns_test(topology = presets::bridge_pair())]
    /// async fn no_web_server_yet(net: Net) -> Result<(), netns_test::reach::ReachError> {
    ///     let (a, b) = (net.node("a"), net.node("b"));
    ///     // `nc -z -w1 b 80; echo $?`: b is there, nothing listens.
    ///     let r = a.reach(&b, Probe::Tcp(80)).within(Duration::from_secs(1)).result().await;
    ///     assert_eq!(r.outcome, Outcome::Refused, "{r}");
    ///     // Nobody has 10.0.0.200 (a claim with a wait of its own), while b answers.
    ///     let wait = Duration::from_millis(500);
    ///     a.reach("10.0.0.200", Probe::Icmp).isolation_wait(wait).cannot_reach().await?;
    ///     a.reach(&b, Probe::Icmp).reaches().await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn reach(&self, target: impl Into<Target>, probe: Probe) -> ReachCheck {
        ReachCheck {
            from: self.clone(),
            target: target.into(),
            probe,
            within: REACH_TIMEOUT,
            isolation_wait: None,
        }
    }

    /// Pings `target` (ICMP echo, or ICMPv6 for an IPv6 target) and returns the round-trip
    /// time; re-sends while it waits, gives up after [`REACH_TIMEOUT`]. Replaces
    /// `ping -c1 -W2 TARGET`; the same as `self.reach(target, Probe::Icmp).reaches()`.
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    ///
    /// #[netns_test(topology = presets::bridge_pair())]
    /// async fn a_pings_b(net: Net) -> Result<(), netns_test::reach::ReachError> {
    ///     let (a, b) = (net.node("a"), net.node("b"));
    ///     let rtt = a.ping(&b).await?; // b's first IPv4 address
    ///     a.ping("b").await?; // by name
    ///     a.ping(b.ip()).await?; // by address
    ///     println!("{rtt:?}");
    ///     Ok(())
    /// }
    /// ```
    pub async fn ping(&self, target: impl Into<Target>) -> Result<Duration, ReachError> {
        self.reach(target, Probe::Icmp).reaches().await
    }

    /// Asserts that this node reaches `target` by `probe` (within [`REACH_TIMEOUT`]);
    /// returns the time the answer took. Replaces `ping -c1 -W2 b`, `nc -z -w2 b 80`. The
    /// same as `self.reach(target, probe).assert_reaches()`; [`ReachCheck::reaches`] is
    /// the form that returns the error instead.
    ///
    /// # Panics
    /// With the [`ReachError`] message, e.g.
    ///
    /// ```text
    /// con1 should reach con3 (172.19.0.2) by ICMP echo, but did not: timeout: no answer within 2 s (7 echo requests sent)
    ///   con1's route toward 172.19.0.2: 0.0.0.0/0 via 172.18.0.1 (host) dev eth0
    ///   con1's addresses: eth0 172.18.0.2/16
    /// ```
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Probe;
    ///
    /// #[netns_test(topology = presets::bridge_pair())]
    /// async fn web(net: Net) {
    ///     let (a, b) = (net.node("a"), net.node("b"));
    ///     let l = b.run(async { tokio::net::TcpListener::bind("0.0.0.0:80").await }).await.unwrap();
    ///     a.assert_reaches(&b, Probe::Tcp(80)).await;
    ///     a.assert_reaches(&b, Probe::Icmp).await;
    ///     drop(l);
    /// }
    /// ```
    pub async fn assert_reaches(&self, target: impl Into<Target>, probe: Probe) -> Duration {
        self.reach(target, probe).assert_reaches().await
    }

    /// Asserts that this node does not reach `target` by `probe`: the isolation claim
    /// (waits [`ISOLATION_WAIT`], or `NETNS_TEST_ISOLATION_WAIT`, for an answer that must
    /// not come). Replaces `! ping -c1 -W1 con3`. The same as
    /// `self.reach(target, probe).assert_cannot_reach()`; [`ReachCheck::cannot_reach`] is
    /// the form that returns the error instead, [`ReachCheck::isolation_wait`] sets the
    /// wait.
    ///
    /// # Panics
    /// With the [`ReachError`] message when the target answers, when it refuses (a closed
    /// port proves the path exists: probe a port where something listens, or by ICMP),
    /// and when the probe cannot be sent (a misspelt node, no address of the family, a
    /// socket refused): see [`ReachCheck::cannot_reach`].
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Probe;
    ///
    /// #[netns_test(topology = presets::two_networks())]
    /// async fn user_networks_are_isolated(net: Net) {
    ///     net.node("con1").assert_cannot_reach("con3", Probe::Icmp).await;
    /// }
    /// ```
    pub async fn assert_cannot_reach(&self, target: impl Into<Target>, probe: Probe) -> Outcome {
        self.reach(target, probe).assert_cannot_reach().await
    }

    /// Waits until something in *this* node accepts on the port of `probe` (a TCP
    /// listener, or a UDP service that answers), probing the node's first address (what
    /// other nodes connect to; `127.0.0.1` for a node without interfaces), for at most
    /// `deadline`. Returns how long it took. Replaces `sleep 1` after starting a server.
    ///
    /// The TCP probe is one real connection: the server accepts it and sees it closed.
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Probe;
    /// use std::time::Duration;
    ///
    /// #[netns_test(topology = presets::bridge_pair())]
    /// async fn server_comes_up(net: Net) -> std::io::Result<()> {
    ///     let b = net.node("b");
    ///     let mut server = b.command("python3").args(["-m", "http.server", "8080"]).spawn()?;
    ///     b.wait_for_port(Probe::Tcp(8080), Duration::from_secs(10)).await.unwrap();
    ///     net.node("a").assert_reaches(&b, Probe::Tcp(8080)).await;
    ///     server.kill()
    /// }
    /// ```
    pub async fn wait_for_port(
        &self,
        probe: Probe,
        deadline: Duration,
    ) -> Result<Duration, ReachError> {
        let own = node_addr(self, None).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        self.reach(own, probe)
            .persist(deadline, Claim::Accepts)
            .await
    }
}

// ---------------------------------------------------------------------------------------
// Matrices over a network.

impl Matrix {
    /// Probes every cell concurrently and compares with the expectation.
    pub async fn check(&self, net: &Net, probe: Probe) -> Result<MatrixReport, MatrixError> {
        let resolve = |names: &[String], what: &str| -> Result<Vec<Node>, MatrixError> {
            names
                .iter()
                .map(|n| {
                    net.try_node(n).map_err(|e| {
                        MatrixError::Invalid(format!("reachability matrix, {what} {n:?}: {e}"))
                    })
                })
                .collect()
        };
        let rows = resolve(&self.rows, "row")?;
        let cols = resolve(&self.cols, "column")?;
        let (isolation_wait, wait_from) = match self.isolation_wait {
            Some(w) => (w, WaitFrom::Given),
            None => default_isolation_wait()
                .map_err(|why| MatrixError::Invalid(format!("reachability matrix: {why}")))?,
        };
        let names = Names::from_net(net);
        let targets: Vec<Target> = cols
            .iter()
            .map(|n| Target(TargetKind::Node(n.clone(), Some(self.v6))))
            .collect();
        let start = Instant::now();
        let probes = self.probes(isolation_wait).into_iter().map(|(r, c, wait)| {
            let (src, target, names) = (&rows[r], &targets[c], &names);
            async move {
                let res = probe_target(src, target, probe, wait, Mode::Once, names).await;
                (r, c, res)
            }
        });
        let done = futures::future::join_all(probes).await;
        let elapsed = start.elapsed();
        let mut results: Vec<Vec<Option<ProbeResult>>> = vec![vec![None; cols.len()]; rows.len()];
        for (r, c, res) in done {
            results[r][c] = Some(res);
        }
        let mut report = MatrixReport {
            probe,
            rows: self.rows.clone(),
            cols: self.cols.clone(),
            expected: self.cells.clone(),
            results,
            paths: Vec::new(),
            elapsed,
            timeout: self.timeout,
            isolation_wait,
            wait_from,
        };
        let wrong = report.wrong_cells();
        let mut sources: Vec<usize> = wrong.iter().map(|&(r, _)| r).collect();
        sources.dedup();
        let routes = futures::future::join_all(sources.iter().map(|&r| {
            let src = &rows[r];
            async move { (r, routes_of(src).await) }
        }))
        .await;
        report.paths = wrong
            .iter()
            .map(|&(r, c)| {
                let addr = report.results[r][c].as_ref().and_then(|p| p.addr);
                let (_, routes) = routes.iter().find(|(row, _)| *row == r).expect("fetched");
                ((r, c), PathReport::build(&rows[r], addr, &names, routes))
            })
            .collect();
        if wrong.is_empty() {
            Ok(report)
        } else {
            // For the diagnostics, should this failure fail the test.
            *net.state()
                .matrix_mismatch
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(report.diff());
            Err(MatrixError::Mismatch(Box::new(report)))
        }
    }

    /// [`Matrix::check`], panicking with the side-by-side rendering on a difference.
    pub async fn assert(&self, net: &Net, probe: Probe) -> MatrixReport {
        self.check(net, probe)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Net {
    /// Probes every cell of the expected matrix concurrently and compares (see
    /// [`Matrix`]). The non-panicking form of [`Net::assert_matrix`].
    pub async fn check_matrix(
        &self,
        probe: Probe,
        expected: impl IntoMatrix,
    ) -> Result<MatrixReport, MatrixError> {
        expected.into_matrix()?.check(self, probe).await
    }

    /// Asserts a whole reachability matrix: who reaches whom by `probe`, every pair probed
    /// concurrently. On a difference it panics with expected and actual side by side, the
    /// differing cells marked, and for each of them what happened and the source's routes:
    ///
    /// ```text
    /// reachability by ICMP echo (row reaches column?): 1 of 6 probed cells differ, marked *
    ///   expected          |  actual
    ///        con1 con2 con3   |       con1 con2 con3
    ///   con1    -    y    y   |  con1    -    y    n*
    ///   ...
    /// differences:
    ///   con1 -> con3 (172.19.0.2): expected y, got n: timeout: no answer within 2 s (7 echo requests sent)
    ///       con1's route toward 172.19.0.2: 0.0.0.0/0 via 172.18.0.1 (host) dev eth0
    ///       con1's addresses: eth0 172.18.0.2/16
    /// ```
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Probe;
    ///
    /// #[netns_test(topology = presets::two_networks())]
    /// async fn docker_networks(net: Net) {
    ///     let report = net.assert_matrix(Probe::Icmp, "
    ///              con1 con2 con3
    ///         con1   -    y    n
    ///         con2   y    -    n
    ///         con3   n    n    -
    ///     ").await;
    ///     println!("{report}");
    /// }
    /// ```
    pub async fn assert_matrix(&self, probe: Probe, expected: impl IntoMatrix) -> MatrixReport {
        self.check_matrix(probe, expected)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}
