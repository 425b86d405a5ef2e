//! Sessions: what the probe keeps per tracer across reconnects (last
//! sequence number, process tree, rule state), and how one event is turned
//! into alerts and actions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::{Action, Event, EventBody, Hello, Process, Sequenced};

use crate::alert::{Alert, SessionInfo};
use crate::metrics::Metrics;
use crate::ruleset::{RuleAction, RuleSet, SessionRuleState};
use crate::tree::ProcessTree;

/// Maximum number of sessions kept, connected or not.
pub const MAX_SESSIONS: usize = 65_536;

/// Time a disconnected session is kept for its tracer to come back.
pub const SESSION_RETENTION: Duration = Duration::from_secs(600);

/// The state of one tracer session.
pub struct Session {
    /// Identity of the tracer, from its hello.
    pub info: SessionInfo,
    /// Highest sequence number processed.
    pub last_seq: u64,
    /// Processes of the session.
    pub tree: ProcessTree,
    /// The rule engine's per-session state.
    pub rule_state: SessionRuleState,
    /// When the last connection ended; `None` while connected.
    pub disconnected_at: Option<Instant>,
}

impl Session {
    /// Builds an empty session for a hello.
    pub fn new(hello: &Hello) -> Session {
        Session {
            info: session_info(hello),
            last_seq: 0,
            tree: ProcessTree::default(),
            rule_state: SessionRuleState::default(),
            disconnected_at: None,
        }
    }
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
    event: Event,
    outcome: &mut BatchOutcome,
) {
    metrics.event_received(event.kind());
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

/// Sessions by id.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Mutex<Session>>>>,
}

impl Sessions {
    /// Returns the session for a hello, resuming a known one, and removes
    /// sessions disconnected longer than [`SESSION_RETENTION`]. Returns
    /// `None` when [`MAX_SESSIONS`] sessions are already kept.
    pub fn open(&self, hello: &Hello) -> Option<Arc<Mutex<Session>>> {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.retain(|_, session| {
            let session = session
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            session
                .disconnected_at
                .is_none_or(|since| since.elapsed() < SESSION_RETENTION)
        });
        if !map.contains_key(&hello.session_id) && map.len() >= MAX_SESSIONS {
            return None;
        }
        let session = map
            .entry(hello.session_id.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Session::new(hello))));
        {
            let mut state = session
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state.info = session_info(hello);
            state.disconnected_at = None;
        }
        Some(Arc::clone(session))
    }

    /// Removes a session for good (the tracer sent a goodbye).
    pub fn close(&self, id: &str) {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.remove(id);
    }

    /// Number of sessions kept, connected or not.
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    /// True when no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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
        Hello {
            version: protocol::PROTOCOL_VERSION,
            session_id: "s1".into(),
            mode: Mode::Wrap,
            hostname: "h".into(),
            container_id: String::new(),
            pid_ns: 1,
            entrypoint: vec![],
            token: None,
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
}
