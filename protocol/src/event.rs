//! The event model: one JSON object per security-relevant action of a traced
//! process.
//!
//! Field names follow Datadog's SECL so that rules written for it read the same
//! here. The event-specific object sits under the key named by `type`, for
//! example `{"type": "open", "process": {...}, "open": {...}}`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::user_session::UserSession;

/// One security event: the acting process, the time, and the event body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// UTC time of the syscall, RFC 3339 with microseconds.
    pub timestamp: String,
    /// The process that made the syscall.
    pub process: Process,
    /// The event type and its type-specific fields.
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    /// Returns the event type.
    pub fn kind(&self) -> EventKind {
        self.body.kind()
    }
}

/// A file as seen by an event: the resolved absolute path and its base name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// Absolute path, resolved against the cwd or directory fd of the caller.
    pub path: String,
    /// Last component of `path`.
    pub name: String,
    /// The target of a rename, link or symlink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Box<File>>,
    /// Owner, mode and times, for the files whose events carry them (the
    /// executable of exec and of the process, chmod and chown before the
    /// change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<FileStat>,
    /// Type of the filesystem holding the file (`ext4`, `overlay`, `proc`),
    /// empty when not known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub filesystem: String,
    /// True when the file lies on an overlay filesystem and changed after
    /// the container (or, outside containers, the tracer) started: written
    /// into the container's upper layer rather than shipped in its image.
    #[serde(default, skip_serializing_if = "is_false")]
    pub in_upper_layer: bool,
}

/// The `stat` of a file at the time of the event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStat {
    /// Type and permission bits (`st_mode`).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Inode number.
    pub inode: u64,
    /// Last content change, nanoseconds since the Unix epoch.
    pub modification_time: u64,
    /// Last status change, nanoseconds since the Unix epoch.
    pub change_time: u64,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl File {
    /// Builds a file from a path, deriving the base name.
    pub fn from_path(path: impl Into<String>) -> File {
        let path = path.into();
        let name = base_name(&path).to_string();
        File {
            path,
            name,
            ..File::default()
        }
    }

    /// Builds a file with a destination (rename, link, symlink).
    pub fn with_destination(path: impl Into<String>, destination: impl Into<String>) -> File {
        let mut file = File::from_path(path);
        file.destination = Some(Box::new(File::from_path(destination)));
        file
    }
}

/// Returns the last component of a path (`/usr/bin/cat` gives `cat`).
pub fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(index) => &trimmed[index + 1..],
        None => trimmed,
    }
}

/// The container a process runs in, from `/proc/PID/cgroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// Container id (64 hex digits for Docker, containerd and CRI-O), or empty
    /// on the host.
    #[serde(default)]
    pub id: String,
    /// Start of the container's first process, nanoseconds since the Unix
    /// epoch; 0 outside containers or when not known.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub created_at: u64,
    /// Tags of the workload (`key:value`, or a bare `key`), as
    /// `sentrace trace --tag` declares them, or `None` without tags. Every
    /// event of a session shares one list, so copying a process copies a
    /// pointer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Arc<[String]>>,
}

/// The context of the process that made a syscall.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// Thread group id.
    pub pid: u32,
    /// Thread id of the calling thread.
    pub tid: u32,
    /// Parent pid.
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Effective group id.
    pub egid: u32,
    /// Command name (`/proc/PID/comm`, at most 15 bytes).
    pub comm: String,
    /// The executable.
    pub file: File,
    /// Arguments of the last exec.
    #[serde(default)]
    pub argv: Vec<String>,
    /// Working directory.
    #[serde(default)]
    pub cwd: String,
    /// Container context.
    #[serde(default)]
    pub container: Container,
    /// Start time of the process in nanoseconds since the Unix epoch, when known.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_time_ns: u64,
    /// Controlling terminal as the kernel names it (`pts0`, `tty1`), empty
    /// without one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tty_name: String,
    /// Audit login user id (`/proc/PID/loginuid`); `None` when unset or not
    /// known, which SECL reads as [`AUID_UNSET`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auid: Option<u32>,
    /// The process's cgroup.
    #[serde(default, skip_serializing_if = "Cgroup::is_empty")]
    pub cgroup: Cgroup,
    /// Effective capabilities (`CapEff`), one bit per capability number.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cap_effective: u64,
    /// Permitted capabilities (`CapPrm`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cap_permitted: u64,
    /// The user session the process runs in, such as the Kubernetes user of
    /// a `kubectl exec`, or `None` outside a declared session. Every process
    /// of the session shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_session: Option<Arc<UserSession>>,
    /// The interpreter the kernel ran for a `#!` script; `file` is then the
    /// script itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<Box<File>>,
}

/// The cgroup a process belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    /// The cgroup v2 path, or the path in the first v1 hierarchy.
    #[serde(default)]
    pub id: String,
    /// Inode of the cgroup's directory, 0 when not known.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inode: u64,
}

impl Cgroup {
    fn is_empty(&self) -> bool {
        self.id.is_empty() && self.inode == 0
    }
}

/// The audit login uid of a process that never logged in.
pub const AUID_UNSET: u32 = u32::MAX;

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// The type of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Program execution (execve, execveat).
    Exec,
    /// New process (fork, vfork, clone, clone3 without `CLONE_THREAD`).
    Fork,
    /// Process exit.
    Exit,
    /// File open (open, openat, openat2, creat).
    Open,
    /// File removal (unlink, unlinkat without `AT_REMOVEDIR`).
    Unlink,
    /// Rename (rename, renameat, renameat2).
    Rename,
    /// Directory creation.
    Mkdir,
    /// Directory removal.
    Rmdir,
    /// Mode change.
    Chmod,
    /// Owner change.
    Chown,
    /// Hard link.
    Link,
    /// Symbolic link.
    Symlink,
    /// Access or modification time change.
    Utimes,
    /// User id change (setuid family).
    Setuid,
    /// Group id change (setgid family).
    Setgid,
    /// Capability change.
    Capset,
    /// Kernel module load.
    LoadModule,
    /// Kernel module unload.
    UnloadModule,
    /// Mount.
    Mount,
    /// Unmount.
    Umount,
    /// Socket bind.
    Bind,
    /// Socket connect.
    Connect,
    /// Socket accept.
    Accept,
    /// ptrace request.
    Ptrace,
    /// Working directory change.
    Chdir,
    /// prctl call.
    Prctl,
    /// Anonymous file creation.
    MemfdCreate,
    /// io_uring instance setup.
    IoUring,
    /// A DNS query sent by a traced process.
    Dns,
    /// A syscall made through a foreign ABI (i386 or x32 on x86_64).
    ForeignAbi,
    /// Events the tracer had to drop.
    Lost,
    /// A signal sent (kill, tkill, tgkill, rt_sigqueueinfo,
    /// rt_tgsigqueueinfo, pidfd_send_signal).
    Signal,
}

impl EventKind {
    /// Every event type, in declaration order.
    pub const ALL: [EventKind; 32] = [
        EventKind::Exec,
        EventKind::Fork,
        EventKind::Exit,
        EventKind::Open,
        EventKind::Unlink,
        EventKind::Rename,
        EventKind::Mkdir,
        EventKind::Rmdir,
        EventKind::Chmod,
        EventKind::Chown,
        EventKind::Link,
        EventKind::Symlink,
        EventKind::Utimes,
        EventKind::Setuid,
        EventKind::Setgid,
        EventKind::Capset,
        EventKind::LoadModule,
        EventKind::UnloadModule,
        EventKind::Mount,
        EventKind::Umount,
        EventKind::Bind,
        EventKind::Connect,
        EventKind::Accept,
        EventKind::Ptrace,
        EventKind::Chdir,
        EventKind::Prctl,
        EventKind::MemfdCreate,
        EventKind::IoUring,
        EventKind::Dns,
        EventKind::ForeignAbi,
        EventKind::Lost,
        EventKind::Signal,
    ];

    /// Returns the name used in JSON and in rules (`load_module`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Exec => "exec",
            EventKind::Fork => "fork",
            EventKind::Exit => "exit",
            EventKind::Open => "open",
            EventKind::Unlink => "unlink",
            EventKind::Rename => "rename",
            EventKind::Mkdir => "mkdir",
            EventKind::Rmdir => "rmdir",
            EventKind::Chmod => "chmod",
            EventKind::Chown => "chown",
            EventKind::Link => "link",
            EventKind::Symlink => "symlink",
            EventKind::Utimes => "utimes",
            EventKind::Setuid => "setuid",
            EventKind::Setgid => "setgid",
            EventKind::Capset => "capset",
            EventKind::LoadModule => "load_module",
            EventKind::UnloadModule => "unload_module",
            EventKind::Mount => "mount",
            EventKind::Umount => "umount",
            EventKind::Bind => "bind",
            EventKind::Connect => "connect",
            EventKind::Accept => "accept",
            EventKind::Ptrace => "ptrace",
            EventKind::Chdir => "chdir",
            EventKind::Prctl => "prctl",
            EventKind::MemfdCreate => "memfd_create",
            EventKind::IoUring => "io_uring",
            EventKind::Dns => "dns",
            EventKind::ForeignAbi => "foreign_abi",
            EventKind::Lost => "lost",
            EventKind::Signal => "signal",
        }
    }

    /// Parses an event type name; `None` when sentrace has no such type.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The type-specific part of an event, serialized as `"type": NAME` plus an
/// object under the key `NAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum EventBody {
    Exec { exec: ExecEvent },
    Fork { fork: ForkEvent },
    Exit { exit: ExitEvent },
    Open { open: OpenEvent },
    Unlink { unlink: UnlinkEvent },
    Rename { rename: FileEvent },
    Mkdir { mkdir: ModeEvent },
    Rmdir { rmdir: FileEvent },
    Chmod { chmod: ModeEvent },
    Chown { chown: ChownEvent },
    Link { link: FileEvent },
    Symlink { symlink: FileEvent },
    Utimes { utimes: FileEvent },
    Setuid { setuid: SetuidEvent },
    Setgid { setgid: SetgidEvent },
    Capset { capset: CapsetEvent },
    LoadModule { load_module: LoadModuleEvent },
    UnloadModule { unload_module: UnloadModuleEvent },
    Mount { mount: MountEvent },
    Umount { umount: UmountEvent },
    Bind { bind: SocketEvent },
    Connect { connect: SocketEvent },
    Accept { accept: SocketEvent },
    Ptrace { ptrace: PtraceEvent },
    Chdir { chdir: FileEvent },
    Prctl { prctl: PrctlEvent },
    MemfdCreate { memfd_create: MemfdCreateEvent },
    IoUring { io_uring: IoUringEvent },
    Dns { dns: DnsEvent },
    ForeignAbi { foreign_abi: ForeignAbiEvent },
    Lost { lost: LostEvent },
    Signal { signal: SignalEvent },
}

impl EventBody {
    /// The file the event acts on, for the event types that have one.
    pub fn file(&self) -> Option<&File> {
        match self {
            EventBody::Exec { exec } => Some(&exec.file),
            EventBody::Open { open } => Some(&open.file),
            EventBody::Unlink { unlink } => Some(&unlink.file),
            EventBody::Rename { rename: e }
            | EventBody::Rmdir { rmdir: e }
            | EventBody::Link { link: e }
            | EventBody::Symlink { symlink: e }
            | EventBody::Utimes { utimes: e }
            | EventBody::Chdir { chdir: e } => Some(&e.file),
            EventBody::Mkdir { mkdir: e } | EventBody::Chmod { chmod: e } => Some(&e.file),
            EventBody::Chown { chown } => Some(&chown.file),
            EventBody::LoadModule { load_module } => Some(&load_module.file),
            EventBody::Umount { umount } => Some(&umount.file),
            _ => None,
        }
    }

    /// The file the event acts on, to fill in.
    pub fn file_mut(&mut self) -> Option<&mut File> {
        match self {
            EventBody::Exec { exec } => Some(&mut exec.file),
            EventBody::Open { open } => Some(&mut open.file),
            EventBody::Unlink { unlink } => Some(&mut unlink.file),
            EventBody::Rename { rename: e }
            | EventBody::Rmdir { rmdir: e }
            | EventBody::Link { link: e }
            | EventBody::Symlink { symlink: e }
            | EventBody::Utimes { utimes: e }
            | EventBody::Chdir { chdir: e } => Some(&mut e.file),
            EventBody::Mkdir { mkdir: e } | EventBody::Chmod { chmod: e } => Some(&mut e.file),
            EventBody::Chown { chown } => Some(&mut chown.file),
            EventBody::LoadModule { load_module } => Some(&mut load_module.file),
            EventBody::Umount { umount } => Some(&mut umount.file),
            _ => None,
        }
    }

    /// Returns the event type of this body.
    pub fn kind(&self) -> EventKind {
        match self {
            EventBody::Exec { .. } => EventKind::Exec,
            EventBody::Fork { .. } => EventKind::Fork,
            EventBody::Exit { .. } => EventKind::Exit,
            EventBody::Open { .. } => EventKind::Open,
            EventBody::Unlink { .. } => EventKind::Unlink,
            EventBody::Rename { .. } => EventKind::Rename,
            EventBody::Mkdir { .. } => EventKind::Mkdir,
            EventBody::Rmdir { .. } => EventKind::Rmdir,
            EventBody::Chmod { .. } => EventKind::Chmod,
            EventBody::Chown { .. } => EventKind::Chown,
            EventBody::Link { .. } => EventKind::Link,
            EventBody::Symlink { .. } => EventKind::Symlink,
            EventBody::Utimes { .. } => EventKind::Utimes,
            EventBody::Setuid { .. } => EventKind::Setuid,
            EventBody::Setgid { .. } => EventKind::Setgid,
            EventBody::Capset { .. } => EventKind::Capset,
            EventBody::LoadModule { .. } => EventKind::LoadModule,
            EventBody::UnloadModule { .. } => EventKind::UnloadModule,
            EventBody::Mount { .. } => EventKind::Mount,
            EventBody::Umount { .. } => EventKind::Umount,
            EventBody::Bind { .. } => EventKind::Bind,
            EventBody::Connect { .. } => EventKind::Connect,
            EventBody::Accept { .. } => EventKind::Accept,
            EventBody::Ptrace { .. } => EventKind::Ptrace,
            EventBody::Chdir { .. } => EventKind::Chdir,
            EventBody::Prctl { .. } => EventKind::Prctl,
            EventBody::MemfdCreate { .. } => EventKind::MemfdCreate,
            EventBody::IoUring { .. } => EventKind::IoUring,
            EventBody::Dns { .. } => EventKind::Dns,
            EventBody::ForeignAbi { .. } => EventKind::ForeignAbi,
            EventBody::Lost { .. } => EventKind::Lost,
            EventBody::Signal { .. } => EventKind::Signal,
        }
    }
}

/// exec: the new program and its arguments. The event's `process` is the
/// process after the exec, with the credentials it runs with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecEvent {
    /// The executed file (the path passed to execve, resolved).
    pub file: File,
    /// Arguments.
    #[serde(default)]
    pub argv: Vec<String>,
    /// Environment: variable names, plus `NAME=value` for an allow-list of
    /// variables such as `LD_PRELOAD` and `PATH`.
    #[serde(default)]
    pub envp: Vec<String>,
    /// True when `argv` was cut to the tracer's bounds (4 KiB per entry,
    /// 64 KiB per list).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub args_truncated: bool,
    /// True when `envp` was cut to the tracer's bounds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub envs_truncated: bool,
    /// True when the process was found by the `/proc` scanner rather than
    /// traced (for example a `kubectl exec` shell).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub procfs: bool,
    /// Syscall return value (0, or negative errno on failure).
    pub retval: i64,
}

/// fork: a new process. The event's `process` is the parent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkEvent {
    /// Pid of the new process.
    pub child_pid: u32,
    /// clone flags (0 for fork, `CLONE_VM|CLONE_VFORK` for vfork).
    pub flags: u64,
    /// Pid of the new process, or negative errno.
    pub retval: i64,
}

/// exit: the process ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitEvent {
    /// Exit status, or the signal number when `cause` is `SIGNALED` or
    /// `COREDUMPED`.
    pub code: i32,
    /// `EXITED`, `SIGNALED` or `COREDUMPED`, as SECL spells it.
    pub cause: String,
}

/// open: a file opened or created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenEvent {
    /// The file (`memfd:NAME` for a memfd reopened through /proc).
    pub file: File,
    /// open flags (`O_CREAT`, `O_WRONLY`, ...).
    pub flags: u32,
    /// Creation mode.
    pub mode: u32,
    /// File descriptor, or negative errno.
    pub retval: i64,
}

/// unlink: a file removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlinkEvent {
    /// The removed file.
    pub file: File,
    /// unlinkat flags.
    pub flags: u32,
    /// Syscall return value.
    pub retval: i64,
}

/// An event about one file, or a source and a destination (rename, link,
/// symlink: `file.destination`). For symlink, `file.path` is the link target
/// as written and `file.destination.path` the new link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEvent {
    /// The file.
    pub file: File,
    /// Syscall return value.
    pub retval: i64,
    /// The path argument as the caller wrote it, for chdir (`syscall.path`
    /// in SECL); empty for the other events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub syscall_path: String,
}

/// mkdir or chmod: a file and a mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeEvent {
    /// The file.
    pub file: File,
    /// The requested mode (SECL `file.destination.mode`).
    pub mode: u32,
    /// Syscall return value.
    pub retval: i64,
}

/// chown: a file and the new owner. `-1` keeps the owner or group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChownEvent {
    /// The file.
    pub file: File,
    /// New owner (SECL `file.destination.uid`).
    pub uid: i64,
    /// New group (SECL `file.destination.gid`).
    pub gid: i64,
    /// Syscall return value.
    pub retval: i64,
}

/// setuid family: the requested user ids. `-1` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetuidEvent {
    /// Real user id.
    pub uid: i64,
    /// Effective user id.
    pub euid: i64,
    /// Filesystem user id.
    pub fsuid: i64,
    /// Syscall return value.
    pub retval: i64,
}

/// setgid family: the requested group ids. `-1` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetgidEvent {
    /// Real group id.
    pub gid: i64,
    /// Effective group id.
    pub egid: i64,
    /// Filesystem group id.
    pub fsgid: i64,
    /// Syscall return value.
    pub retval: i64,
}

/// capset: the requested capability sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapsetEvent {
    /// Effective set.
    pub cap_effective: u64,
    /// Permitted set.
    pub cap_permitted: u64,
    /// Syscall return value.
    pub retval: i64,
}

/// load_module: init_module or finit_module.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadModuleEvent {
    /// The module file (finit_module), empty for init_module.
    pub file: File,
    /// Module name, when known.
    #[serde(default)]
    pub name: String,
    /// Module parameters.
    #[serde(default)]
    pub args: String,
    /// True for init_module (image in memory).
    pub loaded_from_memory: bool,
    /// Syscall return value.
    pub retval: i64,
}

/// unload_module: delete_module.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnloadModuleEvent {
    /// Module name.
    pub name: String,
    /// Syscall return value.
    pub retval: i64,
}

/// mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountEvent {
    /// Mount source (device or directory).
    pub source: File,
    /// Mount point.
    pub mountpoint: File,
    /// Filesystem type.
    pub fs_type: String,
    /// mount flags.
    pub flags: u64,
    /// Syscall return value.
    pub retval: i64,
}

/// umount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UmountEvent {
    /// Mount point.
    pub file: File,
    /// umount2 flags.
    pub flags: u32,
    /// Syscall return value.
    pub retval: i64,
}

/// A socket address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Address family (`AF_INET` = 2, `AF_INET6` = 10, `AF_UNIX` = 1).
    pub family: u16,
    /// IP address in text form, empty for other families.
    #[serde(default)]
    pub ip: String,
    /// Port, 0 for other families.
    #[serde(default)]
    pub port: u16,
    /// The name a traced process resolved to `ip` through DNS, from the
    /// answers it received; empty when unknown. Set on connect events only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// Socket path for `AF_UNIX` (abstract names start with `@`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
}

/// bind, connect or accept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketEvent {
    /// Local address (bind), remote address (connect) or peer (accept).
    pub addr: Address,
    /// Syscall return value.
    pub retval: i64,
}

/// A reference to another process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    /// Pid.
    pub pid: u32,
    /// Effective user id, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub euid: Option<u32>,
    /// Executable, when known.
    #[serde(default)]
    pub file: File,
}

/// ptrace: a request made by a traced process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PtraceEvent {
    /// Request (`PTRACE_ATTACH` = 16, `PTRACE_POKETEXT` = 4, ...).
    pub request: u32,
    /// The target process.
    pub tracee: ProcessRef,
    /// The address argument.
    pub address: u64,
    /// Syscall return value.
    pub retval: i64,
}

/// prctl.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrctlEvent {
    /// Option (`PR_SET_NAME` = 15, ...).
    pub option: i32,
    /// Second argument.
    pub arg2: u64,
    /// New name for `PR_SET_NAME`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub new_name: String,
    /// Syscall return value.
    pub retval: i64,
}

/// memfd_create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemfdCreateEvent {
    /// Name given by the caller.
    pub name: String,
    /// memfd flags.
    pub flags: u32,
    /// File descriptor, or negative errno.
    pub retval: i64,
}

/// io_uring_setup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoUringEvent {
    /// Requested queue entries.
    pub entries: u32,
    /// Setup flags.
    pub flags: u32,
    /// File descriptor, or negative errno.
    pub retval: i64,
}

/// dns: one DNS query a traced process sent, over UDP or TCP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsEvent {
    /// The query's transaction id.
    pub id: u16,
    /// The first question of the query.
    pub question: DnsQuestion,
}

/// The question of a DNS query, as SECL names its fields (`dns.question.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsQuestion {
    /// The queried name in dotted form, without the trailing dot
    /// (`example.com`). Labels are lowercased; bytes outside printable ASCII
    /// are written as `\DDD` (decimal), as in zone files.
    pub name: String,
    /// Query type (A = 1, AAAA = 28, TXT = 16, SRV = 33, ...).
    #[serde(rename = "type")]
    pub qtype: u16,
    /// Query class (IN = 1).
    pub class: u16,
    /// Number of questions in the query (`QDCOUNT`).
    pub count: u16,
    /// Size of the query message in bytes, without the TCP length prefix.
    pub length: u16,
}

/// A syscall made through another ABI than the native one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignAbiEvent {
    /// `i386` or `x32`.
    pub abi: String,
    /// Syscall number in that ABI.
    pub syscall_nr: u64,
    /// Syscall name in that ABI, when known.
    #[serde(default)]
    pub syscall: String,
    /// The six argument registers.
    pub args: [u64; 6],
}

/// signal: a signal sent by a traced process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalEvent {
    /// Signal number (SECL `signal.type`); 0 checks that the target exists.
    #[serde(rename = "type")]
    pub signal_type: u32,
    /// The target as the caller named it: a pid or tid, 0 for the caller's
    /// process group, -1 for every process it may signal, `-PGID` for a
    /// process group. For pidfd_send_signal, the pid the pidfd refers to.
    pub pid: i64,
    /// The target process, when `pid` names one.
    pub target: SignalTarget,
    /// Syscall return value. 0 when `target.is_tracer` is set, because the
    /// event is sent before the signal reaches the tracer.
    pub retval: i64,
}

/// The process a signal is sent to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalTarget {
    /// Thread group id of the target, 0 for a group of processes.
    pub pid: u32,
    /// Command name of the target.
    #[serde(default)]
    pub comm: String,
    /// Executable of the target, when it can be read.
    #[serde(default)]
    pub file: File,
    /// True when the signal reaches the tracer itself: its pid, one of its
    /// threads, its process group, or every process (-1).
    #[serde(default)]
    pub is_tracer: bool,
}

/// lost: events the tracer dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostEvent {
    /// Number of events dropped.
    pub count: u64,
    /// The reason for the drop (`buffer full`, `decode failed`, ...).
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_open() -> Event {
        Event {
            timestamp: "2026-01-01T00:00:00.000000Z".into(),
            process: Process {
                pid: 42,
                tid: 42,
                ppid: 1,
                comm: "cat".into(),
                file: File::from_path("/usr/bin/cat"),
                argv: vec!["cat".into(), "/etc/shadow".into()],
                cwd: "/".into(),
                ..Process::default()
            },
            body: EventBody::Open {
                open: OpenEvent {
                    file: File::from_path("/etc/shadow"),
                    flags: 524288,
                    mode: 0,
                    retval: 3,
                },
            },
        }
    }

    #[test]
    fn body_sits_under_key_named_by_type() {
        let value = serde_json::to_value(sample_open()).unwrap();
        assert_eq!(value["type"], "open");
        assert_eq!(value["open"]["file"]["path"], "/etc/shadow");
        assert_eq!(value["open"]["file"]["name"], "shadow");
        assert_eq!(value["process"]["file"]["name"], "cat");
    }

    #[test]
    fn event_round_trips_through_json() {
        let event = sample_open();
        let text = serde_json::to_string(&event).unwrap();
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn every_kind_name_parses_back() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::from_name("bpf"), None);
    }

    #[test]
    fn dns_event_uses_secl_names() {
        let event = Event {
            body: EventBody::Dns {
                dns: DnsEvent {
                    id: 7,
                    question: DnsQuestion {
                        name: "example.com".into(),
                        qtype: 28,
                        class: 1,
                        count: 1,
                        length: 29,
                    },
                },
            },
            ..sample_open()
        };
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["type"], "dns");
        assert_eq!(value["dns"]["id"], 7);
        assert_eq!(value["dns"]["question"]["name"], "example.com");
        assert_eq!(value["dns"]["question"]["type"], 28);
        let back: Event = serde_json::from_value(value).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn empty_hostname_is_not_serialized() {
        let mut address = Address {
            family: 2,
            ip: "127.0.0.1".into(),
            port: 80,
            ..Address::default()
        };
        let value = serde_json::to_value(&address).unwrap();
        assert!(value.get("hostname").is_none());
        address.hostname = "example.com".into();
        let value = serde_json::to_value(&address).unwrap();
        assert_eq!(value["hostname"], "example.com");
    }

    #[test]
    fn tags_and_user_session_are_shared_and_optional() {
        let mut event = sample_open();
        let value = serde_json::to_value(&event).unwrap();
        assert!(value["process"]["container"].get("tags").is_none());
        assert!(value["process"].get("user_session").is_none());

        event.process.container.tags = Some(Arc::from(vec!["env:prod".to_string()]));
        event.process.user_session = Some(Arc::new(UserSession {
            k8s_username: "alice".into(),
            ..UserSession::default()
        }));
        let copy = event.process.clone();
        let (Some(tags), Some(copied)) = (&event.process.container.tags, &copy.container.tags)
        else {
            panic!("tags lost in the copy");
        };
        assert!(Arc::ptr_eq(tags, copied));

        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["process"]["container"]["tags"][0], "env:prod");
        assert_eq!(value["process"]["user_session"]["k8s_username"], "alice");
        let back: Event = serde_json::from_value(value).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn base_name_of_paths() {
        assert_eq!(base_name("/usr/bin/cat"), "cat");
        assert_eq!(base_name("/tmp/dir/"), "dir");
        assert_eq!(base_name("memfd:x"), "memfd:x");
        assert_eq!(base_name("/"), "");
    }
}
