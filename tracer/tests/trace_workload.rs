//! What the caller of `sentrace trace` declares about its workload: the
//! Kubernetes user of a `kubectl exec` session (`--k8s-user-session`) and the
//! workload's tags (`--tag`, `SENTRACE_TAGS`). Both reach the events, with
//! `--output` and through a probe, and the Datadog rules that read them.

mod policy_support;
mod probe_support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use policy_support::matched_rules;
use probe_support::{
    free_port, run_with_timeout, scratch_dir, wait_for_alerts, write_policy, ProbeProcess,
};
use protocol::{Event, EventBody};
use rules::Policy;
use serde_json::Value;

const DATADOG_POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/rulesets/datadog_default.policy"
);

const USER_INFO: &str = r#"{"username":"alice@example.com","uid":"42","groups":["dev","system:authenticated"],"extra":{"scopes":["exec"]}}"#;

/// Rules that show the effect of Datadog's silent `execution_context_*`
/// rules: they match when those rules set the correlation key of `id`.
const CONTEXT_PROBES: &str = r#"  - id: k8s_session_context
    expression: exec.file.name == "id" && ${process.correlation_key} =~ "k8s_session_*"
  - id: service_context
    expression: exec.file.name == "id" && ${process.correlation_key} =~ "service_*"
"#;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Loads Datadog's policy and [`CONTEXT_PROBES`].
fn datadog_with_probes() -> Policy {
    let datadog = std::fs::read_to_string(DATADOG_POLICY).expect("reading the Datadog policy");
    let sources = [
        ("datadog.policy".to_string(), datadog),
        (
            "probes.policy".to_string(),
            format!("rules:\n{CONTEXT_PROBES}"),
        ),
    ];
    let (policy, _) = Policy::load_sources(&sources).expect("loading the policies");
    policy
}

/// Runs `sh -c id` under `sentrace trace --output -` with more options and
/// environment variables, and returns the events it wrote.
fn trace_id(options: &[&str], environment: &[(&str, &str)]) -> Vec<Event> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sentrace"));
    command
        .args(["trace", "--output", "-"])
        .args(options)
        .args(["--", "sh", "-c", "id"])
        .env_remove("SENTRACE_TAGS")
        .envs(environment.iter().copied());
    let output = run_with_timeout(&mut command, TIMEOUT);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<Event> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert!(!events.is_empty(), "no events written");
    events
}

/// Returns the exec event of `id`.
fn id_exec(events: &[Event]) -> &Event {
    events
        .iter()
        .find(|event| matches!(&event.body, EventBody::Exec { exec } if exec.file.name == "id"))
        .expect("an exec event of id")
}

#[test]
fn k8s_user_session_reaches_events_and_rules() {
    let events = trace_id(&["--k8s-user-session", USER_INFO], &[]);
    let exec = id_exec(&events);
    let session = exec
        .process
        .user_session
        .as_deref()
        .expect("the exec of id carries the user session");
    assert_eq!(session.k8s_username, "alice@example.com");
    assert_eq!(session.k8s_uid, "42");
    assert_eq!(session.k8s_groups, ["dev", "system:authenticated"]);
    assert_eq!(session.k8s_extra["scopes"], ["exec"]);
    assert!(!session.id.is_empty());
    for event in &events {
        assert_eq!(
            event.process.user_session.as_deref(),
            Some(session),
            "{event:?}"
        );
    }
    let matched = matched_rules(&datadog_with_probes(), &events);
    assert!(matched.contains("k8s_user_session"), "{matched:?}");
    assert!(matched.contains("k8s_session_context"), "{matched:?}");

    let events = trace_id(&[], &[]);
    assert!(events
        .iter()
        .all(|event| event.process.user_session.is_none()));
    let matched = matched_rules(&datadog_with_probes(), &events);
    assert!(!matched.contains("k8s_user_session"), "{matched:?}");
    assert!(!matched.contains("k8s_session_context"), "{matched:?}");
}

#[test]
fn tags_reach_events_and_service_rule() {
    let service = "tags.datadoghq.com/service";
    let events = trace_id(&["--tag", service, "--tag", "env:test"], &[]);
    for event in &events {
        let tags = event.process.container.tags.as_deref();
        assert_eq!(tags, Some(&[service.to_string(), "env:test".into()][..]));
    }
    let matched = matched_rules(&datadog_with_probes(), &events);
    assert!(matched.contains("service_context"), "{matched:?}");

    let from_environment = trace_id(
        &[],
        &[("SENTRACE_TAGS", "env:test,tags.datadoghq.com/service")],
    );
    let tags = id_exec(&from_environment).process.container.tags.as_deref();
    assert_eq!(tags, Some(&["env:test".to_string(), service.into()][..]));
    let matched = matched_rules(&datadog_with_probes(), &from_environment);
    assert!(matched.contains("service_context"), "{matched:?}");

    let untagged = trace_id(&["--tag", "env:test"], &[]);
    let matched = matched_rules(&datadog_with_probes(), &untagged);
    assert!(!matched.contains("service_context"), "{matched:?}");
    let bare = trace_id(&[], &[]);
    assert!(bare
        .iter()
        .all(|event| event.process.container.tags.is_none()));
}

/// Traces `sh -c id` through a probe that loads Datadog's policy and
/// [`CONTEXT_PROBES`], and returns its alerts once one has `awaited` as
/// rule id, or after two seconds.
fn alerts_through_probe(name: &str, options: &[&str], awaited: &str) -> Vec<Value> {
    let directory = scratch_dir(name);
    let probes = write_policy(&directory, "probes.policy", CONTEXT_PROBES);
    let alerts_path = directory.join("alerts.jsonl");
    let sink = format!("file:{}", alerts_path.display());
    let probe = ProbeProcess::start(
        &directory,
        free_port(),
        &[
            "--policy",
            DATADOG_POLICY,
            "--policy",
            probes.to_str().expect("a UTF-8 path"),
            "--alerts",
            &sink,
        ],
    );

    let mut command = Command::new(env!("CARGO_BIN_EXE_sentrace"));
    command
        .args([
            "trace",
            "--probe-addr",
            &probe.addr(),
            "--on-probe-unavailable",
            "exit",
        ])
        .args(options)
        .args(["--", "sh", "-c", "id"])
        .env_remove("SENTRACE_TAGS");
    let output = run_with_timeout(&mut command, TIMEOUT);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The tracer flushed its events, but the probe's sink may still be writing.
    let alerts = wait_for_alerts(&alerts_path, Duration::from_secs(2), |alerts| {
        alerts.iter().any(|alert| alert["rule_id"] == awaited)
    });
    probe.terminate();
    let _ = std::fs::remove_dir_all(&directory);
    alerts
}

fn rule_ids(alerts: &[Value]) -> BTreeSet<String> {
    alerts
        .iter()
        .filter_map(|alert| alert["rule_id"].as_str().map(str::to_string))
        .collect()
}

/// Returns a member of the event of the first alert of rule `id`.
fn alert_member<'a>(alerts: &'a [Value], id: &str, pointer: &str) -> Option<&'a Value> {
    alerts
        .iter()
        .find(|alert| alert["rule_id"] == id)
        .and_then(|alert| alert["event"].pointer(pointer))
}

#[test]
fn session_reaches_probe_rules() {
    let options = ["--k8s-user-session", USER_INFO];
    let alerts = alerts_through_probe("probe-session", &options, "k8s_session_context");
    let ids = rule_ids(&alerts);
    assert!(ids.contains("k8s_user_session"), "{ids:?}");
    assert!(ids.contains("k8s_session_context"), "{ids:?}");
    let username = alert_member(
        &alerts,
        "k8s_user_session",
        "/process/user_session/k8s_username",
    );
    assert_eq!(username, Some(&Value::from("alice@example.com")));
}

#[test]
fn tags_reach_probe_rules() {
    let options = ["--tag", "tags.datadoghq.com/service"];
    let alerts = alerts_through_probe("probe-tags", &options, "service_context");
    let ids = rule_ids(&alerts);
    assert!(ids.contains("service_context"), "{ids:?}");
    assert!(!ids.contains("k8s_user_session"), "{ids:?}");
    let tags = alert_member(&alerts, "service_context", "/process/container/tags");
    assert_eq!(
        tags,
        Some(&serde_json::json!(["tags.datadoghq.com/service"]))
    );
}

#[test]
fn no_session_or_tags_no_probe_rules() {
    let alerts = alerts_through_probe("probe-plain", &[], "service_context");
    let ids = rule_ids(&alerts);
    for id in ["k8s_user_session", "k8s_session_context", "service_context"] {
        assert!(!ids.contains(id), "{id} in {ids:?}");
    }
}

#[test]
fn invalid_session_or_tag_is_rejected() {
    let cases: [&[&str]; 3] = [
        &["--k8s-user-session", r#"{"uid":"42"}"#],
        &["--k8s-user-session", "alice"],
        &["--tag", "two words"],
    ];
    for options in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sentrace"));
        command
            .args(["trace", "--output", "-"])
            .args(options)
            .args(["--", "true"]);
        let output = run_with_timeout(&mut command, TIMEOUT);
        assert_ne!(output.status.code(), Some(0), "{options:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("invalid"), "{options:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{options:?} started the command");
    }
}
