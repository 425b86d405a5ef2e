//! The deny gate: the probe's deny rules, compiled, as a [`SyscallGate`].

use protocol::DenyRule;

use crate::sink::SyscallGate;

/// Compiles the welcome's deny rules; `None` when there are none.
pub(crate) fn build(rules: &[DenyRule]) -> Option<Box<dyn SyscallGate>> {
    if rules.is_empty() {
        return None;
    }
    // TODO: compile with the rule engine's deny policy once it is available.
    tracing::warn!(
        count = rules.len(),
        "deny rules received but not enforced by this build"
    );
    None
}
