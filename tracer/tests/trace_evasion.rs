//! A hostile workload against `sentrace trace`: every way it could run code
//! that the tracer does not see, or make the tracer lose events, run as a
//! real program whose events and behaviour are checked.

mod trace_support;

use std::time::Duration;

use serde_json::Value;
use trace_support::{compile, run_plain, scratch_dir, trace, Traced};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Opens of `path` in a traced run.
fn opens_of<'a>(events: &'a [&'a Value], path: &str) -> Vec<&'a Value> {
    events
        .iter()
        .copied()
        .filter(|event| event["open"]["file"]["path"] == path)
        .collect()
}

#[test]
fn clone_untraced_children_stay_traced() {
    let directory = scratch_dir("clone-untraced");
    let program = compile("clone_untraced", &directory);
    let marker = directory.join("clone-untraced-marker");
    std::fs::write(&marker, "x").unwrap();
    let command = [program.as_os_str(), marker.as_os_str()];
    let expected = "glibc-clone 3\nraw-clone 3\nvfork-clone 3\nthread-clone 3\n\
                    clone3 3 flags-after=800000\n";

    let plain = run_plain(&command, TIMEOUT);
    assert_eq!(String::from_utf8_lossy(&plain.stdout), expected);
    for extra in [&[][..], &["--disable-seccomp"][..]] {
        let traced = trace(&directory, extra, &command, TIMEOUT);
        assert_eq!(
            traced.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&traced.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&traced.stdout),
            expected,
            "{extra:?}"
        );
        check_untraced_clones(&traced, marker.to_str().unwrap());
    }
}

/// Checks that each of the four children and the thread opened `marker`
/// under the tracer, and that the fork events show `CLONE_UNTRACED`.
fn check_untraced_clones(traced: &Traced, marker: &str) {
    let untraced = u64::from(libc::CLONE_UNTRACED as u32);
    let forks = traced.of_type("fork");
    assert_eq!(forks.len(), 4, "fork events: {forks:?}");
    let opens = traced.of_type("open");
    let marker_opens = opens_of(&opens, marker);
    for fork in &forks {
        let flags = fork["fork"]["flags"].as_u64().unwrap();
        assert_eq!(flags & untraced, untraced, "fork flags {fork}");
        let child = &fork["fork"]["child_pid"];
        assert!(
            marker_opens
                .iter()
                .any(|open| &open["process"]["pid"] == child),
            "no open by child {child}"
        );
        let exit = traced
            .of_type("exit")
            .into_iter()
            .find(|event| &event["process"]["pid"] == child);
        assert_eq!(exit.expect("no exit of the child")["exit"]["code"], 3);
    }
    let thread_open = marker_opens
        .iter()
        .find(|open| open["process"]["pid"] != open["process"]["tid"]);
    assert!(thread_open.is_some(), "no open by the untraced thread");
}

#[test]
fn huge_argument_list_is_bounded() {
    const ENTRY: usize = 4096;
    const LIST: usize = 64 * 1024;
    let directory = scratch_dir("huge-argv");
    let program = compile("argv_size", &directory);
    // 1 MiB of arguments, one of them longer than an entry's bound, and
    // 256 KiB of environment placed before HOME.
    let mut command: Vec<String> = vec![program.display().to_string(), "y".repeat(10_000)];
    command.extend((0..250).map(|index| format!("{index:04}{}", "x".repeat(4096))));
    let total: usize = command.iter().map(String::len).sum();
    let junk: Vec<(String, String)> = (0..64)
        .map(|index| (format!("AAA_JUNK_{index}"), "v".repeat(4000)))
        .collect();
    let output_path = directory.join("events.json");
    let started = std::time::Instant::now();
    let child = std::process::Command::new(trace_support::sentrace())
        .arg("trace")
        .arg("--output")
        .arg(&output_path)
        .arg("--")
        .args(&command)
        .envs(junk.iter().map(|(name, value)| (name, value)))
        .env("HOME", "/evasion-home")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting sentrace");
    let output = trace_support::wait_with_timeout(child, TIMEOUT);
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("argc={} bytes={total} home=/evasion-home\n", command.len()),
        "the workload gets its whole argument list"
    );

    let events = trace_support::read_events(&output_path);
    let exec = events
        .iter()
        .find(|event| event["type"] == "exec")
        .expect("no exec event");
    let argv: Vec<&str> = exec["exec"]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry.as_str().unwrap())
        .collect();
    assert_eq!(exec["exec"]["args_truncated"], true);
    assert_eq!(argv[0], command[0]);
    assert_eq!(argv[1].len(), ENTRY, "a long entry is cut to {ENTRY} bytes");
    let cost: usize = argv.iter().map(|entry| entry.len() + 1).sum();
    assert!(cost <= LIST, "argv holds {cost} bytes");
    assert!(argv.len() > 10, "argv keeps {} entries", argv.len());
    let envp = exec["exec"]["envp"].as_array().unwrap();
    assert!(
        envp.iter().any(|entry| entry == "HOME=/evasion-home"),
        "HOME after junk variables is kept: {envp:?}"
    );
    // Each event carries at most the process argv and the exec lists.
    let text = std::fs::read_to_string(&output_path).unwrap();
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    assert!(
        longest < 3 * LIST + 16 * 1024,
        "an event line is {longest} bytes"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

/// Returns the state letter of process `pid` (`R`, `S`, `T`, ...) from
/// `/proc/PID/stat`, or `None` when it is gone.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.rsplit_once(')')?.1;
    after_comm.trim_start().chars().next()
}

/// True when `pid` is gone or a zombie within `timeout`.
fn ends_within(pid: u32, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if matches!(process_state(pid), None | Some('Z')) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn stopped_tracer_alerts_and_blocks_workload() {
    let directory = scratch_dir("stop-tracer");
    let marker = directory.join("after-stop");
    let script = format!("kill -STOP $PPID; echo after > {}", marker.display());
    let mut child = std::process::Command::new(trace_support::sentrace())
        .args(["run", "--format", "json", "--", "sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting sentrace run");
    let tracer = child.id();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while process_state(tracer) != Some('T') {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the tracer never stopped");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // While the tracer is stopped, the shell waits at its next traced
    // syscall (the open of the marker) instead of running unseen.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!marker.exists(), "the workload wrote a file unseen");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tracer as i32),
        nix::sys::signal::Signal::SIGCONT,
    )
    .expect("continuing the tracer");

    let output = trace_support::wait_with_timeout(child, TIMEOUT);
    assert_eq!(output.status.code(), Some(0));
    assert!(marker.exists(), "the workload went on after SIGCONT");
    let alerts = String::from_utf8_lossy(&output.stderr);
    let alert = alerts
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|alert| alert["rule_id"] == "tracer_signaled")
        .unwrap_or_else(|| panic!("no tracer_signaled alert in {alerts}"));
    assert_eq!(alert["event"]["signal"]["type"], libc::SIGSTOP);
    assert_eq!(alert["event"]["signal"]["target"]["pid"], tracer);
}

#[test]
fn killing_the_tracer_kills_the_workload() {
    let directory = scratch_dir("kill-tracer");
    let marker = directory.join("survivor");
    let pids = directory.join("pids");
    let script = format!(
        "(sleep 1; touch {marker}) & echo $$ $! > {pids}; kill -KILL $PPID; sleep 1; touch {marker}",
        marker = marker.display(),
        pids = pids.display()
    );
    let traced = trace(&directory, &[], &["sh", "-c", &script], TIMEOUT);
    assert_eq!(traced.code(), None, "the tracer died of SIGKILL");

    let pids: Vec<u32> = std::fs::read_to_string(&pids)
        .expect("the shell wrote its pids")
        .split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(
            ends_within(pid, Duration::from_secs(5)),
            "traced process {pid} outlived the tracer"
        );
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !marker.exists(),
        "a traced process ran on without the tracer"
    );
    let signal = traced.of_type("signal");
    let to_tracer = signal
        .iter()
        .find(|event| event["signal"]["target"]["is_tracer"] == true)
        .expect("the signal event was written before the tracer died");
    assert_eq!(to_tracer["signal"]["type"], libc::SIGKILL);
}

/// Runs `own_seccomp MODE path` without and with the tracer.
fn own_seccomp_run(
    program: &std::path::Path,
    directory: &std::path::Path,
    mode: &str,
    extra: &[&str],
) -> (String, Traced) {
    let command = [program.to_str().unwrap(), mode, "/etc/hostname"];
    let plain = run_plain(&command, TIMEOUT);
    let traced = trace(directory, extra, &command, TIMEOUT);
    (String::from_utf8_lossy(&plain.stdout).into_owned(), traced)
}

#[test]
fn workload_seccomp_filter_cannot_hide_syscalls() {
    let directory = scratch_dir("own-seccomp");
    let program = compile("own_seccomp", &directory);
    let is_hostname_open = |event: &&Value| event["open"]["file"]["path"] == "/etc/hostname";
    for extra in [&[][..], &["--disable-seccomp"][..]] {
        // An allow-all filter does not override the tracer's.
        let (plain, traced) = own_seccomp_run(&program, &directory, "allow", extra);
        assert_eq!(plain, "open=ok\n");
        assert_eq!(String::from_utf8_lossy(&traced.stdout), plain, "{extra:?}");
        assert!(
            traced.of_type("open").iter().any(is_hostname_open),
            "{extra:?}"
        );

        // The workload's own SECCOMP_RET_TRACE fails as without a tracer,
        // and data that names i386 does not turn an open into foreign_abi.
        let (plain, traced) = own_seccomp_run(&program, &directory, "trace-2", extra);
        assert_eq!(plain, "open=ENOSYS\n");
        assert_eq!(String::from_utf8_lossy(&traced.stdout), plain, "{extra:?}");
        assert!(traced.of_type("foreign_abi").is_empty(), "{extra:?}");
    }

    // The tracer's own data value makes the open run, seen as native.
    let (_, traced) = own_seccomp_run(&program, &directory, "trace-24066", &[]);
    assert_eq!(String::from_utf8_lossy(&traced.stdout), "open=ok\n");
    assert!(traced.of_type("open").iter().any(is_hostname_open));
    assert!(traced.of_type("foreign_abi").is_empty());
}

#[test]
fn seccomp_listener_request_is_refused_and_reported() {
    let directory = scratch_dir("own-seccomp-listener");
    let program = compile("own_seccomp", &directory);
    let (plain, _) = own_seccomp_run(&program, &directory, "user-notif", &[]);
    assert_eq!(
        plain, "open=ok\nsupervisor=0\n",
        "the listener works without a tracer"
    );
    for extra in [&[][..], &["--disable-seccomp"][..]] {
        let (_, traced) = own_seccomp_run(&program, &directory, "user-notif", extra);
        assert_eq!(traced.code(), Some(1), "{extra:?}");
        assert!(
            String::from_utf8_lossy(&traced.stderr).contains("seccomp: Device or resource busy"),
            "{extra:?}"
        );
        let refused = traced
            .of_type("prctl")
            .into_iter()
            .find(|event| event["prctl"]["option"] == libc::PR_SET_SECCOMP)
            .expect("no prctl event for the listener request");
        assert_eq!(refused["prctl"]["retval"], -libc::EBUSY);
        assert_eq!(refused["prctl"]["arg2"], 2);
    }
}

#[test]
fn syscall_tricks_are_still_seen() {
    let directory = scratch_dir("escape-tricks");
    let program = compile("escape_tricks", &directory);
    let paths: Vec<std::path::PathBuf> = ["mapped", "dumpable", "personality"]
        .iter()
        .map(|name| directory.join(format!("{name}-marker")))
        .collect();
    for path in &paths {
        std::fs::write(path, "x").unwrap();
    }
    let mut command = vec![program.display().to_string()];
    command.extend(paths.iter().map(|path| path.display().to_string()));
    let expected = "mapped-page ok\nnon-dumpable ok\npersonality ok\n";
    assert_eq!(
        String::from_utf8_lossy(&run_plain(&command, TIMEOUT).stdout),
        expected
    );
    for extra in [&[][..], &["--disable-seccomp"][..]] {
        let traced = trace(&directory, extra, &command, TIMEOUT);
        assert_eq!(
            String::from_utf8_lossy(&traced.stdout),
            expected,
            "{extra:?}"
        );
        let opens = traced.of_type("open");
        for path in &paths {
            assert_eq!(
                opens_of(&opens, path.to_str().unwrap()).len(),
                1,
                "{extra:?}: no open event of {}",
                path.display()
            );
        }
    }
}

#[test]
fn int80_without_seccomp_is_foreign_abi() {
    let directory = scratch_dir("int80-no-seccomp");
    let program = compile("int80_open", &directory);
    let traced = trace(
        &directory,
        &["--disable-seccomp"],
        &[program.to_str().unwrap(), "/etc/hostname"],
        TIMEOUT,
    );
    let foreign = traced.of_type("foreign_abi");
    assert!(
        foreign
            .iter()
            .any(|event| event["foreign_abi"]["abi"] == "i386"
                && event["foreign_abi"]["syscall"] == "open"),
        "no i386 open in {foreign:?}"
    );
}

#[test]
fn exec_arguments_are_the_kernel_copy() {
    let directory = scratch_dir("exec-race");
    let program = compile("exec_race", &directory);
    let traced = trace(&directory, &[], &[program.to_str().unwrap(), "40"], TIMEOUT);
    assert_eq!(traced.code(), Some(0));
    let mut printed: Vec<String> = String::from_utf8_lossy(&traced.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let mut reported: Vec<String> = traced
        .of_type("exec")
        .iter()
        .filter(|event| event["exec"]["argv"][0] == "echo")
        .map(|event| event["exec"]["argv"][1].as_str().unwrap().to_string())
        .collect();
    assert_eq!(printed.len(), 40);
    printed.sort();
    reported.sort();
    assert_eq!(reported, printed, "exec events show what echo received");
}

#[test]
fn tracer_signal_alerts_only_direct_signals() {
    let directory = scratch_dir("signal-alerts");
    // Signal 0 and a signal to the process group reach the tracer too, but
    // scripts send them in normal use. Only the last kill raises an alert,
    // and it must still reach the probe after the two events before it.
    let script = "kill -0 $PPID; kill -WINCH 0; kill -WINCH $PPID";
    let child = std::process::Command::new(trace_support::sentrace())
        .args(["run", "--format", "json", "--", "sh", "-c", script])
        .current_dir(&directory)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting sentrace run");
    let tracer = child.id();
    let output = trace_support::wait_with_timeout(child, TIMEOUT);
    assert_eq!(output.status.code(), Some(0));
    let alerts: Vec<Value> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|alert| alert["rule_id"] == "tracer_signaled")
        .collect();
    assert_eq!(alerts.len(), 1, "alerts: {alerts:?}");
    assert_eq!(alerts[0]["event"]["signal"]["pid"], tracer);
    assert_eq!(alerts[0]["event"]["signal"]["type"], libc::SIGWINCH);
}
