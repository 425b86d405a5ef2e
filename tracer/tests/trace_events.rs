//! Events of real programs under `sentrace trace --output`: coreutils and
//! sh for the file events, small C programs for the rest.

mod trace_support;

use std::time::Duration;

use trace_support::{compile, scratch_dir, trace};

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn shell_example_reports_exec_open_mkdir_rmdir() {
    let directory = scratch_dir("shell-example");
    let script = "cat /etc/hostname; mkdir /tmp/d$$; rmdir /tmp/d$$; exit 7";
    let traced = trace(&directory, &[], &["sh", "-c", script], TIMEOUT);
    assert_eq!(traced.code(), Some(7));
    assert!(
        traced.has("exec", "/exec/file/name", "cat"),
        "no exec of cat"
    );
    assert!(
        traced.has("open", "/open/file/path", "/etc/hostname"),
        "no open of /etc/hostname"
    );
    let mkdir = traced.of_type("mkdir");
    assert_eq!(mkdir.len(), 1, "expected one mkdir event");
    let made = mkdir[0]["mkdir"]["file"]["path"].as_str().unwrap();
    assert!(made.starts_with("/tmp/d"), "mkdir path {made}");
    assert!(
        traced.has("rmdir", "/rmdir/file/path", made),
        "no rmdir of {made}"
    );
    let exits = traced.of_type("exit");
    assert!(
        exits.iter().any(|event| event["exit"]["code"] == 7),
        "no exit event with code 7"
    );
}

#[test]
fn coreutils_file_events_have_resolved_paths() {
    let directory = scratch_dir("coreutils");
    let base = directory.display().to_string();
    let script = "cd \"$1\" && touch a && mv a b && ln b c && ln -s b d && chmod 600 b \
                  && chown 0:0 b && mkdir sub && rmdir sub && rm c";
    let traced = trace(&directory, &[], &["sh", "-c", script, "sh", &base], TIMEOUT);
    assert_eq!(
        traced.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&traced.stderr)
    );
    let path = |name: &str| format!("{base}/{name}");
    assert!(traced.has("chdir", "/chdir/file/path", &base), "no chdir");
    assert!(
        traced.has("open", "/open/file/path", &path("a")),
        "no open of a (touch)"
    );
    assert!(
        traced.has("utimes", "/utimes/file/path", &path("a")),
        "no utimes of a"
    );
    assert!(
        traced.has("rename", "/rename/file/path", &path("a")),
        "no rename source"
    );
    assert!(
        traced.has("rename", "/rename/file/destination/path", &path("b")),
        "no rename destination"
    );
    assert!(
        traced.has("link", "/link/file/destination/path", &path("c")),
        "no link"
    );
    assert!(
        traced.has("symlink", "/symlink/file/path", "b"),
        "no symlink target"
    );
    assert!(
        traced.has("symlink", "/symlink/file/destination/path", &path("d")),
        "no symlink path"
    );
    assert!(
        traced.has("chmod", "/chmod/file/path", &path("b")),
        "no chmod"
    );
    assert!(
        traced.has("chown", "/chown/file/path", &path("b")),
        "no chown"
    );
    assert!(
        traced.has("mkdir", "/mkdir/file/path", &path("sub")),
        "no mkdir"
    );
    assert!(
        traced.has("rmdir", "/rmdir/file/path", &path("sub")),
        "no rmdir"
    );
    assert!(
        traced.has("unlink", "/unlink/file/path", &path("c")),
        "no unlink"
    );
}

#[test]
fn c_program_reports_remaining_event_types() {
    let directory = scratch_dir("many-events");
    let program = compile("many_events", &directory);
    let work = directory.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let traced = trace(
        &directory,
        &[],
        &[program.as_os_str(), work.as_os_str()],
        TIMEOUT,
    );
    assert_eq!(
        traced.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&traced.stderr)
    );
    for kind in [
        "setuid",
        "setgid",
        "capset",
        "prctl",
        "memfd_create",
        "bind",
        "connect",
        "accept",
        "load_module",
        "unload_module",
        "io_uring",
        "symlink",
        "link",
        "chmod",
        "utimes",
        "mount",
        "umount",
        "chdir",
    ] {
        assert!(!traced.of_type(kind).is_empty(), "no {kind} event");
    }
    assert!(traced.has("prctl", "/prctl/new_name", "sentrace-probe"));
    assert!(traced.has("memfd_create", "/memfd_create/name", "sentrace-memfd"));
    assert!(
        traced.has("open", "/open/file/path", "memfd:sentrace-memfd"),
        "memfd reopen not named"
    );
    assert!(traced.has("bind", "/bind/addr/ip", "127.0.0.1"));
    assert!(traced.has(
        "unload_module",
        "/unload_module/name",
        "sentrace_no_such_module"
    ));
    assert!(traced.has("mount", "/mount/fs_type", "tmpfs"));
    let accept = &traced.of_type("accept")[0]["accept"];
    assert_eq!(accept["addr"]["ip"], "127.0.0.1", "accept peer address");
    assert!(accept["retval"].as_i64().unwrap() >= 0, "accept retval");
    let mount = &traced.of_type("mount")[0]["mount"];
    assert_eq!(
        mount["retval"], -2,
        "mount on a missing directory fails with ENOENT"
    );
    let unload = &traced.of_type("unload_module")[0]["unload_module"];
    assert!(
        unload["retval"].as_i64().unwrap() < 0,
        "delete_module of a missing module fails"
    );
}

#[test]
fn int80_open_is_reported_as_foreign_abi() {
    let directory = scratch_dir("int80");
    let program = compile("int80_open", &directory);
    let traced = trace(
        &directory,
        &[],
        &[program.to_str().unwrap(), "/etc/hostname"],
        TIMEOUT,
    );
    assert_eq!(traced.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&traced.stdout),
        "int80 open returned fd\n"
    );
    let foreign = traced.of_type("foreign_abi");
    assert_eq!(foreign.len(), 1, "expected one foreign_abi event");
    assert_eq!(foreign[0]["foreign_abi"]["abi"], "i386");
    assert_eq!(foreign[0]["foreign_abi"]["syscall"], "open");
    assert_eq!(foreign[0]["foreign_abi"]["syscall_nr"], 5);
}

#[test]
fn ptrace_attempts_fail_and_are_reported() {
    let directory = scratch_dir("ptrace");
    let program = compile("ptrace_attempts", &directory);
    let traced = trace(&directory, &[], &[&program], TIMEOUT);
    assert_eq!(traced.code(), Some(0));
    let stdout = String::from_utf8_lossy(&traced.stdout);
    assert!(
        stdout.contains("traceme Operation not permitted"),
        "stdout: {stdout}"
    );
    assert!(
        stdout.contains("attach Operation not permitted"),
        "stdout: {stdout}"
    );
    let requests: Vec<(i64, i64)> = traced
        .of_type("ptrace")
        .iter()
        .map(|event| {
            (
                event["ptrace"]["request"].as_i64().unwrap(),
                event["ptrace"]["retval"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        requests.contains(&(0, -1)),
        "no failed PTRACE_TRACEME: {requests:?}"
    );
    assert!(
        requests.contains(&(16, -1)),
        "no failed PTRACE_ATTACH: {requests:?}"
    );
}

#[test]
fn path_ending_at_page_boundary_is_read() {
    let directory = scratch_dir("page-boundary");
    let program = compile("page_boundary", &directory);
    let target = directory.join("boundary-target-file");
    std::fs::write(&target, "x").unwrap();
    let traced = trace(
        &directory,
        &[],
        &[program.as_os_str(), target.as_os_str()],
        TIMEOUT,
    );
    assert_eq!(traced.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&traced.stdout), "open ok\n");
    assert!(
        traced.has("open", "/open/file/path", target.to_str().unwrap()),
        "path not read in full"
    );
}

#[test]
fn disable_seccomp_reports_the_same_events() {
    let directory = scratch_dir("no-seccomp");
    let script = "cat /etc/hostname >/dev/null; mkdir /tmp/nsd$$; rmdir /tmp/nsd$$; exit 3";
    let traced = trace(
        &directory,
        &["--disable-seccomp"],
        &["sh", "-c", script],
        TIMEOUT,
    );
    assert_eq!(traced.code(), Some(3));
    assert!(traced.has("exec", "/exec/file/name", "cat"));
    assert!(traced.has("open", "/open/file/path", "/etc/hostname"));
    assert_eq!(traced.of_type("mkdir").len(), 1);
    assert_eq!(traced.of_type("rmdir").len(), 1);
    let opens = traced.of_type("open");
    assert!(
        opens
            .iter()
            .all(|event| event["open"]["retval"].as_i64().unwrap() != -38),
        "ENOSYS leaked"
    );
}
