//! Canonical paths: the path of the file the kernel acts on, whatever
//! spelling the workload used (`/etc//shadow`, `/etc/../etc/shadow`,
//! `/proc/self/root/etc/shadow`, a symbolic link).
//!
//! # Cost
//!
//! - A successful open is named by one `readlink` of `/proc/PID/fd/FD` at
//!   the exit stop (see the session), not here.
//! - [`lexical`] is string work only: it rewrites the `/proc/self`,
//!   `/proc/thread-self` and `/dev/fd` aliases to the tracee's own pid and
//!   collapses `//`, `.` and `..`. A failed open with ENOENT gets only this.
//! - [`canonical`] lets the kernel resolve the path: one
//!   `open(O_PATH)`, one `readlink` of the tracer's `/proc/self/fd/N` and one
//!   `close`, whatever the number of components, instead of an `lstat` per
//!   component. It follows symbolic links and magic links
//!   (`/proc/PID/root`, `/proc/PID/cwd`, `/proc/PID/fd/N`) as the kernel
//!   does. When the last component must not be followed, only its directory
//!   is resolved. It is used for the rare file events (unlink, rename,
//!   chmod, ...), for failed opens other than ENOENT, and for every open at
//!   entry when a deny gate needs the path before the kernel acts.
//!
//! # Limitations
//!
//! The tracer resolves with its own root and its own `/proc/self`. So the
//! path of a tracee in a chroot resolves as it would for the tracer, and so
//! does a symbolic link whose target is `/proc/self/...`. The `/dev/fd`,
//! `/dev/stdin`, `/dev/stdout` and `/dev/stderr` links are rewritten first.
//!
//! NOTE: the tracer resolves on its own thread, so a path on a hung network
//! or FUSE mount stalls the tracer as it stalls the tracee.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

/// Rewrites the aliases that name the calling process (`/proc/self`,
/// `/proc/thread-self`, `/dev/fd`, `/dev/stdin`...) to `/proc/TGID/...`,
/// so that the tracer resolves them for the tracee and not for itself.
pub fn unalias(tgid: u32, tid: u32, path: &str) -> String {
    const ALIASES: [&str; 6] = [
        "/proc/self",
        "/proc/thread-self",
        "/dev/fd",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
    ];
    let trimmed = collapse_slashes(path);
    for alias in ALIASES {
        let Some(rest) = trimmed.strip_prefix(alias) else {
            continue;
        };
        if !rest.is_empty() && !rest.starts_with('/') {
            continue;
        }
        // Formatted only on a match: the dynamic loader alone tries dozens
        // of paths that fail with ENOENT, and each of them comes here.
        let replacement = match alias {
            "/proc/self" => format!("/proc/{tgid}"),
            "/proc/thread-self" => format!("/proc/{tgid}/task/{tid}"),
            "/dev/fd" => format!("/proc/{tgid}/fd"),
            "/dev/stdin" => format!("/proc/{tgid}/fd/0"),
            "/dev/stdout" => format!("/proc/{tgid}/fd/1"),
            _ => format!("/proc/{tgid}/fd/2"),
        };
        return format!("{replacement}{rest}");
    }
    trimmed
}

fn collapse_slashes(path: &str) -> String {
    let mut collapsed = String::with_capacity(path.len());
    for character in path.chars() {
        if character == '/' && collapsed.ends_with('/') {
            continue;
        }
        collapsed.push(character);
    }
    collapsed
}

/// Normalizes an absolute path as text: rewrites the self aliases, then
/// collapses `//`, `.` and `..` (`..` of `/` is `/`). Symbolic links are not
/// looked at, so `link/..` may name another directory than the kernel's.
pub fn lexical(tgid: u32, tid: u32, path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_string();
    }
    let unaliased = unalias(tgid, tid, path);
    let mut parts: Vec<&str> = Vec::new();
    for component in unaliased.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Returns the path the kernel gives the file or directory at `path`
/// (absolute, already unaliased), following every symbolic link.
fn resolve(path: &str) -> Option<String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let target = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
    let target = target.to_string_lossy().into_owned();
    target.starts_with('/').then_some(target)
}

/// Returns the canonical path of an open at its entry, as [`canonical`]
/// does, or `None` when the path cannot be known before the kernel acts:
/// a relative path, or a dangling symbolic link in a followed last
/// component, whose target an `O_CREAT` open creates.
pub fn canonical_before_open(tgid: u32, tid: u32, path: &str, follow_last: bool) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    if follow_last {
        let unaliased = unalias(tgid, tid, path);
        if let Some(resolved) = resolve(&unaliased) {
            return Some(resolved);
        }
        let dangling = std::fs::symlink_metadata(&unaliased)
            .is_ok_and(|metadata| metadata.file_type().is_symlink());
        if dangling {
            return None;
        }
    }
    // The last component is not followed, missing or not a link: its
    // directory decides.
    Some(canonical(tgid, tid, path, false))
}

/// Returns the canonical form of the absolute `path` of thread `tid` in
/// thread group `tgid`. With `follow_last`, a symbolic link in the last
/// component is followed (open, chmod, exec). Without it, the last
/// component is kept and only its directory is resolved (unlink, rename,
/// lchown, `O_NOFOLLOW`). A path whose directory does not exist is
/// normalized lexically.
pub fn canonical(tgid: u32, tid: u32, path: &str, follow_last: bool) -> String {
    if !path.starts_with('/') {
        return path.to_string();
    }
    let unaliased = unalias(tgid, tid, path);
    let trimmed = unaliased.trim_end_matches('/');
    let (directory, last) = match trimmed.rfind('/') {
        Some(index) => (&trimmed[..index], &trimmed[index + 1..]),
        None => ("", trimmed),
    };
    // A trailing slash, `.` or `..` always resolves the last component.
    let follow = follow_last || trimmed.len() != unaliased.len() || matches!(last, "" | "." | "..");
    if follow {
        if let Some(resolved) = resolve(&unaliased) {
            return resolved;
        }
    }
    if matches!(last, "" | "." | "..") {
        return lexical(tgid, tid, &unaliased);
    }
    let directory = if directory.is_empty() { "/" } else { directory };
    match resolve(directory) {
        Some(resolved) if resolved == "/" => format!("/{last}"),
        Some(resolved) => format!("{resolved}/{last}"),
        None => lexical(tgid, tid, &unaliased),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_collapses_slashes_dots_and_parents() {
        assert_eq!(lexical(1, 1, "/etc//shadow"), "/etc/shadow");
        assert_eq!(lexical(1, 1, "/./etc/./shadow"), "/etc/shadow");
        assert_eq!(lexical(1, 1, "/etc/../etc/shadow"), "/etc/shadow");
        assert_eq!(lexical(1, 1, "/../../etc/shadow/"), "/etc/shadow");
        assert_eq!(lexical(1, 1, "/"), "/");
    }

    #[test]
    fn self_aliases_name_the_tracee() {
        assert_eq!(unalias(7, 8, "/proc/self/root/x"), "/proc/7/root/x");
        assert_eq!(unalias(7, 8, "/proc//self/fd/3"), "/proc/7/fd/3");
        assert_eq!(unalias(7, 8, "/proc/thread-self/cwd"), "/proc/7/task/8/cwd");
        assert_eq!(unalias(7, 8, "/dev/fd/4"), "/proc/7/fd/4");
        assert_eq!(unalias(7, 8, "/dev/stdin"), "/proc/7/fd/0");
        assert_eq!(unalias(7, 8, "/proc/selfish"), "/proc/selfish");
        assert_eq!(unalias(7, 8, "/dev/stdout"), "/proc/7/fd/1");
        assert_eq!(unalias(7, 8, "/dev/stderr/x"), "/proc/7/fd/2/x");
        assert_eq!(unalias(7, 8, "/usr//lib/x"), "/usr/lib/x");
    }

    #[test]
    fn canonical_follows_links_per_flag() {
        let directory = std::env::temp_dir().join(format!("sentrace-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(directory.join("real")).unwrap();
        std::fs::write(directory.join("real/file"), b"x").unwrap();
        std::os::unix::fs::symlink(directory.join("real"), directory.join("dir")).unwrap();
        std::os::unix::fs::symlink("real/file", directory.join("lnk")).unwrap();

        let base = directory.canonicalize().unwrap().display().to_string();
        let pid = std::process::id();

        assert_eq!(
            canonical(pid, pid, &format!("{base}/dir/../real//file"), true),
            format!("{base}/real/file")
        );
        assert_eq!(
            canonical(pid, pid, &format!("{base}/lnk"), true),
            format!("{base}/real/file")
        );
        assert_eq!(
            canonical(pid, pid, &format!("{base}/lnk"), false),
            format!("{base}/lnk")
        );
        assert_eq!(
            canonical(pid, pid, &format!("{base}/dir/new"), false),
            format!("{base}/real/new")
        );
        assert_eq!(
            canonical(pid, pid, &format!("/proc/self/root{base}/dir/file"), true),
            format!("{base}/real/file")
        );
        assert_eq!(canonical(pid, pid, "/no/such/../dir/x", true), "/no/dir/x");

        std::fs::remove_dir_all(&directory).unwrap();
    }
}
