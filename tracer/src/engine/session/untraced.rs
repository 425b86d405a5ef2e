//! Keeping every process and syscall of the workload in the tracer's sight.
//!
//! # `CLONE_UNTRACED`
//!
//! A clone or clone3 with `CLONE_UNTRACED` creates a task that the kernel
//! does not attach to its parent's tracer. The filter stops such a clone and
//! every clone3 at entry. The engine clears the flag in the register (clone)
//! or in the caller's `struct clone_args` (clone3), so that the kernel
//! attaches the child as any other. At the syscall-exit stop the engine
//! writes the requested flags back, so the workload reads what it wrote.
//! The fork event keeps `CLONE_UNTRACED` in its flags to show the request.
//!
//! # Seccomp user notification
//!
//! A filter the workload installs takes precedence over the tracer's when
//! it returns `SECCOMP_RET_USER_NOTIF`, and its supervisor can answer with
//! `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: the syscall then runs without a stop.
//! The engine fails a seccomp(2) that requests a listener
//! (`SECCOMP_FILTER_FLAG_NEW_LISTENER`) with EBUSY, the error the kernel
//! gives when a listener already exists, and reports it as a `prctl` event
//! with option `PR_SET_SECCOMP` and `retval` -EBUSY.
//! NOTE: this changes the behaviour of workloads that supervise syscalls
//! themselves (container runtimes, sandboxes); they fail as on a kernel
//! where another supervisor holds the listener.
//!
//! # Limitations
//!
//! - clone3 reads its flags from memory after the engine rewrote them, so a
//!   sibling thread that writes `CLONE_UNTRACED` back in between still gets
//!   an untraced child. That child cannot make a traced syscall (each fails
//!   with ENOSYS without a tracer), and the race is not reported.
//! - A child made without `CLONE_VM` holds a copy of the rewritten
//!   `clone_args`; the engine writes the requested flags there too when the
//!   fork event arrives.

use std::str::FromStr;

use nix::unistd::Pid;
use syscalls::Sysno;

use protocol::{EventBody, PrctlEvent};

use super::Session;
use crate::engine::filter::{self, CLONE_UNTRACED, SECCOMP_FILTER_FLAG_NEW_LISTENER};
use crate::engine::memory::{read_bytes, write_u64};
use crate::engine::regs::{self, Abi, SyscallRegs};

/// i386 numbers of clone and clone3 (`int 0x80`).
const I386_CLONE: i64 = 120;
const I386_CLONE3: i64 = 435;

/// The request of a clone whose `CLONE_UNTRACED` the engine cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CloneRequest {
    /// The flags as the workload passed them.
    pub flags: u64,
    /// The location of the flags: the first argument register, or
    /// `clone_args.flags` at an address.
    pub place: FlagsPlace,
    /// The ABI of the call, which names the argument register.
    pub abi: Abi,
}

/// The location of clone flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlagsPlace {
    /// The first argument register (clone).
    Register,
    /// The first field of `struct clone_args` in tracee memory (clone3).
    Memory(u64),
}

/// Returns which clone syscall `regs` is, if any: the flags' place for it.
fn clone_kind(regs: &SyscallRegs) -> Option<FlagsPlace> {
    let native = |name: &str| Sysno::from_str(name).map_or(-1, |sysno| i64::from(sysno.id()));
    // x32 shares the x86_64 numbers of both calls.
    let (clone, clone3) = match regs.abi {
        Abi::I386 => (I386_CLONE, I386_CLONE3),
        Abi::Native | Abi::X32 => (native("clone"), native("clone3")),
    };
    if regs.nr == clone {
        Some(FlagsPlace::Register)
    } else if regs.nr == clone3 {
        Some(FlagsPlace::Memory(regs.args[0]))
    } else {
        None
    }
}

/// `SECCOMP_SET_MODE_FILTER` of seccomp(2) and `SECCOMP_MODE_FILTER` of prctl(2).
const SECCOMP_MODE_FILTER: u64 = 2;
const SECCOMP_SET_MODE_FILTER: u64 = 1;

impl Session<'_> {
    /// Handles the syscalls that could hide later ones from the tracer at
    /// their entry stop. Returns true when `regs` was one of them, so that
    /// the caller decodes nothing more.
    pub(super) fn guard_escape(&mut self, tid: u32, regs: &SyscallRegs) -> bool {
        self.note_view_change(tid, regs);
        self.keep_clone_traced(tid, regs) || self.reject_listener(tid, regs)
    }

    /// Marks the process of a chroot, pivot_root, unshare or setns as one
    /// whose paths the tracer cannot resolve at entry. Any of these calls
    /// marks it, whatever the flags and the result.
    fn note_view_change(&mut self, tid: u32, regs: &SyscallRegs) {
        let changes_view = regs.abi == Abi::Native
            && filter::VIEW_CHANGES
                .iter()
                .any(|sysno| i64::from(sysno.id()) == regs.nr);
        if changes_view {
            let tgid = self.tracees.get(&tid).map_or(tid, |tracee| tracee.tgid);
            self.other_view.insert(tgid);
        }
    }

    /// Fails a native seccomp(2) that requests a user-notification listener.
    fn reject_listener(&mut self, tid: u32, regs: &SyscallRegs) -> bool {
        let is_seccomp = regs.abi == Abi::Native && regs.nr == i64::from(Sysno::seccomp.id());
        let requests_listener = regs.args[0] == SECCOMP_SET_MODE_FILTER
            && regs.args[1] & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0;
        if !is_seccomp || !requests_listener {
            return false;
        }
        let retval = -i64::from(libc::EBUSY);
        if let Err(error) = regs::skip_syscall(Pid::from_raw(tid as i32), retval) {
            tracing::warn!(tid, %error, "failing a seccomp listener request failed");
            return true;
        }
        // With seccomp the skipped syscall has no exit stop to wait for.
        if !self.use_seccomp {
            if let Some(tracee) = self.tracees.get_mut(&tid) {
                tracee.forced_return = Some(retval);
            }
        }
        if self.tracees.get(&tid).is_some_and(|tracee| tracee.started) {
            let prctl = PrctlEvent {
                option: libc::PR_SET_SECCOMP,
                arg2: SECCOMP_MODE_FILTER,
                new_name: String::new(),
                retval,
            };
            let process = self.context(tid);
            self.emit(process, EventBody::Prctl { prctl });
        }
        true
    }

    /// Clears `CLONE_UNTRACED` from a clone or clone3 at its entry stop and
    /// records the request for the exit stop. Returns true when `regs` is a
    /// clone syscall, whatever its flags.
    pub(super) fn keep_clone_traced(&mut self, tid: u32, regs: &SyscallRegs) -> bool {
        let Some(place) = clone_kind(regs) else {
            return false;
        };
        let pid = Pid::from_raw(tid as i32);
        let flags = match place {
            FlagsPlace::Register => regs.args[0],
            FlagsPlace::Memory(address) => match read_bytes(pid, address, 8) {
                Some(bytes) => u64::from_ne_bytes(bytes[..8].try_into().unwrap_or_default()),
                // The kernel fails this clone3 with EFAULT too.
                None => return true,
            },
        };
        if flags & CLONE_UNTRACED == 0 {
            return true;
        }
        let cleared = flags & !CLONE_UNTRACED;
        let written = match place {
            FlagsPlace::Register => regs::set_first_argument(pid, regs.abi, cleared),
            FlagsPlace::Memory(address) => write_u64(pid, address, cleared),
        };
        match written {
            Ok(()) => {
                tracing::debug!(tid, flags, "cleared CLONE_UNTRACED");
                if let Some(tracee) = self.tracees.get_mut(&tid) {
                    tracee.clone_request = Some(CloneRequest {
                        flags,
                        place,
                        abi: regs.abi,
                    });
                }
            }
            Err(error) => tracing::warn!(tid, %error, "clearing CLONE_UNTRACED failed"),
        }
        true
    }

    /// Writes the requested clone flags back at the clone's exit stop.
    pub(super) fn restore_clone_request(&mut self, tid: u32) {
        let Some(request) = self
            .tracees
            .get_mut(&tid)
            .and_then(|tracee| tracee.clone_request.take())
        else {
            return;
        };
        restore_flags(Pid::from_raw(tid as i32), &request);
    }

    /// Returns the flags a clone of `tid` asked for, when the engine changed
    /// them, and writes them into the memory of a `child` that got a copy.
    pub(super) fn requested_clone_flags(&self, tid: u32, child: u32) -> Option<u64> {
        let request = self.tracees.get(&tid)?.clone_request?;
        let shares_memory = request.flags & libc::CLONE_VM as u64 != 0;
        if let (FlagsPlace::Memory(address), false, true) =
            (request.place, shares_memory, child != 0)
        {
            let _ = write_u64(Pid::from_raw(child as i32), address, request.flags);
        }
        Some(request.flags)
    }
}

fn restore_flags(pid: Pid, request: &CloneRequest) {
    let result = match request.place {
        FlagsPlace::Register => regs::set_first_argument(pid, request.abi, request.flags),
        FlagsPlace::Memory(address) => write_u64(pid, address, request.flags),
    };
    if let Err(error) = result {
        if error != nix::Error::ESRCH {
            tracing::warn!(pid = pid.as_raw(), %error, "restoring clone flags failed");
        }
    }
}
