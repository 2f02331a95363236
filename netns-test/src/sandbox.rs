//! Gets a test body into fresh namespaces and supervises it.
//!
//! libtest runs tests on threads, and a multi-threaded process cannot enter a new user
//! namespace. So the test function, when called by the runner (the *parent*), re-executes
//! the test binary for just this test (`NAME --exact`) as PID 1 of new user, network,
//! mount and PID namespaces (see [`crate::sys::spawn_sandbox`]). In that *child* the same
//! test function finds `NETNS_TEST_SANDBOX` set, builds the topology and runs the body.
//!
//! The parent relays the child's stdout/stderr into the test's output, kills the whole
//! sandbox on timeout, and turns the child's report (sent over fd 3) into the test's
//! outcome. When the child's PID 1 exits, or is killed, or the parent dies (PDEATHSIG), the
//! kernel kills every process in the sandbox and frees every namespace: nothing is named
//! globally, so nothing can be left behind.

use std::ffi::CString;
use std::fmt::Debug;
use std::fs::File;
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::net::Net;
use crate::topology::Topology;
use crate::{diag, dns, environment, kernel, sys};

/// Set in the sandboxed child: the name of the test it runs.
const ENV_SANDBOX: &str = "NETNS_TEST_SANDBOX";
/// Overrides the default timeout of every test.
const ENV_TIMEOUT: &str = "NETNS_TEST_TIMEOUT";
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
    /// The test carries `#[should_panic]`: a panic is its expected outcome.
    pub should_panic: bool,
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
pub fn run_sync<R: TestResult>(
    spec: TestSpec,
    topology: impl FnOnce() -> Topology,
    body: impl FnOnce(Net) -> R,
) {
    match role(&spec) {
        Role::Parent => parent(&spec, topology),
        Role::Child => child(&spec, topology, |net, _| body(net).into_outcome()),
    }
}

/// Runs an async test body in a sandbox, on a tokio runtime standing in the host node.
pub fn run_async<R: TestResult, F: Future<Output = R>>(
    spec: TestSpec,
    topology: impl FnOnce() -> Topology,
    body: impl FnOnce(Net) -> F,
) {
    match role(&spec) {
        Role::Parent => parent(&spec, topology),
        Role::Child => child(&spec, topology, |net, rt| {
            rt.block_on(body(net)).into_outcome()
        }),
    }
}

enum Role {
    Parent,
    Child,
}

/// The name libtest knows the test by: its path without the crate name.
fn test_name(path: &str) -> &str {
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

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().ok()?;
    match unit {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        _ => None,
    }
}

fn timeout(spec: &TestSpec) -> Duration {
    if let Some(ms) = spec.timeout_ms {
        return Duration::from_millis(ms);
    }
    match std::env::var(ENV_TIMEOUT) {
        Ok(s) => parse_duration(&s).unwrap_or_else(|| {
            panic!("{ENV_TIMEOUT}={s:?} is not a duration like \"30s\", \"500ms\" or \"2m\"")
        }),
        Err(_) => DEFAULT_TIMEOUT,
    }
}

// ---------------------------------------------------------------------------------------
// Parent: spawn, relay, judge.

fn parent(spec: &TestSpec, topology: impl FnOnce() -> Topology) {
    // A wrong topology fails here, before any namespace exists.
    if let Err(e) = topology().plan() {
        panic!("{e}");
    }
    let name = test_name(spec.path);
    let timeout = timeout(spec);
    let exe = std::env::current_exe()
        .unwrap_or_else(|e| panic!("netns-test: cannot find the test binary: {e}"));
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
        .filter(|(k, _)| k != ENV_SANDBOX)
        .map(|(k, v)| cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect();
    envp.push(cstring(format!("{ENV_SANDBOX}={name}").as_bytes()));
    let cmd = sys::SandboxCmd {
        exe: cstring(exe.as_os_str().as_bytes()),
        argv: args.iter().map(|a| cstring(a)).collect(),
        envp,
    };
    let child = match sys::spawn_sandbox(&cmd) {
        Ok(c) => c,
        Err(e) => panic!(
            "{}",
            environment::diagnose(&e, "creating the sandbox (clone with namespace flags)")
        ),
    };
    let report = relay(&child, name, timeout);
    judge(report, name, timeout);
}

struct Report {
    status: String,
    /// How the child ended; `None` when it reported an outcome and is reaped in the
    /// background.
    exit: Option<sys::Exit>,
    timed_out: bool,
}

/// Relays the child's output until it ends or the timeout kills it.
fn relay(child: &sys::SandboxChild, name: &str, timeout: Duration) -> Report {
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
                && status.starts_with(b"ready\n")
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
    let status = String::from_utf8_lossy(&status).into_owned();
    // A child that reported its outcome has released its output; what is left of its
    // exit (closing capture sockets waits for an RCU grace period, namespaces are freed
    // asynchronously anyway) need not delay the test. It is reaped in the background.
    let exit = if !timed_out && outcome_reported(&status) {
        let pid = child.pid;
        std::thread::spawn(move || sys::wait(pid));
        None
    } else {
        Some(sys::wait(child.pid).unwrap_or_else(|e| panic!("netns-test: waitpid: {e}")))
    };
    Report {
        status,
        exit,
        timed_out,
    }
}

/// Whether the report holds a final outcome.
fn outcome_reported(status: &str) -> bool {
    let after_ready = status.strip_prefix("ready\n").unwrap_or(status);
    let outcome = after_ready.split('\n').next().unwrap_or("");
    matches!(outcome, "ok" | "panic" | "err" | "setup")
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

fn judge(report: Report, name: &str, timeout: Duration) {
    let status = report.status;
    let (head, rest) = status.split_once('\n').unwrap_or((status.as_str(), ""));
    if head == "spawn" {
        let step = rest.trim();
        let errno = step
            .rsplit_once("errno=")
            .and_then(|(_, e)| e.parse::<i32>().ok())
            .unwrap_or(0);
        panic!(
            "{}",
            environment::diagnose(
                &std::io::Error::from_raw_os_error(errno),
                &format!("setting up the sandbox ({step})")
            )
        );
    }
    let after_ready = if head == "ready" {
        rest
    } else {
        status.as_str()
    };
    let (outcome, msg) = after_ready.split_once('\n').unwrap_or((after_ready, ""));
    if report.timed_out {
        panic!(
            "netns-test: test {name} timed out after {timeout:?}; its sandbox and every process in it were \
             killed (raise it with #[netns_test(timeout = \"...\")] or {ENV_TIMEOUT})"
        );
    }
    match outcome {
        "ok" => {}
        "panic" => resume_unwind(Box::new(msg.to_string())),
        "err" => panic!("the test returned an error: {msg}"),
        "setup" => panic!("netns-test could not build the topology of {name}: {msg}"),
        _ => match report.exit.expect("waited for a child that reported nothing") {
            sys::Exit::Signal(sig) => panic!(
                "netns-test: the sandbox of {name} was killed by signal {sig} ({}) before it reported an outcome",
                signal_name(sig)
            ),
            sys::Exit::Code(code) if head == "ready" => panic!(
                "netns-test: the sandbox of {name} exited with code {code} while the test ran, without \
                 reporting an outcome (std::process::exit in the test?)"
            ),
            sys::Exit::Code(code) => panic!(
                "netns-test: the sandbox of {name} exited with code {code} without running the test: \
                 the re-executed test binary did not find a test named {name:?} (is the test inside a \
                 function or macro that changes its path?)"
            ),
        },
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

    fn send(&mut self, msg: &str) {
        // The parent reads to EOF; a failed write means it is gone, and PDEATHSIG follows.
        let _ = self.0.write_all(msg.as_bytes());
    }

    /// Sends the final outcome and lets go of everything the parent reads (the report
    /// channel, stdout, stderr), so that it can judge without waiting for this process
    /// to finish exiting. What the runner prints after this goes nowhere: the parent
    /// filters it anyway.
    fn finish(mut self, msg: &str) {
        self.send(msg);
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        sys::release_stdio();
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the test panicked with a non-string payload".to_string()
    }
}

/// Sets up the mount namespace: private mounts, a procfs of this PID namespace, and
/// in-memory `/etc/hosts` and `/etc/resolv.conf` that name the topology's nodes.
/// Where per-node files (a node's own resolv.conf) live inside the sandbox: a tmpfs
/// mounted over `/run` when some node has one.
pub(crate) const NODE_FILES: &str = "/run/netns-test";

fn prepare_mounts(plan: &crate::topology::Plan) -> Result<(), Error> {
    sys::make_mounts_private().map_err(|e| Error::sys("making mounts private", e))?;
    // A fresh /proc shows only the sandbox's processes; some container runtimes forbid it
    // (masked /proc paths), and the old one still works then.
    let _ = sys::mount_proc();
    // Names come from each node's own responder at 127.0.0.11 (see dns.rs), through
    // glibc's dns module even where the machine routes names elsewhere (nss-resolve).
    let hosts = "127.0.0.1\tlocalhost netns-test\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    let resolv = format!(
        "# netns-test sandbox: every node asks its own name service.\nnameserver {}\noptions ndots:0 timeout:1 attempts:2\n",
        dns::ADDR
    );
    let nsswitch = match std::fs::read_to_string("/etc/nsswitch.conf") {
        Ok(text) => {
            text.lines()
                .map(|l| {
                    if l.trim_start().starts_with("hosts:") {
                        "hosts: files dns"
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        }
        Err(_) => "hosts: files dns\n".to_string(),
    };
    let files: [(&Path, &[u8]); 3] = [
        (Path::new("/etc/hosts"), hosts.as_bytes()),
        (Path::new("/etc/resolv.conf"), resolv.as_bytes()),
        (Path::new("/etc/nsswitch.conf"), nsswitch.as_bytes()),
    ];
    let failed = sys::bind_memfiles(Path::new("/tmp"), &files)
        .map_err(|e| Error::sys("mounting a tmpfs on /tmp", e))?;
    // /etc/nsswitch.conf may be missing (glibc's default then asks dns); the other two
    // must be ours.
    if let Some((path, e)) = failed
        .into_iter()
        .find(|(p, _)| p != Path::new("/etc/nsswitch.conf"))
    {
        return Err(Error::sys(
            format!("mounting the sandbox's {}", path.display()),
            e,
        ));
    }
    // Per-node files on a sandbox-private /run (it hides the machine's /run, and with it
    // sockets like nscd's that would answer names from outside the sandbox).
    if plan.nodes.iter().any(|n| n.resolv_conf.is_some()) {
        sys::mount_tmpfs(Path::new("/run"))
            .map_err(|e| Error::sys("mounting a tmpfs on /run", e))?;
        for node in &plan.nodes {
            if let Some(text) = &node.resolv_conf {
                let dir = Path::new(NODE_FILES).join(&node.name);
                std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(dir.join("resolv.conf"), text))
                    .map_err(|e| {
                        Error::sys(
                            format!("writing the resolv.conf of node {:?}", node.name),
                            e,
                        )
                    })?;
            }
        }
    }
    let _ = sys::set_hostname("netns-test");
    Ok(())
}

fn child(
    spec: &TestSpec,
    topology: impl FnOnce() -> Topology,
    body: impl FnOnce(Net, &tokio::runtime::Runtime) -> Result<(), String>,
) {
    let mut status = Status::take();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("netns-test-host")
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("netns-test: starting the runtime: {e}"));
    let setup = (|| -> Result<Net, Error> {
        let start = Instant::now();
        let plan = topology().plan()?;
        prepare_mounts(&plan)?;
        let index = kernel::ifindexes(&plan);
        let ns = {
            let _guard = rt.enter();
            kernel::open_namespaces(&plan)?
        };
        rt.block_on(kernel::build(&plan, &ns, &index))?;
        Ok(Net::new(plan, ns, rt.handle().clone(), start.elapsed()))
    })();
    let net = match setup {
        Ok(net) => net,
        Err(e) => {
            let e = match e {
                Error::Sys { what, source } if source.raw_os_error() == Some(libc::EPERM) => {
                    environment::diagnose(&source, &what)
                }
                e => e,
            };
            status.finish(&format!("setup\n{e}"));
            panic!("{e}");
        }
    };
    // Capture starts after the build, before the body; the folder is written on failure.
    let diag = diag::Diag::start(spec.path, timeout(spec), &net);
    status.send("ready\n");
    let outcome = catch_unwind(AssertUnwindSafe(|| body(net, &rt)));
    match outcome {
        // A passing test reports first: releasing the capture sockets waits for an RCU
        // grace period, which the parent need not wait for.
        Ok(Ok(())) if diag.keeps_when_passing(spec.keep_artifacts) => {
            diag.passed(spec.keep_artifacts);
            status.finish("ok\n")
        }
        Ok(Ok(())) => {
            status.finish("ok\n");
            diag.passed(spec.keep_artifacts);
        }
        Ok(Err(msg)) => {
            diag.failed(&format!("the test returned an error: {msg}"));
            status.finish(&format!("err\n{msg}"));
            panic!("the test returned an error: {msg}");
        }
        Err(payload) if spec.should_panic => {
            status.finish(&format!("panic\n{}", panic_message(&*payload)));
            diag.passed(false);
            resume_unwind(payload);
        }
        Err(payload) => {
            diag.failed(&format!("the test panicked: {}", panic_message(&*payload)));
            status.finish(&format!("panic\n{}", panic_message(&*payload)));
            resume_unwind(payload);
        }
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

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("fast"), None);
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
