//! Can this machine create the namespaces a test needs? If not: why, and the remedy.

use std::io;

use crate::error::Error;
use crate::sys;

fn read_sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Tries to create a user + network namespace the way every test does, and explains a
/// failure: the cause found on this machine and the one-line remedy.
///
/// ```no_run
/// if let Err(e) = netns_test::environment::probe() {
///     eprintln!("{e}");
/// }
/// ```
pub fn probe() -> Result<(), Error> {
    let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNET | libc::CLONE_NEWNS | libc::CLONE_NEWPID;
    sys::try_clone_userns(flags)
        .map_err(|e| diagnose(&e, "creating the user and network namespaces"))
}

/// How the ids of the user namespace of every sandbox (and of a [`Lab`](crate::Lab)) are
/// mapped here, as [`id_mapping`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdMapping {
    /// Ids 0 to `count - 1` exist inside: programs in nodes can change user and group (a
    /// daemon that drops its privileges, `setgroups`, `setgid`, `setuid`).
    Range {
        /// How many ids exist inside, 0 included.
        count: u64,
        /// How they are mapped.
        how: String,
    },
    /// Only uid and gid 0 exist inside (the caller's own ids) and `setgroups` is denied: a
    /// program that changes group fails with "Operation not permitted" (dnsmasq: "failed
    /// to change group-id to dip").
    Single {
        /// Why no range is mapped.
        cause: String,
        /// What maps one.
        remedy: String,
    },
}

/// How the default-mode sandboxes of this process map uids and gids: a full range where
/// this user is root of its user namespace; where the setuid helpers `newuidmap` and
/// `newgidmap` (package `uidmap`) are installed and the user has ranges in `/etc/subuid`
/// and `/etc/subgid`, as rootless container runtimes do, when `NETNS_TEST_ID_MAP=range`
/// asks for it (two process starts per test); else the user's own ids alone.
/// `NETNS_TEST_ID_MAP=single` asks for the latter everywhere.
///
/// ```no_run
/// use netns_test::environment::{id_mapping, IdMapping};
///
/// if let IdMapping::Single { cause, remedy } = id_mapping() {
///     eprintln!("programs in nodes cannot change group: {cause}; remedy: {remedy}");
/// }
/// ```
pub fn id_mapping() -> IdMapping {
    describe(crate::id_map::sandbox_plan())
}

/// How a [`Lab`](crate::Lab) entered by this process, and so the harness mode, maps uids
/// and gids: as [`id_mapping`], but with the helpers' range whenever they and the ranges
/// are there (the lab pays their two process starts once).
pub fn lab_id_mapping() -> IdMapping {
    describe(crate::id_map::plan())
}

fn describe(plan: &crate::id_map::Plan) -> IdMapping {
    match plan {
        crate::id_map::Plan::Direct { count } => IdMapping::Range {
            count: u64::from(*count),
            how: format!(
                "ids 0-{} are the same ids outside (root maps them itself)",
                count - 1
            ),
        },
        crate::id_map::Plan::Helpers {
            newuidmap,
            uid,
            gid,
            subuid,
            subgid,
            ..
        } => {
            let count = 1 + u64::from(subuid.1.min(subgid.1));
            match crate::id_map::helpers_failure() {
                Some(why) => IdMapping::Single {
                    cause: why.to_string(),
                    remedy: "check the ranges in /etc/subuid and /etc/subgid".to_string(),
                },
                None => IdMapping::Range {
                    count,
                    how: format!(
                        "uid 0 is uid {uid}, uids 1-{} are {}-{}; gid 0 is gid {gid}, gids 1-{} \
                         are {}-{} (by {} and newgidmap, from /etc/subuid and /etc/subgid)",
                        subuid.1,
                        subuid.0,
                        u64::from(subuid.0) + u64::from(subuid.1) - 1,
                        subgid.1,
                        subgid.0,
                        u64::from(subgid.0) + u64::from(subgid.1) - 1,
                        newuidmap.display(),
                    ),
                },
            }
        }
        crate::id_map::Plan::Single { cause, remedy, .. } => IdMapping::Single {
            cause: cause.clone(),
            remedy: remedy.clone(),
        },
    }
}

/// Builds the error for a failed namespace step, naming the likely cause and remedy.
///
/// Out of file descriptors (EMFILE, ENFILE) and out of processes or threads (EAGAIN) name
/// the limit, its value and the remedy instead.
pub(crate) fn diagnose(err: &io::Error, step: &str) -> Error {
    let errno = err.raw_os_error().unwrap_or(0);
    let causes = match errno {
        libc::EMFILE | libc::ENFILE => fd_causes(errno),
        libc::EAGAIN => thread_causes(),
        _ => namespace_causes(errno),
    };
    Error::Unsupported {
        step: step.to_string(),
        source: match err.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(err.kind(), err.to_string()),
        },
        causes,
    }
}

fn namespace_causes(errno: i32) -> Vec<String> {
    let mut causes = Vec::new();
    if !std::path::Path::new("/proc/self/ns/user").exists() {
        causes.push(
            "this kernel has no user namespaces (CONFIG_USER_NS is off): use a kernel built with \
             CONFIG_USER_NS=y and CONFIG_NET_NS=y"
                .to_string(),
        );
    }
    if read_sysctl("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        causes.push(
            "user namespaces are disabled: user.max_user_namespaces is 0. Remedy: \
             `sudo sysctl -w user.max_user_namespaces=15000`"
                .to_string(),
        );
    }
    if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        causes.push(
            "unprivileged user namespaces are disabled: kernel.unprivileged_userns_clone is 0. Remedy: \
             `sudo sysctl -w kernel.unprivileged_userns_clone=1`"
                .to_string(),
        );
    }
    if read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1")
    {
        causes.push(
            "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10+: \
             kernel.apparmor_restrict_unprivileged_userns=1; the namespace is created but has no \
             capabilities). Remedy: `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, \
             or an AppArmor profile granting `userns,` to the test binary"
                .to_string(),
        );
    }
    if errno == libc::ENOSPC {
        let max_net =
            read_sysctl("/proc/sys/user/max_net_namespaces").unwrap_or_else(|| "?".into());
        let max_user =
            read_sysctl("/proc/sys/user/max_user_namespaces").unwrap_or_else(|| "?".into());
        if max_user != "0" {
            causes.push(format!(
                "a namespace limit is reached (user.max_user_namespaces={max_user}, \
                 user.max_net_namespaces={max_net}; namespaces still being cleaned up count too). \
                 Remedy: raise them, e.g. `sudo sysctl -w user.max_net_namespaces=100000`, or run fewer \
                 tests at once"
            ));
        }
    }
    if sys::seccomp_mode() == Some(2) && (errno == libc::EPERM || errno == libc::ENOSYS) {
        causes.push(
            "the process runs under a seccomp filter that denies namespace creation (Docker's default \
             profile blocks clone/unshare with namespace flags). Remedy: run the container with \
             `--security-opt seccomp=unconfined` (or a profile allowing clone/unshare/setns), or \
             `--privileged`"
                .to_string(),
        );
    }
    if causes.is_empty() {
        causes.push(format!(
            "no known cause found; check `unshare --user --map-root-user --net true` on this machine \
             (errno {errno})"
        ));
    }
    causes
}

// ---------------------------------------------------------------------------------------
// Limits: file descriptors, network namespaces, processes and threads.

/// `u64::MAX` (RLIM_INFINITY) as `ulimit` prints it.
fn limit_text(n: u64) -> String {
    if n == u64::MAX {
        "unlimited".to_string()
    } else {
        n.to_string()
    }
}

/// The smallest power of two at least `n` (and at least 1024): a round number to suggest.
fn round_up(n: u64) -> u64 {
    n.max(1024).checked_next_power_of_two().unwrap_or(n)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (as servers commonly do), so that a
/// topology of many nodes is not stopped by the default soft limit of 1024. Returns the
/// soft limit before and the hard limit, or `None` if the limit cannot be read.
pub(crate) fn raise_nofile() -> Option<(u64, u64)> {
    let (soft, hard) = sys::get_rlimit(sys::Rlimit::Nofile).ok()?;
    if soft < hard {
        // Best effort: the check before the build names the limit if this fails.
        let _ = sys::set_rlimit(sys::Rlimit::Nofile, hard, hard);
    }
    Some((soft, hard))
}

/// What a topology costs in file descriptors, for [`too_few_fds`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FdNeed {
    /// File descriptors needed in all.
    pub total: u64,
    /// Network namespaces of the topology (the sandbox's own included).
    pub namespaces: u64,
    /// What each costs.
    pub per_namespace: u64,
    /// Kept for the sandbox itself and for the test's body.
    pub reserve: u64,
}

/// The error for a topology that needs more file descriptors than the limit allows, before
/// anything is built. `before` is the soft limit the sandbox started with.
pub(crate) fn too_few_fds(need: FdNeed, before: u64, limit: u64) -> Error {
    let raised = if before < limit {
        format!(" (the sandbox raised its soft limit from {before} to the hard limit)")
    } else {
        " (soft and hard limit)".to_string()
    };
    Error::Limit {
        limit: "RLIMIT_NOFILE",
        current: (limit != u64::MAX).then_some(limit),
        needed: need.total,
        node: None,
        message: format!(
            "not enough file descriptors: this topology needs about {} ({} network namespaces at \
             {} each: the namespace, its netlink socket and its name service's socket; {} for the \
             sandbox and the test's body), but `ulimit -n` (RLIMIT_NOFILE) allows {}{raised}.",
            need.total,
            need.namespaces,
            need.per_namespace,
            need.reserve,
            limit_text(limit),
        ),
        remedy: format!(
            "Remedy: raise the hard limit before running the tests, e.g. `ulimit -n {}` (as root, \
             or `nofile` in /etc/security/limits.conf, `LimitNOFILE=` in a systemd unit, \
             `--ulimit nofile=` for Docker), or build fewer nodes",
            round_up(need.total),
        ),
    }
}

fn fd_causes(errno: i32) -> Vec<String> {
    if errno == libc::ENFILE {
        let max = read_sysctl("/proc/sys/fs/file-max").unwrap_or_else(|| "?".into());
        let allocated = read_sysctl("/proc/sys/fs/file-nr")
            .and_then(|s| s.split_whitespace().next().map(str::to_string))
            .unwrap_or_else(|| "?".into());
        return vec![format!(
            "the machine's file table is full: fs.file-max is {max} and {allocated} files are open \
             (fs.file-nr). Remedy: raise it, e.g. `sudo sysctl -w fs.file-max=1048576`, or run \
             fewer tests at once"
        )];
    }
    match sys::get_rlimit(sys::Rlimit::Nofile) {
        Ok((soft, hard)) => vec![format!(
            "this process's file descriptor limit is reached: `ulimit -n` (RLIMIT_NOFILE) is {} \
             (hard limit {}). Remedy: raise it before running the tests, e.g. `ulimit -n {}` (the \
             hard limit as root, or `nofile` in /etc/security/limits.conf, `LimitNOFILE=` in a \
             systemd unit, `--ulimit nofile=` for Docker)",
            limit_text(soft),
            limit_text(hard),
            round_up(hard.min(soft.saturating_mul(4))),
        )],
        Err(e) => vec![format!(
            "this process's file descriptor limit (`ulimit -n`, RLIMIT_NOFILE) is reached; its \
             value cannot be read ({e}). Remedy: raise it before running the tests"
        )],
    }
}

/// Internal: `user.max_net_namespaces` as the parent (the test runner) sees it, passed to
/// the sandbox, inside which `/proc/sys/user` shows the sandbox's own limits instead.
pub(crate) const ENV_OUTER_MAX_NET_NS: &str = "NETNS_TEST_OUTER_MAX_NET_NAMESPACES";

const MAX_NET_NS: &str = "/proc/sys/user/max_net_namespaces";

/// `user.max_net_namespaces` of this process's user namespace.
pub(crate) fn max_net_namespaces() -> Option<u64> {
    read_sysctl(MAX_NET_NS)?.parse().ok()
}

/// The limit on network namespaces that binds the sandbox: the lower of its own and the
/// one its parent saw.
fn binding_max_net_namespaces() -> Option<u64> {
    let outer = std::env::var(ENV_OUTER_MAX_NET_NS)
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    match (max_net_namespaces(), outer) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn net_ns_remedy(need: u64) -> String {
    format!(
        "Remedy: raise it, e.g. `sudo sysctl -w user.max_net_namespaces={}`, or run fewer tests at \
         once (`--test-threads`)",
        round_up(need.saturating_mul(64).max(100_000))
    )
}

/// Before any namespace exists: a topology that needs more network namespaces than
/// `user.max_net_namespaces` allows at all.
pub(crate) fn check_net_namespaces(need: u64, max: Option<u64>) -> Result<(), Error> {
    match max {
        Some(max) if need > max => Err(Error::Limit {
            limit: "user.max_net_namespaces",
            current: Some(max),
            needed: need,
            node: None,
            message: format!(
                "netns-test cannot run this test here: its topology needs {need} network \
                 namespaces (one per node with a network of its own, the host included), but the \
                 limit user.max_net_namespaces ({MAX_NET_NS}) is {max}."
            ),
            remedy: net_ns_remedy(need),
        }),
        _ => Ok(()),
    }
}

/// A node's network namespace could not be created because a namespace limit is reached
/// (ENOSPC part-way through the topology).
pub(crate) fn out_of_net_namespaces(node: &str, nth: u64, need: u64, err: &io::Error) -> Error {
    let current = binding_max_net_namespaces();
    let limit = current
        .map(|m| m.to_string())
        .unwrap_or_else(|| "unreadable".to_string());
    Error::Limit {
        limit: "user.max_net_namespaces",
        current,
        needed: need,
        node: Some(node.to_string()),
        message: format!(
            "netns-test ran out of network namespaces: creating the network namespace of node \
             {node:?} (namespace {nth} of the {need} this topology needs, the host's included) \
             failed: {err}.\n  cause: the limit user.max_net_namespaces ({MAX_NET_NS}) is {limit} \
             here, and every network namespace of this user counts: those of other tests running \
             at the same time, and those the kernel is still cleaning up after tests that ended."
        ),
        remedy: net_ns_remedy(need),
    }
}

/// Whether this process is root of the initial user namespace (then RLIMIT_NPROC does not
/// bind it).
fn is_init_root() -> bool {
    let effective_uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        });
    effective_uid.as_deref() == Some("0")
        && std::fs::read_to_string("/proc/self/uid_map")
            .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
            .unwrap_or(false)
}

/// The real uid of this process and the number of threads of the processes with that real
/// uid visible in `/proc` (all of the machine's, unless in a PID namespace).
fn threads_of_this_user() -> Option<u64> {
    let uid_of = |status: &str| {
        status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
    };
    let me = uid_of(&std::fs::read_to_string("/proc/self/status").ok()?)?;
    let mut threads = 0u64;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        if uid_of(&status).as_deref() == Some(me.as_str()) {
            threads += status
                .lines()
                .find(|l| l.starts_with("Threads:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
                .unwrap_or(1);
        }
    }
    Some(threads)
}

/// The cgroup (v2, or v1's pids hierarchy) of this process, or of an ancestor, whose
/// `pids.max` is a number: (its path, pids.max, pids.current). The one closest to full.
fn cgroup_pids_limit() -> Option<(String, u64, u64)> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount_of = |v2: bool| {
        mountinfo.lines().find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let mut r = right.split_whitespace();
            let fstype = r.next()?;
            let options = r.nth(1).unwrap_or("");
            let ok = if v2 {
                fstype == "cgroup2"
            } else {
                fstype == "cgroup" && options.split(',').any(|o| o == "pids")
            };
            ok.then(|| left.split_whitespace().nth(4).map(str::to_string))?
        })
    };
    let mut best: Option<(String, u64, u64)> = None;
    for line in cgroups.lines() {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        let v2 = controllers.is_empty();
        if !v2 && !controllers.split(',').any(|c| c == "pids") {
            continue;
        }
        let Some(mount) = mount_of(v2) else { continue };
        let mut dir = std::path::PathBuf::from(format!("{mount}{path}"));
        loop {
            let max = std::fs::read_to_string(dir.join("pids.max")).ok();
            let current = std::fs::read_to_string(dir.join("pids.current")).ok();
            if let (Some(max), Some(current)) = (max, current) {
                if let (Ok(max), Ok(current)) =
                    (max.trim().parse::<u64>(), current.trim().parse::<u64>())
                {
                    let room = max.saturating_sub(current);
                    if best
                        .as_ref()
                        .is_none_or(|(_, m, c)| room < m.saturating_sub(*c))
                    {
                        best = Some((dir.display().to_string(), max, current));
                    }
                }
            }
            if dir.as_os_str().len() <= mount.len() || !dir.pop() {
                break;
            }
        }
    }
    best
}

fn thread_causes() -> Vec<String> {
    // What is full (causes), and what was read but is not (limits).
    let (mut causes, mut limits) = (Vec::new(), Vec::new());
    nproc_limit(&mut causes, &mut limits);
    let total = read_sysctl("/proc/loadavg").and_then(|l| {
        l.split_whitespace()
            .nth(3)?
            .split_once('/')?
            .1
            .parse::<u64>()
            .ok()
    });
    threads_max_limit(total, &mut causes, &mut limits);
    pid_max_limit(total, &mut causes);
    cgroup_pids(&mut causes, &mut limits);
    if causes.is_empty() {
        causes.push(format!(
            "a process or thread limit is reached (EAGAIN), but none of those found is full: {}. \
             One of them may be shared with processes this process cannot see; raise the one that \
             applies, {FEWER}",
            if limits.is_empty() {
                "no limit could be read".to_string()
            } else {
                limits.join("; ")
            }
        ));
    }
    causes
}

/// The remedy every cause of [`thread_causes`] ends with.
const FEWER: &str = "or run fewer tests at once (`--test-threads`)";

/// The user's `RLIMIT_NPROC`, which counts the user's processes and threads of the whole
/// machine (root of the initial user namespace is not held to it).
fn nproc_limit(causes: &mut Vec<String>, limits: &mut Vec<String>) {
    if !is_init_root() {
        if let Ok((soft, _)) = sys::get_rlimit(sys::Rlimit::Nproc) {
            let count = threads_of_this_user();
            let visible = count.map_or("?".to_string(), |c| c.to_string());
            if count.is_some_and(|c| soft != u64::MAX && c >= soft) {
                causes.push(format!(
                    "the process limit of this user is reached: `ulimit -u` (RLIMIT_NPROC) is \
                     {soft}, and it counts every process and thread of the user on the machine, in \
                     every session and container ({visible} visible here). Remedy: raise it before \
                     running the tests, e.g. `ulimit -u {}` (`nproc` in /etc/security/limits.conf, \
                     `LimitNPROC=` in a systemd unit), {FEWER}",
                    round_up(soft.saturating_mul(4)),
                ));
            } else {
                limits.push(format!(
                    "`ulimit -u` (RLIMIT_NPROC) is {} ({visible} processes and threads of this \
                     user visible here; it counts those of the whole machine)",
                    limit_text(soft)
                ));
            }
        }
    }
}

/// `kernel.threads-max`, against the `total` threads of the machine.
fn threads_max_limit(total: Option<u64>, causes: &mut Vec<String>, limits: &mut Vec<String>) {
    let threads_max =
        read_sysctl("/proc/sys/kernel/threads-max").and_then(|s| s.parse::<u64>().ok());
    if let Some(max) = threads_max {
        let text = format!(
            "the machine's thread limit: kernel.threads-max is {max} and {} threads exist. Remedy: \
             raise it, e.g. `sudo sysctl -w kernel.threads-max={}`, {FEWER}",
            total.map_or("?".to_string(), |t| t.to_string()),
            round_up(max.saturating_mul(2)),
        );
        if total.is_some_and(|t| t + 16 >= max) {
            causes.push(text);
        } else {
            limits.push(format!("kernel.threads-max is {max}"));
        }
    }
}

/// `kernel.pid_max`, against the `total` threads of the machine.
fn pid_max_limit(total: Option<u64>, causes: &mut Vec<String>) {
    let pid_max = read_sysctl("/proc/sys/kernel/pid_max").and_then(|s| s.parse::<u64>().ok());
    if let (Some(max), Some(t)) = (pid_max, total) {
        if t + 16 >= max {
            causes.push(format!(
                "the machine is out of process ids: kernel.pid_max is {max} and {t} threads exist. \
                 Remedy: `sudo sysctl -w kernel.pid_max=4194304`, {FEWER}"
            ));
        }
    }
}

/// The `pids.max` of this process's cgroup.
fn cgroup_pids(causes: &mut Vec<String>, limits: &mut Vec<String>) {
    if let Some((path, max, current)) = cgroup_pids_limit() {
        let text = format!(
            "the cgroup {path} allows {max} processes and threads (pids.max) and holds {current} \
             (pids.current). Remedy: raise its pids.max (`TasksMax=` of the systemd unit or user \
             slice, `--pids-limit` for Docker, `pids` in Kubernetes), {FEWER}"
        );
        if current + 1 >= max {
            causes.push(text);
        } else {
            limits.push(format!(
                "the cgroup {path} has pids.max {max} ({current} in use)"
            ));
        }
    }
}

/// A failed system call whose errno has a known environmental cause (permissions, a
/// file descriptor or thread limit) becomes the diagnosis of that cause.
pub(crate) fn explain(e: Error) -> Error {
    match e {
        Error::Sys { what, source }
            if matches!(
                source.raw_os_error(),
                Some(libc::EPERM | libc::EMFILE | libc::ENFILE | libc::EAGAIN)
            ) =>
        {
            diagnose(&source, &what)
        }
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_threads_names_the_limits_and_their_values() {
        let msg = diagnose(
            &io::Error::from_raw_os_error(libc::EAGAIN),
            "starting the sandbox's tokio runtime (its worker thread)",
        )
        .to_string();
        assert!(
            msg.starts_with(
                "netns-test cannot run tests here: starting the sandbox's tokio runtime (its worker \
                 thread) failed: Resource temporarily unavailable"
            ),
            "{msg}"
        );
        let threads_max = read_sysctl("/proc/sys/kernel/threads-max").expect("threads-max");
        assert!(
            msg.contains(&format!("kernel.threads-max is {threads_max}")),
            "{msg}"
        );
        if !is_init_root() {
            assert!(msg.contains("`ulimit -u` (RLIMIT_NPROC) is"), "{msg}");
        }
        assert!(!msg.contains("user namespaces"), "{msg}");
    }

    #[test]
    fn out_of_fds_names_ulimit_n_and_its_value() {
        let (soft, hard) = sys::get_rlimit(sys::Rlimit::Nofile).expect("RLIMIT_NOFILE");
        let msg = diagnose(
            &io::Error::from_raw_os_error(libc::EMFILE),
            "opening a socket",
        )
        .to_string();
        assert!(
            msg.contains(&format!(
                "`ulimit -n` (RLIMIT_NOFILE) is {} (hard limit {})",
                limit_text(soft),
                limit_text(hard)
            )),
            "{msg}"
        );
        assert!(msg.contains("Remedy: raise it"), "{msg}");
        let msg = diagnose(
            &io::Error::from_raw_os_error(libc::ENFILE),
            "opening a socket",
        )
        .to_string();
        assert!(msg.contains("fs.file-max is"), "{msg}");
    }

    #[test]
    fn too_few_fds_names_the_need_and_the_limit() {
        let need = FdNeed {
            total: 3103,
            namespaces: 1001,
            per_namespace: 3,
            reserve: 100,
        };
        let msg = too_few_fds(need, 1024, 2048).to_string();
        assert!(
            msg.contains("needs about 3103 (1001 network namespaces at 3 each"),
            "{msg}"
        );
        assert!(
            msg.contains(
                "allows 2048 (the sandbox raised its soft limit from 1024 to the hard limit)"
            ),
            "{msg}"
        );
        assert!(msg.contains("`ulimit -n 4096`"), "{msg}");
    }

    #[test]
    fn net_namespaces_are_checked_against_the_limit() {
        assert!(check_net_namespaces(10, Some(10)).is_ok());
        assert!(check_net_namespaces(10, None).is_ok());
        let msg = check_net_namespaces(11, Some(10)).unwrap_err().to_string();
        assert!(msg.contains("needs 11 network namespaces"), "{msg}");
        assert!(
            msg.contains("user.max_net_namespaces (/proc/sys/user/max_net_namespaces) is 10"),
            "{msg}"
        );
    }
}
