//! Loads Datadog's public default policy unchanged.

use std::path::PathBuf;

use sentrace_rules::{OpenFilter, Policy, RuleStatus};

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

#[test]
fn signal_rules_read_high_numbers_only() {
    let builtin = (
        "<builtin>".to_string(),
        sentrace_rules::BUILTIN_POLICY.to_string(),
    );
    let datadog = (
        "datadog_default.policy".to_string(),
        std::fs::read_to_string(datadog_policy()).unwrap(),
    );
    let (policy, _) = Policy::load_sources(&[datadog, builtin]).unwrap();
    // rootkit_activation reads `signal.type > 31`; the built-in rule reads
    // only signals to the tracer, which the tracer always reports.
    let interest = policy.signal_interest().expect("a narrowed set");
    assert_eq!(interest.len(), 1, "{interest:?}");
    assert_eq!(interest[0].first, 32);
    assert_eq!(interest[0].last, u32::MAX);
}

#[test]
fn datadog_open_rules_all_name_their_files() {
    let (policy, _) = Policy::load_files(&[datadog_policy()]).unwrap();
    let interest = policy
        .open_interest()
        .expect("every open rule has a path, name or flag condition");
    let filter = OpenFilter::new(&interest).unwrap();
    assert!(filter.may_match("/etc/shadow", 0));
    assert!(filter.may_match("/root/.aws/credentials", 0));
    assert!(filter.may_match("/etc/sudoers", libc_o_wronly()));
    assert!(!filter.may_match("/etc/hostname", 0));
    assert!(!filter.may_match("/usr/lib/x86_64-linux-gnu/libc.so.6", 0));
}

fn libc_o_wronly() -> u32 {
    0o1
}
