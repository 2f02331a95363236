//! Fresh network namespaces made ahead of time.
//!
//! Creating a network namespace costs ~0.5 ms of kernel work (every subsystem's per-net
//! setup), about half of what a harness-mode test costs the framework. A process that
//! builds network after network (the harness mode, a program's [`crate::Lab`]) turns the
//! pool on: a thread of its own then keeps [`READY`] namespaces made, and a build takes
//! those first, so that their creation overlaps the work before it (the previous test, the
//! body, the wait for links) instead of adding to it. A build that finds the pool empty
//! makes its namespaces itself, while the pool's thread makes more at the same time.
//!
//! Each namespace is taken once, by one network, and nothing has touched it before: a
//! pooled namespace is as fresh as one made in place. The pool holds at most [`READY`]
//! namespaces and their fds, freed with the process. A sandbox (one network per process)
//! leaves the pool off: namespaces made ahead for a network that never comes would only
//! cost.
//!
//! `NETNS_TEST_POOL=0` keeps the pool off in a process that would turn it on, so that
//! every namespace is made in place: the benchmark compares builds with a kernel floor
//! that makes its namespaces in place, and reports the pool's effect on its own.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Condvar, Mutex, Once, OnceLock};

use crate::sys;

/// How many fresh namespaces (each [`prepare`]d) the pool keeps made: the size of a small lab (a NAT lab is
/// five, its host included).
pub(crate) const READY: usize = 6;

struct Pool {
    ready: Mutex<Vec<OwnedFd>>,
    /// Signalled when a namespace is taken.
    taken: Condvar,
}

static POOL: Pool = Pool {
    ready: Mutex::new(Vec::new()),
    taken: Condvar::new(),
};
/// The pool's thread is started once, by the first take.
static STARTED: Once = Once::new();
/// Whether this process uses the pool ([`enable`]).
static ENABLED: OnceLock<()> = OnceLock::new();

/// Set to `0` (or `false`, `no`, `off`), keeps the pool off.
const ENV_POOL: &str = "NETNS_TEST_POOL";

/// Turns the pool on for this process, unless `NETNS_TEST_POOL=0`. Its thread starts with
/// the first [`take`], so that a process may still fork or enter namespaces after this
/// call.
pub(crate) fn enable() {
    let off =
        std::env::var(ENV_POOL).is_ok_and(|v| matches!(v.trim(), "0" | "false" | "no" | "off"));
    if !off {
        let _ = ENABLED.set(());
    }
}

/// A fresh network namespace: a pooled one if the pool is on and has one, else one made
/// now. The calling thread stays in the namespace it is in. With `true`, the namespace is
/// [`prepare`]d already.
pub(crate) fn take(back: std::os::fd::BorrowedFd<'_>) -> io::Result<(OwnedFd, bool)> {
    if ENABLED.get().is_none() {
        return sys::new_netns(back).map(|fd| (fd, false));
    }
    STARTED.call_once(start);
    let pool = &POOL;
    let pooled = pool.ready.lock().unwrap_or_else(|e| e.into_inner()).pop();
    pool.taken.notify_one();
    match pooled {
        Some(fd) => Ok((fd, true)),
        None => sys::new_netns(back).map(|fd| (fd, false)),
    }
}

/// What every node's namespace gets first, whatever its topology, in the calling thread's
/// namespace: ICMP datagram sockets (unprivileged ping) for the one group a lab maps, and
/// `lo` up (one ioctl; the name service listens on it).
pub(crate) fn prepare() -> io::Result<()> {
    super::write_sysctl("net/ipv4/ping_group_range", "0 0")?;
    sys::loopback_up()
}

/// Starts the pool's thread. Without a thread (a thread limit), the pool stays empty and
/// every namespace is made in place.
fn start() {
    let _ = std::thread::Builder::new()
        .name("netns-test-netns-pool".to_string())
        .spawn(fill);
}

/// The pool's thread: keeps [`READY`] namespaces made. On an error (the namespace limit,
/// the fd limit) it waits for the next take: the builds then make their own namespaces,
/// and report the limit themselves.
fn fill() {
    let Ok(home) = sys::current_netns() else {
        return;
    };
    let pool = &POOL;
    let mut ready = pool.ready.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        while ready.len() >= READY {
            ready = pool.taken.wait(ready).unwrap_or_else(|e| e.into_inner());
        }
        drop(ready);
        let made = sys::new_netns(home.as_fd()).and_then(|fd| {
            sys::in_netns(fd.as_fd(), prepare).and_then(|r| r)?;
            Ok(fd)
        });
        ready = pool.ready.lock().unwrap_or_else(|e| e.into_inner());
        match made {
            Ok(fd) => ready.push(fd),
            Err(_) => ready = pool.taken.wait(ready).unwrap_or_else(|e| e.into_inner()),
        }
    }
}
