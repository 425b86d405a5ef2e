//! Alerts: the JSON object sinks receive, and its one-line text form.

use protocol::{Event, Mode, Process};
use serde::Serialize;

/// The session an alert comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// Session id chosen by the tracer.
    pub id: String,
    /// Host name of the tracer.
    pub hostname: String,
    /// Container id of the tracer, empty on a host.
    pub container_id: String,
    /// Wrap or attach.
    pub mode: Mode,
}

/// One alert: the rule, the time, the session, the triggering event in full
/// and the process ancestry (parent first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Rule id.
    pub rule_id: String,
    /// Rule description.
    pub description: String,
    /// Rule tags.
    pub tags: Vec<String>,
    /// Time the probe raised the alert (RFC 3339, UTC).
    pub timestamp: String,
    /// Session of the tracer that sent the event.
    pub session: SessionInfo,
    /// The event that matched.
    pub event: Event,
    /// Ancestors of the acting process, parent first.
    pub ancestors: Vec<Process>,
}

impl Alert {
    /// Formats the alert as one JSON line (without the newline).
    pub fn to_json_line(&self) -> String {
        // These structs have string keys and no custom serializers, so
        // serde_json does not fail on them; the empty object is a fallback.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// Formats the alert as one readable line, for a terminal.
    pub fn to_text_line(&self) -> String {
        let process = &self.event.process;
        let parent = self
            .ancestors
            .first()
            .map(|parent| format!(" parent={}[{}]", parent.comm, parent.pid))
            .unwrap_or_default();
        let line = format!(
            "ALERT {} {}: {} ({} by {}[{}] uid={}{}) {}",
            self.timestamp,
            self.rule_id,
            self.description,
            event_summary(&self.event),
            process.comm,
            process.pid,
            process.uid,
            parent,
            self.tags.join(","),
        );
        escape_controls(line.trim_end())
    }
}

/// Escapes control characters (`\n` becomes `\\n`), because file and
/// process names may contain them and a newline in a name would start a
/// line that reads as another alert.
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        if character.is_control() {
            out.extend(character.escape_default());
        } else {
            out.push(character);
        }
    }
    out
}

/// Returns the event type and its main object, such as `open /etc/shadow`.
fn event_summary(event: &Event) -> String {
    let value = serde_json::to_value(&event.body).unwrap_or_default();
    let kind = event.kind().as_str();
    let body = &value[kind];
    let target = ["file", "source", "addr"]
        .iter()
        .find_map(|key| {
            let field = &body[*key];
            field["path"]
                .as_str()
                .filter(|path| !path.is_empty())
                .map(str::to_string)
                .or_else(|| {
                    field["ip"]
                        .as_str()
                        .map(|ip| format!("{ip}:{}", field["port"]))
                })
        })
        .unwrap_or_default();
    format!("{kind} {target}").trim_end().to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use protocol::{EventBody, File, OpenEvent};

    /// Builds an alert for a `cat /etc/shadow` under `sh`.
    pub(crate) fn sample_alert() -> Alert {
        let process = Process {
            pid: 42,
            comm: "cat".into(),
            file: File::from_path("/usr/bin/cat"),
            ..Process::default()
        };
        let parent = Process {
            pid: 41,
            comm: "sh".into(),
            ..Process::default()
        };
        Alert {
            rule_id: "credential_read".into(),
            description: "Sensitive credential file read".into(),
            tags: vec!["technique:T1003".into()],
            timestamp: "2026-01-01T00:00:00.000000Z".into(),
            session: SessionInfo {
                id: "s1".into(),
                hostname: "h".into(),
                container_id: String::new(),
                mode: Mode::Wrap,
            },
            event: Event {
                timestamp: "2026-01-01T00:00:00.000000Z".into(),
                process,
                body: EventBody::Open {
                    open: OpenEvent {
                        file: File::from_path("/etc/shadow"),
                        flags: 0,
                        mode: 0,
                        retval: 3,
                    },
                },
            },
            ancestors: vec![parent],
        }
    }

    #[test]
    fn json_has_documented_keys() {
        let value: serde_json::Value =
            serde_json::from_str(&sample_alert().to_json_line()).unwrap();
        for key in [
            "rule_id",
            "description",
            "tags",
            "timestamp",
            "session",
            "event",
            "ancestors",
        ] {
            assert!(value.get(key).is_some(), "missing key {key}");
        }
        assert_eq!(value["session"]["mode"], "wrap");
        assert_eq!(value["event"]["open"]["file"]["path"], "/etc/shadow");
        assert_eq!(value["ancestors"][0]["comm"], "sh");
    }

    #[test]
    fn text_line_names_rule_file_and_process() {
        let line = sample_alert().to_text_line();
        assert!(line.contains("credential_read"), "{line}");
        assert!(line.contains("open /etc/shadow"), "{line}");
        assert!(line.contains("cat[42]"), "{line}");
        assert!(line.contains("parent=sh[41]"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn text_line_escapes_newlines_in_names() {
        let mut alert = sample_alert();
        alert.event.process.comm = "a\nALERT forged".into();
        if let EventBody::Open { open } = &mut alert.event.body {
            open.file = File::from_path("/tmp/x\ny");
        }
        let line = alert.to_text_line();
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("/tmp/x\\ny"), "{line}");
        assert!(line.contains("a\\nALERT forged["), "{line}");
    }
}
