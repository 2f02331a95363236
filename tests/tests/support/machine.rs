//! The machine as seen from outside every sandbox, to compare before and after a test.

use std::collections::BTreeSet;

/// Links, routes and mounts of the machine (this process's namespaces).
pub(crate) fn machine_state() -> BTreeSet<String> {
    let mut state = BTreeSet::new();
    for entry in std::fs::read_dir("/sys/class/net").expect("/sys/class/net") {
        state.insert(format!(
            "link {}",
            entry.expect("entry").file_name().to_string_lossy()
        ));
    }
    for file in ["/proc/net/route", "/proc/net/ipv6_route"] {
        for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
            state.insert(format!("route {line}"));
        }
    }
    for line in std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
    {
        let f: Vec<&str> = line.split(' ').collect();
        state.insert(format!(
            "mount {} {}",
            f[4],
            f.get(f.len().saturating_sub(3)).unwrap_or(&"")
        ));
    }
    state
}

/// Whether this process runs as root (effective uid 0).
pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .expect("status")
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
}
