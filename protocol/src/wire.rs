//! Messages between tracer and probe, and their framing on TCP.
//!
//! A frame is a 4-byte big-endian length followed by one JSON object of that
//! many bytes. Frames longer than [`MAX_FRAME_LEN`] are a protocol error: the
//! reader closes that connection and the peer's other connections go on.

use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind, Process};

/// Version of the message set below; a probe rejects a hello with another one.
pub const PROTOCOL_VERSION: u32 = 1;

/// Default TCP port of the probe.
pub const DEFAULT_PORT: u16 = 5678;

/// Largest frame body accepted, in bytes (1 MiB).
pub const MAX_FRAME_LEN: usize = 1 << 20;

/// The way the tracer follows its workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The tracer started the workload (`sentrace trace -- CMD`).
    Wrap,
    /// The tracer attached to running processes (`--pid`).
    Attach,
}

/// First message of a tracer connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the tracer.
    pub version: u32,
    /// Session id, the same across reconnects of one tracer process.
    pub session_id: String,
    /// Wrap or attach.
    pub mode: Mode,
    /// Host name of the tracer's machine or pod.
    pub hostname: String,
    /// Container id of the tracer, empty on a host.
    #[serde(default)]
    pub container_id: String,
    /// Inode of the tracer's pid namespace (`/proc/self/ns/pid`).
    #[serde(default)]
    pub pid_ns: u64,
    /// The command line of the workload (wrap) or the attached pids' (attach).
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// Shared secret, when the probe requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Tags of the workload (`key:value` or a bare `key`). They travel once
    /// per connection, and the probe sets them as `container.tags` of every
    /// process of the session.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// An event with its sequence number within the session (starting at 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequenced {
    /// Sequence number, strictly increasing per session.
    pub seq: u64,
    /// The event.
    pub event: Event,
}

/// A message from tracer to probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case")]
pub enum TracerMessage {
    /// Opens the session; always the first frame.
    Hello(Hello),
    /// Processes that existed before tracing began, so that the probe's
    /// process tree has the ancestors of the first events.
    Snapshot {
        /// The processes, parents before children.
        processes: Vec<Process>,
    },
    /// A batch of events.
    Events {
        /// Events in sequence order.
        events: Vec<Sequenced>,
    },
    /// The outcome of an action the probe sent.
    ActionResult {
        /// The `id` of the [`ProbeMessage::Action`].
        id: u64,
        /// True when the action was carried out.
        ok: bool,
        /// The failure, when `ok` is false.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The tracer is leaving (the workload exited or the tracer detached).
    Goodbye {
        /// Why.
        reason: String,
    },
}

/// A rule the tracer evaluates itself at syscall entry, refusing matching
/// syscalls with `EPERM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenyRule {
    /// Rule id.
    pub id: String,
    /// The rule's expression with every macro expanded.
    pub expression: String,
}

/// Signal numbers from `first` to `last`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalRange {
    /// First signal number of the range.
    pub first: u32,
    /// Last signal number of the range; `u32::MAX` for every number above `first`.
    pub last: u32,
}

impl SignalRange {
    /// Returns true when `signal` lies in the range.
    pub fn contains(&self, signal: u32) -> bool {
        (self.first..=self.last).contains(&signal)
    }
}

/// The opens that the loaded rules may match, decided from what the tracer
/// has at syscall entry: the canonical path, its base name and the
/// flags. An open that matches no alternative cannot raise an alert, so
/// the tracer reports it not at all and lets it run without an exit stop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenInterest {
    /// An open may match when it matches one of these.
    pub alternatives: Vec<OpenApprover>,
}

/// Conditions that an open must all meet to be reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenApprover {
    /// Sets that the canonical path must each match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PatternSet>,
    /// Sets that the base name must each match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<PatternSet>,
    /// Masks of which the open flags must each share a bit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<u32>,
}

/// Strings, SECL globs and regular expressions, matched as SECL matches
/// `in [...]`: a value matches when it equals a string, matches a glob
/// whole, or contains a match of a regular expression.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatternSet {
    /// Exact values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exact: Vec<String>,
    /// Globs (`*` within a path component for paths, `**` across them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub globs: Vec<String>,
    /// Regular expressions, searched unanchored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regexes: Vec<String>,
}

/// An action the probe requests from a tracer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Send `signal` to `pid` (and, with `scope` `process_group` or
    /// `container`, to more processes).
    Kill {
        /// Target pid, in the tracer's pid namespace.
        pid: u32,
        /// Signal number.
        signal: i32,
        /// `process` (default), `process_group` or `container`.
        #[serde(default = "default_scope")]
        scope: String,
        /// Rule that asked for it.
        rule_id: String,
    },
}

fn default_scope() -> String {
    "process".to_string()
}

/// A message from probe to tracer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case")]
pub enum ProbeMessage {
    /// Reply to [`TracerMessage::Hello`].
    Welcome {
        /// False when the probe rejects the session.
        accepted: bool,
        /// The reason for rejecting the session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Event types the loaded rules need.
        #[serde(default)]
        event_types: Vec<EventKind>,
        /// x86_64 syscall names the loaded rules need.
        #[serde(default)]
        syscalls: Vec<String>,
        /// Rules the tracer enforces at syscall entry.
        #[serde(default)]
        deny_rules: Vec<DenyRule>,
        /// Signal numbers that the loaded rules may match when a traced
        /// process signals a process other than the tracer; `None` for
        /// every number. Signals to the tracer are always reported.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signals: Option<Vec<SignalRange>>,
        /// The opens that the loaded rules may match; `None` for every open.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opens: Option<OpenInterest>,
        /// Highest sequence number the probe has already received in this
        /// session (0 for a new session); the tracer resends what follows.
        #[serde(default)]
        last_seq: u64,
    },
    /// Every event up to and including `seq` is received.
    Ack {
        /// Cumulative sequence number.
        seq: u64,
    },
    /// An action to carry out.
    Action {
        /// Action id, echoed in [`TracerMessage::ActionResult`].
        id: u64,
        /// The action.
        action: Action,
    },
    /// The probe's policy changed: the opens its rules may match now.
    Interest {
        /// As in [`ProbeMessage::Welcome`]; `None` for every open.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opens: Option<OpenInterest>,
    },
    /// The probe is closing the session.
    Goodbye {
        /// Why.
        reason: String,
    },
}

/// A failure to read or write a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection at a frame boundary.
    #[error("connection closed")]
    Closed,
    /// The socket failed, or closed inside a frame.
    #[error("frame i/o failed: {0}")]
    Io(#[from] io::Error),
    /// The length prefix exceeds [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge {
        /// The announced length.
        len: usize,
    },
    /// The body is not the JSON of an expected message.
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Encodes a message as one frame (length prefix and JSON body).
pub fn encode_frame<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0u8; 4];
    serde_json::to_writer(&mut frame, message)?;
    let len = frame.len() - 4;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len });
    }
    frame[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(frame)
}

/// Writes one frame.
pub fn write_frame<W: Write, T: Serialize>(writer: &mut W, message: &T) -> Result<(), FrameError> {
    let frame = encode_frame(message)?;
    writer.write_all(&frame)?;
    Ok(())
}

/// Reads one frame body, checking the length limit before allocating.
pub fn read_frame_body<R: Read>(reader: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < prefix.len() {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) if filled == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error.into()),
        }
    }
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len });
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    Ok(body)
}

/// Reads and decodes one frame.
pub fn read_frame<R: Read, T: DeserializeOwned>(reader: &mut R) -> Result<T, FrameError> {
    let body = read_frame_body(reader)?;
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trips() {
        let message = ProbeMessage::Ack { seq: 7 };
        let frame = encode_frame(&message).unwrap();
        assert_eq!(
            u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
            frame.len() - 4
        );
        let back: ProbeMessage = read_frame(&mut &frame[..]).unwrap();
        assert_eq!(back, message);
    }

    #[test]
    fn oversized_length_is_rejected_before_reading_body() {
        let mut frame = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(b"{}");
        let error = read_frame_body(&mut &frame[..]).unwrap_err();
        assert!(matches!(error, FrameError::TooLarge { len } if len == MAX_FRAME_LEN + 1));
    }

    #[test]
    fn truncated_frame_is_io_error() {
        let mut frame = 10u32.to_be_bytes().to_vec();
        frame.extend_from_slice(b"{\"ms");
        let error = read_frame_body(&mut &frame[..]).unwrap_err();
        assert!(matches!(error, FrameError::Io(_)));
    }

    #[test]
    fn empty_stream_is_closed() {
        let error = read_frame_body(&mut &b""[..]).unwrap_err();
        assert!(matches!(error, FrameError::Closed));
    }

    #[test]
    fn garbage_body_is_malformed() {
        let mut frame = 5u32.to_be_bytes().to_vec();
        frame.extend_from_slice(b"hello");
        let error = read_frame::<_, TracerMessage>(&mut &frame[..]).unwrap_err();
        assert!(matches!(error, FrameError::Malformed(_)));
    }

    #[test]
    fn hello_uses_msg_tag() {
        let hello = TracerMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            session_id: "s1".into(),
            mode: Mode::Wrap,
            hostname: "h".into(),
            container_id: String::new(),
            pid_ns: 4026531836,
            entrypoint: vec!["sh".into()],
            token: None,
            tags: Vec::new(),
        });
        let value = serde_json::to_value(&hello).unwrap();
        assert_eq!(value["msg"], "hello");
        assert_eq!(value["mode"], "wrap");
        assert!(value.get("tags").is_none());
    }

    #[test]
    fn hello_without_tags_reads_as_untagged() {
        let text = r#"{"msg":"hello","version":1,"session_id":"s1","mode":"wrap","hostname":"h"}"#;
        let TracerMessage::Hello(hello) = serde_json::from_str(text).unwrap() else {
            panic!("not a hello");
        };
        assert!(hello.tags.is_empty());
        let tagged = r#"{"msg":"hello","version":1,"session_id":"s1","mode":"wrap","hostname":"h","tags":["env:prod"]}"#;
        let TracerMessage::Hello(hello) = serde_json::from_str(tagged).unwrap() else {
            panic!("not a hello");
        };
        assert_eq!(hello.tags, ["env:prod"]);
    }
}
