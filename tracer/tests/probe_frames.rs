//! The probe library against hand-written wire frames: garbage, truncated,
//! oversized and out-of-order frames, tokens, a flooding session, and
//! exactly-once processing across a reconnect. A misbehaving connection is
//! closed and counted while well-behaved sessions keep being served.

mod probe_support;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use probe::{
    ProbeConfig, ProbeHandle, RuleMatch, RuleSet, SessionRuleState, SharedRules, SinkSpec,
};
use protocol::{
    read_frame, write_frame, DenyRule, Event, EventBody, EventKind, File, Hello, Mode, OpenEvent,
    ProbeMessage, Process, Sequenced, TracerMessage, PROTOCOL_VERSION,
};
use serde_json::Value;

use probe_support::{scratch_dir, wait_for_alerts};

/// Alerts on every open under `/mark/`.
struct MarkRule;

impl RuleSet for MarkRule {
    fn event_types(&self) -> Vec<EventKind> {
        vec![EventKind::Open]
    }

    fn deny_rules(&self) -> Vec<DenyRule> {
        Vec::new()
    }

    fn evaluate(&self, event: &Event, _: &[Process], _: &mut SessionRuleState) -> Vec<RuleMatch> {
        match &event.body {
            EventBody::Open { open } if open.file.path.starts_with("/mark/") => vec![RuleMatch {
                rule_id: "mark_open".into(),
                description: "mark file opened".into(),
                tags: Vec::new(),
                actions: Vec::new(),
            }],
            _ => Vec::new(),
        }
    }

    fn rule_count(&self) -> usize {
        1
    }
}

struct TestProbe {
    handle: ProbeHandle,
    alerts: PathBuf,
}

fn start_probe(test: &str, token: Option<&str>, session_rate: u64) -> TestProbe {
    let directory = scratch_dir(test);
    let alerts = directory.join("alerts.jsonl");
    let mut config = ProbeConfig::new("127.0.0.1:0");
    config.token = token.map(str::to_string);
    config.sinks = vec![format!("file:{}", alerts.display())
        .parse::<SinkSpec>()
        .expect("file sink")];
    config.session_rate = session_rate;
    let handle =
        ProbeHandle::start(config, SharedRules::new(Arc::new(MarkRule))).expect("probe starts");
    TestProbe { handle, alerts }
}

fn hello(session: &str, token: Option<&str>) -> TracerMessage {
    TracerMessage::Hello(Hello {
        version: PROTOCOL_VERSION,
        session_id: session.to_string(),
        mode: Mode::Wrap,
        hostname: "test".into(),
        container_id: String::new(),
        pid_ns: 0,
        entrypoint: vec!["test".into()],
        token: token.map(str::to_string),
        tags: Vec::new(),
    })
}

fn mark_event(seq: u64, name: &str) -> Sequenced {
    let process = Process {
        pid: 100,
        tid: 100,
        ppid: 1,
        comm: "writer".into(),
        ..Process::default()
    };
    let open = OpenEvent {
        file: File::from_path(format!("/mark/{name}")),
        flags: 0,
        mode: 0,
        retval: 3,
    };
    Sequenced {
        seq,
        event: Event {
            timestamp: String::new(),
            process,
            body: EventBody::Open { open },
        },
    }
}

fn connect(probe: &TestProbe) -> TcpStream {
    let stream = TcpStream::connect(probe.handle.local_addr()).expect("connecting to the probe");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
}

/// Connects, sends a hello and returns the stream and the welcome.
fn open_session(
    probe: &TestProbe,
    session: &str,
    token: Option<&str>,
) -> (TcpStream, ProbeMessage) {
    let mut stream = connect(probe);
    write_frame(&mut stream, &hello(session, token)).expect("writing hello");
    let welcome: ProbeMessage = read_frame(&mut stream).expect("reading welcome");
    (stream, welcome)
}

fn last_seq(welcome: &ProbeMessage) -> u64 {
    match welcome {
        ProbeMessage::Welcome {
            accepted: true,
            last_seq,
            ..
        } => *last_seq,
        other => panic!("expected an accepted welcome, got {other:?}"),
    }
}

/// Sends events and waits for the acknowledgement of the last one.
fn send_and_ack(stream: &mut TcpStream, events: Vec<Sequenced>) -> u64 {
    let expected = events.last().map_or(0, |item| item.seq);
    write_frame(stream, &TracerMessage::Events { events }).expect("writing events");
    loop {
        match read_frame::<_, ProbeMessage>(stream).expect("reading ack") {
            ProbeMessage::Ack { seq } if seq >= expected => return seq,
            _ => {}
        }
    }
}

/// True when the peer closed the connection (read returns end of stream).
fn closed_by_probe(stream: &mut TcpStream) -> bool {
    matches!(
        read_frame::<_, ProbeMessage>(stream),
        Err(protocol::FrameError::Closed | protocol::FrameError::Io(_))
    )
}

/// Checks that a well-behaved session still gets its events acknowledged.
fn assert_serves_good_session(probe: &TestProbe, session: &str) {
    let (mut stream, welcome) = open_session(probe, session, None);
    let first = last_seq(&welcome) + 1;
    let acked = send_and_ack(&mut stream, vec![mark_event(first, session)]);
    assert_eq!(acked, first);
}

fn marks(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .filter_map(|alert| {
            alert["event"]["open"]["file"]["name"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn garbage_frame_closes_only_its_connection() {
    let probe = start_probe("garbage", None, 100_000);
    let (mut good, welcome) = open_session(&probe, "good", None);
    let next = last_seq(&welcome) + 1;

    let mut bad = connect(&probe);
    write_frame(&mut bad, &hello("bad", None)).expect("hello");
    let _: ProbeMessage = read_frame(&mut bad).expect("welcome");
    let mut frame = 11u32.to_be_bytes().to_vec();
    frame.extend_from_slice(b"not json!!!");
    bad.write_all(&frame).expect("garbage");
    assert!(closed_by_probe(&mut bad));

    assert_eq!(
        send_and_ack(&mut good, vec![mark_event(next, "after-garbage")]),
        next
    );
    assert_eq!(probe.handle.metrics().frames_rejected("malformed"), 1);
}

#[test]
fn oversized_frame_is_rejected_before_reading() {
    let probe = start_probe("oversized", None, 100_000);
    let (mut bad, _) = open_session(&probe, "big", None);
    bad.write_all(&(4u32 << 20).to_be_bytes())
        .expect("length prefix");
    bad.write_all(&[b'x'; 1024]).expect("some body");
    assert!(closed_by_probe(&mut bad));
    assert_serves_good_session(&probe, "good");
    assert_eq!(probe.handle.metrics().frames_rejected("oversized"), 1);
}

#[test]
fn truncated_frame_is_counted() {
    let probe = start_probe("truncated", None, 100_000);
    let (mut bad, _) = open_session(&probe, "cut", None);
    bad.write_all(&100u32.to_be_bytes()).expect("length prefix");
    bad.write_all(b"{\"msg\":").expect("partial body");
    bad.shutdown(Shutdown::Write).expect("half close");
    assert!(closed_by_probe(&mut bad));
    assert_serves_good_session(&probe, "good");
    let deadline = Instant::now() + Duration::from_secs(5);
    while probe.handle.metrics().frames_rejected("truncated") == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(probe.handle.metrics().frames_rejected("truncated"), 1);
}

#[test]
fn out_of_order_frames_close_connection() {
    let probe = start_probe("order", None, 100_000);

    // Events before any hello.
    let mut early = connect(&probe);
    write_frame(
        &mut early,
        &TracerMessage::Events {
            events: vec![mark_event(1, "early")],
        },
    )
    .expect("events");
    assert!(closed_by_probe(&mut early));

    // A second hello on an open session.
    let (mut twice, _) = open_session(&probe, "twice", None);
    write_frame(&mut twice, &hello("twice", None)).expect("second hello");
    assert!(closed_by_probe(&mut twice));

    assert_serves_good_session(&probe, "good");
    assert_eq!(probe.handle.metrics().frames_rejected("unexpected"), 2);
    let alerts = wait_for_alerts(&probe.alerts, Duration::from_secs(5), |alerts| {
        !alerts.is_empty()
    });
    assert_eq!(
        marks(&alerts),
        vec!["good".to_string()],
        "the early event must not be processed"
    );
}

#[test]
fn wrong_or_missing_token_is_rejected_with_reason() {
    let probe = start_probe("token", Some("s3cret"), 100_000);
    for (token, reason) in [(Some("wrong"), "invalid token"), (None, "missing token")] {
        let (mut stream, welcome) = open_session(&probe, "intruder", token);
        match welcome {
            ProbeMessage::Welcome {
                accepted,
                reason: Some(text),
                ..
            } => {
                assert!(!accepted);
                assert_eq!(text, reason);
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert!(closed_by_probe(&mut stream));
    }
    let (mut stream, welcome) = open_session(&probe, "friend", Some("s3cret"));
    assert_eq!(
        send_and_ack(
            &mut stream,
            vec![mark_event(last_seq(&welcome) + 1, "friend")]
        ),
        1
    );
    assert_eq!(
        probe
            .handle
            .metrics()
            .sessions_rejected
            .load(Ordering::Relaxed),
        2
    );
}

#[test]
fn resent_events_are_processed_once() {
    let probe = start_probe("resend", None, 100_000);
    let (mut first, welcome) = open_session(&probe, "resume", None);
    assert_eq!(last_seq(&welcome), 0);
    let batch: Vec<Sequenced> = (1..=10)
        .map(|seq| mark_event(seq, &format!("m{seq}")))
        .collect();
    assert_eq!(send_and_ack(&mut first, batch), 10);
    drop(first);

    let (mut second, welcome) = open_session(&probe, "resume", None);
    assert_eq!(last_seq(&welcome), 10);
    // A tracer that missed the ack resends from 6: only 11..=15 are new.
    let batch: Vec<Sequenced> = (6..=15)
        .map(|seq| mark_event(seq, &format!("m{seq}")))
        .collect();
    assert_eq!(send_and_ack(&mut second, batch), 15);

    let alerts = wait_for_alerts(&probe.alerts, Duration::from_secs(5), |alerts| {
        alerts.len() >= 15
    });
    let mut names = marks(&alerts);
    names.sort();
    let mut expected: Vec<String> = (1..=15).map(|seq| format!("m{seq}")).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(
        probe
            .handle
            .metrics()
            .events_duplicate
            .load(Ordering::Relaxed),
        5
    );
}

#[test]
fn flooding_session_does_not_starve_others() {
    let probe = start_probe("flood", None, 20_000);
    let (mut flood, _) = open_session(&probe, "flood", None);
    let flood_control = flood.try_clone().expect("cloning the flood socket");
    let flooding = Arc::new(AtomicBool::new(true));

    let flooder_running = Arc::clone(&flooding);
    let flooder = thread::spawn(move || {
        let mut seq = 0;
        let mut sent = 0u64;
        loop {
            let events: Vec<Sequenced> = (0..500)
                .map(|_| {
                    seq += 1;
                    let mut event = mark_event(seq, "flood");
                    // Flood events match no rule, so the sink queue contains
                    // only the quiet sessions' alerts.
                    if let EventBody::Open { open } = &mut event.event.body {
                        open.file = File::from_path("/flood/file");
                    }
                    event
                })
                .collect();
            // Writes block once the probe's budget makes it read slowly;
            // they fail when the test shuts the socket down.
            if write_frame(&mut flood, &TracerMessage::Events { events }).is_err() {
                break;
            }
            sent += 500;
        }
        flooder_running.store(false, Ordering::Relaxed);
        sent
    });

    thread::sleep(Duration::from_millis(500));
    for round in 0..5 {
        let session = format!("quiet-{round}");
        let started = Instant::now();
        assert_serves_good_session(&probe, &session);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "quiet session waited {:?}",
            started.elapsed()
        );
    }
    assert!(
        flooding.load(Ordering::Relaxed),
        "the flood stopped before the quiet sessions ran"
    );
    let _ = flood_control.shutdown(Shutdown::Both);
    let sent = flooder.join().expect("flooder thread");
    let processed = probe.handle.metrics().events_received(EventKind::Open);
    assert!(
        processed < sent,
        "processed {processed} of {sent}: no backpressure"
    );
    let alerts = wait_for_alerts(&probe.alerts, Duration::from_secs(5), |alerts| {
        alerts.len() >= 5
    });
    assert_eq!(marks(&alerts).len(), 5);
}
