//! Process behaviour under `sentrace trace`: threads, vfork, clone3, job
//! control, signals, orphans, exit statuses, privileges, attach mode and
//! `sentrace setup`.

mod trace_support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use trace_support::{
    compile, read_events, scratch_dir, sentrace, spawn_traced, trace, wait_with_timeout,
};

const TIMEOUT: Duration = Duration::from_secs(30);

/// The path exec events give `/bin/echo`: the file it names after
/// symbolic links (`/usr/bin/echo` where `/bin` links to `usr/bin`).
fn echo_path() -> String {
    std::fs::canonicalize("/bin/echo")
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn exec_from_non_leader_thread() {
    let directory = scratch_dir("thread-exec");
    let program = compile("thread_exec", &directory);
    let traced = trace(&directory, &[], &[&program], TIMEOUT);
    assert_eq!(traced.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&traced.stdout),
        "exec-from-thread\n"
    );
    let execs = traced.of_type("exec");
    let echo = execs
        .iter()
        .find(|event| event["exec"]["file"]["path"] == echo_path())
        .expect("no exec of echo");
    let first = execs
        .iter()
        .find(|event| event["exec"]["file"]["path"] == program.to_str().unwrap())
        .unwrap();
    assert_eq!(
        echo["process"]["pid"], first["process"]["pid"],
        "exec keeps the process id"
    );
    assert_eq!(
        echo["process"]["tid"], echo["process"]["pid"],
        "exec'd thread takes the leader's tid"
    );
    assert_eq!(echo["process"]["comm"], "echo");
}

#[test]
fn vfork_then_exec_is_followed() {
    let directory = scratch_dir("vfork");
    let program = compile("vfork_exec", &directory);
    let traced = trace(&directory, &[], &[&program], TIMEOUT);
    assert_eq!(traced.code(), Some(0));
    let fork = &traced.of_type("fork")[0]["fork"];
    let vfork_flags = (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
    assert_eq!(
        fork["flags"].as_u64().unwrap() & vfork_flags,
        vfork_flags,
        "fork flags {fork}"
    );
    let child = fork["child_pid"].clone();
    let exec = traced
        .of_type("exec")
        .into_iter()
        .find(|event| event["exec"]["file"]["path"] == echo_path());
    assert_eq!(exec.expect("no exec of echo")["process"]["pid"], child);
}

#[test]
fn clone3_child_is_followed() {
    let directory = scratch_dir("clone3");
    let program = compile("clone3_open", &directory);
    let marker = directory.join("clone3-marker");
    std::fs::write(&marker, "x").unwrap();
    let traced = trace(
        &directory,
        &[],
        &[program.as_os_str(), marker.as_os_str()],
        TIMEOUT,
    );
    assert_eq!(traced.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&traced.stdout),
        "clone3 child exited 3\n"
    );
    let child = traced.of_type("fork")[0]["fork"]["child_pid"].clone();
    let open = traced
        .of_type("open")
        .into_iter()
        .find(|event| event["open"]["file"]["path"] == marker.to_str().unwrap());
    assert_eq!(
        open.expect("no open by the clone3 child")["process"]["pid"],
        child
    );
    let exit = traced
        .of_type("exit")
        .into_iter()
        .find(|event| event["process"]["pid"] == child);
    assert_eq!(
        exit.expect("no exit of the clone3 child")["exit"]["code"],
        3
    );
}

#[test]
fn stop_and_continue_behave_as_without_tracer() {
    let directory = scratch_dir("job-control");
    let program = compile("job_control", &directory);
    let plain = trace_support::run_plain(&[&program], TIMEOUT);
    let traced = trace(&directory, &[], &[&program], TIMEOUT);
    let expected = "stopped=1 signal=19\ncontinued=1\nsignaled=1 signal=15\n";
    assert_eq!(String::from_utf8_lossy(&plain.stdout), expected);
    assert_eq!(String::from_utf8_lossy(&traced.stdout), expected);
}

#[test]
fn killed_workload_ends_tracer_by_same_signal() {
    let directory = scratch_dir("killed");
    let traced = trace(&directory, &[], &["sh", "-c", "kill -9 $$"], TIMEOUT);
    assert_eq!(traced.code(), None);
    assert_eq!(traced.status.signal(), Some(9));
    let exit = traced.of_type("exit");
    assert_eq!(exit.last().unwrap()["exit"]["cause"], "SIGNALED");
    assert_eq!(exit.last().unwrap()["exit"]["code"], 9);
}

#[test]
fn orphaned_grandchild_is_still_traced() {
    let directory = scratch_dir("orphan");
    let marker = directory.join("orphan-marker");
    let script = format!("(sleep 0.5; touch {}) & exit 0", marker.display());
    let traced = trace(&directory, &[], &["sh", "-c", &script], TIMEOUT);
    assert_eq!(traced.code(), Some(0));
    assert!(marker.exists(), "the orphan did not run");
    let open = traced
        .of_type("open")
        .into_iter()
        .find(|event| event["open"]["file"]["path"] == marker.to_str().unwrap());
    let open = open.expect("no open of the marker by the orphan");
    assert_ne!(
        open["process"]["ppid"],
        traced.of_type("exec")[0]["process"]["pid"],
        "orphan was not reparented"
    );
}

#[test]
fn signals_are_forwarded_to_workload() {
    let directory = scratch_dir("forward");
    let output = directory.join("events.json");
    let script = "trap 'exit 42' USR1; while :; do sleep 0.1; done";
    let child = spawn_traced(&output, &[], &["sh", "-c", script]);
    std::thread::sleep(Duration::from_millis(700));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    let result = wait_with_timeout(child, TIMEOUT);
    assert_eq!(result.status.code(), Some(42));

    let child = spawn_traced(&output, &[], &["sleep", "30"]);
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let result = wait_with_timeout(child, TIMEOUT);
    assert_eq!(result.status.signal(), Some(15));
}

#[test]
fn missing_and_non_executable_commands() {
    let directory = scratch_dir("not-found");
    let traced = trace(&directory, &[], &["sentrace-no-such-command"], TIMEOUT);
    assert_eq!(traced.code(), Some(127));
    let stderr = String::from_utf8_lossy(&traced.stderr);
    assert!(
        stderr.contains("sentrace-no-such-command: command not found"),
        "stderr: {stderr}"
    );

    let file = directory.join("not-executable");
    std::fs::write(&file, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let traced = trace(&directory, &[], &[&file], TIMEOUT);
    assert_eq!(traced.code(), Some(126));
    let stderr = String::from_utf8_lossy(&traced.stderr);
    assert!(stderr.contains(file.to_str().unwrap()), "stderr: {stderr}");
}

#[test]
fn uid_and_gid_drop_privileges_before_exec() {
    let directory = scratch_dir("uid");
    let extra = ["--uid", "65534", "--gid", "65534"];
    let traced = trace(
        &directory,
        &extra,
        &["sh", "-c", "id -u; id -g; id -G"],
        TIMEOUT,
    );
    assert_eq!(
        traced.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&traced.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&traced.stdout),
        "65534\n65534\n65534\n"
    );
    let exec = &traced.of_type("exec")[0];
    assert_eq!(exec["process"]["uid"], 65534);
    assert!(
        traced.of_type("setuid").is_empty(),
        "the tracer's own setuid was reported"
    );
}

#[test]
fn privileged_tracer_leaves_no_new_privs_unset() {
    let directory = scratch_dir("nnp");
    let traced = trace(
        &directory,
        &[],
        &["grep", "NoNewPrivs", "/proc/self/status"],
        TIMEOUT,
    );
    assert_eq!(traced.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&traced.stdout), "NoNewPrivs:\t0\n");
}

#[test]
fn attach_then_detach_leaves_workload_running() {
    attach_then_detach_on(nix::sys::signal::Signal::SIGINT, "attach");
}

#[test]
fn hangup_detaches_attached_tracer() {
    attach_then_detach_on(nix::sys::signal::Signal::SIGHUP, "attach-hangup");
}

/// Attaches to a running shell loop, sends `signal` to the tracer and checks
/// that the tracer exits 0 and leaves the loop running, untraced.
fn attach_then_detach_on(signal: nix::sys::signal::Signal, test: &str) {
    let directory = scratch_dir(test);
    let output = directory.join("events.json");
    let mut workload = Command::new("sh")
        .args([
            "-c",
            "while :; do cat /etc/hostname >/dev/null; sleep 0.1; done",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = workload.id().to_string();
    std::thread::sleep(Duration::from_millis(200));
    let tracer = Command::new(sentrace())
        .args(["trace", "--output", output.to_str().unwrap(), "--pid", &pid])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(tracer.id() as i32), signal).unwrap();
    let result = wait_with_timeout(tracer, TIMEOUT);
    assert_eq!(
        result.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&result.stderr)
    );

    std::thread::sleep(Duration::from_millis(300));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let _ = workload.kill();
    let _ = workload.wait();
    assert!(status.contains("TracerPid:\t0"), "still traced: {status}");
    assert!(
        !status.contains("State:\tT") && !status.contains("State:\tt"),
        "left stopped: {status}"
    );
    let events = read_events(&output);
    let cat = events
        .iter()
        .filter(|event| event["type"] == "exec" && event["exec"]["file"]["name"] == "cat");
    assert!(cat.count() >= 2, "attached tracer saw too few execs of cat");
}

#[test]
fn setup_copies_binary_with_mode_0755() {
    let directory = scratch_dir("setup");
    let output = Command::new(sentrace())
        .args(["setup", "--volume"])
        .arg(&directory)
        .output()
        .unwrap();
    assert!(output.status.success());
    let copy = directory.join("sentrace");
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755);
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(sentrace()).unwrap()
    );
}

#[test]
fn ptrace_eperm_names_the_missing_capability() {
    let mut workload = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = workload.id().to_string();
    let child = Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            sentrace(),
        ])
        .args(["trace", "--output", "/dev/null", "--pid", &pid])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running setpriv (util-linux)");
    let result = wait_with_timeout(child, TIMEOUT);
    let _ = workload.kill();
    let _ = workload.wait();
    assert_eq!(result.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&result.stderr);
    for needle in [
        "SYS_PTRACE",
        "--cap-add SYS_PTRACE",
        "securityContext.capabilities.add",
        "linuxParameters",
    ] {
        assert!(stderr.contains(needle), "message lacks {needle}: {stderr}");
    }
}

#[test]
fn signals_are_forwarded_with_probe_link() {
    // Port 1 on loopback refuses connections, so the link's sender thread
    // keeps retrying while the workload runs.
    let child = Command::new(sentrace())
        .args([
            "trace",
            "--probe-addr",
            "127.0.0.1:1",
            "--probe-timeout",
            "1",
            "--",
        ])
        .args([
            "sh",
            "-c",
            "trap 'exit 42' USR1; while :; do sleep 0.1; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1).unwrap();
    let result = wait_with_timeout(child, TIMEOUT);
    assert_eq!(
        result.status.code(),
        Some(42),
        "stderr: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

#[test]
fn attach_to_traced_process_names_its_tracer() {
    let first = Command::new(sentrace())
        .args(["trace", "--output", "/dev/null", "--", "sleep", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tracer = first.id();
    // The workload is the first tracer's child, traced once it runs sleep.
    let deadline = std::time::Instant::now() + TIMEOUT;
    let workload = loop {
        let children = std::fs::read_to_string(format!("/proc/{tracer}/task/{tracer}/children"))
            .unwrap_or_default();
        let traced = children
            .split_whitespace()
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm == "sleep\n")
            })
            .map(str::to_string);
        if let Some(pid) = traced {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the workload never ran sleep"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let second = Command::new(sentrace())
        .args(["trace", "--output", "/dev/null", "--pid", &workload])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let result = wait_with_timeout(second, TIMEOUT);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(workload.parse().unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = wait_with_timeout(first, TIMEOUT);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("already traced by process {tracer}")),
        "stderr: {stderr}"
    );
}

#[test]
fn invalid_addresses_and_rates_are_usage_errors() {
    let cases: [&[&str]; 4] = [
        &["trace", "--probe-addr", "nonsense", "--", "true"],
        &["trace", "--probe-addr", "127.0.0.1:99999", "--", "true"],
        &["trace", "--probe-addr", ":5678", "--", "true"],
        &["probe", "--session-rate", "0"],
    ];
    for args in cases {
        let output = Command::new(sentrace()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("invalid value"), "{args:?}: {stderr}");
    }
}

#[test]
fn attach_follows_children_forked_before() {
    let directory = scratch_dir("attach-children");
    let output = directory.join("events.json");
    // The inner shell exists before the attach and execs cat after it; the
    // 3 s leave the tracer time to attach on a loaded machine.
    let mut workload = Command::new("sh")
        .args(["-c", "sh -c 'sleep 3; exec cat /etc/hostname' & wait"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = workload.id().to_string();
    std::thread::sleep(Duration::from_millis(400));
    let tracer = Command::new(sentrace())
        .args(["trace", "--output", output.to_str().unwrap(), "--pid", &pid])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let result = wait_with_timeout(tracer, TIMEOUT);
    let _ = workload.wait();
    assert_eq!(
        result.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let events = read_events(&output);
    let cat = events
        .iter()
        .filter(|event| event["type"] == "exec" && event["exec"]["file"]["name"] == "cat")
        .count();
    assert_eq!(cat, 1, "{events:?}");
    assert!(
        events.iter().any(
            |event| event["type"] == "open" && event["open"]["file"]["path"] == "/etc/hostname"
        ),
        "{events:?}"
    );
}

#[test]
fn closed_standard_descriptors_stay_closed() {
    // Each script closes one standard descriptor of the command it runs.
    for (redirect, command) in [
        (">&-", "echo x"),
        ("<&-", "cat"),
        ("2>&-", "ls /nonexistent"),
    ] {
        let plain = format!("sh -c '{command}' {redirect}; echo $?");
        let traced = format!("\"$0\" run -- sh -c '{command}' {redirect}; echo $?");
        let plain = Command::new("sh").args(["-c", &plain]).output().unwrap();
        let traced = Command::new("sh")
            .args(["-c", &traced, sentrace()])
            .output()
            .unwrap();
        let plain_status = String::from_utf8_lossy(&plain.stdout).trim().to_string();
        let traced_status = String::from_utf8_lossy(&traced.stdout).trim().to_string();
        assert_ne!(
            plain_status, "0",
            "{command} {redirect} succeeded without sentrace"
        );
        assert_eq!(traced_status, plain_status, "{command} {redirect}");
    }
}
