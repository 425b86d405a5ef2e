//! Fields from what the tracer's caller declares about a workload rather
//! than what ptrace observes: the user session of its processes
//! (`process.user_session.*`), the container tags (`container.tags`) and
//! the service they name (`event.service`).

use std::borrow::Cow;

use protocol::{Event, Process, UserSession};

use super::{int, text, FieldType, ProcessGetter, Value};

fn session(process: &Process) -> Option<&UserSession> {
    process.user_session.as_deref()
}

fn session_text(process: &Process, read: fn(&UserSession) -> &str) -> Value<'_> {
    text(session(process).map_or("", read))
}

/// `k8s_extra` as `key:value` strings, one per value.
fn extra(process: &Process) -> Value<'static> {
    let pairs = session(process)
        .into_iter()
        .flat_map(|session| &session.k8s_extra)
        .flat_map(|(key, values)| values.iter().map(move |value| format!("{key}:{value}")))
        .collect();
    Value::List(Cow::Owned(pairs))
}

/// User session fields, relative to `process.`. A process outside a
/// session reads empty strings and lists, and session type 0.
pub(super) const USER_SESSION_FIELDS: &[(&str, FieldType, ProcessGetter)] = &[
    ("user_session.id", FieldType::Str, |p| {
        session_text(p, |s| &s.id)
    }),
    ("user_session.session_type", FieldType::Int, |p| {
        int(session(p).map_or(0, |s| s.session_type.secl_number()))
    }),
    ("user_session.k8s_username", FieldType::Str, |p| {
        session_text(p, |s| &s.k8s_username)
    }),
    ("user_session.k8s_uid", FieldType::Str, |p| {
        session_text(p, |s| &s.k8s_uid)
    }),
    ("user_session.k8s_groups", FieldType::StrList, |p| {
        Value::List(Cow::Borrowed(session(p).map_or(&[][..], |s| &s.k8s_groups)))
    }),
    ("user_session.k8s_extra", FieldType::StrList, extra),
];

/// Returns the container tags of a process, empty without tags.
pub(super) fn container_tags(process: &Process) -> Value<'_> {
    Value::List(Cow::Borrowed(
        process.container.tags.as_deref().unwrap_or(&[]),
    ))
}

/// Tag keys that name the service, in the order they are looked up:
/// Datadog's unified service tag, then the Kubernetes label it comes from.
const SERVICE_TAG_KEYS: [&str; 2] = ["service:", "tags.datadoghq.com/service:"];

/// Returns the service of the event's process: the value of its `service`
/// container tag, else of `tags.datadoghq.com/service`, else empty.
// NOTE: Datadog's agent also reads DD_SERVICE from the environment of the
// process and its ancestors. Exec events keep only the names of most
// variables, so sentrace takes the service from the tags alone.
pub(super) fn service(event: &Event) -> Option<Value<'_>> {
    let tags = event.process.container.tags.as_deref().unwrap_or(&[]);
    let found = SERVICE_TAG_KEYS.iter().find_map(|key| {
        tags.iter()
            .find_map(|tag| tag.strip_prefix(key).filter(|value| !value.is_empty()))
    });
    Some(text(found.unwrap_or("")))
}
