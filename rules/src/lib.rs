//! The sentrace rule language: a SECL-compatible parser, checker and
//! evaluator, and the policy files that hold rules.
//!
//! A [`Policy`] is compiled once from YAML policy files (or from the built-in
//! policy) into an evaluation form indexed by event type. Field accessors are
//! resolved at compile time, and globs and regular expressions are prepared at
//! load time, so [`Policy::evaluate`] does no string lookups per event.
//!
//! Every rule ends in one [`RuleStatus`]: active, disabled, filtered (written
//! for another OS), unsupported (uses a field, event type or feature that
//! sentrace does not produce) or error (with line, column and span). A broken
//! rule never stops the rest of a policy from loading.
//!
//! # Limitations
//!
//! - A rule that reads only `process.*` fields (no event-specific field) is
//!   evaluated on exec events only.
//! - `process.user`, `process.euser` and `process.group` resolve id 0 to
//!   `root` only, because the workload's `/etc/passwd` is not read; other ids
//!   give an empty name.
//! - `process.ancestors[A].*` fields bind one ancestor for the whole rule
//!   expression, which is then true when it is true for some ancestor.
//! - Variable `ttl` and `size` are accepted and ignored: variables live until
//!   their process exits (`Variables::forget_process`) or the session ends.
//! - The `cgroup` variable scope is the container scope: sentrace knows no
//!   cgroup other than the container a process runs in. Processes outside any
//!   container (empty container id) share one host scope, and `cgroup.x` and
//!   `container.x` name the same variable.
//! - The `hash` action is reported as not supported.
//! - `fim.write.file.*` is expanded in rule expressions only; an action
//!   filter or `set` value that reads it makes the rule unsupported.
//! - `container.tags` and `process.user_session.*` hold what the tracer's
//!   caller declares. `event.service` is the value of the `service` (or
//!   `tags.datadoghq.com/service`) container tag; Datadog's agent also reads
//!   `DD_SERVICE` from the environment, which sentrace does not keep.
//! - A rule that reads container tags is not enforced by the tracer at
//!   syscall entry, because the probe sets the tags.
//! - SECL fields sentrace does not produce (file modes and owners before a
//!   change, DNS, BPF, TTY names, ...) make a rule unsupported. A name that
//!   is not a SECL field at all is an error, with the closest field sentrace
//!   has as a suggestion.
//! - Within one policy file, a second rule with an id already used is an
//!   error unless it has `combine: override`, which replaces the first rule
//!   whole (Datadog's `override_options` are not read). A rule in a later
//!   file replaces the earlier rule with the same id.
//! - The built-in policy raises alerts only: none of its rules has a `kill`
//!   or `deny` action.

mod compile;
mod constants;
mod deny;
mod eval;
mod fields;
mod glob;
mod index;
mod load;
mod opens;
mod parse;
mod policy;
mod report;
mod signals;
mod variables;
mod yaml;

pub use deny::DenyPolicy;
pub use fields::{field_table, FieldInfo};
pub use load::SECL_AGENT_VERSION;
pub use opens::OpenFilter;
pub use parse::{MAX_DEPTH, MAX_EXPRESSION_BYTES};
pub use policy::{check_expression, LoadError, Policy, BUILTIN_POLICY};
pub use report::{LoadReport, Location, RuleReport, RuleStatus, Summary};
pub use variables::Variables;

/// A rule that matched an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Rule id.
    pub rule_id: String,
    /// Rule description.
    pub description: String,
    /// Rule tags as `key:value` strings.
    pub tags: Vec<String>,
    /// Actions the caller must carry out (`set` is applied inside
    /// [`Policy::evaluate`] and never appears here).
    pub actions: Vec<MatchAction>,
}

/// An action that a matched rule requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchAction {
    /// Send `signal` to the process, or to every process of `scope`
    /// (`process`, `process_group` or `container`).
    Kill {
        /// Signal number.
        signal: i32,
        /// The processes that receive the signal.
        scope: String,
    },
    /// Refuse the syscall with `EPERM` (only where the tracer checks the rule
    /// at syscall entry).
    Deny,
}
