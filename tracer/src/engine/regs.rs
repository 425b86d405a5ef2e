//! Syscall registers of a stopped tracee: number, arguments and return value,
//! for x86_64 and aarch64.

use nix::sys::ptrace;
use nix::unistd::Pid;

/// The ABI a syscall was made through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    /// The tracer's own architecture.
    Native,
    /// i386 (`int 0x80` or a 32-bit process on x86_64).
    I386,
    /// x32 (x86_64 syscalls with bit 30 of the number set).
    X32,
}

impl Abi {
    /// Returns the name used in `foreign_abi` events.
    pub fn name(self) -> &'static str {
        match self {
            Abi::Native => "native",
            Abi::I386 => "i386",
            Abi::X32 => "x32",
        }
    }
}

/// Bit that marks an x32 syscall number on x86_64.
pub const X32_SYSCALL_BIT: i64 = 0x4000_0000;

/// The syscall state of a tracee at a syscall or seccomp stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallRegs {
    /// Syscall number in its ABI (x32 bit removed).
    pub nr: i64,
    /// The six argument registers.
    pub args: [u64; 6],
    /// Return register: the result at syscall exit, `-ENOSYS` at entry on x86_64.
    pub ret: i64,
    /// The ABI of the call.
    pub abi: Abi,
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use super::*;

    /// Code segment selector of 32-bit user mode on x86_64 Linux.
    const USER32_CS: u64 = 0x23;

    pub fn read(pid: Pid) -> nix::Result<SyscallRegs> {
        let regs = ptrace::getregs(pid)?;
        let raw_nr = regs.orig_rax as i64;
        if regs.cs == USER32_CS {
            return Ok(i386(&regs, raw_nr));
        }
        let (nr, abi) = native_number(raw_nr);
        Ok(SyscallRegs {
            nr,
            args: [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
            ret: regs.rax as i64,
            abi,
        })
    }

    /// Splits the number of a 64-bit syscall into its number and ABI: x32
    /// when bit 30 is set.
    pub fn native_number(raw_nr: i64) -> (i64, Abi) {
        if raw_nr >= 0 && raw_nr & X32_SYSCALL_BIT != 0 {
            (raw_nr & !X32_SYSCALL_BIT, Abi::X32)
        } else {
            (raw_nr, Abi::Native)
        }
    }

    /// The return register at a syscall entry: the kernel sets it to
    /// `-ENOSYS` before it runs the syscall.
    pub fn entry_return(_args: &[u64; 6]) -> i64 {
        -i64::from(libc::ENOSYS)
    }

    /// Returns the stack pointer of a stopped tracee and the pointer size
    /// of its program: 4 for a 32-bit program, else 8.
    pub fn stack_pointer(pid: Pid) -> nix::Result<(u64, usize)> {
        let regs = ptrace::getregs(pid)?;
        if regs.cs == USER32_CS {
            return Ok((regs.rsp & 0xffff_ffff, 4));
        }
        Ok((regs.rsp, 8))
    }

    /// Reads the registers as an i386 syscall, which `int 0x80` uses even
    /// from 64-bit code.
    pub fn read_i386(pid: Pid) -> nix::Result<SyscallRegs> {
        let regs = ptrace::getregs(pid)?;
        Ok(i386(&regs, regs.orig_rax as i64))
    }

    fn i386(regs: &libc::user_regs_struct, nr: i64) -> SyscallRegs {
        let low = |value: u64| value & 0xffff_ffff;
        SyscallRegs {
            nr,
            args: [
                low(regs.rbx),
                low(regs.rcx),
                low(regs.rdx),
                low(regs.rsi),
                low(regs.rdi),
                low(regs.rbp),
            ],
            ret: regs.rax as i32 as i64,
            abi: Abi::I386,
        }
    }

    /// Turns the pending syscall into a no-op that returns `ret`. Works at a
    /// seccomp stop or a syscall-entry stop: number -1 skips the syscall and
    /// the kernel leaves the return register as set.
    pub fn skip_syscall(pid: Pid, ret: i64) -> nix::Result<()> {
        let mut regs = ptrace::getregs(pid)?;
        regs.orig_rax = u64::MAX;
        regs.rax = ret as u64;
        ptrace::setregs(pid, regs)
    }

    /// Sets the return value at a syscall-exit stop.
    pub fn set_return(pid: Pid, ret: i64) -> nix::Result<()> {
        let mut regs = ptrace::getregs(pid)?;
        regs.rax = ret as u64;
        ptrace::setregs(pid, regs)
    }

    /// Sets the first syscall argument of a stopped tracee: `rdi`, or `ebx`
    /// for an i386 syscall.
    pub fn set_first_argument(pid: Pid, abi: Abi, value: u64) -> nix::Result<()> {
        let mut regs = ptrace::getregs(pid)?;
        if abi == Abi::I386 {
            regs.rbx = value & 0xffff_ffff;
        } else {
            regs.rdi = value;
        }
        ptrace::setregs(pid, regs)
    }

    /// True when a syscall stop is an entry stop: the kernel sets the return
    /// register to `-ENOSYS` before it runs the syscall.
    pub fn is_entry(regs: &SyscallRegs, _toggled_entry: bool) -> bool {
        regs.ret == -i64::from(libc::ENOSYS)
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    use super::*;

    /// `NT_ARM_SYSTEM_CALL` regset: the syscall number as the kernel will run it.
    const NT_ARM_SYSTEM_CALL: libc::c_int = 0x404;

    pub fn read(pid: Pid) -> nix::Result<SyscallRegs> {
        let regs = ptrace::getregs(pid)?;
        Ok(SyscallRegs {
            nr: regs.regs[8] as i64,
            args: [
                regs.regs[0],
                regs.regs[1],
                regs.regs[2],
                regs.regs[3],
                regs.regs[4],
                regs.regs[5],
            ],
            ret: regs.regs[0] as i64,
            abi: Abi::Native,
        })
    }

    pub fn read_i386(pid: Pid) -> nix::Result<SyscallRegs> {
        read(pid)
    }

    pub fn stack_pointer(pid: Pid) -> nix::Result<(u64, usize)> {
        Ok((ptrace::getregs(pid)?.sp, 8))
    }

    pub fn native_number(raw_nr: i64) -> (i64, Abi) {
        (raw_nr, Abi::Native)
    }

    /// x0 is both the first argument and the return register.
    pub fn entry_return(args: &[u64; 6]) -> i64 {
        args[0] as i64
    }

    // NOTE: untested on aarch64 hardware; whether the kernel keeps x0 as set
    // for a skipped syscall depends on its version.
    pub fn skip_syscall(pid: Pid, ret: i64) -> nix::Result<()> {
        let mut nr: libc::c_int = -1;
        let mut iov = libc::iovec {
            iov_base: (&mut nr as *mut libc::c_int).cast(),
            iov_len: std::mem::size_of::<libc::c_int>(),
        };
        // SAFETY: `iov` points to a live c_int of the size the regset expects.
        let result = unsafe {
            libc::ptrace(
                libc::PTRACE_SETREGSET,
                pid.as_raw(),
                NT_ARM_SYSTEM_CALL as usize,
                &mut iov as *mut libc::iovec,
            )
        };
        nix::Error::result(result)?;
        set_return(pid, ret)
    }

    pub fn set_return(pid: Pid, ret: i64) -> nix::Result<()> {
        let mut regs = ptrace::getregs(pid)?;
        regs.regs[0] = ret as u64;
        ptrace::setregs(pid, regs)
    }

    pub fn set_first_argument(pid: Pid, _abi: Abi, value: u64) -> nix::Result<()> {
        set_return(pid, value as i64)
    }

    /// aarch64 has no entry marker in the registers, so the caller's
    /// entry/exit toggle decides.
    pub fn is_entry(_regs: &SyscallRegs, toggled_entry: bool) -> bool {
        toggled_entry
    }
}

use arch::{entry_return, native_number};
pub use arch::{
    is_entry, read, read_i386, set_first_argument, set_return, skip_syscall, stack_pointer,
};

/// `AUDIT_ARCH_I386`, the architecture of a compat syscall on x86_64.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;

/// `PTRACE_GET_SYSCALL_INFO` (Linux 5.3).
const PTRACE_GET_SYSCALL_INFO: libc::c_uint = 0x420e;

/// The start of the kernel's `struct ptrace_syscall_info`: `op`, three
/// padding bytes and `arch`. The kernel copies at most the size passed.
#[repr(C)]
#[derive(Default)]
struct SyscallInfoHead {
    op: u8,
    pad: [u8; 3],
    arch: u32,
}

/// Returns the audit architecture of the syscall `pid` is stopped in, from
/// `PTRACE_GET_SYSCALL_INFO`, or `None` on kernels before 5.3. The kernel
/// derives it from how the syscall was entered, so unlike the
/// `SECCOMP_RET_TRACE` data, which any filter the workload installs can set,
/// the workload cannot choose it.
pub fn syscall_arch(pid: Pid) -> Option<u32> {
    let mut head = SyscallInfoHead::default();
    // SAFETY: the kernel writes at most `size_of::<SyscallInfoHead>()` bytes
    // into `head`, which is live and writable.
    let result = unsafe {
        libc::ptrace(
            PTRACE_GET_SYSCALL_INFO,
            pid.as_raw(),
            std::mem::size_of::<SyscallInfoHead>(),
            &mut head as *mut SyscallInfoHead,
        )
    };
    // `op` 0 (PTRACE_SYSCALL_INFO_NONE) means the tracee is in no syscall.
    (result > 0 && head.op != 0).then_some(head.arch)
}

/// `op` values of `struct ptrace_syscall_info`.
const INFO_ENTRY: u8 = 1;
const INFO_EXIT: u8 = 2;
const INFO_SECCOMP: u8 = 3;

/// The kernel's `struct ptrace_syscall_info` (Linux 5.3). After the
/// pointers comes a union: `entry { nr, args[6] }`, `exit { rval,
/// is_error }` or `seccomp { nr, args[6], ret_data }`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct RawSyscallInfo {
    op: u8,
    pad: [u8; 3],
    arch: u32,
    instruction_pointer: u64,
    stack_pointer: u64,
    /// `nr` at an entry or seccomp stop, `rval` at an exit stop.
    nr_or_rval: u64,
    args: [u64; 6],
    ret_data: u32,
    pad_end: u32,
}

/// A syscall stop as `PTRACE_GET_SYSCALL_INFO` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallInfo {
    /// A syscall-entry stop.
    Entry(SyscallRegs),
    /// A seccomp stop, with the data of the filter's `SECCOMP_RET_TRACE`.
    Seccomp { regs: SyscallRegs, data: u32 },
    /// A syscall-exit stop, with the return value. The kernel does not
    /// report the syscall number there.
    Exit { ret: i64 },
}

/// Reads the syscall of `pid` at a syscall or seccomp stop with one
/// `PTRACE_GET_SYSCALL_INFO`, which replaces `PTRACE_GETEVENTMSG`,
/// `PTRACE_GETREGS` and [`syscall_arch`]. Returns `None` on kernels before
/// 5.3 and at other stops, where the caller reads the registers instead.
pub fn syscall_info(pid: Pid) -> Option<SyscallInfo> {
    let mut raw = RawSyscallInfo::default();
    // SAFETY: the kernel writes at most `size_of::<RawSyscallInfo>()` bytes
    // into `raw`, which is live and writable.
    let result = unsafe {
        libc::ptrace(
            PTRACE_GET_SYSCALL_INFO,
            pid.as_raw(),
            std::mem::size_of::<RawSyscallInfo>(),
            &mut raw as *mut RawSyscallInfo,
        )
    };
    if result <= 0 {
        return None;
    }
    decode_info(&raw)
}

/// Turns the kernel's syscall information into the values that
/// [`read`] and [`read_i386`] return from the registers.
fn decode_info(raw: &RawSyscallInfo) -> Option<SyscallInfo> {
    let compat = cfg!(target_arch = "x86_64") && raw.arch == AUDIT_ARCH_I386;
    let entry = || {
        let raw_nr = raw.nr_or_rval as i64;
        let (nr, args, abi) = if compat {
            (raw_nr, raw.args.map(|arg| arg & 0xffff_ffff), Abi::I386)
        } else {
            let (nr, abi) = native_number(raw_nr);
            (nr, raw.args, abi)
        };
        SyscallRegs {
            nr,
            args,
            ret: entry_return(&args),
            abi,
        }
    };
    match raw.op {
        INFO_ENTRY => Some(SyscallInfo::Entry(entry())),
        INFO_SECCOMP => Some(SyscallInfo::Seccomp {
            regs: entry(),
            data: raw.ret_data,
        }),
        INFO_EXIT => {
            let ret = raw.nr_or_rval as i64;
            // An i386 syscall returns a 32-bit value in eax.
            let ret = if compat { ret as i32 as i64 } else { ret };
            Some(SyscallInfo::Exit { ret })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    use nix::sys::ptrace;
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult, Pid};

    use super::*;

    /// First argument of the probe syscall: no open fd has this number.
    const PROBE_FD: u64 = 987_654;

    /// Forks a child that stops for its parent to trace it, makes a close
    /// with six recognizable arguments, then runs `/bin/true` with `argv`
    /// and `envp`. Only async-signal-safe calls run in the child.
    fn traced_child(argv: &[CString], envp: &[CString]) -> Pid {
        let mut argv_pointers: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
        argv_pointers.push(std::ptr::null());
        let mut envp_pointers: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
        envp_pointers.push(std::ptr::null());
        let program = CString::new("/bin/true").unwrap();
        // SAFETY: the child calls only async-signal-safe functions.
        match unsafe { fork() }.expect("fork") {
            // SAFETY: the pointer arrays are NULL-terminated and point to
            // strings that live until execve.
            ForkResult::Child => unsafe {
                libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
                libc::kill(libc::getpid(), libc::SIGSTOP);
                // Each argument is a full register: a variadic c_int leaves
                // the upper half undefined.
                let [a, b, c, d, e, f] = [PROBE_FD, 1, 2, 3, 4, 5].map(|arg| arg as libc::c_long);
                libc::syscall(libc::SYS_close, a, b, c, d, e, f);
                libc::execve(
                    program.as_ptr(),
                    argv_pointers.as_ptr(),
                    envp_pointers.as_ptr(),
                );
                libc::_exit(127)
            },
            ForkResult::Parent { child } => child,
        }
    }

    #[test]
    fn syscall_info_matches_registers() {
        let argv = [CString::new("true").unwrap(), CString::new("x").unwrap()];
        let envp = [
            CString::new("A=1").unwrap(),
            CString::new("PATH=/bin").unwrap(),
        ];
        let child = traced_child(&argv, &envp);
        assert!(matches!(
            waitpid(child, None),
            Ok(WaitStatus::Stopped(_, Signal::SIGSTOP))
        ));
        let options = ptrace::Options::PTRACE_O_TRACESYSGOOD
            | ptrace::Options::PTRACE_O_TRACEEXEC
            | ptrace::Options::PTRACE_O_EXITKILL;
        ptrace::setoptions(child, options).unwrap();

        let mut probe_entry = None;
        let mut probe_exit = None;
        let mut stack = None;
        for _ in 0..10 {
            ptrace::syscall(child, None).unwrap();
            match waitpid(child, None).unwrap() {
                WaitStatus::PtraceSyscall(_) => {}
                WaitStatus::PtraceEvent(_, _, event) if event == libc::PTRACE_EVENT_EXEC => {
                    let (pointer, size) = stack_pointer(child).unwrap();
                    stack = super::super::arguments::stack_lists(child, pointer, size);
                    break;
                }
                other => panic!("unexpected stop {other:?}"),
            }
            let registers = read(child).unwrap();
            match syscall_info(child).expect("PTRACE_GET_SYSCALL_INFO (Linux 5.3)") {
                SyscallInfo::Entry(regs) => {
                    assert_eq!(regs, registers);
                    if regs.nr == libc::SYS_close {
                        probe_entry = Some(regs);
                    }
                }
                SyscallInfo::Exit { ret } => {
                    assert_eq!(ret, registers.ret);
                    if probe_entry.is_some() && probe_exit.is_none() {
                        probe_exit = Some(ret);
                    }
                }
                SyscallInfo::Seccomp { .. } => panic!("seccomp stop without a filter"),
            }
        }
        let _ = kill(child, Signal::SIGKILL);
        let _ = waitpid(child, None);

        let entry = probe_entry.expect("close entry stop");
        assert_eq!(entry.args, [PROBE_FD, 1, 2, 3, 4, 5]);
        assert_eq!(entry.abi, Abi::Native);
        assert_eq!(probe_exit, Some(-i64::from(libc::EBADF)));
        let (stack_argv, stack_envp) = stack.expect("lists on the exec stack");
        assert_eq!(stack_argv.entries, ["true", "x"]);
        assert_eq!(stack_envp.entries, ["A", "PATH=/bin"]);
    }

    #[test]
    fn exit_info_of_i386_syscall_is_32_bit() {
        let mut raw = RawSyscallInfo {
            op: INFO_EXIT,
            arch: AUDIT_ARCH_I386,
            nr_or_rval: 0xffff_fff2,
            ..RawSyscallInfo::default()
        };
        let expected = if cfg!(target_arch = "x86_64") {
            -14
        } else {
            0xffff_fff2
        };
        assert_eq!(decode_info(&raw), Some(SyscallInfo::Exit { ret: expected }));
        raw.op = 0;
        assert_eq!(decode_info(&raw), None);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn seccomp_info_splits_x32_and_i386() {
        let x32 = RawSyscallInfo {
            op: INFO_SECCOMP,
            arch: 0xc000_003e,
            nr_or_rval: (X32_SYSCALL_BIT + 2) as u64,
            args: [1 << 40, 0, 0, 0, 0, 0],
            ret_data: 7,
            ..RawSyscallInfo::default()
        };
        let Some(SyscallInfo::Seccomp { regs, data }) = decode_info(&x32) else {
            panic!("not a seccomp stop");
        };
        assert_eq!(regs.nr, 2);
        assert_eq!(regs.abi, Abi::X32);
        assert_eq!(data, 7);
        assert_eq!(regs.args[0], 1 << 40);
        assert_eq!(regs.ret, -i64::from(libc::ENOSYS));

        let i386 = RawSyscallInfo {
            arch: AUDIT_ARCH_I386,
            nr_or_rval: 5,
            ..x32
        };
        let Some(SyscallInfo::Seccomp { regs, .. }) = decode_info(&i386) else {
            panic!("not a seccomp stop");
        };
        assert_eq!(regs.nr, 5);
        assert_eq!(regs.abi, Abi::I386);
        assert_eq!(regs.args[0], 0, "upper half of an i386 argument is dropped");
    }
}
