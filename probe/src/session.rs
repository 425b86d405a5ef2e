//! Sessions: what the probe keeps per tracer across reconnects (last
//! sequence number, process tree, rule state), and how one event is turned
//! into alerts and actions.
//!
//! Disconnected sessions are kept for their tracer to come back, within
//! [`Limits`]: they expire after `session_retention`, and the oldest are
//! evicted first when there are more than `max_disconnected_sessions` or
//! when the probe-wide process or byte budget is spent.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use protocol::{Action, Event, EventBody, Hello, Process, Sequenced};

use crate::alert::{Alert, SessionInfo};
use crate::budget::{Budget, Limits, SESSION_OVERHEAD};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimitedLog;
use crate::ruleset::{RuleAction, RuleSet, SessionRuleState};
use crate::tree::ProcessTree;

/// Maximum number of sessions kept, connected or not.
pub const MAX_SESSIONS: usize = 65_536;

/// The state of one tracer session.
pub struct Session {
    /// Identity of the tracer, from its hello.
    pub info: SessionInfo,
    /// Tags of the workload, from the hello; set as `container.tags` of
    /// every process the session reports.
    pub tags: Option<Arc<[String]>>,
    /// Highest sequence number processed.
    pub last_seq: u64,
    /// Processes of the session.
    pub tree: ProcessTree,
    /// The rule engine's per-session state.
    pub rule_state: SessionRuleState,
    /// When the last connection ended; `None` while connected.
    pub disconnected_at: Option<Instant>,
    /// Open connections of the session.
    connections: usize,
    /// Key of the session in the index of disconnected sessions.
    disconnected_key: Option<(Instant, u64)>,
    /// Bytes of `info` and `tags` charged to the budget.
    info_bytes: usize,
    budget: Arc<Budget>,
}

impl Session {
    /// Builds an empty session for a hello, without a probe-wide budget.
    pub fn new(hello: &Hello) -> Session {
        Session::with_limits(hello, &Limits::default(), Budget::unlimited())
    }

    /// Builds an empty session for a hello whose tree follows `limits` and
    /// charges `budget`.
    pub fn with_limits(hello: &Hello, limits: &Limits, budget: Arc<Budget>) -> Session {
        let info = session_info(hello);
        let tags = session_tags(hello);
        let info_bytes = info_bytes(&info, tags.as_deref());
        budget.charge_bytes(info_bytes);
        Session {
            info,
            tags,
            last_seq: 0,
            tree: ProcessTree::with_budget(
                limits.max_session_processes,
                limits.max_argv_bytes,
                Arc::clone(&budget),
            ),
            rule_state: SessionRuleState::default(),
            disconnected_at: None,
            connections: 0,
            disconnected_key: None,
            info_bytes,
            budget,
        }
    }

    /// Replaces the identity and tags from a newer hello of the same session.
    fn set_info(&mut self, hello: &Hello) {
        let info = session_info(hello);
        let tags = session_tags(hello);
        let bytes = info_bytes(&info, tags.as_deref());
        self.budget.release(0, self.info_bytes);
        self.budget.charge_bytes(bytes);
        self.info_bytes = bytes;
        self.info = info;
        self.tags = tags;
    }

    /// Sets the session's tags as the container tags of `process`, in place
    /// of any the tracer sent.
    pub fn tag(&self, process: &mut Process) {
        process.container.tags.clone_from(&self.tags);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.budget.release(0, self.info_bytes);
    }
}

fn info_bytes(info: &SessionInfo, tags: Option<&[String]>) -> usize {
    let tags: usize = tags.unwrap_or_default().iter().map(String::len).sum();
    SESSION_OVERHEAD + 2 * info.id.len() + info.hostname.len() + info.container_id.len() + tags
}

fn session_tags(hello: &Hello) -> Option<Arc<[String]>> {
    (!hello.tags.is_empty()).then(|| Arc::from(hello.tags.as_slice()))
}

fn session_info(hello: &Hello) -> SessionInfo {
    SessionInfo {
        id: hello.session_id.clone(),
        hostname: hello.hostname.clone(),
        container_id: hello.container_id.clone(),
        mode: hello.mode,
    }
}

/// Result of processing a batch.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Alerts to send to the sinks.
    pub alerts: Vec<Alert>,
    /// Kill actions to send to the tracer.
    pub actions: Vec<Action>,
    /// Events processed (new ones, not duplicates).
    pub processed: usize,
}

/// Processes a batch in order, skipping events already processed (a resend
/// after a reconnect), so every sequence number is handled once.
pub fn process_batch(
    session: &mut Session,
    rules: &dyn RuleSet,
    metrics: &Metrics,
    events: Vec<Sequenced>,
) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    for Sequenced { seq, event } in events {
        if seq <= session.last_seq {
            metrics
                .events_duplicate
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            continue;
        }
        session.last_seq = seq;
        outcome.processed += 1;
        process_event(session, rules, metrics, event, &mut outcome);
    }
    outcome
}

fn process_event(
    session: &mut Session,
    rules: &dyn RuleSet,
    metrics: &Metrics,
    mut event: Event,
    outcome: &mut BatchOutcome,
) {
    metrics.event_received(event.kind());
    session.tag(&mut event.process);
    if let EventBody::Lost { lost } = &event.body {
        metrics
            .events_lost
            .fetch_add(lost.count, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(
            tracer.session = session.info.id,
            count = lost.count,
            reason = lost.reason,
            "tracer lost events"
        );
    }
    session.tree.apply(&event);
    let ancestors: Vec<Process> = session.tree.ancestors(event.process.ppid);

    let started = Instant::now();
    let matches = rules.evaluate(&event, &ancestors, &mut session.rule_state);
    metrics.evaluation_took(started.elapsed());

    for found in matches {
        metrics.alert_raised(&found.rule_id);
        for action in &found.actions {
            if let RuleAction::Kill { signal, scope } = action {
                outcome.actions.push(Action::Kill {
                    pid: event.process.pid,
                    signal: *signal,
                    scope: scope.clone(),
                    rule_id: found.rule_id.clone(),
                });
            }
        }
        outcome.alerts.push(Alert {
            rule_id: found.rule_id,
            description: found.description,
            tags: found.tags,
            timestamp: protocol::time::now_rfc3339(),
            session: session.info.clone(),
            event: event.clone(),
            ancestors: ancestors.clone(),
        });
    }

    if let EventBody::Exit { .. } = event.body {
        rules.forget_process(&mut session.rule_state, event.process.pid);
        session.tree.prune(event.process.pid);
    }
}

/// Reason a session was removed before its tracer came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionReason {
    /// Disconnected longer than the retention time.
    Expired,
    /// More disconnected sessions than the limit.
    DisconnectedLimit,
    /// The probe-wide process or byte budget was spent.
    MemoryLimit,
    /// [`MAX_SESSIONS`] sessions were kept and a new one arrived.
    SessionLimit,
}

impl EvictionReason {
    /// Returns the `reason` label of the eviction counter.
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionReason::Expired => "expired",
            EvictionReason::DisconnectedLimit => "disconnected_limit",
            EvictionReason::MemoryLimit => "memory_limit",
            EvictionReason::SessionLimit => "session_limit",
        }
    }
}

#[derive(Default)]
struct SessionMap {
    sessions: HashMap<String, Arc<Mutex<Session>>>,
    /// Disconnected sessions, oldest first; the serial keeps keys unique.
    disconnected: BTreeMap<(Instant, u64), String>,
    next_serial: u64,
}

/// Sessions by id, with the index of disconnected ones and the budget their
/// trees charge.
pub struct Sessions {
    map: Mutex<SessionMap>,
    limits: Limits,
    budget: Arc<Budget>,
    metrics: Arc<Metrics>,
    eviction_log: RateLimitedLog,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(Limits::default(), Arc::new(Metrics::default()))
    }
}

impl Sessions {
    /// Builds an empty set of sessions that follows `limits` and reports
    /// retained state and evictions in `metrics`.
    pub fn new(limits: Limits, metrics: Arc<Metrics>) -> Sessions {
        let budget = Arc::new(Budget::new(&limits, Arc::clone(&metrics.retained)));
        Sessions {
            map: Mutex::new(SessionMap::default()),
            limits,
            budget,
            metrics,
            eviction_log: RateLimitedLog::default(),
        }
    }

    /// Returns the session for a hello, resuming a known one, after removing
    /// sessions disconnected longer than the retention time. Returns `None`
    /// when [`MAX_SESSIONS`] sessions are kept and none is disconnected.
    pub fn open(&self, hello: &Hello) -> Option<Arc<Mutex<Session>>> {
        let mut map = self.lock_map();
        self.expire(&mut map);
        let session = match map.sessions.get(&hello.session_id) {
            Some(session) => Arc::clone(session),
            None => {
                if map.sessions.len() >= MAX_SESSIONS
                    && !self.evict_oldest(&mut map, EvictionReason::SessionLimit)
                {
                    return None;
                }
                let session = Session::with_limits(hello, &self.limits, Arc::clone(&self.budget));
                let session = Arc::new(Mutex::new(session));
                map.sessions
                    .insert(hello.session_id.clone(), Arc::clone(&session));
                session
            }
        };
        {
            let mut state = lock_session(&session);
            if let Some(key) = state.disconnected_key.take() {
                map.disconnected.remove(&key);
            }
            state.set_info(hello);
            state.disconnected_at = None;
            state.connections += 1;
        }
        self.update_gauges(&map);
        Some(session)
    }

    /// Records that a connection of the session ended. When it was the last
    /// one, the session is kept as disconnected, and the oldest disconnected
    /// sessions are evicted while there are too many or the budget is spent.
    pub fn disconnect(&self, session: &Arc<Mutex<Session>>) {
        let mut map = self.lock_map();
        {
            let mut state = lock_session(session);
            state.connections = state.connections.saturating_sub(1);
            let kept = map
                .sessions
                .get(&state.info.id)
                .is_some_and(|kept| Arc::ptr_eq(kept, session));
            if state.connections > 0 || !kept {
                return;
            }
            let now = Instant::now();
            let key = (now, map.next_serial);
            map.next_serial += 1;
            state.disconnected_at = Some(now);
            state.disconnected_key = Some(key);
            map.disconnected.insert(key, state.info.id.clone());
        }
        while map.disconnected.len() > self.limits.max_disconnected_sessions {
            self.evict_oldest(&mut map, EvictionReason::DisconnectedLimit);
        }
        while !self.budget.fits(0, 0) {
            if !self.evict_oldest(&mut map, EvictionReason::MemoryLimit) {
                break;
            }
        }
        self.update_gauges(&map);
    }

    /// Evicts disconnected sessions, oldest first, until `processes` more
    /// processes and `bytes` more bytes fit in the budget or no
    /// disconnected session is left. Returns true when they fit.
    pub fn make_room(&self, processes: usize, bytes: usize) -> bool {
        if self.budget.fits(processes, bytes) {
            return true;
        }
        let mut map = self.lock_map();
        while !self.budget.fits(processes, bytes) {
            if !self.evict_oldest(&mut map, EvictionReason::MemoryLimit) {
                self.update_gauges(&map);
                return false;
            }
        }
        self.update_gauges(&map);
        true
    }

    /// Removes a session for good (the tracer sent a goodbye).
    pub fn close(&self, id: &str) {
        let mut map = self.lock_map();
        if let Some(session) = map.sessions.remove(id) {
            if let Some(key) = lock_session(&session).disconnected_key.take() {
                map.disconnected.remove(&key);
            }
        }
        self.update_gauges(&map);
    }

    /// Number of sessions kept, connected or not.
    pub fn len(&self) -> usize {
        self.lock_map().sessions.len()
    }

    /// True when no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of disconnected sessions kept.
    pub fn disconnected_len(&self) -> usize {
        self.lock_map().disconnected.len()
    }

    /// Returns the budget the sessions' trees charge.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    fn lock_map(&self) -> MutexGuard<'_, SessionMap> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expire(&self, map: &mut SessionMap) {
        while let Some((since, _)) = map.disconnected.keys().next() {
            if since.elapsed() < self.limits.session_retention {
                break;
            }
            self.evict_oldest(map, EvictionReason::Expired);
        }
    }

    /// Evicts the session disconnected longest ago; returns false when no
    /// session is disconnected.
    fn evict_oldest(&self, map: &mut SessionMap, reason: EvictionReason) -> bool {
        let Some((_, id)) = map.disconnected.pop_first() else {
            return false;
        };
        let Some(session) = map.sessions.remove(&id) else {
            return true;
        };
        let (processes, bytes) = {
            let mut state = lock_session(&session);
            state.disconnected_key = None;
            (state.tree.len(), state.tree.retained_bytes())
        };
        // Dropping the last reference releases the tree's budget.
        drop(session);
        self.metrics.session_evicted(reason.as_str());
        self.eviction_log.warn(|suppressed| {
            tracing::warn!(
                tracer.session = id,
                reason = reason.as_str(),
                processes,
                bytes,
                retained.processes = self.budget.usage().processes(),
                retained.bytes = self.budget.usage().bytes(),
                suppressed,
                "disconnected session evicted"
            );
        });
        true
    }

    fn update_gauges(&self, map: &SessionMap) {
        use std::sync::atomic::Ordering::Relaxed;
        self.metrics
            .sessions_retained
            .store(map.sessions.len() as i64, Relaxed);
        self.metrics
            .sessions_disconnected
            .store(map.disconnected.len() as i64, Relaxed);
    }
}

fn lock_session(session: &Mutex<Session>) -> MutexGuard<'_, Session> {
    session
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ruleset::RuleMatch;
    use protocol::{EventKind, File, Mode, OpenEvent};

    /// Matches opens of `/etc/shadow` with a kill action.
    struct ShadowRule;

    impl RuleSet for ShadowRule {
        fn event_types(&self) -> Vec<EventKind> {
            vec![EventKind::Open]
        }
        fn deny_rules(&self) -> Vec<protocol::DenyRule> {
            Vec::new()
        }
        fn evaluate(
            &self,
            event: &Event,
            _: &[Process],
            _: &mut SessionRuleState,
        ) -> Vec<RuleMatch> {
            match &event.body {
                EventBody::Open { open } if open.file.path == "/etc/shadow" => vec![RuleMatch {
                    rule_id: "shadow".into(),
                    description: "shadow read".into(),
                    tags: vec![],
                    actions: vec![RuleAction::Kill {
                        signal: 9,
                        scope: "process".into(),
                    }],
                }],
                _ => Vec::new(),
            }
        }
        fn rule_count(&self) -> usize {
            1
        }
    }

    fn hello() -> Hello {
        hello_for("s1")
    }

    fn hello_for(id: &str) -> Hello {
        Hello {
            version: protocol::PROTOCOL_VERSION,
            session_id: id.into(),
            mode: Mode::Wrap,
            hostname: "h".into(),
            container_id: String::new(),
            pid_ns: 1,
            entrypoint: vec![],
            token: None,
            tags: Vec::new(),
        }
    }

    fn open(seq: u64, path: &str) -> Sequenced {
        let process = Process {
            pid: 9,
            tid: 9,
            ppid: 8,
            comm: "cat".into(),
            ..Process::default()
        };
        let body = EventBody::Open {
            open: OpenEvent {
                file: File::from_path(path),
                flags: 0,
                mode: 0,
                retval: 3,
            },
        };
        Sequenced {
            seq,
            event: Event {
                timestamp: String::new(),
                process,
                body,
            },
        }
    }

    #[test]
    fn duplicates_are_skipped() {
        let mut session = Session::new(&hello());
        let metrics = Metrics::default();
        let first = process_batch(
            &mut session,
            &ShadowRule,
            &metrics,
            vec![open(1, "/a"), open(2, "/etc/shadow")],
        );
        assert_eq!(first.processed, 2);
        assert_eq!(first.alerts.len(), 1);
        assert_eq!(first.actions.len(), 1);
        let again = process_batch(
            &mut session,
            &ShadowRule,
            &metrics,
            vec![open(2, "/etc/shadow"), open(3, "/b")],
        );
        assert_eq!(again.processed, 1);
        assert!(again.alerts.is_empty());
        assert_eq!(session.last_seq, 3);
        assert_eq!(
            metrics
                .events_duplicate
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }

    #[test]
    fn alert_carries_ancestry_from_tree() {
        let mut session = Session::new(&hello());
        let parent = Process {
            pid: 8,
            tid: 8,
            ppid: 1,
            comm: "server".into(),
            ..Process::default()
        };
        session.tree.add_snapshot(&[parent]);
        let metrics = Metrics::default();
        let outcome = process_batch(
            &mut session,
            &ShadowRule,
            &metrics,
            vec![open(1, "/etc/shadow")],
        );
        let alert = &outcome.alerts[0];
        assert_eq!(alert.ancestors[0].comm, "server");
        assert_eq!(alert.session.id, "s1");
        assert!(matches!(
            outcome.actions[0],
            Action::Kill {
                pid: 9,
                signal: 9,
                ..
            }
        ));
    }

    #[test]
    fn hello_tags_become_container_tags() {
        let mut tagged = hello();
        tagged.tags = vec!["env:prod".into(), "tags.datadoghq.com/service".into()];
        let mut session = Session::new(&tagged);
        let mut forged = open(1, "/etc/shadow");
        forged.event.process.container.tags = Some(Arc::from(vec!["forged".to_string()]));
        let outcome = process_batch(&mut session, &ShadowRule, &Metrics::default(), vec![forged]);
        let tags = outcome.alerts[0].event.process.container.tags.as_deref();
        assert_eq!(tags, Some(&tagged.tags[..]));
        let kept = session.tree.get(9).and_then(|p| p.container.tags.clone());
        assert_eq!(kept.as_deref(), Some(&tagged.tags[..]));

        let mut untagged = Session::new(&hello());
        let outcome = process_batch(
            &mut untagged,
            &ShadowRule,
            &Metrics::default(),
            vec![open(1, "/etc/shadow")],
        );
        assert_eq!(outcome.alerts[0].event.process.container.tags, None);
    }

    #[test]
    fn reopened_session_takes_new_tags() {
        let sessions = Sessions::default();
        sessions.open(&hello()).unwrap();
        let mut tagged = hello();
        tagged.tags = vec!["team:a".into()];
        let session = sessions.open(&tagged).unwrap();
        let tags = session.lock().unwrap().tags.clone();
        assert_eq!(tags.as_deref(), Some(&["team:a".to_string()][..]));
    }

    #[test]
    fn reopened_session_keeps_last_seq() {
        let sessions = Sessions::default();
        let session = sessions.open(&hello()).unwrap();
        session.lock().unwrap().last_seq = 42;
        assert_eq!(
            sessions.open(&hello()).unwrap().lock().unwrap().last_seq,
            42
        );
        sessions.close("s1");
        assert_eq!(sessions.open(&hello()).unwrap().lock().unwrap().last_seq, 0);
    }

    fn snapshot(count: u32, argv_bytes: usize) -> Vec<Process> {
        (1..=count)
            .map(|pid| Process {
                pid,
                tid: pid,
                ppid: 1,
                argv: vec!["x".repeat(argv_bytes)],
                ..Process::default()
            })
            .collect()
    }

    /// Opens a session, fills its tree, and disconnects it.
    fn abandon(sessions: &Sessions, id: &str, processes: &[Process]) {
        let session = sessions.open(&hello_for(id)).unwrap();
        sessions.make_room(processes.len(), 0);
        session.lock().unwrap().tree.add_snapshot(processes);
        sessions.disconnect(&session);
    }

    #[test]
    fn disconnected_sessions_over_limit_evict_oldest() {
        let limits = Limits {
            max_disconnected_sessions: 2,
            ..Limits::default()
        };
        let metrics = Arc::new(Metrics::default());
        let sessions = Sessions::new(limits, Arc::clone(&metrics));
        for id in ["a", "b", "c"] {
            abandon(&sessions, id, &snapshot(3, 10));
        }
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions.disconnected_len(), 2);
        assert_eq!(metrics.sessions_evicted("disconnected_limit"), 1);
        // The oldest, "a", is gone: reopening it starts from scratch.
        let reopened = sessions.open(&hello_for("a")).unwrap();
        assert!(reopened.lock().unwrap().tree.is_empty());
        assert_eq!(metrics.retained.processes(), 3 * 2);
    }

    #[test]
    fn memory_budget_evicts_disconnected_first() {
        let limits = Limits {
            max_processes: 10,
            ..Limits::default()
        };
        let metrics = Arc::new(Metrics::default());
        let sessions = Sessions::new(limits, Arc::clone(&metrics));
        let live = sessions.open(&hello_for("live")).unwrap();
        live.lock().unwrap().tree.add_snapshot(&snapshot(4, 10));
        abandon(&sessions, "old", &snapshot(4, 10));
        abandon(&sessions, "new", &snapshot(4, 10));
        assert_eq!(metrics.sessions_evicted("memory_limit"), 1);
        assert_eq!(sessions.len(), 2);
        assert_eq!(metrics.retained.processes(), 8);
        assert!(sessions.make_room(2, 0));
        assert!(!sessions.make_room(7, 0), "live sessions are never evicted");
        assert_eq!(live.lock().unwrap().tree.len(), 4);
    }

    #[test]
    fn evicted_session_releases_budget() {
        let metrics = Arc::new(Metrics::default());
        let sessions = Sessions::new(Limits::default(), Arc::clone(&metrics));
        abandon(&sessions, "a", &snapshot(5, 3000));
        let retained = metrics.retained.bytes();
        assert!(retained > 5 * 3000, "retained {retained}");
        sessions.close("a");
        assert_eq!(metrics.retained.processes(), 0);
        assert_eq!(metrics.retained.bytes(), 0);
    }

    #[test]
    fn tree_cuts_argv_and_counts_memory_drops() {
        let limits = Limits {
            max_argv_bytes: 100,
            max_processes: 3,
            ..Limits::default()
        };
        let metrics = Arc::new(Metrics::default());
        let sessions = Sessions::new(limits, Arc::clone(&metrics));
        let session = sessions.open(&hello()).unwrap();
        let mut state = session.lock().unwrap();
        state.tree.add_snapshot(&snapshot(5, 3000));
        assert_eq!(state.tree.len(), 3);
        assert_eq!(state.tree.get(1).unwrap().argv[0].len(), 100);
        let dropped = state.tree.take_dropped();
        assert_eq!(dropped.memory_limit, 2);
        assert_eq!(dropped.session_limit, 0);
    }
}
