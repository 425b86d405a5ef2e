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
//! - The sink queues are shared by all sessions, so a session that raises
//!   alerts faster than a sink writes them can crowd out the alerts of other
//!   sessions from that sink (they are dropped and counted).
//! - Sessions live in memory; a restarted probe starts with empty process
//!   trees, filled again by each tracer's snapshot on reconnect.

pub mod alert;
pub mod metrics;
pub mod policy;
mod ratelimit;
pub mod ruleset;
pub mod server;
pub mod session;
pub mod sinks;
pub mod tree;

pub use alert::{Alert, SessionInfo};
pub use metrics::Metrics;
pub use policy::{load_policy, PolicyError, PolicyRules};
pub use ruleset::{NoRules, RuleAction, RuleMatch, RuleSet, SessionRuleState, SharedRules};
pub use server::{ProbeConfig, ProbeError, ProbeHandle, DEFAULT_SESSION_RATE};
pub use sinks::{Format, SinkError, SinkSpec};
