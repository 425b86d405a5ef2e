//! The deny gate: the probe's deny rules, compiled, as a [`SyscallGate`].
//!
//! A rule with a `deny` action qualifies when its expression reads only
//! what the tracer has at syscall entry: the event's arguments (paths,
//! flags, modes, addresses) and the acting process's own fields. Rules that
//! read `*.retval`, `process.parent.*`, `process.ancestors.*`, variables or
//! container tags (which the probe sets) are left out with a logged reason,
//! and the probe still alerts on them.

use protocol::{DenyRule, Event, EventKind};
use rules::DenyPolicy;

use crate::sink::SyscallGate;

/// Deny rules the tracer checks at syscall entry.
#[derive(Debug)]
pub struct DenyGate {
    policy: DenyPolicy,
}

impl SyscallGate for DenyGate {
    fn deny(&self, event: &Event) -> Option<String> {
        self.policy.check(event).map(str::to_string)
    }

    fn checks(&self, kind: EventKind) -> bool {
        self.policy.has_rules_for(kind)
    }
}

/// Compiles the welcome's deny rules; `None` when none compiles. Rules that
/// need what is unknown at syscall entry are logged and left out.
pub(crate) fn build(rules: &[DenyRule]) -> Option<Box<dyn SyscallGate>> {
    if rules.is_empty() {
        return None;
    }
    let (policy, errors) = DenyPolicy::compile(rules);
    for error in &errors {
        tracing::warn!("deny rule not enforced: {error}");
    }
    if policy.is_empty() {
        return None;
    }
    tracing::info!(
        count = rules.len() - errors.len(),
        "deny rules enforced at syscall entry"
    );
    Some(Box::new(DenyGate { policy }))
}
