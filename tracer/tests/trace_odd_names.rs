//! Processes and files whose names are not plain text. A program whose name
//! is invalid UTF-8, or whose first 15 bytes (the kernel's `comm`) end in the
//! middle of a character, keeps its whole context (ids, parent, name). A
//! newline in a path does not hide the file from rules.

mod trace_support;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use trace_support::{scratch_dir, sentrace, trace};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Copies `/usr/bin/true` to `directory/name` (raw bytes) and returns its path.
fn copy_true(directory: &Path, name: &[u8]) -> OsString {
    let mut path = directory.as_os_str().to_os_string().into_vec();
    path.push(b'/');
    path.extend_from_slice(name);
    let path = OsString::from_vec(path);
    std::fs::copy("/usr/bin/true", &path).expect("copying /usr/bin/true");
    path
}

#[test]
fn invalid_utf8_name_keeps_context() {
    let directory = scratch_dir("invalid-utf8-name");
    std::fs::set_permissions(
        &directory,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // `\xff` is never valid UTF-8, and "abcdefghijklmn\u{fc}" puts the first
    // byte of the two-byte ü at position 15, where comm cuts it.
    for name in [&b"t\xffx"[..], "abcdefghijklmn\u{fc}x".as_bytes()] {
        let program = copy_true(&directory, name);
        let traced = trace(
            &directory,
            &["--uid", "1000", "--gid", "1000"],
            &[program],
            TIMEOUT,
        );
        assert_eq!(
            traced.code(),
            Some(0),
            "{:?}",
            String::from_utf8_lossy(&traced.stderr)
        );
        let exec = traced.of_type("exec");
        assert_eq!(exec.len(), 1, "{:?}", traced.events);
        let process = &exec[0]["process"];
        assert_eq!(process["uid"], 1000, "{process}");
        assert_eq!(process["euid"], 1000, "{process}");
        assert_ne!(process["ppid"], 0, "{process}");
        let comm = process["comm"].as_str().unwrap_or_default();
        assert!(!comm.is_empty(), "{process}");
        assert!(
            comm.starts_with('t') || comm.starts_with("abcdefghijklmn"),
            "{comm}"
        );
    }
}

#[test]
fn newline_in_path_matches_globs() {
    let directory = scratch_dir("newline-path");
    let policy = directory.join("newline.policy");
    std::fs::write(
        &policy,
        format!(
            "rules:\n  - id: scratch_exec\n    expression: exec.file.path =~ \"{}/**\"\n  \
             - id: scratch_write\n    expression: open.file.path =~ \"{}/*\" && open.flags & O_CREAT > 0\n",
            directory.display(),
            directory.display()
        ),
    )
    .unwrap();
    let program = copy_true(&directory, b"a\nb");
    let script = format!(": > '{}/c\nd'; \"$0\"", directory.display());
    let output = Command::new(sentrace())
        .args(["run", "--format", "json", "--policy"])
        .arg(&policy)
        .args(["--", "sh", "-c", &script])
        .arg(&program)
        .output()
        .expect("running sentrace");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let rules: Vec<String> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|alert| alert["rule_id"].as_str().map(str::to_string))
        .collect();
    assert!(rules.contains(&"scratch_exec".to_string()), "{stderr}");
    assert!(rules.contains(&"scratch_write".to_string()), "{stderr}");
}
