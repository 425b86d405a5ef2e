//! Signals sent to the tracer.
//!
//! In wrap mode SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and
//! SIGWINCH are forwarded to the workload's first process, as if they had
//! been sent to it. In attach mode SIGINT and SIGTERM ask the engine to
//! detach. The signals are blocked in the tracer's threads and taken by a
//! thread that calls `sigwait`; the ptrace thread is woken from `waitpid` by
//! a SIGURG whose handler does nothing.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
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
}

extern "C" fn ignore_signal(_signal: libc::c_int) {}

/// Installs the signal handling and returns the shared state and the signal
/// mask the workload's child must restore after fork.
pub fn install(attach_mode: bool) -> (Arc<SignalState>, libc::sigset_t) {
    let state = Arc::new(SignalState::default());
    // SAFETY: the sigset and sigaction values are fully initialized by the
    // libc calls before use; the handler is an extern "C" fn that does nothing.
    let original = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in FORWARDED {
            libc::sigaddset(&mut set, signal);
        }
        let mut original: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut original);

        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore_signal as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        // No SA_RESTART: waitpid must return EINTR.
        action.sa_flags = 0;
        libc::sigaction(WAKE_SIGNAL, &action, std::ptr::null_mut());
        original
    };
    // SAFETY: gettid has no preconditions.
    let main_tid = unsafe { libc::gettid() };
    let thread_state = Arc::clone(&state);
    let spawned = std::thread::Builder::new()
        .name("sentrace-signals".into())
        .spawn(move || signal_thread(thread_state, main_tid, attach_mode));
    if let Err(error) = spawned {
        tracing::warn!(%error, "signal forwarding is not available");
    }
    (state, original)
}

fn signal_thread(state: Arc<SignalState>, main_tid: libc::pid_t, attach_mode: bool) {
    // SAFETY: `set` is initialized by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above, `set` is a valid sigset.
    unsafe {
        libc::sigemptyset(&mut set);
        for signal in FORWARDED {
            libc::sigaddset(&mut set, signal);
        }
    }
    loop {
        let mut signal = 0;
        // SAFETY: `set` and `signal` are valid for the call.
        if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
            continue;
        }
        if attach_mode {
            if signal == libc::SIGINT || signal == libc::SIGTERM {
                request_detach(&state, main_tid);
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
fn request_detach(state: &SignalState, main_tid: libc::pid_t) {
    state.detach.store(true, Ordering::SeqCst);
    while !state.detach_seen.load(Ordering::SeqCst) {
        // SAFETY: tgkill to our own ptrace thread with a signal whose handler does nothing.
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), main_tid, WAKE_SIGNAL) };
        std::thread::sleep(Duration::from_millis(50));
    }
}
