//! The ptrace stop loop: one session traces one workload, wrapped or
//! attached, until every tracee has exited or the tracer detaches.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use protocol::{ChownEvent, Event, EventBody, EventKind, ExecEvent, ExitEvent, ModeEvent, Process};

use super::decode::{decode_entry, open_follows, AtExit, Caller, Decoded};
use super::dns::{HostnameCache, Watch};
use super::filter::{self, DATA_I386};
use super::paths;
use super::pidmap::{PidMap, PidSet};
use super::regs::{self, Abi, SyscallInfo, SyscallRegs};
use super::signals::{self, SignalState};
use super::spawn::Launch;
use super::stop::{wait_any, Stop};
use super::{fileinfo, procfs, TraceConfig, TraceError, WorkloadExit};
use crate::sink::{EventSink, SyscallGate};

/// A syscall decoded at entry whose event waits for the exit stop.
struct Pending {
    decoded: Decoded,
    process: Process,
    denied: bool,
}

/// One traced thread.
struct Tracee {
    tgid: u32,
    /// Set between a syscall-entry and syscall-exit stop in stop-every-syscall mode.
    in_syscall: bool,
    /// False for the wrapped child until its first exec: what it does
    /// before (filter, credentials) is the tracer's own setup.
    started: bool,
    pending: Option<Pending>,
    /// The socket of a connect to port 53 waiting for its exit stop.
    dns_connect: Option<i32>,
    /// The DNS exchange being followed; while set, the thread stops at
    /// every syscall entry and exit.
    dns: Option<Box<Watch>>,
    /// A clone whose `CLONE_UNTRACED` the engine cleared, until its exit stop.
    clone_request: Option<CloneRequest>,
    /// The return value of a syscall the engine skipped, set again at its
    /// exit stop when every syscall stops twice.
    forced_return: Option<i64>,
}

impl Tracee {
    fn new(tgid: u32) -> Tracee {
        Tracee {
            tgid,
            in_syscall: false,
            started: true,
            pending: None,
            dns_connect: None,
            dns: None,
            clone_request: None,
            forced_return: None,
        }
    }
}

/// The state of one tracing session.
pub struct Session<'a> {
    config: &'a TraceConfig,
    sink: &'a mut dyn EventSink,
    gate: Option<&'a dyn SyscallGate>,
    /// True when the gate has rules on exec events, which it checks with
    /// the file and lists read at the seccomp stop.
    gate_checks_exec: bool,
    traced: BTreeSet<i64>,
    use_seccomp: bool,
    tracees: PidMap<Tracee>,
    /// Cached process context per thread group id.
    processes: PidMap<Process>,
    /// True when chdir and fchdir are traced, so a cached cwd stays valid
    /// until the next chdir of its process.
    cwd_tracked: bool,
    /// Thread groups that called chdir since their cwd was last read.
    stale_cwd: PidSet,
    /// Thread groups whose root directory or mount namespace may differ
    /// from the tracer's, after chroot, pivot_root, unshare, setns or a
    /// clone with `CLONE_NEWNS`. The tracer cannot resolve their paths at
    /// entry, so their opens keep the exit stop.
    other_view: PidSet,
    root: u32,
    root_exit: Option<WorkloadExit>,
    signals: Arc<SignalState>,
    /// Names that traced processes resolved, by address.
    hostnames: HostnameCache,
}

fn base_options() -> Options {
    Options::PTRACE_O_TRACESYSGOOD
        | Options::PTRACE_O_TRACEEXEC
        | Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACECLONE
}

/// Runs `command` under the tracer (wrap mode).
pub fn run_wrapped(
    command: &[OsString],
    config: &TraceConfig,
    sink: &mut dyn EventSink,
    gate: Option<&dyn SyscallGate>,
) -> Result<WorkloadExit, TraceError> {
    let traced = filter::syscall_set(config.syscalls.as_deref());
    let program = if config.disable_seccomp {
        None
    } else {
        Some(filter::build_program(
            &traced,
            config.signals.as_deref(),
            std::process::id(),
        )?)
    };
    let use_seccomp = program.is_some();
    let launch = Launch::new(command, program, config.uid, config.gid)?;
    let (signal_state, child_signals) = signals::install(false);
    let mut options = base_options() | Options::PTRACE_O_EXITKILL;
    if use_seccomp {
        options |= Options::PTRACE_O_TRACESECCOMP;
    }
    let child = launch.start(options, &child_signals)?.as_raw() as u32;
    signal_state.target.store(child as i32, Ordering::SeqCst);
    tracing::debug!(pid = child, seccomp = use_seccomp, "workload started");

    let mut session = Session::new(config, sink, gate, traced, use_seccomp, signal_state, child);
    let mut root = Tracee::new(child);
    root.started = false;
    session.tracees.insert(child, root);
    Ok(session.run())
}

/// Attaches to `pids` and every one of their threads (attach mode).
pub fn run_attached(
    pids: &[u32],
    config: &TraceConfig,
    sink: &mut dyn EventSink,
    gate: Option<&dyn SyscallGate>,
) -> Result<WorkloadExit, TraceError> {
    let first = *pids.first().ok_or(TraceError::EmptyCommand)?;
    let traced = filter::syscall_set(config.syscalls.as_deref());
    let (signal_state, _) = signals::install(true);
    let mut session = Session::new(config, sink, gate, traced, false, signal_state, first);
    for &pid in pids {
        session.attach_process(pid)?;
    }
    session.attach_descendants(pids);
    Ok(session.run())
}

impl<'a> Session<'a> {
    fn new(
        config: &'a TraceConfig,
        sink: &'a mut dyn EventSink,
        gate: Option<&'a dyn SyscallGate>,
        traced: BTreeSet<i64>,
        use_seccomp: bool,
        signals: Arc<SignalState>,
        root: u32,
    ) -> Session<'a> {
        let cwd_tracked = ["chdir", "fchdir"].iter().all(|name| {
            syscalls::Sysno::from_str(name)
                .is_ok_and(|sysno| traced.contains(&i64::from(sysno.id())))
        });
        Session {
            config,
            sink,
            gate,
            gate_checks_exec: gate.is_some_and(|gate| gate.checks(EventKind::Exec)),
            traced,
            use_seccomp,
            tracees: PidMap::default(),
            processes: PidMap::default(),
            cwd_tracked,
            stale_cwd: PidSet::default(),
            other_view: PidSet::default(),
            root,
            root_exit: None,
            signals,
            hostnames: HostnameCache::default(),
        }
    }

    /// Seizes every thread of `pid`, re-reading the thread list until no new
    /// thread appears, so that threads created while attaching are caught.
    fn attach_process(&mut self, pid: u32) -> Result<(), TraceError> {
        if procfs::thread_ids(pid).is_empty() {
            return Err(TraceError::NoSuchProcess { pid });
        }
        if !procfs::shares_view(pid) {
            self.other_view.insert(pid);
        }
        loop {
            let new: Vec<u32> = procfs::thread_ids(pid)
                .into_iter()
                .filter(|tid| !self.tracees.contains_key(tid))
                .collect();
            if new.is_empty() {
                return Ok(());
            }
            for tid in new {
                let target = Pid::from_raw(tid as i32);
                match ptrace::seize(target, base_options()) {
                    Ok(()) => {}
                    Err(nix::Error::ESRCH) => continue,
                    Err(nix::Error::EPERM) => return Err(TraceError::ptrace_denied(tid)),
                    Err(source) => {
                        return Err(TraceError::Sys {
                            call: "ptrace(PTRACE_SEIZE)",
                            source,
                        })
                    }
                }
                let _ = ptrace::interrupt(target);
                self.tracees.insert(tid, Tracee::new(pid));
            }
        }
    }

    /// Seizes the processes that `pids` had forked before the attach, such
    /// as the workers of a server's main process. Forks after the seize are
    /// followed as in wrap mode; the scan repeats until it finds no process
    /// that is not traced yet. A descendant that cannot be traced is logged
    /// and left alone.
    fn attach_descendants(&mut self, pids: &[u32]) {
        let mut untraceable: Vec<u32> = Vec::new();
        loop {
            let new: Vec<u32> = procfs::descendants(pids)
                .into_iter()
                .filter(|pid| !self.tracees.contains_key(pid) && !untraceable.contains(pid))
                .collect();
            if new.is_empty() {
                return;
            }
            for pid in new {
                match self.attach_process(pid) {
                    Ok(()) | Err(TraceError::NoSuchProcess { .. }) => {}
                    Err(error) => {
                        tracing::warn!(pid, %error, "a child of an attached process is not traced");
                        untraceable.push(pid);
                    }
                }
            }
        }
    }

    /// Waits for stops and handles them until no tracee is left.
    ///
    /// The tracer busy-polls for the next stop (`TraceConfig::busy_poll`)
    /// only while stops follow each other closely, so that a workload that
    /// rarely stops costs no polling.
    fn run(&mut self) -> WorkloadExit {
        let window = self.config.busy_poll;
        let mut poll = Duration::ZERO;
        loop {
            if self.signals.detach.load(Ordering::SeqCst) {
                self.signals.detach_seen.store(true, Ordering::SeqCst);
                self.detach_all();
                self.sink.flush();
                return WorkloadExit::Detached;
            }
            let waiting_since = Instant::now();
            match wait_any(poll) {
                Ok(Some((pid, stop))) => {
                    poll = if waiting_since.elapsed() <= window {
                        window
                    } else {
                        Duration::ZERO
                    };
                    self.handle(pid.as_raw() as u32, stop)
                }
                Ok(None) => break,
                Err(nix::Error::EINTR) => continue,
                Err(error) => {
                    tracing::error!(%error, "waitpid failed; tracing stops");
                    break;
                }
            }
        }
        self.sink.flush();
        self.root_exit.unwrap_or(WorkloadExit::Exited(0))
    }

    /// Handles one stop and resumes the tracee.
    fn handle(&mut self, tid: u32, stop: Stop) {
        if self.config.verbose {
            tracing::debug!(tid, ?stop, "stop");
        }
        if !self.tracees.contains_key(&tid)
            && !matches!(stop, Stop::Exited { .. } | Stop::Signaled { .. })
        {
            let tgid = procfs::thread_group(tid);
            self.tracees.insert(tid, Tracee::new(tgid));
        }
        match stop {
            Stop::Exited { code } => self.on_exit(tid, WorkloadExit::Exited(code), code, "EXITED"),
            Stop::Signaled {
                signal,
                core_dumped,
            } => {
                let cause = if core_dumped {
                    "COREDUMPED"
                } else {
                    "SIGNALED"
                };
                self.on_exit(tid, WorkloadExit::Signaled(signal), signal, cause)
            }
            Stop::Syscall => self.on_syscall_stop(tid),
            Stop::Seccomp => self.on_seccomp_stop(tid),
            Stop::NewChild { event } => self.on_new_child(tid, event),
            Stop::Exec => self.on_exec(tid),
            Stop::JobControl { .. } => {
                // PTRACE_LISTEN keeps the tracee stopped until SIGCONT, as without a tracer.
                let _ = ptrace_listen(tid);
            }
            Stop::Signal { signal } => self.resume(tid, Signal::try_from(signal).ok()),
            Stop::VforkDone | Stop::Exiting | Stop::Interrupt | Stop::Unknown => {
                self.resume(tid, None)
            }
        }
    }

    /// Resumes `tid`: to the next seccomp stop, or to the next syscall stop
    /// when an exit stop is needed, a DNS exchange is followed or seccomp is off.
    fn resume(&mut self, tid: u32, signal: Option<Signal>) {
        // An exec is reported on PTRACE_EVENT_EXEC, so it needs no exit stop.
        let needs_exit = self.tracees.get(&tid).is_some_and(|tracee| {
            tracee.dns.is_some()
                || tracee.clone_request.is_some()
                || tracee
                    .pending
                    .as_ref()
                    .is_some_and(|pending| pending.decoded.at_exit != AtExit::ExecEvent)
        });
        let pid = Pid::from_raw(tid as i32);
        let result = if needs_exit || !self.use_seccomp {
            ptrace::syscall(pid, signal)
        } else {
            ptrace::cont(pid, signal)
        };
        if let Err(error) = result {
            if error != nix::Error::ESRCH {
                tracing::warn!(tid, %error, "resuming tracee failed");
            }
        }
    }

    fn on_exit(&mut self, tid: u32, exit: WorkloadExit, code: i32, cause: &str) {
        let Some(tracee) = self.tracees.remove(&tid) else {
            return;
        };
        if tid == self.root {
            self.root_exit = Some(exit);
        }
        if tid == tracee.tgid {
            self.other_view.remove(&tid);
        }
        if tid != tracee.tgid || !tracee.started {
            return;
        }
        let process = self.processes.remove(&tid).or_else(|| self.snapshot(tid));
        if let Some(process) = process {
            let exit = ExitEvent {
                code,
                cause: cause.to_string(),
            };
            self.emit(process, EventBody::Exit { exit });
        }
    }

    /// Handles a `SECCOMP_RET_TRACE` stop. The ABI comes from the kernel's
    /// syscall information where it exists: the filter's data value cannot
    /// be trusted, because the workload may install a filter of its own that
    /// returns `SECCOMP_RET_TRACE` with any data, and the newest filter's
    /// data wins.
    fn on_seccomp_stop(&mut self, tid: u32) {
        let pid = Pid::from_raw(tid as i32);
        let info = match regs::syscall_info(pid) {
            Some(SyscallInfo::Seccomp { regs, data }) => Some((regs, data)),
            _ => None,
        };
        let data = match info {
            Some((_, data)) => data,
            None => ptrace::getevent(pid).unwrap_or(0) as u32,
        };
        if !filter::is_own_data(data) {
            // Without a tracer, the workload's own SECCOMP_RET_TRACE fails with ENOSYS.
            let _ = regs::skip_syscall(pid, -i64::from(libc::ENOSYS));
            self.resume(tid, None);
            return;
        }
        let regs = match info {
            Some((regs, _)) => Ok(regs),
            None => seccomp_registers(pid, data),
        };
        match regs {
            Ok(regs) if regs.abi != Abi::Native => {
                self.keep_clone_traced(tid, &regs);
                self.emit_foreign(tid, &regs);
            }
            Ok(regs) => self.on_entry(tid, &regs),
            Err(_) => {}
        }
        self.resume(tid, None);
    }

    fn on_syscall_stop(&mut self, tid: u32) {
        let pid = Pid::from_raw(tid as i32);
        let followed = self
            .tracees
            .get(&tid)
            .is_some_and(|tracee| tracee.dns.is_some());
        // The registers, when known, the return register, and whether the
        // kernel reported an entry stop.
        let (regs, ret, entry_stop) = match regs::syscall_info(pid) {
            Some(SyscallInfo::Entry(regs)) => (Some(regs), regs.ret, Some(true)),
            // A followed DNS exchange needs the syscall number at exit too.
            Some(SyscallInfo::Exit { ret }) if !followed => (None, ret, Some(false)),
            _ => match syscall_registers(pid) {
                Ok(regs) => (Some(regs), regs.ret, None),
                Err(_) => {
                    self.resume(tid, None);
                    return;
                }
            },
        };
        let Some(tracee) = self.tracees.get_mut(&tid) else {
            return;
        };
        let is_entry = entry_stop
            .unwrap_or_else(|| regs.is_some_and(|regs| regs::is_entry(&regs, !tracee.in_syscall)));
        // In seccomp mode the only syscall stops are the exits we asked for,
        // and the entries and exits of a thread whose DNS exchange is followed.
        let entry = (!self.use_seccomp || followed) && is_entry;
        tracee.in_syscall = entry;
        if let (true, Some(regs)) = (entry, regs) {
            // With seccomp on, a traced syscall reaches on_entry at its seccomp stop.
            if !self.use_seccomp {
                let guarded = self.guard_escape(tid, &regs);
                if regs.abi != Abi::Native {
                    self.emit_foreign(tid, &regs);
                } else if !guarded && self.traced.contains(&regs.nr) {
                    self.on_entry(tid, &regs);
                }
            }
            if followed {
                self.on_followed_entry(tid, &regs);
            }
        } else {
            self.on_exit_stop(tid, ret);
            if let (true, Some(regs)) = (followed, regs) {
                self.on_followed_exit(tid, &regs);
            }
        }
        self.resume(tid, None);
    }

    /// Decodes a traced syscall at entry, calls the gate, and emits or keeps
    /// the event for the exit stop.
    fn on_entry(&mut self, tid: u32, regs: &SyscallRegs) {
        if self.guard_escape(tid, regs) {
            return;
        }
        let Some(name) = syscalls::Sysno::new(regs.nr as usize).map(|sysno| sysno.name()) else {
            return;
        };
        // sendto makes no event of its own: it may start a DNS exchange.
        if name == "sendto" {
            self.on_sendto_entry(tid, regs);
            return;
        }
        let caller = Caller {
            tid,
            tgid: self.tracees.get(&tid).map_or(tid, |tracee| tracee.tgid),
            exact_open: self.gate.is_some(),
            exec_lists: self.gate_checks_exec,
        };
        let Some(mut decoded) = decode_entry(caller, name, regs) else {
            return;
        };
        let open_wanted = !decoded.path_known_at_entry || self.open_wanted(caller, &decoded.body);
        if !self.wants(&decoded.body) || !open_wanted {
            return;
        }
        if let EventBody::Connect { connect } = &mut decoded.body {
            self.note_connect(tid, regs, &connect.addr);
            connect.addr.hostname = self.resolved_hostname(&connect.addr.ip);
        }
        let process = self.context(tid);
        // Unless the gate reads it at entry, the exec event describes the executed file.
        if self.gate_checks_exec || !matches!(decoded.body, EventBody::Exec { .. }) {
            describe_before_change(&mut decoded.body, &process);
        }
        if matches!(decoded.body, EventBody::Chdir { .. }) {
            let tgid = self.tracees.get(&tid).map_or(tid, |tracee| tracee.tgid);
            self.stale_cwd.insert(tgid);
        }
        let mut denied = false;
        if let Some(gate) = self.gate {
            let event = Event {
                timestamp: protocol::time::now_rfc3339(),
                process: process.clone(),
                body: decoded.body.clone(),
            };
            if let Some(rule) = gate.deny(&event) {
                tracing::info!(tid, rule = %rule, syscall = name, "syscall denied");
                let _ = regs::skip_syscall(Pid::from_raw(tid as i32), -i64::from(libc::EPERM));
                denied = true;
            }
        }
        let started = self.tracees.get(&tid).is_some_and(|tracee| tracee.started);
        if denied {
            if let Some(retval) = super::decode::retval_mut(&mut decoded.body) {
                *retval = -i64::from(libc::EPERM);
            }
            decoded.at_exit = AtExit::Retval;
        }
        // The tracer may stop or die of this signal: its event goes out first.
        let signals_tracer = matches!(
            &decoded.body,
            EventBody::Signal { signal } if signal.target.is_tracer
        );
        match decoded.at_exit {
            AtExit::Nothing if started => self.emit(process, decoded.body),
            AtExit::Nothing => {}
            _ => {
                if let Some(tracee) = self.tracees.get_mut(&tid) {
                    tracee.pending = Some(Pending {
                        decoded,
                        process,
                        denied,
                    });
                }
            }
        }
        if signals_tracer {
            tracing::debug!(tid, "a traced process signals the tracer");
            self.sink.flush_buffered();
        }
    }

    /// Returns false for a signal event whose number no rule reads and
    /// whose target is not the tracer. Without seccomp, or when the filter
    /// stopped for a pid that turned out not to be the tracer's group, such
    /// signals reach the decoder.
    fn wants(&self, body: &EventBody) -> bool {
        match (body, &self.config.signals) {
            (EventBody::Signal { signal }, Some(ranges)) => {
                signal.target.is_tracer
                    || ranges
                        .iter()
                        .any(|range| range.contains(signal.signal_type))
            }
            _ => true,
        }
    }

    /// Returns false for an open that no loaded rule can match, judged on
    /// its canonical path and flags at entry. Such an open runs without an
    /// exit stop and produces no event.
    ///
    /// NOTE: the path is resolved before the kernel resolves it. A workload
    /// that swaps a directory or link on the path between the two can open
    /// a watched file unreported.
    fn open_wanted(&self, caller: Caller, body: &EventBody) -> bool {
        let EventBody::Open { open } = body else {
            return true;
        };
        let Some(filter) = self.config.opens.get() else {
            return true;
        };
        let path = &open.file.path;
        if filter.may_match(path, open.flags) {
            return true;
        }
        if caller.exact_open || self.other_view.contains(&caller.tgid) {
            // The gate's path came from a lookup that may have been the
            // tracer's own view, and another root or mount namespace is not
            // the tracer's view: only the exit stop names the file.
            return true;
        }
        let follow = open_follows(u64::from(open.flags));
        match paths::canonical_before_open(caller.tgid, caller.tid, path, follow) {
            Some(canonical) => canonical != *path && filter.may_match(&canonical, open.flags),
            None => true,
        }
    }

    /// Completes the pending event of `tid` at its syscall-exit stop, where
    /// the syscall returned `ret`.
    fn on_exit_stop(&mut self, tid: u32, ret: i64) {
        self.restore_clone_request(tid);
        if let Some(retval) = self
            .tracees
            .get_mut(&tid)
            .and_then(|tracee| tracee.forced_return.take())
        {
            let _ = regs::set_return(Pid::from_raw(tid as i32), retval);
        }
        let Some(tracee) = self.tracees.get_mut(&tid) else {
            return;
        };
        let started = tracee.started;
        let tgid = tracee.tgid;
        let Some(pending) = tracee.pending.take() else {
            return;
        };
        let Pending {
            mut decoded,
            process,
            denied,
        } = pending;
        let pid = Pid::from_raw(tid as i32);
        if denied {
            let _ = regs::set_return(pid, -i64::from(libc::EPERM));
        } else if let Some(retval) = super::decode::retval_mut(&mut decoded.body) {
            *retval = ret;
        }
        match (&mut decoded.body, decoded.at_exit) {
            (_, AtExit::ExecEvent) => return,
            (EventBody::Accept { accept }, AtExit::AcceptPeer { address, length }) if ret >= 0 => {
                accept.addr = super::decode::accept_peer(pid, address, length);
            }
            (EventBody::Open { open }, AtExit::OpenedFd) if !denied => {
                open.file = opened_file(tid, tgid, &open.file.path, open.flags, ret);
            }
            (EventBody::Setuid { .. } | EventBody::Setgid { .. } | EventBody::Capset { .. }, _) => {
                let tgid = self.tracees.get(&tid).map_or(tid, |tracee| tracee.tgid);
                self.processes.remove(&tgid);
            }
            (EventBody::Connect { .. }, _) => self.on_connect_exit(tid, ret),
            _ => {}
        }
        if started {
            self.emit(process, decoded.body);
        }
    }
}

/// Reads the registers at a seccomp stop, on kernels without
/// `PTRACE_GET_SYSCALL_INFO`, where the ABI comes from the filter's `data`.
fn seccomp_registers(pid: Pid, data: u32) -> nix::Result<SyscallRegs> {
    let compat = match regs::syscall_arch(pid) {
        Some(arch) => arch == regs::AUDIT_ARCH_I386 && cfg!(target_arch = "x86_64"),
        None => data == DATA_I386,
    };
    if compat {
        regs::read_i386(pid)
    } else {
        regs::read(pid)
    }
}

/// Reads the registers at a syscall stop, where the kernel's syscall
/// information was missing or lacked the syscall number.
fn syscall_registers(pid: Pid) -> nix::Result<SyscallRegs> {
    // Only the kernel's syscall information separates an `int 0x80` of
    // 64-bit code from a native syscall.
    let compat =
        cfg!(target_arch = "x86_64") && regs::syscall_arch(pid) == Some(regs::AUDIT_ARCH_I386);
    if compat {
        regs::read_i386(pid)
    } else {
        regs::read(pid)
    }
}

/// Reads the owner, mode and times of the file an exec, chmod or chown acts
/// on, before the kernel changes them. The path is canonical, so its last
/// component is a symbolic link only when the syscall acts on the link.
fn describe_before_change(body: &mut EventBody, process: &Process) {
    if let EventBody::Exec {
        exec: ExecEvent { file, .. },
    }
    | EventBody::Chmod {
        chmod: ModeEvent { file, .. },
    }
    | EventBody::Chown {
        chown: ChownEvent { file, .. },
    } = body
    {
        let path = file.path.clone();
        fileinfo::describe(file, &path, false, procfs::started_ns(&process.container));
    }
}

/// Names the file an open of `path` acted on. A returned fd names it
/// exactly (one readlink); a memfd gets its `memfd:NAME`. A failure with
/// ENOENT acted on no file and gets the lexical form only; other failures
/// (EACCES, ELOOP, ...) name an existing file and are resolved.
fn opened_file(tid: u32, tgid: u32, path: &str, flags: u32, ret: i64) -> protocol::File {
    let named = if ret >= 0 {
        procfs::fd_path(tid, ret).map(|kernel| match super::decode::memfd_path(&kernel) {
            Some(memfd) => memfd,
            None if kernel.starts_with('/') => kernel,
            None => paths::lexical(tgid, tid, path),
        })
    } else {
        None
    };
    let named = named.unwrap_or_else(|| {
        if ret == -i64::from(libc::ENOENT) || path.is_empty() {
            paths::lexical(tgid, tid, path)
        } else {
            paths::canonical(tgid, tid, path, open_follows(u64::from(flags)))
        }
    });
    protocol::File::from_path(named)
}

/// `PTRACE_LISTEN`, which nix does not wrap.
fn ptrace_listen(tid: u32) -> nix::Result<()> {
    // SAFETY: PTRACE_LISTEN takes no pointers.
    let result = unsafe { libc::ptrace(libc::PTRACE_LISTEN, tid as libc::pid_t, 0, 0) };
    nix::Error::result(result).map(drop)
}

mod dns_watch;
mod lifecycle;
mod untraced;

use untraced::CloneRequest;
