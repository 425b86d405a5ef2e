//! Rule actions under `sentrace run`: a `kill` rule stops the offending
//! process, and a `deny` rule makes the syscall fail with EPERM while the
//! workload goes on.

mod probe_support;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use probe_support::{json_lines, run_with_timeout, scratch_dir, sentrace, write_policy};

#[test]
fn kill_rule_stops_offending_process() {
    let directory = scratch_dir("kill");
    let trigger = directory.join("kill-me");
    std::fs::write(&trigger, "").expect("creating trigger");
    let rules = format!(
        "  - id: kill_on_trigger\n    description: trigger file opened\n    expression: open.file.path == \"{}\"\n    actions:\n      - kill:\n          signal: SIGKILL\n",
        trigger.display()
    );
    let policy = write_policy(&directory, "kill.policy", &rules);
    let script = format!(": < {}; exec sleep 20", trigger.display());

    let started = Instant::now();
    let output = run_with_timeout(
        Command::new(sentrace())
            .args(["run", "--format", "json", "--policy"])
            .arg(&policy)
            .args(["--", "sh", "-c", &script]),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.signal(), Some(9), "stderr: {stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the workload was not killed: {:?}",
        started.elapsed()
    );
    let alerts = json_lines(&stderr);
    assert_eq!(alerts.len(), 1, "stderr: {stderr}");
    assert_eq!(alerts[0]["rule_id"], "kill_on_trigger");
}

#[test]
fn deny_rule_fails_syscall_and_workload_continues() {
    let directory = scratch_dir("deny");
    let secret = directory.join("denied");
    let after = directory.join("after");
    std::fs::write(&secret, "secret").expect("creating denied file");
    let rules = format!(
        "  - id: deny_secret\n    description: protected file opened\n    expression: open.file.path == \"{}\"\n    actions:\n      - deny: {{}}\n",
        secret.display()
    );
    let policy = write_policy(&directory, "deny.policy", &rules);
    let script = format!(
        "cat {secret} 2>{err}; echo \"status=$?\" > {after}",
        secret = secret.display(),
        err = directory.join("cat.err").display(),
        after = after.display()
    );

    let output = run_with_timeout(
        Command::new(sentrace())
            .args(["run", "--format", "json", "--policy"])
            .arg(&policy)
            .args(["--", "sh", "-c", &script]),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    let after_text =
        std::fs::read_to_string(&after).expect("the workload went on after the denied open");
    assert_eq!(after_text.trim(), "status=1");
    let cat_error = std::fs::read_to_string(directory.join("cat.err")).expect("cat stderr");
    assert!(
        cat_error.contains("Operation not permitted"),
        "cat said: {cat_error}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("secret"));
    let alerts = json_lines(&stderr);
    assert!(
        alerts.iter().any(|alert| alert["rule_id"] == "deny_secret"),
        "stderr: {stderr}"
    );
}

#[test]
fn process_group_kill_spares_the_caller() {
    let directory = scratch_dir("killpg");
    let trigger = directory.join("kill-group");
    std::fs::write(&trigger, "").expect("creating trigger");
    let rules = format!(
        "  - id: kill_group_on_trigger\n    description: trigger file opened\n    expression: open.file.path == \"{}\"\n    actions:\n      - kill:\n          signal: SIGKILL\n          scope: process_group\n",
        trigger.display()
    );
    let policy = write_policy(&directory, "killpg.policy", &rules);
    let workload = format!(": < {}; exec sleep 20", trigger.display());
    // The caller shell shares its process group with sentrace and the
    // workload; it must survive the kill and report sentrace's status.
    let caller =
        "\"$0\" run --format json --policy \"$1\" -- sh -c \"$2\"; echo \"caller alive $?\"";

    let output = run_with_timeout(
        Command::new("sh")
            .args(["-c", caller])
            .arg(sentrace())
            .arg(&policy)
            .arg(&workload),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stdout.trim(), "caller alive 137", "stderr: {stderr}");
    let alerts = json_lines(&stderr);
    assert_eq!(alerts.len(), 1, "stderr: {stderr}");
    assert_eq!(alerts[0]["rule_id"], "kill_group_on_trigger");
}
