//! Opens that no loaded rule can match make no exit stop and no event.
//! Every open a rule matches still raises its alert, whatever spelling
//! reaches the file: a symbolic link to it, a relative path, or a dangling
//! link that an `O_CREAT` open turns into the file.

mod probe_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use probe_support::{json_lines, run_with_timeout, scratch_dir, sentrace, write_policy};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Number of reads of an unwatched file in the workloads.
const UNWATCHED_OPENS: usize = 300;

/// What a `sentrace run --verbose` reported.
struct Outcome {
    /// Alerts of the rule `watched`.
    alerts: usize,
    /// Syscall-exit stops (and entry stops of followed DNS exchanges).
    exit_stops: usize,
}

/// Runs `script` under `sentrace run --verbose` in `directory`, with one
/// rule `watched` on `expression`.
fn run_with_rule(directory: &Path, expression: &str, script: &str) -> Outcome {
    let policy = write_policy(
        directory,
        "opens.policy",
        &format!("  - id: watched\n    expression: '{expression}'\n"),
    );
    let output = run_with_timeout(
        Command::new(sentrace())
            .current_dir(directory)
            .args(["run", "--verbose", "--format", "json", "--policy"])
            .arg(&policy)
            .args(["--", "sh", "-c", script]),
        TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    let alerts = json_lines(&stderr)
        .into_iter()
        .filter(|alert| alert["rule_id"] == "watched")
        .count();
    let exit_stops = stderr
        .lines()
        .filter(|line| line.contains("stop=Syscall"))
        .count();
    Outcome { alerts, exit_stops }
}

/// Returns a shell loop that reads `/etc/hostname` [`UNWATCHED_OPENS`]
/// times (one open each), then runs `tail`.
fn unwatched_reads_then(tail: &str) -> String {
    format!(
        "i=0; while [ $i -lt {UNWATCHED_OPENS} ]; do read line < /etc/hostname; i=$((i+1)); done; {tail}"
    )
}

#[test]
fn unwatched_opens_make_no_exit_stop() {
    let directory = scratch_dir("open-filter-unwatched");
    let watched = directory.join("watched");
    std::fs::write(&watched, "x\n").unwrap();
    let expression = format!("open.file.path == \"{}\"", watched.display());
    let outcome = run_with_rule(
        &directory,
        &expression,
        &unwatched_reads_then("cat watched"),
    );
    assert_eq!(outcome.alerts, 1, "cat opened the watched file once");
    assert!(
        outcome.exit_stops < UNWATCHED_OPENS / 2,
        "{} exit stops for {UNWATCHED_OPENS} opens that no rule reads",
        outcome.exit_stops
    );
}

#[test]
fn link_to_watched_file_alerts() {
    let directory = scratch_dir("open-filter-link");
    let watched = directory.join("watched");
    std::fs::write(&watched, "x\n").unwrap();
    std::os::unix::fs::symlink(&watched, directory.join("innocent")).unwrap();
    std::fs::create_dir(directory.join("real")).unwrap();
    std::fs::write(directory.join("real/file"), "x\n").unwrap();
    std::os::unix::fs::symlink(directory.join("real"), directory.join("alias")).unwrap();
    let expression = format!(
        "open.file.path in [\"{}\", \"{}\"]",
        watched.display(),
        directory.join("real/file").display()
    );
    let outcome = run_with_rule(
        &directory,
        &expression,
        "cat innocent; cat ./alias/file; cat ../$(basename $PWD)/alias/../watched",
    );
    assert_eq!(outcome.alerts, 3, "three opens reached watched files");
}

#[test]
fn dangling_link_created_through_alerts() {
    let directory = scratch_dir("open-filter-dangling");
    std::fs::create_dir(directory.join("spool")).unwrap();
    let target = directory.join("spool/job");
    std::os::unix::fs::symlink(&target, directory.join("dangling")).unwrap();
    let expression = format!(
        "open.file.path =~ \"{}/*\" && open.flags & O_CREAT > 0",
        directory.join("spool").display()
    );
    let outcome = run_with_rule(&directory, &expression, "echo job > dangling");
    assert_eq!(outcome.alerts, 1, "the write created {}", target.display());
    assert!(target.exists());
}

#[test]
fn rule_without_path_condition_sees_every_open() {
    let directory = scratch_dir("open-filter-everything");
    let expression = "open.file.name == \"hostname\" || process.comm == \"no-such-command\"";
    let outcome = run_with_rule(&directory, expression, &unwatched_reads_then("true"));
    assert_eq!(outcome.alerts, UNWATCHED_OPENS);
    assert!(outcome.exit_stops >= UNWATCHED_OPENS);
}

#[test]
fn open_below_a_chosen_root_alerts() {
    let directory = scratch_dir("open-filter-in-root");
    std::fs::write(directory.join("watched"), "x\n").unwrap();
    let expression = format!(
        "open.file.path == \"{}\"",
        directory.join("watched").display()
    );
    // openat2 with RESOLVE_IN_ROOT resolves "/watched" below the directory fd.
    let script = format!(
        "/usr/bin/python3 -c 'import ctypes, os, struct; \
         libc = ctypes.CDLL(None, use_errno=True); \
         root = os.open(\"{}\", os.O_PATH | os.O_DIRECTORY); \
         how = struct.pack(\"QQQ\", 0, 0, 0x10); \
         fd = libc.syscall(437, root, b\"/watched\", how, 24); \
         assert fd >= 0, ctypes.get_errno()'",
        directory.display()
    );
    let outcome = run_with_rule(&directory, &expression, &script);
    assert_eq!(outcome.alerts, 1);
}

/// Paths that the tracer would resolve in its own view, not the
/// workload's. Each case reads the watched file: through a link to
/// `/proc/self/cwd`, below a chroot, from a working directory longer than
/// PATH_MAX, from a process whose root a CLONE_FS sibling changed, from a
/// removed working directory, and in a private mount namespace.
#[test]
fn paths_of_another_view_alert() {
    let directory = scratch_dir("open-filter-views");
    let dir = directory.display().to_string();
    std::fs::write(directory.join("watched"), "x\n").unwrap();
    std::fs::create_dir(directory.join("inner")).unwrap();
    std::fs::write(directory.join("inner/watched"), "x\n").unwrap();
    std::fs::create_dir(directory.join("mnt")).unwrap();
    std::os::unix::fs::symlink("/proc/self/cwd", directory.join("selfcwd")).unwrap();

    let watched = format!("open.file.path == \"{dir}/watched\"");
    let inner = format!("open.file.path == \"{dir}/inner/watched\"");
    // The tracer runs in the scratch directory; the workload moves away.
    let cases = [
        (&inner, format!("cd {dir}/inner && cat {dir}/selfcwd/watched")),
        (&watched, format!("cd / && cat /proc/./self/cwd/{dir}/watched")),
        (
            &watched,
            format!("/usr/bin/python3 -c 'import os; os.chroot(\"{dir}\"); os.open(\"/watched\", os.O_RDONLY)'"),
        ),
        (
            &watched,
            format!(
                "/usr/bin/python3 -c 'import os\nfor _ in range(22): os.mkdir(\"d\" * 200); os.chdir(\"d\" * 200)\nos.symlink(\"{dir}/watched\", \"s\"); os.open(\"s\", os.O_RDONLY)'"
            ),
        ),
        (
            // A process sharing its root (CLONE_FS) with one that chroots.
            &watched,
            format!(
                "/usr/bin/python3 -c 'import ctypes, os\npid = ctypes.CDLL(None).syscall(56, 0x200 | 17, 0, 0, 0, 0)\nif pid == 0:\n    os.chroot(\"{dir}\")\n    os._exit(0)\nos.waitpid(pid, 0)\nos.open(\"/watched\", os.O_RDONLY)'"
            ),
        ),
        (
            // A removed working directory, whose /proc name a link copies.
            &watched,
            format!(
                "mkdir -p {dir}/w/b {dir}/decoy/1/2 && echo x > {dir}/decoy/watched && ln -s {dir}/decoy/1/2 '{dir}/w/b (deleted)' && cd {dir}/w/b && rmdir {dir}/w/b && cat ../../watched"
            ),
        ),
        (
            &watched,
            format!(
                "unshare -m sh -c 'mount -t tmpfs none {dir}/mnt && ln -s {dir}/watched {dir}/mnt/q && cat {dir}/mnt/q'"
            ),
        ),
    ];

    for (expression, script) in cases {
        let outcome = run_with_rule(&directory, expression, &format!("{script} > /dev/null"));
        assert_eq!(outcome.alerts, 1, "{script}");
    }
}
