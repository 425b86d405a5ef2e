//! The tracer side of the probe link: a non-blocking [`EventSink`] that
//! streams events to a `sentrace probe` over TCP.
//!
//! [`connect`] starts a sender thread and, unless `start_immediately` is set,
//! waits for the probe's welcome. The sink's `emit` only appends to a bounded
//! buffer, so the workload never waits for the network. The sender thread
//! batches events into `events` frames, drops what the probe acknowledges,
//! reconnects with exponential backoff, and after a reconnect resends every
//! event past the `last_seq` in the probe's welcome. When the buffer is full
//! the oldest events are dropped and a `lost` event with their count follows.
//! A frame waits up to 2 ms for more events, so that a busy workload wakes
//! the sender thread and the probe once per batch instead of once per event.
//!
//! The same thread carries out the probe's `kill` actions with kill(2), and
//! only on processes that appeared in this session's events. A `/proc`
//! scanner ([`procscan`]) can report processes of the pid namespace that are
//! not descendants of the tracer.
//!
//! # Limitations
//!
//! - The deny rules are compiled once, from the first welcome; a policy
//!   reload on the probe reaches a running tracer only for the `kill` rules.

use std::time::Duration;

use protocol::{Hello, SignalRange};

use crate::engine::OpenFilterSlot;
use crate::sink::{EventSink, SyscallGate};

mod actions;
mod buffer;
mod gate;
pub(crate) mod limits;
pub mod procscan;
mod sender;

pub use gate::DenyGate;

/// Default time to wait for the probe before starting the workload.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Default size of the event buffer, in events.
pub const DEFAULT_BUFFER_EVENTS: usize = 65_536;

/// Default period of the `/proc` scanner when it is enabled.
pub const DEFAULT_PROC_SCAN_INTERVAL: Duration = Duration::from_secs(1);

/// Settings of the probe link.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Probe address, `HOST:PORT`.
    pub addr: String,
    /// The hello sent on every connect and reconnect. Its `session_id` must
    /// stay the same for the life of the tracer, so that the probe resumes
    /// the session.
    pub hello: Hello,
    /// Maximum time [`connect`] waits for the first welcome.
    pub probe_timeout: Duration,
    /// When the probe cannot be reached within `probe_timeout`, return an
    /// error instead of starting without it (`--on-probe-unavailable exit`).
    pub exit_if_unavailable: bool,
    /// Return at once without waiting for a welcome (`--async`).
    pub start_immediately: bool,
    /// Maximum number of unacknowledged events kept for resending.
    pub buffer_events: usize,
    /// Period of the `/proc` scanner, `None` to disable it.
    pub proc_scan_interval: Option<Duration>,
}

impl LinkOptions {
    /// Builds options with the defaults. [`connect`] waits 30 s for the probe
    /// and then starts anyway, and the buffer holds [`DEFAULT_BUFFER_EVENTS`].
    /// The `/proc` scanner is on only when this process is pid 1 of its pid
    /// namespace (a container entrypoint). On a host, every other process
    /// would be reported as not descending from the tracee.
    pub fn new(addr: impl Into<String>, hello: Hello) -> LinkOptions {
        let proc_scan_interval = (std::process::id() == 1).then_some(DEFAULT_PROC_SCAN_INTERVAL);
        LinkOptions {
            addr: addr.into(),
            hello,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            exit_if_unavailable: false,
            start_immediately: false,
            buffer_events: DEFAULT_BUFFER_EVENTS,
            proc_scan_interval,
        }
    }
}

/// Settings the probe's welcome gives the tracer.
pub struct Welcomed {
    /// Syscall names the probe's rules need; `None` when no welcome arrived
    /// before the workload started (trace every syscall sentrace decodes).
    pub syscalls: Option<Vec<String>>,
    /// The probe's deny rules, compiled; `None` when there are none.
    pub deny_gate: Option<Box<dyn SyscallGate>>,
    /// Signal numbers the probe's rules may match for a target other than
    /// the tracer; `None` for every number.
    pub signals: Option<Vec<SignalRange>>,
    /// The opens the probe's rules may match, kept up to date by the link.
    pub opens: OpenFilterSlot,
}

impl std::fmt::Debug for Welcomed {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Welcomed")
            .field("syscalls", &self.syscalls)
            .field("deny_gate", &self.deny_gate.is_some())
            .field("signals", &self.signals)
            .field("opens", &self.opens)
            .finish()
    }
}

/// Connects to the probe and returns the event sink and the welcome.
///
/// Call it before starting the workload. It waits at most
/// `options.probe_timeout` for the welcome, unless `start_immediately` is set.
/// When the probe rejects the session (wrong token, protocol version) it
/// returns the reason as an error. When the probe is unreachable it returns an
/// error if `exit_if_unavailable` is set, and otherwise a sink that keeps
/// retrying in the background.
///
/// The sink's `emit` only takes the buffer's mutex and never does I/O. Its `flush` (and its drop) waits up to
/// `probe_timeout` for the probe to acknowledge the remaining events, then
/// sends a goodbye.
pub fn connect(mut options: LinkOptions) -> anyhow::Result<(Box<dyn EventSink>, Welcomed)> {
    limits::bound_list(&mut options.hello.entrypoint);
    let (sink, welcomed) = sender::start(options)?;
    Ok((Box::new(sink), welcomed))
}
