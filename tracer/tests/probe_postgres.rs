//! A real PostgreSQL server under `sentrace trace` with a `sentrace probe`
//! running the built-in policy: `pgbench -i` and a short pgbench run succeed
//! and no alert fires.

mod probe_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use probe_support::{
    free_port, read_alerts, run_with_timeout, scratch_dir, wait_with_timeout, ProbeProcess,
};

/// Returns the server binary folder of Debian's postgresql package.
fn postgres_bin() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("PostgreSQL is missing: .ci/install-deps installs it")
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no PostgreSQL server binary under /usr/lib/postgresql")
}

fn postgres_ids() -> (String, String) {
    let id = |flag: &str| {
        let output = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("running id");
        assert!(output.status.success(), "user postgres is missing");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    (id("-u"), id("-g"))
}

fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

fn check(output: std::process::Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed with {}:\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn pgbench_under_tracer_raises_no_alert() {
    let bin = postgres_bin();
    let (uid, gid) = postgres_ids();
    let directory = scratch_dir("postgres");
    let data = directory.join("data");
    check(
        run_with_timeout(
            Command::new("chown")
                .args([&format!("{uid}:{gid}")])
                .arg(&directory),
            Duration::from_secs(10),
        ),
        "chown",
    );
    check(
        run_with_timeout(
            as_postgres(&bin.join("initdb"))
                .args(["--auth=trust", "-U", "postgres", "-D"])
                .arg(&data),
            Duration::from_secs(120),
        ),
        "initdb",
    );

    let alerts_path = directory.join("alerts.jsonl");
    let sink = format!("file:{}", alerts_path.display());
    let probe = ProbeProcess::start(&directory, free_port(), &["--alerts", &sink]);
    let port = free_port().to_string();
    let server = Command::new(probe_support::sentrace())
        .args([
            "trace",
            "--probe-addr",
            &probe.addr(),
            "--on-probe-unavailable",
            "exit",
            "--uid",
            &uid,
            "--gid",
            &gid,
            "--",
        ])
        .arg(bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .args(["-c", "listen_addresses=127.0.0.1", "-p", &port, "-c"])
        .arg(format!("unix_socket_directories={}", directory.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting postgres under sentrace trace");

    let ready_deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port])
            .output();
        if ready.is_ok_and(|output| output.status.success()) {
            break;
        }
        assert!(
            Instant::now() < ready_deadline,
            "postgres did not accept connections within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let pgbench = |args: &[&str]| {
        run_with_timeout(
            Command::new("pgbench")
                .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres"])
                .args(args)
                .arg("postgres"),
            Duration::from_secs(120),
        )
    };
    check(pgbench(&["-i", "-s", "1"]), "pgbench -i");
    check(pgbench(&["-T", "5", "-c", "2"]), "pgbench -T 5");

    check(
        run_with_timeout(
            as_postgres(&bin.join("pg_ctl"))
                .args(["stop", "-m", "fast", "-D"])
                .arg(&data),
            Duration::from_secs(60),
        ),
        "pg_ctl stop",
    );
    let traced = wait_with_timeout(server, Duration::from_secs(60));
    assert_eq!(
        traced.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&traced.stderr)
    );

    // The tracer flushed its events before exiting; give the sink a moment.
    std::thread::sleep(Duration::from_millis(500));
    let log = probe.log_text();
    probe.terminate();
    let alerts = read_alerts(&alerts_path);
    let rules: Vec<&str> = alerts
        .iter()
        .filter_map(|alert| alert["rule_id"].as_str())
        .collect();
    assert!(
        alerts.is_empty(),
        "the built-in policy fired on PostgreSQL: {rules:?}"
    );
    assert!(
        log.contains("tracer connected"),
        "the tracer never reached the probe; log:\n{log}"
    );
}
