//! The probe is stopped and started again while a traced workload produces
//! events without pause: every event reaches a probe exactly once, because
//! the tracer resends what was not acknowledged and the stopping probe
//! acknowledges what it processed. A buffer smaller than the outage drops
//! the oldest events and reports them as a `lost` event.

mod probe_support;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use probe_support::{
    free_port, read_alerts, scratch_dir, wait_with_timeout, write_policy, ProbeProcess,
};

const MARKS: usize = 400;

fn mark_policy(directory: &std::path::Path) -> std::path::PathBuf {
    let rules = format!(
        "  - id: mark_open\n    description: a mark file was opened\n    expression: open.file.path =~ \"{}/mark-*\"\n",
        directory.display()
    );
    write_policy(directory, "marks.policy", &rules)
}

/// Returns a shell script that opens `MARKS` mark files and runs the shell
/// command `pause` after each.
fn workload_script(directory: &std::path::Path, pause: &str) -> String {
    format!(
        "i=0; while [ $i -lt {MARKS} ]; do : < {dir}/mark-$i; i=$((i+1)); {pause}; done",
        dir = directory.display()
    )
}

fn create_marks(directory: &std::path::Path) {
    for index in 0..MARKS {
        std::fs::write(directory.join(format!("mark-{index}")), "").expect("creating mark file");
    }
}

#[test]
fn probe_restart_delivers_every_event_once() {
    let directory = scratch_dir("restart");
    create_marks(&directory);
    let policy = mark_policy(&directory);
    let alerts_path = directory.join("alerts.jsonl");
    let sink = format!("file:{}", alerts_path.display());
    let port = free_port();
    let probe_args = [
        "--policy",
        policy.to_str().expect("utf-8 path"),
        "--alerts",
        &sink,
    ];
    let first = ProbeProcess::start(&directory, port, &probe_args);

    let tracer = Command::new(probe_support::sentrace())
        .args([
            "trace",
            "--probe-addr",
            &first.addr(),
            "--on-probe-unavailable",
            "exit",
            "--",
        ])
        .args(["sh", "-c", &workload_script(&directory, "sleep 0.01")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting sentrace trace");

    thread::sleep(Duration::from_millis(1500));
    first.terminate();
    let during_outage = read_alerts(&alerts_path).len();
    thread::sleep(Duration::from_millis(1500));
    let second = ProbeProcess::start(&directory, port, &probe_args);

    let output = wait_with_timeout(tracer, Duration::from_secs(120));
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    second.terminate();

    let alerts = read_alerts(&alerts_path);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for alert in &alerts {
        let name = alert["event"]["open"]["file"]["name"]
            .as_str()
            .expect("mark name")
            .to_string();
        *counts.entry(name).or_default() += 1;
    }
    assert!(
        during_outage > 0 && during_outage < MARKS,
        "restart did not happen mid-run ({during_outage} alerts before it)"
    );
    let missing: Vec<usize> = (0..MARKS)
        .filter(|index| !counts.contains_key(&format!("mark-{index}")))
        .collect();
    assert!(missing.is_empty(), "marks never delivered: {missing:?}");
    let repeated: Vec<(&String, &usize)> = counts.iter().filter(|(_, count)| **count > 1).collect();
    assert!(repeated.is_empty(), "marks delivered twice: {repeated:?}");
    assert_eq!(alerts.len(), MARKS);
}

#[test]
fn small_buffer_reports_lost_events() {
    let directory = scratch_dir("lost");
    create_marks(&directory);
    let policy = mark_policy(&directory);
    let alerts_path = directory.join("alerts.jsonl");
    let sink = format!("file:{}", alerts_path.display());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");

    // No probe at first: the workload runs and the buffer of 50 overflows.
    let tracer = Command::new(probe_support::sentrace())
        .args([
            "trace",
            "--probe-addr",
            &addr,
            "--async",
            "--buffer-events",
            "50",
            "--",
        ])
        .args([
            "sh",
            "-c",
            &format!("{}; sleep 4", workload_script(&directory, "true")),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting sentrace trace");
    thread::sleep(Duration::from_secs(2));
    let probe_args = [
        "--policy",
        policy.to_str().expect("utf-8 path"),
        "--alerts",
        &sink,
        "--metrics-addr",
        &metrics_addr,
    ];
    let probe = ProbeProcess::start(&directory, port, &probe_args);
    let output = wait_with_timeout(tracer, Duration::from_secs(60));
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let metrics = http_get(&metrics_addr, "/metrics");
    let lost: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("sentrace_events_lost_total "))
        .and_then(|value| value.trim().parse().ok())
        .expect("lost counter in metrics");
    let alerts = read_alerts(&alerts_path);
    assert!(lost > 0, "metrics:\n{metrics}");
    assert!(
        alerts.len() <= 50,
        "{} alerts passed a buffer of 50",
        alerts.len()
    );
    // Each open is one event; opens plus execs, forks and exits exceed the
    // marks, so everything that was not delivered must be counted as lost.
    assert!(
        lost as usize + alerts.len() >= MARKS,
        "lost {lost} + delivered {} < {MARKS}",
        alerts.len()
    );
    assert!(http_get(&metrics_addr, "/healthz").contains("ok"));
    drop(probe);
}

/// Sends an HTTP/1.1 GET to the probe's metrics server and returns the response.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connecting to metrics");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// A probe that stops before the workload ends does not hold up the exit
/// for --probe-timeout: the tracer gives up on an unreachable probe about a
/// second after the workload ends.
#[test]
fn stopped_probe_does_not_delay_exit() {
    let directory = scratch_dir("stopped-probe");
    let policy = mark_policy(&directory);
    let port = free_port();
    let probe = ProbeProcess::start(
        &directory,
        port,
        &["--policy", policy.to_str().expect("utf-8 path")],
    );
    let tracer = Command::new(probe_support::sentrace())
        .args([
            "trace",
            "--probe-timeout",
            "120",
            "--probe-addr",
            &probe.addr(),
        ])
        .args(["--", "sh", "-c", "sleep 2; cat /etc/hostname; exit 3"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting sentrace trace");
    thread::sleep(Duration::from_millis(700));
    probe.terminate();

    // Killed at the timeout, the tracer would report no exit status.
    let output = wait_with_timeout(tracer, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "stderr: {stderr}");
    assert!(
        stderr.contains("probe unreachable at exit"),
        "stderr: {stderr}"
    );
}
