//! Measures probe throughput: N loopback clients send pre-encoded batches of
//! open events to an in-process probe running the built-in policy, and each
//! waits for the acknowledgement of its last event.
//!
//! Usage: `cargo run --release -p sentrace-probe --example throughput [SESSIONS] [EVENTS_PER_SESSION]`

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use protocol::{
    encode_frame, read_frame, write_frame, Event, EventBody, File, Hello, Mode, OpenEvent,
    ProbeMessage, Process, Sequenced, TracerMessage, PROTOCOL_VERSION,
};
use sentrace_probe::{load_policy, ProbeConfig, ProbeHandle, SharedRules};

/// Events per `events` frame.
const BATCH: usize = 500;

fn main() {
    let mut args = std::env::args().skip(1);
    let sessions: usize = args
        .next()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1);
    let per_session: u64 = args
        .next()
        .and_then(|value| value.parse().ok())
        .unwrap_or(200_000);

    let (rules, _) = load_policy(&[]).expect("built-in policy");
    let mut config = ProbeConfig::new("127.0.0.1:0");
    config.sinks = Vec::new();
    config.session_rate = u64::MAX / 2;
    let probe = ProbeHandle::start(config, SharedRules::new(rules)).expect("probe starts");
    let addr = probe.local_addr();

    let frames: Vec<Arc<Vec<Vec<u8>>>> = (0..sessions)
        .map(|_| Arc::new(encode_batches(per_session)))
        .collect();
    let started = Instant::now();
    let clients: Vec<_> = frames
        .into_iter()
        .enumerate()
        .map(|(index, frames)| thread::spawn(move || run_client(addr, index, &frames, per_session)))
        .collect();
    for client in clients {
        client.join().expect("client thread");
    }
    let seconds = started.elapsed().as_secs_f64();
    let events = sessions as u64 * per_session;
    println!(
        "{{\"sessions\": {sessions}, \"events\": {events}, \"seconds\": {seconds:.3}, \"events_per_second\": {:.0}}}",
        events as f64 / seconds
    );
    probe.shutdown();
}

fn encode_batches(count: u64) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut seq = 0;
    while seq < count {
        let events: Vec<Sequenced> = (0..BATCH as u64)
            .take_while(|offset| seq + offset < count)
            .map(|offset| Sequenced {
                seq: seq + offset + 1,
                event: open_event(seq + offset),
            })
            .collect();
        seq += events.len() as u64;
        frames.push(encode_frame(&TracerMessage::Events { events }).expect("frame fits"));
    }
    frames
}

fn open_event(index: u64) -> Event {
    let process = Process {
        pid: 1000,
        tid: 1000,
        ppid: 1,
        comm: "bench".into(),
        file: File::from_path("/usr/bin/bench"),
        ..Process::default()
    };
    let path = format!("/var/lib/bench/file-{}", index % 1000);
    let open = OpenEvent {
        file: File::from_path(path),
        flags: 0,
        mode: 0,
        retval: 3,
    };
    Event {
        timestamp: "2026-01-01T00:00:00.000000Z".into(),
        process,
        body: EventBody::Open { open },
    }
}

fn run_client(addr: std::net::SocketAddr, index: usize, frames: &Arc<Vec<Vec<u8>>>, last: u64) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let hello = Hello {
        version: PROTOCOL_VERSION,
        session_id: format!("bench-{index}"),
        mode: Mode::Wrap,
        hostname: "bench".into(),
        container_id: String::new(),
        pid_ns: 0,
        entrypoint: vec!["bench".into()],
        token: None,
        tags: Vec::new(),
    };
    write_frame(&mut stream, &TracerMessage::Hello(hello)).expect("hello");
    let _: ProbeMessage = read_frame(&mut stream).expect("welcome");
    let mut reader = stream.try_clone().expect("clone");
    let frames = Arc::clone(frames);
    let writer = thread::spawn(move || {
        for frame in frames.iter() {
            stream.write_all(frame).expect("write");
        }
        stream
    });
    loop {
        if let ProbeMessage::Ack { seq } = read_frame(&mut reader).expect("ack") {
            if seq >= last {
                break;
            }
        }
    }
    drop(writer.join());
}
