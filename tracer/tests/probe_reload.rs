//! Policy reload of `sentrace probe`: a changed policy file and SIGHUP load
//! the new rules for the next sessions, and a policy with errors leaves the
//! running one in place.

mod probe_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use probe_support::{
    free_port, read_alerts, scratch_dir, wait_with_timeout, write_policy, ProbeProcess,
};

fn rule_for(name: &str, directory: &Path) -> String {
    format!(
        "  - id: open_{name}\n    description: {name} opened\n    expression: open.file.path == \"{}/{name}\"\n",
        directory.display()
    )
}

/// Traces a shell that opens files `a` and `b` in `directory`.
fn trace_opens(probe: &ProbeProcess, directory: &Path) {
    let script = format!(": < {dir}/a; : < {dir}/b", dir = directory.display());
    let tracer = Command::new(probe_support::sentrace())
        .args([
            "trace",
            "--probe-addr",
            &probe.addr(),
            "--on-probe-unavailable",
            "exit",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting sentrace trace");
    let output = wait_with_timeout(tracer, Duration::from_secs(60));
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn rule_ids(path: &Path) -> Vec<String> {
    read_alerts(path)
        .iter()
        .filter_map(|alert| alert["rule_id"].as_str().map(str::to_string))
        .collect()
}

/// Waits up to 15 s until `log` (a function returning the log's text)
/// contains `text` `count` times.
fn wait_for_text(log: impl Fn() -> String, text: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while log().matches(text).count() < count {
        assert!(
            Instant::now() < deadline,
            "no {text:?} in the log:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_log(probe: &ProbeProcess, text: &str, count: usize) {
    wait_for_text(|| probe.log_text(), text, count);
}

#[test]
fn changed_policy_is_reloaded_and_bad_one_rejected() {
    let directory = scratch_dir("reload");
    std::fs::write(directory.join("a"), "").expect("file a");
    std::fs::write(directory.join("b"), "").expect("file b");
    let policy = write_policy(&directory, "reload.policy", &rule_for("a", &directory));
    let alerts = directory.join("alerts.jsonl");
    let sink = format!("file:{}", alerts.display());
    let probe = ProbeProcess::start(
        &directory,
        free_port(),
        &[
            "--policy",
            policy.to_str().expect("path"),
            "--alerts",
            &sink,
        ],
    );

    trace_opens(&probe, &directory);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rule_ids(&alerts), vec!["open_a"]);

    // A changed file is picked up by the watcher.
    std::thread::sleep(Duration::from_millis(1100));
    write_policy(&directory, "reload.policy", &rule_for("b", &directory));
    wait_for_log(&probe, "policy reloaded", 1);
    trace_opens(&probe, &directory);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rule_ids(&alerts), vec!["open_a", "open_b"]);

    // A broken policy is refused; SIGHUP makes the probe try it at once.
    write_policy(
        &directory,
        "reload.policy",
        "  - id: broken\n    expression: open.file.path ==\n",
    );
    let _ = Command::new("kill")
        .args(["-HUP", &probe.child.id().to_string()])
        .status();
    wait_for_log(&probe, "policy reload failed", 1);
    trace_opens(&probe, &directory);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rule_ids(&alerts), vec!["open_a", "open_b", "open_b"]);
}

/// A running tracer learns the open conditions of a reloaded policy: a
/// file that no rule named when the workload started raises an alert once
/// a reload adds a rule for it.
#[test]
fn running_tracer_follows_reloaded_open_rules() {
    let directory = scratch_dir("reload-running");
    std::fs::write(directory.join("a"), "").expect("file a");
    std::fs::write(directory.join("b"), "").expect("file b");
    let policy = write_policy(&directory, "reload.policy", &rule_for("a", &directory));
    let alerts = directory.join("alerts.jsonl");
    let sink = format!("file:{}", alerts.display());
    let probe = ProbeProcess::start(
        &directory,
        free_port(),
        &[
            "--policy",
            policy.to_str().expect("path"),
            "--alerts",
            &sink,
        ],
    );
    // The workload opens `b` once before the reload and once after it,
    // which it learns from the file `go`.
    let script = format!(
        ": < {dir}/b; while [ ! -e {dir}/go ]; do sleep 0.05; done; : < {dir}/b",
        dir = directory.display()
    );
    let tracer_log = directory.join("tracer.log");
    let tracer = Command::new(probe_support::sentrace())
        .args(["trace", "--verbose", "--probe-addr", &probe.addr()])
        .args(["--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&tracer_log).expect("tracer log"))
        .spawn()
        .expect("starting sentrace trace");

    std::thread::sleep(Duration::from_millis(1100));
    write_policy(&directory, "reload.policy", &rule_for("b", &directory));
    wait_for_log(&probe, "policy reloaded", 1);
    let tracer_text = || std::fs::read_to_string(&tracer_log).unwrap_or_default();
    wait_for_text(tracer_text, "open filter replaced", 1);
    std::fs::write(directory.join("go"), "").expect("file go");

    let output = wait_with_timeout(tracer, Duration::from_secs(60));
    assert_eq!(
        output.status.code(),
        Some(0),
        "tracer log: {}",
        std::fs::read_to_string(&tracer_log).unwrap_or_default()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rule_ids(&alerts), vec!["open_b"]);
}
