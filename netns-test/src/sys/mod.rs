//! The syscall layer: the only module with `unsafe` (the crate denies `unsafe_code`
//! everywhere else), each block with a `// SAFETY:` line.
//!
//! - [`spawn_sandbox`] re-executes the test binary as PID 1 of fresh user, network, mount
//!   and PID namespaces (clone with namespace flags, then exec; no Rust code runs in the
//!   forked child, only raw syscalls on memory prepared before the fork).
//! - Network namespaces for nodes are made per thread ([`new_netns`]) and entered per thread
//!   ([`enter_netns`]); a socket belongs to the netns of the thread that creates it.
//!
//! By concern, each file private and its items re-exported here, so that callers write
//! `sys::in_netns` whatever file holds it:
//!
//! - `spawn`: the sandbox's process (clone, re-exec, status fd, wait, kill);
//! - `netns`: network namespaces per thread, `lo` up;
//! - `mount`: the sandbox's mounts (private, procfs, tmpfs, in-memory files), host name;
//! - `command`: programs in a node (its mount namespace, the pre-exec step);
//! - `packet`: `AF_PACKET` sockets of the capture and of the relay;
//! - `signal`: the diagnostics signal, sending signals, polling fds;
//! - `limits`: rlimits and timer slack.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

mod command;
mod limits;
mod mount;
mod netns;
mod packet;
mod process;
mod signal;
mod spawn;

pub(crate) use self::command::{command_in_netns, enter_node, node_mounts};
pub(crate) use self::limits::{get_rlimit, set_rlimit, set_timer_slack, Rlimit};
pub(crate) use self::mount::{
    bind_memfiles, make_mounts_private, mount_proc, mount_symlink, mount_tmpfs, set_hostname,
};
pub(crate) use self::netns::{
    current_netns, enter_netns, in_netns, loopback_up, new_netns, set_if_flags,
};
pub(crate) use self::packet::{
    original_dst_v6, packet_drops, packet_recv, packet_socket, relay_recv, relay_send, relay_socket,
};
pub(crate) use self::process::{at_exit, default_action, exit_now, fork_single_threaded};
pub(crate) use self::signal::{on_signal_write_byte, poll_readable, send_signal, wait_readable};
pub(crate) use self::spawn::{
    kill, release_stdio, seccomp_mode, spawn_sandbox, take_status_fd, thread_count,
    try_clone_userns, unshare_lab, wait, Exit, SandboxChild, SandboxCmd,
};

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}
