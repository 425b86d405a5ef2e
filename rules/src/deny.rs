//! Deny rules on the tracer side: the probe sends the expressions of rules
//! with a `deny` action, and the tracer checks each event against them at
//! syscall entry and refuses a matching syscall with `EPERM`.

use protocol::{DenyRule, Event, EventKind};

use crate::compile::Scope;
use crate::eval::{Context, Predicate};
use crate::variables::Variables;

/// Compiled deny rules, indexed by event type.
#[derive(Debug)]
pub struct DenyPolicy {
    by_kind: Vec<Vec<(String, Predicate)>>,
    variables: Variables,
}

impl DenyPolicy {
    /// Compiles deny rules. A rule that does not compile, or that needs what
    /// the tracer does not know at syscall entry (return values, ancestors,
    /// variables, container tags), is left out and described in the
    /// returned errors.
    pub fn compile(rules: &[DenyRule]) -> (DenyPolicy, Vec<String>) {
        let mut by_kind: Vec<Vec<(String, Predicate)>> =
            EventKind::ALL.iter().map(|_| Vec::new()).collect();
        let mut errors = Vec::new();
        let scope = Scope::default();
        for rule in rules {
            match crate::policy::compile_expression(&rule.expression, &scope) {
                Ok(compiled) if compiled.uses_retval || compiled.uses_context => errors.push(format!(
                    "deny rule {}: needs return values, ancestors, variables or container tags, which are unknown at syscall entry",
                    rule.id
                )),
                Ok(compiled) => {
                    for (kind, predicate) in compiled.variants {
                        by_kind[kind as usize].push((rule.id.clone(), predicate));
                    }
                }
                Err(error) => errors.push(format!("deny rule {}: {}", rule.id, error.message)),
            }
        }
        (
            DenyPolicy {
                by_kind,
                variables: Variables::default(),
            },
            errors,
        )
    }

    /// Returns the id of the first deny rule that matches the event.
    pub fn check(&self, event: &Event) -> Option<&str> {
        let context = Context {
            event,
            ancestors: &[],
            variables: &self.variables,
            bound: None,
        };
        self.by_kind[event.kind() as usize]
            .iter()
            .find(|(_, predicate)| predicate.eval(&context))
            .map(|(id, _)| id.as_str())
    }

    /// Returns true when a rule is loaded for events of `kind`.
    pub fn has_rules_for(&self, kind: EventKind) -> bool {
        !self.by_kind[kind as usize].is_empty()
    }

    /// Returns true when no rule is loaded.
    pub fn is_empty(&self) -> bool {
        self.by_kind.iter().all(Vec::is_empty)
    }
}
