//! Signals sent to the tracer.
//!
//! In wrap mode SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and
//! SIGWINCH are forwarded to the workload's first process, as if they had
//! been sent to it. In attach mode SIGINT and SIGTERM ask the engine to
//! detach. The signals are blocked in the tracer's threads and taken by a
//! thread that calls `sigwait`. That thread wakes the ptrace thread from
//! `waitpid` with a SIGURG whose handler does nothing.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

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

/// Shared state between the signal thread and the ptrace thread.
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

/// The state shared with the one `sigwait` thread of the process.
static STATE: OnceLock<Arc<SignalState>> = OnceLock::new();

extern "C" fn ignore_signal(_signal: libc::c_int) {}

/// The signal mask of the first thread that blocked the forwarded signals,
/// which the workload's child restores after fork.
static ORIGINAL_MASK: OnceLock<SignalMask> = OnceLock::new();

/// A `sigset_t` that can live in a static.
struct SignalMask(libc::sigset_t);

// SAFETY: a sigset_t is plain data that is never mutated after creation.
unsafe impl Send for SignalMask {}
// SAFETY: as above, shared access only reads it.
unsafe impl Sync for SignalMask {}

fn forwarded_set() -> libc::sigset_t {
    // SAFETY: `set` is initialized by sigemptyset before sigaddset uses it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in FORWARDED {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// Blocks the forwarded signals in the calling thread and returns the mask
/// it had before the first call. Threads started afterwards inherit the
/// block, so a signal reaches the `sigwait` thread rather than killing the
/// tracer with its default action.
pub fn block_forwarded() -> libc::sigset_t {
    let set = forwarded_set();
    // SAFETY: `set` and `previous` are valid sigsets for the call.
    let previous = unsafe {
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
        previous
    };
    ORIGINAL_MASK.get_or_init(|| SignalMask(previous)).0
}

/// Installs the signal handling for a new session and returns the shared
/// state and the signal mask the workload's child must restore after fork.
/// The `sigwait` thread starts on the first call and serves later sessions.
pub fn install(attach_mode: bool) -> (Arc<SignalState>, libc::sigset_t) {
    let original = block_forwarded();
    let state = STATE.get_or_init(start_signal_thread);
    state.target.store(0, Ordering::SeqCst);
    state.detach.store(false, Ordering::SeqCst);
    state.detach_seen.store(false, Ordering::SeqCst);
    state.attach_mode.store(attach_mode, Ordering::SeqCst);
    // SAFETY: gettid has no preconditions.
    state
        .ptrace_tid
        .store(unsafe { libc::gettid() }, Ordering::SeqCst);
    (Arc::clone(state), original)
}

fn start_signal_thread() -> Arc<SignalState> {
    let state = Arc::new(SignalState::default());
    // SAFETY: the sigaction value is zeroed, then filled; the handler is an
    // extern "C" fn that does nothing.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore_signal as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        // No SA_RESTART: waitpid must return EINTR.
        action.sa_flags = 0;
        libc::sigaction(WAKE_SIGNAL, &action, std::ptr::null_mut());
    }
    let thread_state = Arc::clone(&state);
    let spawned = std::thread::Builder::new()
        .name("sentrace-signals".into())
        .spawn(move || signal_thread(thread_state));
    if let Err(error) = spawned {
        tracing::warn!(%error, "signal forwarding is not available");
    }
    state
}

fn signal_thread(state: Arc<SignalState>) {
    let set = forwarded_set();
    loop {
        let mut signal = 0;
        // SAFETY: `set` and `signal` are valid for the call.
        if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
            continue;
        }
        if state.attach_mode.load(Ordering::SeqCst) {
            if signal == libc::SIGINT || signal == libc::SIGTERM {
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
