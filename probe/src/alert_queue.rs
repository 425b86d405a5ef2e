//! The queue in front of one alert sink, bounded in alerts and in
//! estimated bytes and fair between sessions. The sink takes alerts from
//! the sessions in turn. When the queue is full, the alert dropped is the
//! newest one of the session with the most alerts queued, so a session that
//! floods alerts loses its own alerts, not those of a quiet session.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::alert::Alert;
use crate::budget::process_bytes;

/// Estimated bytes of an alert apart from its processes and event body.
const ALERT_OVERHEAD: usize = 512;

/// An alert and its estimated size.
struct Queued {
    alert: Arc<Alert>,
    bytes: usize,
}

#[derive(Default)]
struct State {
    by_session: HashMap<String, VecDeque<Queued>>,
    /// Sessions with queued alerts, in the order the sink serves them.
    turns: VecDeque<String>,
    /// Queue length of each session with queued alerts, to find the longest.
    lengths: BTreeSet<(usize, String)>,
    alerts: usize,
    bytes: usize,
    closed: bool,
}

impl State {
    fn set_length(&mut self, session: &str, old: usize, new: usize) {
        if old > 0 {
            self.lengths.remove(&(old, session.to_string()));
        }
        if new > 0 {
            self.lengths.insert((new, session.to_string()));
        }
    }

    /// Removes the newest alert of a session and returns its size.
    fn drop_newest(&mut self, session: &str) -> Option<usize> {
        let queue = self.by_session.get_mut(session)?;
        let removed = queue.pop_back()?;
        let remaining = queue.len();
        if remaining == 0 {
            self.by_session.remove(session);
            self.turns.retain(|turn| turn != session);
        }
        self.set_length(session, remaining + 1, remaining);
        self.alerts -= 1;
        self.bytes -= removed.bytes;
        Some(removed.bytes)
    }
}

/// A bounded, per-session fair queue of alerts for one sink.
pub(crate) struct AlertQueue {
    state: Mutex<State>,
    ready: Condvar,
    max_alerts: usize,
    max_bytes: usize,
}

impl AlertQueue {
    /// Builds an empty queue of at most `max_alerts` alerts and `max_bytes`
    /// estimated bytes.
    pub(crate) fn new(max_alerts: usize, max_bytes: usize) -> AlertQueue {
        AlertQueue {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            max_alerts: max_alerts.max(1),
            max_bytes,
        }
    }

    /// Queues an alert, dropping the newest alerts of the session with the
    /// most queued alerts while the queue is full. Returns the sessions of
    /// the alerts dropped (possibly the new alert's own).
    pub(crate) fn push(&self, alert: Arc<Alert>) -> Vec<String> {
        let bytes = alert_bytes(&alert);
        let session = alert.session.id.clone();
        let mut state = self.lock();
        if state.closed || bytes > self.max_bytes {
            return vec![session];
        }
        let mut dropped = Vec::new();
        while state.alerts + 1 > self.max_alerts || state.bytes + bytes > self.max_bytes {
            let own = state.by_session.get(&session).map_or(0, VecDeque::len);
            let longest = state.lengths.iter().next_back().cloned();
            match longest {
                Some((length, victim)) if length > own => {
                    state.drop_newest(&victim);
                    dropped.push(victim);
                }
                _ => {
                    dropped.push(session);
                    return dropped;
                }
            }
        }
        let queue = state.by_session.entry(session.clone()).or_default();
        queue.push_back(Queued { alert, bytes });
        let length = queue.len();
        if length == 1 {
            state.turns.push_back(session.clone());
        }
        state.set_length(&session, length - 1, length);
        state.alerts += 1;
        state.bytes += bytes;
        drop(state);
        self.ready.notify_one();
        dropped
    }

    /// Waits for the next alert, taking the sessions in turn. Returns `None`
    /// once the queue is closed and empty.
    pub(crate) fn pop(&self) -> Option<Arc<Alert>> {
        let mut state = self.lock();
        while state.alerts == 0 && !state.closed {
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let session = state.turns.pop_front()?;
        let queue = state.by_session.get_mut(&session)?;
        let queued = queue.pop_front()?;
        let remaining = queue.len();
        if remaining == 0 {
            state.by_session.remove(&session);
        } else {
            state.turns.push_back(session.clone());
        }
        state.set_length(&session, remaining + 1, remaining);
        state.alerts -= 1;
        state.bytes -= queued.bytes;
        Some(queued.alert)
    }

    /// Rejects new alerts; [`AlertQueue::pop`] returns what is queued, then
    /// `None`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Returns the estimated bytes of an alert: its processes, the JSON length
/// of its event body, and its strings.
pub(crate) fn alert_bytes(alert: &Alert) -> usize {
    let mut counter = ByteCounter(0);
    // Serializing to a counter fails only if the body cannot be serialized,
    // and then the sink cannot write it either; it counts as empty.
    let _ = serde_json::to_writer(&mut counter, &alert.event.body);
    let ancestors: usize = alert.ancestors.iter().map(process_bytes).sum();
    let tags: usize = alert.tags.iter().map(String::len).sum();
    ALERT_OVERHEAD
        + counter.0
        + ancestors
        + process_bytes(&alert.event.process)
        + tags
        + alert.rule_id.len()
        + alert.description.len()
        + alert.session.id.len()
        + alert.session.hostname.len()
        + alert.session.container_id.len()
}

/// A writer that only counts bytes.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert_of(session: &str, rule: &str) -> Arc<Alert> {
        let mut alert = crate::alert::tests::sample_alert();
        alert.session.id = session.to_string();
        alert.rule_id = rule.to_string();
        Arc::new(alert)
    }

    fn drain(queue: &AlertQueue) -> Vec<String> {
        queue.close();
        std::iter::from_fn(|| queue.pop())
            .map(|alert| format!("{}:{}", alert.session.id, alert.rule_id))
            .collect()
    }

    #[test]
    fn flooding_session_loses_own_alerts() {
        let queue = AlertQueue::new(4, usize::MAX);
        for index in 0..10 {
            queue.push(alert_of("loud", &index.to_string()));
        }
        let dropped = queue.push(alert_of("quiet", "q"));
        assert_eq!(dropped, vec!["loud".to_string()]);
        let delivered = drain(&queue);
        assert!(delivered.contains(&"quiet:q".to_string()), "{delivered:?}");
        assert_eq!(delivered.len(), 4);
    }

    #[test]
    fn sessions_are_served_in_turn() {
        let queue = AlertQueue::new(16, usize::MAX);
        for index in 0..3 {
            queue.push(alert_of("a", &index.to_string()));
        }
        queue.push(alert_of("b", "0"));
        assert_eq!(drain(&queue), vec!["a:0", "b:0", "a:1", "a:2"]);
    }

    #[test]
    fn byte_cap_drops_from_longest_session() {
        let size = alert_bytes(&alert_of("a", "0"));
        let queue = AlertQueue::new(100, size * 3);
        for index in 0..3 {
            assert!(queue.push(alert_of("a", &index.to_string())).is_empty());
        }
        assert_eq!(queue.push(alert_of("a", "3")), vec!["a".to_string()]);
        assert_eq!(queue.push(alert_of("b", "0")), vec!["a".to_string()]);
        assert_eq!(drain(&queue), vec!["a:0", "b:0", "a:1"]);
    }

    #[test]
    fn closed_queue_rejects_alerts() {
        let queue = AlertQueue::new(4, usize::MAX);
        queue.close();
        assert_eq!(queue.push(alert_of("a", "0")), vec!["a".to_string()]);
        assert!(queue.pop().is_none());
    }
}
