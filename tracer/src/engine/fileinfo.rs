//! What the tracer adds to a file beyond its path: owner, mode and times
//! (`stat`), the filesystem type, and whether it was written into a
//! container's upper layer. The clock and terminal conversions of the
//! process context live here too.
//!
//! # Cost
//!
//! - `stat` is one syscall, made only for the executable of an exec and for
//!   chmod and chown (before the change), never for opens.
//! - The filesystem comes from the tracer's own mount table, read once and
//!   read again after a traced mount or umount succeeds: a longest-prefix
//!   match per event, no syscall.
//!
//! # Limitations
//!
//! - Paths are looked up in the tracer's mount table, as [`super::paths`]
//!   resolves them with the tracer's root; a tracee in another mount
//!   namespace that mounted over a path sees another filesystem there.
//! - The upper layer is told by time: a file on an overlay filesystem whose
//!   status changed after the container started (outside containers, after
//!   the tracer started) counts as written into the upper layer. Image
//!   layers are unpacked before a container starts, and a copy-up sets a
//!   new change time, so files from the image read as lower-layer files.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, OnceLock};

use protocol::{EventBody, File, FileStat};

/// Reads the `stat` of `path`, following a symbolic link in the last
/// component when `follow` is set.
pub fn stat(path: &str, follow: bool) -> Option<FileStat> {
    if path.is_empty() {
        return None;
    }
    let metadata = if follow {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    }
    .ok()?;
    Some(FileStat {
        mode: metadata.mode(),
        uid: metadata.uid(),
        gid: metadata.gid(),
        inode: metadata.ino(),
        modification_time: epoch_ns(metadata.mtime(), metadata.mtime_nsec()),
        change_time: epoch_ns(metadata.ctime(), metadata.ctime_nsec()),
    })
}

fn epoch_ns(seconds: i64, nanos: i64) -> u64 {
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    u64::try_from(total).unwrap_or(0)
}

/// Fills the `stat`, filesystem and upper-layer flag of `file` from the
/// file at `source` (its path, or a `/proc` link to the same inode).
/// `started_ns` is when the container, or the tracer, started.
pub fn describe(file: &mut File, source: &str, follow: bool, started_ns: u64) {
    file.stat = stat(source, follow);
    file.filesystem = filesystem_of(&file.path);
    file.in_upper_layer = file.filesystem == "overlay"
        && file
            .stat
            .is_some_and(|stat| stat.change_time > started_ns && started_ns > 0);
}

/// Names the filesystem of the event's file and destination where the
/// decoder left it empty, and drops the cached mount table after a mount
/// or umount that succeeded.
pub fn fill_filesystems(body: &mut EventBody) {
    let remounted = match body {
        EventBody::Mount { mount } => mount.retval >= 0,
        EventBody::Umount { umount } => umount.retval >= 0,
        _ => false,
    };
    if remounted {
        mounts_changed();
    }
    let Some(file) = body.file_mut() else {
        return;
    };
    if file.filesystem.is_empty() {
        file.filesystem = filesystem_of(&file.path);
    }
    if let Some(destination) = file.destination.as_deref_mut() {
        if destination.filesystem.is_empty() {
            destination.filesystem = filesystem_of(&destination.path);
        }
    }
}

/// One line of the mount table.
#[derive(Debug, Clone, PartialEq)]
struct Mount {
    point: String,
    fs_type: String,
}

/// The tracer's mount table, newest mount last; `None` until first read or
/// after [`mounts_changed`].
static MOUNTS: Mutex<Option<Vec<Mount>>> = Mutex::new(None);

/// Drops the cached mount table; the next lookup reads it again.
pub fn mounts_changed() {
    if let Ok(mut mounts) = MOUNTS.lock() {
        *mounts = None;
    }
}

/// Returns the type of the filesystem that holds `path` (`ext4`, `proc`,
/// `overlay`), or empty when the path is not absolute or the table is
/// unreadable.
pub fn filesystem_of(path: &str) -> String {
    if !path.starts_with('/') {
        return String::new();
    }
    let Ok(mut cached) = MOUNTS.lock() else {
        return String::new();
    };
    mount_for(cached.get_or_insert_with(read_mounts), path)
        .map(|mount| mount.fs_type.clone())
        .unwrap_or_default()
}

/// The mount point of the cgroup v2 hierarchy (`/sys/fs/cgroup`, or
/// `/sys/fs/cgroup/unified` on hybrid hosts), when one is mounted.
pub fn cgroup2_mount() -> Option<String> {
    let mut cached = MOUNTS.lock().ok()?;
    cached
        .get_or_insert_with(read_mounts)
        .iter()
        .rev()
        .find(|mount| mount.fs_type == "cgroup2")
        .map(|mount| mount.point.clone())
}

/// The mount holding `path`: the longest mount point that is a prefix of
/// it on a component boundary; of equal ones, the newest (it hides the
/// others).
fn mount_for<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    // max_by_key keeps the last of equal keys: the newest mount.
    mounts
        .iter()
        .filter(|mount| {
            let point = mount.point.trim_end_matches('/');
            path.strip_prefix(point)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .max_by_key(|mount| mount.point.trim_end_matches('/').len())
}

fn read_mounts() -> Vec<Mount> {
    parse_mountinfo(&super::procfs::read_text("/proc/self/mountinfo").unwrap_or_default())
}

/// Parses `/proc/PID/mountinfo`: the fifth field is the mount point (with
/// `\040`-style escapes), the first after ` - ` the filesystem type.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let point = before.split(' ').nth(4)?;
            let fs_type = after.split(' ').next()?;
            Some(Mount {
                point: unescape_octal(point),
                fs_type: fs_type.to_string(),
            })
        })
        .collect()
}

/// Decodes the `\NNN` octal escapes the kernel writes for space, tab,
/// newline and backslash in mount points.
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let digits = bytes.get(index + 1..index + 4);
        let octal = digits
            .filter(|digits| digits.iter().all(|digit| (b'0'..=b'7').contains(digit)))
            .and_then(|digits| u8::from_str_radix(std::str::from_utf8(digits).ok()?, 8).ok());
        match (bytes[index], octal) {
            (b'\\', Some(value)) => {
                out.push(value);
                index += 4;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Nanoseconds since the Unix epoch at which the machine booted, from the
/// difference between the wall clock and the boot clock.
pub fn boot_time_ns() -> u64 {
    static BOOT: OnceLock<u64> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let now = |clock| {
            let mut time = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes one timespec that outlives the call.
            let result = unsafe { libc::clock_gettime(clock, &mut time) };
            if result == 0 {
                epoch_ns(time.tv_sec, time.tv_nsec)
            } else {
                0
            }
        };
        let real = now(libc::CLOCK_REALTIME);
        let boot = now(libc::CLOCK_BOOTTIME);
        real.saturating_sub(boot)
    })
}

/// Converts a start time in clock ticks after boot (`/proc/PID/stat`) to
/// nanoseconds since the Unix epoch.
pub fn ticks_to_epoch_ns(ticks: u64) -> u64 {
    static TICKS_PER_SECOND: OnceLock<u64> = OnceLock::new();
    let rate = *TICKS_PER_SECOND.get_or_init(|| {
        // SAFETY: sysconf reads a constant and takes no pointers.
        let rate = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        u64::try_from(rate)
            .ok()
            .filter(|rate| *rate > 0)
            .unwrap_or(100)
    });
    boot_time_ns().saturating_add(ticks.saturating_mul(1_000_000_000) / rate)
}

/// Names the terminal device `tty_nr` of `/proc/PID/stat` the way the kernel
/// names ttys (`pts0`, `tty1`, `ttyS0`); empty for none.
pub fn tty_name(tty_nr: u32) -> String {
    if tty_nr == 0 {
        return String::new();
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xf_ff00);
    match major {
        136..=143 => format!("pts{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => fs::read_link(format!("/sys/dev/char/{major}:{minor}"))
            .ok()
            .and_then(|target| Some(target.file_name()?.to_string_lossy().into_owned()))
            .unwrap_or_else(|| format!("tty{major}:{minor}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_lookup_takes_longest_and_newest() {
        let table = "\
22 1 8:1 / / rw - ext4 /dev/sda1 rw
23 22 0:5 / /proc rw - proc proc rw
24 22 0:6 / /tmp rw - tmpfs tmpfs rw
25 22 0:7 / /tmp rw - overlay overlay rw
26 22 0:8 / /my\\040dir rw - tmpfs tmpfs rw
";
        let mounts = parse_mountinfo(table);
        let fs = |path| mount_for(&mounts, path).map(|mount| mount.fs_type.as_str());
        assert_eq!(fs("/proc/sys/kernel/core_pattern"), Some("proc"));
        assert_eq!(fs("/tmp/x"), Some("overlay"));
        assert_eq!(fs("/tmpfoo"), Some("ext4"));
        assert_eq!(fs("/my dir/a"), Some("tmpfs"));
        assert_eq!(fs("/"), Some("ext4"));
    }

    #[test]
    fn own_mounts_name_proc() {
        assert_eq!(filesystem_of("/proc/self/status"), "proc");
        assert_eq!(filesystem_of("relative"), "");
    }

    #[test]
    fn tty_names_follow_the_kernel() {
        assert_eq!(tty_name(0), "");
        assert_eq!(tty_name(136 << 8 | 3), "pts3");
        assert_eq!(tty_name(137 << 8 | 1), "pts257");
        assert_eq!(tty_name(4 << 8 | 1), "tty1");
        assert_eq!(tty_name(4 << 8 | 65), "ttyS1");
        // Minor numbers above 255 sit in bits 20..31.
        assert_eq!(tty_name((136 << 8) | (1 << 20) | 4), "pts260");
    }

    #[test]
    fn stat_reads_owner_mode_and_times() {
        let stat = stat("/proc/self/exe", true).expect("stat of own executable");
        assert_eq!(stat.mode & libc::S_IFMT, libc::S_IFREG);
        assert!(stat.change_time > 1_500_000_000_000_000_000);
        let link = super::stat("/proc/self/exe", false).expect("lstat");
        assert_eq!(link.mode & libc::S_IFMT, libc::S_IFLNK);
        assert!(super::stat("/nonexistent/file", true).is_none());
    }

    #[test]
    fn start_ticks_convert_near_now() {
        let stat = fs::read_to_string("/proc/self/stat").expect("own stat");
        let close = stat.rfind(')').expect("comm end");
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks: u64 = fields[19].parse().expect("start ticks");
        let started = ticks_to_epoch_ns(ticks);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        assert!(started <= now + 1_000_000_000, "{started} after {now}");
        assert!(
            now.saturating_sub(started) < 3_600_000_000_000,
            "{started} long before {now}"
        );
    }
}
