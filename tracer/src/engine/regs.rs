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
        let (nr, abi) = if raw_nr >= 0 && raw_nr & X32_SYSCALL_BIT != 0 {
            (raw_nr & !X32_SYSCALL_BIT, Abi::X32)
        } else {
            (raw_nr, Abi::Native)
        };
        Ok(SyscallRegs {
            nr,
            args: [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
            ret: regs.rax as i64,
            abi,
        })
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
