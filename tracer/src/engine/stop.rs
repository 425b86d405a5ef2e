//! Decoding of `waitpid` statuses into the kinds of ptrace stop.
//!
//! A wait status packs several meanings into one integer: exit or signal
//! death, syscall stops (SIGTRAP | 0x80 with `PTRACE_O_TRACESYSGOOD`),
//! `PTRACE_EVENT_*` stops (event number in bits 16..24), group-stops (under
//! `PTRACE_SEIZE`, `PTRACE_EVENT_STOP` with a stopping signal) and
//! signal-delivery stops. The engine decodes a status once, here, and matches
//! on [`Stop`].

use std::time::{Duration, Instant};

use nix::unistd::Pid;

/// One report from `waitpid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The thread exited with a status.
    Exited { code: i32 },
    /// The thread was killed by a signal.
    Signaled { signal: i32, core_dumped: bool },
    /// Syscall entry or exit stop (`PTRACE_SYSCALL`).
    Syscall,
    /// The seccomp filter returned `SECCOMP_RET_TRACE`.
    Seccomp,
    /// `PTRACE_EVENT_FORK`, `VFORK` or `CLONE`: a new tracee exists.
    NewChild { event: i32 },
    /// `PTRACE_EVENT_EXEC`: the thread completed an exec.
    Exec,
    /// `PTRACE_EVENT_VFORK_DONE`.
    VforkDone,
    /// `PTRACE_EVENT_EXIT`: the thread is about to exit.
    Exiting,
    /// A group-stop (job control: SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) by this signal.
    JobControl { signal: i32 },
    /// `PTRACE_EVENT_STOP` that is not a group-stop: the first stop of an
    /// auto-attached child, or the stop that `PTRACE_INTERRUPT` requested.
    Interrupt,
    /// A signal is about to be delivered.
    Signal { signal: i32 },
    /// A status this decoder does not know.
    Unknown,
}

/// Decodes a raw wait status of `pid`.
pub fn decode(status: i32) -> Stop {
    if libc::WIFEXITED(status) {
        return Stop::Exited {
            code: libc::WEXITSTATUS(status),
        };
    }
    if libc::WIFSIGNALED(status) {
        return Stop::Signaled {
            signal: libc::WTERMSIG(status),
            core_dumped: libc::WCOREDUMP(status),
        };
    }
    if !libc::WIFSTOPPED(status) {
        return Stop::Unknown;
    }
    let signal = libc::WSTOPSIG(status);
    let event = (status >> 16) & 0xff;
    if signal == libc::SIGTRAP | 0x80 {
        return Stop::Syscall;
    }
    match event {
        0 => Stop::Signal { signal },
        libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
            Stop::NewChild { event }
        }
        libc::PTRACE_EVENT_EXEC => Stop::Exec,
        libc::PTRACE_EVENT_VFORK_DONE => Stop::VforkDone,
        libc::PTRACE_EVENT_EXIT => Stop::Exiting,
        libc::PTRACE_EVENT_SECCOMP => Stop::Seccomp,
        libc::PTRACE_EVENT_STOP => match signal {
            libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => {
                Stop::JobControl { signal }
            }
            _ => Stop::Interrupt,
        },
        _ => Stop::Unknown,
    }
}

/// Waits for the next report of any tracee. `Ok(None)` means there is no
/// child left to wait for (ECHILD); `Err(EINTR)` means a signal arrived.
///
/// For up to `busy_poll` the tracer polls with `WNOHANG` instead of
/// sleeping. A tracee that stops again within that time is seen at once,
/// without the wake-up of an idle CPU: on a virtual machine that halts idle
/// vCPUs, that wake-up costs tens of microseconds per stop, more than the
/// stop itself.
pub fn wait_any(busy_poll: Duration) -> Result<Option<(Pid, Stop)>, nix::Error> {
    if !busy_poll.is_zero() {
        let start = Instant::now();
        loop {
            match waitpid_any(libc::WNOHANG)? {
                Waited::Stopped(pid, stop) => return Ok(Some((pid, stop))),
                Waited::NoChild => return Ok(None),
                Waited::Nothing if start.elapsed() >= busy_poll => break,
                Waited::Nothing => {
                    // Yielding lets a runnable workload thread on this CPU
                    // go first, so polling takes only CPU time that is idle.
                    // SAFETY: sched_yield has no memory effects.
                    unsafe { libc::sched_yield() };
                }
            }
        }
    }
    match waitpid_any(0)? {
        Waited::Stopped(pid, stop) => Ok(Some((pid, stop))),
        Waited::NoChild | Waited::Nothing => Ok(None),
    }
}

/// One result of [`waitpid_any`].
enum Waited {
    Stopped(Pid, Stop),
    /// `WNOHANG` and no tracee has a report yet.
    Nothing,
    /// No child left (ECHILD).
    NoChild,
}

fn waitpid_any(options: libc::c_int) -> Result<Waited, nix::Error> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; waitpid has no other memory effects.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL | options) };
    match pid {
        0 => Ok(Waited::Nothing),
        pid if pid > 0 => Ok(Waited::Stopped(Pid::from_raw(pid), decode(status))),
        _ => match nix::Error::last() {
            nix::Error::ECHILD => Ok(Waited::NoChild),
            error => Err(error),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(signal: i32, event: i32) -> i32 {
        (event << 16) | (signal << 8) | 0x7f
    }

    #[test]
    fn exit_and_signal_statuses() {
        assert_eq!(decode(7 << 8), Stop::Exited { code: 7 });
        assert_eq!(
            decode(9),
            Stop::Signaled {
                signal: 9,
                core_dumped: false
            }
        );
        assert_eq!(
            decode(11 | 0x80),
            Stop::Signaled {
                signal: 11,
                core_dumped: true
            }
        );
    }

    #[test]
    fn ptrace_stop_statuses() {
        assert_eq!(decode(stopped(libc::SIGTRAP | 0x80, 0)), Stop::Syscall);
        assert_eq!(
            decode(stopped(libc::SIGTRAP, libc::PTRACE_EVENT_SECCOMP)),
            Stop::Seccomp
        );
        assert_eq!(
            decode(stopped(libc::SIGTRAP, libc::PTRACE_EVENT_EXEC)),
            Stop::Exec
        );
        assert_eq!(
            decode(stopped(libc::SIGTRAP, libc::PTRACE_EVENT_CLONE)),
            Stop::NewChild {
                event: libc::PTRACE_EVENT_CLONE
            }
        );
        assert_eq!(
            decode(stopped(libc::SIGSTOP, libc::PTRACE_EVENT_STOP)),
            Stop::JobControl {
                signal: libc::SIGSTOP
            }
        );
        assert_eq!(
            decode(stopped(libc::SIGTRAP, libc::PTRACE_EVENT_STOP)),
            Stop::Interrupt
        );
        assert_eq!(
            decode(stopped(libc::SIGUSR1, 0)),
            Stop::Signal {
                signal: libc::SIGUSR1
            }
        );
    }
}
