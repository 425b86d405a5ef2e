//! The process tree of one session, built from the tracer's snapshot and
//! from exec, fork and exit events. It gives rules `process.parent.*` and
//! `process.ancestors.*`.
//!
//! A tree keeps at most a fixed number of processes, cuts each process's
//! strings (see [`shrink_process`]) and charges every process to a
//! [`Budget`] shared by all sessions, so that tracers cannot make the probe
//! grow without bound. A process that does not fit is not added and is
//! counted.

use std::collections::HashMap;
use std::sync::Arc;

use protocol::{Event, EventBody, Process};

use crate::budget::{process_bytes, shrink_process, Budget};

/// Maximum ancestry length returned; deeper chains and cycles are cut.
pub const MAX_ANCESTORS: usize = 128;

/// Default maximum number of processes kept per session.
pub const DEFAULT_MAX_PROCESSES: usize = 16_384;
/// Default maximum bytes of arguments kept per process.
pub const DEFAULT_MAX_ARGV_BYTES: usize = 4096;

#[derive(Debug)]
struct Node {
    process: Process,
    exited: bool,
    children: usize,
    /// Estimated bytes charged to the budget for this process.
    bytes: usize,
}

/// Processes not added to a tree, by the limit that stopped them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DroppedProcesses {
    /// The session's tree held its maximum number of processes.
    pub session_limit: u64,
    /// The probe-wide process or byte budget was spent.
    pub memory_limit: u64,
}

/// Processes of one session by pid.
#[derive(Debug)]
pub struct ProcessTree {
    nodes: HashMap<u32, Node>,
    max_processes: usize,
    max_argv_bytes: usize,
    budget: Arc<Budget>,
    /// Estimated bytes charged to the budget by this tree.
    bytes: usize,
    /// Processes not added because the tree or the budget was full, since
    /// the tree was built.
    pub overflow: u64,
    /// Processes not added since the last [`ProcessTree::take_dropped`].
    dropped: DroppedProcesses,
}

impl Default for ProcessTree {
    fn default() -> Self {
        ProcessTree::new(DEFAULT_MAX_PROCESSES)
    }
}

impl Drop for ProcessTree {
    fn drop(&mut self) {
        self.budget.release(self.nodes.len(), self.bytes);
    }
}

impl ProcessTree {
    /// Builds an empty tree holding at most `max_processes` processes, with
    /// no probe-wide budget.
    pub fn new(max_processes: usize) -> ProcessTree {
        ProcessTree::with_budget(max_processes, DEFAULT_MAX_ARGV_BYTES, Budget::unlimited())
    }

    /// Builds an empty tree holding at most `max_processes` processes, each
    /// with at most `max_argv_bytes` of arguments, charged to `budget`.
    pub fn with_budget(
        max_processes: usize,
        max_argv_bytes: usize,
        budget: Arc<Budget>,
    ) -> ProcessTree {
        ProcessTree {
            nodes: HashMap::new(),
            max_processes,
            max_argv_bytes,
            budget,
            bytes: 0,
            overflow: 0,
            dropped: DroppedProcesses::default(),
        }
    }

    /// Returns the estimated bytes this tree retains.
    pub fn retained_bytes(&self) -> usize {
        self.bytes
    }

    /// Returns the processes not added since the last call, and resets the
    /// count.
    pub fn take_dropped(&mut self) -> DroppedProcesses {
        std::mem::take(&mut self.dropped)
    }

    /// Number of processes in the tree.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Returns true when the tree contains no process.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Returns a process by pid.
    pub fn get(&self, pid: u32) -> Option<&Process> {
        self.nodes.get(&pid).map(|node| &node.process)
    }

    /// Adds the processes of a snapshot, keeping what events already recorded.
    pub fn add_snapshot(&mut self, processes: &[Process]) {
        for process in processes {
            if !self.nodes.contains_key(&process.pid) {
                self.upsert(process.clone());
            }
        }
    }

    /// Updates the tree before the event is evaluated: the acting process is
    /// recorded, a fork adds the child, an exec replaces the program.
    pub fn apply(&mut self, event: &Event) {
        let process = &event.process;
        match &event.body {
            EventBody::Fork { fork } if fork.retval >= 0 && fork.child_pid != 0 => {
                self.record(process);
                let mut child = process.clone();
                child.pid = fork.child_pid;
                child.tid = fork.child_pid;
                child.ppid = process.pid;
                child.start_time_ns = 0;
                // The tracer may report the child's exec before this fork:
                // a live record of the child is then newer than this copy.
                let recorded = self.nodes.get(&child.pid).is_some_and(|node| !node.exited);
                if !recorded {
                    self.upsert(child);
                }
            }
            EventBody::Exit { .. } => {
                self.record(process);
                if let Some(node) = self.nodes.get_mut(&process.pid) {
                    node.exited = true;
                }
            }
            _ => self.record(process),
        }
    }

    /// Removes exited processes that no longer matter: called after the exit
    /// event was evaluated. A process with live children stays so that their
    /// ancestry is complete.
    pub fn prune(&mut self, pid: u32) {
        let mut current = pid;
        for _ in 0..MAX_ANCESTORS {
            let Some(node) = self.nodes.get(&current) else {
                return;
            };
            if !node.exited || node.children > 0 {
                return;
            }
            let parent = node.process.ppid;
            self.remove(current);
            match self.nodes.get_mut(&parent) {
                Some(parent_node) if parent != current => {
                    parent_node.children = parent_node.children.saturating_sub(1);
                    current = parent;
                }
                _ => return,
            }
        }
    }

    /// Returns the ancestors of a process whose parent is `ppid`, parent
    /// first.
    pub fn ancestors(&self, ppid: u32) -> Vec<Process> {
        let mut ancestors = Vec::new();
        let mut current = ppid;
        while ancestors.len() < MAX_ANCESTORS {
            let Some(node) = self.nodes.get(&current) else {
                break;
            };
            ancestors.push(node.process.clone());
            let parent = node.process.ppid;
            if parent == 0 || parent == current {
                break;
            }
            current = parent;
        }
        ancestors
    }

    /// Records the acting process, keeping the known parent when the event
    /// does not carry one.
    fn record(&mut self, process: &Process) {
        match self.nodes.get_mut(&process.pid) {
            Some(node) => {
                let ppid = if process.ppid != 0 {
                    process.ppid
                } else {
                    node.process.ppid
                };
                let old_parent = node.process.ppid;
                let mut process = process.clone();
                process.tid = process.pid;
                process.ppid = ppid;
                replace_process(
                    &self.budget,
                    &mut self.bytes,
                    node,
                    process,
                    self.max_argv_bytes,
                );
                if old_parent != ppid {
                    self.reparent(old_parent, ppid);
                }
            }
            None => self.upsert(process.clone()),
        }
    }

    fn reparent(&mut self, old_parent: u32, new_parent: u32) {
        if let Some(node) = self.nodes.get_mut(&old_parent) {
            node.children = node.children.saturating_sub(1);
        }
        if let Some(node) = self.nodes.get_mut(&new_parent) {
            node.children += 1;
        }
    }

    fn upsert(&mut self, mut process: Process) {
        process.tid = process.pid;
        let (pid, ppid) = (process.pid, process.ppid);
        if let Some(existing) = self.nodes.get_mut(&pid) {
            // A pid reused after an exit: the new process replaces the old.
            let old_parent = existing.process.ppid;
            replace_process(
                &self.budget,
                &mut self.bytes,
                existing,
                process,
                self.max_argv_bytes,
            );
            existing.exited = false;
            if old_parent != ppid {
                self.reparent(old_parent, ppid);
            }
            return;
        }
        if self.nodes.len() >= self.max_processes {
            self.overflow += 1;
            self.dropped.session_limit += 1;
            return;
        }
        shrink_process(&mut process, self.max_argv_bytes);
        let bytes = process_bytes(&process);
        if !self.budget.try_charge_process(bytes) {
            self.overflow += 1;
            self.dropped.memory_limit += 1;
            return;
        }
        self.bytes += bytes;
        if let Some(parent) = self.nodes.get_mut(&ppid) {
            parent.children += 1;
        }
        self.nodes.insert(
            pid,
            Node {
                process,
                exited: false,
                children: 0,
                bytes,
            },
        );
    }

    fn remove(&mut self, pid: u32) {
        if let Some(node) = self.nodes.remove(&pid) {
            self.bytes -= node.bytes;
            self.budget.release(1, node.bytes);
        }
    }
}

/// Replaces the process of a node, charging the size difference. The new
/// size is charged even over the budget, because a process's size is
/// bounded by [`shrink_process`].
fn replace_process(
    budget: &Budget,
    tree_bytes: &mut usize,
    node: &mut Node,
    mut process: Process,
    max_argv_bytes: usize,
) {
    shrink_process(&mut process, max_argv_bytes);
    let bytes = process_bytes(&process);
    budget.release(0, node.bytes);
    budget.charge_bytes(bytes);
    *tree_bytes = *tree_bytes - node.bytes + bytes;
    node.bytes = bytes;
    node.process = process;
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{ExecEvent, ExitEvent, File, ForkEvent};

    fn process(pid: u32, ppid: u32, comm: &str) -> Process {
        Process {
            pid,
            tid: pid,
            ppid,
            comm: comm.into(),
            file: File::from_path(format!("/usr/bin/{comm}")),
            ..Process::default()
        }
    }

    fn event(process: Process, body: EventBody) -> Event {
        Event {
            timestamp: "2026-01-01T00:00:00.000000Z".into(),
            process,
            body,
        }
    }

    fn fork(parent: Process, child: u32) -> Event {
        event(
            parent,
            EventBody::Fork {
                fork: ForkEvent {
                    child_pid: child,
                    flags: 0,
                    retval: child as i64,
                },
            },
        )
    }

    fn exec(process: Process) -> Event {
        let exec = ExecEvent {
            file: process.file.clone(),
            ..ExecEvent::default()
        };
        event(process, EventBody::Exec { exec })
    }

    fn exit(process: Process) -> Event {
        event(
            process,
            EventBody::Exit {
                exit: ExitEvent {
                    code: 0,
                    cause: "EXITED".into(),
                },
            },
        )
    }

    fn comms(ancestors: &[Process]) -> Vec<&str> {
        ancestors
            .iter()
            .map(|process| process.comm.as_str())
            .collect()
    }

    #[test]
    fn fork_and_exec_build_ancestry() {
        let mut tree = ProcessTree::default();
        tree.add_snapshot(&[process(1, 0, "init"), process(10, 1, "sentrace")]);
        tree.apply(&exec(process(11, 10, "server")));
        tree.apply(&fork(process(11, 10, "server"), 12));
        tree.apply(&exec(process(12, 11, "sh")));
        assert_eq!(
            tree.get(12).map(|process| process.comm.as_str()),
            Some("sh")
        );
        assert_eq!(
            comms(&tree.ancestors(11)),
            vec!["server", "sentrace", "init"]
        );
    }

    #[test]
    fn late_fork_keeps_child_exec() {
        let mut tree = ProcessTree::default();
        tree.apply(&exec(process(11, 1, "sh")));
        tree.apply(&exec(process(12, 11, "cat")));
        tree.apply(&fork(process(11, 1, "sh"), 12));
        assert_eq!(
            tree.get(12).map(|process| process.comm.as_str()),
            Some("cat")
        );
        assert_eq!(comms(&tree.ancestors(12)), vec!["cat", "sh"]);
    }

    #[test]
    fn exited_parent_stays_while_child_lives() {
        let mut tree = ProcessTree::default();
        tree.apply(&exec(process(11, 1, "server")));
        tree.apply(&fork(process(11, 1, "server"), 12));
        tree.apply(&exit(process(11, 1, "server")));
        tree.prune(11);
        assert!(tree.get(11).is_some());
        tree.apply(&exit(process(12, 11, "server")));
        tree.prune(12);
        assert!(tree.get(12).is_none());
        assert!(tree.get(11).is_none());
    }

    #[test]
    fn ancestry_stops_on_cycle() {
        let mut tree = ProcessTree::default();
        tree.add_snapshot(&[process(5, 6, "a"), process(6, 5, "b")]);
        assert_eq!(tree.ancestors(5).len(), MAX_ANCESTORS);
    }

    #[test]
    fn full_tree_counts_overflow() {
        let mut tree = ProcessTree::new(2);
        for pid in 1..=4 {
            tree.apply(&exec(process(pid, 0, "x")));
        }
        assert_eq!(tree.len(), 2);
        assert_eq!(tree.overflow, 2);
    }

    #[test]
    fn snapshot_does_not_overwrite_events() {
        let mut tree = ProcessTree::default();
        tree.apply(&exec(process(7, 1, "new")));
        tree.add_snapshot(&[process(7, 1, "old")]);
        assert_eq!(
            tree.get(7).map(|process| process.comm.as_str()),
            Some("new")
        );
    }
}
