//! Helpers shared by the integration tests of `netns-test`: `mod common;` in a test file.
//! Each test binary uses some of them.
//!
//! This suite checks what the library does to the kernel: a network built from a topology
//! and observed from inside its nodes (addresses, routes, NAT, faults, reachability, node
//! handles and programs), and the crate's programs (`Lab`, the doctor). How a test is run
//! (the attribute, sandbox, harness mode, diagnostics folders) is `tests/tests/`.
#![allow(dead_code)]

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

/// Runs an assertion that must panic; returns its message.
pub(crate) async fn panic_message<F: Future>(f: F) -> String {
    match AssertUnwindSafe(f).catch_unwind().await {
        Ok(_) => panic!("the assertion passed but should have failed"),
        Err(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}

/// Asserts that `text` holds every one of `parts`, printing `text` when one is missing.
pub(crate) fn assert_has(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "missing {p:?} in:\n{text}");
    }
}

/// Runs `f` with the soft `RLIMIT_NOFILE` at the lowest free descriptor: nothing can be
/// opened until it ends.
pub(crate) async fn with_no_free_fd<F: Future>(f: F) -> F::Output {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on valid pointers; the descriptor from dup is closed at once.
    let lowest = unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let fd = libc::dup(0);
        assert!(fd >= 0);
        libc::close(fd);
        fd
    };
    let low = libc::rlimit {
        rlim_cur: lowest as libc::rlim_t,
        rlim_max: old.rlim_max,
    };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    let out = AssertUnwindSafe(f).catch_unwind().await;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);
    out.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// `PROGRAM ARGS...` in `node`, which must exit 0: its standard output.
pub(crate) fn sh(node: &netns_test::Node, program: &str, args: &[&str]) -> String {
    let out = node
        .command(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} in {}: {}\n{}",
        node.name(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
