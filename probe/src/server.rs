//! The listener and the per-connection protocol: hello, welcome, event
//! batches with acknowledgements, actions, goodbye.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use protocol::{
    encode_frame, FrameError, Hello, ProbeMessage, TracerMessage, MAX_FRAME_LEN, PROTOCOL_VERSION,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::Instrument;

use crate::budget::{process_bytes, Limits, MAX_STRING_BYTES, PROCESS_OVERHEAD};
use crate::metrics::{serve_http, Metrics};
use crate::ratelimit::RateLimitedLog;
use crate::ruleset::SharedRules;
use crate::session::{process_batch, Session, Sessions};
use crate::sinks::{SinkError, SinkSpec, Sinks};

/// Default events per second each session may have processed.
pub const DEFAULT_SESSION_RATE: u64 = 200_000;
/// Maximum number of open tracer connections; more are closed at once.
const MAX_CONNECTIONS: usize = 4096;
/// Time a new connection has to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of a probe.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Listen address for tracers, `HOST:PORT` (port 0 picks a free one).
    pub listen: String,
    /// Shared secret tracers must send, when set.
    pub token: Option<String>,
    /// Alert sinks.
    pub sinks: Vec<SinkSpec>,
    /// Address of the `/metrics` and `/healthz` server, when wanted.
    pub metrics_addr: Option<String>,
    /// Maximum events per second processed for each session. A faster
    /// tracer is read more slowly and buffers the difference, so it cannot
    /// starve the other sessions.
    pub session_rate: u64,
}

impl ProbeConfig {
    /// Builds a configuration with stdout alerts and no token or metrics.
    pub fn new(listen: impl Into<String>) -> ProbeConfig {
        ProbeConfig {
            listen: listen.into(),
            token: None,
            sinks: vec![SinkSpec::Stdout],
            metrics_addr: None,
            session_rate: DEFAULT_SESSION_RATE,
        }
    }
}

/// A failure to start the probe.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The listen address could not be bound.
    #[error("failed to listen on {addr}: {error}")]
    Listen {
        /// The address.
        addr: String,
        /// The cause, part of the message rather than a `source`, so that
        /// an error chain names it once.
        error: io::Error,
    },
    /// A sink could not be opened.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The runtime or its thread could not start.
    #[error("failed to start the probe runtime: {0}")]
    Runtime(io::Error),
}

/// State shared by every connection.
struct Shared {
    token: Option<String>,
    session_rate: u64,
    rules: SharedRules,
    metrics: Arc<Metrics>,
    sinks: Sinks,
    sessions: Sessions,
    next_action_id: AtomicU64,
    frame_log: RateLimitedLog,
    max_argv_bytes: usize,
}

/// A running probe. Dropping it without [`ProbeHandle::shutdown`] leaves it
/// running until the process exits.
pub struct ProbeHandle {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl ProbeHandle {
    /// Binds the listeners and starts the probe on its own runtime thread,
    /// with the default [`Limits`].
    pub fn start(config: ProbeConfig, rules: SharedRules) -> Result<ProbeHandle, ProbeError> {
        ProbeHandle::start_with_limits(config, rules, Limits::default())
    }

    /// Binds the listeners and starts the probe on its own runtime thread,
    /// retaining no more than `limits` allow.
    pub fn start_with_limits(
        config: ProbeConfig,
        rules: SharedRules,
        limits: Limits,
    ) -> Result<ProbeHandle, ProbeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sentrace-probe")
            .enable_all()
            .build()
            .map_err(ProbeError::Runtime)?;
        let listener = bind(&runtime, &config.listen)?;
        let addr = listener.local_addr().map_err(ProbeError::Runtime)?;
        let metrics_listener = config
            .metrics_addr
            .as_deref()
            .map(|addr| bind(&runtime, addr))
            .transpose()?;
        let metrics_addr = metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok());

        let metrics = Arc::new(Metrics::default());
        let max_argv_bytes = limits.max_argv_bytes;
        let shared = Arc::new(Shared {
            token: config.token.clone(),
            session_rate: config.session_rate.max(1),
            rules,
            metrics: Arc::clone(&metrics),
            sinks: Sinks::start(&config.sinks, &limits, Arc::clone(&metrics))?,
            sessions: Sessions::new(limits, Arc::clone(&metrics)),
            next_action_id: AtomicU64::new(1),
            frame_log: RateLimitedLog::default(),
            max_argv_bytes,
        });
        let (stop, stopped) = watch::channel(false);
        let thread = thread::Builder::new()
            .name("sentrace-probe-main".into())
            .spawn(move || {
                let connections_shared = Arc::clone(&shared);
                runtime.block_on(async move {
                    if let Some(listener) = metrics_listener {
                        tokio::spawn(serve_http(
                            listener,
                            Arc::clone(&connections_shared.metrics),
                        ));
                    }
                    accept_loop(listener, connections_shared, stopped).await;
                });
                // Connections end with the runtime; then the sinks drain.
                runtime.shutdown_timeout(Duration::from_secs(2));
                shared.sinks.close();
            })
            .map_err(ProbeError::Runtime)?;
        tracing::info!(listen = %addr, metrics = ?metrics_addr, "probe listening");
        Ok(ProbeHandle {
            addr,
            metrics_addr,
            metrics,
            stop,
            thread: Some(thread),
        })
    }

    /// Returns the address tracers connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the address of the metrics server, when one runs.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Returns the probe's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Stops accepting, ends every connection after its current batch (which
    /// is acknowledged), and waits until the sinks wrote every alert.
    pub fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn bind(runtime: &tokio::runtime::Runtime, addr: &str) -> Result<TcpListener, ProbeError> {
    let listen_error = |error| ProbeError::Listen {
        addr: addr.to_string(),
        error,
    };
    runtime
        .block_on(TcpListener::bind(addr))
        .map_err(listen_error)
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) if connections.len() >= MAX_CONNECTIONS => {
                    drop(stream);
                    reject_frame(&shared, peer, "connection_limit", "too many open connections");
                }
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, peer, Arc::clone(&shared), stopped.clone()));
                }
                Err(error) => {
                    tracing::warn!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stopped.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Let each connection finish its current batch and acknowledge it.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// Returns the `frames_rejected` reason of a read error, `None` for a plain disconnect.
fn reject_reason(error: &FrameError) -> Option<&'static str> {
    match error {
        FrameError::Closed => None,
        FrameError::TooLarge { .. } => Some("oversized"),
        FrameError::Malformed(_) => Some("malformed"),
        FrameError::Io(error) if error.kind() == io::ErrorKind::UnexpectedEof => Some("truncated"),
        FrameError::Io(_) => None,
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
) {
    let (mut reader, mut writer) = stream.into_split();
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, read_message(&mut reader)).await {
        Ok(Ok(TracerMessage::Hello(hello))) => hello,
        Ok(Ok(_)) => {
            return reject_frame(&shared, peer, "unexpected", "first frame is not a hello")
        }
        Ok(Err(error)) => {
            if let Some(reason) = reject_reason(&error) {
                reject_frame(&shared, peer, reason, &error.to_string());
            }
            return;
        }
        Err(_) => return reject_frame(&shared, peer, "timeout", "no hello in time"),
    };
    let session = match check_hello(&shared, &hello) {
        Ok(()) => shared
            .sessions
            .open(&hello)
            .ok_or_else(|| "too many sessions".to_string()),
        Err(reason) => Err(reason),
    };
    let session = match session {
        Ok(session) => session,
        Err(reason) => return reject_hello(&mut writer, &shared, &hello, peer, reason).await,
    };
    shared
        .metrics
        .sessions_accepted
        .fetch_add(1, Ordering::Relaxed);
    shared
        .metrics
        .sessions_active
        .fetch_add(1, Ordering::Relaxed);
    let span =
        tracing::info_span!("session", tracer.session = %hello.session_id, client.addr = %peer);
    let result = async {
        tracing::info!(hostname = hello.hostname, entrypoint = ?hello.entrypoint, "tracer connected");
        run_session(&mut reader, &mut writer, &shared, &session, stopped).await
    }
    .instrument(span.clone())
    .await;
    let _entered = span.enter();
    shared
        .metrics
        .sessions_active
        .fetch_sub(1, Ordering::Relaxed);
    match result {
        Ok(true) => {
            shared.sessions.close(&hello.session_id);
            tracing::info!("tracer sent goodbye; session closed");
        }
        Ok(false) => {
            shared.sessions.disconnect(&session);
            tracing::info!("tracer disconnected");
        }
        Err((reason, message)) => {
            shared.sessions.disconnect(&session);
            reject_frame(&shared, peer, reason, &message);
        }
    }
}

/// Answers a rejected hello with a welcome that says why, and counts it.
async fn reject_hello<W: AsyncWrite + Unpin>(
    writer: &mut W,
    shared: &Shared,
    hello: &Hello,
    peer: SocketAddr,
    reason: String,
) {
    shared
        .metrics
        .sessions_rejected
        .fetch_add(1, Ordering::Relaxed);
    shared.frame_log.warn(|suppressed| {
        tracing::warn!(
            client.addr = %peer,
            tracer.session = hello.session_id,
            suppressed,
            "session rejected: {reason}"
        );
    });
    let welcome = ProbeMessage::Welcome {
        accepted: false,
        reason: Some(reason),
        event_types: Vec::new(),
        syscalls: Vec::new(),
        deny_rules: Vec::new(),
        signals: None,
        opens: None,
        last_seq: 0,
    };
    let _ = write_message(writer, &welcome).await;
}

fn check_hello(shared: &Shared, hello: &Hello) -> Result<(), String> {
    if hello.version != PROTOCOL_VERSION {
        return Err(format!(
            "unsupported protocol version {} (this probe speaks {PROTOCOL_VERSION})",
            hello.version
        ));
    }
    if let Some(expected) = &shared.token {
        match &hello.token {
            None => return Err("missing token".to_string()),
            Some(token) if !constant_time_eq(token.as_bytes(), expected.as_bytes()) => {
                return Err("invalid token".to_string())
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Compares without an early exit, so timing does not reveal the prefix.
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    left.iter()
        .zip(right)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

fn reject_frame(shared: &Shared, peer: SocketAddr, reason: &'static str, message: &str) {
    shared.metrics.frame_rejected(reason);
    shared.frame_log.warn(|suppressed| {
        tracing::warn!(client.addr = %peer, reason, suppressed, "connection closed: {message}");
    });
}

fn lock(session: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    session
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs an accepted session. `Ok(true)` is a goodbye, `Ok(false)` a
/// disconnect or a probe shutdown, `Err` a protocol error.
async fn run_session<R, W>(
    reader: &mut R,
    writer: &mut W,
    shared: &Shared,
    session: &Mutex<Session>,
    mut stopped: watch::Receiver<bool>,
) -> Result<bool, (&'static str, String)>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut policy_changes = shared.rules.subscribe();
    let rules = shared.rules.current();
    let event_types = rules.event_types();
    // The rule set whose open conditions the tracer has: a pointer, so
    // that a thousand sessions do not each keep a copy of the conditions.
    let mut announced = Arc::clone(&rules);
    let welcome = ProbeMessage::Welcome {
        accepted: true,
        reason: None,
        syscalls: protocol::syscalls::syscalls_for_kinds(event_types.iter().copied()),
        event_types,
        deny_rules: rules.deny_rules(),
        signals: rules.signal_interest(),
        opens: rules.open_interest(),
        last_seq: lock(session).last_seq,
    };
    write_message(writer, &welcome)
        .await
        .map_err(|_| ("io", "welcome not sent".to_string()))?;
    let mut budget = Budget::new(shared.session_rate);

    // The read stays pending across policy changes: dropping it halfway
    // through a frame would lose the frame's start.
    let mut watching_policy = true;
    let mut read = Box::pin(read_with(reader));
    loop {
        let (reader, message) = tokio::select! {
            result = &mut read => result,
            _ = stopped.changed() => return Ok(false),
            changed = policy_changes.changed(), if watching_policy => {
                watching_policy = changed.is_ok();
                let current = shared.rules.current();
                let opens = current.open_interest();
                if opens != announced.open_interest() {
                    let message = ProbeMessage::Interest { opens };
                    write_message(writer, &message)
                        .await
                        .map_err(|_| ("io", "open conditions not sent".to_string()))?;
                }
                announced = current;
                continue;
            }
        };
        read = Box::pin(read_with(reader));
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                return match reject_reason(&error) {
                    Some(reason) => Err((reason, error.to_string())),
                    None => Ok(false),
                }
            }
        };
        match message {
            TracerMessage::Events { events } => {
                budget.take(events.len()).await;
                let rules = shared.rules.current();
                let incoming = events.iter().map(|item| &item.event.process);
                make_room(shared, incoming);
                let outcome = {
                    let mut session = lock(session);
                    let outcome =
                        process_batch(&mut session, rules.as_ref(), &shared.metrics, events);
                    count_dropped(shared, &mut session);
                    (outcome, session.last_seq)
                };
                let (outcome, last_seq) = outcome;
                for alert in outcome.alerts {
                    shared.sinks.send(alert);
                }
                for action in outcome.actions {
                    let id = shared.next_action_id.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(action.id = id, ?action, "sending action");
                    let message = ProbeMessage::Action { id, action };
                    write_message(writer, &message)
                        .await
                        .map_err(|_| ("io", "action not sent".to_string()))?;
                }
                let ack = ProbeMessage::Ack { seq: last_seq };
                write_message(writer, &ack)
                    .await
                    .map_err(|_| ("io", "ack not sent".to_string()))?;
                tokio::task::yield_now().await;
            }
            TracerMessage::Snapshot { mut processes } => {
                make_room(shared, processes.iter());
                let mut session = lock(session);
                for process in &mut processes {
                    session.tag(process);
                }
                session.tree.add_snapshot(&processes);
                count_dropped(shared, &mut session);
            }
            TracerMessage::ActionResult { id, ok, error } => {
                shared
                    .metrics
                    .action_result(if ok { "ok" } else { "failed" });
                tracing::info!(action.id = id, ok, error, "action result");
            }
            TracerMessage::Goodbye { reason } => {
                tracing::debug!(reason, "goodbye");
                return Ok(true);
            }
            TracerMessage::Hello(_) => {
                return Err(("unexpected", "second hello on one connection".to_string()))
            }
        }
    }
}

/// Evicts disconnected sessions until the processes of a message fit in the
/// budget, estimating each at its size once cut to what a tree keeps.
fn make_room<'a>(shared: &Shared, processes: impl Iterator<Item = &'a protocol::Process>) {
    let (count, bytes) = processes.fold((0usize, 0usize), |(count, bytes), process| {
        let cap = PROCESS_OVERHEAD + shared.max_argv_bytes + 5 * MAX_STRING_BYTES;
        (count + 1, bytes + process_bytes(process).min(cap))
    });
    shared.sessions.make_room(count, bytes);
}

/// Adds the processes a tree could not keep to the metrics.
fn count_dropped(shared: &Shared, session: &mut Session) {
    let dropped = session.tree.take_dropped();
    shared
        .metrics
        .processes_dropped("session_limit", dropped.session_limit);
    shared
        .metrics
        .processes_dropped("memory_limit", dropped.memory_limit);
    if dropped.memory_limit > 0 {
        shared.frame_log.warn(|suppressed| {
            tracing::warn!(
                count = dropped.memory_limit,
                suppressed,
                "processes not kept: the probe's memory budget is spent"
            );
        });
    }
}

/// A token bucket of events per second, with one second of burst.
struct Budget {
    rate: f64,
    tokens: f64,
    refilled: Instant,
}

impl Budget {
    fn new(rate: u64) -> Budget {
        Budget {
            rate: rate as f64,
            tokens: rate as f64,
            refilled: Instant::now(),
        }
    }

    /// Takes `count` tokens, sleeping until the bucket has refilled enough.
    async fn take(&mut self, count: usize) {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.refilled).as_secs_f64() * self.rate)
            .min(self.rate);
        self.refilled = now;
        self.tokens -= count as f64;
        if self.tokens < 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(-self.tokens / self.rate)).await;
        }
    }
}

/// Reads one frame, checking the length limit before allocating.
/// Reads one message and gives the reader back with it.
async fn read_with<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> (&mut R, Result<TracerMessage, FrameError>) {
    let message = read_message(reader).await;
    (reader, message)
}

async fn read_message<R: AsyncRead + Unpin>(reader: &mut R) -> Result<TracerMessage, FrameError> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < prefix.len() {
        let count = reader.read(&mut prefix[filled..]).await?;
        if count == 0 {
            return Err(if filled == 0 {
                FrameError::Closed
            } else {
                io::Error::from(io::ErrorKind::UnexpectedEof).into()
            });
        }
        filled += count;
    }
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len });
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    Ok(serde_json::from_slice(&body)?)
}

async fn write_message<W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: &ProbeMessage,
) -> io::Result<()> {
    let frame = encode_frame(message)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error.to_string()))?;
    writer.write_all(&frame).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
