//! Events of a process whose arguments exceed the 1 MiB frame limit still
//! reach the probe, with the argument list cut to fit.

mod probe_support;

use std::process::Command;
use std::time::{Duration, Instant};

use probe_support::{json_lines, run_with_timeout, sentrace};

#[test]
fn huge_argv_still_raises_alert() {
    // 1200 arguments of 1000 bytes: about 1.2 MB, under ARG_MAX but over
    // the frame limit.
    let filler: Vec<String> = (0..1200).map(|_| "a".repeat(1000)).collect();
    let started = Instant::now();
    let output = run_with_timeout(
        Command::new(sentrace())
            .args(["run", "--format", "json", "--"])
            .args(["python3", "-c", "open('/etc/shadow').read()"])
            .args(&filler),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "sentrace run took {:?} to exit",
        started.elapsed()
    );
    let alerts = json_lines(&stderr);
    let shadow = alerts
        .iter()
        .find(|alert| alert["rule_id"] == "credential_shadow_read")
        .unwrap_or_else(|| panic!("no shadow alert in: {stderr}"));
    let argv = shadow["event"]["process"]["argv"]
        .as_array()
        .expect("argv array");
    let program = argv[0].as_str().unwrap_or_default();
    assert!(program.ends_with("python3"), "argv[0] is {program}");
    assert!(
        argv.len() < 1203,
        "argv was not cut: {} entries",
        argv.len()
    );
}
