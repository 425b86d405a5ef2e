//! Process lifecycle stops (fork, exec), event emission with the process
//! context, foreign-ABI events, and detaching.

use nix::sys::ptrace;
use nix::unistd::Pid;
use protocol::{Event, EventBody, ExecEvent, File, ForeignAbiEvent, ForkEvent, Process};

use super::{Session, Tracee};
use crate::engine::arguments::{cmdline_arguments, proc_environment, stack_lists, BoundedList};
use crate::engine::decode::AtExit;
use crate::engine::memory::read_bytes;
use crate::engine::regs::{self, Abi, SyscallRegs};
use std::time::Duration;

use crate::engine::stop::{wait_any, Stop};
use crate::engine::{fileinfo, procfs};

impl Session<'_> {
    /// Registers the tracee that a fork, vfork or clone of `tid` created, and
    /// reports a fork event unless it is a thread.
    pub(super) fn on_new_child(&mut self, tid: u32, event: i32) {
        let pid = Pid::from_raw(tid as i32);
        let child = ptrace::getevent(pid).unwrap_or(0) as u32;
        let flags = self
            .requested_clone_flags(tid, child)
            .unwrap_or_else(|| clone_flags(pid, event));
        let parent_tgid = self.tracees.get(&tid).map_or(tid, |tracee| tracee.tgid);
        let is_thread = flags & libc::CLONE_THREAD as u64 != 0;
        if child != 0 {
            let tgid = if is_thread { parent_tgid } else { child };
            // The child's first stop may already have registered it.
            self.tracees
                .entry(child)
                .or_insert_with(|| Tracee::new(tgid))
                .tgid = tgid;
            if !is_thread {
                let new_namespace = flags & libc::CLONE_NEWNS as u64 != 0;
                if new_namespace || self.other_view.contains(&parent_tgid) {
                    self.other_view.insert(child);
                }
                // Processes that share their root and cwd (CLONE_FS) both
                // move when either calls chroot, and only the caller stops.
                if flags & libc::CLONE_FS as u64 != 0 {
                    self.other_view.insert(child);
                    self.other_view.insert(parent_tgid);
                }
                let mut process = self.context(tid);
                process.pid = child;
                process.tid = child;
                process.ppid = if flags & libc::CLONE_PARENT as u64 != 0 {
                    process.ppid
                } else {
                    parent_tgid
                };
                // The child's own stops may come first: after its exec, the
                // context it has is newer than this copy of its parent's.
                self.processes.entry(child).or_insert(process);
                let parent = self.context(tid);
                let fork = ForkEvent {
                    child_pid: child,
                    flags,
                    retval: i64::from(child),
                };
                self.emit(parent, EventBody::Fork { fork });
            }
        }
        self.resume(tid, None);
    }

    /// Handles a completed exec: moves the tracee to its new tid when a
    /// non-leader thread exec'd, refreshes the process context and reports it.
    pub(super) fn on_exec(&mut self, tid: u32) {
        let pid = Pid::from_raw(tid as i32);
        let former = ptrace::getevent(pid).map_or(tid, |value| value as u32);
        let mut tracee = self
            .tracees
            .remove(&former)
            .unwrap_or_else(|| Tracee::new(tid));
        if former != tid {
            // The other threads, including the former leader, are gone.
            self.tracees.retain(|_, other| other.tgid != tid);
        }
        let pending = tracee.pending.take();
        // The new program starts with no DNS exchange in progress.
        tracee.dns = None;
        tracee.dns_connect = None;
        tracee.tgid = tid;
        tracee.started = true;
        tracee.in_syscall = true;
        self.tracees.insert(tid, tracee);

        // One read of /proc/PID/cmdline serves the process context and the event.
        let cmdline = procfs::with_proc_file(&format!("/proc/{tid}/cmdline"), |raw| {
            (procfs::cmdline_argv(raw), cmdline_arguments(raw))
        });
        let (context_argv, event_argv) = cmdline.unzip();
        let earlier = self.processes.remove(&tid);
        // An exec keeps the working directory and the cgroup.
        let cwd_current = self.cwd_tracked && !self.stale_cwd.remove(&tid);
        let known = procfs::Known {
            argv: Some(context_argv.unwrap_or_default()),
            cwd: earlier
                .as_ref()
                .filter(|_| cwd_current)
                .map(|earlier| earlier.cwd.clone()),
            cgroup: earlier.map(|earlier| earlier.cgroup),
        };
        let mut process = self.cache_snapshot(tid, known);
        process.tid = tid;
        let mut exec = match pending {
            Some(pending) if pending.decoded.at_exit == AtExit::ExecEvent => {
                match pending.decoded.body {
                    EventBody::Exec { exec } => exec,
                    _ => ExecEvent::default(),
                }
            }
            _ => ExecEvent::default(),
        };
        if exec.file.path.is_empty() {
            exec.file = File::from_path(process.file.path.clone());
            exec.argv = process.argv.clone();
        } else if !self.gate_checks_exec {
            describe_executed(&mut exec.file, &process);
        }
        // The kernel's copy of the lists, which a racing thread cannot
        // change: from /proc, else from the new program's stack.
        let event_envp = proc_environment(tid);
        let stack = if event_argv.is_none() || event_envp.is_none() {
            read_stack_lists(pid)
        } else {
            None
        };
        let (stack_argv, stack_envp) = stack.unzip();
        if let Some(argv) = event_argv.or(stack_argv) {
            exec.argv = argv.entries;
            exec.args_truncated = argv.truncated;
        }
        if let Some(envp) = event_envp.or(stack_envp) {
            exec.envp = envp.entries;
            exec.envs_truncated = envp.truncated;
        }
        exec.retval = 0;
        self.note_interpreter(&mut process, &exec);
        self.emit(process, EventBody::Exec { exec });
        self.resume(tid, None);
    }

    /// Makes the executed file the process's file when the kernel ran an
    /// interpreter for it (a `#!` script), so that rules on `exec.file` see
    /// the script, and keeps the interpreter as `process.interpreter`. The executable in `/proc/PID/exe` is then
    /// the interpreter, not the file the exec named.
    fn note_interpreter(&mut self, process: &mut Process, exec: &ExecEvent) {
        if exec.file.path.is_empty() || exec.file.path == process.file.path {
            return;
        }
        // A memfd or a deleted file also differs from /proc/PID/exe by name
        // alone, so only a file that starts with `#!` counts as a script.
        if !starts_with_shebang(&exec.file.path) {
            return;
        }
        let interpreter = std::mem::replace(&mut process.file, exec.file.clone());
        process.interpreter = Some(Box::new(interpreter));
        if let Some(cached) = self.processes.get_mut(&process.pid) {
            cached.file = process.file.clone();
            cached.interpreter = process.interpreter.clone();
        }
    }

    /// Reports a syscall made through a foreign ABI.
    pub(super) fn emit_foreign(&mut self, tid: u32, regs: &SyscallRegs) {
        let started = self.tracees.get(&tid).is_some_and(|tracee| tracee.started);
        if !started {
            return;
        }
        let foreign = ForeignAbiEvent {
            abi: regs.abi.name().to_string(),
            syscall_nr: regs.nr as u64,
            syscall: foreign_syscall_name(regs.abi, regs.nr),
            args: regs.args,
        };
        let process = self.context(tid);
        self.emit(
            process,
            EventBody::ForeignAbi {
                foreign_abi: foreign,
            },
        );
    }

    /// Returns the process context of thread `tid` from the cache of its
    /// thread group. The cwd is re-read for every event unless chdir is
    /// traced, and then after each chdir.
    // NOTE: a thread created without CLONE_FS has its own cwd, but the cache
    // keeps one cwd per thread group.
    pub(super) fn context(&mut self, tid: u32) -> Process {
        let tgid = self.tracees.get(&tid).map_or(tid, |tracee| tracee.tgid);
        let mut process = match self.processes.get(&tgid) {
            Some(cached) => {
                let mut process = cached.clone();
                if !self.cwd_tracked || self.stale_cwd.remove(&tgid) {
                    process.cwd = procfs::read_cwd(tid);
                    if let Some(cached) = self.processes.get_mut(&tgid) {
                        cached.cwd = process.cwd.clone();
                    }
                }
                process
            }
            None => self.cache_snapshot(tgid, procfs::Known::default()),
        };
        process.tid = tid;
        process
    }

    /// Reads the context of process `tgid` from /proc, taking the parts in
    /// `known`, and caches it. A process whose /proc files are unreadable
    /// gets a context with its pid alone.
    fn cache_snapshot(&mut self, tgid: u32, known: procfs::Known) -> Process {
        let process = self.snapshot_known(tgid, known).unwrap_or_else(|| Process {
            pid: tgid,
            user_session: self.config.user_session.clone(),
            ..Process::default()
        });
        self.processes.insert(tgid, process.clone());
        process
    }

    /// Reads the context of process `pid` from /proc, in the user session
    /// the tracer was given.
    pub(super) fn snapshot(&self, pid: u32) -> Option<Process> {
        self.snapshot_known(pid, procfs::Known::default())
    }

    fn snapshot_known(&self, pid: u32, known: procfs::Known) -> Option<Process> {
        let mut process = procfs::snapshot_known(pid, known)?;
        process.user_session.clone_from(&self.config.user_session);
        Some(process)
    }

    /// Sends one event to the sink.
    pub(super) fn emit(&mut self, process: Process, mut body: EventBody) {
        super::super::fileinfo::fill_filesystems(&mut body);
        let event = Event {
            timestamp: protocol::time::now_rfc3339(),
            process,
            body,
        };
        self.sink.emit(event);
    }

    /// Stops every tracee and detaches from it, passing on a signal that was
    /// about to be delivered, so the workload keeps running unchanged.
    pub(super) fn detach_all(&mut self) {
        let tids: Vec<u32> = self.tracees.keys().copied().collect();
        for tid in tids {
            if ptrace::interrupt(Pid::from_raw(tid as i32)).is_err() {
                self.tracees.remove(&tid);
            }
        }
        while !self.tracees.is_empty() {
            let Ok(Some((pid, stop))) = wait_any(Duration::ZERO) else {
                break;
            };
            let tid = pid.as_raw() as u32;
            let signal = match stop {
                Stop::Exited { .. } | Stop::Signaled { .. } => {
                    self.tracees.remove(&tid);
                    continue;
                }
                Stop::Signal { signal } => nix::sys::signal::Signal::try_from(signal).ok(),
                Stop::JobControl { signal } => nix::sys::signal::Signal::try_from(signal).ok(),
                _ => None,
            };
            if let Some(tracee) = self.tracees.get(&tid) {
                if tracee
                    .pending
                    .as_ref()
                    .is_some_and(|pending| pending.denied)
                {
                    let _ = regs::set_return(pid, -i64::from(libc::EPERM));
                }
            }
            let _ = ptrace::detach(pid, signal);
            self.tracees.remove(&tid);
        }
        tracing::info!("detached from the workload");
    }
}

/// Fills the `stat` and filesystem of the file an exec ran, at its
/// `PTRACE_EVENT_EXEC`. The snapshot described `/proc/PID/exe`, which is the
/// same file unless an interpreter runs it (a `#!` script).
fn describe_executed(file: &mut File, process: &Process) {
    if file.path == process.file.path {
        file.stat = process.file.stat;
        file.filesystem.clone_from(&process.file.filesystem);
        file.in_upper_layer = process.file.in_upper_layer;
    } else {
        let path = file.path.clone();
        fileinfo::describe(file, &path, false, procfs::started_ns(&process.container));
    }
}

/// Reads the argument and environment lists that the kernel placed on the
/// stack of a process stopped at `PTRACE_EVENT_EXEC`, for a process whose
/// `/proc/PID/environ` the tracer may not read: a tracer without
/// `CAP_SYS_PTRACE` and a workload that changed its uid.
fn read_stack_lists(pid: Pid) -> Option<(BoundedList, BoundedList)> {
    let (stack, pointer_size) = regs::stack_pointer(pid).ok()?;
    stack_lists(pid, stack, pointer_size)
}

/// Reads the clone flags at a fork/vfork/clone event stop: the registers
/// still hold the syscall's arguments.
fn clone_flags(pid: Pid, event: i32) -> u64 {
    if event == libc::PTRACE_EVENT_VFORK {
        return (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
    }
    // A fork event also comes from a clone whose exit signal is SIGCHLD,
    // with flags such as CLONE_FS: only fork(2) itself has none.
    let Ok(regs) = regs::read(pid) else {
        return 0;
    };
    let is_fork = regs.abi == Abi::Native
        && syscalls::Sysno::new(regs.nr as usize).is_some_and(|sysno| sysno.name() == "fork");
    if is_fork {
        return 0;
    }
    let is_clone3 = regs.abi == Abi::Native
        && syscalls::Sysno::new(regs.nr as usize).is_some_and(|sysno| sysno.name() == "clone3");
    if is_clone3 {
        return read_bytes(pid, regs.args[0], 8)
            .map(|bytes| u64::from_ne_bytes(bytes[..8].try_into().unwrap_or_default()))
            .unwrap_or(0);
    }
    regs.args[0]
}

/// Names a foreign-ABI syscall number.
fn foreign_syscall_name(abi: Abi, nr: i64) -> String {
    let name = match abi {
        #[cfg(target_arch = "x86_64")]
        Abi::I386 => syscalls::x86::Sysno::new(nr as usize).map(|sysno| sysno.name()),
        _ => syscalls::Sysno::new(nr as usize).map(|sysno| sysno.name()),
    };
    name.unwrap_or_default().to_string()
}

/// Returns true when the file at `path` starts with `#!`.
fn starts_with_shebang(path: &str) -> bool {
    use std::io::Read;
    let mut head = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut head))
        .is_ok_and(|()| head == *b"#!")
}
