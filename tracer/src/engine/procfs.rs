//! Process context and path resolution from `/proc`.

use std::fs;

use protocol::{Container, File, Process};

use crate::link::limits;

/// `AT_FDCWD` as a 64-bit register value.
const AT_FDCWD: i64 = libc::AT_FDCWD as i64;

/// Reads the context of process `pid` from `/proc`: ids, credentials, comm,
/// executable, argv, cwd and container id. Returns `None` when the process is
/// gone or `/proc/PID/status` is unreadable.
pub fn snapshot_process(pid: u32) -> Option<Process> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
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
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    Some(Process {
        pid: tgid,
        tid: pid,
        ppid: field("PPid:").first().copied().unwrap_or(0),
        uid: uids.first().copied().unwrap_or(0),
        euid: uids.get(1).copied().unwrap_or(0),
        gid: gids.first().copied().unwrap_or(0),
        egid: gids.get(1).copied().unwrap_or(0),
        comm: comm.trim_end_matches('\n').to_string(),
        file: File::from_path(read_link(&format!("/proc/{pid}/exe")).unwrap_or_default()),
        argv: read_cmdline(pid),
        cwd: read_cwd(pid),
        container: Container {
            id: container_id(pid),
        },
        start_time_ns: 0,
    })
}

/// Reads `/proc/PID/cmdline` as a list of arguments, cut to the bounds of
/// an exec event's argv.
fn read_cmdline(pid: u32) -> Vec<String> {
    let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return Vec::new();
    };
    let mut argv = split_cmdline(&raw);
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
    read_link(&format!("/proc/{tid}/cwd")).unwrap_or_default()
}

fn read_link(path: &str) -> Option<String> {
    fs::read_link(path)
        .ok()
        .map(|target| target.to_string_lossy().into_owned())
}

/// Returns the path that file descriptor `fd` of `tid` refers to, as the
/// kernel names it (`/etc/passwd`, `socket:[123]`, `/memfd:name (deleted)`).
pub fn fd_path(tid: u32, fd: i64) -> Option<String> {
    read_link(&format!("/proc/{tid}/fd/{fd}"))
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
    let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
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
    let status = fs::read_to_string(format!("/proc/{tid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Tgid:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(tid)
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
    fn join_relative_paths() {
        assert_eq!(join("/tmp", "a/b"), "/tmp/a/b");
        assert_eq!(join("/", "etc"), "/etc");
        assert_eq!(join("/tmp", "./x"), "/tmp/x");
        assert_eq!(join("/tmp", "."), "/tmp");
    }

    #[test]
    fn snapshot_of_own_process() {
        let me = snapshot_process(std::process::id()).unwrap();
        assert_eq!(me.pid, std::process::id());
        assert!(!me.file.path.is_empty());
        assert!(!me.argv.is_empty());
    }
}
