//! The workload starts with the signal dispositions and mask the tracer
//! inherited, not with the ones the tracer's runtime set (SIGPIPE ignored).

mod trace_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use trace_support::{run_plain, scratch_dir, trace, wait_with_timeout};

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn broken_pipe_status_is_the_same_as_without_tracer() {
    let directory = scratch_dir("signals-sigpipe");
    let command = [
        "bash",
        "-c",
        "yes | head -1 >/dev/null; echo ${PIPESTATUS[0]}",
    ];
    let plain = run_plain(&command, TIMEOUT);
    let traced = trace(&directory, &[], &command, TIMEOUT);
    assert_eq!(plain.stdout, b"141\n");
    assert_eq!(traced.stdout, plain.stdout);
    assert_eq!(
        String::from_utf8_lossy(&traced.stderr),
        String::from_utf8_lossy(&plain.stderr)
    );
    assert_eq!(traced.code(), plain.status.code());
}

/// Returns the `SigIgn` line of `grep` started by a shell that ran `setup`
/// first, through sentrace when `output` is given, else directly.
fn ignored_mask(setup: &str, output: Option<&Path>) -> String {
    let script = match output {
        Some(_) => {
            format!("{setup}; exec \"$0\" trace --output \"$1\" -- grep SigIgn /proc/self/status")
        }
        None => format!("{setup}; exec grep SigIgn /proc/self/status"),
    };
    let child = Command::new("bash")
        .args(["-c", &script, trace_support::sentrace()])
        .args(output)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting bash");
    let result = wait_with_timeout(child, TIMEOUT);
    assert!(result.status.success(), "{result:?}");
    String::from_utf8_lossy(&result.stdout).trim().to_string()
}

/// Parses a `SigIgn:\tHEX` line.
fn mask_bits(line: &str) -> u64 {
    let hex = line.trim_start_matches("SigIgn:").trim();
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad SigIgn line {line:?}"))
}

#[test]
fn signals_ignored_by_the_parent_stay_ignored() {
    let directory = scratch_dir("signals-ignored");
    let output = directory.join("events.json");
    // SIGHUP is signal 1 (bit 0), SIGINT signal 2 (bit 1). Signals this test
    // process already ignores (SIGHUP under nohup) stay ignored in bash too.
    let status = std::fs::read_to_string("/proc/self/status").expect("reading own status");
    let inherited = status
        .lines()
        .find(|line| line.starts_with("SigIgn:"))
        .map(mask_bits)
        .expect("SigIgn line");
    for (setup, bits) in [
        ("trap '' INT", 0b10),
        ("trap '' INT HUP", 0b11),
        ("true", 0),
    ] {
        let traced = ignored_mask(setup, Some(&output));
        let plain = ignored_mask(setup, None);
        assert_eq!(traced, plain, "after {setup}");
        assert_eq!(
            mask_bits(&traced) & 0b11,
            (inherited | bits) & 0b11,
            "after {setup}"
        );
        // SIGPIPE (bit 12) is not ignored, as without the tracer.
        assert_eq!(mask_bits(&traced) & (1 << 12), 0, "after {setup}");
    }
}
#[test]
fn blocked_signals_stay_blocked_and_no_more() {
    let directory = scratch_dir("signals-mask");
    let traced = trace(
        &directory,
        &[],
        &["grep", "SigBlk", "/proc/self/status"],
        TIMEOUT,
    );
    let plain = run_plain(&["grep", "SigBlk", "/proc/self/status"], TIMEOUT);
    assert_eq!(traced.stdout, plain.stdout);
}
