//! Keeping the kernel's linkwatch going through a big build.
//!
//! A link's queue is set up, and its operstate turns UP, by the kernel's linkwatch work,
//! which handles at most 200 devices a run. Runs follow one another at once while new
//! urgent events come in; once they stop, what is left waits for the next run, up to a
//! second later. The last ports of a 1000-port bridge waited 0.3-1 s that way after the
//! last netlink request. While many links are still coming up, the wait for them
//! [`kick`]s: it takes a veth end of a namespace of its own (made once per process, and
//! seen by no network) down and up again, two urgent events, so that the next run starts
//! now.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use rtnetlink::{LinkUnspec, LinkVeth};

use crate::sys;

/// The kick namespace, once made.
static KICK: Mutex<Option<Arc<OwnedFd>>> = Mutex::new(None);

/// Takes the kick veth down and up. Best effort: without it the wait only takes longer.
pub(crate) async fn kick() {
    let made = KICK.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let ns = match made {
        Some(ns) => ns,
        None => match make().await {
            Ok(ns) => {
                let ns = Arc::new(ns);
                *KICK.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&ns));
                ns
            }
            Err(_) => return,
        },
    };
    let flags = libc::IFF_BROADCAST | libc::IFF_MULTICAST;
    let _ = sys::in_netns(ns.as_fd(), || {
        sys::set_if_flags(b"kick0\0", flags)?;
        sys::set_if_flags(b"kick0\0", flags | libc::IFF_UP)
    });
}

/// A namespace with a veth pair `kick0`/`kick1`, both up. Must run inside a tokio
/// runtime: the netlink connection is spawned on it (and ends when the handle goes).
async fn make() -> std::io::Result<OwnedFd> {
    let home = sys::current_netns()?;
    let ns = sys::new_netns(home.as_fd())?;
    let (conn, nl, _) = sys::in_netns(ns.as_fd(), rtnetlink::new_connection)??;
    tokio::spawn(conn);
    let fail = |e: rtnetlink::Error| std::io::Error::other(e.to_string());
    nl.link()
        .add(LinkVeth::new("kick0", "kick1").up().build())
        .execute()
        .await
        .map_err(fail)?;
    nl.link()
        .set(LinkUnspec::new_with_name("kick1").up().build())
        .execute()
        .await
        .map_err(fail)?;
    Ok(ns)
}
