//! Alert fairness between sessions: a session that raises alerts much
//! faster than a slow HTTP sink writes them fills the sink's queue, and the
//! alerts dropped are its own, while a quiet session's alert is delivered.

mod probe_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use probe::{
    Limits, ProbeConfig, ProbeHandle, RuleMatch, RuleSet, SessionRuleState, SharedRules, SinkSpec,
};
use protocol::{
    read_frame, write_frame, DenyRule, Event, EventBody, EventKind, File, Hello, Mode, OpenEvent,
    ProbeMessage, Process, Sequenced, TracerMessage, PROTOCOL_VERSION,
};

/// Alerts the loud session raises.
const LOUD_ALERTS: u64 = 2000;
/// Events per frame of the loud session.
const BATCH: u64 = 500;
/// Alerts queued per sink in this test.
const QUEUE: usize = 16;
/// Time the slow sink takes per alert.
const SINK_DELAY: Duration = Duration::from_millis(20);

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

/// Starts an HTTP server on loopback that responds to each POST after
/// [`SINK_DELAY`] and stores the request bodies.
fn start_slow_sink() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the sink server");
    let url = format!("http://{}/alerts", listener.local_addr().expect("address"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let stored = Arc::clone(&bodies);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Some(body) = read_request_body(&stream) {
                stored.lock().expect("bodies lock").push(body);
            }
            thread::sleep(SINK_DELAY);
            let mut stream = stream;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, bodies)
}

fn read_request_body(stream: &TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    String::from_utf8(body).ok()
}

fn open_session(probe: &ProbeHandle, session: &str) -> TcpStream {
    let mut stream = TcpStream::connect(probe.local_addr()).expect("connecting to the probe");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let hello = TracerMessage::Hello(Hello {
        version: PROTOCOL_VERSION,
        session_id: session.to_string(),
        mode: Mode::Wrap,
        hostname: "fairness-test".into(),
        container_id: String::new(),
        pid_ns: 0,
        entrypoint: vec!["fairness-test".into()],
        token: None,
        tags: Vec::new(),
    });
    write_frame(&mut stream, &hello).expect("writing hello");
    match read_frame::<_, ProbeMessage>(&mut stream).expect("reading welcome") {
        ProbeMessage::Welcome { accepted: true, .. } => stream,
        other => panic!("session {session} not accepted: {other:?}"),
    }
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

/// Sends events and waits for the acknowledgement of the last one.
fn send_and_ack(stream: &mut TcpStream, events: Vec<Sequenced>) {
    let expected = events.last().map_or(0, |item| item.seq);
    write_frame(stream, &TracerMessage::Events { events }).expect("writing events");
    loop {
        match read_frame::<_, ProbeMessage>(stream).expect("reading ack") {
            ProbeMessage::Ack { seq } if seq >= expected => return,
            _ => continue,
        }
    }
}

#[test]
fn flooding_session_keeps_quiet_alert() {
    let (url, bodies) = start_slow_sink();
    let mut config = ProbeConfig::new("127.0.0.1:0");
    config.sinks = vec![url.parse::<SinkSpec>().expect("http sink")];
    let limits = Limits {
        max_queued_alerts: QUEUE,
        ..Limits::default()
    };
    let probe =
        ProbeHandle::start_with_limits(config, SharedRules::new(Arc::new(MarkRule)), limits)
            .expect("probe starts");

    let mut loud = open_session(&probe, "loud");
    let mut quiet = open_session(&probe, "quiet");
    for first in (1..=LOUD_ALERTS).step_by(BATCH as usize) {
        let events = (first..first + BATCH)
            .map(|seq| mark_event(seq, &format!("loud-{seq}")))
            .collect();
        send_and_ack(&mut loud, events);
    }
    send_and_ack(&mut quiet, vec![mark_event(1, "quiet")]);
    // The loud session keeps flooding after the quiet alert is queued.
    let events = (LOUD_ALERTS + 1..=LOUD_ALERTS + BATCH)
        .map(|seq| mark_event(seq, &format!("loud-{seq}")))
        .collect();
    send_and_ack(&mut loud, events);

    let deadline = Instant::now() + Duration::from_secs(20);
    let delivered = loop {
        let found = bodies
            .lock()
            .expect("bodies lock")
            .iter()
            .any(|body| body.contains("/mark/quiet"));
        if found || Instant::now() > deadline {
            break found;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let dropped = probe.metrics().alerts_dropped(&url);
    let received = bodies.lock().expect("bodies lock").len();
    assert!(
        dropped > 0,
        "the loud session never filled the queue ({received} alerts received)"
    );
    assert!(
        delivered,
        "the quiet session's alert was not delivered ({received} received, {dropped} dropped)"
    );
}
