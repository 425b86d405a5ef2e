//! Loads Datadog's public default policy unchanged.

use std::path::PathBuf;

use sentrace_rules::{Policy, RuleStatus};

fn datadog_policy() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/rulesets/datadog_default.policy"
    ))
}

#[test]
fn datadog_policy_loads_without_errors() {
    let (policy, report) = Policy::load_files(&[datadog_policy()]).unwrap();
    let errors: Vec<String> = report
        .rules
        .iter()
        .filter(|rule| rule.status == RuleStatus::Error)
        .map(|rule| format!("{}: {}", rule.id, rule.reason.clone().unwrap_or_default()))
        .collect();
    assert!(errors.is_empty(), "rules in error:\n{}", errors.join("\n"));
    let summary = report.summary();
    assert!(
        summary.active >= 100,
        "only {} active rules",
        summary.active
    );
    assert!(!policy.event_types().is_empty());
}

#[test]
fn unsupported_reasons_name_what_is_missing() {
    let (_, report) = Policy::load_files(&[datadog_policy()]).unwrap();
    for rule in report
        .rules
        .iter()
        .filter(|rule| rule.status == RuleStatus::Unsupported)
    {
        let reason = rule.reason.as_deref().unwrap_or_default();
        let names_something = reason.contains("field ")
            || reason.contains("event type ")
            || reason.contains("variable scope ")
            || reason.contains("scope ");
        assert!(names_something, "{}: {reason}", rule.id);
    }
}

#[test]
fn cgroup_rules_are_active_and_nothing_is_misspelt() {
    let (_, report) = Policy::load_files(&[datadog_policy()]).unwrap();
    for rule in &report.rules {
        let reason = rule.reason.as_deref().unwrap_or_default();
        assert!(!reason.contains("scope cgroup"), "{}: {reason}", rule.id);
        assert!(!reason.contains("unknown field"), "{}: {reason}", rule.id);
        assert!(
            matches!(
                rule.status,
                RuleStatus::Active | RuleStatus::Filtered | RuleStatus::Unsupported
            ),
            "{}: {:?} {reason}",
            rule.id,
            rule.status
        );
    }
    let summary = report.summary();
    // 239 rules of version 1.69.3 are active, so fewer means a rule stopped loading.
    assert!(summary.active >= 239, "{summary:?}");
    assert_eq!(summary.error, 0, "{summary:?}");
}
