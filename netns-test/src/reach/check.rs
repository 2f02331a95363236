//! The claims a test makes: single probes and assertions from a node, waiting for a
//! service, and a whole matrix over a network ([`Net::assert_matrix`]).

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

// ---------------------------------------------------------------------------------------
// Node: single probes, assertions, waiting for services.

impl Node {
    /// Probes `target` once from this node with a deadline, and says what happened; never
    /// fails. The building block of the checks below.
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::{Outcome, Probe};
    /// use std::time::Duration;
    ///
    /// #[netns_test(topology = presets::bridge_pair())]
    /// async fn no_web_server_yet(net: Net) {
    ///     let r = net.node("a").probe("b", Probe::Tcp(80), Duration::from_secs(1)).await;
    ///     assert_eq!(r.outcome, Outcome::Refused, "{r}");
    /// }
    /// ```
    pub async fn probe(
        &self,
        target: impl Into<Target>,
        probe: Probe,
        wait: Duration,
    ) -> ProbeResult {
        let names = Names::of(self);
        probe_target(self, &target.into(), probe, wait, Mode::Once, &names).await
    }

    /// Pings `target` (ICMP echo, or ICMPv6 for an IPv6 target) and returns the round-trip
    /// time; re-sends while it waits, gives up after [`REACH_TIMEOUT`]. Replaces
    /// `ping -c1 -W2 TARGET`.
    ///
    /// ```no_run
    /// # use netns_test::{netns_test, presets, Net};
    /// use netns_test::reach::Target;
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
        self.check_reaches_within(target, Probe::Icmp, REACH_TIMEOUT)
            .await
    }

    /// Checks that this node reaches `target` by `probe` within [`REACH_TIMEOUT`]; the
    /// error says from where to where, by what, what happened and the source's routes.
    /// The non-panicking form of [`Node::assert_reaches`].
    pub async fn check_reaches(
        &self,
        target: impl Into<Target>,
        probe: Probe,
    ) -> Result<Duration, ReachError> {
        self.check_reaches_within(target, probe, REACH_TIMEOUT)
            .await
    }

    /// [`Node::check_reaches`] with a deadline of your own.
    pub async fn check_reaches_within(
        &self,
        target: impl Into<Target>,
        probe: Probe,
        timeout: Duration,
    ) -> Result<Duration, ReachError> {
        let names = Names::of(self);
        let r = probe_target(self, &target.into(), probe, timeout, Mode::Once, &names).await;
        if r.outcome.is_reached() {
            Ok(r.elapsed)
        } else {
            Err(ReachError::new(self, r, Claim::Reaches, &names).await)
        }
    }

    /// Checks that this node does *not* reach `target` by `probe`: the probe is sent and
    /// stopped before the target (nothing answers within the isolation wait, or an
    /// unreachable or prohibited answer: [`Outcome::is_blocked`]). Returns what happened
    /// (a test may insist on, say, [`Outcome::Timeout`] rather than
    /// [`Outcome::Prohibited`]). The non-panicking form of [`Node::assert_cannot_reach`].
    ///
    /// The wait is [`ISOLATION_WAIT`], or `NETNS_TEST_ISOLATION_WAIT` when set (see the
    /// [module documentation](super)).
    ///
    /// # Errors
    /// A [`ReachError`] when the target answered ([`Outcome::Reached`]), when it refused
    /// ([`Outcome::Refused`]: the path exists, nothing listens; probe a port where
    /// something does), and when the probe could not be sent ([`Outcome::Failed`]: an
    /// unknown node or name, no address of the probed family, a socket that could not be
    /// opened, an invalid `NETNS_TEST_ISOLATION_WAIT`).
    pub async fn check_cannot_reach(
        &self,
        target: impl Into<Target>,
        probe: Probe,
    ) -> Result<Outcome, ReachError> {
        let target = target.into();
        match default_isolation_wait() {
            Ok((wait, from)) => self.cannot_reach(target, probe, wait, from).await,
            Err(why) => {
                let names = Names::of(self);
                let (to, addr) = target.resolve(&names);
                let result = ProbeResult {
                    from: self.name().to_string(),
                    to,
                    addr: addr.ok(),
                    probe,
                    outcome: Outcome::Failed(why),
                    elapsed: Duration::ZERO,
                    wait: Duration::ZERO,
                    sent: 0,
                    errno: None,
                    icmp: None,
                };
                Err(ReachError::new(self, result, Claim::CannotReach, &names).await)
            }
        }
    }

    /// [`Node::check_cannot_reach`] with a wait of your own (used as given, whatever
    /// `NETNS_TEST_ISOLATION_WAIT` says).
    pub async fn check_cannot_reach_within(
        &self,
        target: impl Into<Target>,
        probe: Probe,
        wait: Duration,
    ) -> Result<Outcome, ReachError> {
        self.cannot_reach(target.into(), probe, wait, WaitFrom::Given)
            .await
    }

    async fn cannot_reach(
        &self,
        target: Target,
        probe: Probe,
        wait: Duration,
        from: WaitFrom,
    ) -> Result<Outcome, ReachError> {
        let names = Names::of(self);
        let r = probe_target(self, &target, probe, wait, Mode::Once, &names).await;
        if r.outcome.is_blocked() {
            Ok(r.outcome)
        } else {
            Err(ReachError::new(self, r, Claim::CannotReach, &names)
                .await
                .with_wait_from(from))
        }
    }

    /// Asserts that this node reaches `target` by `probe` (within [`REACH_TIMEOUT`]);
    /// returns the time the answer took. Replaces `ping -c1 -W2 b`, `nc -z -w2 b 80`.
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
        self.check_reaches(target, probe)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Asserts that this node does not reach `target` by `probe`: the isolation claim
    /// (waits [`ISOLATION_WAIT`], or `NETNS_TEST_ISOLATION_WAIT`, for an answer that must
    /// not come). Replaces `! ping -c1 -W1 con3`.
    ///
    /// # Panics
    /// With the [`ReachError`] message when the target answers, when it refuses (a closed
    /// port proves the path exists: probe a port where something listens, or by ICMP),
    /// and when the probe cannot be sent (a misspelt node, no address of the family, a
    /// socket refused): see [`Node::check_cannot_reach`].
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
        self.check_cannot_reach(target, probe)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until this node reaches `target` by `probe`, retrying through refusals and
    /// unreachable answers (a service still starting, a route about to appear), for at
    /// most `deadline`. Returns how long it took. Replaces `sleep 1` or a retry loop.
    pub async fn wait_until_reaches(
        &self,
        target: impl Into<Target>,
        probe: Probe,
        deadline: Duration,
    ) -> Result<Duration, ReachError> {
        self.wait_reaching(target.into(), probe, deadline, Claim::EventuallyReaches)
            .await
    }

    async fn wait_reaching(
        &self,
        target: Target,
        probe: Probe,
        deadline: Duration,
        claim: Claim,
    ) -> Result<Duration, ReachError> {
        let names = Names::of(self);
        let r = probe_target(self, &target, probe, deadline, Mode::Persist, &names).await;
        if r.outcome.is_reached() {
            Ok(r.elapsed)
        } else {
            Err(ReachError::new(self, r, claim, &names).await)
        }
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
        self.wait_reaching(own.into(), probe, deadline, Claim::Accepts)
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
