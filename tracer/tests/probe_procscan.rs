//! The tracer's `/proc` scanner: when `sentrace trace` is pid 1 of a pid
//! namespace (a container entrypoint), a process that enters the namespace
//! from outside, as `kubectl exec` or `docker exec` do, is reported as an
//! `exec` event with `exec.is_procfs` true.

mod probe_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use probe_support::{
    free_port, read_alerts, scratch_dir, wait_for_alerts, wait_with_timeout, write_policy,
    ProbeProcess,
};

/// Returns the first child of `pid`, waiting up to 10 s for it to appear.
fn first_child(pid: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(child) = children
            .split_whitespace()
            .next()
            .and_then(|child| child.parse().ok())
        {
            return child;
        }
        assert!(Instant::now() < deadline, "unshare started no child");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn exec_from_outside_namespace_is_reported() {
    let directory = scratch_dir("procscan");
    let rules = "  - id: procfs_exec\n    description: process found in /proc\n    expression: exec.is_procfs == true\n";
    let policy = write_policy(&directory, "procscan.policy", rules);
    let alerts_path = directory.join("alerts.jsonl");
    let sink = format!("file:{}", alerts_path.display());
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

    // sentrace becomes pid 1 of a new pid namespace with its own /proc.
    let tracer = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", probe_support::sentrace()])
        .args([
            "trace",
            "--probe-addr",
            &probe.addr(),
            "--on-probe-unavailable",
            "exit",
            "--",
            "sleep",
            "6",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting unshare (util-linux)");
    let namespace_init = first_child(tracer.id());
    std::thread::sleep(Duration::from_millis(1500));

    // Like `docker exec`: join the namespace from outside and run a command.
    let entered = Command::new("nsenter")
        .args([
            "-t",
            &namespace_init.to_string(),
            "-p",
            "-m",
            "--",
            "sh",
            "-c",
            "exec sleep 2.5",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting nsenter (util-linux)");

    let alerts = wait_for_alerts(&alerts_path, Duration::from_secs(10), |alerts| {
        !alerts.is_empty()
    });
    let entered_output = wait_with_timeout(entered, Duration::from_secs(20));
    assert!(
        entered_output.status.success(),
        "nsenter: {}",
        String::from_utf8_lossy(&entered_output.stderr)
    );
    let output = wait_with_timeout(tracer, Duration::from_secs(60));
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    assert!(
        !alerts.is_empty(),
        "no procfs exec reported; probe log:\n{}",
        probe.log_text()
    );
    let alert = &alerts[0];
    assert_eq!(alert["event"]["type"], "exec");
    assert_eq!(alert["event"]["exec"]["procfs"], true);
    assert_eq!(alert["event"]["process"]["comm"], "sleep");
    let argv: Vec<&str> = alert["event"]["exec"]["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .filter_map(|arg| arg.as_str())
        .collect();
    assert_eq!(argv, vec!["sleep", "2.5"]);
    // The traced `sleep 6` is a descendant of the tracer, so it is not reported.
    let all_alerts = read_alerts(&alerts_path);
    assert_eq!(all_alerts.len(), 1, "alerts: {all_alerts:?}");
}
