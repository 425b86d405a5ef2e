//! The sender thread: connects, sends a hello, streams event batches, applies
//! acknowledgements and actions, and reconnects with backoff.

use std::io::Write;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use protocol::{
    encode_frame, read_frame, DenyRule, FrameError, OpenInterest, ProbeMessage, Sequenced,
    SignalRange, TracerMessage,
};
use rules::OpenFilter;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::buffer::Shared;
use super::{actions, gate, limits, procscan, LinkOptions, Welcomed};
use crate::sink::EventSink;

/// Maximum events per `events` frame.
const MAX_BATCH: usize = 512;
/// Maximum time an event waits for others to share its frame, when the
/// previous frame went out less than this long ago. It adds at most this
/// much to the time from a syscall to its alert, and nothing to the first
/// event after a quiet spell.
const LINGER: Duration = Duration::from_millis(2);
/// First reconnect delay; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Maximum reconnect delay.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Time allowed for the TCP handshake and for each write.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `flush` waits for a probe that is not connected.
const UNREACHED_DRAIN: Duration = Duration::from_secs(1);
/// How often `flush` checks whether the connection is still up.
const CLOSING_POLL: Duration = Duration::from_millis(100);

/// The outcome of the first hello, reported to [`start`].
enum Greeting {
    Accepted {
        syscalls: Vec<String>,
        deny_rules: Vec<DenyRule>,
        signals: Option<Vec<SignalRange>>,
    },
    Rejected(String),
}

/// The [`EventSink`] half of the link.
pub(crate) struct LinkSink {
    shared: Arc<Shared>,
    drain_timeout: Duration,
    flushed: bool,
}

impl EventSink for LinkSink {
    fn emit(&mut self, event: protocol::Event) {
        self.shared.push(limits::bound_event(event));
    }

    fn flush(&mut self) {
        if self.flushed {
            return;
        }
        self.flushed = true;
        // A connected probe gets `drain_timeout` to acknowledge the rest. An
        // unreachable one gets UNREACHED_DRAIN, during which the sender
        // retries at once, so that a dead probe does not hold up the exit.
        let started = Instant::now();
        let mut disconnected_since: Option<Instant> = None;
        let mut state = self.shared.lock();
        state.closing = true;
        self.shared.changed.notify_all();
        while !state.stopped {
            let now = Instant::now();
            if state.connected {
                disconnected_since = None;
            } else {
                disconnected_since.get_or_insert(now);
            }
            let mut deadline = started + self.drain_timeout;
            if let Some(since) = disconnected_since {
                deadline = deadline.min(since + UNREACHED_DRAIN);
            }
            if now >= deadline {
                let unacknowledged = state.pending.len();
                if state.connected {
                    tracing::warn!(
                        unacknowledged,
                        "probe did not acknowledge every event before exit"
                    );
                } else {
                    tracing::warn!(
                        unacknowledged,
                        "probe unreachable at exit; unacknowledged events are lost"
                    );
                }
                break;
            }
            let wait = (deadline - now).min(CLOSING_POLL);
            state = match self.shared.changed.wait_timeout(state, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl Drop for LinkSink {
    fn drop(&mut self) {
        self.flush();
        self.shared.lock().stopped = true;
        self.shared.changed.notify_all();
    }
}

/// Starts the sender thread (and the `/proc` scanner) and waits for the
/// welcome as `options` request.
pub(crate) fn start(options: LinkOptions) -> anyhow::Result<(LinkSink, Welcomed)> {
    let shared = Arc::new(Shared::new(options.buffer_events));
    let (greeting_tx, greeting_rx) = mpsc::channel();
    let sink = LinkSink {
        shared: Arc::clone(&shared),
        drain_timeout: options.probe_timeout,
        flushed: false,
    };

    let thread_options = options.clone();
    let thread_shared = Arc::clone(&shared);
    thread::Builder::new()
        .name("sentrace-link".into())
        .spawn(move || run(thread_options, thread_shared, greeting_tx))
        .context("failed to start the probe link thread")?;
    if let Some(interval) = options.proc_scan_interval {
        procscan::spawn(Arc::clone(&shared), interval)?;
    }

    let unwelcomed = Welcomed {
        syscalls: None,
        deny_gate: None,
        signals: None,
        opens: shared.opens.clone(),
    };
    if options.start_immediately {
        return Ok((sink, unwelcomed));
    }
    match greeting_rx.recv_timeout(options.probe_timeout) {
        Ok(Greeting::Accepted {
            syscalls,
            deny_rules,
            signals,
        }) => {
            let deny_gate = gate::build(&deny_rules);
            Ok((
                sink,
                Welcomed {
                    syscalls: Some(syscalls),
                    deny_gate,
                    signals,
                    opens: shared.opens.clone(),
                },
            ))
        }
        Ok(Greeting::Rejected(reason)) => {
            bail!("probe at {} rejected the session: {reason}", options.addr)
        }
        Err(_) if options.exit_if_unavailable => bail!(
            "probe at {} not reachable within {} s; not starting the workload \
             (use --on-probe-unavailable start to start without it)",
            options.addr,
            options.probe_timeout.as_secs_f64()
        ),
        Err(_) => {
            tracing::warn!(
                probe.addr = %options.addr,
                "probe not reachable; starting the workload and retrying in the background"
            );
            Ok((sink, unwelcomed))
        }
    }
}

/// Runs the sender thread: one connection after another until stopped.
fn run(options: LinkOptions, shared: Arc<Shared>, greeting_tx: mpsc::Sender<Greeting>) {
    let mut greeting_tx = Some(greeting_tx);
    let mut backoff = MIN_BACKOFF;
    let mut failures: u64 = 0;
    loop {
        let started = Instant::now();
        match run_connection(&options, &shared, &mut greeting_tx) {
            Ok(()) => break,
            Err(error) => {
                failures += 1;
                // One line per failure streak step keeps a dead probe from
                // filling the log: the 1st, 2nd, 4th, 8th, ... failure.
                if failures.is_power_of_two() {
                    tracing::warn!(probe.addr = %options.addr, failures, "probe link failed: {error:#}");
                }
            }
        }
        if started.elapsed() > MAX_BACKOFF || shared.lock().closing {
            backoff = MIN_BACKOFF;
        }
        if wait_stopped(&shared, backoff) {
            break;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    let mut state = shared.lock();
    state.stopped = true;
    state.connected = false;
    shared.changed.notify_all();
}

/// Sleeps up to `delay`, or until the sink starts closing; returns true
/// when the sink was dropped meanwhile.
fn wait_stopped(shared: &Shared, delay: Duration) -> bool {
    let state = shared.lock();
    let was_closing = state.closing;
    let result = shared.changed.wait_timeout_while(state, delay, |state| {
        !state.stopped && state.closing == was_closing
    });
    match result {
        Ok((state, _)) => state.stopped,
        Err(poisoned) => poisoned.into_inner().0.stopped,
    }
}

/// Runs one connection. `Ok` means the session ended with a goodbye.
fn run_connection(
    options: &LinkOptions,
    shared: &Arc<Shared>,
    greeting_tx: &mut Option<mpsc::Sender<Greeting>>,
) -> anyhow::Result<()> {
    let mut stream = open_stream(&options.addr)?;
    write_message(&mut stream, &TracerMessage::Hello(options.hello.clone()))?;
    stream.set_read_timeout(Some(options.probe_timeout.max(IO_TIMEOUT)))?;
    let welcome: ProbeMessage = read_frame(&mut stream).context("no welcome from the probe")?;
    let ProbeMessage::Welcome {
        accepted,
        reason,
        syscalls,
        deny_rules,
        signals,
        opens,
        last_seq,
        ..
    } = welcome
    else {
        bail!("probe sent {welcome:?} instead of a welcome");
    };
    if !accepted {
        let reason = reason.unwrap_or_else(|| "no reason given".to_string());
        if let Some(sender) = greeting_tx.take() {
            let _ = sender.send(Greeting::Rejected(reason.clone()));
        }
        bail!("probe rejected the session: {reason}");
    }
    // Before the greeting, so that the workload starts with the filter.
    shared.opens.set(open_filter(opens));
    stream.set_read_timeout(None)?;
    resume_after(shared, last_seq);
    tracing::info!(probe.addr = %options.addr, last_seq, "connected to the probe");
    if let Some(sender) = greeting_tx.take() {
        let _ = sender.send(Greeting::Accepted {
            syscalls,
            deny_rules,
            signals,
        });
    }

    let mut processes = procscan::snapshot_for_probe(&shared.lock().traced_pids);
    for process in &mut processes {
        limits::bound_list(&mut process.argv);
    }
    write_snapshot(&mut stream, processes)?;

    let broken = Arc::new(AtomicBool::new(false));
    let reader = spawn_reader(stream.try_clone()?, Arc::clone(shared), Arc::clone(&broken))?;
    let result = write_loop(&mut stream, shared, &broken);
    let _ = stream.shutdown(Shutdown::Both);
    let _ = reader.join();
    shared.lock().connected = false;
    result
}

/// Resolves and connects with a timeout, trying each resolved address.
fn open_stream(addr: &str) -> anyhow::Result<TcpStream> {
    let mut last_error = anyhow!("{addr} resolved to no address");
    for socket_addr in addr
        .to_socket_addrs()
        .with_context(|| format!("invalid probe address {addr}"))?
    {
        match TcpStream::connect_timeout(&socket_addr, IO_TIMEOUT) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                stream.set_write_timeout(Some(IO_TIMEOUT))?;
                return Ok(stream);
            }
            Err(error) => last_error = anyhow!("failed to connect to {socket_addr}: {error}"),
        }
    }
    Err(last_error)
}

/// Drops what the probe already has and rewinds the send cursor to it.
fn resume_after(shared: &Shared, last_seq: u64) {
    let mut state = shared.lock();
    let highest_assigned = state.next_seq - 1;
    state.acknowledge(last_seq.min(highest_assigned));
    state.sent = last_seq.min(highest_assigned);
    state.connected = true;
    state.report_lost("buffer full");
    shared.changed.notify_all();
}

/// Work for the writer, taken under the lock.
enum Next {
    Write(Vec<TracerMessage>, Vec<Arc<Sequenced>>),
    Goodbye,
    Broken,
    Stopped,
}

/// Writes batches until the connection breaks or the session ends.
fn write_loop(stream: &mut TcpStream, shared: &Shared, broken: &AtomicBool) -> anyhow::Result<()> {
    let mut last_frame: Option<Instant> = None;
    loop {
        match next_work(shared, broken, last_frame) {
            Next::Write(messages, events) => {
                for message in &messages {
                    write_message(stream, message)?;
                }
                if let Some(last) = events.last().map(|item| item.seq) {
                    write_events(stream, &events)?;
                    last_frame = Some(Instant::now());
                    let mut state = shared.lock();
                    state.sent = state.sent.max(last);
                }
            }
            Next::Goodbye => {
                let goodbye = TracerMessage::Goodbye {
                    reason: "workload exited".to_string(),
                };
                write_message(stream, &goodbye)?;
                return Ok(());
            }
            Next::Broken => bail!("connection to the probe closed"),
            Next::Stopped => return Ok(()),
        }
    }
}

/// Takes the next batch under the lock. While events keep coming (the last
/// events frame, written at `last_frame`, is less than [`LINGER`] old), a
/// batch smaller than [`MAX_BATCH`] waits up to [`LINGER`] for more. A busy
/// workload then costs one frame, one wakeup of this thread and one of the
/// probe per batch instead of per event, and an event after a quiet spell
/// leaves at once. Action results and the end of the session skip the wait.
fn next_work(shared: &Shared, broken: &AtomicBool, last_frame: Option<Instant>) -> Next {
    let mut state = shared.lock();
    let mut linger_until: Option<Instant> = None;
    loop {
        if broken.load(Ordering::Relaxed) {
            return Next::Broken;
        }
        if state.stopped {
            return Next::Stopped;
        }
        state.report_lost("buffer full");
        let unsent = state.unsent();
        let now = Instant::now();
        let quiet = last_frame.is_none_or(|written| now.duration_since(written) >= LINGER);
        let linger_over = linger_until.is_some_and(|until| now >= until);
        let batch_ready =
            unsent >= MAX_BATCH || (unsent > 0 && (state.closing || quiet || linger_over));
        if !state.outbox.is_empty() || batch_ready {
            let messages: Vec<TracerMessage> = state.outbox.drain(..).collect();
            let events = state.next_batch(MAX_BATCH);
            return Next::Write(messages, events);
        }
        if state.closing && state.pending.is_empty() {
            return Next::Goodbye;
        }
        // While lingering, `sender_waiting` stays false, so new events do
        // not wake this thread. Acknowledgements, actions and the end of
        // the session still do.
        let timeout = if unsent > 0 {
            let until = *linger_until.get_or_insert(now + LINGER);
            until.saturating_duration_since(now)
        } else {
            state.sender_waiting = true;
            // The reader sets `broken` and notifies, so a bounded wait is
            // only a safety net.
            Duration::from_millis(500)
        };
        state = match shared.changed.wait_timeout(state, timeout) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
        state.sender_waiting = false;
    }
}

/// Writes events as frames, splitting a batch whose frame exceeds the limit.
fn write_events(stream: &mut TcpStream, events: &[Arc<Sequenced>]) -> anyhow::Result<()> {
    match encode_frame(&EventsMessage(events)) {
        Ok(frame) => Ok(stream.write_all(&frame)?),
        Err(FrameError::TooLarge { .. }) if events.len() > 1 => {
            let (first, second) = events.split_at(events.len() / 2);
            write_events(stream, first)?;
            write_events(stream, second)
        }
        Err(error) => {
            // NOTE: a single event over 1 MiB cannot be sent. It is skipped,
            // which leaves a gap in the sequence numbers the probe receives.
            tracing::warn!("event not sent: {error}");
            Ok(())
        }
    }
}

/// A [`TracerMessage::Events`] over events shared with the resend buffer.
/// It serializes to the same JSON without copying the events out of it.
struct EventsMessage<'a>(&'a [Arc<Sequenced>]);

impl Serialize for EventsMessage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let events: Vec<&Sequenced> = self.0.iter().map(|item| item.as_ref()).collect();
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("msg", "events")?;
        map.serialize_entry("events", &events)?;
        map.end()
    }
}

/// Writes the snapshot in as many frames as the frame limit needs, parents
/// first as [`procscan::snapshot_for_probe`] orders them.
fn write_snapshot(
    stream: &mut TcpStream,
    mut processes: Vec<protocol::Process>,
) -> anyhow::Result<()> {
    let count = processes.len();
    let message = TracerMessage::Snapshot { processes };
    match encode_frame(&message) {
        Ok(frame) => Ok(stream.write_all(&frame)?),
        Err(FrameError::TooLarge { .. }) if count > 1 => {
            let TracerMessage::Snapshot { processes: first } = message else {
                return Ok(());
            };
            processes = first;
            let second = processes.split_off(count / 2);
            write_snapshot(stream, processes)?;
            write_snapshot(stream, second)
        }
        Err(error) => Err(error.into()),
    }
}

fn write_message(stream: &mut TcpStream, message: &TracerMessage) -> anyhow::Result<()> {
    let frame = encode_frame(message)?;
    stream.write_all(&frame)?;
    Ok(())
}

/// Reads acknowledgements and actions until the connection ends.
/// Compiles the probe's open conditions; `None`, and every open reported,
/// when there are none or they do not compile.
fn open_filter(interest: Option<OpenInterest>) -> Option<OpenFilter> {
    match OpenFilter::new(&interest?) {
        Ok(filter) => Some(filter),
        Err(error) => {
            tracing::warn!(%error, "the probe's open conditions do not compile; every open is reported");
            None
        }
    }
}

fn spawn_reader(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    broken: Arc<AtomicBool>,
) -> anyhow::Result<thread::JoinHandle<()>> {
    let handle = thread::Builder::new()
        .name("sentrace-link-rx".into())
        .spawn(move || {
            loop {
                match read_frame::<_, ProbeMessage>(&mut stream) {
                    Ok(ProbeMessage::Ack { seq }) => {
                        shared.lock().acknowledge(seq);
                    }
                    Ok(ProbeMessage::Action { id, action }) => {
                        let result = actions::perform(id, &action, &shared);
                        shared.lock().outbox.push_back(result);
                    }
                    Ok(ProbeMessage::Interest { opens }) => {
                        tracing::info!("the probe's policy changed; open filter replaced");
                        shared.opens.set(open_filter(opens));
                    }
                    Ok(ProbeMessage::Goodbye { reason }) => {
                        tracing::info!(reason, "probe closed the session");
                        break;
                    }
                    Ok(ProbeMessage::Welcome { .. }) => {
                        tracing::warn!("probe sent a second welcome; reconnecting");
                        break;
                    }
                    Err(error) => {
                        tracing::debug!("probe connection ended: {error}");
                        break;
                    }
                }
                shared.changed.notify_all();
            }
            broken.store(true, Ordering::Relaxed);
            shared.changed.notify_all();
        })?;
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Event, EventBody, File, OpenEvent, Process};

    fn sequenced(seq: u64, path: &str) -> Arc<Sequenced> {
        let event = Event {
            timestamp: "2026-01-01T00:00:00.000000Z".into(),
            process: Process {
                pid: 7,
                tid: 7,
                argv: vec!["cat".into(), path.into()],
                ..Process::default()
            },
            body: EventBody::Open {
                open: OpenEvent {
                    file: File::from_path(path),
                    flags: 0,
                    mode: 0,
                    retval: 3,
                },
            },
        };
        Arc::new(Sequenced { seq, event })
    }

    #[test]
    fn events_frame_matches_tracer_message() {
        let events = vec![sequenced(1, "/etc/hostname"), sequenced(2, "/etc/\"x\"")];
        let owned = TracerMessage::Events {
            events: events.iter().map(|item| item.as_ref().clone()).collect(),
        };
        let shared = encode_frame(&EventsMessage(&events)).unwrap();
        assert_eq!(shared, encode_frame(&owned).unwrap());
    }

    #[test]
    fn empty_events_frame_matches_tracer_message() {
        let owned = TracerMessage::Events { events: Vec::new() };
        let shared = encode_frame(&EventsMessage(&[])).unwrap();
        assert_eq!(shared, encode_frame(&owned).unwrap());
    }
}
