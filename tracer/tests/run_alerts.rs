//! `sentrace run` end to end: the built-in policy raises the credential read
//! alert for a real `cat /etc/shadow`, a benign command raises none, and the
//! workload's exit status comes back.

mod probe_support;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use probe_support::{json_lines, run_with_timeout, sentrace};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The built-in rule for reads of `/etc/shadow`.
const CREDENTIAL_RULE: &str = "credential_shadow_read";

#[test]
fn shadow_read_raises_text_alert() {
    let output = run_with_timeout(
        Command::new(sentrace()).args(["run", "--", "sh", "-c", "cat /etc/shadow >/dev/null"]),
        TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    let alerts: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("ALERT "))
        .collect();
    assert_eq!(alerts.len(), 1, "stderr: {stderr}");
    assert!(alerts[0].contains("open /etc/shadow"), "{}", alerts[0]);
    assert!(alerts[0].contains("cat["), "{}", alerts[0]);
}

#[test]
fn shadow_read_json_alert_has_event_and_ancestry() {
    let output = run_with_timeout(
        Command::new(sentrace()).args([
            "run",
            "--format",
            "json",
            "--",
            "sh",
            "-c",
            "cat /etc/shadow >/dev/null",
        ]),
        TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    let alerts: Vec<_> = json_lines(&stderr)
        .into_iter()
        .filter(|alert| alert["rule_id"] == CREDENTIAL_RULE)
        .collect();
    assert_eq!(alerts.len(), 1, "stderr: {stderr}");
    let alert = &alerts[0];
    assert_eq!(alert["event"]["type"], "open");
    assert_eq!(alert["event"]["open"]["file"]["path"], "/etc/shadow");
    assert_eq!(alert["event"]["process"]["comm"], "cat");
    assert_eq!(alert["session"]["mode"], "wrap");
    assert!(alert["timestamp"]
        .as_str()
        .is_some_and(|time| time.ends_with('Z')));
    // cat runs under sh, which runs under the sentrace process.
    let ancestors: Vec<&str> = alert["ancestors"]
        .as_array()
        .expect("ancestors")
        .iter()
        .filter_map(|process| process["comm"].as_str())
        .collect();
    assert_eq!(ancestors.first(), Some(&"sh"), "{ancestors:?}");
    assert!(ancestors.contains(&"sentrace"), "{ancestors:?}");
}

#[test]
fn benign_command_raises_nothing() {
    let output = run_with_timeout(
        Command::new(sentrace()).args([
            "run",
            "--format",
            "json",
            "--",
            "sh",
            "-c",
            "cat /etc/hostname >/dev/null; ls / >/dev/null",
        ]),
        TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(json_lines(&stderr).is_empty(), "stderr: {stderr}");
}

#[test]
fn workload_exit_status_passes_through() {
    let output = run_with_timeout(
        Command::new(sentrace()).args(["run", "--", "sh", "-c", "exit 7"]),
        TIMEOUT,
    );
    assert_eq!(output.status.code(), Some(7));
    let killed = run_with_timeout(
        Command::new(sentrace()).args(["run", "--", "sh", "-c", "kill -TERM $$"]),
        TIMEOUT,
    );
    assert_eq!(killed.status.signal(), Some(15));
}

#[test]
fn bad_rules_are_reported_and_the_rest_runs() {
    let directory = probe_support::scratch_dir("bad-rules");
    let policy = probe_support::write_policy(
        &directory,
        "mixed.policy",
        "  - id: shadow_opened\n    expression: open.file.path == \"/etc/shadow\"\n  \
         - id: misspelt_field\n    expression: open.file.pth == \"/x\"\n",
    );
    let output = run_with_timeout(
        Command::new(sentrace())
            .args(["run", "--policy"])
            .arg(&policy)
            .args(["--", "sh", "-c", "cat /etc/shadow >/dev/null"]),
        TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.contains("misspelt_field"), "stderr: {stderr}");
    // The file starts with a version line, so the misspelt field sits on
    // line 6, column 17.
    assert!(stderr.contains("mixed.policy:6:17"), "stderr: {stderr}");
    let alerts: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("ALERT ") && line.contains("shadow_opened"))
        .collect();
    assert_eq!(alerts.len(), 1, "stderr: {stderr}");
}

#[test]
fn policy_without_valid_rule_is_refused() {
    let directory = probe_support::scratch_dir("no-valid-rule");
    let policy = probe_support::write_policy(
        &directory,
        "broken.policy",
        "  - id: misspelt_field\n    expression: open.file.pth == \"/x\"\n",
    );
    let output = run_with_timeout(
        Command::new(sentrace())
            .args(["run", "--policy"])
            .arg(&policy)
            .args(["--", "true"]),
        TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("policy not loaded"), "stderr: {stderr}");
}

#[test]
fn script_in_tmp_is_the_executed_file() {
    let directory = probe_support::scratch_dir("script-exec");
    let script = directory.join("job.sh");
    std::fs::write(&script, "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let output = run_with_timeout(
        Command::new(sentrace())
            .args(["run", "--format", "json", "--"])
            .arg(&script),
        TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ran\n");
    let alerts: Vec<_> = json_lines(&stderr)
        .into_iter()
        .filter(|alert| alert["rule_id"] == "exec_from_tmp")
        .collect();
    assert_eq!(alerts.len(), 1, "stderr: {stderr}");
    let process = &alerts[0]["event"]["process"];
    assert_eq!(process["file"]["path"], script.to_str().unwrap());
    // Debian's /bin/sh is dash; the interpreter is whatever it resolves to.
    let interpreter = process["interpreter"]["path"].as_str().unwrap_or_default();
    assert!(interpreter.ends_with("sh"), "{process}");
}

#[test]
fn run_passes_tags_and_user_session() {
    let directory = probe_support::scratch_dir("run-context");
    let policy = probe_support::write_policy(
        &directory,
        "context.policy",
        "  - id: alice_exec\n    expression: exec.user_session.k8s_username == \"alice\"\n  \
         - id: red_team_exec\n    expression: exec.file.name == \"true\" && \"team:red\" in container.tags\n",
    );
    let output = run_with_timeout(
        Command::new(sentrace())
            .args(["run", "--format", "json", "--policy"])
            .arg(&policy)
            .args([
                "--tag",
                "team:red",
                "--k8s-user-session",
                r#"{"username":"alice","uid":"42","groups":["dev"]}"#,
                "--",
                "true",
            ]),
        TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    let rules: Vec<String> = json_lines(&stderr)
        .into_iter()
        .filter_map(|alert| alert["rule_id"].as_str().map(str::to_string))
        .collect();
    assert!(
        rules.contains(&"alice_exec".to_string()),
        "stderr: {stderr}"
    );
    assert!(
        rules.contains(&"red_team_exec".to_string()),
        "stderr: {stderr}"
    );
}

#[test]
fn missing_policy_file_is_named_once() {
    let output = run_with_timeout(
        Command::new(sentrace()).args(["run", "--policy", "/nonexistent.policy", "--", "true"]),
        TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("/nonexistent.policy"), "stderr: {stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "stderr: {stderr}"
    );
}
