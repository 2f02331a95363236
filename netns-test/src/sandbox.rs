//! Gets a test body into fresh namespaces and supervises it.
//!
//! libtest runs tests on threads, and a multi-threaded process cannot enter a new user
//! namespace. So the test function, when called by the runner (the *parent*), re-executes
//! the test binary for just this test (`NAME --exact`) as PID 1 of new user, network,
//! mount and PID namespaces (a raw `clone` with namespace flags, then `execve`). In that *child* the same
//! test function finds `NETNS_TEST_SANDBOX` set, builds the topology and runs the body.
//!
//! The parent relays the child's stdout/stderr into the test's output, kills the whole
//! sandbox on timeout, and turns the child's report (sent over fd 3) into the test's
//! outcome. When the child's PID 1 exits, or is killed, or the parent dies (PDEATHSIG), the
//! kernel kills every process in the sandbox and frees every namespace: nothing is named
//! globally, so nothing can be left behind.
//!
//! The parent alone judges the outcome, `#[should_panic]` included (the attribute is not
//! passed to libtest): only the body's own panic can satisfy it. Before the build, the
//! child raises its soft `RLIMIT_NOFILE` to the hard limit and checks the topology's cost
//! in file descriptors against it (see [`Lab`]).

use std::ffi::CString;
use std::fmt::Debug;
use std::fs::File;
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::net::namespaces_needed;
use crate::net::{Lab, Net};
use crate::topology::Topology;
use crate::{diag, environment, sys};

/// Set in the sandboxed child: the name of the test it runs.
const ENV_SANDBOX: &str = "NETNS_TEST_SANDBOX";
/// Overrides the default timeout of every test.
pub(crate) const ENV_TIMEOUT: &str = "NETNS_TEST_TIMEOUT";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the attribute knows about a test.
#[derive(Debug, Clone, Copy)]
pub struct TestSpec {
    /// `module_path!()` of the test plus `::` plus its name.
    pub path: &'static str,
    /// Timeout from the attribute, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Keep diagnostics for passing tests too.
    pub keep_artifacts: bool,
    /// What the test's `#[should_panic]` asks for. The attribute is not passed on to
    /// libtest: only a panic of the body itself can satisfy it, never a failure of the
    /// sandbox (a timeout, an environment that cannot create namespaces, a topology that
    /// cannot be built).
    pub should_panic: ShouldPanic,
}

/// `#[should_panic]` of a test, as libtest knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShouldPanic {
    /// No `#[should_panic]`: the body must return normally (or `Ok`).
    No,
    /// `#[should_panic]`: the body must panic.
    Yes,
    /// `#[should_panic(expected = "...")]`: the body must panic with a message that
    /// contains this text.
    YesWithMessage(&'static str),
}

/// How the body ended, as the child reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyEnd<'a> {
    Returned,
    Err(&'a str),
    /// The panic message, `None` when the payload was not a string.
    Panicked(Option<&'a str>),
}

/// One message of the child's report to the parent, over the status fd (fd 3). The child
/// sends [`Report::Ready`] once the network is built, then one outcome; when the network
/// cannot be built, [`Report::Setup`] alone. [`Report::Spawn`] comes from the spawned
/// process before it runs the test binary (see [`crate::sys::spawn_sandbox`]), written
/// there without allocating in the same form as [`Report::encode`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Report {
    /// The network is built and the body runs.
    Ready,
    /// The body returned normally (or `Ok`).
    Ok,
    /// The body panicked with this message.
    Panic(String),
    /// The body panicked with a payload that is not a string.
    PanicPayload,
    /// The body returned this error (its `Debug` text).
    Err(String),
    /// The network could not be built: the error's message.
    Setup(String),
    /// A step of the sandbox's spawn failed, before the test binary ran.
    Spawn {
        /// The step, e.g. `execve`.
        step: String,
        /// Its errno.
        errno: i32,
    },
}

impl Report {
    /// The message as sent: a first line naming the kind, then the text, if any.
    fn encode(&self) -> String {
        match self {
            Report::Ready => "ready\n".to_string(),
            Report::Ok => "ok\n".to_string(),
            Report::Panic(msg) => format!("panic\n{msg}"),
            Report::PanicPayload => "panic-payload\n".to_string(),
            Report::Err(msg) => format!("err\n{msg}"),
            Report::Setup(msg) => format!("setup\n{msg}"),
            Report::Spawn { step, errno } => format!("spawn\n{step} errno={errno}"),
        }
    }

    /// Every message of what the child sent (`status`, read to its end): a spawn failure,
    /// or `Ready` and then the outcome, or an outcome alone (a setup failure); a message
    /// that is not complete or not known is left out, and the child's exit is judged.
    fn decode(status: &str) -> Vec<Report> {
        let mut reports = Vec::new();
        if let Some(rest) = status.strip_prefix("spawn\n") {
            let rest = rest.trim();
            let (step, errno) = match rest.rsplit_once(" errno=") {
                Some((step, errno)) => (step, errno.parse().unwrap_or(0)),
                None => (rest, 0),
            };
            reports.push(Report::Spawn {
                step: step.to_string(),
                errno,
            });
            return reports;
        }
        let outcome = match status.strip_prefix("ready\n") {
            Some(rest) => {
                reports.push(Report::Ready);
                rest
            }
            None => status,
        };
        let (kind, msg) = outcome.split_once('\n').unwrap_or((outcome, ""));
        reports.extend(match kind {
            "ok" => Some(Report::Ok),
            "panic" => Some(Report::Panic(msg.to_string())),
            "panic-payload" => Some(Report::PanicPayload),
            "err" => Some(Report::Err(msg.to_string())),
            "setup" => Some(Report::Setup(msg.to_string())),
            _ => None,
        });
        reports
    }

    /// Whether this is a final outcome, after which the child lets go of its output.
    fn is_outcome(&self) -> bool {
        !matches!(self, Report::Ready | Report::Spawn { .. })
    }
}

/// Whether the body's end is the test's expected outcome (libtest's rules for
/// `#[should_panic]`); if not, why, in libtest's words.
pub(crate) fn verdict(should_panic: ShouldPanic, end: BodyEnd<'_>) -> Result<(), String> {
    match (should_panic, end) {
        (ShouldPanic::No, BodyEnd::Returned) => Ok(()),
        (ShouldPanic::No, BodyEnd::Err(msg)) => Err(format!("the test returned an error: {msg}")),
        (ShouldPanic::No, BodyEnd::Panicked(msg)) => Err(format!(
            "the test panicked: {}",
            msg.unwrap_or(NON_STRING_PAYLOAD)
        )),
        (ShouldPanic::Yes, BodyEnd::Panicked(_)) => Ok(()),
        (ShouldPanic::YesWithMessage(expected), BodyEnd::Panicked(Some(msg))) => {
            if msg.contains(expected) {
                Ok(())
            } else {
                Err(format!(
                    "panic did not contain expected string\n      panic message: `{msg:?}`,\n \
                     expected substring: `{expected:?}`"
                ))
            }
        }
        (ShouldPanic::YesWithMessage(expected), BodyEnd::Panicked(None)) => Err(format!(
            "expected panic with string value,\n found non-string value\n     expected substring: \
             `{expected:?}`"
        )),
        (_, BodyEnd::Returned) => Err("test did not panic as expected".to_string()),
        (_, BodyEnd::Err(msg)) => Err(format!(
            "test did not panic as expected: it returned an error: {msg}"
        )),
    }
}

const NON_STRING_PAYLOAD: &str = "the test panicked with a non-string payload";

/// The body's value, checked where the test's return type is written (the expansion
/// spans this call there): `()` or `Result<T, E: Debug>`. Its own type is concrete, so
/// that a wrong return type is reported once, at the type.
pub fn test_result<R: TestResult>(result: R) -> Outcome {
    Outcome(result.into_outcome())
}

/// A body's value judged by [`test_result`]: the `Debug` text of its error, if any.
#[derive(Debug)]
pub struct Outcome(Result<(), String>);

impl TestResult for Outcome {
    fn into_outcome(self) -> Result<(), String> {
        self.0
    }
}

/// What a test body may return: `()` or `Result<T, E: Debug>`.
#[diagnostic::on_unimplemented(
    message = "a `#[netns_test]` function must return `()` or `Result<T, E: Debug>`, not `{Self}`"
)]
pub trait TestResult {
    /// `Err` with the error's `Debug` text.
    fn into_outcome(self) -> Result<(), String>;
}

impl TestResult for () {
    fn into_outcome(self) -> Result<(), String> {
        Ok(())
    }
}

impl<T, E: Debug> TestResult for Result<T, E> {
    fn into_outcome(self) -> Result<(), String> {
        self.map(drop).map_err(|e| format!("{e:?}"))
    }
}

/// Runs a synchronous test body in a sandbox.
///
/// A failure before the body runs (a topology that cannot be planned, a bad
/// `NETNS_TEST_TIMEOUT`, a sandbox that cannot be created) is reported at the caller: the
/// test, not this crate.
#[track_caller]
pub fn run_sync<R: TestResult>(
    spec: TestSpec,
    topology: impl FnOnce() -> Topology,
    body: impl FnOnce(Net) -> R,
) {
    match role(&spec) {
        Role::Parent => parent(&spec, topology),
        Role::Child => child(&spec, topology, |net| body(net).into_outcome()),
    }
}

/// Runs an async test body in a sandbox, on a tokio runtime standing in the host node.
///
/// Failures before the body runs are reported at the caller, as for [`run_sync`].
#[track_caller]
pub fn run_async<R: TestResult, F: Future<Output = R>>(
    spec: TestSpec,
    topology: impl FnOnce() -> Topology,
    body: impl FnOnce(Net) -> F,
) {
    match role(&spec) {
        Role::Parent => parent(&spec, topology),
        Role::Child => child(&spec, topology, |net| {
            let rt = net.handle().clone();
            rt.block_on(body(net)).into_outcome()
        }),
    }
}

enum Role {
    Parent,
    Child,
}

/// The name libtest knows the test by: its path without the crate name.
pub(crate) fn test_name(path: &str) -> &str {
    path.split_once("::").map_or(path, |(_, rest)| rest)
}

fn role(spec: &TestSpec) -> Role {
    match std::env::var_os(ENV_SANDBOX) {
        None => Role::Parent,
        Some(name) if name.as_bytes() == test_name(spec.path).as_bytes() => Role::Child,
        Some(name) => panic!(
            "netns-test: the sandbox for {:?} ran test {:?}: two tests share a name",
            name,
            test_name(spec.path)
        ),
    }
}

/// Why a text is not a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DurationError {
    Invalid,
    Zero,
    TooLarge,
}

/// The attribute's grammar of a timeout (`netns-test-macros`, `config.rs`, has the same
/// function; both are tested against its `timeout-cases.txt`): ASCII digits followed by
/// `ms`, `s` or `m`; with `bare_seconds`, digits alone are seconds.
fn parse_duration_ms(text: &str, bare_seconds: bool) -> Result<u64, DurationError> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let factor: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "" if bare_seconds => 1_000,
        _ => return Err(DurationError::Invalid),
    };
    if number.is_empty() {
        return Err(DurationError::Invalid);
    }
    let ms = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or(DurationError::TooLarge)?;
    if ms == 0 {
        return Err(DurationError::Zero);
    }
    Ok(ms)
}

/// A value of `NETNS_TEST_TIMEOUT`: the attribute's grammar, as a string (`"30s"`, or
/// `"30"` for the integer form).
fn parse_env_timeout(text: &str) -> Result<Duration, String> {
    let forms = "a duration like \"500ms\", \"30s\" or \"2m\", or an integer number of seconds \
                 like \"30\"";
    match parse_duration_ms(text, true) {
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(DurationError::Invalid) => Err(format!(
            "netns-test: {ENV_TIMEOUT}={text:?} is not a timeout: expected {forms} (the grammar \
             of #[netns_test(timeout = ...)])"
        )),
        Err(DurationError::Zero) => Err(format!(
            "netns-test: {ENV_TIMEOUT}={text:?}: the timeout must be greater than zero; set {forms}, \
             or unset {ENV_TIMEOUT} for the default of {DEFAULT_TIMEOUT:?}"
        )),
        Err(DurationError::TooLarge) => Err(format!(
            "netns-test: {ENV_TIMEOUT}={text:?}: the timeout is too large: it must fit in a u64 \
             number of milliseconds"
        )),
    }
}

/// The test's timeout: the attribute's, else `NETNS_TEST_TIMEOUT`, else the default. A
/// `NETNS_TEST_TIMEOUT` that is not a timeout is an error even where the attribute sets
/// one: a misspelt setting must not go unnoticed.
pub(crate) fn timeout(spec: &TestSpec) -> Result<Duration, String> {
    let env = std::env::var_os(ENV_TIMEOUT);
    pick_timeout(spec, env.as_deref().map(|v| v.to_string_lossy()).as_deref())
}

fn pick_timeout(spec: &TestSpec, env: Option<&str>) -> Result<Duration, String> {
    let env = env.map(parse_env_timeout).transpose()?;
    Ok(match spec.timeout_ms {
        Some(ms) => Duration::from_millis(ms),
        None => env.unwrap_or(DEFAULT_TIMEOUT),
    })
}

// ---------------------------------------------------------------------------------------
// Parent: spawn, relay, judge.

#[track_caller]
fn parent(spec: &TestSpec, topology: impl FnOnce() -> Topology) {
    // A wrong topology fails here, before any namespace exists. (Panics here name the
    // caller's location: run_sync/run_async and this function are #[track_caller], and no
    // closure stands in between.)
    let plan = match topology().plan() {
        Ok(plan) => plan,
        Err(e) => panic!("{e}"),
    };
    let name = test_name(spec.path);
    let timeout = match timeout(spec) {
        Ok(timeout) => timeout,
        Err(e) => panic!("{e}"),
    };
    let max_net_ns = environment::max_net_namespaces();
    if let Err(e) = environment::check_net_namespaces(namespaces_needed(&plan), max_net_ns) {
        panic!("{e}");
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => panic!("netns-test: cannot find the test binary: {e}"),
    };
    let cstring = |s: &[u8]| CString::new(s).expect("no NUL in arguments");
    // Terse format: the runner prints nothing before the body's output, only one
    // character after it, so that the body's lines come through whole.
    let args: [&[u8]; 7] = [
        exe.as_os_str().as_bytes(),
        name.as_bytes(),
        b"--exact",
        b"--nocapture",
        b"--include-ignored",
        b"--test-threads=1",
        b"--format=terse",
    ];
    let mut envp: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != ENV_SANDBOX && k != environment::ENV_OUTER_MAX_NET_NS)
        .map(|(k, v)| cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect();
    envp.push(cstring(format!("{ENV_SANDBOX}={name}").as_bytes()));
    if let Some(max) = max_net_ns {
        envp.push(cstring(
            format!("{}={max}", environment::ENV_OUTER_MAX_NET_NS).as_bytes(),
        ));
    }
    let cmd = sys::SandboxCmd {
        exe: cstring(exe.as_os_str().as_bytes()),
        argv: args.iter().map(|a| cstring(a)).collect(),
        envp,
    };
    let child = match sys::spawn_sandbox(&cmd, |pid| {
        crate::id_map::write(pid, crate::id_map::sandbox_plan())
    }) {
        Ok(c) => c,
        Err((step, e)) => panic!("{}", environment::diagnose(&e, step)),
    };
    let relayed = relay(&child, name, timeout);
    judge(relayed, spec, name, timeout);
}

/// What the parent got from the child.
struct Relayed {
    /// The child's report.
    status: Vec<Report>,
    /// How the child ended; `None` when it reported an outcome and is reaped in the
    /// background.
    exit: Option<sys::Exit>,
    timed_out: bool,
}

/// Relays the child's output until it ends or the timeout kills it.
fn relay(child: &sys::SandboxChild, name: &str, timeout: Duration) -> Relayed {
    let mut deadline = Instant::now() + timeout;
    let pipes = [&child.stdout, &child.stderr, &child.status];
    let fds = pipes.map(AsFd::as_fd);
    let mut open = [true; 3];
    let mut pending: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut status = Vec::new();
    let mut timed_out = false;
    let mut buf = vec![0u8; 64 * 1024];
    while open.iter().any(|&o| o) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            // A child that runs its body writes its diagnostics on this signal and then
            // exits (see crate::diag); it gets a grace period for that.
            if !timed_out
                && Report::decode(&String::from_utf8_lossy(&status)).first() == Some(&Report::Ready)
                && sys::send_signal(child.pid, diag::DUMP_SIGNAL).is_ok()
            {
                timed_out = true;
                deadline = Instant::now() + diag::DUMP_GRACE;
                continue;
            }
            timed_out = true;
            sys::kill(child.pid);
            break;
        }
        let live: Vec<usize> = (0..3).filter(|&i| open[i]).collect();
        let ready = sys::poll_readable(
            &live.iter().map(|&i| fds[i]).collect::<Vec<_>>(),
            left.as_millis().min(i32::MAX as u128) as i32,
        )
        .unwrap_or_else(|e| panic!("netns-test: poll: {e}"));
        for (k, &i) in live.iter().enumerate() {
            if !ready[k] {
                continue;
            }
            let n = read_some(pipes[i], &mut buf);
            if n == 0 {
                open[i] = false;
                continue;
            }
            if i == 2 {
                status.extend_from_slice(&buf[..n]);
            } else {
                pending[i].extend_from_slice(&buf[..n]);
                emit_lines(&mut pending[i], i, name, false);
            }
        }
    }
    for (i, p) in pending.iter_mut().enumerate() {
        emit_lines(p, i, name, true);
    }
    let status = Report::decode(&String::from_utf8_lossy(&status));
    // A child that reported its outcome has released its output; what is left of its
    // exit (closing capture sockets waits for an RCU grace period, namespaces are freed
    // asynchronously anyway) need not delay the test. It is reaped in the background.
    let reaped_in_background = !timed_out && status.iter().any(Report::is_outcome) && {
        let pid = child.pid;
        // Without a thread to spare (a thread limit), it is waited for here.
        std::thread::Builder::new()
            .name("netns-test-reaper".to_string())
            .spawn(move || sys::wait(pid))
            .is_ok()
    };
    let exit = if reaped_in_background {
        None
    } else {
        Some(sys::wait(child.pid).unwrap_or_else(|e| panic!("netns-test: waitpid: {e}")))
    };
    Relayed {
        status,
        exit,
        timed_out,
    }
}

/// One read from a pipe; 0 at its end (or on an error, which ends it too).
fn read_some(mut file: &File, buf: &mut [u8]) -> usize {
    loop {
        match file.read(buf) {
            Ok(n) => return n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return 0,
        }
    }
}

/// Prints complete lines (all of it at the end) to the test's stdout or stderr, through
/// `print!` so that libtest captures it. On stdout, the child runner's own lines about
/// the one test it ran are dropped.
fn emit_lines(pending: &mut Vec<u8>, stream: usize, name: &str, all: bool) {
    let cut = if all {
        pending.len()
    } else {
        match pending.iter().rposition(|&b| b == b'\n') {
            Some(p) => p + 1,
            None => return,
        }
    };
    let chunk: Vec<u8> = pending.drain(..cut).collect();
    let text = String::from_utf8_lossy(&chunk);
    for line in text.split_inclusive('\n') {
        if stream == 0 && is_runner_chatter(line.trim_end(), name) {
            continue;
        }
        if stream == 0 {
            print!("{line}");
        } else {
            eprint!("{line}");
        }
    }
}

fn is_runner_chatter(line: &str, name: &str) -> bool {
    matches!(
        line,
        "running 1 test" | "." | "F" | "i" | "failures:" | "successes:" | ""
    ) || line.starts_with("test result: ")
        || line == format!("    {name}")
}

/// Turns the child's report into the test's outcome. Only the body's own end is judged
/// against `#[should_panic]`; every failure of the sandbox fails the test.
#[track_caller]
fn judge(report: Relayed, spec: &TestSpec, name: &str, timeout: Duration) {
    let status = report.status;
    if let Some(Report::Spawn { step, errno }) = status.first() {
        panic!(
            "{}",
            environment::diagnose(
                &std::io::Error::from_raw_os_error(*errno),
                &format!("setting up the sandbox ({step} errno={errno})")
            )
        );
    }
    let ready = status.first() == Some(&Report::Ready);
    let outcome = status.iter().find(|r| r.is_outcome());
    if report.timed_out {
        panic!(
            "netns-test: test {name} timed out after {timeout:?}; its sandbox and every process in it were \
             killed (raise it with #[netns_test(timeout = \"...\")] or {ENV_TIMEOUT})"
        );
    }
    let end = match outcome {
        Some(Report::Ok) => BodyEnd::Returned,
        Some(Report::Panic(msg)) => BodyEnd::Panicked(Some(msg)),
        Some(Report::PanicPayload) => BodyEnd::Panicked(None),
        Some(Report::Err(msg)) => BodyEnd::Err(msg),
        Some(Report::Setup(msg)) => {
            panic!("netns-test could not build the topology of {name}: {msg}")
        }
        Some(Report::Ready | Report::Spawn { .. }) | None => match report.exit.expect("waited for a child that reported nothing") {
            sys::Exit::Signal(sig) => panic!(
                "netns-test: the sandbox of {name} was killed by signal {sig} ({}) before it reported an outcome",
                signal_name(sig)
            ),
            sys::Exit::Code(code) if ready => panic!(
                "netns-test: the sandbox of {name} exited with code {code} while the test ran, without \
                 reporting an outcome (std::process::exit in the test?)"
            ),
            sys::Exit::Code(code) => panic!(
                "netns-test: the sandbox of {name} exited with code {code} without running the test: \
                 the re-executed test binary did not find a test named {name:?} (is the test inside a \
                 function or macro that changes its path?)"
            ),
        },
    };
    match (spec.should_panic, end) {
        // The body's own panic fails the test as it was: its message and location are in
        // the relayed output.
        (ShouldPanic::No, BodyEnd::Panicked(msg)) => {
            resume_unwind(Box::new(msg.unwrap_or("").to_string()))
        }
        (should_panic, end) => {
            if let Err(why) = verdict(should_panic, end) {
                panic!("{why}");
            }
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        _ => "see `kill -l`",
    }
}

// ---------------------------------------------------------------------------------------
// Child: build, run, report.

/// The report channel to the parent (fd 3).
struct Status(File);

impl Status {
    fn take() -> Status {
        Status(sys::take_status_fd())
    }

    fn send(&mut self, report: &Report) {
        // The parent reads to EOF; a failed write means it is gone, and PDEATHSIG follows.
        let _ = self.0.write_all(report.encode().as_bytes());
    }

    /// Sends the final outcome and lets go of everything the parent reads (the report
    /// channel, stdout, stderr), so that it can judge without waiting for this process
    /// to finish exiting. What the runner prints after this goes nowhere: the parent
    /// filters it anyway.
    fn finish(mut self, report: &Report) {
        self.send(report);
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        sys::release_stdio();
    }
}

/// The failure of a test that called `harness::ignore` in the default mode.
fn ignored_in_default_mode(reason: &str) -> String {
    format!(
        "netns-test: the test asked to be ignored at run time ({reason}), which only the \
         harness mode can report (libtest decides what is ignored before the run): it fails \
         instead of passing"
    )
}

/// The message of a panic, `None` for a payload that is not a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    if let Some(s) = payload.downcast_ref::<&str>() {
        Some(s.to_string())
    } else {
        payload.downcast_ref::<String>().cloned()
    }
}

/// Sets up the sandbox's mount namespace: the lab's name files (see [`Lab`]), a procfs of
/// this PID namespace and the sandbox's hostname.
fn prepare_mounts() -> Result<(), Error> {
    crate::net::mount_name_files()?;
    // A fresh /proc shows only the sandbox's processes; some container runtimes forbid it
    // (masked /proc paths), and the old one still works then.
    let _ = sys::mount_proc();
    let _ = sys::set_hostname("netns-test");
    Ok(())
}

fn child(
    spec: &TestSpec,
    topology: impl FnOnce() -> Topology,
    body: impl FnOnce(Net) -> Result<(), String>,
) {
    let mut status = Status::take();
    // Before anything else opens a file: a topology of many nodes needs more than the
    // usual soft limit of 1024.
    let nofile = environment::raise_nofile();
    let setup = (|| -> Result<Net, Error> {
        let topology = topology();
        prepare_mounts()?;
        Lab::in_sandbox(nofile).build_here(&topology, false)
    })();
    let net = match setup {
        Ok(net) => net,
        Err(e) => {
            status.finish(&Report::Setup(e.to_string()));
            panic!("{e}");
        }
    };
    // Capture starts after the build, before the body; the folder is written on failure.
    // (The parent has checked the timeout already.)
    let diag = diag::Diag::start(
        spec.path,
        timeout(spec).unwrap_or(DEFAULT_TIMEOUT),
        &net,
        true,
    );
    status.send(&Report::Ready);
    // Held until the body ends: the network lives as long as the test, whatever the body
    // does with its own handle.
    let keep = net.clone();
    let mut outcome = catch_unwind(AssertUnwindSafe(|| body(net)));
    drop(keep);
    // `harness::ignore`: libtest has no outcome for it, so the test fails, with the reason.
    if let Some(reason) = outcome
        .as_ref()
        .err()
        .and_then(|p| crate::harness::Ignored::reason(&**p))
    {
        outcome = Ok(Err(ignored_in_default_mode(reason)));
    }
    let message = match &outcome {
        Err(payload) => panic_message(&**payload),
        Ok(_) => None,
    };
    let end = match &outcome {
        Ok(Ok(())) => BodyEnd::Returned,
        Ok(Err(msg)) => BodyEnd::Err(msg),
        Err(_) => BodyEnd::Panicked(message.as_deref()),
    };
    let report = match end {
        BodyEnd::Returned => Report::Ok,
        BodyEnd::Err(msg) => Report::Err(msg.to_string()),
        BodyEnd::Panicked(Some(msg)) => Report::Panic(msg.to_string()),
        BodyEnd::Panicked(None) => Report::PanicPayload,
    };
    // The parent judges; the same verdict decides here whether the diagnostics are kept.
    match verdict(spec.should_panic, end) {
        // A passing test reports first: releasing the capture sockets waits for an RCU
        // grace period, which the parent need not wait for.
        Ok(()) if diag.keeps_when_passing(spec.keep_artifacts) => {
            diag.passed(spec.keep_artifacts);
            status.finish(&report);
        }
        Ok(()) => {
            status.finish(&report);
            diag.passed(spec.keep_artifacts);
        }
        Err(why) => {
            diag.failed(&why);
            status.finish(&report);
        }
    }
    // This process's own runner sees the body's end too (the parent filters its output).
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => panic!("the test returned an error: {msg}"),
        Err(payload) => resume_unwind(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_name_drops_the_crate() {
        assert_eq!(test_name("my_crate::net::a_reaches_b"), "net::a_reaches_b");
        assert_eq!(test_name("it::a"), "a");
    }

    /// The grammar shared with the attribute (its crate tests its own parser against the
    /// same file).
    fn timeout_cases() -> Vec<(String, Result<u64, DurationError>)> {
        include_str!("../../netns-test-macros/timeout-cases.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (text, expected) = l.rsplit_once(" => ").expect("`\"TEXT\" => RESULT`");
                let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
                let expected = match expected {
                    "invalid" => Err(DurationError::Invalid),
                    "zero" => Err(DurationError::Zero),
                    "too large" => Err(DurationError::TooLarge),
                    ms => Ok(ms.parse().expect("milliseconds")),
                };
                (text.expect("a quoted text").to_string(), expected)
            })
            .collect()
    }

    #[test]
    fn netns_test_timeout_has_the_attributes_grammar() {
        let cases = timeout_cases();
        assert!(cases.len() > 20, "{cases:?}");
        for (text, expected) in cases {
            assert_eq!(parse_duration_ms(&text, true), expected, "{text:?}");
        }
    }

    #[test]
    fn a_bad_netns_test_timeout_names_the_variable() {
        let spec = TestSpec {
            path: "it::t",
            timeout_ms: Some(1000),
            keep_artifacts: false,
            should_panic: ShouldPanic::No,
        };
        for zero in ["0", "0ms", "0s"] {
            let e = pick_timeout(&spec, Some(zero)).unwrap_err();
            assert!(e.contains(&format!("NETNS_TEST_TIMEOUT=\"{zero}\"")), "{e}");
            assert!(e.contains("must be greater than zero"), "{e}");
            assert!(!e.contains("timed out"), "{e}");
        }
        let e = pick_timeout(&spec, Some("soon")).unwrap_err();
        assert!(
            e.contains("NETNS_TEST_TIMEOUT=\"soon\" is not a timeout"),
            "{e}"
        );
        assert!(e.contains("\"500ms\", \"30s\" or \"2m\""), "{e}");
        // The attribute wins over a valid variable.
        assert_eq!(pick_timeout(&spec, Some("90")), Ok(Duration::from_secs(1)));
        let default = TestSpec {
            timeout_ms: None,
            ..spec
        };
        assert_eq!(
            pick_timeout(&default, Some("90")),
            Ok(Duration::from_secs(90))
        );
        assert_eq!(
            pick_timeout(&default, Some("250ms")),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(pick_timeout(&default, None), Ok(DEFAULT_TIMEOUT));
    }

    #[test]
    fn should_panic_is_judged_as_libtest_does() {
        use BodyEnd::{Panicked, Returned};
        use ShouldPanic::{No, Yes, YesWithMessage};
        assert_eq!(verdict(No, Returned), Ok(()));
        assert_eq!(verdict(Yes, Panicked(Some("boom"))), Ok(()));
        assert_eq!(verdict(Yes, Panicked(None)), Ok(()));
        assert_eq!(
            verdict(YesWithMessage("oo"), Panicked(Some("boom"))),
            Ok(())
        );
        assert_eq!(
            verdict(Yes, Returned),
            Err("test did not panic as expected".to_string())
        );
        assert_eq!(
            verdict(YesWithMessage("x"), Returned),
            Err("test did not panic as expected".to_string())
        );
        assert_eq!(
            verdict(YesWithMessage("bang"), Panicked(Some("boom"))),
            Err(
                "panic did not contain expected string\n      panic message: `\"boom\"`,\n \
                 expected substring: `\"bang\"`"
                    .to_string()
            )
        );
        assert!(verdict(YesWithMessage("bang"), Panicked(None))
            .unwrap_err()
            .contains("expected panic with string value"));
        assert!(verdict(Yes, BodyEnd::Err("no"))
            .unwrap_err()
            .contains("did not panic as expected"));
        assert_eq!(
            verdict(No, BodyEnd::Err("no")),
            Err("the test returned an error: no".to_string())
        );
    }

    #[test]
    fn every_report_round_trips() {
        let outcomes = [
            Report::Ok,
            Report::Panic("boom\nat src/lib.rs:3".to_string()),
            Report::Panic(String::new()),
            Report::PanicPayload,
            Report::Err("Timeout(\"x\")\n".to_string()),
            Report::Setup("invalid topology:\n  - a".to_string()),
        ];
        for outcome in &outcomes {
            assert!(outcome.is_outcome(), "{outcome:?}");
            assert_eq!(
                Report::decode(&outcome.encode()),
                std::slice::from_ref(outcome)
            );
            let sent = Report::Ready.encode() + &outcome.encode();
            assert_eq!(Report::decode(&sent), [Report::Ready, outcome.clone()]);
        }
        assert_eq!(Report::decode(&Report::Ready.encode()), [Report::Ready]);
        let spawn = Report::Spawn {
            step: "prctl(PR_SET_PDEATHSIG)".to_string(),
            errno: libc::EPERM,
        };
        assert!(!spawn.is_outcome() && !Report::Ready.is_outcome());
        assert_eq!(Report::decode(&spawn.encode()), [spawn]);
        // As the spawned process writes it, without allocating (crate::sys).
        assert_eq!(
            Report::decode("spawn\nexecve errno=2"),
            [Report::Spawn {
                step: "execve".to_string(),
                errno: 2
            }]
        );
        // Nothing, or a message cut short: no outcome, the exit is judged.
        assert_eq!(Report::decode(""), []);
        assert_eq!(Report::decode("ready\npan"), [Report::Ready]);
    }

    #[test]
    fn runner_chatter_is_recognised_but_user_lines_are_not() {
        assert!(is_runner_chatter("running 1 test", "a::b"));
        assert!(is_runner_chatter(
            "test result: ok. 1 passed; 0 failed",
            "a::b"
        ));
        assert!(!is_runner_chatter("test vectors loaded", "a::b"));
    }
}
