//! Memory limits of the probe. Network peers decide how many sessions,
//! processes and argument bytes the probe keeps, so every kind of retained
//! state has a cap. The caps cover processes and estimated bytes across all
//! sessions, processes per session, argument bytes per process, disconnected
//! sessions kept, and alerts queued per sink.
//!
//! Byte counts are estimates: the string lengths of a retained process plus
//! a fixed overhead per process, argument and session, not what the
//! allocator really uses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use protocol::Process;

/// Estimated bytes of one process in a tree apart from its strings: the
/// `Process` struct, the node, the hash map entry and the allocator's
/// overhead on each string.
pub const PROCESS_OVERHEAD: usize = 512;
/// Estimated bytes of one argument apart from its text: the `String` and
/// the allocator's overhead.
pub const ARGUMENT_OVERHEAD: usize = 40;
/// Estimated bytes of one session apart from its strings and processes.
pub const SESSION_OVERHEAD: usize = 1024;
/// Maximum bytes of a path, cwd, comm or container id kept in a tree (Linux
/// `PATH_MAX`). Longer strings are cut.
pub const MAX_STRING_BYTES: usize = 4096;

/// Limits on what the probe retains. With the defaults, the `probe_memory`
/// test measured about 62 MiB of RSS for 1000 live sessions of 200
/// processes each, and 78 MiB at the peak of a flood of abandoned sessions
/// (x86_64 Linux, glibc, 2 cores). The real RSS is about 1.5 times the
/// estimated retained bytes there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum processes kept across all sessions.
    pub max_processes: usize,
    /// Maximum estimated bytes of sessions and processes kept across all
    /// sessions.
    pub max_retained_bytes: usize,
    /// Maximum processes kept per session.
    pub max_session_processes: usize,
    /// Maximum bytes of arguments kept per process. Longer argument lists
    /// are cut.
    pub max_argv_bytes: usize,
    /// Maximum disconnected sessions kept for their tracer to come back.
    pub max_disconnected_sessions: usize,
    /// Time a disconnected session is kept for its tracer to come back.
    pub session_retention: Duration,
    /// Maximum alerts queued per sink.
    pub max_queued_alerts: usize,
    /// Maximum estimated bytes of alerts queued per sink.
    pub max_queued_alert_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_processes: 100_000,
            max_retained_bytes: 48 << 20,
            max_session_processes: 16_384,
            max_argv_bytes: 4096,
            max_disconnected_sessions: 1024,
            session_retention: Duration::from_secs(600),
            max_queued_alerts: 4096,
            max_queued_alert_bytes: 16 << 20,
        }
    }
}

/// Processes and estimated bytes retained across all sessions.
#[derive(Debug, Default)]
pub struct Usage {
    processes: AtomicUsize,
    bytes: AtomicUsize,
}

impl Usage {
    /// Returns the number of processes retained.
    pub fn processes(&self) -> usize {
        self.processes.load(Ordering::Relaxed)
    }

    /// Returns the estimated bytes retained.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// The global caps on processes and bytes, and what is charged against them.
#[derive(Debug)]
pub struct Budget {
    max_processes: usize,
    max_bytes: usize,
    usage: Arc<Usage>,
}

impl Budget {
    /// Builds a budget that charges `usage` up to the caps of `limits`.
    pub fn new(limits: &Limits, usage: Arc<Usage>) -> Budget {
        Budget {
            max_processes: limits.max_processes,
            max_bytes: limits.max_retained_bytes,
            usage,
        }
    }

    /// Builds a budget without caps, for trees used outside a probe.
    pub fn unlimited() -> Arc<Budget> {
        Arc::new(Budget {
            max_processes: usize::MAX,
            max_bytes: usize::MAX,
            usage: Arc::default(),
        })
    }

    /// Returns what is charged.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// Returns true when `processes` more processes and `bytes` more bytes
    /// stay within the caps.
    pub fn fits(&self, processes: usize, bytes: usize) -> bool {
        self.usage.processes().saturating_add(processes) <= self.max_processes
            && self.usage.bytes().saturating_add(bytes) <= self.max_bytes
    }

    /// Charges one process of `bytes` and returns true when it fits.
    pub fn try_charge_process(&self, bytes: usize) -> bool {
        let reserved =
            self.usage
                .processes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |count| {
                    (count < self.max_processes).then_some(count + 1)
                });
        if reserved.is_err() {
            return false;
        }
        let charged =
            self.usage
                .bytes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |total| {
                    total
                        .checked_add(bytes)
                        .filter(|sum| *sum <= self.max_bytes)
                });
        if charged.is_err() {
            self.usage.processes.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Charges bytes without checking the cap, for state whose size is
    /// already bounded (a session's identity, a replaced process).
    pub fn charge_bytes(&self, bytes: usize) {
        self.usage.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Gives back processes and bytes charged before.
    pub fn release(&self, processes: usize, bytes: usize) {
        self.usage.processes.fetch_sub(processes, Ordering::Relaxed);
        self.usage.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Returns the estimated bytes a process takes in a tree.
pub fn process_bytes(process: &Process) -> usize {
    let argv: usize = process
        .argv
        .iter()
        .map(|argument| argument.len() + ARGUMENT_OVERHEAD)
        .sum();
    PROCESS_OVERHEAD
        + argv
        + process.comm.len()
        + process.file.path.len()
        + process.file.name.len()
        + process.cwd.len()
        + process.container.id.len()
        + user_session_bytes(process)
}

/// Returns the estimated bytes of a process's user session. The probe reads
/// a copy with every event, so each process in a tree has its own.
fn user_session_bytes(process: &Process) -> usize {
    let Some(session) = &process.user_session else {
        return 0;
    };
    let list = |items: &[String]| -> usize {
        items
            .iter()
            .map(|item| item.len() + ARGUMENT_OVERHEAD)
            .sum()
    };
    let extra: usize = session
        .k8s_extra
        .iter()
        .map(|(key, values)| key.len() + ARGUMENT_OVERHEAD + list(values))
        .sum();
    // The shared allocation holding the struct, and one per string in it.
    ARGUMENT_OVERHEAD * 4
        + session.id.len()
        + session.k8s_username.len()
        + session.k8s_uid.len()
        + list(&session.k8s_groups)
        + extra
}

/// Cuts the strings of a process to the sizes a tree keeps: at most
/// `max_argv_bytes` of arguments in total (the last kept argument may be
/// cut) and [`MAX_STRING_BYTES`] for each other string.
pub fn shrink_process(process: &mut Process, max_argv_bytes: usize) {
    let mut remaining = max_argv_bytes;
    let mut kept = 0;
    for argument in process.argv.iter_mut() {
        if remaining == 0 {
            break;
        }
        truncate_at_char(argument, remaining);
        remaining -= argument.len();
        kept += 1;
    }
    process.argv.truncate(kept);
    process.argv.shrink_to_fit();
    for text in [
        &mut process.comm,
        &mut process.file.path,
        &mut process.file.name,
        &mut process.cwd,
        &mut process.container.id,
    ] {
        truncate_at_char(text, MAX_STRING_BYTES);
    }
    process.file.destination = None;
}

/// Cuts a string to at most `max` bytes on a character boundary.
fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.shrink_to_fit();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process_with_argv(argv: &[&str]) -> Process {
        Process {
            argv: argv.iter().map(|argument| argument.to_string()).collect(),
            ..Process::default()
        }
    }

    #[test]
    fn shrink_cuts_argv_to_limit() {
        let mut process = process_with_argv(&["abcdef", "ghijkl", "mnopqr"]);
        shrink_process(&mut process, 9);
        assert_eq!(process.argv, vec!["abcdef", "ghi"]);
    }

    #[test]
    fn shrink_keeps_char_boundaries() {
        let mut process = process_with_argv(&["aé"]);
        shrink_process(&mut process, 2);
        assert_eq!(process.argv, vec!["a"]);
    }

    #[test]
    fn shrink_cuts_long_paths() {
        let mut process = Process {
            cwd: "x".repeat(MAX_STRING_BYTES * 2),
            ..Process::default()
        };
        shrink_process(&mut process, 10);
        assert_eq!(process.cwd.len(), MAX_STRING_BYTES);
    }

    #[test]
    fn budget_rejects_process_over_caps() {
        let limits = Limits {
            max_processes: 2,
            max_retained_bytes: 1000,
            ..Limits::default()
        };
        let budget = Budget::new(&limits, Arc::default());
        assert!(budget.try_charge_process(400));
        assert!(!budget.try_charge_process(700));
        assert_eq!(budget.usage().processes(), 1);
        assert_eq!(budget.usage().bytes(), 400);
        assert!(budget.try_charge_process(500));
        assert!(!budget.try_charge_process(10));
        budget.release(2, 900);
        assert_eq!(budget.usage().processes(), 0);
        assert_eq!(budget.usage().bytes(), 0);
    }
}
