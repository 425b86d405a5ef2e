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

use protocol::{Event, EventBody, ExecEvent, Process};

use crate::engine::read_stat;

use super::buffer::Shared;

/// Maximum parent chain length followed when looking for the tracer.
const MAX_ANCESTRY: usize = 64;

/// Reads a process's context from `/proc`; `None` when it is gone or
/// unreadable.
pub fn read_process(pid: u32) -> Option<Process> {
    crate::engine::snapshot_process(pid)
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
    let mut current = seen_now();
    let mut found = Vec::new();
    let mut retry = Vec::new();
    for (&pid, start) in &current {
        if known.get(&pid) == Some(start) || descends_from(pid, tracer) {
            continue;
        }
        match read_process(pid) {
            Some(process) if !process.argv.is_empty() => found.push(process),
            // A process in the middle of an exec already has its new name
            // and executable but not yet its arguments: the next scan
            // reports it. Kernel threads have neither arguments nor an
            // executable, and are skipped.
            Some(process) if !process.file.path.is_empty() => retry.push(pid),
            _ => {}
        }
    }
    for pid in retry {
        current.remove(&pid);
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
        // A scan that meets the child in the middle of its exec leaves it to
        // the next one, as the scanner thread's next pass would.
        let mut found = Vec::new();
        for _ in 0..50 {
            found = scan_new(&mut known, u32::MAX);
            if found.iter().any(|process| process.pid == child_pid) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
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
