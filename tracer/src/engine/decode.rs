//! Decoding of a syscall at entry into an event body.
//!
//! Names follow the x86_64 kernel names of the `syscalls` crate, so the same
//! code serves every architecture: a name missing on one (`open` on aarch64)
//! is never produced there.

use nix::unistd::Pid;
use protocol::{
    Address, CapsetEvent, ChownEvent, EventBody, ExecEvent, File, FileEvent, IoUringEvent,
    LoadModuleEvent, MemfdCreateEvent, ModeEvent, MountEvent, OpenEvent, PrctlEvent, ProcessRef,
    PtraceEvent, SetgidEvent, SetuidEvent, SocketEvent, UmountEvent, UnlinkEvent,
    UnloadModuleEvent,
};

use super::arguments::{read_arguments, read_environment, BoundedList};
use super::memory::{read_bytes, read_string};
use super::paths::canonical;
use super::procfs::{fd_path, join, resolve_at};
use super::regs::SyscallRegs;

mod signal;

const AT_FDCWD: u64 = libc::AT_FDCWD as u32 as u64;

/// `UMOUNT_NOFOLLOW` of umount2(2).
const UMOUNT_NOFOLLOW: libc::c_int = 8;

/// The exit-stop handling of a decoded syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtExit {
    /// Emit at entry with `retval` 0; no exit stop.
    Nothing,
    /// Stop at exit to fill in `retval`.
    Retval,
    /// Stop at exit, fill in `retval` and the peer address written by accept.
    AcceptPeer { address: u64, length: u64 },
    /// Stop at exit, fill in `retval` and rename memfd files to `memfd:NAME`.
    OpenedFd,
    /// exec: emitted on `PTRACE_EVENT_EXEC`, no exit stop.
    ExecEvent,
}

/// A decoded syscall entry.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The event body with `retval` 0.
    pub body: EventBody,
    /// The exit handling.
    pub at_exit: AtExit,
    /// False when the kernel resolves the path otherwise than the tracer
    /// does at entry (openat2 with `RESOLVE_IN_ROOT`), so that only the
    /// exit stop can name the file.
    pub path_known_at_entry: bool,
}

/// Where a decoded syscall runs: its thread, thread group, and what a deny
/// gate needs at entry: the canonical path of the open family, and the
/// argument and environment lists of an exec.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The thread id.
    pub tid: u32,
    /// The thread group id.
    pub tgid: u32,
    /// Canonicalize open paths at entry instead of at the exit stop.
    pub exact_open: bool,
    /// Read the argument and environment lists of an exec at entry. Without
    /// them the exec event reads them at `PTRACE_EVENT_EXEC`.
    pub exec_lists: bool,
}

/// `RESOLVE_IN_ROOT` of openat2(2): resolve as if the directory were `/`.
const RESOLVE_IN_ROOT: u64 = 0x10;

/// True when `flag` is set in the syscall argument `value`.
fn has_flag(value: u64, flag: libc::c_int) -> bool {
    value as libc::c_int & flag != 0
}

/// True when an open with `flags` follows a symbolic link in the last
/// component (`O_NOFOLLOW` and `O_CREAT|O_EXCL` do not).
pub fn open_follows(flags: u64) -> bool {
    let exclusive = has_flag(flags, libc::O_CREAT) && has_flag(flags, libc::O_EXCL);
    !has_flag(flags, libc::O_NOFOLLOW) && !exclusive
}

/// Decodes the native syscall `name` of `caller`. Returns `None` for
/// syscalls that produce no event. Paths are canonical (see
/// [`super::paths`]), except those of the open family without a gate, which
/// the exit stop names from the returned fd.
pub fn decode_entry(caller: Caller, name: &str, regs: &SyscallRegs) -> Option<Decoded> {
    let Caller { tid, tgid, .. } = caller;
    let pid = Pid::from_raw(tid as i32);
    let arg = regs.args;
    let string = |index: usize| read_string(pid, arg[index]).unwrap_or_default();
    let raw_at = |dirfd: u64, path: usize| resolve_at(tid, dirfd as i64, &string(path));
    let path_at = |dirfd: usize, path: usize, follow: bool| {
        canonical(tgid, tid, &raw_at(arg[dirfd], path), follow)
    };
    let path = |index: usize, follow: bool| canonical(tgid, tid, &raw_at(AT_FDCWD, index), follow);
    let open_path = |dirfd: u64, path: usize, flags: u64| {
        let raw = raw_at(dirfd, path);
        if caller.exact_open {
            canonical(tgid, tid, &raw, open_follows(flags))
        } else {
            raw
        }
    };
    let fd_file =
        |index: usize| File::from_path(fd_path(tid, arg[index] as i32 as i64).unwrap_or_default());
    let no_follow = |index: usize| has_flag(arg[index], libc::AT_SYMLINK_NOFOLLOW);
    let retval = 0;
    let mut path_known_at_entry = true;
    let (body, at_exit) = match name {
        "execve" | "execveat" => return decode_exec(caller, name, regs),
        "kill" | "tkill" | "tgkill" | "rt_sigqueueinfo" | "rt_tgsigqueueinfo"
        | "pidfd_send_signal" => return signal::decode_signal(caller, name, &arg),
        "open" => (
            open_body(open_path(AT_FDCWD, 0, arg[1]), arg[1], arg[2]),
            AtExit::OpenedFd,
        ),
        "creat" => {
            let flags = (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64;
            (
                open_body(open_path(AT_FDCWD, 0, flags), flags, arg[1]),
                AtExit::OpenedFd,
            )
        }
        "openat" => (
            open_body(open_path(arg[0], 1, arg[2]), arg[2], arg[3]),
            AtExit::OpenedFd,
        ),
        "openat2" => {
            let how = read_bytes(pid, arg[2], 24).unwrap_or_else(|| vec![0; 24]);
            let word = |index: usize| {
                let bytes = how.get(index * 8..index * 8 + 8).unwrap_or(&[0; 8]);
                u64::from_ne_bytes(bytes.try_into().unwrap_or_default())
            };
            let (flags, mode, resolve) = (word(0), word(1), word(2));
            let path = if resolve & RESOLVE_IN_ROOT != 0 {
                // The directory is the root: an absolute path and every
                // symbolic link on the way resolve below it.
                path_known_at_entry = false;
                let root = fd_path(tid, arg[0] as i32 as i64).unwrap_or_default();
                join(&root, string(1).trim_start_matches('/'))
            } else {
                open_path(arg[0], 1, flags)
            };
            (open_body(path, flags, mode), AtExit::OpenedFd)
        }
        // The handle names no path: the exit stop reads it from the new fd.
        "open_by_handle_at" => (open_body(String::new(), arg[2], 0), AtExit::OpenedFd),
        // A truncation by path writes the file without opening it.
        "truncate" => {
            let flags = (libc::O_WRONLY | libc::O_TRUNC) as u64;
            (open_body(path(0, true), flags, 0), AtExit::Retval)
        }
        "unlink" => (unlink_body(path(0, false), 0), AtExit::Nothing),
        "unlinkat" if has_flag(arg[2], libc::AT_REMOVEDIR) => (
            EventBody::Rmdir {
                rmdir: file_event(File::from_path(path_at(0, 1, false))),
            },
            AtExit::Nothing,
        ),
        "unlinkat" => (
            unlink_body(path_at(0, 1, false), arg[2] as u32),
            AtExit::Nothing,
        ),
        "rename" => (rename_body(path(0, false), path(1, false)), AtExit::Nothing),
        "renameat" | "renameat2" => (
            rename_body(path_at(0, 1, false), path_at(2, 3, false)),
            AtExit::Nothing,
        ),
        "mkdir" => (mkdir_body(path(0, false), arg[1]), AtExit::Nothing),
        "mkdirat" => (mkdir_body(path_at(0, 1, false), arg[2]), AtExit::Nothing),
        "rmdir" => (
            EventBody::Rmdir {
                rmdir: file_event(File::from_path(path(0, false))),
            },
            AtExit::Nothing,
        ),
        "chmod" => (
            chmod_body(File::from_path(path(0, true)), arg[1]),
            AtExit::Nothing,
        ),
        "fchmod" => (chmod_body(fd_file(0), arg[1]), AtExit::Nothing),
        // fchmodat has no flags argument; fchmodat2 has them in the fourth.
        "fchmodat" => (
            chmod_body(File::from_path(path_at(0, 1, true)), arg[2]),
            AtExit::Nothing,
        ),
        "fchmodat2" => (
            chmod_body(File::from_path(path_at(0, 1, !no_follow(3))), arg[2]),
            AtExit::Nothing,
        ),
        "chown" | "lchown" => (
            chown_body(File::from_path(path(0, name == "chown")), arg[1], arg[2]),
            AtExit::Nothing,
        ),
        "fchown" => (chown_body(fd_file(0), arg[1], arg[2]), AtExit::Nothing),
        "fchownat" => (
            chown_body(
                File::from_path(path_at(0, 1, !no_follow(4))),
                arg[2],
                arg[3],
            ),
            AtExit::Nothing,
        ),
        "link" => (link_body(path(0, false), path(1, false)), AtExit::Nothing),
        "linkat" => {
            let follow = has_flag(arg[4], libc::AT_SYMLINK_FOLLOW);
            (
                link_body(path_at(0, 1, follow), path_at(2, 3, false)),
                AtExit::Nothing,
            )
        }
        "symlink" => (symlink_body(string(0), path(1, false)), AtExit::Nothing),
        "symlinkat" => (
            symlink_body(string(0), path_at(1, 2, false)),
            AtExit::Nothing,
        ),
        "utime" | "utimes" => (utimes_body(File::from_path(path(0, true))), AtExit::Nothing),
        "utimensat" if arg[1] == 0 => (utimes_body(fd_file(0)), AtExit::Nothing),
        "utimensat" => (
            utimes_body(File::from_path(path_at(0, 1, !no_follow(3)))),
            AtExit::Nothing,
        ),
        "futimesat" => (
            utimes_body(File::from_path(path_at(0, 1, true))),
            AtExit::Nothing,
        ),
        "setuid" | "setreuid" | "setresuid" | "setfsuid" => {
            (setuid_body(name, &arg), AtExit::Retval)
        }
        "setgid" | "setregid" | "setresgid" | "setfsgid" => {
            (setgid_body(name, &arg), AtExit::Retval)
        }
        "capset" => (capset_body(pid, arg[1]), AtExit::Retval),
        "init_module" => {
            let load = LoadModuleEvent {
                args: string(2),
                loaded_from_memory: true,
                retval,
                ..Default::default()
            };
            (EventBody::LoadModule { load_module: load }, AtExit::Retval)
        }
        "finit_module" => {
            let file = fd_file(0);
            let name = file.name.trim_end_matches(".ko").to_string();
            let load = LoadModuleEvent {
                file,
                name,
                args: string(1),
                loaded_from_memory: false,
                retval,
            };
            (EventBody::LoadModule { load_module: load }, AtExit::Retval)
        }
        "delete_module" => {
            let unload = UnloadModuleEvent {
                name: string(0),
                retval,
            };
            (
                EventBody::UnloadModule {
                    unload_module: unload,
                },
                AtExit::Retval,
            )
        }
        "mount" => {
            let mount = MountEvent {
                source: File::from_path(string(0)),
                mountpoint: File::from_path(path(1, true)),
                fs_type: string(2),
                flags: arg[3],
                retval,
            };
            (EventBody::Mount { mount }, AtExit::Retval)
        }
        "move_mount" => {
            let mount = MountEvent {
                source: File::from_path(path_at(0, 1, true)),
                mountpoint: File::from_path(path_at(2, 3, true)),
                flags: arg[4],
                ..Default::default()
            };
            (EventBody::Mount { mount }, AtExit::Retval)
        }
        "fsmount" => (
            EventBody::Mount {
                mount: MountEvent {
                    flags: arg[1],
                    ..Default::default()
                },
            },
            AtExit::Retval,
        ),
        "umount2" => {
            let umount = UmountEvent {
                file: File::from_path(path(0, !has_flag(arg[1], UMOUNT_NOFOLLOW))),
                flags: arg[1] as u32,
                retval,
            };
            (EventBody::Umount { umount }, AtExit::Retval)
        }
        "bind" => (
            EventBody::Bind {
                bind: socket_event(pid, arg[1], arg[2]),
            },
            AtExit::Retval,
        ),
        "connect" => (
            EventBody::Connect {
                connect: socket_event(pid, arg[1], arg[2]),
            },
            AtExit::Retval,
        ),
        "accept" | "accept4" => {
            let accept = SocketEvent::default();
            (
                EventBody::Accept { accept },
                AtExit::AcceptPeer {
                    address: arg[1],
                    length: arg[2],
                },
            )
        }
        "ptrace" => (ptrace_body(&arg), AtExit::Retval),
        "chdir" => {
            let mut chdir = file_event(File::from_path(path(0, true)));
            chdir.syscall_path = string(0);
            (EventBody::Chdir { chdir }, AtExit::Nothing)
        }
        "fchdir" => (
            EventBody::Chdir {
                chdir: file_event(fd_file(0)),
            },
            AtExit::Nothing,
        ),
        "prctl" => (prctl_body(pid, &arg), AtExit::Nothing),
        "memfd_create" => {
            let memfd = MemfdCreateEvent {
                name: string(0),
                flags: arg[1] as u32,
                retval,
            };
            (
                EventBody::MemfdCreate {
                    memfd_create: memfd,
                },
                AtExit::Retval,
            )
        }
        "io_uring_setup" => {
            let flags = read_bytes(pid, arg[1] + 8, 4)
                .map(|bytes| u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
                .unwrap_or(0);
            let io_uring = IoUringEvent {
                entries: arg[0] as u32,
                flags,
                retval,
            };
            (EventBody::IoUring { io_uring }, AtExit::Retval)
        }
        _ => return None,
    };
    Some(Decoded {
        body,
        at_exit,
        path_known_at_entry,
    })
}

fn decode_exec(caller: Caller, name: &str, regs: &SyscallRegs) -> Option<Decoded> {
    let Caller { tid, tgid, .. } = caller;
    let pid = Pid::from_raw(tid as i32);
    let arg = regs.args;
    let (dirfd, path_index, argv, envp) = if name == "execveat" {
        (arg[0] as i64, 1, arg[2], arg[3])
    } else {
        (AT_FDCWD as i64, 0, arg[1], arg[2])
    };
    let raw = read_string(pid, arg[path_index]).unwrap_or_default();
    // fexecve and memfd execs pass an fd with AT_EMPTY_PATH, or /proc/self/fd/N.
    let path = if raw.is_empty() {
        fd_path(tid, dirfd as i32 as i64).unwrap_or_default()
    } else {
        canonical(tgid, tid, &resolve_at(tid, dirfd, &raw), true)
    };
    let path = memfd_path(&path).unwrap_or(path);
    let (argv, envp) = if caller.exec_lists {
        (read_arguments(pid, argv, 8), read_environment(pid, envp, 8))
    } else {
        (BoundedList::default(), BoundedList::default())
    };
    let exec = ExecEvent {
        file: File::from_path(path),
        argv: argv.entries,
        envp: envp.entries,
        args_truncated: argv.truncated,
        envs_truncated: envp.truncated,
        procfs: false,
        retval: 0,
    };
    Some(Decoded {
        body: EventBody::Exec { exec },
        at_exit: AtExit::ExecEvent,
        path_known_at_entry: true,
    })
}

fn file_event(file: File) -> FileEvent {
    FileEvent {
        file,
        ..FileEvent::default()
    }
}

fn open_body(path: String, flags: u64, mode: u64) -> EventBody {
    let open = OpenEvent {
        file: File::from_path(path),
        flags: flags as u32,
        mode: mode as u32,
        retval: 0,
    };
    EventBody::Open { open }
}

fn unlink_body(path: String, flags: u32) -> EventBody {
    EventBody::Unlink {
        unlink: UnlinkEvent {
            file: File::from_path(path),
            flags,
            retval: 0,
        },
    }
}

fn rename_body(source: String, target: String) -> EventBody {
    EventBody::Rename {
        rename: file_event(File::with_destination(source, target)),
    }
}

fn link_body(source: String, target: String) -> EventBody {
    EventBody::Link {
        link: file_event(File::with_destination(source, target)),
    }
}

fn symlink_body(target: String, link_path: String) -> EventBody {
    EventBody::Symlink {
        symlink: file_event(File::with_destination(target, link_path)),
    }
}

fn utimes_body(file: File) -> EventBody {
    EventBody::Utimes {
        utimes: file_event(file),
    }
}

fn mkdir_body(path: String, mode: u64) -> EventBody {
    EventBody::Mkdir {
        mkdir: ModeEvent {
            file: File::from_path(path),
            mode: mode as u32,
            retval: 0,
        },
    }
}

fn chmod_body(file: File, mode: u64) -> EventBody {
    EventBody::Chmod {
        chmod: ModeEvent {
            file,
            mode: mode as u32,
            retval: 0,
        },
    }
}

/// Converts an id argument as the kernel reads it (`uid_t`), keeping `-1` as -1.
fn id_argument(value: u64) -> i64 {
    i64::from(value as u32 as i32)
}

fn chown_body(file: File, uid: u64, gid: u64) -> EventBody {
    let chown = ChownEvent {
        file,
        uid: id_argument(uid),
        gid: id_argument(gid),
        retval: 0,
    };
    EventBody::Chown { chown }
}

/// Maps the setuid family to (real, effective, filesystem) ids; -1 keeps one.
fn id_triple(name: &str, arg: &[u64; 6]) -> (i64, i64, i64) {
    let first = id_argument(arg[0]);
    match name {
        "setuid" | "setgid" => (first, first, first),
        "setreuid" | "setregid" | "setresuid" | "setresgid" => (first, id_argument(arg[1]), -1),
        _ => (-1, -1, first),
    }
}

fn setuid_body(name: &str, arg: &[u64; 6]) -> EventBody {
    let (uid, euid, fsuid) = id_triple(name, arg);
    EventBody::Setuid {
        setuid: SetuidEvent {
            uid,
            euid,
            fsuid,
            retval: 0,
        },
    }
}

fn setgid_body(name: &str, arg: &[u64; 6]) -> EventBody {
    let (gid, egid, fsgid) = id_triple(name, arg);
    EventBody::Setgid {
        setgid: SetgidEvent {
            gid,
            egid,
            fsgid,
            retval: 0,
        },
    }
}

/// Reads `struct __user_cap_data_struct[2]` (version 3): effective,
/// permitted, inheritable as 32-bit halves.
fn capset_body(pid: Pid, data: u64) -> EventBody {
    let words: Vec<u64> = read_bytes(pid, data, 24)
        .map(|bytes| {
            bytes
                .chunks(4)
                .map(|chunk| {
                    u64::from(u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
                })
                .collect()
        })
        .unwrap_or_else(|| vec![0; 6]);
    let capset = CapsetEvent {
        cap_effective: words[0] | words[3] << 32,
        cap_permitted: words[1] | words[4] << 32,
        retval: 0,
    };
    EventBody::Capset { capset }
}

fn ptrace_body(arg: &[u64; 6]) -> EventBody {
    let target = arg[1] as u32;
    let file = std::fs::read_link(format!("/proc/{target}/exe"))
        .map(|path| File::from_path(path.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let euid = super::procfs::read_text(&format!("/proc/{target}/status")).and_then(|status| {
        let ids = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
        ids.split_whitespace().nth(1)?.parse().ok()
    });
    let ptrace = PtraceEvent {
        request: arg[0] as u32,
        tracee: ProcessRef {
            pid: target,
            euid,
            file,
        },
        address: arg[2],
        retval: 0,
    };
    EventBody::Ptrace { ptrace }
}

fn prctl_body(pid: Pid, arg: &[u64; 6]) -> EventBody {
    let option = arg[0] as i32;
    let new_name = if option == libc::PR_SET_NAME {
        read_bytes(pid, arg[1], 16)
            .map(|bytes| {
                let end = bytes
                    .iter()
                    .position(|&byte| byte == 0)
                    .unwrap_or(bytes.len());
                String::from_utf8_lossy(&bytes[..end]).into_owned()
            })
            .unwrap_or_default()
    } else {
        String::new()
    };
    EventBody::Prctl {
        prctl: PrctlEvent {
            option,
            arg2: arg[1],
            new_name,
            retval: 0,
        },
    }
}

fn socket_event(pid: Pid, address: u64, length: u64) -> SocketEvent {
    let length = (length as usize).min(128);
    let addr = read_bytes(pid, address, length)
        .map(|bytes| parse_sockaddr(&bytes))
        .unwrap_or_default();
    SocketEvent { addr, retval: 0 }
}

/// Reads the peer address accept wrote: `length` points to the socklen_t.
pub fn accept_peer(pid: Pid, address: u64, length: u64) -> Address {
    if address == 0 || length == 0 {
        return Address::default();
    }
    let size = read_bytes(pid, length, 4)
        .map(|bytes| u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as u64)
        .unwrap_or(0);
    socket_event(pid, address, size).addr
}

/// Parses a `sockaddr` of family `AF_INET`, `AF_INET6` or `AF_UNIX`.
pub fn parse_sockaddr(bytes: &[u8]) -> Address {
    if bytes.len() < 2 {
        return Address::default();
    }
    let family = u16::from_ne_bytes([bytes[0], bytes[1]]);
    let port = |bytes: &[u8]| {
        if bytes.len() >= 4 {
            u16::from_be_bytes([bytes[2], bytes[3]])
        } else {
            0
        }
    };
    match i32::from(family) {
        libc::AF_INET if bytes.len() >= 8 => {
            let ip = std::net::Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            Address {
                family,
                ip: ip.to_string(),
                port: port(bytes),
                ..Address::default()
            }
        }
        libc::AF_INET6 if bytes.len() >= 24 => {
            let octets: [u8; 16] = bytes[8..24].try_into().unwrap_or_default();
            let ip = std::net::Ipv6Addr::from(octets);
            Address {
                family,
                ip: ip.to_string(),
                port: port(bytes),
                ..Address::default()
            }
        }
        libc::AF_UNIX => {
            let raw = &bytes[2..];
            let path = match raw.first() {
                Some(0) if raw.len() > 1 => format!(
                    "@{}",
                    String::from_utf8_lossy(&raw[1..]).trim_end_matches('\0')
                ),
                _ => {
                    let end = raw.iter().position(|&byte| byte == 0).unwrap_or(raw.len());
                    String::from_utf8_lossy(&raw[..end]).into_owned()
                }
            };
            Address {
                family,
                path,
                ..Default::default()
            }
        }
        _ => Address {
            family,
            ..Default::default()
        },
    }
}

/// Returns the `retval` field of a body, for every event type that has one.
pub fn retval_mut(body: &mut EventBody) -> Option<&mut i64> {
    Some(match body {
        EventBody::Exec { exec } => &mut exec.retval,
        EventBody::Fork { fork } => &mut fork.retval,
        EventBody::Open { open } => &mut open.retval,
        EventBody::Unlink { unlink } => &mut unlink.retval,
        EventBody::Rename { rename: event }
        | EventBody::Rmdir { rmdir: event }
        | EventBody::Link { link: event }
        | EventBody::Symlink { symlink: event }
        | EventBody::Utimes { utimes: event }
        | EventBody::Chdir { chdir: event } => &mut event.retval,
        EventBody::Mkdir { mkdir: event } | EventBody::Chmod { chmod: event } => &mut event.retval,
        EventBody::Chown { chown } => &mut chown.retval,
        EventBody::Setuid { setuid } => &mut setuid.retval,
        EventBody::Setgid { setgid } => &mut setgid.retval,
        EventBody::Capset { capset } => &mut capset.retval,
        EventBody::LoadModule { load_module } => &mut load_module.retval,
        EventBody::UnloadModule { unload_module } => &mut unload_module.retval,
        EventBody::Mount { mount } => &mut mount.retval,
        EventBody::Umount { umount } => &mut umount.retval,
        EventBody::Bind { bind: event }
        | EventBody::Connect { connect: event }
        | EventBody::Accept { accept: event } => &mut event.retval,
        EventBody::Ptrace { ptrace } => &mut ptrace.retval,
        EventBody::Prctl { prctl } => &mut prctl.retval,
        EventBody::MemfdCreate { memfd_create } => &mut memfd_create.retval,
        EventBody::IoUring { io_uring } => &mut io_uring.retval,
        EventBody::Signal { signal } => &mut signal.retval,
        EventBody::Exit { .. }
        | EventBody::Dns { .. }
        | EventBody::ForeignAbi { .. }
        | EventBody::Lost { .. } => return None,
    })
}

/// Turns the kernel's name of a memfd (`/memfd:NAME (deleted)`) into `memfd:NAME`.
pub fn memfd_path(kernel_path: &str) -> Option<String> {
    let name = kernel_path.strip_prefix("/memfd:")?;
    Some(format!("memfd:{}", name.trim_end_matches(" (deleted)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_inet_and_unix() {
        let mut inet = vec![2u8, 0, 0x16, 0x2e, 127, 0, 0, 1];
        inet.extend([0; 8]);
        let address = parse_sockaddr(&inet);
        assert_eq!(address.ip, "127.0.0.1");
        assert_eq!(address.port, 5678);
        let unix = [1u8, 0, 0, b'x', b'y'];
        assert_eq!(parse_sockaddr(&unix).path, "@xy");
    }

    #[test]
    fn memfd_names() {
        assert_eq!(memfd_path("/memfd:x (deleted)").as_deref(), Some("memfd:x"));
        assert_eq!(memfd_path("/etc/passwd"), None);
    }
}
