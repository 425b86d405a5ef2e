//! Process context and path resolution from `/proc`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, OnceLock};

use protocol::{Cgroup, Container, File, Process};

use super::fileinfo;

use crate::link::limits;

/// `AT_FDCWD` as a 64-bit register value.
const AT_FDCWD: i64 = libc::AT_FDCWD as i64;

/// Bytes of the buffer a `/proc` file is read into. It holds `status`,
/// `stat`, `cgroup`, `cmdline` and most `environ` files whole, so that such
/// a file costs one open, one read, the read that returns end of file and
/// one close.
const PROC_BUFFER_BYTES: usize = 8192;

thread_local! {
    /// The buffer [`with_proc_file`] reads into, kept between calls. A
    /// larger file grows it, and a buffer grown past 16 times its size is
    /// dropped after use.
    static PROC_BUFFER: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(vec![0; PROC_BUFFER_BYTES]);
}

/// Reads the whole file at `path` and returns what `parse` makes of its
/// bytes, or `None` when the file cannot be opened or read. The file is
/// read into a per-thread buffer without asking its size, which `/proc`
/// reports as 0, so `parse` must not call `with_proc_file` itself.
pub fn with_proc_file<R>(path: &str, parse: impl FnOnce(&[u8]) -> R) -> Option<R> {
    let mut file = fs::File::open(path).ok()?;
    PROC_BUFFER.with_borrow_mut(|buffer| {
        let result = read_whole(&mut file, buffer)
            .ok()
            .map(|length| parse(&buffer[..length]));
        if buffer.len() > PROC_BUFFER_BYTES * 16 {
            *buffer = vec![0; PROC_BUFFER_BYTES];
        }
        result
    })
}

/// Reads `file` to its end into `buffer`, growing it when full. Returns
/// the number of bytes read.
fn read_whole(file: &mut fs::File, buffer: &mut Vec<u8>) -> std::io::Result<usize> {
    use std::io::Read;
    let mut length = 0;
    loop {
        if length == buffer.len() {
            buffer.resize(buffer.len() * 2, 0);
        }
        match file.read(&mut buffer[length..]) {
            Ok(0) => return Ok(length),
            Ok(count) => length += count,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// Reads a `/proc` text file. Invalid UTF-8 becomes U+FFFD instead of an
/// error, because a process chooses its own name (`comm`, which `status`
/// and `stat` repeat) and its mount points, and the rest of the file must
/// still be read.
pub fn read_text(path: &str) -> Option<String> {
    with_proc_file(path, |bytes| String::from_utf8_lossy(bytes).into_owned())
}

/// Parts of a process context that the caller already has, which
/// [`snapshot_known`] takes instead of reading them again.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The argument list, as [`cmdline_argv`] makes it of `/proc/PID/cmdline`.
    pub argv: Option<Vec<String>>,
    /// The working directory.
    pub cwd: Option<String>,
    /// The cgroup of an earlier snapshot of the same process. Its inode is
    /// kept when the process is still in a cgroup of that path.
    pub cgroup: Option<Cgroup>,
}

/// Reads the context of process `pid` from `/proc`: ids, credentials, comm,
/// executable (with its `stat`), argv, cwd, terminal, login uid, cgroup and
/// container. Returns `None` when the process is gone or
/// `/proc/PID/status` is unreadable.
pub fn snapshot_process(pid: u32) -> Option<Process> {
    snapshot_known(pid, Known::default())
}

/// Reads the context of process `pid` as [`snapshot_process`] does, taking
/// the parts in `known` instead of reading them.
pub fn snapshot_known(pid: u32, known: Known) -> Option<Process> {
    let status = read_text(&format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|rest| {
                rest.split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let uids = field("Uid:");
    let gids = field("Gid:");
    let tgid = field("Tgid:").first().copied().unwrap_or(pid);
    let stat = read_stat(pid);
    // `stat` holds the same name as `comm`, printed by the same kernel function.
    let comm = match &stat {
        Some(stat) => stat.comm.clone(),
        None => read_text(&format!("/proc/{pid}/comm")).unwrap_or_default(),
    };
    let cgroups = read_text(&format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let container = container_of(&cgroups);
    let mut file =
        File::from_path(read_link(format!("/proc/{pid}/exe").as_str()).unwrap_or_default());
    fileinfo::describe(
        &mut file,
        &format!("/proc/{pid}/exe"),
        true,
        started_ns(&container),
    );
    Some(Process {
        pid: tgid,
        tid: pid,
        ppid: field("PPid:").first().copied().unwrap_or(0),
        uid: uids.first().copied().unwrap_or(0),
        euid: uids.get(1).copied().unwrap_or(0),
        gid: gids.first().copied().unwrap_or(0),
        egid: gids.get(1).copied().unwrap_or(0),
        comm: comm.trim_end_matches('\n').to_string(),
        file,
        argv: known.argv.unwrap_or_else(|| read_cmdline(pid)),
        cwd: known.cwd.unwrap_or_else(|| read_cwd(pid)),
        container,
        start_time_ns: stat
            .as_ref()
            .map_or(0, |stat| fileinfo::ticks_to_epoch_ns(stat.start_ticks)),
        tty_name: stat
            .as_ref()
            .map_or_else(String::new, |stat| fileinfo::tty_name(stat.tty_nr)),
        auid: read_auid(pid),
        cgroup: cgroup_of(&cgroups, known.cgroup),
        cap_effective: capabilities(&status, "CapEff:"),
        cap_permitted: capabilities(&status, "CapPrm:"),
        // /proc does not know of user sessions: the engine sets its own.
        user_session: None,
        interpreter: None,
    })
}

/// The fields of `/proc/PID/stat` the tracer uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Command name.
    pub comm: String,
    /// Parent pid.
    pub ppid: u32,
    /// Controlling terminal device number, 0 for none.
    pub tty_nr: u32,
    /// Clock ticks after boot at which the process started.
    pub start_ticks: u64,
}

/// Parses the text of `/proc/PID/stat`. The command name sits in parentheses
/// and may itself contain spaces and parentheses, so the fields after it are
/// found from the last `)`.
pub fn parse_stat(stat: &str) -> Option<Stat> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    // Fields after the name, numbered as in proc(5) from 3 (state).
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    Some(Stat {
        comm,
        ppid: rest.get(1)?.parse().ok()?,
        tty_nr: rest.get(4)?.parse::<i64>().ok()? as u32,
        start_ticks: rest.get(19)?.parse().ok()?,
    })
}

/// Reads and parses `/proc/PID/stat`.
pub fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&read_text(&format!("/proc/{pid}/stat"))?)
}

/// Reads the audit login uid; `None` when unset or without audit support.
fn read_auid(pid: u32) -> Option<u32> {
    let text = read_text(&format!("/proc/{pid}/loginuid"))?;
    text.trim()
        .parse()
        .ok()
        .filter(|auid| *auid != protocol::AUID_UNSET)
}

/// The cgroup of a process: the cgroup v2 path (`0::/path`) when there is
/// one, else the path of the first v1 hierarchy.
fn cgroup_path(cgroups: &str) -> String {
    let path = |line: &str| line.splitn(3, ':').nth(2).map(str::to_string);
    cgroups
        .lines()
        .find(|line| line.starts_with("0::"))
        .and_then(path)
        .or_else(|| cgroups.lines().next().and_then(path))
        .unwrap_or_default()
}

/// The cgroup of a process, with the inode of its directory below the
/// tracer's cgroup v2 mount (0 when the path is a v1 one or no v2
/// hierarchy is mounted). The inode of `earlier`, an earlier snapshot of
/// the same process, is kept when the path is the same: the kernel does not
/// remove a cgroup directory that holds a process.
// NOTE: a process that moved to another cgroup and back after its directory
// was removed and made again keeps the inode of the removed directory.
fn cgroup_of(cgroups: &str, earlier: Option<Cgroup>) -> Cgroup {
    let id = cgroup_path(cgroups);
    if let Some(earlier) = earlier.filter(|earlier| earlier.id == id) {
        return earlier;
    }
    let on_v2 = cgroups.lines().any(|line| line.starts_with("0::"));
    let inode = match fileinfo::cgroup2_mount() {
        Some(mount) if on_v2 => fs::metadata(format!("{mount}{}", id.trim_end_matches('/')))
            .map_or(0, |metadata| metadata.ino()),
        _ => 0,
    };
    Cgroup { id, inode }
}

/// Reads a capability set (`CapEff:`, `CapPrm:`) from `/proc/PID/status`.
fn capabilities(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

/// The container of a process with these cgroups, with its start time.
fn container_of(cgroups: &str) -> Container {
    let id = container_id_from_cgroup(cgroups);
    let created_at = if id.is_empty() {
        0
    } else {
        container_started(&id)
    };
    // Tags are declared to the tracer, never read from /proc.
    Container {
        id,
        created_at,
        tags: None,
    }
}

/// When the files of a process's container, or of the tracer outside
/// containers, started to change: the reference for the upper layer.
pub fn started_ns(container: &Container) -> u64 {
    if container.created_at > 0 {
        return container.created_at;
    }
    static TRACER_STARTED: OnceLock<u64> = OnceLock::new();
    *TRACER_STARTED.get_or_init(|| {
        read_stat(std::process::id())
            .map_or(0, |stat| fileinfo::ticks_to_epoch_ns(stat.start_ticks))
    })
}

/// The start of a container: the earliest start among the visible
/// processes in it, computed once per container id.
fn container_started(id: &str) -> u64 {
    static STARTED: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    if let Some(known) = STARTED.lock().ok().and_then(|map| map.get(id).copied()) {
        return known;
    }
    let earliest = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| container_id(*pid) == id)
        .filter_map(|pid| Some(read_stat(pid)?.start_ticks))
        .min()
        .map_or(0, fileinfo::ticks_to_epoch_ns);
    if let Ok(mut map) = STARTED.lock() {
        map.insert(id.to_string(), earliest);
    }
    earliest
}

/// Reads `/proc/PID/cmdline` as a list of arguments, cut to the bounds of
/// an exec event's argv.
fn read_cmdline(pid: u32) -> Vec<String> {
    with_proc_file(&format!("/proc/{pid}/cmdline"), cmdline_argv).unwrap_or_default()
}

/// Makes the argument list of a process context of the bytes of
/// `/proc/PID/cmdline`, cut to the bounds of an exec event's argv.
pub fn cmdline_argv(raw: &[u8]) -> Vec<String> {
    let mut argv = split_cmdline(raw);
    limits::bound_list(&mut argv);
    argv
}

fn split_cmdline(raw: &[u8]) -> Vec<String> {
    raw.split(|&byte| byte == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .skip_while(String::is_empty)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

/// Reads the working directory of thread `tid`.
pub fn read_cwd(tid: u32) -> String {
    read_link(format!("/proc/{tid}/cwd").as_str()).unwrap_or_default()
}

fn read_link<P: ?Sized + nix::NixPath>(path: &P) -> Option<String> {
    nix::fcntl::readlink(path)
        .ok()
        .map(|target| target.to_string_lossy().into_owned())
}

/// Returns the path that file descriptor `fd` of `tid` refers to, as the
/// kernel names it (`/etc/passwd`, `socket:[123]`, `/memfd:name (deleted)`).
pub fn fd_path(tid: u32, fd: i64) -> Option<String> {
    // Built by hand on the stack, because every traced open comes here.
    let mut link = [0u8; 48];
    let mut length = 0;
    for part in [
        &b"/proc/"[..],
        &decimal(u64::from(tid)),
        b"/fd/",
        &decimal(fd as u64),
    ] {
        let part = part.split(|&byte| byte == 0).next().unwrap_or_default();
        link.get_mut(length..length + part.len())?
            .copy_from_slice(part);
        length += part.len();
    }
    // The rest of `link` is zero, so the path is NUL-terminated.
    if fd < 0 || length >= link.len() {
        return None;
    }
    LINK_TARGET.with_borrow_mut(|target| {
        // SAFETY: `link` is NUL-terminated and `target` is writable for
        // `target.len()` bytes, the most readlink writes.
        let count = unsafe {
            libc::readlink(
                link.as_ptr().cast(),
                target.as_mut_ptr().cast(),
                target.len(),
            )
        };
        match usize::try_from(count) {
            Ok(count) if count < target.len() => {
                Some(String::from_utf8_lossy(&target[..count]).into_owned())
            }
            _ => None,
        }
    })
}

thread_local! {
    /// The buffer [`fd_path`] reads link targets into, one `PATH_MAX` per thread.
    static LINK_TARGET: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; libc::PATH_MAX as usize].into_boxed_slice());
}

/// Writes `value` in decimal, NUL-padded on the right to 20 bytes.
fn decimal(mut value: u64) -> [u8; 20] {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    digits.copy_within(start.., 0);
    let end = digits.len() - start;
    digits[end..].fill(0);
    digits
}

/// Resolves `path` as the kernel would for a `*at` syscall of `tid` with
/// directory fd `dirfd`: absolute paths stay, relative ones are joined to the
/// cwd (`AT_FDCWD`) or to the directory `dirfd` refers to. Symbolic links and
/// `..` are kept as written.
pub fn resolve_at(tid: u32, dirfd: i64, path: &str) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    let base = if dirfd as i32 as i64 == AT_FDCWD || dirfd == AT_FDCWD {
        read_cwd(tid)
    } else {
        fd_path(tid, dirfd as i32 as i64).unwrap_or_default()
    };
    // A directory whose path the kernel cannot give (longer than PATH_MAX)
    // or that was removed (named `PATH (deleted)`, text that another file
    // may be named) leaves the path relative, as the workload gave it.
    if !base.starts_with('/') || base.ends_with(" (deleted)") {
        return path.to_string();
    }
    join(&base, path)
}

/// Joins a relative path to a directory, dropping `./` prefixes.
pub fn join(base: &str, path: &str) -> String {
    let mut relative = path;
    while let Some(rest) = relative.strip_prefix("./") {
        relative = rest;
    }
    if relative.is_empty() || relative == "." {
        return base.to_string();
    }
    if base.ends_with('/') {
        format!("{base}{relative}")
    } else {
        format!("{base}/{relative}")
    }
}

/// Extracts a container id from `/proc/PID/cgroup`: the first 64-hex-digit
/// path component (Docker, containerd, CRI-O, podman), or empty on a host.
pub fn container_id(pid: u32) -> String {
    let cgroup = read_text(&format!("/proc/{pid}/cgroup")).unwrap_or_default();
    container_id_from_cgroup(&cgroup)
}

fn container_id_from_cgroup(cgroup: &str) -> String {
    for line in cgroup.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
        for component in path.split('/') {
            let trimmed = component
                .trim_end_matches(".scope")
                .rsplit(['-', ':'])
                .next()
                .unwrap_or("");
            if trimmed.len() == 64 && trimmed.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                return trimmed.to_string();
            }
        }
    }
    String::new()
}

/// Reads the thread group id of `tid`, or `tid` itself when unknown.
pub fn thread_group(tid: u32) -> u32 {
    let status = read_text(&format!("/proc/{tid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Tgid:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(tid)
}

/// Returns true when process `pid` has the tracer's root directory and
/// mount namespace, so that a path names the same file for both. False
/// when either cannot be read.
pub fn shares_view(pid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let same_root = match (fs::metadata(format!("/proc/{pid}/root")), fs::metadata("/")) {
        (Ok(theirs), Ok(ours)) => theirs.dev() == ours.dev() && theirs.ino() == ours.ino(),
        _ => false,
    };
    let namespace = |owner: &str| fs::read_link(format!("/proc/{owner}/ns/mnt")).ok();
    same_root && namespace(&pid.to_string()).is_some_and(|theirs| Some(theirs) == namespace("self"))
}

/// Lists the thread ids of process `pid`.
pub fn thread_ids(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Returns the living descendants of `roots` (not the roots), from the
/// parent pids in `/proc/PID/stat`.
pub fn descendants(roots: &[u32]) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, read_stat(pid)?.ppid)))
        .collect();
    let mut found: Vec<u32> = Vec::new();
    let mut frontier: Vec<u32> = roots.to_vec();
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == parent && !found.contains(&pid) && !roots.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// Returns the pid of the tracer of process `pid` (`TracerPid` in
/// `/proc/PID/status`), 0 when it has none.
pub fn tracer_pid(pid: u32) -> Option<u32> {
    read_text(&format!("/proc/{pid}/status"))?
        .lines()
        .find_map(|line| line.strip_prefix("TracerPid:"))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_id_of_docker_and_podman_cgroups() {
        let id = "a".repeat(64);
        assert_eq!(container_id_from_cgroup(&format!("0::/docker/{id}\n")), id);
        assert_eq!(
            container_id_from_cgroup(&format!("0::/machine.slice/libpod-{id}.scope\n")),
            id
        );
        assert_eq!(
            container_id_from_cgroup("0::/user.slice/session-1.scope\n"),
            ""
        );
    }

    #[test]
    fn stat_fields_after_a_tricky_name() {
        let stat = "123 (a) b)) S 45 123 123 34816 -1 4194560 90 0 0 0 1 2 0 0 20 0 1 0 777 0";
        let parsed = parse_stat(stat).expect("parsed");
        assert_eq!(parsed.comm, "a) b)");
        assert_eq!(parsed.ppid, 45);
        assert_eq!(parsed.tty_nr, 34816);
        assert_eq!(parsed.start_ticks, 777);
        assert!(parse_stat("123 (x) S 45").is_none());
    }

    #[test]
    fn cgroup_path_prefers_v2() {
        assert_eq!(
            cgroup_path("0::/system.slice/a.service\n"),
            "/system.slice/a.service"
        );
        assert_eq!(
            cgroup_path("12:pids:/docker/x\n0::/docker/y\n"),
            "/docker/y"
        );
        assert_eq!(cgroup_path("12:pids:/docker/x\n"), "/docker/x");
        assert_eq!(cgroup_path(""), "");
    }

    #[test]
    fn join_relative_paths() {
        assert_eq!(join("/tmp", "a/b"), "/tmp/a/b");
        assert_eq!(join("/", "etc"), "/etc");
        assert_eq!(join("/tmp", "./x"), "/tmp/x");
        assert_eq!(join("/tmp", "."), "/tmp");
    }

    #[test]
    fn fd_path_names_an_open_file() {
        let file = fs::File::open("/proc/self/status").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let path = fd_path(std::process::id(), i64::from(fd));
        assert_eq!(
            path.as_deref(),
            Some(format!("/proc/{}/status", std::process::id()).as_str())
        );
        assert_eq!(fd_path(std::process::id(), 1_000_000), None);
        assert_eq!(fd_path(std::process::id(), -1), None);
    }

    #[test]
    fn decimal_digits() {
        assert_eq!(&decimal(0)[..2], b"0\0");
        assert_eq!(&decimal(4_194_304)[..8], b"4194304\0");
        assert_eq!(&decimal(u64::MAX)[..], b"18446744073709551615");
    }

    /// Writes `bytes` to a new file in the temporary directory and returns its path.
    fn temporary_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("sentrace-{}-{name}", std::process::id()));
        fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn proc_reader_reads_file_larger_than_buffer() {
        let bytes: Vec<u8> = (0..PROC_BUFFER_BYTES * 3 + 17)
            .map(|index| (index % 251) as u8)
            .collect();
        let path = temporary_file("large", &bytes);
        let read = with_proc_file(path.to_str().unwrap(), <[u8]>::to_vec);
        fs::remove_file(&path).unwrap();
        assert_eq!(read.as_ref().map(Vec::len), Some(bytes.len()));
        assert!(read == Some(bytes), "contents differ");
        // The next read starts from an empty buffer.
        let small = temporary_file("small", b"Tgid:\t7\n");
        let text = read_text(small.to_str().unwrap());
        fs::remove_file(&small).unwrap();
        assert_eq!(text.as_deref(), Some("Tgid:\t7\n"));
    }

    #[test]
    fn proc_reader_reads_empty_file() {
        let path = temporary_file("empty", b"");
        let read = with_proc_file(path.to_str().unwrap(), <[u8]>::len);
        fs::remove_file(&path).unwrap();
        assert_eq!(read, Some(0));
    }

    #[test]
    fn proc_reader_misses_missing_file() {
        assert_eq!(read_text("/proc/self/no-such-file"), None);
        assert_eq!(with_proc_file("/nonexistent/file", <[u8]>::len), None);
    }

    #[test]
    fn proc_reader_matches_std_read() {
        let status = read_text("/proc/self/status").expect("own status");
        assert!(status.starts_with("Name:"), "{status}");
        assert!(status.contains("\nTgid:"), "{status}");
        let cmdline = with_proc_file("/proc/self/cmdline", <[u8]>::to_vec);
        assert_eq!(cmdline, fs::read("/proc/self/cmdline").ok());
    }

    #[test]
    fn snapshot_of_own_process() {
        let me = snapshot_process(std::process::id()).unwrap();
        assert_eq!(me.pid, std::process::id());
        assert!(!me.file.path.is_empty());
        assert!(!me.argv.is_empty());
        assert!(me.file.stat.is_some_and(|stat| stat.inode > 0));
        assert!(me.start_time_ns > 0);
        assert!(!me.cgroup.id.is_empty());
        assert!(me.cgroup.inode > 0);
        // The tests run as root, with every capability permitted.
        assert_ne!(me.cap_permitted, 0);
    }
}
