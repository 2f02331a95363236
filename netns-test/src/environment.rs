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

/// Builds the error for a failed namespace step, naming the likely cause and remedy.
pub(crate) fn diagnose(err: &io::Error, step: &str) -> Error {
    let errno = err.raw_os_error().unwrap_or(0);
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
    Error::Environment(format!(
        "netns-test cannot run tests here: {step} failed: {err}.\n  cause: {}",
        causes.join("\n  cause: ")
    ))
}
