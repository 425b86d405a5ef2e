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

use std::ffi::CString;
use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

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

/// The result of the tracer's own lookup of a path.
enum Lookup {
    /// The path the kernel gives the file.
    Found(String),
    /// The path or its directory does not exist.
    Missing,
    /// The lookup went through a magic link such as `/proc/self/cwd`,
    /// which names the tracer's own files when the tracer resolves it, or
    /// failed for the tracer alone (a path too long, no permission).
    Unreliable,
}

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `RESOLVE_NO_MAGICLINKS` of openat2(2).
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;

/// False once openat2 failed with ENOSYS (Linux before 5.6).
static OPENAT2_WORKS: AtomicBool = AtomicBool::new(true);

/// Looks `path` up as [`resolve`] does, refusing magic links.
fn look_up(path: &str) -> Lookup {
    let Ok(name) = CString::new(path) else {
        return Lookup::Unreliable;
    };
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `name` is a NUL-terminated string and `how` a valid `open_how`
    // of the size passed; openat2 only reads them.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            name.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => Lookup::Missing,
            Some(libc::ENOSYS) => {
                if OPENAT2_WORKS.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        "openat2 is missing (Linux before 5.6); every open keeps its exit stop"
                    );
                }
                Lookup::Unreliable
            }
            _ => Lookup::Unreliable,
        };
    }
    // SAFETY: openat2 returned a new descriptor that nothing else owns.
    let file = unsafe { std::fs::File::from_raw_fd(fd as RawFd) };
    match std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
        Ok(target) => match target.into_os_string().into_string() {
            Ok(target) if target.starts_with('/') => Lookup::Found(target),
            _ => Lookup::Unreliable,
        },
        Err(_) => Lookup::Unreliable,
    }
}

/// Returns true for a path the tracer may trust as the tracee's: valid
/// UTF-8 (a lossy conversion leaves U+FFFD), and not below the tracer's
/// own `/proc/PID`, where `/proc/self` and `/proc/thread-self` lead when
/// the tracer resolves them.
fn trusted(path: &str) -> bool {
    static OWN: OnceLock<String> = OnceLock::new();
    let own = OWN.get_or_init(|| format!("/proc/{}", std::process::id()));
    let below_own = path
        .strip_prefix(own.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    !path.contains('\u{FFFD}') && !below_own
}

/// Returns the canonical path of an open at its entry, as [`canonical`]
/// does, or `None` when the tracer cannot know it before the kernel acts.
/// That is the case for:
/// - a relative path, or one that is not valid UTF-8;
/// - a path through a magic link (`/proc/PID/cwd`, `/proc/PID/fd/N`,
///   `/dev/fd/N`, a symbolic link to one of them) or through the tracer's
///   own `/proc/self`;
/// - a lookup that fails for the tracer alone;
/// - a dangling symbolic link in a followed last component, whose target
///   an `O_CREAT` open creates;
/// - every path on a kernel without openat2.
pub fn canonical_before_open(tgid: u32, tid: u32, path: &str, follow_last: bool) -> Option<String> {
    if !path.starts_with('/') || !trusted(path) || !OPENAT2_WORKS.load(Ordering::Relaxed) {
        return None;
    }
    let unaliased = unalias(tgid, tid, path);
    let trimmed = unaliased.trim_end_matches('/');
    let (directory, last) = match trimmed.rfind('/') {
        Some(index) => (&trimmed[..index], &trimmed[index + 1..]),
        None => ("", trimmed),
    };
    let special_last = trimmed.len() != unaliased.len() || matches!(last, "" | "." | "..");
    // A missing path makes the open fail, unless O_CREAT creates it; its
    // lexical form is then what an event would name.
    let missing = || {
        let lexical = lexical(tgid, tid, &unaliased);
        let reader_dependent = lexical.starts_with("/proc/") || lexical.starts_with("/dev/");
        (!reader_dependent).then_some(lexical)
    };
    if follow_last || special_last {
        match look_up(&unaliased) {
            Lookup::Found(resolved) => return trusted(&resolved).then_some(resolved),
            Lookup::Unreliable => return None,
            Lookup::Missing if special_last => return missing(),
            Lookup::Missing => {
                let dangling = std::fs::symlink_metadata(&unaliased)
                    .is_ok_and(|metadata| metadata.file_type().is_symlink());
                if dangling {
                    return None;
                }
            }
        }
    }
    // The last component is not followed, or missing and not a link: its
    // directory decides.
    match look_up(if directory.is_empty() { "/" } else { directory }) {
        Lookup::Found(resolved) => {
            let joined = if resolved == "/" {
                format!("/{last}")
            } else {
                format!("{resolved}/{last}")
            };
            trusted(&joined).then_some(joined)
        }
        Lookup::Missing => missing(),
        Lookup::Unreliable => None,
    }
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

#[cfg(test)]
mod lookup_tests {
    use super::*;

    fn scratch(name: &str) -> String {
        let directory =
            std::env::temp_dir().join(format!("sentrace-lookup-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        directory.canonicalize().unwrap().display().to_string()
    }

    #[test]
    fn plain_and_linked_paths_resolve() {
        let base = scratch("plain");
        std::fs::write(format!("{base}/file"), b"x").unwrap();
        std::os::unix::fs::symlink(format!("{base}/file"), format!("{base}/link")).unwrap();
        let resolved = canonical_before_open(1, 1, &format!("{base}/link"), true);
        assert_eq!(resolved, Some(format!("{base}/file")));
        let missing = canonical_before_open(1, 1, &format!("{base}/new"), true);
        assert_eq!(missing, Some(format!("{base}/new")));
    }

    #[test]
    fn magic_links_are_left_to_the_exit_stop() {
        let base = scratch("magic");
        std::os::unix::fs::symlink("/proc/self/cwd", format!("{base}/selfcwd")).unwrap();
        assert_eq!(
            canonical_before_open(1, 1, &format!("{base}/selfcwd/x"), true),
            None
        );
        assert_eq!(
            canonical_before_open(1, 1, "/proc/./self/cwd/etc/shadow", true),
            None
        );
        assert_eq!(
            canonical_before_open(1, 1, "/dev/./fd/3/shadow", true),
            None
        );
        assert_eq!(
            canonical_before_open(1, 1, "/proc/self/cwd/shadow", true),
            None
        );
    }

    #[test]
    fn tracer_own_proc_entries_are_not_trusted() {
        let own = std::process::id();
        assert_eq!(
            canonical_before_open(1, 1, "/proc/./self/environ", true),
            None
        );
        assert_eq!(
            canonical_before_open(1, 1, &format!("/proc/{own}/status"), true),
            None
        );
        // The literal alias names the tracee, here pid 1.
        assert_eq!(
            canonical_before_open(1, 1, "/proc/self/environ", true),
            Some("/proc/1/environ".to_string())
        );
    }

    #[test]
    fn unreadable_and_overlong_paths_undecided() {
        assert_eq!(
            canonical_before_open(1, 1, "/tmp/bad\u{FFFD}/x", true),
            None
        );
        assert_eq!(canonical_before_open(1, 1, "relative/x", true), None);
        let long = format!("/tmp/{}/x", "d/".repeat(3000));
        assert_eq!(canonical_before_open(1, 1, &long, true), None);
    }

    #[test]
    fn dangling_link_is_left_to_the_exit_stop() {
        let base = scratch("dangling");
        std::os::unix::fs::symlink(format!("{base}/target"), format!("{base}/link")).unwrap();
        assert_eq!(
            canonical_before_open(1, 1, &format!("{base}/link"), true),
            None
        );
        assert_eq!(
            canonical_before_open(1, 1, &format!("{base}/link"), false),
            Some(format!("{base}/link"))
        );
    }
}
