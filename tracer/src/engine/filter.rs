//! The syscall set and the seccomp-bpf prefilter built from it.
//!
//! The program starts with a prefix that routes foreign-ABI syscalls (i386
//! `int 0x80` and x32 on x86_64, arm32 on aarch64) to `SECCOMP_RET_TRACE`,
//! each with its own data value. The tracer so receives them, where the
//! kernel would otherwise kill the workload or allow them silently. An
//! architecture check follows and kills the process on any other audit
//! architecture. Then a binary search over the sorted numbers of the traced
//! syscalls reaches a syscall's rules, or `SECCOMP_RET_ALLOW`, after about
//! log2(N) comparisons where a linear chain takes up to N.
//!
//! On the way to `SECCOMP_RET_ALLOW` for an untraced syscall the program
//! loads only `nr` and `arch`, so Linux 5.11 and later cache that syscall as
//! allowed and skip the program for it.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use protocol::syscalls::syscalls_for_kinds;
use protocol::{EventKind, SignalRange};
use seccompiler::{sock_filter, BpfProgram, SeccompCmpArgLen, SeccompCmpOp};
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

const SECCOMP_RET_TRACE: u32 = libc::SECCOMP_RET_TRACE;
const SECCOMP_RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
/// The action on an audit architecture other than the native one and the
/// foreign ABIs.
const SECCOMP_RET_KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
/// The return value of a traced syscall.
const TRACE_NATIVE: u32 = SECCOMP_RET_TRACE | DATA_NATIVE;

/// Maximum length of a seccomp program (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = libc::BPF_MAXINSNS as usize;

// Audit architectures (`AUDIT_ARCH_*` of linux/audit.h).
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

// Offsets of the fields of `struct seccomp_data`: `nr`, `arch`, then
// `instruction_pointer` and the six 64-bit arguments.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;
const ARGS_OFFSET: u32 = 16;
/// Number of syscall arguments in `struct seccomp_data`.
const ARG_COUNT: u8 = 6;

// Classic BPF opcodes (linux/bpf_common.h).
const LOAD_WORD: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
const AND: u32 = libc::BPF_ALU | libc::BPF_AND | libc::BPF_K;
const JUMP: u32 = libc::BPF_JMP | libc::BPF_JA;
const JUMP_EQUAL: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
const JUMP_GREATER: u32 = libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K;
const JUMP_GREATER_EQUAL: u32 = libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K;
const JUMP_SET: u32 = libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K;
const RETURN: u32 = libc::BPF_RET | libc::BPF_K;

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

/// One comparison of a syscall argument. A `Dword` comparison reads the low
/// 32 bits of the argument, a `Qword` comparison all 64, as in seccompiler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Condition {
    index: u8,
    length: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
}

/// Conditions that must all hold for a syscall to stop.
pub(crate) type Rule = Vec<Condition>;

/// Builds the seccomp program: the foreign-ABI prefix, the architecture
/// check, then a binary search that traces `traced` and allows every other
/// syscall. Signal syscalls stop only for the numbers in `signals` (every
/// number when `None`) or when they may reach process `tracer`.
pub fn build_program(
    traced: &BTreeSet<i64>,
    signals: Option<&[SignalRange]>,
    tracer: u32,
) -> Result<BpfProgram, TraceError> {
    program_for_rules(&syscall_rules(traced, signals, tracer)?)
}

/// Builds the seccomp program for syscall rules by number: see
/// [`build_program`].
fn program_for_rules(rules: &BTreeMap<i64, Vec<Rule>>) -> Result<BpfProgram, TraceError> {
    let syscalls = rules
        .iter()
        .map(|(&nr, rules)| {
            let nr = u32::try_from(nr)
                .map_err(|_| TraceError::Filter(format!("invalid syscall number {nr}")))?;
            Ok((nr, decision(rules)?))
        })
        .collect::<Result<Vec<_>, TraceError>>()?;
    let mut program = foreign_abi_prefix();
    program.extend(architecture_check());
    program.push(statement(LOAD_WORD, NR_OFFSET));
    program.extend(search(&syscalls)?);
    if program.len() > MAX_INSTRUCTIONS {
        return Err(TraceError::Filter(format!(
            "{} instructions is too long, the kernel accepts at most {MAX_INSTRUCTIONS}",
            program.len()
        )));
    }
    Ok(program)
}

/// Returns the rules of every syscall that can stop, by number. A syscall
/// with no rules stops unconditionally. fork, vfork, clone and clone3 stop
/// only under [`escape_rules`], because their events come from
/// `PTRACE_EVENT_*` stops.
pub(crate) fn syscall_rules(
    traced: &BTreeSet<i64>,
    signals: Option<&[SignalRange]>,
    tracer: u32,
) -> Result<BTreeMap<i64, Vec<Rule>>, TraceError> {
    let event_only: BTreeSet<i64> = syscall_set(Some(
        &EVENT_ONLY
            .iter()
            .map(|name| name.to_string())
            .collect::<Vec<_>>(),
    ));
    let mut rules: BTreeMap<i64, Vec<Rule>> = traced
        .iter()
        .filter(|nr| !event_only.contains(nr))
        .map(|&nr| Ok((nr, argument_rules(nr, signals, tracer)?)))
        .collect::<Result<_, TraceError>>()?;
    for (nr, conditions) in escape_rules()? {
        // A syscall that already stops unconditionally keeps doing so.
        rules.entry(nr).or_insert(conditions);
    }
    Ok(rules)
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
) -> Result<Vec<Rule>, TraceError> {
    if nr == i64::from(Sysno::sendto.id()) {
        let has_destination = condition(4, SeccompCmpArgLen::Qword, SeccompCmpOp::Ne, 0)?;
        return Ok(vec![vec![has_destination]]);
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
) -> Result<Vec<Rule>, TraceError> {
    let pid = |op, value| condition(pid_index, SeccompCmpArgLen::Dword, op, value);
    let number = |op, value| condition(signal_index, SeccompCmpArgLen::Dword, op, value);
    let mut rules = vec![
        vec![pid(SeccompCmpOp::Eq, u64::from(tracer))?],
        vec![pid(SeccompCmpOp::Eq, 0)?],
        vec![pid(SeccompCmpOp::Ge, 0x8000_0000)?],
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
        rules.push(conditions);
    }
    Ok(rules)
}

fn condition(
    index: u8,
    length: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<Condition, TraceError> {
    if index >= ARG_COUNT {
        return Err(TraceError::Filter(format!(
            "invalid argument index {index}, a syscall has {ARG_COUNT} arguments"
        )));
    }
    Ok(Condition {
        index,
        length,
        op,
        value,
    })
}

/// Syscalls after which a process may see other files at the same paths
/// than the tracer. The engine stops at each of them (see
/// [`escape_rules`]) and resolves that process's open paths only at exit.
pub const VIEW_CHANGES: [Sysno; 4] = [
    Sysno::chroot,
    Sysno::pivot_root,
    Sysno::unshare,
    Sysno::setns,
];

/// Rules for the syscalls that could take a process out of the tracer's
/// sight: clone when its flags ask for `CLONE_UNTRACED`, every clone3,
/// whose flags sit in memory where a filter cannot read them, and seccomp
/// when it requests a user-notification listener. The engine clears the
/// clone flag before the kernel sees it, so no child leaves the tracer. A
/// child that left it could not make any traced syscall anyway: without a
/// tracer, `SECCOMP_RET_TRACE` fails the syscall with ENOSYS.
fn escape_rules() -> Result<Vec<(i64, Vec<Rule>)>, TraceError> {
    let flag_set = |index: u8, flag: u64| {
        condition(
            index,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(flag),
            flag,
        )
    };
    let clone = vec![flag_set(0, CLONE_UNTRACED)?];
    let mut rules = vec![(i64::from(Sysno::clone.id()), vec![clone])];
    if let Ok(sysno) = Sysno::from_str("clone3") {
        rules.push((i64::from(sysno.id()), Vec::new()));
    }
    let listener = vec![flag_set(1, SECCOMP_FILTER_FLAG_NEW_LISTENER)?];
    rules.push((i64::from(Sysno::seccomp.id()), vec![listener]));
    for sysno in VIEW_CHANGES {
        rules.push((i64::from(sysno.id()), Vec::new()));
    }
    Ok(rules)
}

/// Target of a jump inside the code of one condition.
#[derive(Clone, Copy)]
enum Target {
    /// The next instruction.
    Next,
    /// The first instruction after the condition: the condition holds.
    Pass,
    /// The start of the next rule: the condition does not hold.
    Fail,
}

/// One instruction of a condition, with its jumps still symbolic.
enum Step {
    Load(u32),
    And(u32),
    Jump {
        code: u32,
        k: u32,
        taken: Target,
        not_taken: Target,
    },
}

/// Translates `condition` into steps that fall through (or jump to
/// [`Target::Pass`]) when it holds and jump to [`Target::Fail`] otherwise.
/// A 64-bit comparison compares the high halves first and reads the low
/// halves only when the high halves are equal.
fn condition_steps(condition: &Condition) -> Vec<Step> {
    use Target::{Fail, Next, Pass};
    // Argument words are little-endian on x86_64 and aarch64: the low half
    // comes first.
    let low = ARGS_OFFSET + 8 * u32::from(condition.index);
    let high = low + 4;
    let full = matches!(condition.length, SeccompCmpArgLen::Qword);
    let value_high = (condition.value >> 32) as u32;
    let value_low = condition.value as u32;
    let jump = |code, k, taken, not_taken| Step::Jump {
        code,
        k,
        taken,
        not_taken,
    };

    let mut steps = Vec::new();
    match condition.op {
        SeccompCmpOp::Eq => {
            if full {
                steps.push(Step::Load(high));
                steps.push(jump(JUMP_EQUAL, value_high, Next, Fail));
            }
            steps.push(Step::Load(low));
            steps.push(jump(JUMP_EQUAL, value_low, Pass, Fail));
        }
        SeccompCmpOp::Ne => {
            if full {
                steps.push(Step::Load(high));
                steps.push(jump(JUMP_EQUAL, value_high, Next, Pass));
            }
            steps.push(Step::Load(low));
            steps.push(jump(JUMP_EQUAL, value_low, Fail, Pass));
        }
        SeccompCmpOp::Ge | SeccompCmpOp::Gt => {
            if full {
                steps.push(Step::Load(high));
                steps.push(jump(JUMP_GREATER, value_high, Pass, Next));
                steps.push(jump(JUMP_EQUAL, value_high, Next, Fail));
            }
            let code = if matches!(condition.op, SeccompCmpOp::Ge) {
                JUMP_GREATER_EQUAL
            } else {
                JUMP_GREATER
            };
            steps.push(Step::Load(low));
            steps.push(jump(code, value_low, Pass, Fail));
        }
        SeccompCmpOp::Le | SeccompCmpOp::Lt => {
            if full {
                steps.push(Step::Load(high));
                steps.push(jump(JUMP_GREATER, value_high, Fail, Next));
                steps.push(jump(JUMP_EQUAL, value_high, Next, Pass));
            }
            // Le fails above the value, Lt at or above it.
            let code = if matches!(condition.op, SeccompCmpOp::Le) {
                JUMP_GREATER
            } else {
                JUMP_GREATER_EQUAL
            };
            steps.push(Step::Load(low));
            steps.push(jump(code, value_low, Fail, Pass));
        }
        SeccompCmpOp::MaskedEq(mask) => {
            let mut halves = vec![(low, mask as u32, value_low)];
            if full {
                halves.insert(0, (high, (mask >> 32) as u32, value_high));
            }
            for (offset, mask, value) in halves {
                let value = value & mask;
                // A half with an empty mask always matches.
                if mask == 0 {
                    continue;
                }
                steps.push(Step::Load(offset));
                if mask.is_power_of_two() {
                    if value == 0 {
                        steps.push(jump(JUMP_SET, mask, Fail, Next));
                    } else {
                        steps.push(jump(JUMP_SET, mask, Next, Fail));
                    }
                } else {
                    steps.push(Step::And(mask));
                    steps.push(jump(JUMP_EQUAL, value, Next, Fail));
                }
            }
        }
    }
    steps
}

/// Resolves the jumps of `steps`, where [`Target::Fail`] lies `fail`
/// instructions past the end of the steps.
fn assemble(steps: &[Step], fail: usize) -> Result<BpfProgram, TraceError> {
    let length = steps.len();
    steps
        .iter()
        .enumerate()
        .map(|(position, step)| {
            let to_end = length - position - 1;
            let offset = |target| {
                let distance = match target {
                    Target::Next => 0,
                    Target::Pass => to_end,
                    Target::Fail => to_end + fail,
                };
                short_offset(distance)
            };
            Ok(match *step {
                Step::Load(offset) => statement(LOAD_WORD, offset),
                Step::And(mask) => statement(AND, mask),
                Step::Jump {
                    code,
                    k,
                    taken,
                    not_taken,
                } => jump(code, k, offset(taken)?, offset(not_taken)?),
            })
        })
        .collect()
}

/// Builds the code that decides a syscall whose number matched: it returns
/// `SECCOMP_RET_TRACE` when any rule holds, or always when there are no
/// rules, and `SECCOMP_RET_ALLOW` otherwise. Every path through the code
/// ends in a return, so the search can place it anywhere.
fn decision(rules: &[Rule]) -> Result<BpfProgram, TraceError> {
    if rules.is_empty() {
        return Ok(vec![statement(RETURN, TRACE_NATIVE)]);
    }
    let mut program = Vec::new();
    for rule in rules {
        let conditions: Vec<Vec<Step>> = rule.iter().map(condition_steps).collect();
        // A failed condition skips the rest of the rule and its return.
        let mut fail = conditions.iter().map(Vec::len).sum::<usize>() + 1;
        for steps in &conditions {
            fail -= steps.len();
            program.extend(assemble(steps, fail)?);
        }
        program.push(statement(RETURN, TRACE_NATIVE));
    }
    program.push(statement(RETURN, SECCOMP_RET_ALLOW));
    Ok(program)
}

/// Maximum number of syscalls a leaf of the search compares one by one.
const LEAF_SIZE: usize = 3;

/// Builds a binary search over `syscalls`, sorted by number, with the
/// syscall number loaded. A matching number runs that syscall's decision
/// and any other number returns `SECCOMP_RET_ALLOW`. A node jumps over its
/// lower half with the 8-bit offset of a conditional jump when the half is
/// short enough, and through a `BPF_JA` with a 32-bit offset otherwise.
fn search(syscalls: &[(u32, BpfProgram)]) -> Result<BpfProgram, TraceError> {
    let mut program = Vec::new();
    if syscalls.len() <= LEAF_SIZE {
        for (nr, decision) in syscalls {
            match u8::try_from(decision.len()) {
                Ok(skip) => program.push(jump(JUMP_EQUAL, *nr, 0, skip)),
                Err(_) => {
                    program.push(jump(JUMP_EQUAL, *nr, 1, 0));
                    program.push(statement(JUMP, long_offset(decision.len())?));
                }
            }
            program.extend_from_slice(decision);
        }
        program.push(statement(RETURN, SECCOMP_RET_ALLOW));
        return Ok(program);
    }

    let (lower, upper) = syscalls.split_at(syscalls.len() / 2);
    let lower_code = search(lower)?;
    let upper_code = search(upper)?;
    let first_upper = upper[0].0;
    match u8::try_from(lower_code.len()) {
        Ok(skip) => program.push(jump(JUMP_GREATER_EQUAL, first_upper, skip, 0)),
        Err(_) => {
            program.push(jump(JUMP_GREATER_EQUAL, first_upper, 0, 1));
            program.push(statement(JUMP, long_offset(lower_code.len())?));
        }
    }
    program.extend(lower_code);
    program.extend(upper_code);
    Ok(program)
}

/// Returns `distance` as the 8-bit offset of a conditional jump.
fn short_offset(distance: usize) -> Result<u8, TraceError> {
    u8::try_from(distance).map_err(|_| {
        TraceError::Filter(format!(
            "a conditional jump of {distance} instructions exceeds the 8-bit offset"
        ))
    })
}

/// Returns `distance` as the 32-bit offset of `BPF_JA`.
fn long_offset(distance: usize) -> Result<u32, TraceError> {
    u32::try_from(distance).map_err(|_| {
        TraceError::Filter(format!(
            "a jump of {distance} instructions exceeds the 32-bit offset"
        ))
    })
}

/// Builds the check that kills the process on an audit architecture other
/// than the native one, after [`foreign_abi_prefix`] has routed the foreign
/// ABIs.
fn architecture_check() -> BpfProgram {
    let native = if cfg!(target_arch = "aarch64") {
        AUDIT_ARCH_AARCH64
    } else {
        AUDIT_ARCH_X86_64
    };
    vec![
        statement(LOAD_WORD, ARCH_OFFSET),
        jump(JUMP_EQUAL, native, 1, 0),
        statement(RETURN, SECCOMP_RET_KILL_PROCESS),
    ]
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

/// Builds the foreign-ABI routing that runs first.
fn foreign_abi_prefix() -> BpfProgram {
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
mod tests;
