//! `sentrace rules check`, `sentrace rules fields` and `sentrace rules
//! syscalls`, run as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const DATADOG_POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/rulesets/datadog_default.policy"
);

/// Runs `sentrace` with arguments, killing it after 60 seconds.
fn sentrace(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentrace"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting sentrace");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("polling sentrace").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sentrace {args:?} timed out");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collecting output")
}

fn write_policy(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "sentrace-policy-check-{}-{name}",
        std::process::id()
    ));
    std::fs::write(&path, text).expect("writing policy");
    path
}

#[test]
fn datadog_policy_checks_without_errors() {
    let output = sentrace(&["rules", "check", "--format", "json", DATADOG_POLICY]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    let summary = &report["summary"];
    assert_eq!(summary["error"], 0, "{summary}");
    assert!(summary["active"].as_u64().unwrap() >= 100, "{summary}");
    let rules = report["rules"].as_array().unwrap();
    let total: u64 = ["active", "disabled", "filtered", "unsupported", "error"]
        .iter()
        .map(|key| summary[key].as_u64().unwrap())
        .sum();
    assert_eq!(total, rules.len() as u64);
    for rule in rules {
        let status = rule["status"].as_str().unwrap();
        assert!(["active", "disabled", "filtered", "unsupported", "error"].contains(&status));
        if status == "unsupported" {
            assert!(
                rule["reason"]
                    .as_str()
                    .is_some_and(|reason| !reason.is_empty()),
                "{rule}"
            );
        }
    }
}

#[test]
fn broken_rule_is_shown_with_its_span() {
    let path = write_policy(
        "broken.policy",
        "rules:\n  - id: good\n    expression: open.flags == 0\n  - id: bad\n    expression: open.flags == \"x\"\n",
    );
    let output = sentrace(&["rules", "check", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("active       good"), "{text}");
    assert!(text.contains("error        bad"), "{text}");
    assert!(
        text.contains(&format!("  --> {}:5:31", path.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("   | {}^^^", " ".repeat(30))),
        "{text}"
    );
    assert!(
        text.contains("2 rules: 1 active, 0 disabled, 0 filtered, 0 unsupported, 1 error"),
        "{text}"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn unreadable_policy_is_an_error() {
    let output = sentrace(&["rules", "check", "/nonexistent/sentrace.policy"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("failed to read policy file"));
}

#[test]
fn builtin_policy_is_checked_without_files() {
    let output = sentrace(&["rules", "check", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["summary"]["active"].as_u64().unwrap() >= 40);
    assert_eq!(report["summary"]["error"], 0);
}

#[test]
fn fields_lists_the_registry() {
    let output = sentrace(&["rules", "fields"]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "open.file.path",
        "exec.args",
        "process.ancestors.file.name",
        "connect.addr.ip",
        "chmod.file.destination.mode",
        "memfd_create.name",
    ] {
        let line = text
            .lines()
            .find(|line| line.split_whitespace().next() == Some(expected));
        assert!(line.is_some(), "{expected} missing from:\n{text}");
    }
    let ip = text
        .lines()
        .find(|line| line.starts_with("connect.addr.ip "))
        .unwrap();
    assert!(ip.contains(" ip "), "{ip}");
    assert!(ip.ends_with("connect"), "{ip}");
}

#[test]
fn misspelt_field_fails_the_check() {
    let path = write_policy(
        "typo.policy",
        "rules:\n  - id: shadow\n    expression: open.file.pth == \"/etc/shadow\"\n  - id: upper\n    expression: open.file.in_upper_layer\n",
    );
    let output = sentrace(&["rules", "check", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("unknown field 'open.file.pth': did you mean open.file.path?"),
        "{text}"
    );
    assert!(
        text.contains(&format!("  --> {}:3:17", path.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("   | {}{}\n", " ".repeat(16), "^".repeat(13))),
        "{text}"
    );
    assert!(
        text.contains("unsupported  upper: field open.file.in_upper_layer"),
        "{text}"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn duplicate_ids_in_and_across_files() {
    let first = write_policy(
        "dup-first.policy",
        "rules:\n  - id: a\n    expression: open.flags == 1\n  - id: a\n    expression: open.flags == 2\n",
    );
    let second = write_policy(
        "dup-second.policy",
        "rules:\n  - id: a\n    expression: open.flags == 3\n",
    );
    let output = sentrace(&["rules", "check", first.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("active       a"), "{text}");
    assert!(
        text.contains(&format!(
            "error        a: {}:4:9: duplicate rule id a",
            first.display()
        )),
        "{text}"
    );

    // A later file overrides the earlier one, and its rule is the one reported.
    let output = sentrace(&[
        "rules",
        "check",
        "--format",
        "json",
        first.to_str().unwrap(),
        second.to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rules = report["rules"].as_array().unwrap();
    let winner = rules
        .iter()
        .find(|rule| rule["id"] == "a" && rule["status"] == "active")
        .expect("an active rule a");
    assert_eq!(winner["file"], second.display().to_string());
    assert_eq!(winner["overrides"][0], first.display().to_string());
    let _ = std::fs::remove_file(first);
    let _ = std::fs::remove_file(second);
}

fn syscall_names(output: &Output) -> Vec<String> {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    text.trim().split(',').map(str::to_string).collect()
}

#[test]
fn syscalls_follow_the_policy() {
    let open_only = write_policy(
        "open-only.policy",
        "rules:\n  - id: shadow\n    expression: open.file.path == \"/etc/shadow\"\n",
    );
    let names = syscall_names(&sentrace(&[
        "rules",
        "syscalls",
        "--policy",
        open_only.to_str().unwrap(),
    ]));
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "sorted and without duplicates");
    for expected in ["openat", "open", "creat", "execve", "clone"] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected}: {names:?}"
        );
    }
    for absent in ["connect", "chmod", "ptrace", "unlink"] {
        assert!(
            !names.iter().any(|name| name == absent),
            "{absent}: {names:?}"
        );
    }

    // Two policies together need the union of their syscalls.
    let connect_only = write_policy(
        "connect-only.policy",
        "rules:\n  - id: ssh\n    expression: connect.addr.port == 22\n",
    );
    let both = syscall_names(&sentrace(&[
        "rules",
        "syscalls",
        "--policy",
        open_only.to_str().unwrap(),
        "--policy",
        connect_only.to_str().unwrap(),
    ]));
    assert!(both.iter().any(|name| name == "connect"), "{both:?}");
    assert!(both.iter().any(|name| name == "openat"), "{both:?}");
    let _ = std::fs::remove_file(open_only);
    let _ = std::fs::remove_file(connect_only);
}

#[test]
fn syscalls_of_builtin_and_datadog_policies() {
    let builtin = syscall_names(&sentrace(&["rules", "syscalls"]));
    for expected in ["execve", "openat", "connect", "ptrace"] {
        assert!(
            builtin.iter().any(|name| name == expected),
            "{expected}: {builtin:?}"
        );
    }
    let datadog = syscall_names(&sentrace(&[
        "rules",
        "syscalls",
        "--policy",
        DATADOG_POLICY,
    ]));
    for expected in ["execve", "openat", "unlink", "connect", "init_module"] {
        assert!(
            datadog.iter().any(|name| name == expected),
            "{expected}: {datadog:?}"
        );
    }

    let output = sentrace(&[
        "rules",
        "syscalls",
        "--policy",
        "/nonexistent/sentrace.policy",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("failed to load the policy"));
}

#[test]
fn datadog_signal_rule_is_active() {
    let output = sentrace(&["rules", "check", "--format", "json", DATADOG_POLICY]);
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    let rule = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["id"] == "rootkit_activation")
        .expect("the policy has rootkit_activation");
    assert_eq!(rule["status"], "active", "{rule}");
}

#[test]
fn listing_into_closed_pipe_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentrace"))
        .args(["rules", "fields"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting sentrace");
    // Closing the read end at once makes the first write fail with EPIPE.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("waiting for sentrace");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert_ne!(output.status.code(), Some(101), "stderr: {stderr}");
}
