//! Decoding of the syscalls that send a signal into `signal` events.
//!
//! The target is read from `/proc` at the syscall's entry, before the signal
//! can end it. `signal.target.is_tracer` is true when a traced process
//! signals the tracer. Only the tracer can compute it, because the probe
//! may run on another host.
//!
//! # Limitations
//!
//! - Pids are looked up in the tracer's `/proc`. When the workload runs in a
//!   pid namespace of its own and the tracer does not, the target is wrong.

use std::fs;

use nix::unistd::{getpgid, getpgrp, Pid};
use protocol::{EventBody, File, SignalEvent, SignalTarget};

use super::{AtExit, Caller, Decoded};
use crate::engine::procfs;

/// Decodes kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo and
/// pidfd_send_signal; `None` for any other syscall.
pub fn decode_signal(caller: Caller, name: &str, arg: &[u64; 6]) -> Option<Decoded> {
    let pid_argument = |index: usize| i64::from(arg[index] as i32);
    let (pid, signal_type) = match name {
        "kill" | "tkill" | "rt_sigqueueinfo" => (pid_argument(0), arg[1]),
        "tgkill" | "rt_tgsigqueueinfo" => (pid_argument(0), arg[2]),
        "pidfd_send_signal" => (pidfd_pid(caller.tid, arg[0]), arg[1]),
        _ => return None,
    };
    let target = signal_target(caller, pid);
    // A signal to the tracer may stop or kill it before the exit stop, so
    // its event is sent at entry.
    let at_exit = if target.is_tracer {
        AtExit::Nothing
    } else {
        AtExit::Retval
    };
    let signal = SignalEvent {
        signal_type: signal_type as u32,
        pid,
        target,
        retval: 0,
    };
    Some(Decoded {
        body: EventBody::Signal { signal },
        at_exit,
        path_known_at_entry: true,
    })
}

/// Returns the pid a pidfd of `tid` refers to, from its fdinfo (`Pid:`),
/// or -1 when it cannot be read or the process has exited.
fn pidfd_pid(tid: u32, fd: u64) -> i64 {
    let fd = fd as i32;
    procfs::read_text(&format!("/proc/{tid}/fdinfo/{fd}"))
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("Pid:"))
                .and_then(|value| value.trim().parse().ok())
        })
        .unwrap_or(-1)
}

/// Describes the target `pid` of a signal sent by `caller`.
fn signal_target(caller: Caller, pid: i64) -> SignalTarget {
    let tracer = std::process::id();
    let tracer_group = getpgrp().as_raw();
    match pid {
        // Every process the caller may signal, the tracer included.
        -1 => SignalTarget {
            is_tracer: true,
            ..SignalTarget::default()
        },
        0 => {
            let caller_group = getpgid(Some(Pid::from_raw(caller.tgid as i32)));
            SignalTarget {
                is_tracer: caller_group.is_ok_and(|group| group.as_raw() == tracer_group),
                ..SignalTarget::default()
            }
        }
        group if group < -1 => SignalTarget {
            is_tracer: -group == i64::from(tracer_group),
            ..SignalTarget::default()
        },
        _ => process_target(u32::try_from(pid).unwrap_or(0), tracer),
    }
}

/// Reads the process that thread `tid` belongs to.
fn process_target(tid: u32, tracer: u32) -> SignalTarget {
    if tid == 0 {
        return SignalTarget::default();
    }
    let pid = procfs::thread_group(tid);
    let comm = procfs::read_text(&format!("/proc/{pid}/comm")).unwrap_or_default();
    let file = fs::read_link(format!("/proc/{pid}/exe"))
        .map(|path| File::from_path(path.to_string_lossy().into_owned()))
        .unwrap_or_default();
    SignalTarget {
        pid,
        comm: comm.trim_end_matches('\n').to_string(),
        file,
        is_tracer: pid == tracer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        let pid = std::process::id();
        Caller {
            tid: pid,
            tgid: pid,
            exact_open: false,
            exec_lists: false,
        }
    }

    #[test]
    fn kill_of_own_pid_targets_the_tracer() {
        let arg = [u64::from(std::process::id()), 19, 0, 0, 0, 0];
        let decoded = decode_signal(caller(), "kill", &arg).unwrap();
        let EventBody::Signal { signal } = decoded.body else {
            panic!("not a signal event");
        };
        assert_eq!(signal.signal_type, 19);
        assert!(signal.target.is_tracer);
        assert_eq!(signal.target.pid, std::process::id());
        assert!(!signal.target.comm.is_empty());
        assert_eq!(decoded.at_exit, AtExit::Nothing);
    }

    #[test]
    fn tgkill_takes_the_signal_from_the_third_argument() {
        let arg = [1, 1, 15, 0, 0, 0];
        let decoded = decode_signal(caller(), "tgkill", &arg).unwrap();
        let EventBody::Signal { signal } = decoded.body else {
            panic!("not a signal event");
        };
        assert_eq!(signal.signal_type, 15);
        assert_eq!(signal.pid, 1);
        assert_eq!(signal.target.pid, 1);
        assert!(!signal.target.is_tracer);
        assert_eq!(decoded.at_exit, AtExit::Retval);
    }

    #[test]
    fn group_targets() {
        let everyone = signal_target(caller(), -1);
        assert!(everyone.is_tracer);
        assert_eq!(everyone.pid, 0);
        let own_group = signal_target(caller(), 0);
        assert!(own_group.is_tracer);
        let other_group = signal_target(caller(), -(i64::from(getpgrp().as_raw()) + 1));
        assert!(!other_group.is_tracer);
    }
}
