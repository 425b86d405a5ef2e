//! The field registry: every SECL field sentrace can evaluate, its type, the
//! event types that carry it, and its accessor.
//!
//! Process fields are written once (`file.path`, `uid`, ...) and exist under
//! `process.`, `process.parent.`, `process.ancestors.` and, for exec and exit
//! events, `exec.` and `exit.`. Event fields are one table keyed by their full
//! name. `sentrace rules fields` prints [`field_table`].
//!
//! `secl` lists the SECL fields sentrace does not produce, so that a rule
//! using one is unsupported while a misspelt name is an error. Variables of
//! SECL's `cgroup` scope live in the container scope (see `VarScope`).
//! `fim` names the `fim.write.file.*` shorthand, which the compiler expands
//! into file event fields.

use std::borrow::Cow;

use protocol::{Event, EventKind, Process};

mod common;
mod events;
mod file;
mod fim;
mod secl;
mod workload;

use common::{retval, SHARED_FIELDS};
use events::EVENT_FIELDS;
use file::{PROCESS_FILE_FIELDS, STAT_FIELDS};
pub(crate) use fim::{FimTarget, FIM_TARGETS, FIM_WRITE_PREFIX};
pub(crate) use secl::is_secl_field;
use workload::{container_tags, USER_SESSION_FIELDS};

/// The type of a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Signed integer.
    Int,
    /// Text.
    Str,
    /// A path: in globs `*` stops at `/` and `**` crosses it.
    Path,
    /// Boolean.
    Bool,
    /// An IP address, matched against addresses and CIDR ranges.
    Ip,
    /// A list of strings; a comparison is true when any element matches.
    StrList,
}

impl FieldType {
    /// Returns the name printed by `sentrace rules fields`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Int => "int",
            FieldType::Str => "string",
            FieldType::Path => "path",
            FieldType::Bool => "bool",
            FieldType::Ip => "ip",
            FieldType::StrList => "string list",
        }
    }

    /// Returns true for text fields, lists included.
    pub fn is_text(self) -> bool {
        matches!(self, FieldType::Str | FieldType::Path | FieldType::StrList)
    }
}

/// A value read from an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// Text.
    Str(Cow<'a, str>),
    /// List of strings.
    List(Cow<'a, [String]>),
}

type ProcessGetter = for<'a> fn(&'a Process) -> Value<'a>;
pub(crate) type EventGetter = for<'a> fn(&'a Event) -> Option<Value<'a>>;

/// The process that a process field reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessScope {
    /// The process that made the syscall.
    Current,
    /// Its parent (`process.parent.*`).
    Parent,
    /// Any ancestor (`process.ancestors.*`).
    Ancestors,
    /// The ancestor bound to an iterator variable (`process.ancestors[A].*`):
    /// every field with the same variable reads the same ancestor.
    Bound,
}

/// The accessor of a field, resolved at compile time.
#[derive(Clone, Copy)]
pub enum Accessor {
    /// A process field of one process scope.
    Process(ProcessScope, ProcessGetter),
    /// An event-specific field.
    Event(EventGetter),
    /// The number of ancestors (`process.ancestors.length`).
    AncestorCount,
}

impl std::fmt::Debug for Accessor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Accessor::Process(scope, _) => write!(formatter, "Process({scope:?})"),
            Accessor::Event(_) => formatter.write_str("Event"),
            Accessor::AncestorCount => formatter.write_str("AncestorCount"),
        }
    }
}

/// A field resolved from its name.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedField {
    /// Value type.
    pub field_type: FieldType,
    /// The event type that carries the field, `None` for process fields (every event).
    pub event: Option<EventKind>,
    /// How to read it.
    pub accessor: Accessor,
}

/// One row of the registry, as printed by `sentrace rules fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    /// Field name.
    pub name: String,
    /// Type name (`int`, `string`, `path`, `bool`, `ip`, `string list`).
    pub field_type: &'static str,
    /// Event types that carry it (`*` for every event).
    pub events: String,
}

fn text(value: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(value))
}

fn int(value: impl Into<i64>) -> Value<'static> {
    Value::Int(value.into())
}

fn args(argv: &[String]) -> Value<'_> {
    match argv.get(1..) {
        Some(rest) if rest.len() == 1 => text(&rest[0]),
        Some(rest) => Value::Str(Cow::Owned(rest.join(" "))),
        None => text(""),
    }
}

/// Flags and options of a command line: `-abc` gives `a`, `b`, `c` as flags
/// and `--name=value` gives `name` as an option.
fn arg_flags(argv: &[String], options: bool) -> Value<'static> {
    let mut out = Vec::new();
    for arg in argv.iter().skip(1) {
        if let Some(long) = arg.strip_prefix("--") {
            if options && !long.is_empty() {
                out.push(long.split('=').next().unwrap_or(long).to_string());
            } else if !options && !long.is_empty() && !long.contains('=') {
                out.push(long.to_string());
            }
        } else if let Some(short) = arg.strip_prefix('-') {
            if !options {
                out.extend(
                    short
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .map(String::from),
                );
            } else if let Some(first) = short.chars().next() {
                out.push(first.to_string());
            }
        }
    }
    Value::List(Cow::Owned(out))
}

fn user_name(uid: u32) -> Value<'static> {
    // NOTE: only uid 0 is resolved, because the workload's /etc/passwd is not read.
    Value::Str(Cow::Borrowed(if uid == 0 { "root" } else { "" }))
}

/// Process fields, relative to `process.`.
const PROCESS_FIELDS: &[(&str, FieldType, ProcessGetter)] = &[
    ("file.path", FieldType::Path, |p| text(&p.file.path)),
    ("file.name", FieldType::Str, |p| text(&p.file.name)),
    ("comm", FieldType::Str, |p| text(&p.comm)),
    ("argv", FieldType::StrList, |p| {
        Value::List(Cow::Borrowed(&p.argv[p.argv.len().min(1)..]))
    }),
    ("argv0", FieldType::Str, |p| {
        text(p.argv.first().map_or("", String::as_str))
    }),
    ("args", FieldType::Str, |p| args(&p.argv)),
    ("cmdline", FieldType::Str, |p| {
        Value::Str(Cow::Owned(p.argv.join(" ")))
    }),
    ("args_flags", FieldType::StrList, |p| {
        arg_flags(&p.argv, false)
    }),
    ("args_options", FieldType::StrList, |p| {
        arg_flags(&p.argv, true)
    }),
    ("pid", FieldType::Int, |p| int(p.pid)),
    ("tid", FieldType::Int, |p| int(p.tid)),
    ("ppid", FieldType::Int, |p| int(p.ppid)),
    ("uid", FieldType::Int, |p| int(p.uid)),
    ("gid", FieldType::Int, |p| int(p.gid)),
    ("euid", FieldType::Int, |p| int(p.euid)),
    ("egid", FieldType::Int, |p| int(p.egid)),
    ("user", FieldType::Str, |p| user_name(p.uid)),
    ("euser", FieldType::Str, |p| user_name(p.euid)),
    ("group", FieldType::Str, |p| user_name(p.gid)),
    ("cwd", FieldType::Path, |p| text(&p.cwd)),
    ("container.id", FieldType::Str, |p| text(&p.container.id)),
    ("container.tags", FieldType::StrList, container_tags),
    ("is_thread", FieldType::Bool, |p| {
        Value::Bool(p.pid != p.tid)
    }),
]; // is_thread: a thread of the process made the call

/// Returns true for event types with `<type>.retval` (all but exit, dns,
/// foreign_abi and lost).
fn has_retval(kind: EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Exit | EventKind::Dns | EventKind::ForeignAbi | EventKind::Lost
    )
}

/// Resolves a field name; `None` when sentrace does not produce it.
pub fn resolve(name: &str) -> Option<ResolvedField> {
    if let Some(found) = resolve_process(name) {
        return Some(found);
    }
    if let Some((_, field_type, getter)) = CONTAINER_FIELDS.iter().find(|row| row.0 == name) {
        return Some(ResolvedField {
            field_type: *field_type,
            event: None,
            accessor: Accessor::Process(ProcessScope::Current, *getter),
        });
    }
    if let Some((_, field_type, getter)) = GLOBAL_FIELDS.iter().find(|row| row.0 == name) {
        return Some(ResolvedField {
            field_type: *field_type,
            event: None,
            accessor: Accessor::Event(*getter),
        });
    }
    let (prefix, rest) = name.split_once('.')?;
    let kind = EventKind::from_name(prefix)?;
    if let Some((_, field_type, _, getter)) = EVENT_FIELDS.iter().find(|row| row.0 == name) {
        return Some(ResolvedField {
            field_type: *field_type,
            event: Some(kind),
            accessor: Accessor::Event(*getter),
        });
    }
    if let Some((_, field_type, _, getter)) = SHARED_FIELDS
        .iter()
        .chain(STAT_FIELDS)
        .find(|row| row.0 == rest && row.2.contains(&kind))
    {
        return Some(ResolvedField {
            field_type: *field_type,
            event: Some(kind),
            accessor: Accessor::Event(*getter),
        });
    }
    if rest == "retval" && has_retval(kind) {
        let getter: EventGetter = |e| retval(e).map(Value::Int);
        return Some(ResolvedField {
            field_type: FieldType::Int,
            event: Some(kind),
            accessor: Accessor::Event(getter),
        });
    }
    if matches!(kind, EventKind::Exec | EventKind::Exit) {
        let (_, field_type, getter) = process_field(rest)?;
        let accessor = Accessor::Process(ProcessScope::Current, *getter);
        return Some(ResolvedField {
            field_type: *field_type,
            event: Some(kind),
            accessor,
        });
    }
    None
}

fn resolve_process(name: &str) -> Option<ResolvedField> {
    let rest = name.strip_prefix("process.")?;
    if rest == "ancestors.length" {
        return Some(ResolvedField {
            field_type: FieldType::Int,
            event: None,
            accessor: Accessor::AncestorCount,
        });
    }
    let (scope, rest) = if let Some(rest) = bound_suffix(rest) {
        (ProcessScope::Bound, rest)
    } else if let Some(rest) = rest.strip_prefix("parent.") {
        (ProcessScope::Parent, rest)
    } else if let Some(rest) = rest.strip_prefix("ancestors.") {
        (ProcessScope::Ancestors, rest)
    } else {
        (ProcessScope::Current, rest)
    };
    let (_, field_type, getter) = process_field(rest)?;
    Some(ResolvedField {
        field_type: *field_type,
        event: None,
        accessor: Accessor::Process(scope, *getter),
    })
}

/// Returns every process field, relative to `process.`.
fn process_rows() -> impl Iterator<Item = &'static (&'static str, FieldType, ProcessGetter)> {
    PROCESS_FIELDS
        .iter()
        .chain(PROCESS_FILE_FIELDS)
        .chain(USER_SESSION_FIELDS)
}

/// Finds a process field by its name relative to `process.`.
fn process_field(rest: &str) -> Option<&'static (&'static str, FieldType, ProcessGetter)> {
    process_rows().find(|row| row.0 == rest)
}

/// Fields of the container and cgroup of the event's process.
const CONTAINER_FIELDS: &[(&str, FieldType, ProcessGetter)] = &[
    ("container.id", FieldType::Str, |p| text(&p.container.id)),
    ("container.created_at", FieldType::Int, |p| {
        file::container_created_at(p)
    }),
    ("container.tags", FieldType::StrList, container_tags),
    ("cgroup.id", FieldType::Str, |p| text(&p.cgroup.id)),
    ("cgroup.file.inode", FieldType::Int, |p| {
        int(p.cgroup.inode as i64)
    }),
];

/// Fields of the event itself.
const GLOBAL_FIELDS: &[(&str, FieldType, EventGetter)] = &[
    // sentrace is an eBPF-less source, like Datadog's ptrace mode.
    ("event.origin", FieldType::Str, |_| {
        Some(Value::Str(Cow::Borrowed("ebpfless")))
    }),
    // A process found by the /proc scanner is reported from a snapshot of
    // /proc, every other event as the syscall happens.
    ("event.source", FieldType::Str, |e| {
        Some(text(match &e.body {
            protocol::EventBody::Exec { exec } if exec.procfs => "snapshot",
            _ => "runtime",
        }))
    }),
    ("event.service", FieldType::Str, workload::service),
];

/// Returns the field after `ancestors[X].`.
fn bound_suffix(rest: &str) -> Option<&str> {
    let inner = rest.strip_prefix("ancestors[")?;
    let (_, after) = inner.split_once("].")?;
    Some(after)
}

/// Returns the registry field closest to a misspelt name, when at most two
/// edits (or three, for names longer than 20 characters) separate them.
pub(crate) fn suggest(name: &str) -> Option<String> {
    let limit = if name.chars().count() > 20 { 3 } else { 2 };
    field_table()
        .into_iter()
        .map(|row| (secl::edit_distance(name, &row.name), row.name))
        .filter(|(distance, _)| *distance <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)))
        .map(|(_, candidate)| candidate)
}

/// Lists every field sentrace can evaluate, sorted by name.
pub fn field_table() -> Vec<FieldInfo> {
    let mut rows = Vec::new();
    let mut push = |name: String, field_type: FieldType, events: String| {
        rows.push(FieldInfo {
            name,
            field_type: field_type.as_str(),
            events,
        });
    };
    for (suffix, field_type, _) in process_rows() {
        for prefix in ["process", "process.parent", "process.ancestors"] {
            push(format!("{prefix}.{suffix}"), *field_type, "*".into());
        }
        for kind in [EventKind::Exec, EventKind::Exit] {
            push(format!("{kind}.{suffix}"), *field_type, kind.to_string());
        }
    }
    push(
        "process.ancestors.length".into(),
        FieldType::Int,
        "*".into(),
    );
    for (name, field_type, _) in CONTAINER_FIELDS {
        push(name.to_string(), *field_type, "*".into());
    }
    for (name, field_type, _) in GLOBAL_FIELDS {
        push(name.to_string(), *field_type, "*".into());
    }
    for (name, field_type, kind, _) in EVENT_FIELDS {
        push(name.to_string(), *field_type, kind.to_string());
    }
    for (suffix, field_type, kinds, _) in SHARED_FIELDS.iter().chain(STAT_FIELDS) {
        for kind in kinds.iter() {
            push(format!("{kind}.{suffix}"), *field_type, kind.to_string());
        }
    }
    for kind in EventKind::ALL.into_iter().filter(|kind| has_retval(*kind)) {
        push(format!("{kind}.retval"), FieldType::Int, kind.to_string());
    }
    for (suffix, field_type) in fim_suffixes() {
        push(
            format!("{FIM_WRITE_PREFIX}{suffix}"),
            field_type,
            fim::event_list(),
        );
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

/// Returns the file fields that `fim.write.file.*` can read: those every
/// reading of the shorthand resolves, with one type.
fn fim_suffixes() -> Vec<(&'static str, FieldType)> {
    let mut out: Vec<(&'static str, FieldType)> = Vec::new();
    for (name, ..) in SHARED_FIELDS.iter().chain(STAT_FIELDS) {
        let Some(suffix) = name.strip_prefix("file.") else {
            continue;
        };
        if suffix.starts_with("destination.") || out.iter().any(|(known, _)| *known == suffix) {
            continue;
        }
        let types: Vec<Option<FieldType>> = FIM_TARGETS
            .iter()
            .map(|target| resolve(&target.field_name(suffix)).map(|field| field.field_type))
            .collect();
        if let Some(Some(first)) = types.first().copied() {
            if types.iter().all(|other| *other == Some(first)) {
                out.push((suffix, first));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::common::is_public;
    use super::*;

    #[test]
    fn every_listed_field_resolves() {
        for row in field_table() {
            if let Some(suffix) = row.name.strip_prefix(FIM_WRITE_PREFIX) {
                for target in FIM_TARGETS {
                    let name = target.field_name(suffix);
                    let resolved =
                        resolve(&name).unwrap_or_else(|| panic!("{name} does not resolve"));
                    assert_eq!(resolved.field_type.as_str(), row.field_type, "{name}");
                }
                continue;
            }
            let resolved =
                resolve(&row.name).unwrap_or_else(|| panic!("{} does not resolve", row.name));
            assert_eq!(resolved.field_type.as_str(), row.field_type, "{}", row.name);
        }
    }

    #[test]
    fn fim_fields_are_listed() {
        let names: Vec<String> = field_table()
            .into_iter()
            .filter(|row| row.name.starts_with(FIM_WRITE_PREFIX))
            .map(|row| row.name)
            .collect();
        assert!(
            names.contains(&"fim.write.file.path".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"fim.write.file.name".to_string()),
            "{names:?}"
        );
    }

    #[test]
    fn unknown_fields_do_not_resolve() {
        for name in [
            "dns.response.code",
            "process.is_kworker",
            "open.file.inode",
            "exec",
            "open.retval.x",
        ] {
            assert!(resolve(name).is_none(), "{name}");
        }
    }

    #[test]
    fn flags_and_options_from_argv() {
        let argv: Vec<String> = ["nc", "-lvp", "--exec=/bin/sh", "--verbose", "x"]
            .map(String::from)
            .to_vec();
        let Value::List(flags) = arg_flags(&argv, false) else {
            panic!("not a list")
        };
        assert_eq!(flags.as_ref(), ["l", "v", "p", "verbose"]);
        let Value::List(options) = arg_flags(&argv, true) else {
            panic!("not a list")
        };
        assert_eq!(options.as_ref(), ["l", "exec", "verbose"]);
    }

    #[test]
    fn public_addresses() {
        assert!(is_public("8.8.8.8"));
        assert!(!is_public("10.1.2.3"));
        assert!(!is_public("169.254.169.254"));
        assert!(!is_public("::1"));
        assert!(is_public("2001:4860::1"));
    }
}
