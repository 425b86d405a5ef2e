//! Canonical paths: every spelling of a file (`//`, `.`, `..`,
//! `/proc/self/root`, symbolic links) gives the path of the file the kernel
//! acted on, for opens, for the file events reported at entry, for opens by
//! handle and for fd execs. The deny gate is tested in `trace_gate_paths`.

mod trace_support;

use std::path::Path;
use std::time::Duration;

use trace_support::{compile, scratch_dir, trace};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Creates `real/secret`, `lnk -> real/secret` and `dir -> real` in
/// `directory` and returns the canonical directory path.
fn make_tree(directory: &Path) -> String {
    std::fs::create_dir_all(directory.join("real")).unwrap();
    std::fs::write(directory.join("real/secret"), b"secret\n").unwrap();
    std::os::unix::fs::symlink(directory.join("real/secret"), directory.join("lnk")).unwrap();
    std::os::unix::fs::symlink("real", directory.join("dir")).unwrap();
    directory.canonicalize().unwrap().display().to_string()
}

#[test]
fn every_spelling_of_an_opened_file_gives_its_path() {
    let directory = scratch_dir("paths-open");
    let base = make_tree(&directory);
    let spellings = [
        format!("{base}/real//secret"),
        format!("{base}/./real/./secret"),
        format!("{base}/real/../real/secret"),
        format!("/proc/self/root{base}/real/secret"),
        format!("{base}/lnk"),
        format!("{base}/dir/secret"),
    ];
    let mut command = vec!["cat".to_string()];
    command.extend(spellings.iter().cloned());
    let traced = trace(&directory, &[], &command, TIMEOUT);
    assert_eq!(traced.code(), Some(0));
    assert_eq!(traced.stdout, b"secret\n".repeat(spellings.len()));
    let secret = format!("{base}/real/secret");
    let opens: Vec<&str> = traced
        .of_type("open")
        .iter()
        .filter_map(|event| event["open"]["file"]["path"].as_str())
        .filter(|path| path.contains(&base) || path.starts_with("/proc/"))
        .collect();
    assert_eq!(opens, vec![secret.as_str(); spellings.len()], "open paths");
}

#[test]
fn failed_opens_name_the_file_or_its_lexical_path() {
    let directory = scratch_dir("paths-failed");
    let base = make_tree(&directory);
    let script = "cat \"$1/dir//secret\" \"$1/real/../no/../nothing\"; exit 0";
    // As nobody, the 0600 file gives EACCES; the missing one gives ENOENT.
    std::fs::set_permissions(
        directory.join("real/secret"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let traced = trace(
        &directory,
        &["--uid", "65534", "--gid", "65534"],
        &["sh", "-c", script, "sh", &base],
        TIMEOUT,
    );
    assert_eq!(traced.code(), Some(0));
    let failed: Vec<(String, i64)> = traced
        .of_type("open")
        .iter()
        .filter(|event| event["open"]["retval"].as_i64().unwrap_or(0) < 0)
        .filter_map(|event| {
            let path = event["open"]["file"]["path"].as_str()?;
            path.starts_with(&base)
                .then(|| (path.to_string(), event["open"]["retval"].as_i64().unwrap()))
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            (format!("{base}/real/secret"), -i64::from(libc::EACCES)),
            (format!("{base}/nothing"), -i64::from(libc::ENOENT)),
        ]
    );
}

#[test]
fn entry_events_follow_links_as_their_syscall_does() {
    let directory = scratch_dir("paths-entry");
    let base = make_tree(&directory);
    let script = "cd \"$1\" && chmod 600 lnk && chown -h 0:0 lnk && ln -s real/secret other \
                  && mv dir/../other ./dir/moved && rm .//dir/moved && mkdir dir/../real/sub \
                  && rmdir /proc/self/cwd/dir/sub";
    let traced = trace(&directory, &[], &["sh", "-c", script, "sh", &base], TIMEOUT);
    assert_eq!(
        traced.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&traced.stderr)
    );
    let path = |name: &str| format!("{base}/{name}");
    let checks = [
        ("chmod", "/chmod/file/path", path("real/secret")),
        ("chown", "/chown/file/path", path("lnk")),
        ("symlink", "/symlink/file/destination/path", path("other")),
        ("rename", "/rename/file/path", path("other")),
        (
            "rename",
            "/rename/file/destination/path",
            path("real/moved"),
        ),
        ("unlink", "/unlink/file/path", path("real/moved")),
        ("mkdir", "/mkdir/file/path", path("real/sub")),
        ("rmdir", "/rmdir/file/path", path("real/sub")),
    ];
    for (kind, pointer, expected) in checks {
        let seen: Vec<&str> = traced
            .of_type(kind)
            .iter()
            .filter_map(|event| event.pointer(pointer).and_then(|value| value.as_str()))
            .collect();
        assert!(
            seen.contains(&expected.as_str()),
            "{kind} {pointer}: expected {expected}, saw {seen:?}"
        );
    }
}

#[test]
fn open_by_handle_reports_the_opened_file() {
    let directory = scratch_dir("paths-handle");
    let base = make_tree(&directory);
    let program = compile("open_by_handle", &directory);
    let secret = format!("{base}/real/secret");
    let traced = trace(
        &directory,
        &[],
        &[program.to_str().unwrap(), &secret],
        TIMEOUT,
    );
    assert_eq!(
        traced.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&traced.stderr)
    );
    assert!(
        traced.has("open", "/open/file/path", &secret),
        "no open event for the file opened by handle"
    );
}

#[test]
fn fd_exec_of_a_memfd_reports_the_memfd() {
    let directory = scratch_dir("paths-memfd-exec");
    let program = compile("memfd_exec", &directory);
    let traced = trace(
        &directory,
        &[],
        &[program.to_str().unwrap(), "/bin/echo", "from-memfd"],
        TIMEOUT,
    );
    assert_eq!(traced.code(), Some(0));
    assert_eq!(traced.stdout, b"from-memfd\n");
    assert!(
        traced.has("exec", "/exec/file/path", "memfd:payload"),
        "no exec of memfd:payload"
    );
}
