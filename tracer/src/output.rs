//! An [`EventSink`] that writes events as JSON lines, for `--output`.

use std::io::{self, BufWriter, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{Event, Process};

use crate::sink::EventSink;

/// Maximum time an event waits in the buffer before the sink writes it.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Writes one JSON object per line. Lines are buffered and written when the
/// 8 KiB buffer fills, when an event arrives more than [`FLUSH_INTERVAL`]
/// after the last write, and at the end of tracing, which saves one write
/// syscall per event on busy workloads.
///
/// A line has the same bytes as `serde_json::to_writer` of the event. The
/// sink keeps the JSON of the last process it wrote, because consecutive
/// events mostly come from the same thread and the process object is the
/// larger part of a line.
pub struct JsonLinesSink {
    writer: BufWriter<Box<dyn Write + Send>>,
    last_flush: Instant,
    failed: bool,
    /// The process of the last event and its JSON object.
    cached_process: Option<(Process, Vec<u8>)>,
    /// Scratch space for the JSON of an event body.
    body: Vec<u8>,
    /// Tags set as `container.tags` of every event's process.
    tags: Option<Arc<[String]>>,
}

impl JsonLinesSink {
    /// Wraps a writer (a file or stdout).
    pub fn new(writer: Box<dyn Write + Send>) -> JsonLinesSink {
        JsonLinesSink {
            writer: BufWriter::new(writer),
            last_flush: Instant::now(),
            failed: false,
            cached_process: None,
            body: Vec::new(),
            tags: None,
        }
    }

    /// Sets the workload's tags as the container tags of every event's
    /// process, as a probe does with the tags of a tracer's hello.
    pub fn with_tags(mut self, tags: Vec<String>) -> JsonLinesSink {
        self.tags = (!tags.is_empty()).then(|| Arc::from(tags));
        self
    }

    fn write_event(&mut self, event: &Event) -> io::Result<()> {
        self.body.clear();
        serde_json::to_writer(&mut self.body, &event.body)?;
        // The body is an object that starts with its `type` member. The
        // event flattens those members after `timestamp` and `process`.
        let Some(members) = self.body.strip_prefix(b"{") else {
            serde_json::to_writer(&mut self.writer, event)?;
            return self.end_line();
        };
        let process = process_json(&mut self.cached_process, &event.process)?;
        self.writer.write_all(b"{\"timestamp\":")?;
        serde_json::to_writer(&mut self.writer, &event.timestamp)?;
        self.writer.write_all(b",\"process\":")?;
        self.writer.write_all(process)?;
        self.writer.write_all(b",")?;
        self.writer.write_all(members)?;
        self.end_line()
    }

    fn end_line(&mut self) -> io::Result<()> {
        self.writer.write_all(b"\n")?;
        if self.last_flush.elapsed() >= FLUSH_INTERVAL {
            self.last_flush = Instant::now();
            self.writer.flush()?;
        }
        Ok(())
    }
}

/// Returns the JSON of `process`, serializing it only when it differs from
/// the cached one.
fn process_json<'a>(
    cache: &'a mut Option<(Process, Vec<u8>)>,
    process: &Process,
) -> io::Result<&'a [u8]> {
    let hit = cache.as_ref().is_some_and(|(cached, _)| cached == process);
    if !hit {
        let json = serde_json::to_vec(process)?;
        *cache = Some((process.clone(), json));
    }
    Ok(cache.as_ref().map_or(&[][..], |(_, json)| json.as_slice()))
}

impl EventSink for JsonLinesSink {
    fn emit(&mut self, mut event: Event) {
        event.process.container.tags.clone_from(&self.tags);
        if let Err(error) = self.write_event(&event) {
            // Report once: a full disk or a closed pipe fails every later write too.
            if !self.failed {
                tracing::error!(%error, "writing events failed");
                self.failed = true;
            }
        }
    }

    fn flush(&mut self) {
        let _ = self.writer.flush();
    }

    fn flush_buffered(&mut self) {
        let _ = self.writer.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use protocol::{EventBody, ExecEvent, ExitEvent, File, LostEvent, OpenEvent};

    use super::*;

    /// A writer whose bytes the test reads after the sink is flushed.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn process(tid: u32) -> Process {
        Process {
            pid: 10,
            tid,
            ppid: 1,
            comm: "cat \"quoted\"".into(),
            file: File::from_path("/usr/bin/cat"),
            argv: vec!["cat".into(), "/etc/\u{e9}\n".into()],
            cwd: "/tmp".into(),
            ..Process::default()
        }
    }

    fn events() -> Vec<Event> {
        let open = EventBody::Open {
            open: OpenEvent {
                file: File::from_path("/etc/hostname"),
                flags: 0o2000000,
                mode: 0,
                retval: 3,
            },
        };
        let exec = EventBody::Exec {
            exec: ExecEvent {
                file: File::from_path("/bin/true"),
                argv: vec!["true".into()],
                envp: vec!["PATH=/bin".into()],
                procfs: false,
                retval: 0,
                ..ExecEvent::default()
            },
        };
        let exit = EventBody::Exit {
            exit: ExitEvent {
                code: 0,
                cause: "EXITED".into(),
            },
        };
        let lost = EventBody::Lost {
            lost: LostEvent {
                count: 2,
                reason: "buffer full".into(),
            },
        };
        let mut events = Vec::new();
        for (tid, body) in [(10, open.clone()), (10, open), (11, exec), (11, exit)] {
            events.push(Event {
                timestamp: "2026-01-01T00:00:00.000001Z".into(),
                process: process(tid),
                body,
            });
        }
        let mut with_start_time = process(10);
        with_start_time.start_time_ns = 5;
        events.push(Event {
            timestamp: "2026-01-01T00:00:01.000000Z".into(),
            process: with_start_time,
            body: lost,
        });
        events
    }

    #[test]
    fn lines_match_serde_json_of_the_event() {
        let output = Shared::default();
        let mut sink = JsonLinesSink::new(Box::new(output.clone()));
        let events = events();
        for event in &events {
            sink.emit(event.clone());
        }
        sink.flush();

        let written = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), events.len());
        for (line, event) in lines.iter().zip(&events) {
            assert_eq!(*line, serde_json::to_string(event).unwrap());
        }
    }

    #[test]
    fn tags_are_set_on_every_process() {
        let output = Shared::default();
        let tags = vec![
            "env:prod".to_string(),
            "tags.datadoghq.com/service".to_string(),
        ];
        let mut sink = JsonLinesSink::new(Box::new(output.clone())).with_tags(tags.clone());
        for event in events() {
            sink.emit(event);
        }
        sink.flush();

        let written = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
        for line in written.lines() {
            let event: Event = serde_json::from_str(line).unwrap();
            assert_eq!(
                event.process.container.tags.as_deref(),
                Some(&tags[..]),
                "{line}"
            );
        }
    }
}
