//! Fields shared by several event types: the file (and destination) of file
//! events, the address of socket events, and return values.

use std::net::IpAddr;

use protocol::{Address, Event, EventBody, EventKind, File};

use super::{int, text, EventGetter, FieldType, Value};

fn file_of(event: &Event) -> Option<&File> {
    event.body.file()
}

fn destination_of(event: &Event) -> Option<&File> {
    file_of(event).and_then(|file| file.destination.as_deref())
}

fn extension(name: &str) -> &str {
    match name.rfind('.') {
        Some(index) if index > 0 => &name[index + 1..],
        _ => "",
    }
}

fn address_of(event: &Event) -> Option<&Address> {
    match &event.body {
        EventBody::Bind { bind: e }
        | EventBody::Connect { connect: e }
        | EventBody::Accept { accept: e } => Some(&e.addr),
        _ => None,
    }
}

pub(super) fn is_public(ip: &str) -> bool {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 100 && v4.octets()[1] & 0xc0 == 64)
        }
        Ok(IpAddr::V6(v6)) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || first & 0xfe00 == 0xfc00
                || first & 0xffc0 == 0xfe80)
        }
        Err(_) => false,
    }
}

pub(super) fn retval(event: &Event) -> Option<i64> {
    Some(match &event.body {
        EventBody::Exec { exec } => exec.retval,
        EventBody::Fork { fork } => fork.retval,
        EventBody::Open { open } => open.retval,
        EventBody::Unlink { unlink } => unlink.retval,
        EventBody::Rename { rename: e }
        | EventBody::Rmdir { rmdir: e }
        | EventBody::Link { link: e }
        | EventBody::Symlink { symlink: e }
        | EventBody::Utimes { utimes: e }
        | EventBody::Chdir { chdir: e } => e.retval,
        EventBody::Mkdir { mkdir: e } | EventBody::Chmod { chmod: e } => e.retval,
        EventBody::Chown { chown } => chown.retval,
        EventBody::Setuid { setuid } => setuid.retval,
        EventBody::Setgid { setgid } => setgid.retval,
        EventBody::Capset { capset } => capset.retval,
        EventBody::LoadModule { load_module } => load_module.retval,
        EventBody::UnloadModule { unload_module } => unload_module.retval,
        EventBody::Mount { mount } => mount.retval,
        EventBody::Umount { umount } => umount.retval,
        EventBody::Bind { bind: e }
        | EventBody::Connect { connect: e }
        | EventBody::Accept { accept: e } => e.retval,
        EventBody::Ptrace { ptrace } => ptrace.retval,
        EventBody::Prctl { prctl } => prctl.retval,
        EventBody::MemfdCreate { memfd_create } => memfd_create.retval,
        EventBody::IoUring { io_uring } => io_uring.retval,
        EventBody::Signal { signal } => signal.retval,
        EventBody::Exit { .. }
        | EventBody::Dns { .. }
        | EventBody::ForeignAbi { .. }
        | EventBody::Lost { .. } => return None,
    })
}

/// Event types whose `file` is the SECL `<type>.file`.
const FILE_EVENTS: &[EventKind] = &[
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
    EventKind::Chdir,
    EventKind::LoadModule,
    EventKind::Umount,
];

/// Event types with a `file.destination`.
const DESTINATION_EVENTS: &[EventKind] = &[EventKind::Rename, EventKind::Link, EventKind::Symlink];

/// Event types with an address.
const SOCKET_EVENTS: &[EventKind] = &[EventKind::Bind, EventKind::Connect, EventKind::Accept];

/// Fields shared by several event types, relative to `<type>.`.
pub(super) const SHARED_FIELDS: &[(&str, FieldType, &[EventKind], EventGetter)] = &[
    ("file.path", FieldType::Path, FILE_EVENTS, |e| {
        file_of(e).map(|f| text(&f.path))
    }),
    ("file.name", FieldType::Str, FILE_EVENTS, |e| {
        file_of(e).map(|f| text(&f.name))
    }),
    ("file.filesystem", FieldType::Str, FILE_EVENTS, |e| {
        file_of(e).map(|f| text(&f.filesystem))
    }),
    ("file.extension", FieldType::Str, FILE_EVENTS, |e| {
        file_of(e).map(|f| text(extension(&f.name)))
    }),
    (
        "file.destination.path",
        FieldType::Path,
        DESTINATION_EVENTS,
        |e| destination_of(e).map(|f| text(&f.path)),
    ),
    (
        "file.destination.name",
        FieldType::Str,
        DESTINATION_EVENTS,
        |e| destination_of(e).map(|f| text(&f.name)),
    ),
    ("addr.ip", FieldType::Ip, SOCKET_EVENTS, |e| {
        address_of(e).map(|a| text(&a.ip))
    }),
    ("addr.port", FieldType::Int, SOCKET_EVENTS, |e| {
        address_of(e).map(|a| int(a.port))
    }),
    ("addr.family", FieldType::Int, SOCKET_EVENTS, |e| {
        address_of(e).map(|a| int(a.family))
    }),
    ("addr.path", FieldType::Path, SOCKET_EVENTS, |e| {
        address_of(e).map(|a| text(&a.path))
    }),
    ("addr.is_public", FieldType::Bool, SOCKET_EVENTS, |e| {
        address_of(e).map(|a| Value::Bool(is_public(&a.ip)))
    }),
];
