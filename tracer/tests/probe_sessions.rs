//! Several `sentrace trace` processes against one `sentrace probe`: each
//! alert carries its own session and the ancestry of the offending process
//! (a shell spawned by a fake server).

mod probe_support;

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use probe_support::{free_port, scratch_dir, wait_for_alerts, wait_with_timeout, ProbeProcess};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(60);

fn comms_and_argv(alert: &Value) -> Vec<(String, Vec<String>)> {
    alert["ancestors"]
        .as_array()
        .map(|ancestors| {
            ancestors
                .iter()
                .map(|process| {
                    let comm = process["comm"].as_str().unwrap_or_default().to_string();
                    let argv = process["argv"]
                        .as_array()
                        .map(|argv| {
                            argv.iter()
                                .filter_map(|arg| arg.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    (comm, argv)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn alerts_carry_session_and_ancestry() {
    let directory = scratch_dir("sessions");
    let server = directory.join("fakeserver");
    std::fs::write(&server, "#!/bin/sh\n# A server that spawns a shell, as an exploited one would.\nsh -c 'cat /etc/shadow >/dev/null; true'\n")
        .expect("writing fake server");
    std::fs::set_permissions(&server, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let alerts_path = directory.join("alerts.jsonl");
    let alerts_sink = format!("file:{}", alerts_path.display());
    let probe = ProbeProcess::start(&directory, free_port(), &["--alerts", &alerts_sink]);

    let tracers: Vec<_> = ["tenant-a", "tenant-b", "tenant-c"]
        .iter()
        .map(|marker| {
            Command::new(probe_support::sentrace())
                .args([
                    "trace",
                    "--probe-addr",
                    &probe.addr(),
                    "--on-probe-unavailable",
                    "exit",
                    "--",
                ])
                .arg(&server)
                .arg(marker)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starting sentrace trace")
        })
        .collect();
    for tracer in tracers {
        let output = wait_with_timeout(tracer, TIMEOUT);
        assert_eq!(
            output.status.code(),
            Some(0),
            "stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // The fake server is a script in /tmp, so each session also raises
    // exec_from_tmp for it. This test follows the ancestry of the shell's
    // read of /etc/shadow.
    let is_shadow_read = |alert: &serde_json::Value| alert["rule_id"] == "credential_shadow_read";
    let alerts = wait_for_alerts(&alerts_path, Duration::from_secs(10), |alerts| {
        alerts.iter().filter(|alert| is_shadow_read(alert)).count() >= 3
    });
    let alerts: Vec<_> = alerts.into_iter().filter(is_shadow_read).collect();
    assert_eq!(
        alerts.len(),
        3,
        "alerts: {alerts:?}\nprobe log:\n{}",
        probe.log_text()
    );
    let sessions: HashSet<&str> = alerts
        .iter()
        .filter_map(|alert| alert["session"]["id"].as_str())
        .collect();
    assert_eq!(sessions.len(), 3, "each tracer is its own session");

    let mut markers_seen = HashSet::new();
    for alert in &alerts {
        assert_eq!(alert["event"]["process"]["comm"], "cat");
        let ancestry = comms_and_argv(alert);
        let server_entry = ancestry.iter().find(|(comm, _)| comm == "fakeserver");
        let (_, argv) =
            server_entry.unwrap_or_else(|| panic!("no fakeserver ancestor in {ancestry:?}"));
        let marker = argv
            .iter()
            .find(|arg| arg.starts_with("tenant-"))
            .expect("marker argument");
        markers_seen.insert(marker.clone());
        // The tracer of the same session is further up the chain.
        let tracer = ancestry
            .iter()
            .find(|(comm, _)| comm == "sentrace")
            .expect("sentrace ancestor");
        assert!(
            tracer.1.contains(marker),
            "session {} mixes tracers: {ancestry:?}",
            alert["session"]["id"]
        );
    }
    assert_eq!(markers_seen.len(), 3);
}
