//! Fields that the tracer's caller declares about a workload: the
//! Kubernetes user session of its processes, the container tags and the
//! service they name, checked on synthetic events and with the Datadog
//! rules that read them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use protocol::{Event, EventBody, ExecEvent, File, Process, SessionType, UserSession};
use sentrace_rules::{Policy, RuleStatus, Variables};

const DATADOG_POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/rulesets/datadog_default.policy"
);

fn session() -> Arc<UserSession> {
    Arc::new(UserSession {
        id: "3f1c".into(),
        session_type: SessionType::K8s,
        k8s_username: "alice@example.com".into(),
        k8s_uid: "42".into(),
        k8s_groups: vec!["dev".into(), "system:authenticated".into()],
        k8s_extra: BTreeMap::from([("scopes".into(), vec!["view".into(), "exec".into()])]),
    })
}

fn process(pid: u32, path: &str) -> Process {
    Process {
        pid,
        tid: pid,
        ppid: pid - 1,
        comm: protocol::base_name(path).into(),
        file: File::from_path(path),
        argv: vec![protocol::base_name(path).into()],
        ..Process::default()
    }
}

fn exec(process: Process) -> Event {
    let exec = ExecEvent {
        file: process.file.clone(),
        argv: process.argv.clone(),
        ..ExecEvent::default()
    };
    Event {
        timestamp: "2026-01-01T00:00:00.000000Z".into(),
        process,
        body: EventBody::Exec { exec },
    }
}

fn in_session(mut process: Process) -> Process {
    process.user_session = Some(session());
    process
}

fn tagged(mut process: Process, tags: &[&str]) -> Process {
    let tags: Vec<String> = tags.iter().map(|tag| tag.to_string()).collect();
    process.container.tags = Some(Arc::from(tags));
    process
}

fn matches(expression: &str, event: &Event, ancestors: &[Process]) -> bool {
    let text = format!(
        "rules:\n  - id: r\n    expression: '{}'\n",
        expression.replace('\'', "''")
    );
    let (policy, report) = Policy::load_sources(&[("t.policy".into(), text)]).unwrap();
    let rule = &report.rules[0];
    assert_eq!(rule.status, RuleStatus::Active, "{expression}: {rule:?}");
    !policy
        .evaluate(event, ancestors, &mut Variables::default())
        .is_empty()
}

#[test]
fn user_session_fields_table() {
    let shell = exec(in_session(process(20, "/usr/bin/sh")));
    let plain = exec(process(20, "/usr/bin/sh"));
    let cases: &[(&str, &Event, bool)] = &[
        (
            r#"exec.user_session.k8s_username == "alice@example.com""#,
            &shell,
            true,
        ),
        (r#"process.user_session.k8s_uid == "42""#, &shell, true),
        (r#"exec.user_session.k8s_groups in ["dev"]"#, &shell, true),
        (
            r#"exec.user_session.k8s_groups in ["admin"]"#,
            &shell,
            false,
        ),
        (
            r#"exec.user_session.k8s_extra in ["scopes:exec"]"#,
            &shell,
            true,
        ),
        ("exec.user_session.session_type == 1", &shell, true),
        (r#"exec.user_session.id == "3f1c""#, &shell, true),
        (r#"exec.user_session.k8s_username != """#, &plain, false),
        ("exec.user_session.session_type == 0", &plain, true),
        (
            r#"process.user_session.k8s_groups in ["dev"]"#,
            &plain,
            false,
        ),
    ];
    for (expression, event, expected) in cases {
        assert_eq!(matches(expression, event, &[]), *expected, "{expression}");
    }
}

#[test]
fn user_session_of_parent_and_ancestors() {
    let child = exec(process(21, "/usr/bin/id"));
    let parent = in_session(process(20, "/usr/bin/sh"));
    let grandparent = process(19, "/usr/bin/runc");
    let expression = r#"process.parent.user_session.k8s_username == "alice@example.com""#;
    assert!(matches(
        expression,
        &child,
        &[parent.clone(), grandparent.clone()]
    ));
    assert!(!matches(
        expression,
        &child,
        &[grandparent.clone(), parent.clone()]
    ));
    let expression = r#"process.ancestors.user_session.k8s_username == "alice@example.com""#;
    assert!(matches(expression, &child, &[grandparent.clone(), parent]));
    assert!(!matches(expression, &child, &[grandparent]));
}

#[test]
fn container_tags_and_service() {
    let event = exec(tagged(
        process(30, "/usr/bin/id"),
        &["env:prod", "service:web", "tags.datadoghq.com/service"],
    ));
    let plain = exec(process(30, "/usr/bin/id"));
    let cases: &[(&str, &Event, bool)] = &[
        (
            r#""tags.datadoghq.com/service" in container.tags"#,
            &event,
            true,
        ),
        (
            r#""tags.datadoghq.com/service" in container.tags"#,
            &plain,
            false,
        ),
        (r#"container.tags in ["env:prod"]"#, &event, true),
        (r#"process.container.tags in [~"env:*"]"#, &event, true),
        (r#"container.tags in ["env:dev"]"#, &event, false),
        (r#"event.service == "web""#, &event, true),
        (r#"event.service == """#, &plain, true),
    ];
    for (expression, event, expected) in cases {
        assert_eq!(matches(expression, event, &[]), *expected, "{expression}");
    }
    let labelled = exec(tagged(
        process(30, "/usr/bin/id"),
        &["tags.datadoghq.com/service:api"],
    ));
    assert!(matches(r#"event.service == "api""#, &labelled, &[]));
}

/// Loads Datadog's policy with one more rule that reads the correlation
/// key the silent `execution_context_*` rules set, so that their effect
/// shows as a match.
fn datadog_with_probe(probe: &str) -> Policy {
    let datadog = std::fs::read_to_string(PathBuf::from(DATADOG_POLICY)).unwrap();
    let extra = format!("rules:\n  - id: probe\n    expression: '{probe}'\n");
    let sources = [
        ("datadog.policy".to_string(), datadog),
        ("probe.policy".to_string(), extra),
    ];
    let (policy, report) = Policy::load_sources(&sources).unwrap();
    for id in [
        "k8s_user_session",
        "execution_context_k8s_usersession_entrypoint",
        "execution_context_service",
        "probe",
    ] {
        let rule = report.rule(id).expect(id);
        assert_eq!(rule.status, RuleStatus::Active, "{id}: {:?}", rule.reason);
    }
    policy
}

fn matched_ids(policy: &Policy, event: &Event) -> Vec<String> {
    policy
        .evaluate(event, &[], &mut Variables::default())
        .into_iter()
        .map(|found| found.rule_id)
        .collect()
}

#[test]
fn datadog_k8s_session_rules() {
    let policy = datadog_with_probe(
        r#"exec.file.name == "id" && ${process.correlation_key} =~ "k8s_session_*""#,
    );
    let in_session = matched_ids(&policy, &exec(in_session(process(40, "/usr/bin/id"))));
    assert!(
        in_session.contains(&"k8s_user_session".to_string()),
        "{in_session:?}"
    );
    assert!(in_session.contains(&"probe".to_string()), "{in_session:?}");
    let outside = matched_ids(&policy, &exec(process(40, "/usr/bin/id")));
    assert!(
        !outside.contains(&"k8s_user_session".to_string()),
        "{outside:?}"
    );
    assert!(!outside.contains(&"probe".to_string()), "{outside:?}");
}

#[test]
fn datadog_service_context_rule() {
    let policy = datadog_with_probe(
        r#"exec.file.name == "id" && ${process.correlation_key} =~ "service_*""#,
    );
    let event = exec(tagged(
        process(50, "/usr/bin/id"),
        &["tags.datadoghq.com/service"],
    ));
    assert_eq!(matched_ids(&policy, &event), ["probe"]);
    let untagged = exec(tagged(process(50, "/usr/bin/id"), &["env:prod"]));
    assert!(matched_ids(&policy, &untagged).is_empty());
}
