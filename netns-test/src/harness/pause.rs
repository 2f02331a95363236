//! `NETNS_TEST_PAUSE_ON_FAILURE` in harness mode: a failing test keeps its network (its
//! thread still holds it) and prints, per node, the same `nsenter` line as in the default
//! mode, for the process that runs the tests. Enter (when stdin is a terminal), `kill
//! -USR1 PID` or the limit lets it go; the run's end, however it ends, ends the network
//! and every program in the run's PID namespace, shells entered with `-p` included.
//!
//! One test pauses at a time: one that fails during another's pause waits its turn, within
//! its own limit, and goes on unpaused if the turn does not come.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant};

use super::pid_namespace;
use crate::net::Net;
use crate::sandbox::pause::{self, RELEASE_SIGNAL};
use crate::sys;

/// Held by the test that is paused.
static TURN: Mutex<()> = Mutex::new(());

/// How often a test that waits for its turn looks again.
const TURN_POLL: Duration = Duration::from_millis(50);

/// Pauses failed test `name`, whose network is `net`, for at most `limit`, its wait for
/// its turn included.
pub(super) fn hold(name: &str, net: &Net, limit: Duration) {
    let end = Instant::now() + limit;
    let Some(wake) = wake() else {
        return;
    };
    let Some(_turn) = wait_turn(name, end) else {
        return;
    };
    // A signal sent while no test was paused is not meant for this one.
    let mut stale = [0u8; 64];
    while matches!((&*wake).read(&mut stale), Ok(n) if n > 0) {}
    let left = end.saturating_duration_since(Instant::now());
    let enter = pause::stdin_is_terminal();
    let (text, _) = pause::banner(
        name,
        pid_namespace::outer_pid(),
        &pause::body(net, left),
        enter,
    );
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
    drop(err);
    wait(wake, end, enter);
}

/// The read end of the release signal's wake socket, installed once per process.
fn wake() -> Option<&'static UnixStream> {
    static WAKE: OnceLock<Option<UnixStream>> = OnceLock::new();
    WAKE.get_or_init(|| {
        let wake = UnixStream::pair().and_then(|(r, w)| {
            r.set_nonblocking(true)?;
            w.set_nonblocking(true)?;
            sys::on_signal_write_byte(RELEASE_SIGNAL, OwnedFd::from(w))?;
            Ok(r)
        });
        wake.map_err(|e| eprintln!("netns-test: cannot pause ({e}): going on"))
            .ok()
    })
    .as_ref()
}

/// The turn to pause, once no other test is paused; `None` (said) if it does not come
/// before `end`.
fn wait_turn(name: &str, end: Instant) -> Option<MutexGuard<'static, ()>> {
    let mut said = false;
    loop {
        match TURN.try_lock() {
            Ok(turn) => return Some(turn),
            Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => {}
        }
        if Instant::now() >= end {
            eprintln!(
                "netns-test: test {name} failed and did not pause: another test's pause \
                 lasted past this one's limit"
            );
            return None;
        }
        if !said {
            eprintln!("netns-test: test {name} failed and pauses once the paused test is let go");
            said = true;
        }
        std::thread::sleep(TURN_POLL.min(end.saturating_duration_since(Instant::now())));
    }
}

/// Until the release signal, a line on a terminal stdin (with `enter`), or `end`.
fn wait(wake: &UnixStream, end: Instant, mut enter: bool) {
    let stdin = std::io::stdin();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let mut fds = vec![wake.as_fd()];
        if enter {
            fds.push(stdin.as_fd());
        }
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        let Ok(ready) = sys::poll_readable(&fds, ms) else {
            return;
        };
        if ready[0] {
            return;
        }
        if enter && ready[1] {
            let mut line = [0u8; 256];
            match stdin.lock().read(&mut line) {
                Ok(0) | Err(_) => enter = false,
                Ok(n) if line[..n].contains(&b'\n') => return,
                Ok(_) => {}
            }
        }
    }
}
