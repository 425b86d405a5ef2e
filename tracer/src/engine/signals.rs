//! Signals sent to the tracer.
//!
//! In wrap mode SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and
//! SIGWINCH are forwarded to the workload's first process, as if they had
//! been sent to it. In attach mode SIGINT, SIGTERM and SIGHUP (the
//! tracer's terminal closed) ask the engine to detach. A handler writes each such signal's number to a pipe, whatever
//! thread the kernel delivers it to, so no thread of the process (a probe
//! runtime, a link sender) can die of the default action. A forwarding
//! thread reads the pipe. To detach, it wakes the ptrace thread from
//! `waitpid` with a SIGURG whose handler does nothing.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Bit `n` is set when signal `n` was ignored (`SIG_IGN`) when the process
/// started, before the Rust runtime set SIGPIPE to `SIG_IGN`.
static INHERITED_IGNORED: AtomicU64 = AtomicU64::new(0);
/// Bit `n` is set when signal `n` was blocked when the process started.
static INHERITED_BLOCKED: AtomicU64 = AtomicU64::new(0);
/// Bit `n` is set when standard descriptor `n` (0 to 2) was closed when the
/// process started. The Rust runtime then opens `/dev/null` on it, which
/// the workload must not inherit.
static INHERITED_CLOSED_FDS: AtomicU64 = AtomicU64::new(0);
/// True once [`record_inherited`] ran.
static INHERITED_RECORDED: AtomicBool = AtomicBool::new(false);

/// The highest signal number a disposition is kept for.
const LAST_SIGNAL: libc::c_int = 64;

/// Runs before `main` (from `.init_array`), while the dispositions and the
/// mask are still those the parent gave us.
#[used]
#[link_section = ".init_array"]
static RECORD_INHERITED: extern "C" fn() = record_inherited;

/// The kernel's `struct sigaction` (x86_64 and aarch64 layout). glibc's
/// `sigaction` refuses signals 32 and 33, which it reserves for itself, so
/// the raw syscall reads and restores them too.
#[repr(C)]
#[derive(Default)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Reads (`new` is `None`) or sets the disposition of `signal` with the raw
/// `rt_sigaction`. Returns the previous handler, or `None` on failure.
/// Async-signal-safe.
fn raw_sigaction(signal: libc::c_int, new: Option<usize>) -> Option<usize> {
    let action = KernelSigaction {
        handler: new.unwrap_or(0),
        ..KernelSigaction::default()
    };
    let mut previous = KernelSigaction::default();
    let new_pointer = match new {
        Some(_) => &action as *const KernelSigaction,
        None => std::ptr::null(),
    };
    // SAFETY: both pointers are null or point to live kernel-layout structs,
    // and the size is that of the kernel's 64-bit signal set.
    let result = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            signal,
            new_pointer,
            &mut previous as *mut KernelSigaction,
            8usize,
        )
    };
    (result == 0).then_some(previous.handler)
}

extern "C" fn record_inherited() {
    let mut ignored = 0u64;
    let mut blocked = 0u64;
    // SAFETY: sigprocmask only reads into a zeroed local.
    unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
        for signal in 1..=LAST_SIGNAL {
            if raw_sigaction(signal, None) == Some(libc::SIG_IGN) {
                ignored |= 1 << (signal - 1);
            }
            if libc::sigismember(&mask, signal) == 1 {
                blocked |= 1 << (signal - 1);
            }
        }
    }
    let mut closed = 0u64;
    for fd in 0..=2 {
        // SAFETY: F_GETFD only reads the descriptor's flags.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            closed |= 1 << fd;
        }
    }
    INHERITED_IGNORED.store(ignored, Ordering::SeqCst);
    INHERITED_BLOCKED.store(blocked, Ordering::SeqCst);
    INHERITED_CLOSED_FDS.store(closed, Ordering::SeqCst);
    INHERITED_RECORDED.store(true, Ordering::SeqCst);
}

/// The signal state the workload gets back before exec: the dispositions
/// and mask the tracer inherited.
#[derive(Clone, Copy)]
pub struct Inherited {
    /// Bit `n - 1` set: signal `n` is ignored.
    ignored: u64,
    /// The signal mask.
    mask: libc::sigset_t,
    /// Bit `n` set: standard descriptor `n` was closed.
    closed_fds: u64,
}

impl Inherited {
    /// Reads the state recorded at start. Without a record (the hook did not
    /// run), ignored signals stay ignored except SIGPIPE, and the mask is
    /// the calling thread's.
    pub fn recorded() -> Inherited {
        // Keeps the `.init_array` entry linked in with this function.
        std::hint::black_box(&RECORD_INHERITED);
        // SAFETY: the sigset is zeroed, then filled by sigemptyset/sigaddset
        // or read with a null new set.
        unsafe {
            let mut mask: libc::sigset_t = std::mem::zeroed();
            if !INHERITED_RECORDED.load(Ordering::SeqCst) {
                libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
                let mut ignored = 0u64;
                for signal in 1..=LAST_SIGNAL {
                    if signal != libc::SIGPIPE && raw_sigaction(signal, None) == Some(libc::SIG_IGN)
                    {
                        ignored |= 1 << (signal - 1);
                    }
                }
                return Inherited {
                    ignored,
                    mask,
                    closed_fds: 0,
                };
            }
            libc::sigemptyset(&mut mask);
            let blocked = INHERITED_BLOCKED.load(Ordering::SeqCst);
            for signal in 1..=LAST_SIGNAL {
                if blocked & (1 << (signal - 1)) != 0 {
                    libc::sigaddset(&mut mask, signal);
                }
            }
            Inherited {
                ignored: INHERITED_IGNORED.load(Ordering::SeqCst),
                mask,
                closed_fds: INHERITED_CLOSED_FDS.load(Ordering::SeqCst),
            }
        }
    }

    /// Restores the dispositions, the mask and the closed standard
    /// descriptors in the child after fork. Async-signal-safe: sigaction,
    /// sigprocmask and close on prepared values.
    pub fn restore(&self) {
        for fd in 0..=2 {
            if self.closed_fds & (1 << fd) != 0 {
                // SAFETY: closes a descriptor of this child only.
                unsafe { libc::close(fd) };
            }
        }
        for signal in 1..=LAST_SIGNAL {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            let handler = if self.ignored & (1 << (signal - 1)) != 0 {
                libc::SIG_IGN
            } else {
                libc::SIG_DFL
            };
            raw_sigaction(signal, Some(handler));
        }
        // SAFETY: the mask is a live, initialized signal set.
        unsafe {
            libc::sigprocmask(libc::SIG_SETMASK, &self.mask, std::ptr::null_mut());
        }
    }
}

/// Signals forwarded to the workload in wrap mode.
const FORWARDED: [libc::c_int; 7] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// The signal that interrupts the ptrace thread's `waitpid`.
const WAKE_SIGNAL: libc::c_int = libc::SIGURG;

/// Write end of the signal pipe, -1 until the handlers are installed.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// The state shared with the forwarding thread of the process.
static STATE: OnceLock<Arc<SignalState>> = OnceLock::new();

/// Shared state between the forwarding thread and the ptrace thread.
#[derive(Debug, Default)]
pub struct SignalState {
    /// Pid that forwarded signals go to (0: none yet).
    pub target: AtomicI32,
    /// Set when the tracer should detach (attach mode).
    pub detach: AtomicBool,
    /// Set by the ptrace thread once it has seen `detach`.
    pub detach_seen: AtomicBool,
    /// True while an attach-mode session runs.
    attach_mode: AtomicBool,
    /// Thread id of the session's ptrace thread, which detach requests wake.
    ptrace_tid: AtomicI32,
}

extern "C" fn ignore_signal(_signal: libc::c_int) {}

/// Writes the signal number to the pipe. Async-signal-safe: one write, and
/// errno is restored for the interrupted code.
extern "C" fn queue_signal(signal: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let byte = signal as u8;
    // SAFETY: write from a live local byte; errno is saved and restored.
    unsafe {
        let saved = *libc::__errno_location();
        libc::write(fd, (&byte as *const u8).cast(), 1);
        *libc::__errno_location() = saved;
    }
}

/// Installs `handler` for `signal`, with `SA_RESTART` when `restart` is set.
/// The wake signal needs it unset, so that `waitpid` returns EINTR.
fn set_handler(signal: libc::c_int, handler: extern "C" fn(libc::c_int), restart: bool) {
    // SAFETY: the sigaction value is zeroed, then filled with a valid handler.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_flags = if restart { libc::SA_RESTART } else { 0 };
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

/// Installs the handlers and starts the forwarding thread, once per process.
pub fn install_handlers() -> Arc<SignalState> {
    Arc::clone(STATE.get_or_init(start_forwarding))
}

/// Prepares signal handling for a new session. Returns the shared state and
/// the signal state the workload's child restores after fork.
pub fn install(attach_mode: bool) -> (Arc<SignalState>, Inherited) {
    let state = install_handlers();
    state.target.store(0, Ordering::SeqCst);
    state.detach.store(false, Ordering::SeqCst);
    state.detach_seen.store(false, Ordering::SeqCst);
    state.attach_mode.store(attach_mode, Ordering::SeqCst);
    // SAFETY: gettid has no preconditions.
    state
        .ptrace_tid
        .store(unsafe { libc::gettid() }, Ordering::SeqCst);
    (state, Inherited::recorded())
}

fn start_forwarding() -> Arc<SignalState> {
    let state = Arc::new(SignalState::default());
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 returns.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        tracing::warn!(error = %nix::Error::last(), "signal forwarding is not available");
        return state;
    }
    let [read_end, write_end] = fds;
    PIPE_WRITE.store(write_end, Ordering::SeqCst);
    set_handler(WAKE_SIGNAL, ignore_signal, false);
    for signal in FORWARDED {
        set_handler(signal, queue_signal, true);
    }
    let thread_state = Arc::clone(&state);
    let spawned = std::thread::Builder::new()
        .name("sentrace-signals".into())
        .spawn(move || forward_signals(thread_state, read_end));
    if let Err(error) = spawned {
        tracing::warn!(%error, "signal forwarding is not available");
    }
    state
}

fn forward_signals(state: Arc<SignalState>, read_end: libc::c_int) {
    loop {
        let mut byte = 0u8;
        // SAFETY: reads one byte into a live local.
        let count = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
        if count != 1 {
            if count < 0 && nix::Error::last() == nix::Error::EINTR {
                continue;
            }
            return;
        }
        let signal = libc::c_int::from(byte);
        if state.attach_mode.load(Ordering::SeqCst) {
            if [libc::SIGINT, libc::SIGTERM, libc::SIGHUP].contains(&signal) {
                request_detach(&state);
            }
            continue;
        }
        let target = state.target.load(Ordering::SeqCst);
        if target > 0 {
            // SAFETY: kill has no memory effects; ESRCH (target gone) is ignored.
            unsafe { libc::kill(target, signal) };
        }
    }
}

/// Sets the detach flag and interrupts the ptrace thread until it notices.
fn request_detach(state: &SignalState) {
    state.detach.store(true, Ordering::SeqCst);
    while !state.detach_seen.load(Ordering::SeqCst) {
        // SAFETY: tgkill to our own ptrace thread with a signal whose handler does nothing.
        unsafe {
            libc::syscall(
                libc::SYS_tgkill,
                libc::getpid(),
                state.ptrace_tid.load(Ordering::SeqCst),
                WAKE_SIGNAL,
            )
        };
        std::thread::sleep(Duration::from_millis(50));
    }
}
