//! The sentrace probe: it accepts tracer connections, keeps a session and a
//! process tree per tracer, evaluates rules on every event, sends alerts to
//! sinks and actions back to tracers, and serves metrics.
//!
//! [`ProbeHandle::start`] runs a probe on its own runtime thread, for
//! `sentrace probe` and for the probe embedded in `sentrace run`. The rules
//! come in through the [`RuleSet`] trait; [`policy`] adapts the rule
//! engine's policies to it.
//!
//! # Limitations
//!
//! - Each event is processed exactly once across tracer reconnects and a
//!   graceful probe restart, because on SIGTERM the probe acknowledges every
//!   batch it processed before it exits (the `probe_restart` test checks
//!   this). After a probe crash, events that were processed but not yet
//!   acknowledged are processed again by the next probe.
//! - What the probe retains is bounded by [`Limits`]: processes and
//!   estimated bytes across sessions, processes per session, argument bytes
//!   per process, disconnected sessions, and alerts queued per sink. Over a
//!   limit, the oldest disconnected sessions are evicted first; processes
//!   that still do not fit are not kept, so rules see shorter ancestries and
//!   argument lists for them. The byte counts are estimates, not allocator
//!   measurements.
//! - Frames being read and decoded are not charged to the budget: up to
//!   4096 connections may each hold one frame of at most 1 MiB, plus its
//!   decoded form, at the same time.
//! - A sink's queue is fair between sessions: when it is full, the alerts
//!   dropped are those of the session with the most alerts queued. Alerts a
//!   flooding session raises beyond its share are dropped and counted.
//! - Sessions live in memory; a restarted probe starts with empty process
//!   trees, filled again by each tracer's snapshot on reconnect.

pub mod alert;
mod alert_queue;
pub mod budget;
pub mod metrics;
pub mod policy;
mod ratelimit;
pub mod ruleset;
pub mod server;
pub mod session;
pub mod sinks;
pub mod tree;

pub use alert::{Alert, SessionInfo};
pub use budget::Limits;
pub use metrics::Metrics;
pub use policy::{load_policy, load_policy_skipping_errors, PolicyError, PolicyRules};
pub use ruleset::{NoRules, RuleAction, RuleMatch, RuleSet, SessionRuleState, SharedRules};
pub use server::{ProbeConfig, ProbeError, ProbeHandle, DEFAULT_SESSION_RATE};
pub use sinks::{Format, SinkError, SinkSpec};
