//! The bounded buffer of unacknowledged events shared by the sink (producer)
//! and the sender thread (consumer).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use protocol::{Event, EventBody, LostEvent, Process, Sequenced, TracerMessage};

use crate::engine::OpenFilterSlot;

/// State behind the mutex.
#[derive(Debug)]
pub(crate) struct State {
    /// Unacknowledged events in sequence order, shared with the batch
    /// being written so that a batch costs no copy of its events.
    pub pending: VecDeque<Arc<Sequenced>>,
    /// Sequence number for the next event (the first is 1).
    pub next_seq: u64,
    /// Highest sequence number written on the current connection.
    pub sent: u64,
    /// Highest sequence number the probe acknowledged.
    pub acked: u64,
    /// Events dropped since the last `lost` event.
    pub dropped: u64,
    /// Maximum length of `pending`, not counting `lost` events.
    pub capacity: usize,
    /// Number of `lost` events in `pending`.
    lost_pending: usize,
    /// Messages other than events waiting for the sender (action results).
    pub outbox: VecDeque<TracerMessage>,
    /// Pids that appeared in events; actions may only target these.
    pub traced_pids: HashSet<u32>,
    /// True while a connection is up and welcomed.
    pub connected: bool,
    /// Set by `flush`: send a goodbye once `pending` is empty.
    pub closing: bool,
    /// Set when the sink is gone: the sender thread ends.
    pub stopped: bool,
    /// True while the sender thread waits for new events. [`Shared::push`]
    /// notifies only then, so that a burst of events costs one wakeup of
    /// the sender instead of one futex call per event.
    pub sender_waiting: bool,
}

/// The buffer and the condition variable that signals changes to it.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Notified on every change the sender or a waiter may care about.
    pub changed: Condvar,
    /// The open filter of the probe's current policy.
    pub opens: OpenFilterSlot,
}

impl Shared {
    /// Builds an empty buffer holding at most `capacity` events.
    pub fn new(capacity: usize) -> Shared {
        let state = State {
            pending: VecDeque::new(),
            next_seq: 1,
            sent: 0,
            acked: 0,
            dropped: 0,
            capacity: capacity.max(1),
            lost_pending: 0,
            outbox: VecDeque::new(),
            traced_pids: HashSet::new(),
            connected: false,
            closing: false,
            stopped: false,
            sender_waiting: false,
        };
        Shared {
            state: Mutex::new(state),
            changed: Condvar::new(),
            opens: OpenFilterSlot::default(),
        }
    }

    /// Locks the state, recovering it if a thread panicked while holding it:
    /// the buffer stays consistent because every update is a single step.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends an event, dropping the oldest one when the buffer is full,
    /// and wakes the sender thread if it waits for events.
    pub fn push(&self, event: Event) {
        let mut state = self.lock();
        state.traced_pids.insert(event.process.pid);
        if let EventBody::Fork { fork } = &event.body {
            state.traced_pids.insert(fork.child_pid);
        }
        if let EventBody::Exit { .. } = &event.body {
            state.traced_pids.remove(&event.process.pid);
        }
        state.append(event);
        let wake = std::mem::take(&mut state.sender_waiting);
        drop(state);
        if wake {
            self.changed.notify_all();
        }
    }
}

impl State {
    /// Assigns the next sequence number and appends, enforcing the bound.
    fn append(&mut self, event: Event) {
        while self.pending.len() - self.lost_pending >= self.capacity {
            self.drop_oldest();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push_back(Arc::new(Sequenced { seq, event }));
    }

    fn drop_oldest(&mut self) {
        if let Some(oldest) = self.pop_front() {
            // A dropped `lost` event passes its count on to the next one.
            match &oldest.event.body {
                EventBody::Lost { lost } => self.dropped += lost.count,
                _ => self.dropped += 1,
            }
            self.acked = self.acked.max(oldest.seq);
            self.sent = self.sent.max(oldest.seq);
        }
    }

    /// Appends a `lost` event for the events dropped so far, if any. It is
    /// allowed past the bound so that reporting a loss never causes one.
    pub fn report_lost(&mut self, reason: &str) {
        if self.dropped == 0 {
            return;
        }
        let event = lost_event(self.dropped, reason);
        self.dropped = 0;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push_back(Arc::new(Sequenced { seq, event }));
        self.lost_pending += 1;
    }

    fn pop_front(&mut self) -> Option<Arc<Sequenced>> {
        let item = self.pending.pop_front()?;
        if is_lost(&item.event) {
            self.lost_pending -= 1;
        }
        Some(item)
    }

    /// Removes the events up to and including `seq`.
    pub fn acknowledge(&mut self, seq: u64) {
        while self.pending.front().is_some_and(|item| item.seq <= seq) {
            self.pop_front();
        }
        self.acked = self.acked.max(seq);
    }

    /// Returns the number of events after `sent`.
    pub fn unsent(&self) -> usize {
        let Some(first) = self.pending.front().map(|item| item.seq) else {
            return 0;
        };
        let start = (self.sent + 1).saturating_sub(first) as usize;
        self.pending.len().saturating_sub(start)
    }

    /// Returns up to `max` events after `sent`, shared for writing.
    pub fn next_batch(&self, max: usize) -> Vec<Arc<Sequenced>> {
        // Sequence numbers in `pending` are contiguous: events are appended
        // with the next number and removed only from the front.
        let Some(first) = self.pending.front().map(|item| item.seq) else {
            return Vec::new();
        };
        let start = (self.sent + 1).saturating_sub(first) as usize;
        self.pending.iter().skip(start).take(max).cloned().collect()
    }
}

fn is_lost(event: &Event) -> bool {
    matches!(event.body, EventBody::Lost { .. })
}

/// Builds a `lost` event attributed to the tracer process itself.
fn lost_event(count: u64, reason: &str) -> Event {
    let pid = std::process::id();
    Event {
        timestamp: protocol::time::now_rfc3339(),
        process: Process {
            pid,
            tid: pid,
            comm: "sentrace".to_string(),
            ..Process::default()
        },
        body: EventBody::Lost {
            lost: LostEvent {
                count,
                reason: reason.to_string(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{ExitEvent, File, OpenEvent};

    fn open_event(pid: u32, path: &str) -> Event {
        Event {
            timestamp: "2026-01-01T00:00:00.000000Z".into(),
            process: Process {
                pid,
                tid: pid,
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
        }
    }

    #[test]
    fn sequence_numbers_start_at_one() {
        let shared = Shared::new(4);
        shared.push(open_event(1, "/a"));
        shared.push(open_event(1, "/b"));
        let state = shared.lock();
        let seqs: Vec<u64> = state.pending.iter().map(|item| item.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
    }

    #[test]
    fn full_buffer_drops_oldest_and_reports_lost() {
        let shared = Shared::new(2);
        for index in 0..5 {
            shared.push(open_event(1, &format!("/f{index}")));
        }
        let mut state = shared.lock();
        assert_eq!(state.pending.len(), 2);
        assert_eq!(state.dropped, 3);
        assert_eq!(state.pending.front().map(|item| item.seq), Some(4));

        state.report_lost("buffer full");
        assert_eq!(state.dropped, 0);
        let last = state.pending.back().expect("lost event appended");
        assert_eq!(last.seq, 6);
        assert!(matches!(&last.event.body, EventBody::Lost { lost } if lost.count == 3));
    }

    #[test]
    fn dropped_lost_event_carries_its_count_forward() {
        let shared = Shared::new(1);
        shared.push(open_event(1, "/a"));
        shared.push(open_event(1, "/b"));
        shared.lock().report_lost("buffer full");
        // The buffer now contains /b and lost(1). Two more pushes drop both.
        shared.push(open_event(1, "/c"));
        shared.push(open_event(1, "/d"));
        let state = shared.lock();
        assert_eq!(state.dropped, 3);
    }

    #[test]
    fn acknowledge_removes_prefix() {
        let shared = Shared::new(8);
        for index in 0..4 {
            shared.push(open_event(1, &format!("/f{index}")));
        }
        let mut state = shared.lock();
        state.acknowledge(3);
        let seqs: Vec<u64> = state.pending.iter().map(|item| item.seq).collect();
        assert_eq!(seqs, vec![4]);
    }

    #[test]
    fn next_batch_skips_sent_events() {
        let shared = Shared::new(8);
        for index in 0..4 {
            shared.push(open_event(1, &format!("/f{index}")));
        }
        let mut state = shared.lock();
        state.sent = 2;
        let seqs: Vec<u64> = state.next_batch(10).iter().map(|item| item.seq).collect();
        assert_eq!(seqs, vec![3, 4]);
        assert_eq!(state.unsent(), 2);
    }

    #[test]
    fn push_clears_sender_waiting() {
        let shared = Shared::new(8);
        shared.push(open_event(1, "/a"));
        assert!(!shared.lock().sender_waiting);
        shared.lock().sender_waiting = true;
        shared.push(open_event(1, "/b"));
        assert!(!shared.lock().sender_waiting);
        assert_eq!(shared.lock().unsent(), 2);
    }

    #[test]
    fn exit_event_forgets_pid() {
        let shared = Shared::new(8);
        shared.push(open_event(7, "/a"));
        assert!(shared.lock().traced_pids.contains(&7));
        let exit = Event {
            body: EventBody::Exit {
                exit: ExitEvent {
                    code: 0,
                    cause: "EXITED".into(),
                },
            },
            ..open_event(7, "/a")
        };
        shared.push(exit);
        assert!(!shared.lock().traced_pids.contains(&7));
    }
}
