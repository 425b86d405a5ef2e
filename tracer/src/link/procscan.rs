//! A `/proc` reader for process context, and the scanner that reports
//! processes of the pid namespace that the tracer does not trace, such as a
//! `kubectl exec` or `docker exec` shell, as `exec` events with
//! `exec.procfs = true`.
//!
//! # Limitations
//!
//! - A process that starts and exits between two scans is not seen.
//! - Processes are told apart by pid and start time, so a pid the kernel
//!   reuses between two scans still counts as a new process.
//! - Processes that already run at the first scan are not reported; in a
//!   container whose entrypoint is the tracer there are none.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use protocol::{Container, Event, EventBody, ExecEvent, File, Process};

use super::buffer::Shared;

/// Maximum parent chain length followed when looking for the tracer.
const MAX_ANCESTRY: usize = 64;

/// Reads a process's context from `/proc`; `None` when it is gone or
/// unreadable.
pub fn read_process(pid: u32) -> Option<Process> {
    let Stat { comm, ppid, .. } = read_stat(pid)?;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let uids = status_ids(&status, "Uid:");
    let gids = status_ids(&status, "Gid:");
    let exe = fs::read_link(format!("/proc/{pid}/exe"))
        .map(|path| path.to_string_lossy().into_owned())
        .unwrap_or_default();
    let argv = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| split_nul(&bytes))
        .unwrap_or_default();
    let cwd = fs::read_link(format!("/proc/{pid}/cwd"))
        .map(|path| path.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some(Process {
        pid,
        tid: pid,
        ppid,
        uid: uids[0],
        gid: gids[0],
        euid: uids[1],
        egid: gids[1],
        comm,
        file: File::from_path(exe),
        argv,
        cwd,
        container: Container::default(),
        start_time_ns: 0,
    })
}

/// The fields of `/proc/PID/stat` the scanner uses.
struct Stat {
    comm: String,
    ppid: u32,
    /// Clock ticks after boot at which the process started.
    start_ticks: u64,
}

/// Parses the text of `/proc/PID/stat`. The command name sits in parentheses
/// and may itself contain spaces and parentheses, so the fields after it are
/// found from the last `)`.
fn parse_stat(stat: &str) -> Option<Stat> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    // Fields after the name, numbered as in proc(5) from 3 (state).
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let ppid = rest.get(1)?.parse().ok()?;
    let start_ticks = rest.get(19)?.parse().ok()?;
    Some(Stat {
        comm,
        ppid,
        start_ticks,
    })
}

fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Returns the real and effective ids from a `Uid:` or `Gid:` status line.
fn status_ids(status: &str, key: &str) -> [u32; 2] {
    let line = status
        .lines()
        .find(|line| line.starts_with(key))
        .unwrap_or_default();
    let mut ids = line
        .split_whitespace()
        .skip(1)
        .filter_map(|id| id.parse().ok());
    let real = ids.next().unwrap_or(0);
    let effective = ids.next().unwrap_or(real);
    [real, effective]
}

fn split_nul(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|byte| *byte == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect()
}

/// Lists the pids in `/proc`.
fn list_pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Returns the parent of `pid`, from `/proc`.
fn parent_of(pid: u32) -> Option<u32> {
    read_stat(pid).map(|stat| stat.ppid)
}

/// True when `ancestor` is `pid` or one of its ancestors.
fn descends_from(pid: u32, ancestor: u32) -> bool {
    let mut current = pid;
    for _ in 0..MAX_ANCESTRY {
        if current == ancestor {
            return true;
        }
        match parent_of(current) {
            Some(parent) if parent != 0 && parent != current => current = parent,
            _ => return false,
        }
    }
    false
}

/// Lists the processes the probe needs before the first event: this process
/// and its ancestors (root first), then the traced processes that still live.
pub fn snapshot_for_probe(traced: &HashSet<u32>) -> Vec<Process> {
    let mut ancestry = Vec::new();
    let mut pid = std::process::id();
    for _ in 0..MAX_ANCESTRY {
        let Some(process) = read_process(pid) else {
            break;
        };
        let parent = process.ppid;
        ancestry.push(process);
        if parent == 0 || parent == pid {
            break;
        }
        pid = parent;
    }
    ancestry.reverse();
    let mut traced: Vec<u32> = traced.iter().copied().collect();
    traced.sort_unstable();
    ancestry.extend(traced.into_iter().filter_map(read_process));
    ancestry
}

/// Builds the `exec` event for a process found by the scanner.
pub fn procfs_exec_event(process: Process) -> Event {
    let exec = ExecEvent {
        file: process.file.clone(),
        argv: process.argv.clone(),
        envp: Vec::new(),
        procfs: true,
        retval: 0,
        ..ExecEvent::default()
    };
    Event {
        timestamp: protocol::time::now_rfc3339(),
        process,
        body: EventBody::Exec { exec },
    }
}

/// The processes seen by one scan: pid to start time.
pub type Seen = HashMap<u32, u64>;

/// Reads the pid and start time of every process in `/proc`.
pub fn seen_now() -> Seen {
    list_pids()
        .into_iter()
        .filter_map(|pid| Some((pid, read_stat(pid)?.start_ticks)))
        .collect()
}

/// Returns the processes that appeared since `known` was filled and do not
/// descend from `tracer`; updates `known` to the current processes.
pub fn scan_new(known: &mut Seen, tracer: u32) -> Vec<Process> {
    let current = seen_now();
    let mut found = Vec::new();
    for (&pid, start) in &current {
        if known.get(&pid) == Some(start) || descends_from(pid, tracer) {
            continue;
        }
        // Kernel threads have no command line.
        match read_process(pid) {
            Some(process) if !process.argv.is_empty() => found.push(process),
            _ => {}
        }
    }
    *known = current;
    found.sort_by_key(|process| process.pid);
    found
}

/// Starts the scanner thread; it ends when the sink is dropped.
pub(crate) fn spawn(shared: Arc<Shared>, interval: Duration) -> std::io::Result<()> {
    let tracer = std::process::id();
    thread::Builder::new()
        .name("sentrace-procscan".into())
        .spawn(move || {
            let mut known = seen_now();
            loop {
                thread::sleep(interval);
                if shared.lock().stopped {
                    return;
                }
                for process in scan_new(&mut known, tracer) {
                    tracing::debug!(
                        pid = process.pid,
                        comm = process.comm,
                        "untraced process found in /proc"
                    );
                    shared.push(procfs_exec_event(process));
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn stat_with_parentheses_in_comm() {
        let stat = "123 (a) b)) S 45 123 123 0 -1 4194560 90 0 0 0 1 2 0 0 20 0 1 0 777 0";
        let parsed = parse_stat(stat).expect("parsed");
        assert_eq!(parsed.comm, "a) b)");
        assert_eq!(parsed.ppid, 45);
        assert_eq!(parsed.start_ticks, 777);
        assert!(parse_stat("123 (x) S 45").is_none());
    }

    #[test]
    fn status_ids_read_real_and_effective() {
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t5\t6\t6\t6\n";
        assert_eq!(status_ids(status, "Uid:"), [1000, 0]);
        assert_eq!(status_ids(status, "Gid:"), [5, 6]);
    }

    #[test]
    fn own_process_reads_back() {
        let process = read_process(std::process::id()).expect("own /proc entry");
        assert_eq!(process.pid, std::process::id());
        assert!(!process.argv.is_empty());
        assert!(process.file.path.starts_with('/'));
    }

    #[test]
    fn snapshot_ends_with_self() {
        let snapshot = snapshot_for_probe(&HashSet::new());
        assert_eq!(
            snapshot.last().map(|process| process.pid),
            Some(std::process::id())
        );
        assert!(snapshot
            .first()
            .is_some_and(|process| process.ppid == 0 || process.pid == 1));
    }

    #[test]
    fn scanner_reports_new_process_outside_tracer() {
        let mut known = seen_now();
        let mut child = Command::new("sleep").arg("5").spawn().expect("spawn sleep");
        let child_pid = child.id();

        // The child descends from this process, so it is skipped when this
        // process is the tracer. It is reported when the tracer is a pid that
        // cannot be an ancestor.
        let mut skipped = known.clone();
        let own = scan_new(&mut skipped, std::process::id());
        let before = known.get(&child_pid).copied();
        let found = scan_new(&mut known, u32::MAX);
        let read_back = read_process(child_pid);
        let _ = child.kill();
        let _ = child.wait();
        assert!(own.iter().all(|process| process.pid != child_pid));
        let process = found
            .iter()
            .find(|process| process.pid == child_pid)
            .unwrap_or_else(|| {
                panic!(
                    "sleep (pid {child_pid}) not reported; start time before spawn \
                     {before:?}, after {:?}; /proc read {read_back:?}",
                    known.get(&child_pid)
                )
            });
        assert_eq!(process.comm, "sleep");
        let event = procfs_exec_event(process.clone());
        assert!(matches!(event.body, EventBody::Exec { exec } if exec.procfs));
    }

    #[test]
    fn reused_pid_counts_as_new() {
        let mut child = Command::new("sleep").arg("5").spawn().expect("spawn sleep");
        let child_pid = child.id();
        // The pid was seen before, for a process that started earlier.
        let mut known = seen_now();
        let start = known[&child_pid];
        known.insert(child_pid, start.saturating_sub(1));
        let found = scan_new(&mut known, u32::MAX);
        let again = scan_new(&mut known, u32::MAX);
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.iter().any(|process| process.pid == child_pid));
        assert!(again.iter().all(|process| process.pid != child_pid));
    }
}
