//! The syscall set and the seccomp-bpf prefilter built from it.
//!
//! seccompiler builds the main program, which starts with an architecture
//! check that kills the process on any other audit architecture. A prefix of
//! our own runs first and routes foreign-ABI syscalls (i386 `int 0x80` and
//! x32 on x86_64, arm32 on aarch64) to `SECCOMP_RET_TRACE`, each with its own
//! data value, so the tracer receives them instead of the kernel killing the
//! workload or allowing them silently.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use protocol::syscalls::syscalls_for_kinds;
use protocol::{EventKind, SignalRange};
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};
use syscalls::Sysno;

use super::TraceError;

/// `SECCOMP_RET_TRACE` data for a native syscall. The data values are
/// unusual on purpose: a stop with any other value comes from a filter the
/// workload installed itself, and the engine fails it with ENOSYS, as the
/// kernel does without a tracer.
pub const DATA_NATIVE: u32 = 0x5e01;
/// `SECCOMP_RET_TRACE` data for an i386 (or arm32) syscall.
pub const DATA_I386: u32 = 0x5e02;
/// `SECCOMP_RET_TRACE` data for an x32 syscall.
pub const DATA_X32: u32 = 0x5e03;

/// Returns true for the data values of this engine's filter.
pub fn is_own_data(data: u32) -> bool {
    [DATA_NATIVE, DATA_I386, DATA_X32].contains(&data)
}

/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` of seccomp(2).
pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: u64 = 1 << 3;

const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;

/// Syscalls whose events come from `PTRACE_EVENT_*` stops, so the filter
/// never needs to stop at them for an event. clone and clone3 still stop
/// when they could ask for `CLONE_UNTRACED` (see [`escape_rules`]).
const EVENT_ONLY: &[&str] = &["fork", "vfork", "clone", "clone3"];

/// `CLONE_UNTRACED`: the new task is not traced even when its parent is.
pub const CLONE_UNTRACED: u64 = libc::CLONE_UNTRACED as u64;

/// Native syscall numbers the tracer decodes, from names. Unknown names and
/// names that do not exist on this architecture are skipped.
pub fn syscall_set(names: Option<&[String]>) -> BTreeSet<i64> {
    let names = match names {
        Some(names) => names.to_vec(),
        None => syscalls_for_kinds(EventKind::ALL),
    };
    names
        .iter()
        .filter_map(|name| Sysno::from_str(name).ok())
        .map(|sysno| i64::from(sysno.id()))
        .collect()
}

/// Builds the seccomp program: the foreign-ABI prefix, then a seccompiler
/// filter that traces `traced` and allows every other syscall. Signal
/// syscalls stop only for the numbers in `signals` (every number when
/// `None`) or when they may reach process `tracer`.
pub fn build_program(
    traced: &BTreeSet<i64>,
    signals: Option<&[SignalRange]>,
    tracer: u32,
) -> Result<BpfProgram, TraceError> {
    let event_only: BTreeSet<i64> = syscall_set(Some(
        &EVENT_ONLY
            .iter()
            .map(|name| name.to_string())
            .collect::<Vec<_>>(),
    ));
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = traced
        .iter()
        .filter(|nr| !event_only.contains(nr))
        .map(|&nr| Ok((nr, argument_rules(nr, signals, tracer)?)))
        .collect::<Result<_, TraceError>>()?;
    for (nr, conditions) in escape_rules()? {
        // A syscall that already stops unconditionally keeps doing so.
        rules.entry(nr).or_insert(conditions);
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Trace(DATA_NATIVE),
        target_arch(),
    )
    .map_err(|error| TraceError::Filter(error.to_string()))?;
    let main: BpfProgram = filter
        .try_into()
        .map_err(|error: seccompiler::BackendError| TraceError::Filter(error.to_string()))?;
    let mut program = foreign_abi_prefix();
    program.extend(main);
    if program.len() > usize::from(u16::MAX) {
        return Err(TraceError::Filter(format!(
            "{} instructions is too long",
            program.len()
        )));
    }
    Ok(program)
}

/// Returns the argument conditions under which syscall `nr` stops, empty
/// for an unconditional stop. `sendto` stops only with a destination
/// address (argument 4), because that is how a resolver without connect
/// sends a DNS query. Sends on connected sockets stay untraced. Signal
/// syscalls stop under the conditions of [`signal_rules`].
fn argument_rules(
    nr: i64,
    signals: Option<&[SignalRange]>,
    tracer: u32,
) -> Result<Vec<SeccompRule>, TraceError> {
    if nr == i64::from(Sysno::sendto.id()) {
        let has_destination = condition(4, SeccompCmpArgLen::Qword, SeccompCmpOp::Ne, 0)?;
        return Ok(vec![rule(vec![has_destination])?]);
    }
    match (signals, signal_arguments(nr)) {
        (Some(signals), Some((pid_index, signal_index))) => {
            signal_rules(signals, tracer, pid_index, signal_index)
        }
        _ => Ok(Vec::new()),
    }
}

/// Returns the indexes of the target pid and of the signal number among
/// the arguments of a signal syscall that names its target by pid. tkill
/// (which can name any thread of the tracer) and pidfd_send_signal (whose
/// target hides behind a file descriptor) always stop.
fn signal_arguments(nr: i64) -> Option<(u8, u8)> {
    let sysno = Sysno::new(usize::try_from(nr).ok()?)?;
    match sysno.name() {
        "kill" | "rt_sigqueueinfo" => Some((0, 1)),
        "tgkill" | "rt_tgsigqueueinfo" => Some((0, 2)),
        _ => None,
    }
}

/// Stops a signal syscall when its number lies in one of `signals`, or when
/// its target may be the tracer: the tracer's pid, 0 (the caller's process
/// group) or a negative pid (a process group, or -1 for every process).
fn signal_rules(
    signals: &[SignalRange],
    tracer: u32,
    pid_index: u8,
    signal_index: u8,
) -> Result<Vec<SeccompRule>, TraceError> {
    let pid = |op, value| condition(pid_index, SeccompCmpArgLen::Dword, op, value);
    let number = |op, value| condition(signal_index, SeccompCmpArgLen::Dword, op, value);
    let mut rules = vec![
        rule(vec![pid(SeccompCmpOp::Eq, u64::from(tracer))?])?,
        rule(vec![pid(SeccompCmpOp::Eq, 0)?])?,
        rule(vec![pid(SeccompCmpOp::Ge, 0x8000_0000)?])?,
    ];
    for range in signals {
        let mut conditions = Vec::new();
        if range.first == range.last {
            conditions.push(number(SeccompCmpOp::Eq, u64::from(range.first))?);
        } else {
            conditions.push(number(SeccompCmpOp::Ge, u64::from(range.first))?);
            if range.last != u32::MAX {
                conditions.push(number(SeccompCmpOp::Le, u64::from(range.last))?);
            }
        }
        rules.push(rule(conditions)?);
    }
    Ok(rules)
}

fn condition(
    index: u8,
    length: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, TraceError> {
    SeccompCondition::new(index, length, op, value)
        .map_err(|error| TraceError::Filter(error.to_string()))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, TraceError> {
    SeccompRule::new(conditions).map_err(|error| TraceError::Filter(error.to_string()))
}

/// Rules for the syscalls that could take a process out of the tracer's
/// sight: clone when its flags ask for `CLONE_UNTRACED`, every clone3,
/// whose flags sit in memory where a filter cannot read them, and seccomp
/// when it requests a user-notification listener. The engine clears the
/// clone flag before the kernel sees it, so no child leaves the tracer. A
/// child that left it could not make any traced syscall anyway: without a
/// tracer, `SECCOMP_RET_TRACE` fails the syscall with ENOSYS.
fn escape_rules() -> Result<Vec<(i64, Vec<SeccompRule>)>, TraceError> {
    let filter_error = |error: seccompiler::BackendError| TraceError::Filter(error.to_string());
    let flag_set = |index: u8, flag: u64| {
        SeccompCondition::new(
            index,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(flag),
            flag,
        )
        .map_err(filter_error)
    };
    let clone = SeccompRule::new(vec![flag_set(0, CLONE_UNTRACED)?]).map_err(filter_error)?;
    let mut rules = vec![(i64::from(Sysno::clone.id()), vec![clone])];
    if let Ok(sysno) = Sysno::from_str("clone3") {
        rules.push((i64::from(sysno.id()), Vec::new()));
    }
    let listener = SeccompRule::new(vec![flag_set(1, SECCOMP_FILTER_FLAG_NEW_LISTENER)?])
        .map_err(filter_error)?;
    rules.push((i64::from(Sysno::seccomp.id()), vec![listener]));
    Ok(rules)
}

fn target_arch() -> TargetArch {
    if cfg!(target_arch = "aarch64") {
        TargetArch::aarch64
    } else {
        TargetArch::x86_64
    }
}

fn statement(code: u32, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// Builds the foreign-ABI routing that runs before seccompiler's program.
fn foreign_abi_prefix() -> BpfProgram {
    const LOAD_WORD: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    const JUMP_EQUAL: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    const JUMP_SET: u32 = libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K;
    const RETURN: u32 = libc::BPF_RET | libc::BPF_K;
    // Offsets of `nr` and `arch` in `struct seccomp_data`.
    const NR_OFFSET: u32 = 0;
    const ARCH_OFFSET: u32 = 4;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

    let compat_arch = if cfg!(target_arch = "aarch64") {
        AUDIT_ARCH_ARM
    } else {
        AUDIT_ARCH_I386
    };
    let mut program = vec![
        statement(LOAD_WORD, ARCH_OFFSET),
        jump(JUMP_EQUAL, compat_arch, 0, 1),
        statement(RETURN, SECCOMP_RET_TRACE | DATA_I386),
    ];
    if cfg!(target_arch = "x86_64") {
        program.extend([
            statement(LOAD_WORD, NR_OFFSET),
            jump(JUMP_SET, 0x4000_0000, 0, 1),
            statement(RETURN, SECCOMP_RET_TRACE | DATA_X32),
        ]);
    }
    program
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_has_openat_and_execve() {
        let set = syscall_set(None);
        assert!(set.contains(&i64::from(Sysno::openat.id())));
        assert!(set.contains(&i64::from(Sysno::execve.id())));
        assert!(!set.contains(&i64::from(Sysno::read.id())));
    }

    #[test]
    fn unknown_names_are_skipped() {
        let set = syscall_set(Some(&["openat".to_string(), "no_such_call".to_string()]));
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn sendto_stops_only_with_destination() {
        // Offsets of the two halves of argument 4 in `struct seccomp_data`.
        const ARG4_LOW: u32 = 16 + 4 * 8;
        const ARG4_HIGH: u32 = ARG4_LOW + 4;
        let loads_arg4 = |program: &BpfProgram| {
            program
                .iter()
                .any(|instruction| instruction.k == ARG4_LOW || instruction.k == ARG4_HIGH)
        };
        let sendto = i64::from(Sysno::sendto.id());
        let with_sendto = build_program(&BTreeSet::from([sendto]), None, 1).unwrap();
        assert!(loads_arg4(&with_sendto));
        assert_eq!(argument_rules(sendto, None, 1).unwrap().len(), 1);
        let connect = i64::from(Sysno::connect.id());
        let without = build_program(&BTreeSet::from([connect]), None, 1).unwrap();
        assert!(!loads_arg4(&without));
        assert!(argument_rules(connect, None, 1).unwrap().is_empty());
    }

    #[test]
    fn signal_syscalls_stop_for_their_ranges() {
        let kill = i64::from(Sysno::kill.id());
        let tkill = i64::from(Sysno::tkill.id());
        let ranges = [
            SignalRange { first: 9, last: 9 },
            SignalRange {
                first: 32,
                last: u32::MAX,
            },
        ];
        // The tracer's pid, 0, negative pids, then one rule per range.
        assert_eq!(argument_rules(kill, Some(&ranges), 1).unwrap().len(), 5);
        assert_eq!(argument_rules(kill, Some(&[]), 1).unwrap().len(), 3);
        assert!(argument_rules(kill, None, 1).unwrap().is_empty());
        assert!(argument_rules(tkill, Some(&ranges), 1).unwrap().is_empty());
        let program = build_program(&BTreeSet::from([kill]), Some(&ranges), 4242).unwrap();
        assert!(program.iter().any(|instruction| instruction.k == 4242));
    }

    #[test]
    fn program_starts_with_foreign_abi_prefix() {
        let program = build_program(&syscall_set(None), None, 1).unwrap();
        assert_eq!(program[0].k, 4);
        assert_eq!(program[2].k, SECCOMP_RET_TRACE | DATA_I386);
    }
}
