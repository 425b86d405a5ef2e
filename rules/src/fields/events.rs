//! Fields that belong to one event type, by full name.

use std::borrow::Cow;

use protocol::{EventBody, EventKind};

use super::{int, text, EventGetter, FieldType, Value};

/// Fields of one event type, by full name.
pub(super) const EVENT_FIELDS: &[(&str, FieldType, EventKind, EventGetter)] = &[
    (
        "exec.envs",
        FieldType::StrList,
        EventKind::Exec,
        |e| match &e.body {
            EventBody::Exec { exec } => Some(Value::List(Cow::Owned(
                exec.envp
                    .iter()
                    .map(|v| v.split('=').next().unwrap_or(v).to_string())
                    .collect(),
            ))),
            _ => None,
        },
    ),
    (
        "exec.envp",
        FieldType::StrList,
        EventKind::Exec,
        |e| match &e.body {
            EventBody::Exec { exec } => Some(Value::List(Cow::Borrowed(&exec.envp))),
            _ => None,
        },
    ),
    (
        "exec.args_truncated",
        FieldType::Bool,
        EventKind::Exec,
        |e| match &e.body {
            EventBody::Exec { exec } => Some(Value::Bool(exec.args_truncated)),
            _ => None,
        },
    ),
    (
        "exec.envs_truncated",
        FieldType::Bool,
        EventKind::Exec,
        |e| match &e.body {
            EventBody::Exec { exec } => Some(Value::Bool(exec.envs_truncated)),
            _ => None,
        },
    ),
    (
        "exec.is_procfs",
        FieldType::Bool,
        EventKind::Exec,
        |e| match &e.body {
            EventBody::Exec { exec } => Some(Value::Bool(exec.procfs)),
            _ => None,
        },
    ),
    (
        "exit.cause",
        FieldType::Int,
        EventKind::Exit,
        |e| match &e.body {
            EventBody::Exit { exit } => Some(int(exit_cause(&exit.cause))),
            _ => None,
        },
    ),
    ("exit.code", FieldType::Int, EventKind::Exit, |e| {
        match &e.body {
            EventBody::Exit { exit } => Some(int(exit.code)),
            _ => None,
        }
    }),
    (
        "fork.child_pid",
        FieldType::Int,
        EventKind::Fork,
        |e| match &e.body {
            EventBody::Fork { fork } => Some(int(fork.child_pid)),
            _ => None,
        },
    ),
    (
        "fork.flags",
        FieldType::Int,
        EventKind::Fork,
        |e| match &e.body {
            EventBody::Fork { fork } => Some(Value::Int(fork.flags as i64)),
            _ => None,
        },
    ),
    (
        "open.flags",
        FieldType::Int,
        EventKind::Open,
        |e| match &e.body {
            EventBody::Open { open } => Some(int(open.flags)),
            _ => None,
        },
    ),
    (
        "open.file.destination.mode",
        FieldType::Int,
        EventKind::Open,
        |e| match &e.body {
            EventBody::Open { open } => Some(int(open.mode)),
            _ => None,
        },
    ),
    (
        "unlink.flags",
        FieldType::Int,
        EventKind::Unlink,
        |e| match &e.body {
            EventBody::Unlink { unlink } => Some(int(unlink.flags)),
            _ => None,
        },
    ),
    (
        "mkdir.file.destination.mode",
        FieldType::Int,
        EventKind::Mkdir,
        |e| match &e.body {
            EventBody::Mkdir { mkdir } => Some(int(mkdir.mode)),
            _ => None,
        },
    ),
    (
        "chmod.file.destination.mode",
        FieldType::Int,
        EventKind::Chmod,
        |e| match &e.body {
            EventBody::Chmod { chmod } => Some(Value::Int(super::file::chmod_new_mode(
                &chmod.file,
                chmod.mode,
            ))),
            _ => None,
        },
    ),
    (
        "chown.file.destination.uid",
        FieldType::Int,
        EventKind::Chown,
        |e| match &e.body {
            EventBody::Chown { chown } => Some(Value::Int(super::file::chown_new_id(
                &chown.file,
                chown.uid,
                |stat| stat.uid,
            ))),
            _ => None,
        },
    ),
    (
        "chown.file.destination.gid",
        FieldType::Int,
        EventKind::Chown,
        |e| match &e.body {
            EventBody::Chown { chown } => Some(Value::Int(super::file::chown_new_id(
                &chown.file,
                chown.gid,
                |stat| stat.gid,
            ))),
            _ => None,
        },
    ),
    (
        "setuid.uid",
        FieldType::Int,
        EventKind::Setuid,
        |e| match &e.body {
            EventBody::Setuid { setuid } => Some(Value::Int(setuid.uid)),
            _ => None,
        },
    ),
    (
        "setuid.euid",
        FieldType::Int,
        EventKind::Setuid,
        |e| match &e.body {
            EventBody::Setuid { setuid } => Some(Value::Int(setuid.euid)),
            _ => None,
        },
    ),
    (
        "setuid.fsuid",
        FieldType::Int,
        EventKind::Setuid,
        |e| match &e.body {
            EventBody::Setuid { setuid } => Some(Value::Int(setuid.fsuid)),
            _ => None,
        },
    ),
    (
        "setgid.gid",
        FieldType::Int,
        EventKind::Setgid,
        |e| match &e.body {
            EventBody::Setgid { setgid } => Some(Value::Int(setgid.gid)),
            _ => None,
        },
    ),
    (
        "setgid.egid",
        FieldType::Int,
        EventKind::Setgid,
        |e| match &e.body {
            EventBody::Setgid { setgid } => Some(Value::Int(setgid.egid)),
            _ => None,
        },
    ),
    (
        "setgid.fsgid",
        FieldType::Int,
        EventKind::Setgid,
        |e| match &e.body {
            EventBody::Setgid { setgid } => Some(Value::Int(setgid.fsgid)),
            _ => None,
        },
    ),
    (
        "capset.cap_effective",
        FieldType::Int,
        EventKind::Capset,
        |e| match &e.body {
            EventBody::Capset { capset } => Some(Value::Int(capset.cap_effective as i64)),
            _ => None,
        },
    ),
    (
        "capset.cap_permitted",
        FieldType::Int,
        EventKind::Capset,
        |e| match &e.body {
            EventBody::Capset { capset } => Some(Value::Int(capset.cap_permitted as i64)),
            _ => None,
        },
    ),
    (
        "load_module.name",
        FieldType::Str,
        EventKind::LoadModule,
        |e| match &e.body {
            EventBody::LoadModule { load_module } => Some(text(&load_module.name)),
            _ => None,
        },
    ),
    (
        "load_module.args",
        FieldType::Str,
        EventKind::LoadModule,
        |e| match &e.body {
            EventBody::LoadModule { load_module } => Some(text(&load_module.args)),
            _ => None,
        },
    ),
    (
        "load_module.loaded_from_memory",
        FieldType::Bool,
        EventKind::LoadModule,
        |e| match &e.body {
            EventBody::LoadModule { load_module } => {
                Some(Value::Bool(load_module.loaded_from_memory))
            }
            _ => None,
        },
    ),
    (
        "unload_module.name",
        FieldType::Str,
        EventKind::UnloadModule,
        |e| match &e.body {
            EventBody::UnloadModule { unload_module } => Some(text(&unload_module.name)),
            _ => None,
        },
    ),
    (
        "mount.mountpoint.path",
        FieldType::Path,
        EventKind::Mount,
        |e| match &e.body {
            EventBody::Mount { mount } => Some(text(&mount.mountpoint.path)),
            _ => None,
        },
    ),
    (
        "mount.source.path",
        FieldType::Path,
        EventKind::Mount,
        |e| match &e.body {
            EventBody::Mount { mount } => Some(text(&mount.source.path)),
            _ => None,
        },
    ),
    (
        "mount.fs_type",
        FieldType::Str,
        EventKind::Mount,
        |e| match &e.body {
            EventBody::Mount { mount } => Some(text(&mount.fs_type)),
            _ => None,
        },
    ),
    (
        "mount.flags",
        FieldType::Int,
        EventKind::Mount,
        |e| match &e.body {
            EventBody::Mount { mount } => Some(Value::Int(mount.flags as i64)),
            _ => None,
        },
    ),
    (
        "ptrace.request",
        FieldType::Int,
        EventKind::Ptrace,
        |e| match &e.body {
            EventBody::Ptrace { ptrace } => Some(int(ptrace.request)),
            _ => None,
        },
    ),
    (
        "ptrace.tracee.pid",
        FieldType::Int,
        EventKind::Ptrace,
        |e| match &e.body {
            EventBody::Ptrace { ptrace } => Some(int(ptrace.tracee.pid)),
            _ => None,
        },
    ),
    (
        "ptrace.tracee.euid",
        FieldType::Int,
        EventKind::Ptrace,
        |e| match &e.body {
            // -1 when the tracee's credentials could not be read.
            EventBody::Ptrace { ptrace } => {
                Some(Value::Int(ptrace.tracee.euid.map_or(-1, i64::from)))
            }
            _ => None,
        },
    ),
    (
        "chdir.syscall.path",
        FieldType::Path,
        EventKind::Chdir,
        |e| match &e.body {
            EventBody::Chdir { chdir } => Some(text(&chdir.syscall_path)),
            _ => None,
        },
    ),
    (
        "ptrace.tracee.file.path",
        FieldType::Path,
        EventKind::Ptrace,
        |e| match &e.body {
            EventBody::Ptrace { ptrace } => Some(text(&ptrace.tracee.file.path)),
            _ => None,
        },
    ),
    (
        "ptrace.tracee.file.name",
        FieldType::Str,
        EventKind::Ptrace,
        |e| match &e.body {
            EventBody::Ptrace { ptrace } => Some(text(&ptrace.tracee.file.name)),
            _ => None,
        },
    ),
    (
        "prctl.option",
        FieldType::Int,
        EventKind::Prctl,
        |e| match &e.body {
            EventBody::Prctl { prctl } => Some(int(prctl.option)),
            _ => None,
        },
    ),
    (
        "prctl.new_name",
        FieldType::Str,
        EventKind::Prctl,
        |e| match &e.body {
            EventBody::Prctl { prctl } => Some(text(&prctl.new_name)),
            _ => None,
        },
    ),
    (
        "memfd_create.name",
        FieldType::Str,
        EventKind::MemfdCreate,
        |e| match &e.body {
            EventBody::MemfdCreate { memfd_create } => Some(text(&memfd_create.name)),
            _ => None,
        },
    ),
    (
        "memfd_create.flags",
        FieldType::Int,
        EventKind::MemfdCreate,
        |e| match &e.body {
            EventBody::MemfdCreate { memfd_create } => Some(int(memfd_create.flags)),
            _ => None,
        },
    ),
    (
        "io_uring.entries",
        FieldType::Int,
        EventKind::IoUring,
        |e| match &e.body {
            EventBody::IoUring { io_uring } => Some(int(io_uring.entries)),
            _ => None,
        },
    ),
    (
        "io_uring.flags",
        FieldType::Int,
        EventKind::IoUring,
        |e| match &e.body {
            EventBody::IoUring { io_uring } => Some(int(io_uring.flags)),
            _ => None,
        },
    ),
    (
        "connect.addr.hostname",
        FieldType::Str,
        EventKind::Connect,
        |e| match &e.body {
            EventBody::Connect { connect } => Some(text(&connect.addr.hostname)),
            _ => None,
        },
    ),
    ("dns.id", FieldType::Int, EventKind::Dns, |e| {
        match &e.body {
            EventBody::Dns { dns } => Some(int(dns.id)),
            _ => None,
        }
    }),
    (
        "dns.question.name",
        FieldType::Str,
        EventKind::Dns,
        |e| match &e.body {
            EventBody::Dns { dns } => Some(text(&dns.question.name)),
            _ => None,
        },
    ),
    (
        "dns.question.type",
        FieldType::Int,
        EventKind::Dns,
        |e| match &e.body {
            EventBody::Dns { dns } => Some(int(dns.question.qtype)),
            _ => None,
        },
    ),
    (
        "dns.question.class",
        FieldType::Int,
        EventKind::Dns,
        |e| match &e.body {
            EventBody::Dns { dns } => Some(int(dns.question.class)),
            _ => None,
        },
    ),
    (
        "dns.question.count",
        FieldType::Int,
        EventKind::Dns,
        |e| match &e.body {
            EventBody::Dns { dns } => Some(int(dns.question.count)),
            _ => None,
        },
    ),
    (
        "dns.question.length",
        FieldType::Int,
        EventKind::Dns,
        |e| match &e.body {
            EventBody::Dns { dns } => Some(int(dns.question.length)),
            _ => None,
        },
    ),
    (
        "foreign_abi.abi",
        FieldType::Str,
        EventKind::ForeignAbi,
        |e| match &e.body {
            EventBody::ForeignAbi { foreign_abi } => Some(text(&foreign_abi.abi)),
            _ => None,
        },
    ),
    (
        "foreign_abi.syscall",
        FieldType::Str,
        EventKind::ForeignAbi,
        |e| match &e.body {
            EventBody::ForeignAbi { foreign_abi } => Some(text(&foreign_abi.syscall)),
            _ => None,
        },
    ),
    (
        "foreign_abi.syscall_nr",
        FieldType::Int,
        EventKind::ForeignAbi,
        |e| match &e.body {
            EventBody::ForeignAbi { foreign_abi } => {
                Some(Value::Int(foreign_abi.syscall_nr as i64))
            }
            _ => None,
        },
    ),
    (
        "signal.type",
        FieldType::Int,
        EventKind::Signal,
        |e| match &e.body {
            EventBody::Signal { signal } => Some(int(signal.signal_type)),
            _ => None,
        },
    ),
    (
        "signal.pid",
        FieldType::Int,
        EventKind::Signal,
        |e| match &e.body {
            EventBody::Signal { signal } => Some(Value::Int(signal.pid)),
            _ => None,
        },
    ),
    (
        "signal.target.pid",
        FieldType::Int,
        EventKind::Signal,
        |e| match &e.body {
            EventBody::Signal { signal } => Some(int(signal.target.pid)),
            _ => None,
        },
    ),
    (
        "signal.target.comm",
        FieldType::Str,
        EventKind::Signal,
        |e| match &e.body {
            EventBody::Signal { signal } => Some(text(&signal.target.comm)),
            _ => None,
        },
    ),
    (
        "signal.target.file.path",
        FieldType::Path,
        EventKind::Signal,
        |e| match &e.body {
            EventBody::Signal { signal } => Some(text(&signal.target.file.path)),
            _ => None,
        },
    ),
    (
        "signal.target.file.name",
        FieldType::Str,
        EventKind::Signal,
        |e| match &e.body {
            EventBody::Signal { signal } => Some(text(&signal.target.file.name)),
            _ => None,
        },
    ),
    (
        "signal.target.is_tracer",
        FieldType::Bool,
        EventKind::Signal,
        |e| match &e.body {
            EventBody::Signal { signal } => Some(Value::Bool(signal.target.is_tracer)),
            _ => None,
        },
    ),
    (
        "lost.count",
        FieldType::Int,
        EventKind::Lost,
        |e| match &e.body {
            EventBody::Lost { lost } => Some(Value::Int(lost.count as i64)),
            _ => None,
        },
    ),
];

/// Maps the exit cause to SECL's numbering (`EXITED` 0, `COREDUMPED` 1, `SIGNALED` 2).
fn exit_cause(cause: &str) -> i64 {
    match cause {
        "COREDUMPED" => 1,
        "SIGNALED" => 2,
        _ => 0,
    }
}
