//! The sandbox's mount and UTS namespaces: private mounts, its own procfs, tmpfs, files
//! kept in memory and bound over existing ones, and its host name.

use std::ffi::CString;
use std::io;
use std::path::Path;

use super::cstr;

fn mount(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
) -> io::Result<()> {
    let src = src.map(cstr).transpose()?;
    let target = cstr(target)?;
    let fstype = fstype.map(|s| CString::new(s).expect("no NUL in fs type"));
    // SAFETY: all pointers are valid NUL-terminated strings or null.
    let r = unsafe {
        libc::mount(
            src.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            target.as_ptr(),
            fstype.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            flags,
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mounts an empty tmpfs on `target`.
pub(crate) fn mount_tmpfs(target: &Path) -> io::Result<()> {
    mount(
        Some(Path::new("tmpfs")),
        target,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
    )
}

/// Makes every mount private to this mount namespace.
pub(crate) fn make_mounts_private() -> io::Result<()> {
    mount(None, Path::new("/"), None, libc::MS_REC | libc::MS_PRIVATE)
}

/// Mounts a fresh procfs for this PID namespace.
pub(crate) fn mount_proc() -> io::Result<()> {
    mount(
        Some(Path::new("proc")),
        Path::new("/proc"),
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
    )
}

/// Bind-mounts in-memory files over existing files (`/etc/hosts` and the like).
///
/// The files are written to a tmpfs mounted for the moment on `stage` (an existing
/// directory), bound over their targets, and the tmpfs is then detached from `stage`: the
/// bind mounts keep it alive, `stage` shows what it showed before, and nothing touches a
/// disk, so nothing can be left behind. Returns the targets that could not be bound
/// (missing, or a dangling link) with the error.
pub(crate) fn bind_memfiles(
    stage: &Path,
    files: &[(&Path, &[u8])],
) -> io::Result<Vec<(std::path::PathBuf, io::Error)>> {
    mount(
        Some(Path::new("tmpfs")),
        stage,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
    )?;
    let mut failed = Vec::new();
    for (i, (target, contents)) in files.iter().enumerate() {
        let src = stage.join(format!("file{i}"));
        let r = std::fs::write(&src, contents)
            .and_then(|()| mount(Some(&src), target, None, libc::MS_BIND));
        if let Err(e) = r {
            failed.push((target.to_path_buf(), e));
        }
    }
    let target = cstr(stage)?;
    // SAFETY: valid C string.
    if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(failed)
}

/// Sets the host name of this UTS namespace.
pub(crate) fn set_hostname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe `name`.
    if unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
