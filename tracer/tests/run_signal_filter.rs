//! Signal syscalls stop only for the signal numbers the loaded rules read:
//! a shell sends 300 SIGURG and one SIGUSR1 to a child under `sentrace run`.
//! With a rule on SIGUSR1 alone, the SIGURG calls make no ptrace stop and
//! the SIGUSR1 still raises its alert. With a rule on SIGURG, every SIGURG
//! raises one.

mod probe_support;

use std::process::Command;
use std::time::Duration;

use probe_support::{json_lines, run_with_timeout, scratch_dir, sentrace, write_policy};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Number of SIGURG the workload sends.
const URGENT_SIGNALS: usize = 300;

/// Returns the workload script: a sleeping child, signalled by the shell's
/// `kill` builtin (one kill syscall each, no fork), then ended by SIGUSR1.
fn workload() -> String {
    format!(
        "sleep 30 & child=$!; i=0; \
         while [ $i -lt {URGENT_SIGNALS} ]; do kill -URG $child; i=$((i+1)); done; \
         kill -USR1 $child; wait $child; exit 0"
    )
}

/// Runs the workload under `sentrace run --verbose` with one rule. Returns
/// the number of alerts of that rule and the number of seccomp stops.
fn run_with_rule(test: &str, expression: &str) -> (usize, usize) {
    let directory = scratch_dir(test);
    let policy = write_policy(
        &directory,
        "signals.policy",
        &format!("  - id: watched_signal\n    expression: {expression}\n"),
    );
    let output = run_with_timeout(
        Command::new(sentrace())
            .args(["run", "--verbose", "--format", "json", "--policy"])
            .arg(&policy)
            .args(["--", "sh", "-c", &workload()]),
        TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    let alerts = json_lines(&stderr)
        .into_iter()
        .filter(|alert| alert["rule_id"] == "watched_signal")
        .count();
    let stops = stderr
        .lines()
        .filter(|line| line.contains("stop=Seccomp"))
        .count();
    (alerts, stops)
}

#[test]
fn unread_signals_make_no_stop() {
    let (alerts, stops) = run_with_rule("unread-signals", "signal.type == SIGUSR1");
    assert_eq!(alerts, 1, "one SIGUSR1 was sent");
    assert!(
        stops < URGENT_SIGNALS / 2,
        "{stops} seccomp stops for {URGENT_SIGNALS} SIGURG that no rule reads"
    );
}

#[test]
fn read_signals_raise_alerts() {
    let (alerts, stops) = run_with_rule("read-signals", "signal.type == SIGURG");
    assert_eq!(alerts, URGENT_SIGNALS);
    assert!(stops >= URGENT_SIGNALS, "{stops} seccomp stops");
}
