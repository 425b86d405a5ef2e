//! Memory bounds of `sentrace probe`. Hundreds of clients that open a
//! session, send large snapshots and hang up do not make the probe's
//! resident memory grow past a bound. A well-behaved session that stays
//! connected meanwhile keeps its process tree and still gets its alerts. A thousand
//! live sessions with full snapshots stay under the same bound.

mod probe_support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use probe_support::{
    free_port, http_get, metric_value, scratch_dir, vm_rss_kib, wait_for_alerts, write_policy,
    ProbeProcess,
};
use protocol::{
    encode_frame, read_frame, write_frame, Event, EventBody, File, Hello, Mode, OpenEvent,
    ProbeMessage, Process, Sequenced, TracerMessage, PROTOCOL_VERSION,
};

/// Sessions opened and abandoned by the flood.
const FLOOD_SESSIONS: u32 = 300;
/// Snapshot frames each abandoned session sends.
const SNAPSHOTS_PER_SESSION: u32 = 3;
/// Processes in each snapshot frame.
const PROCESSES_PER_SNAPSHOT: u32 = 300;
/// Bytes of arguments of each process.
const ARGV_BYTES: usize = 3000;
/// Time the flood may take.
const FLOOD_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound on the probe's resident memory with the default limits.
const MAX_RSS_KIB: u64 = 128 * 1024;
/// Sessions that stay connected in the live-session test.
const LIVE_SESSIONS: u32 = 1000;
/// Processes in the snapshot of each live session.
const LIVE_PROCESSES: u32 = 200;

fn hello(session: &str) -> TracerMessage {
    TracerMessage::Hello(Hello {
        version: PROTOCOL_VERSION,
        session_id: session.to_string(),
        mode: Mode::Wrap,
        hostname: "memory-test".into(),
        container_id: String::new(),
        pid_ns: 0,
        entrypoint: vec!["memory-test".into()],
        token: None,
        tags: Vec::new(),
    })
}

/// Connects and opens a session; returns the stream after the welcome.
fn open_session(addr: &str, session: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connecting to the probe");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write_frame(&mut stream, &hello(session)).expect("writing hello");
    match read_frame::<_, ProbeMessage>(&mut stream).expect("reading welcome") {
        ProbeMessage::Welcome { accepted: true, .. } => stream,
        other => panic!("session {session} not accepted: {other:?}"),
    }
}

/// Encodes a snapshot of `count` processes starting at `first_pid`, each
/// with `argv_bytes` of arguments.
fn snapshot_frame(first_pid: u32, count: u32, argv_bytes: usize) -> Vec<u8> {
    let processes = (first_pid..first_pid + count)
        .map(|pid| Process {
            pid,
            tid: pid,
            ppid: 1,
            comm: "filler".into(),
            file: File::from_path("/usr/bin/filler"),
            argv: vec!["filler".into(), "a".repeat(argv_bytes)],
            cwd: "/".into(),
            ..Process::default()
        })
        .collect();
    encode_frame(&TracerMessage::Snapshot { processes }).expect("encoding snapshot")
}

/// Raises the soft limit of open files to the hard limit, so that the test
/// and the probe it starts can hold a socket per live session.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
        }
    };
    assert!(raised, "failed to raise the open file limit");
    assert!(
        limit.rlim_cur >= u64::from(LIVE_SESSIONS) * 2 + 64,
        "the open file limit {} is too low for {LIVE_SESSIONS} sessions",
        limit.rlim_cur
    );
}

/// Encodes the snapshot frames every abandoned session sends: distinct pids
/// per frame, each process with [`ARGV_BYTES`] of arguments.
fn flood_frames() -> Vec<Vec<u8>> {
    (0..SNAPSHOTS_PER_SESSION)
        .map(|frame| {
            let first_pid = 1000 + frame * PROCESSES_PER_SNAPSHOT;
            snapshot_frame(first_pid, PROCESSES_PER_SNAPSHOT, ARGV_BYTES)
        })
        .collect()
}

fn quiet_process(pid: u32, ppid: u32, comm: &str) -> Process {
    Process {
        pid,
        tid: pid,
        ppid,
        comm: comm.into(),
        file: File::from_path(format!("/usr/bin/{comm}")),
        argv: vec![comm.into()],
        ..Process::default()
    }
}

/// Sends one open of `/mark/quiet` by pid 11 and waits for its ack.
fn send_quiet_open(stream: &mut TcpStream) {
    let open = OpenEvent {
        file: File::from_path("/mark/quiet"),
        flags: 0,
        mode: 0,
        retval: 3,
    };
    let event = Event {
        timestamp: String::new(),
        process: quiet_process(11, 10, "reader"),
        body: EventBody::Open { open },
    };
    let events = vec![Sequenced { seq: 1, event }];
    write_frame(stream, &TracerMessage::Events { events }).expect("writing events");
    loop {
        match read_frame::<_, ProbeMessage>(stream).expect("reading ack") {
            ProbeMessage::Ack { seq: 1 } => return,
            _ => continue,
        }
    }
}

#[test]
fn abandoned_sessions_keep_rss_bounded() {
    let directory = scratch_dir("memory");
    let policy = write_policy(
        &directory,
        "policy.yaml",
        "  - id: quiet_open\n    description: quiet file opened\n    expression: open.file.path == \"/mark/quiet\"\n",
    );
    let alerts_path = directory.join("alerts.jsonl");
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let probe = ProbeProcess::start(
        &directory,
        free_port(),
        &[
            "--policy",
            &policy.display().to_string(),
            "--alerts",
            &format!("file:{}", alerts_path.display()),
            "--metrics-addr",
            &metrics_addr,
        ],
    );
    let pid = probe.child.id();
    let rss_at_start = vm_rss_kib(pid);

    // The well-behaved session connects first and stays connected.
    let mut quiet = open_session(&probe.addr(), "quiet");
    let ancestry = vec![
        quiet_process(1, 0, "init"),
        quiet_process(10, 1, "quietparent"),
    ];
    write_frame(
        &mut quiet,
        &TracerMessage::Snapshot {
            processes: ancestry,
        },
    )
    .expect("writing quiet snapshot");

    let frames = flood_frames();
    let started = Instant::now();
    let mut peak_rss = rss_at_start;
    for index in 0..FLOOD_SESSIONS {
        let mut stream = open_session(&probe.addr(), &format!("flood-{index}"));
        for frame in &frames {
            stream.write_all(frame).expect("writing snapshot");
        }
        drop(stream);
        peak_rss = peak_rss.max(vm_rss_kib(pid));
        assert!(
            started.elapsed() < FLOOD_TIMEOUT,
            "flood did not finish within {FLOOD_TIMEOUT:?}"
        );
    }

    // Let the probe read what the last sessions sent.
    std::thread::sleep(Duration::from_secs(1));
    let rss_after = vm_rss_kib(pid);
    peak_rss = peak_rss.max(rss_after);
    let metrics = http_get(&metrics_addr, "/metrics");
    eprintln!(
        "flood of {FLOOD_SESSIONS} sessions took {:?}; probe RSS {rss_at_start} KiB at start, \
         {peak_rss} KiB peak, {rss_after} KiB after",
        started.elapsed()
    );
    assert!(
        peak_rss < MAX_RSS_KIB,
        "probe RSS peaked at {peak_rss} KiB (bound {MAX_RSS_KIB} KiB)\nlog:\n{}",
        probe.log_text()
    );
    let evicted = metric_value(
        &metrics,
        "sentrace_sessions_evicted_total{reason=\"memory_limit\"}",
    );
    assert!(evicted > 0.0, "no eviction counted; metrics:\n{metrics}");
    let retained = metric_value(&metrics, "sentrace_retained_bytes");
    assert!(
        retained <= (48 << 20) as f64,
        "retained bytes over the default budget: {retained}"
    );
    assert!(
        probe.log_text().contains("disconnected session evicted"),
        "no eviction logged:\n{}",
        probe.log_text()
    );

    send_quiet_open(&mut quiet);
    let alerts = wait_for_alerts(&alerts_path, Duration::from_secs(10), |alerts| {
        !alerts.is_empty()
    });
    assert_eq!(alerts.len(), 1, "alerts: {alerts:?}");
    assert_eq!(alerts[0]["session"]["id"], "quiet");
    assert_eq!(
        alerts[0]["ancestors"][0]["comm"], "quietparent",
        "the connected session's tree was kept"
    );
}

#[test]
fn live_sessions_keep_rss_bounded() {
    raise_open_file_limit();
    let directory = scratch_dir("memory-live");
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let alerts = format!("file:{}", directory.join("alerts.jsonl").display());
    let probe = ProbeProcess::start(
        &directory,
        free_port(),
        &["--alerts", &alerts, "--metrics-addr", &metrics_addr],
    );
    let pid = probe.child.id();

    let frame = snapshot_frame(100, LIVE_PROCESSES, 1000);
    let started = Instant::now();
    let mut streams = Vec::new();
    let mut peak_rss = vm_rss_kib(pid);
    for index in 0..LIVE_SESSIONS {
        let mut stream = open_session(&probe.addr(), &format!("live-{index}"));
        stream.write_all(&frame).expect("writing snapshot");
        streams.push(stream);
        if index % 50 == 0 {
            peak_rss = peak_rss.max(vm_rss_kib(pid));
        }
        assert!(
            started.elapsed() < FLOOD_TIMEOUT,
            "sessions did not open within {FLOOD_TIMEOUT:?}"
        );
    }

    // A last session's welcome shows the probe has read the earlier frames.
    let _last = open_session(&probe.addr(), "live-last");
    std::thread::sleep(Duration::from_secs(1));
    let rss = vm_rss_kib(pid);
    peak_rss = peak_rss.max(rss);
    let metrics = http_get(&metrics_addr, "/metrics");
    eprintln!("{LIVE_SESSIONS} live sessions: probe RSS {rss} KiB, peak {peak_rss} KiB");
    assert!(
        peak_rss < MAX_RSS_KIB,
        "probe RSS peaked at {peak_rss} KiB (bound {MAX_RSS_KIB} KiB)"
    );
    let sessions = metric_value(&metrics, "sentrace_sessions_active");
    assert_eq!(
        sessions,
        f64::from(LIVE_SESSIONS + 1),
        "metrics:\n{metrics}"
    );
    let dropped = metric_value(
        &metrics,
        "sentrace_processes_dropped_total{reason=\"memory_limit\"}",
    );
    assert!(
        dropped > 0.0,
        "the budget was never reached; metrics:\n{metrics}"
    );
    drop(streams);
}
