//! The rule engine interface of the probe. It is a trait so that sessions,
//! tests and benchmarks run with any rule set, and a policy can be replaced
//! at run time.

use std::any::Any;
use std::sync::{Arc, RwLock};

use protocol::{DenyRule, Event, EventKind, OpenInterest, Process, SignalRange};
use tokio::sync::watch;

/// Action a matching rule requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleAction {
    /// Ask the tracer to send `signal` to the process (`scope`: `process`,
    /// `process_group` or `container`).
    Kill {
        /// Signal number.
        signal: i32,
        /// Processes to signal.
        scope: String,
    },
    /// The rule denies the syscall; the tracer already enforced it.
    Deny,
}

/// A rule that matched an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    /// Rule id.
    pub rule_id: String,
    /// Human-readable description.
    pub description: String,
    /// Tags such as `technique:T1003`.
    pub tags: Vec<String>,
    /// Actions to carry out.
    pub actions: Vec<RuleAction>,
}

/// Per-session rule state (the rule engine's variables), opaque to the
/// probe. A rule set stores whatever type it needs in it.
#[derive(Default)]
pub struct SessionRuleState(Option<Box<dyn Any + Send>>);

impl SessionRuleState {
    /// Returns the state as `T`, creating it with `T::default()` the first
    /// time or when another rule set stored a different type.
    pub fn get_or_default<T: Any + Send + Default>(&mut self) -> &mut T {
        let fits = self.0.as_ref().is_some_and(|state| state.is::<T>());
        if !fits {
            self.0 = Some(Box::new(T::default()));
        }
        self.0
            .as_mut()
            .and_then(|state| state.downcast_mut::<T>())
            .expect("the state was just set to a T")
    }
}

/// A compiled set of rules.
pub trait RuleSet: Send + Sync {
    /// Event types the rules need; they decide which syscalls tracers trace.
    fn event_types(&self) -> Vec<EventKind>;
    /// Rules that tracers enforce at syscall entry.
    fn deny_rules(&self) -> Vec<DenyRule>;
    /// Signal numbers the rules may match for a target other than the
    /// tracer; `None` for every number.
    fn signal_interest(&self) -> Option<Vec<SignalRange>> {
        None
    }
    /// Returns the opens the rules may match, `None` for every open.
    fn open_interest(&self) -> Option<OpenInterest> {
        None
    }
    /// Evaluates every rule for this event type; `ancestors[0]` is the parent.
    fn evaluate(
        &self,
        event: &Event,
        ancestors: &[Process],
        state: &mut SessionRuleState,
    ) -> Vec<RuleMatch>;
    /// Drops per-process state of a process that exited.
    fn forget_process(&self, _state: &mut SessionRuleState, _pid: u32) {}
    /// Number of rules, for logs and metrics.
    fn rule_count(&self) -> usize;
}

/// A rule set without rules.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRules;

impl RuleSet for NoRules {
    fn event_types(&self) -> Vec<EventKind> {
        Vec::new()
    }

    fn deny_rules(&self) -> Vec<DenyRule> {
        Vec::new()
    }

    fn evaluate(&self, _: &Event, _: &[Process], _: &mut SessionRuleState) -> Vec<RuleMatch> {
        Vec::new()
    }

    fn rule_count(&self) -> usize {
        0
    }
}

/// The current rule set, replaceable while sessions run (policy reload).
#[derive(Clone)]
pub struct SharedRules {
    current: Arc<RwLock<Arc<dyn RuleSet>>>,
    /// Counts replacements, so that sessions learn of them.
    replaced: Arc<watch::Sender<u64>>,
}

impl SharedRules {
    /// Wraps a rule set.
    pub fn new(rules: Arc<dyn RuleSet>) -> SharedRules {
        let (replaced, _) = watch::channel(0);
        SharedRules {
            current: Arc::new(RwLock::new(rules)),
            replaced: Arc::new(replaced),
        }
    }

    /// Returns the current rule set.
    pub fn current(&self) -> Arc<dyn RuleSet> {
        let guard = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(&guard)
    }

    /// Replaces the rule set; sessions use it from their next event on.
    pub fn replace(&self, rules: Arc<dyn RuleSet>) {
        let mut guard = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = rules;
        drop(guard);
        self.replaced.send_modify(|count| *count += 1);
    }

    /// Returns a receiver that changes at every [`SharedRules::replace`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.replaced.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_created_once_per_type() {
        let mut state = SessionRuleState::default();
        *state.get_or_default::<u32>() += 5;
        *state.get_or_default::<u32>() += 1;
        assert_eq!(*state.get_or_default::<u32>(), 6);
        assert_eq!(state.get_or_default::<String>().as_str(), "");
    }
}
