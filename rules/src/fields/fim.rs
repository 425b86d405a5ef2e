//! `fim.write.file.*`: SECL's file-integrity shorthand for "this file was
//! changed", whatever the syscall.
//!
//! A rule that reads `fim.write.file.X` runs on every event type that
//! changes a file, with `fim.write.file.` read as that event's file. The
//! event types follow Datadog's agent (`pkg/security/secl/rules/fim_unix.go`
//! in the datadog-agent repository). They are open with a write, create,
//! truncate or append flag, chmod that changes the mode, chown that changes
//! the owner or group, and every link, rename, unlink and utimes. A rename
//! is also checked against its destination, so a file renamed into a
//! watched directory matches. The compiler does the expansion
//! (`compile/fim.rs`), and this module names the fields.

use protocol::EventKind;

/// The prefix of the shorthand's fields.
pub(crate) const FIM_WRITE_PREFIX: &str = "fim.write.file.";

/// One reading of `fim.write.file.`: an event type and which of its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FimTarget {
    /// The event type the rule runs on.
    pub kind: EventKind,
    /// True to read the destination of a rename instead of its source.
    pub destination: bool,
}

const fn target(kind: EventKind) -> FimTarget {
    FimTarget {
        kind,
        destination: false,
    }
}

/// Every reading of `fim.write.file.`, in the order they are compiled.
pub(crate) const FIM_TARGETS: [FimTarget; 8] = [
    target(EventKind::Open),
    target(EventKind::Chmod),
    target(EventKind::Chown),
    target(EventKind::Link),
    target(EventKind::Rename),
    FimTarget {
        kind: EventKind::Rename,
        destination: true,
    },
    target(EventKind::Unlink),
    target(EventKind::Utimes),
];

impl FimTarget {
    /// Returns the event field that `fim.write.file.<suffix>` reads here.
    pub fn field_name(self, suffix: &str) -> String {
        if self.destination {
            format!("{}.file.destination.{suffix}", self.kind)
        } else {
            format!("{}.file.{suffix}", self.kind)
        }
    }

    /// Returns the condition an event of this type must also meet to count
    /// as a change of the file.
    pub fn condition(self) -> Option<&'static str> {
        match self.kind {
            EventKind::Open => Some("open.flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND) > 0"),
            EventKind::Chmod => Some("chmod.file.destination.mode != chmod.file.mode"),
            EventKind::Chown => Some(
                "(chown.file.destination.uid != -1 && chown.file.destination.uid != chown.file.uid) \
                 || (chown.file.destination.gid != -1 && chown.file.destination.gid != chown.file.gid)",
            ),
            _ => None,
        }
    }
}

/// Returns the event types a `fim.write.file.*` rule runs on, as
/// `sentrace rules fields` lists them.
pub(super) fn event_list() -> String {
    let mut kinds: Vec<&str> = FIM_TARGETS.iter().map(|t| t.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds.join(",")
}
