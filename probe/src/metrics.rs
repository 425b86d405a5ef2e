//! Probe counters, their Prometheus text form, and the small HTTP/1.1 server
//! for `GET /metrics` and `GET /healthz`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::EventKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::budget::Usage;

/// Upper bounds of the evaluation-time histogram buckets, in seconds.
const EVAL_BUCKETS: [f64; 8] = [1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 1e-2];

/// Largest HTTP request head read, in bytes.
const MAX_REQUEST_HEAD: usize = 8192;

/// Counters of one probe.
#[derive(Debug, Default)]
pub struct Metrics {
    events: [AtomicU64; EventKind::ALL.len()],
    alerts: Mutex<BTreeMap<String, u64>>,
    frames_rejected: Mutex<BTreeMap<&'static str, u64>>,
    alerts_dropped: Mutex<BTreeMap<String, u64>>,
    actions: Mutex<BTreeMap<&'static str, u64>>,
    sessions_evicted: Mutex<BTreeMap<&'static str, u64>>,
    processes_dropped: Mutex<BTreeMap<&'static str, u64>>,
    /// Processes and estimated bytes retained across all sessions.
    pub retained: Arc<Usage>,
    /// Sessions kept, connected or not.
    pub sessions_retained: AtomicI64,
    /// Disconnected sessions kept for their tracer to come back.
    pub sessions_disconnected: AtomicI64,
    /// Sessions with a live connection.
    pub sessions_active: AtomicI64,
    /// Sessions accepted since start (a reconnect counts again).
    pub sessions_accepted: AtomicU64,
    /// Hellos rejected (token, version).
    pub sessions_rejected: AtomicU64,
    /// Events the tracers reported as lost (sum of `lost.count`).
    pub events_lost: AtomicU64,
    /// Events received twice (resent after a reconnect) and skipped.
    pub events_duplicate: AtomicU64,
    eval_buckets: [AtomicU64; EVAL_BUCKETS.len()],
    eval_count: AtomicU64,
    eval_nanos: AtomicU64,
}

fn increment<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K, by: u64) {
    let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *map.entry(key).or_insert(0) += by;
}

impl Metrics {
    /// Counts one received event.
    pub fn event_received(&self, kind: EventKind) {
        if let Some(index) = EventKind::ALL
            .iter()
            .position(|candidate| *candidate == kind)
        {
            self.events[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Returns the number of events received of one type.
    pub fn events_received(&self, kind: EventKind) -> u64 {
        EventKind::ALL
            .iter()
            .position(|candidate| *candidate == kind)
            .map_or(0, |index| self.events[index].load(Ordering::Relaxed))
    }

    /// Counts one alert of a rule.
    pub fn alert_raised(&self, rule_id: &str) {
        increment(&self.alerts, rule_id.to_string(), 1);
    }

    /// Counts a frame that closed its connection, by reason (`malformed`,
    /// `oversized`, `unexpected`, `truncated`).
    pub fn frame_rejected(&self, reason: &'static str) {
        increment(&self.frames_rejected, reason, 1);
    }

    /// Returns the number of frames rejected for a reason.
    pub fn frames_rejected(&self, reason: &str) -> u64 {
        let map = self
            .frames_rejected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(reason).copied().unwrap_or(0)
    }

    /// Counts an alert a sink had to drop.
    pub fn alert_dropped(&self, sink: &str) {
        increment(&self.alerts_dropped, sink.to_string(), 1);
    }

    /// Counts a session evicted before its tracer came back, by reason
    /// (`expired`, `disconnected_limit`, `memory_limit`, `session_limit`).
    pub fn session_evicted(&self, reason: &'static str) {
        increment(&self.sessions_evicted, reason, 1);
    }

    /// Returns the number of sessions evicted for a reason.
    pub fn sessions_evicted(&self, reason: &str) -> u64 {
        let map = self
            .sessions_evicted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(reason).copied().unwrap_or(0)
    }

    /// Counts processes not added to a tree, by the limit that stopped them
    /// (`session_limit`, `memory_limit`).
    pub fn processes_dropped(&self, reason: &'static str, count: u64) {
        if count > 0 {
            increment(&self.processes_dropped, reason, count);
        }
    }

    /// Returns the number of alerts a sink dropped.
    pub fn alerts_dropped(&self, sink: &str) -> u64 {
        let map = self
            .alerts_dropped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(sink).copied().unwrap_or(0)
    }

    /// Counts an action result (`ok`, `failed`, `unsent`).
    pub fn action_result(&self, result: &'static str) {
        increment(&self.actions, result, 1);
    }

    /// Records the time one rule evaluation took.
    pub fn evaluation_took(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (index, bound) in EVAL_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.eval_buckets[index].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.eval_count.fetch_add(1, Ordering::Relaxed);
        self.eval_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Renders every counter in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut text = String::new();
        header(
            &mut text,
            "sentrace_events_received_total",
            "counter",
            "Events received, by type.",
        );
        for (index, kind) in EventKind::ALL.iter().enumerate() {
            let count = self.events[index].load(Ordering::Relaxed);
            let _ = writeln!(
                text,
                "sentrace_events_received_total{{type=\"{kind}\"}} {count}"
            );
        }
        labelled(
            &mut text,
            "sentrace_alerts_total",
            "Alerts raised, by rule.",
            "rule",
            &self.alerts,
        );
        labelled(
            &mut text,
            "sentrace_frames_rejected_total",
            "Frames that closed their connection, by reason.",
            "reason",
            &self.frames_rejected,
        );
        labelled(
            &mut text,
            "sentrace_alerts_dropped_total",
            "Alerts a sink dropped, by sink.",
            "sink",
            &self.alerts_dropped,
        );
        labelled(
            &mut text,
            "sentrace_actions_total",
            "Action results, by result.",
            "result",
            &self.actions,
        );
        labelled(
            &mut text,
            "sentrace_sessions_evicted_total",
            "Disconnected sessions evicted before their tracer came back, by reason.",
            "reason",
            &self.sessions_evicted,
        );
        labelled(
            &mut text,
            "sentrace_processes_dropped_total",
            "Processes not added to a session's tree, by the limit that stopped them.",
            "reason",
            &self.processes_dropped,
        );
        self.render_retained(&mut text);
        gauge(
            &mut text,
            "sentrace_sessions_active",
            "Sessions with a live connection.",
            &self.sessions_active,
        );
        counter(
            &mut text,
            "sentrace_sessions_accepted_total",
            "Sessions accepted.",
            &self.sessions_accepted,
        );
        counter(
            &mut text,
            "sentrace_sessions_rejected_total",
            "Hellos rejected.",
            &self.sessions_rejected,
        );
        counter(
            &mut text,
            "sentrace_events_lost_total",
            "Events tracers reported lost.",
            &self.events_lost,
        );
        counter(
            &mut text,
            "sentrace_events_duplicate_total",
            "Resent events already received.",
            &self.events_duplicate,
        );
        self.render_histogram(&mut text);
        text
    }

    fn render_retained(&self, text: &mut String) {
        gauge(
            text,
            "sentrace_sessions_retained",
            "Sessions kept, connected or not.",
            &self.sessions_retained,
        );
        gauge(
            text,
            "sentrace_sessions_disconnected",
            "Disconnected sessions kept for their tracer to come back.",
            &self.sessions_disconnected,
        );
        let retained = [
            (
                "sentrace_retained_processes",
                "Processes kept across all sessions.",
                self.retained.processes(),
            ),
            (
                "sentrace_retained_bytes",
                "Estimated bytes of sessions and processes kept.",
                self.retained.bytes(),
            ),
        ];
        for (name, help, value) in retained {
            header(text, name, "gauge", help);
            let _ = writeln!(text, "{name} {value}");
        }
    }

    fn render_histogram(&self, text: &mut String) {
        let name = "sentrace_rule_evaluation_seconds";
        header(
            text,
            name,
            "histogram",
            "Time to evaluate the rules for one event.",
        );
        for (index, bound) in EVAL_BUCKETS.iter().enumerate() {
            let count = self.eval_buckets[index].load(Ordering::Relaxed);
            let _ = writeln!(text, "{name}_bucket{{le=\"{bound:e}\"}} {count}");
        }
        let count = self.eval_count.load(Ordering::Relaxed);
        let sum = self.eval_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(text, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(text, "{name}_sum {sum}");
        let _ = writeln!(text, "{name}_count {count}");
    }
}

fn header(text: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(text: &mut String, name: &str, help: &str, value: &AtomicU64) {
    header(text, name, "counter", help);
    let _ = writeln!(text, "{name} {}", value.load(Ordering::Relaxed));
}

fn gauge(text: &mut String, name: &str, help: &str, value: &AtomicI64) {
    header(text, name, "gauge", help);
    let _ = writeln!(text, "{name} {}", value.load(Ordering::Relaxed));
}

fn labelled<K: Ord + std::fmt::Display>(
    text: &mut String,
    name: &str,
    help: &str,
    label: &str,
    map: &Mutex<BTreeMap<K, u64>>,
) {
    header(text, name, "counter", help);
    let map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for (key, count) in map.iter() {
        let escaped = key
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = writeln!(text, "{name}{{{label}=\"{escaped}\"}} {count}");
    }
}

/// Serves `GET /metrics` and `GET /healthz` until the task is dropped.
pub async fn serve_http(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), answer(stream, &metrics)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < MAX_REQUEST_HEAD {
        let count = stream.read(&mut chunk).await?;
        if count == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..count]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut request_line = head.lines().next().unwrap_or_default().split_whitespace();
    let method = request_line.next().unwrap_or_default();
    let path = request_line.next().unwrap_or_default();
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_string()),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET is supported\n".to_string(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_counters() {
        let metrics = Metrics::default();
        metrics.event_received(EventKind::Open);
        metrics.alert_raised("credential_read");
        metrics.frame_rejected("oversized");
        metrics.evaluation_took(Duration::from_micros(3));
        let text = metrics.render();
        assert!(
            text.contains("sentrace_events_received_total{type=\"open\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sentrace_alerts_total{rule=\"credential_read\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sentrace_frames_rejected_total{reason=\"oversized\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sentrace_rule_evaluation_seconds_count 1"),
            "{text}"
        );
    }
}
