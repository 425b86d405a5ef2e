//! The rule engine's policies as the probe's [`RuleSet`], and loading them
//! from files or the built-in policy.

use std::path::PathBuf;
use std::sync::Arc;

use protocol::{DenyRule, Event, EventKind, OpenInterest, Process, SignalRange};
use rules::{LoadReport, MatchAction, Policy, RuleStatus, Variables};

use crate::ruleset::{RuleAction, RuleMatch, RuleSet, SessionRuleState};

/// A loaded policy, evaluated with per-session [`Variables`].
#[derive(Debug)]
pub struct PolicyRules {
    policy: Policy,
    active: usize,
}

impl PolicyRules {
    /// Wraps a compiled policy.
    pub fn new(policy: Policy) -> PolicyRules {
        let active = policy.report().summary().active;
        PolicyRules { policy, active }
    }
}

impl RuleSet for PolicyRules {
    fn event_types(&self) -> Vec<EventKind> {
        self.policy.event_types()
    }

    fn deny_rules(&self) -> Vec<DenyRule> {
        self.policy.deny_rules()
    }

    fn signal_interest(&self) -> Option<Vec<SignalRange>> {
        self.policy.signal_interest()
    }

    fn open_interest(&self) -> Option<OpenInterest> {
        self.policy.open_interest()
    }

    fn evaluate(
        &self,
        event: &Event,
        ancestors: &[Process],
        state: &mut SessionRuleState,
    ) -> Vec<RuleMatch> {
        let variables = state.get_or_default::<Variables>();
        self.policy
            .evaluate(event, ancestors, variables)
            .into_iter()
            .map(|found| RuleMatch {
                rule_id: found.rule_id,
                description: found.description,
                tags: found.tags,
                actions: found
                    .actions
                    .into_iter()
                    .map(|action| match action {
                        MatchAction::Kill { signal, scope } => RuleAction::Kill { signal, scope },
                        MatchAction::Deny => RuleAction::Deny,
                    })
                    .collect(),
            })
            .collect()
    }

    fn forget_process(&self, state: &mut SessionRuleState, pid: u32) {
        state.get_or_default::<Variables>().forget_process(pid);
    }

    fn rule_count(&self) -> usize {
        self.active
    }
}

/// A policy that could not replace the running one.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file is unreadable or is not a policy.
    #[error(transparent)]
    Load(#[from] rules::LoadError),
    /// Rules failed to compile.
    #[error("{count} rule(s) in error:\n{report}")]
    RulesInError {
        /// Number of rules in error.
        count: usize,
        /// The load report's text form.
        report: String,
    },
}

/// Loads the policy files at startup, or the built-in policy when `paths`
/// is empty. Rules in error are left out and named in the report, with
/// their file, line and column, and the rest of the policy loads. Fails when
/// a file cannot be read or parsed, or when rules are in error and no rule
/// is left active.
pub fn load_policy_skipping_errors(
    paths: &[PathBuf],
) -> Result<(Arc<dyn RuleSet>, LoadReport), PolicyError> {
    if paths.is_empty() {
        return load_policy(paths);
    }
    let (policy, report) = Policy::load_files(paths)?;
    let summary = report.summary();
    if summary.error > 0 && summary.active == 0 {
        return Err(PolicyError::RulesInError {
            count: summary.error,
            report: report.to_text(),
        });
    }
    Ok((Arc::new(PolicyRules::new(policy)), report))
}

/// Loads the policy files, or the built-in policy when `paths` is empty.
/// Rules in error make the whole load fail, so that a reload keeps the old
/// policy; unsupported rules are only reported.
pub fn load_policy(paths: &[PathBuf]) -> Result<(Arc<dyn RuleSet>, LoadReport), PolicyError> {
    if paths.is_empty() {
        let policy = Policy::builtin();
        let report = policy.report().clone();
        return Ok((Arc::new(PolicyRules::new(policy)), report));
    }
    let (policy, report) = Policy::load_files(paths)?;
    let in_error: Vec<_> = report
        .rules
        .iter()
        .filter(|rule| rule.status == RuleStatus::Error)
        .collect();
    if !in_error.is_empty() {
        return Err(PolicyError::RulesInError {
            count: in_error.len(),
            report: report.to_text(),
        });
    }
    Ok((Arc::new(PolicyRules::new(policy)), report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{EventBody, File, OpenEvent};

    fn write_policy(text: &str) -> (PathBuf, PathBuf) {
        let directory = std::env::temp_dir().join(format!(
            "sentrace-policy-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("test.policy");
        std::fs::write(&path, text).unwrap();
        (directory, path)
    }

    #[test]
    fn builtin_policy_flags_shadow_read() {
        let (rules, _) = load_policy(&[]).unwrap();
        let event = Event {
            timestamp: String::new(),
            process: Process {
                pid: 3,
                comm: "cat".into(),
                ..Process::default()
            },
            body: EventBody::Open {
                open: OpenEvent {
                    file: File::from_path("/etc/shadow"),
                    flags: 0,
                    mode: 0,
                    retval: 3,
                },
            },
        };
        let matches = rules.evaluate(&event, &[], &mut SessionRuleState::default());
        assert!(!matches.is_empty());
        assert!(rules.event_types().contains(&EventKind::Open));
    }

    #[test]
    fn rule_in_error_rejects_policy() {
        let text = "version: 1.0.0\nrules:\n  - id: broken\n    expression: open.file.path ==\n";
        let (directory, path) = write_policy(text);
        let result = load_policy(&[path]);
        let _ = std::fs::remove_dir_all(directory);
        let error = result.err();
        assert!(
            matches!(error, Some(PolicyError::RulesInError { count: 1, .. })),
            "{error:?}"
        );
    }
}
