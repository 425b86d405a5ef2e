//! The tracer engine: starts or attaches to a workload under ptrace, follows
//! every thread and child, decodes security-relevant syscalls into
//! [`protocol::Event`]s and hands them to an [`EventSink`].
//!
//! In wrap mode the child installs a seccomp-bpf filter before exec, so only
//! traced syscalls stop it (`SECCOMP_RET_TRACE`). In attach mode no filter can
//! be installed, so every syscall stops twice and the engine filters.
//!
//! # Return values
//!
//! Every event has a `retval`. A second stop at syscall exit costs as much as
//! the first, so the engine takes it only where detection needs the result.
//! The fd an open returns names the opened file, and [`paths`] describes
//! how the other paths are made canonical.
//! These syscalls get an exit stop: the open family (the fd or the error),
//! bind, connect, accept (the peer address is written at exit), ptrace, the
//! setuid/setgid family, capset, module load/unload, mount, umount,
//! memfd_create and io_uring_setup. The file
//! operations unlink, rename, mkdir, rmdir, chmod, chown, link, symlink,
//! utimes, chdir and prctl are reported at entry with `retval` 0. So is a
//! signal sent to the tracer itself, because it may stop or end the tracer
//! before the exit stop. Other signal events wait for the exit stop. exec events
//! are emitted on `PTRACE_EVENT_EXEC`, so only successful execs are reported;
//! fork events come from `PTRACE_EVENT_FORK`/`VFORK`/`CLONE`. fork and vfork
//! never stop at the seccomp filter. clone stops when its flags request
//! `CLONE_UNTRACED` and clone3 always stops, so that the engine can clear
//! that flag and keep the child traced (`session/untraced.rs`).
//!
//! # Limitations
//!
//! - The process context is cached per process and refreshed on exec and on
//!   traced credential, chdir and prctl events; the cwd is re-read for every
//!   event. A credential change through an untraced syscall shows late.
//! - Register access is written for x86_64 and aarch64, but only x86_64 is
//!   built and tested.
//! - Foreign-ABI syscalls are reported as `foreign_abi` events only; an i386
//!   `open` does not also produce an `open` event. Without seccomp (attach
//!   mode, `--disable-seccomp`) an `int 0x80` from 64-bit code looks like a
//!   native syscall on kernels before 5.3, which lack
//!   `PTRACE_GET_SYSCALL_INFO`.
//! - A syscall waiting for its exit stop is not reported when the tracee is
//!   killed before the syscall returns.
//! - A workload that stops the tracer (SIGSTOP) blocks at its next traced
//!   syscall until the tracer continues. One that kills the tracer in wrap
//!   mode dies with it (`PTRACE_O_EXITKILL`). In attach mode the tracer does
//!   not set that option, so the workload runs on untraced.
//! - The workload starts with the signal dispositions (ignored or default)
//!   and the mask the tracer inherited, recorded before `main` ran.

use std::ffi::OsString;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use protocol::{SignalRange, UserSession};
use rules::OpenFilter;

use crate::sink::{EventSink, SyscallGate};

mod arguments;
mod decode;
mod dns;
mod fileinfo;
mod filter;
mod memory;
mod paths;
mod pidmap;
mod procfs;
mod regs;
mod session;
mod signals;
mod spawn;
mod stop;

pub use procfs::{read_stat, snapshot_process, Stat};

/// Installs the handlers for the signals the tracer forwards to the
/// workload (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH).
/// [`wrap`] and [`attach`] install them too; calling this first makes such
/// a signal that arrives while a probe link starts harmless, because the
/// handlers replace the default action (terminate) in every thread.
pub fn install_signal_forwarding() {
    signals::install_handlers();
}

/// Tracing options: the syscall set, the seccomp switch, the workload's
/// credentials and the user session it runs in.
#[derive(Debug, Clone, Default)]
pub struct TraceConfig {
    /// Syscall names to trace; `None` traces every syscall sentrace decodes.
    /// Names unknown on this architecture are skipped.
    pub syscalls: Option<Vec<String>>,
    /// Signal numbers to report when a traced process signals a process
    /// other than the tracer; `None` for every number. Signals to the
    /// tracer are always reported.
    pub signals: Option<Vec<SignalRange>>,
    /// Stop at every syscall instead of installing a seccomp filter (for
    /// kernels without seccomp-bpf).
    pub disable_seccomp: bool,
    /// User id the workload runs as (wrap mode).
    pub uid: Option<u32>,
    /// Group id the workload runs as (wrap mode).
    pub gid: Option<u32>,
    /// Log every stop at debug level and decoding failures at warn level.
    pub verbose: bool,
    /// The user session of every traced process, set on the process of
    /// each event (`--k8s-user-session`).
    pub user_session: Option<Arc<UserSession>>,
    /// The opens the probe's rules may match, replaced when the probe's
    /// policy changes; empty reports every open. An open that matches none
    /// produces no event and no exit stop.
    pub opens: OpenFilterSlot,
    /// How long the tracer polls for the next stop before it sleeps, while
    /// stops come close together; zero always sleeps at once.
    pub busy_poll: Duration,
}

/// The open filter in force, shared between the probe link, which replaces
/// it at each welcome and policy change, and the engine, which reads it at
/// every open.
#[derive(Debug, Clone, Default)]
pub struct OpenFilterSlot(Arc<RwLock<Option<Arc<OpenFilter>>>>);

impl OpenFilterSlot {
    /// Replaces the filter; `None` reports every open.
    pub fn set(&self, filter: Option<OpenFilter>) {
        let mut slot = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = filter.map(Arc::new);
    }

    /// Returns the filter in force, `None` when every open is reported.
    pub fn get(&self) -> Option<Arc<OpenFilter>> {
        let slot = self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.clone()
    }
}

/// The end state of a traced workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadExit {
    /// The first workload process exited with this status.
    Exited(i32),
    /// The first workload process was killed by this signal.
    Signaled(i32),
    /// The tracer detached (attach mode, on SIGINT or SIGTERM) and the
    /// workload keeps running.
    Detached,
}

impl WorkloadExit {
    /// Returns the exit status a shell would report: the status, or 128 plus
    /// the signal number.
    pub fn status_code(self) -> u8 {
        match self {
            WorkloadExit::Exited(code) => (code & 0xff) as u8,
            WorkloadExit::Signaled(signal) => (128 + signal).clamp(0, 255) as u8,
            WorkloadExit::Detached => 0,
        }
    }
}

/// Errors that stop the engine before or while it starts tracing. Once
/// tracees run, faults are logged and counted instead.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The command was not found in `PATH` or at the given path.
    #[error("{path}: command not found")]
    CommandNotFound {
        /// The command as given.
        path: String,
    },
    /// The command exists but cannot be executed.
    #[error("{path}: permission denied (not an executable file)")]
    NotExecutable {
        /// The resolved path.
        path: String,
    },
    /// The wrap command line is empty.
    #[error("no command given: pass the workload after `--`")]
    EmptyCommand,
    /// ptrace was refused with EPERM.
    #[error(
        "ptrace of pid {pid} is not permitted (EPERM): the tracer needs the SYS_PTRACE \
         capability. Add it with `docker run --cap-add SYS_PTRACE`, in Kubernetes with \
         `securityContext.capabilities.add: [\"SYS_PTRACE\"]`, in ECS with \
         `linuxParameters.capabilities.add: [\"SYS_PTRACE\"]`"
    )]
    PtraceNotPermitted {
        /// The process the tracer tried to trace.
        pid: u32,
    },
    /// The process already has a tracer, and a process can have only one.
    #[error(
        "process {pid} is already traced by process {tracer} (a debugger, strace or another \
         sentrace); a process can have only one tracer, so stop that one first"
    )]
    AlreadyTraced {
        /// The process the tracer tried to trace.
        pid: u32,
        /// Its current tracer.
        tracer: u32,
    },
    /// The tracer itself runs under a tracer, which keeps it from tracing.
    #[error(
        "ptrace of pid {pid} is not permitted (EPERM) while sentrace itself is traced by \
         process {tracer}; run sentrace outside strace, gdb or another sentrace"
    )]
    TracerIsTraced {
        /// The process the tracer tried to trace.
        pid: u32,
        /// The tracer of sentrace.
        tracer: u32,
    },
    /// A process to attach to does not exist.
    #[error("process {pid} not found")]
    NoSuchProcess {
        /// The requested pid.
        pid: u32,
    },
    /// The seccomp filter could not be built.
    #[error("invalid seccomp filter: {0}")]
    Filter(String),
    /// A system call of the tracer itself failed.
    #[error("{call} failed: {source}")]
    Sys {
        /// The name of the failed call.
        call: &'static str,
        /// The error.
        source: nix::Error,
    },
}

/// Runs `command` under the tracer and returns when every traced process
/// has exited.
pub fn wrap(
    command: &[OsString],
    config: &TraceConfig,
    sink: &mut dyn EventSink,
    gate: Option<&dyn SyscallGate>,
) -> Result<WorkloadExit, TraceError> {
    session::run_wrapped(command, config, sink, gate)
}

/// Attaches to every thread of `pids` and traces them until they exit or the
/// tracer receives SIGINT or SIGTERM, which detaches cleanly.
pub fn attach(
    pids: &[u32],
    config: &TraceConfig,
    sink: &mut dyn EventSink,
    gate: Option<&dyn SyscallGate>,
) -> Result<WorkloadExit, TraceError> {
    session::run_attached(pids, config, sink, gate)
}

impl TraceError {
    /// Explains an EPERM from `PTRACE_SEIZE` of `pid`: the process already
    /// has a tracer, the tracer itself is traced, or it lacks `SYS_PTRACE`.
    pub(crate) fn ptrace_denied(pid: u32) -> TraceError {
        if let Some(tracer) = procfs::tracer_pid(pid).filter(|tracer| *tracer != 0) {
            if tracer != std::process::id() {
                return TraceError::AlreadyTraced { pid, tracer };
            }
        }
        if let Some(tracer) = procfs::tracer_pid(std::process::id()).filter(|tracer| *tracer != 0) {
            return TraceError::TracerIsTraced { pid, tracer };
        }
        TraceError::PtraceNotPermitted { pid }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_code_of_exits() {
        assert_eq!(WorkloadExit::Exited(7).status_code(), 7);
        assert_eq!(WorkloadExit::Signaled(9).status_code(), 137);
        assert_eq!(WorkloadExit::Detached.status_code(), 0);
    }
}
