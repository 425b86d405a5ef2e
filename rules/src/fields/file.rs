//! Fields from a file's `stat`, filesystem and layer, and the fields that
//! compare a time with a duration.
//!
//! A time field (`file.change_time`, `container.created_at`) compared with a
//! duration (`< 30s`) reads as the time elapsed since it, measured when the
//! rule is evaluated. A time that is not known reads as elapsed since the
//! Unix epoch, so it is never recent.

use std::time::{SystemTime, UNIX_EPOCH};

use protocol::{EventBody, EventKind, File, FileStat, Process};

use super::{int, text, EventGetter, FieldType, ProcessGetter, Value};

/// Nanoseconds elapsed since `epoch_ns`.
pub(super) fn elapsed_since(epoch_ns: u64) -> Value<'static> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as i64);
    Value::Int(now.saturating_sub(epoch_ns as i64))
}

/// Reads one `stat` value; -1 when the event carries no `stat`, which no
/// owner, mode or inode equals.
fn stat_int(file: &File, read: fn(&FileStat) -> u32) -> Value<'static> {
    Value::Int(file.stat.as_ref().map_or(-1, |stat| i64::from(read(stat))))
}

fn owner_name(file: &File, read: fn(&FileStat) -> u32) -> Value<'static> {
    // NOTE: only id 0 is named, because the workload's /etc/passwd is not read.
    text(match file.stat.as_ref().map(read) {
        Some(0) => "root",
        _ => "",
    })
}

fn inode(file: &File) -> Value<'static> {
    Value::Int(file.stat.as_ref().map_or(-1, |stat| stat.inode as i64))
}

fn change_time(file: &File) -> Value<'static> {
    elapsed_since(file.stat.as_ref().map_or(0, |stat| stat.change_time))
}

fn modification_time(file: &File) -> Value<'static> {
    elapsed_since(file.stat.as_ref().map_or(0, |stat| stat.modification_time))
}

/// `process.file.*` fields from the executable's `stat`, relative to
/// `process.`.
pub(super) const PROCESS_FILE_FIELDS: &[(&str, FieldType, ProcessGetter)] = &[
    ("file.mode", FieldType::Int, |p| {
        stat_int(&p.file, |s| s.mode)
    }),
    ("file.uid", FieldType::Int, |p| stat_int(&p.file, |s| s.uid)),
    ("file.gid", FieldType::Int, |p| stat_int(&p.file, |s| s.gid)),
    ("file.user", FieldType::Str, |p| {
        owner_name(&p.file, |s| s.uid)
    }),
    ("file.group", FieldType::Str, |p| {
        owner_name(&p.file, |s| s.gid)
    }),
    ("file.inode", FieldType::Int, |p| inode(&p.file)),
    ("file.change_time", FieldType::Int, |p| change_time(&p.file)),
    ("file.modification_time", FieldType::Int, |p| {
        modification_time(&p.file)
    }),
    ("file.filesystem", FieldType::Str, |p| {
        text(&p.file.filesystem)
    }),
    ("file.in_upper_layer", FieldType::Bool, |p| {
        Value::Bool(p.file.in_upper_layer)
    }),
    ("interpreter.file.path", FieldType::Path, |p| {
        text(p.interpreter.as_ref().map_or("", |file| &file.path))
    }),
    ("interpreter.file.name", FieldType::Str, |p| {
        text(p.interpreter.as_ref().map_or("", |file| &file.name))
    }),
    ("tty_name", FieldType::Str, |p| text(&p.tty_name)),
    ("auid", FieldType::Int, |p| {
        int(p.auid.unwrap_or(protocol::AUID_UNSET))
    }),
    ("cgroup.id", FieldType::Str, |p| text(&p.cgroup.id)),
    ("cgroup.file.inode", FieldType::Int, |p| {
        int(p.cgroup.inode as i64)
    }),
    ("cap_effective", FieldType::Int, |p| {
        int(p.cap_effective as i64)
    }),
    ("cap_permitted", FieldType::Int, |p| {
        int(p.cap_permitted as i64)
    }),
    ("created_at", FieldType::Int, |p| {
        elapsed_since(p.start_time_ns)
    }),
];

/// Event types whose file carries a `stat` taken before the change.
pub(super) const STAT_EVENTS: &[EventKind] = &[EventKind::Chmod, EventKind::Chown];

fn stat_file(event: &protocol::Event) -> Option<&File> {
    match &event.body {
        EventBody::Chmod { chmod } => Some(&chmod.file),
        EventBody::Chown { chown } => Some(&chown.file),
        _ => None,
    }
}

/// `<type>.file.*` fields from the `stat` of chmod and chown.
pub(super) const STAT_FIELDS: &[(&str, FieldType, &[EventKind], EventGetter)] = &[
    ("file.mode", FieldType::Int, STAT_EVENTS, |e| {
        stat_file(e).map(|f| stat_int(f, |s| s.mode))
    }),
    ("file.uid", FieldType::Int, STAT_EVENTS, |e| {
        stat_file(e).map(|f| stat_int(f, |s| s.uid))
    }),
    ("file.gid", FieldType::Int, STAT_EVENTS, |e| {
        stat_file(e).map(|f| stat_int(f, |s| s.gid))
    }),
    ("file.user", FieldType::Str, STAT_EVENTS, |e| {
        stat_file(e).map(|f| owner_name(f, |s| s.uid))
    }),
    ("file.group", FieldType::Str, STAT_EVENTS, |e| {
        stat_file(e).map(|f| owner_name(f, |s| s.gid))
    }),
    ("file.inode", FieldType::Int, STAT_EVENTS, |e| {
        stat_file(e).map(inode)
    }),
    ("file.change_time", FieldType::Int, STAT_EVENTS, |e| {
        stat_file(e).map(change_time)
    }),
    ("file.modification_time", FieldType::Int, STAT_EVENTS, |e| {
        stat_file(e).map(modification_time)
    }),
    ("file.in_upper_layer", FieldType::Bool, STAT_EVENTS, |e| {
        stat_file(e).map(|f| Value::Bool(f.in_upper_layer))
    }),
];

/// Returns the new mode of a chmod as the kernel stores it: the requested
/// permission bits with the file's type bits, so that it equals
/// `chmod.file.mode` when nothing changes.
pub(super) fn chmod_new_mode(file: &File, requested: u32) -> i64 {
    match &file.stat {
        Some(stat) => i64::from(requested & 0o7777 | stat.mode & S_IFMT),
        None => i64::from(requested),
    }
}

/// Returns the new owner id of a chown, where -1 keeps the current one.
pub(super) fn chown_new_id(file: &File, requested: i64, current: fn(&FileStat) -> u32) -> i64 {
    match (&file.stat, requested) {
        (Some(stat), -1) => i64::from(current(stat)),
        _ => requested,
    }
}

/// `S_IFMT`: the file type bits of `st_mode`.
const S_IFMT: u32 = 0o170000;

/// Returns the time elapsed since the container of `process` started.
pub(super) fn container_created_at(process: &Process) -> Value<'static> {
    elapsed_since(process.container.created_at)
}
