//! Resource limits (`getrlimit`/`setrlimit`) and the calling thread's timer slack.

use std::io;

/// A resource limit of [`get_rlimit`] and [`set_rlimit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rlimit {
    /// `RLIMIT_NOFILE` (`ulimit -n`).
    Nofile,
    /// `RLIMIT_NPROC` (`ulimit -u`).
    Nproc,
}

/// The type glibc's `getrlimit` takes its resource as (an int elsewhere).
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

impl Rlimit {
    fn resource(self) -> Resource {
        match self {
            Rlimit::Nofile => libc::RLIMIT_NOFILE,
            Rlimit::Nproc => libc::RLIMIT_NPROC,
        }
    }
}

/// `getrlimit`: the soft and hard limit (`u64::MAX` for RLIM_INFINITY).
pub(crate) fn get_rlimit(limit: Rlimit) -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid out-pointer for the call.
    if unsafe { libc::getrlimit(limit.resource(), &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // rlim_t is u64 on 64-bit Linux, u32 elsewhere.
    #[allow(clippy::unnecessary_cast)]
    let wide = |v: libc::rlim_t| {
        if v == libc::RLIM_INFINITY {
            u64::MAX
        } else {
            v as u64
        }
    };
    Ok((wide(lim.rlim_cur), wide(lim.rlim_max)))
}

/// `setrlimit`: sets the soft and hard limit.
pub(crate) fn set_rlimit(limit: Rlimit, soft: u64, hard: u64) -> io::Result<()> {
    let narrow = |v: u64| libc::rlim_t::try_from(v).unwrap_or(libc::RLIM_INFINITY);
    let lim = libc::rlimit {
        rlim_cur: narrow(soft),
        rlim_max: narrow(hard),
    };
    // SAFETY: lim is a valid rlimit for the call.
    if unsafe { libc::setrlimit(limit.resource(), &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the calling thread's timer slack (how late the kernel may wake it), in ns.
pub(crate) fn set_timer_slack(ns: u64) -> io::Result<()> {
    // SAFETY: plain prctl on the calling thread.
    if unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
