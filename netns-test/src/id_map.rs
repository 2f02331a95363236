//! The uid and gid maps of the user namespace every sandbox and lab enters: a full range
//! of ids where the machine allows it, as rootless container runtimes map (podman,
//! rootlesskit), so that programs in nodes can change user and group (a daemon that drops
//! its privileges, `setgroups`, `setgid`, `setuid`); else the caller's uid and gid alone.
//!
//! - Root of its user namespace (with `CAP_SETUID` and `CAP_SETGID`) writes the maps
//!   itself: ids 0-65535 inside are the same ids outside.
//! - Another user needs the setuid helpers `newuidmap` and `newgidmap` (Debian and Ubuntu
//!   package `uidmap`, Fedora `shadow-utils`) and a subordinate range in `/etc/subuid` and
//!   `/etc/subgid`: 0 inside is the user, 1 to N the range. The helpers are the one
//!   program the runtime starts; they are looked up in the usual directories, not in
//!   `PATH`. They are two process starts per namespace: a lab (the harness mode) pays
//!   them once per process, a default-mode sandbox once per test (2 to 4 ms, a fifth of a
//!   small test), so there only with `NETNS_TEST_ID_MAP=range` ([`sandbox_plan`]).
//! - Otherwise, or with `NETNS_TEST_ID_MAP=single`: uid and gid 0 inside are the caller's,
//!   no other id exists and `setgroups` is denied (the kernel's rule for a single id mapped
//!   without privilege), so a program that changes group fails with `EPERM`.
//!
//! [`write`] is the one place the maps are written, from outside the namespace.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// `single`: map only the caller's uid and gid, as where the helpers are missing; `range`:
/// map the helpers' range in default-mode sandboxes too.
pub(crate) const ENV_ID_MAP: &str = "NETNS_TEST_ID_MAP";

/// The ids root maps itself: those of a rootless runtime's usual range.
const ROOT_RANGE: u32 = 65536;

/// Where the helpers are looked for, in this order (`PATH` may lack the `sbin` ones).
const HELPER_DIRS: [&str; 5] = ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"];

/// What [`write`] maps.
#[derive(Debug, Clone)]
pub(crate) enum Plan {
    /// Root writes `0 0 count` to both maps.
    Direct { count: u32 },
    /// `newuidmap PID 0 UID 1 1 START COUNT`, and the same for gids.
    Helpers {
        newuidmap: PathBuf,
        newgidmap: PathBuf,
        uid: u32,
        gid: u32,
        subuid: (u32, u32),
        subgid: (u32, u32),
    },
    /// `0 UID 1` and `0 GID 1`, `setgroups` denied: the cause and the remedy.
    Single {
        uid: u32,
        gid: u32,
        cause: String,
        remedy: String,
    },
}

/// Set once the helpers failed, so that later namespaces get the single ids at once.
static HELPERS_FAILED: OnceLock<String> = OnceLock::new();
static WARNED: AtomicBool = AtomicBool::new(false);

/// The plan of this process, worked out once.
pub(crate) fn plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        let user = nix::unistd::User::from_uid(uid.into())
            .ok()
            .flatten()
            .map(|u| u.name);
        work_out(
            uid,
            gid,
            user.as_deref(),
            std::env::var(ENV_ID_MAP).ok().as_deref(),
            &|p| std::fs::read_to_string(p).ok(),
            &|p| is_executable(p),
        )
    })
}

/// The plan of a default-mode sandbox of this process (see [`per_sandbox`]).
pub(crate) fn sandbox_plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| per_sandbox(plan().clone(), std::env::var(ENV_ID_MAP).ok().as_deref()))
}

/// A default-mode sandbox maps the helpers' range only when [`ENV_ID_MAP`] (`env`) asks
/// for it: it costs two process starts per test.
pub(crate) fn per_sandbox(plan: Plan, env: Option<&str>) -> Plan {
    match plan {
        Plan::Helpers { uid, gid, .. } if env != Some("range") => Plan::Single {
            uid,
            gid,
            cause: "the range costs two process starts (newuidmap, newgidmap) per test, so \
                    default-mode tests map it only when asked"
                .to_string(),
            remedy: format!(
                "set {ENV_ID_MAP}=range for the run (labs and the harness mode map it anyway)"
            ),
        },
        plan => plan,
    }
}

/// The plan for user `uid` (named `user`), group `gid`, with `env` the value of
/// [`ENV_ID_MAP`], files read by `read` and programs found by `exists`.
pub(crate) fn work_out(
    uid: u32,
    gid: u32,
    user: Option<&str>,
    env: Option<&str>,
    read: &dyn Fn(&Path) -> Option<String>,
    exists: &dyn Fn(&Path) -> bool,
) -> Plan {
    let single = |cause: String, remedy: &str| Plan::Single {
        uid,
        gid,
        cause,
        remedy: remedy.to_string(),
    };
    if env == Some("single") {
        return single(
            format!("{ENV_ID_MAP}=single is set"),
            &format!("unset {ENV_ID_MAP}"),
        );
    }
    if uid == 0 && gid == 0 {
        if root_maps_range(read) {
            return Plan::Direct { count: ROOT_RANGE };
        }
        return single(
            format!(
                "this root lacks CAP_SETUID or CAP_SETGID, or ids 0-{} are not all mapped in its own user namespace",
                ROOT_RANGE - 1
            ),
            "run the tests as a user with a range in /etc/subuid and /etc/subgid",
        );
    }
    let find = |name: &str| find_helper(name, exists);
    let (Some(newuidmap), Some(newgidmap)) = (find("newuidmap"), find("newgidmap")) else {
        return single(
            format!(
                "newuidmap and newgidmap are not installed (looked in {})",
                HELPER_DIRS.join(", ")
            ),
            "install them: `apt-get install uidmap` (Debian, Ubuntu), `dnf install shadow-utils` (Fedora)",
        );
    };
    let who = user.map_or_else(|| format!("uid {uid}"), |u| format!("user {u:?}"));
    let range = |file: &str| sub_range(read, file, uid, user);
    let remedy = format!(
        "as root: `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {}`",
        user.unwrap_or("USER")
    );
    let Some(subuid) = range("/etc/subuid") else {
        return single(format!("{who} has no range in /etc/subuid"), &remedy);
    };
    let Some(subgid) = range("/etc/subgid") else {
        return single(format!("{who} has no range in /etc/subgid"), &remedy);
    };
    Plan::Helpers {
        newuidmap,
        newgidmap,
        uid,
        gid,
        subuid,
        subgid,
    }
}

/// Whether this root (uid and gid 0) may write the range's maps: it has `CAP_SETUID` and
/// `CAP_SETGID`, and ids 0 to [`ROOT_RANGE`] are mapped in its own user namespace.
fn root_maps_range(read: &dyn Fn(&Path) -> Option<String>) -> bool {
    let status = read(Path::new("/proc/self/status")).unwrap_or_default();
    let covers = |map: &str| {
        read(Path::new(map)).is_some_and(|m| {
            m.lines().any(|l| {
                let f: Vec<u64> = l
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                f.len() == 3 && f[0] == 0 && f[2] >= u64::from(ROOT_RANGE)
            })
        })
    };
    has_setid_caps(&status) && covers("/proc/self/uid_map") && covers("/proc/self/gid_map")
}

/// The program `name` in the first of [`HELPER_DIRS`] that has it.
fn find_helper(name: &str, exists: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    HELPER_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| exists(p))
}

/// The (start, count) of the first range of `file` (`/etc/subuid` or `/etc/subgid`) that
/// belongs to `uid` or `user`.
fn sub_range(
    read: &dyn Fn(&Path) -> Option<String>,
    file: &str,
    uid: u32,
    user: Option<&str>,
) -> Option<(u32, u32)> {
    let text = read(Path::new(file))?;
    text.lines().find_map(|l| {
        let mut f = l.trim().split(':');
        let owner = f.next()?;
        if owner != uid.to_string() && Some(owner) != user {
            return None;
        }
        let start: u32 = f.next()?.trim().parse().ok()?;
        let count: u32 = f.next()?.trim().parse().ok()?;
        (count > 0 && start.checked_add(count).is_some()).then_some((start, count))
    })
}

/// Whether the effective capabilities (`CapEff:` of a `/proc/PID/status`) hold
/// `CAP_SETUID` and `CAP_SETGID`.
fn has_setid_caps(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| {
            // CAP_SETGID is 6, CAP_SETUID 7 (linux/capability.h).
            caps & (1 << 6) != 0 && caps & (1 << 7) != 0
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Writes the uid and gid maps of process `pid` as `plan` says (the [`plan`] of the process
/// that creates the namespace, worked out before it enters it). `pid` has just entered a
/// new user namespace and waits for its maps; the caller runs in the parent namespace.
///
/// Where the helpers fail, the single ids are mapped instead (a warning says why, once per
/// process, and later namespaces get the single ids at once).
pub(crate) fn write(pid: libc::pid_t, plan: &Plan) -> io::Result<()> {
    match plan {
        Plan::Direct { count } => {
            let map = format!("0 0 {count}\n");
            write_proc(pid, "uid_map", &map)?;
            write_proc(pid, "gid_map", &map)
        }
        Plan::Helpers {
            newuidmap,
            newgidmap,
            uid,
            gid,
            subuid,
            subgid,
        } => {
            if HELPERS_FAILED.get().is_some() {
                return write_single(pid, *uid, *gid);
            }
            // Both at once: each is a process start, and they write different files.
            let uids = start_helper(newuidmap, pid, *uid, *subuid);
            let gids = start_helper(newgidmap, pid, *gid, *subgid);
            let (uids, gids) = (uids(), gids());
            if let Err(why) = uids {
                helpers_failed(why);
                write_proc(pid, "uid_map", &format!("0 {uid} 1\n"))?;
            }
            if let Err(why) = gids {
                helpers_failed(why);
                write_proc(pid, "setgroups", "deny")?;
                write_proc(pid, "gid_map", &format!("0 {gid} 1\n"))?;
            }
            Ok(())
        }
        Plan::Single { uid, gid, .. } => write_single(pid, *uid, *gid),
    }
}

/// Why the helpers failed in this process, if they did.
pub(crate) fn helpers_failure() -> Option<&'static str> {
    HELPERS_FAILED.get().map(String::as_str)
}

fn helpers_failed(why: String) {
    let why = HELPERS_FAILED.get_or_init(|| why);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "netns-test: warning: {why}; programs in nodes cannot change user or group \
             (see `netns-test-doctor`)"
        );
    }
}

fn write_single(pid: libc::pid_t, uid: u32, gid: u32) -> io::Result<()> {
    write_proc(pid, "setgroups", "deny")?;
    write_proc(pid, "uid_map", &format!("0 {uid} 1\n"))?;
    write_proc(pid, "gid_map", &format!("0 {gid} 1\n"))
}

fn write_proc(pid: libc::pid_t, file: &str, data: &str) -> io::Result<()> {
    let path = format!("/proc/{pid}/{file}");
    std::fs::write(&path, data).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("writing {data:?} to {path}: {e}", data = data.trim_end()),
        )
    })
}

/// Starts `HELPER PID 0 ID 1 1 START COUNT` (the caller's id is 0, the range 1 to COUNT);
/// the function returned waits for it and says whether it succeeded.
fn start_helper(
    helper: &Path,
    pid: libc::pid_t,
    id: u32,
    range: (u32, u32),
) -> impl FnOnce() -> Result<(), String> {
    let args = [
        pid.to_string(),
        "0".into(),
        id.to_string(),
        "1".into(),
        "1".into(),
        range.0.to_string(),
        range.1.to_string(),
    ];
    let shown = format!("`{} {}`", helper.display(), args.join(" "));
    let child = Command::new(helper)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    move || match child.and_then(|c| c.wait_with_output()) {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("{shown} could not run: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(subuid: &'static str, subgid: &'static str) -> impl Fn(&Path) -> Option<String> {
        move |p| match p.to_str()? {
            "/etc/subuid" => Some(subuid.to_string()),
            "/etc/subgid" => Some(subgid.to_string()),
            _ => None,
        }
    }

    #[test]
    fn a_user_with_ranges_and_helpers_gets_the_range() {
        let plan = work_out(
            1001,
            1001,
            Some("ci"),
            None,
            &files("other:1:5\nci:100000:65536\n", "1001:200000:1000\n"),
            &|p| p.starts_with("/usr/bin"),
        );
        let Plan::Helpers {
            newuidmap,
            subuid,
            subgid,
            ..
        } = plan
        else {
            panic!("{plan:?}")
        };
        assert_eq!(newuidmap, Path::new("/usr/bin/newuidmap"));
        assert_eq!(subuid, (100000, 65536));
        assert_eq!(subgid, (200000, 1000));
    }

    #[test]
    fn missing_helpers_name_the_package() {
        let plan = work_out(
            1001,
            1001,
            Some("ci"),
            None,
            &files("ci:100000:65536\n", "ci:100000:65536\n"),
            &|_| false,
        );
        let Plan::Single { cause, remedy, .. } = plan else {
            panic!("{plan:?}")
        };
        assert!(cause.starts_with("newuidmap and newgidmap are not installed"));
        assert!(remedy.contains("apt-get install uidmap"), "{remedy}");
    }

    #[test]
    fn a_user_without_a_range_is_told_how_to_add_one() {
        let plan = work_out(
            1001,
            1001,
            Some("ci"),
            None,
            &files("other:100000:65536\n", "ci:100000:65536\n"),
            &|_| true,
        );
        let Plan::Single { cause, remedy, .. } = plan else {
            panic!("{plan:?}")
        };
        assert_eq!(cause, "user \"ci\" has no range in /etc/subuid");
        assert!(remedy.contains("usermod --add-subuids"), "{remedy}");
    }

    #[test]
    fn the_variable_forces_the_single_ids() {
        let plan = work_out(
            1001,
            1001,
            Some("ci"),
            Some("single"),
            &files("ci:100000:65536\n", "ci:100000:65536\n"),
            &|_| true,
        );
        assert!(matches!(plan, Plan::Single { .. }), "{plan:?}");
    }

    #[test]
    fn default_mode_sandboxes_map_the_helpers_range_when_asked() {
        let helpers = work_out(
            1001,
            1001,
            Some("ci"),
            None,
            &files("ci:100000:65536\n", "ci:100000:65536\n"),
            &|_| true,
        );
        let plan = per_sandbox(helpers.clone(), None);
        let Plan::Single { remedy, .. } = plan else {
            panic!("{plan:?}")
        };
        assert!(
            remedy.starts_with("set NETNS_TEST_ID_MAP=range"),
            "{remedy}"
        );
        let plan = per_sandbox(helpers, Some("range"));
        assert!(matches!(plan, Plan::Helpers { .. }), "{plan:?}");
        let direct = per_sandbox(Plan::Direct { count: 65536 }, None);
        assert!(matches!(direct, Plan::Direct { .. }), "{direct:?}");
    }

    #[test]
    fn root_with_its_capabilities_maps_the_range_itself() {
        let read = |p: &Path| match p.to_str()? {
            "/proc/self/status" => Some("CapEff:\t000001ffffffffff\n".to_string()),
            "/proc/self/uid_map" | "/proc/self/gid_map" => {
                Some("         0          0 4294967295\n".to_string())
            }
            _ => None,
        };
        let plan = work_out(0, 0, Some("root"), None, &read, &|_| false);
        assert!(matches!(plan, Plan::Direct { count: 65536 }), "{plan:?}");
        let no_caps = |p: &Path| match p.to_str()? {
            "/proc/self/status" => Some("CapEff:\t0000000000000000\n".to_string()),
            other => read(Path::new(other)),
        };
        let plan = work_out(0, 0, Some("root"), None, &no_caps, &|_| false);
        assert!(matches!(plan, Plan::Single { .. }), "{plan:?}");
    }
}
