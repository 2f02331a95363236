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

/// `open_tree` flag: a detached copy of the tree (`OPEN_TREE_CLONE`).
const OPEN_TREE_CLONE: libc::c_uint = 1;
/// `move_mount` flag: the source is the fd itself (`MOVE_MOUNT_F_EMPTY_PATH`).
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

/// Mounts a symbolic link to `points_to` over `target` itself (not over what `target`
/// points to): the link is made in a tmpfs mounted for the moment on `stage` (an existing
/// directory), taken with `open_tree` and moved onto `target` with `move_mount`, which,
/// unlike `mount(2)`, does not follow a link at `target` (Linux 5.2 or later; `ENOSYS`
/// before).
pub(crate) fn mount_symlink(stage: &Path, target: &Path, points_to: &str) -> io::Result<()> {
    mount_tmpfs(stage)?;
    let link = stage.join("link");
    let copy = std::os::unix::fs::symlink(points_to, &link).and_then(|()| {
        let link = cstr(&link)?;
        // SAFETY: a valid C string; the fd returned is owned below.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                link.as_ptr(),
                OPEN_TREE_CLONE
                    | libc::O_CLOEXEC as libc::c_uint
                    | libc::AT_SYMLINK_NOFOLLOW as libc::c_uint,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: open_tree returned a fresh fd that nothing else owns.
        Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) })
    });
    let stage = cstr(stage)?;
    // SAFETY: valid C string. The copy, if made, keeps its own tmpfs alive.
    if unsafe { libc::umount2(stage.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let copy = copy?;
    let target = cstr(target)?;
    // SAFETY: a valid fd and C strings; the empty path names the fd itself.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            std::os::fd::AsRawFd::as_raw_fd(&copy),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
