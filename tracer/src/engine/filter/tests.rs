//! Tests of the syscall set and of the seccomp program. A classic BPF
//! interpreter runs the program on `struct seccomp_data` inputs and compares
//! its decisions with those of the linear program that seccompiler builds
//! from the same rules.

use seccompiler::{SeccompAction, SeccompCondition, SeccompFilter, SeccompRule, TargetArch};

use super::*;

const KILL: u32 = SECCOMP_RET_KILL_PROCESS;
const ALLOW: u32 = SECCOMP_RET_ALLOW;
const TRACE: u32 = TRACE_NATIVE;

fn native_arch() -> u32 {
    if cfg!(target_arch = "aarch64") {
        AUDIT_ARCH_AARCH64
    } else {
        AUDIT_ARCH_X86_64
    }
}

fn foreign_arch() -> u32 {
    if cfg!(target_arch = "aarch64") {
        AUDIT_ARCH_ARM
    } else {
        AUDIT_ARCH_I386
    }
}

fn nr(sysno: Sysno) -> u32 {
    sysno.id() as u32
}

/// Builds the program of seccompiler's linear chain from the same rules,
/// after the same foreign-ABI prefix.
fn reference_program(
    traced: &BTreeSet<i64>,
    signals: Option<&[SignalRange]>,
    tracer: u32,
) -> BpfProgram {
    reference_for_rules(&syscall_rules(traced, signals, tracer).unwrap())
}

fn reference_for_rules(rules: &BTreeMap<i64, Vec<Rule>>) -> BpfProgram {
    let rules: BTreeMap<i64, Vec<SeccompRule>> = rules
        .iter()
        .map(|(nr, rules)| {
            let rules = rules
                .iter()
                .map(|rule| {
                    let conditions = rule
                        .iter()
                        .map(|condition| {
                            SeccompCondition::new(
                                condition.index,
                                condition.length.clone(),
                                condition.op.clone(),
                                condition.value,
                            )
                            .unwrap()
                        })
                        .collect();
                    SeccompRule::new(conditions).unwrap()
                })
                .collect();
            (*nr, rules)
        })
        .collect();
    let target = if cfg!(target_arch = "aarch64") {
        TargetArch::aarch64
    } else {
        TargetArch::x86_64
    };
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Trace(DATA_NATIVE),
        target,
    )
    .unwrap();
    let main: BpfProgram = filter.try_into().unwrap();
    let mut program = foreign_abi_prefix();
    program.extend(main);
    program
}

/// `struct seccomp_data` as the kernel lays it out on a little-endian
/// machine.
fn seccomp_data(arch: u32, nr: u32, args: [u64; 6]) -> [u8; 64] {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_le_bytes());
    data[4..8].copy_from_slice(&arch.to_le_bytes());
    data[8..16].copy_from_slice(&0x7f00_1234_5678u64.to_le_bytes());
    for (index, arg) in args.iter().enumerate() {
        let start = 16 + 8 * index;
        data[start..start + 8].copy_from_slice(&arg.to_le_bytes());
    }
    data
}

/// The result of one run of a program: its return value, the offsets of
/// `struct seccomp_data` it loaded and the number of instructions it ran.
struct Run {
    action: u32,
    loads: Vec<u32>,
    executed: usize,
}

/// Runs a classic BPF program on `data` with the instructions the
/// programs of this module use, and panics on any other instruction, on a
/// misaligned or out-of-bounds load and on a jump out of the program.
fn run(program: &[sock_filter], data: &[u8; 64]) -> Run {
    let mut accumulator: u32 = 0;
    let mut loads = Vec::new();
    let mut pc = 0usize;
    let mut executed = 0;
    loop {
        let instruction = program
            .get(pc)
            .unwrap_or_else(|| panic!("pc {pc} is past the end of the program"));
        let k = instruction.k;
        pc += 1;
        executed += 1;
        let taken = match u32::from(instruction.code) {
            LOAD_WORD => {
                let offset = k as usize;
                assert!(offset.is_multiple_of(4), "misaligned load at {offset}");
                assert!(offset + 4 <= data.len(), "load past the data at {offset}");
                accumulator = u32::from_le_bytes(data[offset..offset + 4].try_into().unwrap());
                loads.push(k);
                continue;
            }
            AND => {
                accumulator &= k;
                continue;
            }
            JUMP => {
                pc += k as usize;
                continue;
            }
            RETURN => {
                return Run {
                    action: k,
                    loads,
                    executed,
                }
            }
            JUMP_EQUAL => accumulator == k,
            JUMP_GREATER => accumulator > k,
            JUMP_GREATER_EQUAL => accumulator >= k,
            JUMP_SET => accumulator & k != 0,
            code => panic!("unsupported instruction {code:#x} at {}", pc - 1),
        };
        pc += usize::from(if taken {
            instruction.jt
        } else {
            instruction.jf
        });
    }
}

fn decide(program: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    run(program, &seccomp_data(arch, nr, args)).action
}

/// Checks what the kernel checks before it accepts a classic BPF program:
/// its length, jumps that land inside it and a return at the end.
fn assert_valid(program: &[sock_filter]) {
    assert!(!program.is_empty());
    assert!(
        program.len() <= MAX_INSTRUCTIONS,
        "{} instructions",
        program.len()
    );
    for (pc, instruction) in program.iter().enumerate() {
        let code = u32::from(instruction.code);
        let targets = if code == JUMP {
            vec![instruction.k as usize]
        } else if code & 0x07 == libc::BPF_JMP {
            vec![usize::from(instruction.jt), usize::from(instruction.jf)]
        } else {
            Vec::new()
        };
        for offset in targets {
            assert!(
                pc + 1 + offset < program.len(),
                "jump at {pc} by {offset} leaves a program of {}",
                program.len()
            );
        }
    }
    assert_eq!(u32::from(program[program.len() - 1].code), RETURN);
}

/// Argument values around the edges of every condition of `rules`: each
/// compared value, one below and one above it, and the extremes, in the
/// low half, the high half or both.
fn edge_values(rules: &BTreeMap<i64, Vec<Rule>>) -> Vec<u64> {
    let mut values = BTreeSet::from([0, 1, u64::from(u32::MAX), 1 << 32, u64::MAX]);
    for condition in rules.values().flatten().flatten() {
        let mut compared = vec![condition.value];
        if let SeccompCmpOp::MaskedEq(mask) = condition.op {
            compared.extend([mask, !mask, mask | 1, mask | (1 << 40)]);
        }
        for value in compared {
            let low = value & 0xffff_ffff;
            for near in [value, value.wrapping_sub(1), value.wrapping_add(1)] {
                values.insert(near);
                values.insert(near & 0xffff_ffff);
                values.insert(near | (1 << 32));
                values.insert(low | (near << 32));
            }
        }
    }
    values.into_iter().collect()
}

/// Syscall numbers around every number of `rules` and at the extremes.
fn edge_numbers(rules: &BTreeMap<i64, Vec<Rule>>) -> Vec<u32> {
    let mut numbers = BTreeSet::from([0, 1, 0x3fff_ffff, 0x4000_0000, u32::MAX]);
    for &nr in rules.keys() {
        let nr = nr as u32;
        numbers.extend([nr.saturating_sub(1), nr, nr + 1]);
        numbers.insert(nr | 0x4000_0000);
    }
    numbers.into_iter().collect()
}

/// Asserts that `program` and `reference` decide alike on every syscall
/// number near a rule, with each argument in turn at every edge value and
/// the others at a background value, and returns the number of inputs.
/// The backgrounds are 0 (a pid of 0 always stops a signal syscall), 5
/// (neither the tracer's pid nor a signal of the ranges) and 5 with high
/// bits set.
fn assert_same_decisions(
    program: &[sock_filter],
    reference: &[sock_filter],
    rules: &BTreeMap<i64, Vec<Rule>>,
) -> usize {
    let values = edge_values(rules);
    let mut argument_sets = Vec::new();
    for background in [0, 5, (1 << 32) | 5] {
        argument_sets.push([background; 6]);
        for index in 0..6 {
            for &value in &values {
                let mut args = [background; 6];
                args[index] = value;
                argument_sets.push(args);
            }
        }
    }
    let mut checked = 0;
    let mut compare = |arch: u32, nr: u32, args: &[u64; 6]| {
        let expected = decide(reference, arch, nr, *args);
        let actual = decide(program, arch, nr, *args);
        assert_eq!(
            actual, expected,
            "arch {arch:#x} nr {nr} args {args:x?}: {actual:#x} != {expected:#x}"
        );
        checked += 1;
    };
    for nr in edge_numbers(rules) {
        for args in &argument_sets {
            compare(native_arch(), nr, args);
        }
        for arch in [foreign_arch(), 0, AUDIT_ARCH_ARM | 1, 0xffff_ffff] {
            for args in &argument_sets[..2] {
                compare(arch, nr, args);
            }
        }
    }
    checked
}

/// Signal ranges with a single number, a closed range and an open one.
fn policy_ranges() -> Vec<SignalRange> {
    vec![
        SignalRange { first: 9, last: 9 },
        SignalRange {
            first: 15,
            last: 19,
        },
        SignalRange {
            first: 32,
            last: u32::MAX,
        },
    ]
}

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
    let sendto = i64::from(Sysno::sendto.id());
    assert_eq!(argument_rules(sendto, None, 1).unwrap().len(), 1);
    let connect = i64::from(Sysno::connect.id());
    assert!(argument_rules(connect, None, 1).unwrap().is_empty());

    let program = build_program(&BTreeSet::from([sendto, connect]), None, 1).unwrap();
    let arch = native_arch();
    let sendto = nr(Sysno::sendto);
    let destination = |address| [3, 0x1000, 40, 0, address, 16];
    assert_eq!(decide(&program, arch, sendto, destination(0)), ALLOW);
    assert_eq!(
        decide(&program, arch, sendto, destination(0x7ffd_0000)),
        TRACE
    );
    assert_eq!(decide(&program, arch, sendto, destination(1 << 32)), TRACE);
    assert_eq!(decide(&program, arch, sendto, destination(u64::MAX)), TRACE);
    let connect = nr(Sysno::connect);
    assert_eq!(decide(&program, arch, connect, [0; 6]), TRACE);
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

    let program = build_program(&BTreeSet::from([kill, tkill]), Some(&ranges), 4242).unwrap();
    let arch = native_arch();
    let (kill, tkill) = (nr(Sysno::kill), nr(Sysno::tkill));
    let other = 4243;
    assert_eq!(decide(&program, arch, kill, [other, 9, 0, 0, 0, 0]), TRACE);
    assert_eq!(decide(&program, arch, kill, [other, 8, 0, 0, 0, 0]), ALLOW);
    assert_eq!(decide(&program, arch, kill, [other, 10, 0, 0, 0, 0]), ALLOW);
    assert_eq!(decide(&program, arch, kill, [other, 31, 0, 0, 0, 0]), ALLOW);
    assert_eq!(decide(&program, arch, kill, [other, 32, 0, 0, 0, 0]), TRACE);
    let max = u64::from(u32::MAX);
    assert_eq!(
        decide(&program, arch, kill, [other, max, 0, 0, 0, 0]),
        TRACE
    );
    assert_eq!(decide(&program, arch, kill, [4242, 15, 0, 0, 0, 0]), TRACE);
    assert_eq!(decide(&program, arch, kill, [0, 15, 0, 0, 0, 0]), TRACE);
    // kill(-1, SIGTERM) as the kernel passes it: an int in the low half.
    assert_eq!(decide(&program, arch, kill, [max, 15, 0, 0, 0, 0]), TRACE);
    let group = u64::from(-4243i32 as u32);
    assert_eq!(decide(&program, arch, kill, [group, 15, 0, 0, 0, 0]), TRACE);
    // Pid and signal are ints: the high halves do not count.
    let high = 1 << 32;
    assert_eq!(
        decide(&program, arch, kill, [high | 4242, 15, 0, 0, 0, 0]),
        TRACE
    );
    assert_eq!(
        decide(&program, arch, kill, [other, high | 8, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(
        decide(&program, arch, tkill, [other, 15, 0, 0, 0, 0]),
        TRACE
    );
}

#[test]
fn program_starts_with_foreign_abi_prefix() {
    let program = build_program(&syscall_set(None), None, 1).unwrap();
    assert_eq!(program[0].k, 4);
    assert_eq!(program[2].k, SECCOMP_RET_TRACE | DATA_I386);
}

#[test]
fn foreign_abis_and_other_arches() {
    let program = build_program(&syscall_set(None), Some(&policy_ranges()), 1).unwrap();
    let read = nr(Sysno::read);
    let i386 = SECCOMP_RET_TRACE | DATA_I386;
    assert_eq!(decide(&program, foreign_arch(), read, [0; 6]), i386);
    assert_eq!(decide(&program, foreign_arch(), 0x4000_0001, [0; 6]), i386);
    assert_eq!(decide(&program, 0, read, [0; 6]), KILL);
    assert_eq!(decide(&program, AUDIT_ARCH_ARM | 1, read, [0; 6]), KILL);
    let x32 = if cfg!(target_arch = "x86_64") {
        SECCOMP_RET_TRACE | DATA_X32
    } else {
        ALLOW
    };
    assert_eq!(
        decide(&program, native_arch(), read | 0x4000_0000, [0; 6]),
        x32
    );
    assert_eq!(decide(&program, native_arch(), read, [0; 6]), ALLOW);
}

#[test]
fn escape_syscalls_stop_only_when_escaping() {
    let program = build_program(&syscall_set(None), Some(&policy_ranges()), 1).unwrap();
    let arch = native_arch();
    let clone = nr(Sysno::clone);
    let thread_flags = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
    assert_eq!(
        decide(&program, arch, clone, [thread_flags, 0, 0, 0, 0, 0]),
        ALLOW
    );
    let untraced = thread_flags | CLONE_UNTRACED;
    assert_eq!(
        decide(&program, arch, clone, [untraced, 0, 0, 0, 0, 0]),
        TRACE
    );
    let high = (1 << 32) | CLONE_UNTRACED;
    assert_eq!(decide(&program, arch, clone, [high, 0, 0, 0, 0, 0]), TRACE);
    assert_eq!(decide(&program, arch, nr(Sysno::clone3), [0; 6]), TRACE);
    assert_eq!(decide(&program, arch, nr(Sysno::fork), [0; 6]), ALLOW);

    let seccomp = nr(Sysno::seccomp);
    let listener = SECCOMP_FILTER_FLAG_NEW_LISTENER;
    assert_eq!(decide(&program, arch, seccomp, [1, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(decide(&program, arch, seccomp, [1, 1, 0, 0, 0, 0]), ALLOW);
    assert_eq!(
        decide(&program, arch, seccomp, [1, listener, 0, 0, 0, 0]),
        TRACE
    );
    assert_eq!(
        decide(&program, arch, seccomp, [1, listener | 1, 0, 0, 0, 0]),
        TRACE
    );
}

#[test]
fn clone_traced_by_name_stops_always() {
    let clone = i64::from(Sysno::clone.id());
    let seccomp = i64::from(Sysno::seccomp.id());
    let program = build_program(&BTreeSet::from([clone, seccomp]), None, 1).unwrap();
    let arch = native_arch();
    // clone is one of the syscalls whose events come from ptrace stops.
    assert_eq!(decide(&program, arch, nr(Sysno::clone), [0; 6]), ALLOW);
    assert_eq!(decide(&program, arch, nr(Sysno::seccomp), [0; 6]), TRACE);
}

#[test]
fn default_set_decides_like_linear_chain() {
    let traced = syscall_set(None);
    for signals in [None, Some(policy_ranges()), Some(Vec::new())] {
        let signals = signals.as_deref();
        let program = build_program(&traced, signals, 4242).unwrap();
        let reference = reference_program(&traced, signals, 4242);
        assert_valid(&program);
        let rules = syscall_rules(&traced, signals, 4242).unwrap();
        let checked = assert_same_decisions(&program, &reference, &rules);
        assert!(checked > 10_000, "{checked} inputs");
    }
}

#[test]
fn small_sets_decide_like_linear_chain() {
    let sets: Vec<BTreeSet<i64>> = vec![
        BTreeSet::new(),
        BTreeSet::from([0]),
        BTreeSet::from([i64::from(Sysno::openat.id())]),
        BTreeSet::from([i64::from(Sysno::kill.id()), i64::from(Sysno::sendto.id())]),
        (0..8).collect(),
    ];
    for traced in sets {
        let signals = policy_ranges();
        let program = build_program(&traced, Some(&signals), 1).unwrap();
        let reference = reference_program(&traced, Some(&signals), 1);
        assert_valid(&program);
        let rules = syscall_rules(&traced, Some(&signals), 1).unwrap();
        assert_same_decisions(&program, &reference, &rules);
    }
}

#[test]
fn every_syscall_traced_uses_long_jumps() {
    let traced: BTreeSet<i64> = Sysno::iter().map(|sysno| i64::from(sysno.id())).collect();
    // Enough ranges that a signal syscall's decision passes 255
    // instructions, which the leaf must jump over with BPF_JA.
    let signals: Vec<SignalRange> = (0..60)
        .map(|i| SignalRange {
            first: 3 * i,
            last: 3 * i + 1,
        })
        .collect();
    let program = build_program(&traced, Some(&signals), 77).unwrap();
    let reference = reference_program(&traced, Some(&signals), 77);
    assert_valid(&program);
    let long_jumps = program
        .iter()
        .filter(|instruction| u32::from(instruction.code) == JUMP && instruction.k > 255)
        .count();
    assert!(long_jumps >= 2, "{long_jumps} jumps over 255 instructions");

    let arch = native_arch();
    let last = *traced.last().unwrap() as u32;
    for nr in (0..=last + 2).chain([0x3fff_ffff, u32::MAX]) {
        for args in [
            [0; 6],
            [77, 0, 0, 0, 1, 0],
            [5, 4, 4, 0, 0, 0],
            [5, 3, 3, 0, 0, 0],
        ] {
            let expected = decide(&reference, arch, nr, args);
            assert_eq!(
                decide(&program, arch, nr, args),
                expected,
                "nr {nr} {args:?}"
            );
        }
    }
}

#[test]
fn untraced_syscalls_load_only_nr_and_arch() {
    let traced = syscall_set(None);
    let program = build_program(&traced, Some(&policy_ranges()), 1).unwrap();
    let rules = syscall_rules(&traced, Some(&policy_ranges()), 1).unwrap();
    for nr in 0..1024u32 {
        if rules.contains_key(&i64::from(nr)) {
            continue;
        }
        let result = run(&program, &seccomp_data(native_arch(), nr, [u64::MAX; 6]));
        assert_eq!(result.action, ALLOW, "nr {nr}");
        assert!(
            result.loads.iter().all(|&offset| offset < ARGS_OFFSET),
            "nr {nr} loads {:?}",
            result.loads
        );
    }
}

#[test]
fn untraced_syscalls_take_few_comparisons() {
    let traced = syscall_set(None);
    let program = build_program(&traced, Some(&policy_ranges()), 1).unwrap();
    let reference = reference_program(&traced, Some(&policy_ranges()), 1);
    let data = seccomp_data(native_arch(), nr(Sysno::getppid), [0; 6]);
    let steps = |program: &[sock_filter]| run(program, &data).executed;
    let before = steps(&reference);
    let after = steps(&program);
    let rules = syscall_rules(&traced, Some(&policy_ranges()), 1).unwrap();
    let depth = (rules.len() as f64).log2().ceil() as usize;
    println!("getppid runs {before} instructions in the linear chain, {after} in the search");
    assert!(after <= 12 + depth + LEAF_SIZE, "{after} instructions");
    assert!(after < before, "{after} >= {before}");
}

#[test]
fn full_set_program_length() {
    let traced = syscall_set(None);
    let signals = policy_ranges();
    let program = build_program(&traced, Some(&signals), 1).unwrap();
    let reference = reference_program(&traced, Some(&signals), 1);
    println!(
        "{} syscalls: {} instructions in the search, {} in the linear chain",
        traced.len(),
        program.len(),
        reference.len()
    );
    assert!(program.len() <= reference.len());
    assert!(program.len() <= MAX_INSTRUCTIONS);
}

#[test]
fn oversized_program_is_rejected() {
    let traced: BTreeSet<i64> = Sysno::iter().map(|sysno| i64::from(sysno.id())).collect();
    let signals: Vec<SignalRange> = (0..400)
        .map(|i| SignalRange {
            first: 2 * i,
            last: 2 * i + 1,
        })
        .collect();
    match build_program(&traced, Some(&signals), 1) {
        Err(TraceError::Filter(message)) => assert!(message.contains("too long"), "{message}"),
        Err(error) => panic!("unexpected error {error}"),
        Ok(program) => panic!("{} instructions accepted", program.len()),
    }
}

#[test]
fn every_comparison_decides_like_linear_chain() {
    let values = [
        0,
        1,
        0x8000_0000,
        u64::from(u32::MAX),
        1 << 32,
        0x1_8000_0000,
        0x7fff_ffff_0000_0001,
        u64::MAX,
    ];
    let masks = [
        1 << 3,
        0x0f0f,
        1 << 40,
        0xff00_0000_00ff,
        0x3_0000_0000,
        u64::MAX,
    ];
    let mut ops = vec![
        SeccompCmpOp::Eq,
        SeccompCmpOp::Ne,
        SeccompCmpOp::Ge,
        SeccompCmpOp::Gt,
        SeccompCmpOp::Le,
        SeccompCmpOp::Lt,
    ];
    ops.extend(masks.map(SeccompCmpOp::MaskedEq));
    let mut arguments: BTreeSet<u64> = values.into_iter().collect();
    for value in values.into_iter().chain(masks) {
        arguments.extend([
            value.wrapping_sub(1),
            value.wrapping_add(1),
            value & 0xffff_ffff,
        ]);
        arguments.extend([value | (1 << 32), value | 1, value & !(1 << 3), !value]);
    }
    for length in [SeccompCmpArgLen::Dword, SeccompCmpArgLen::Qword] {
        let mut rules = BTreeMap::new();
        let mut nr = 0;
        for op in &ops {
            for value in values {
                let single = condition(2, length.clone(), op.clone(), value).unwrap();
                // The same comparison as the second condition of a rule.
                let first = condition(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, 7).unwrap();
                rules.insert(nr, vec![vec![single.clone()]]);
                rules.insert(nr + 1, vec![vec![first, single.clone()], vec![single]]);
                nr += 2;
            }
        }
        let program = program_for_rules(&rules).unwrap();
        let reference = reference_for_rules(&rules);
        assert_valid(&program);
        for (&nr, rules) in &rules {
            for &argument in &arguments {
                for first in [7, 8] {
                    let args = [first, 0, argument, 0, 0, 0];
                    let expected = decide(&reference, native_arch(), nr as u32, args);
                    let actual = decide(&program, native_arch(), nr as u32, args);
                    assert_eq!(actual, expected, "nr {nr} args {args:x?}: {rules:?}");
                }
            }
        }
    }
}
