//! An [`EventSink`] that writes events as JSON lines, for `--output`.

use std::io::{self, BufWriter, Write};

use protocol::Event;

use crate::sink::EventSink;

/// Writes one JSON object per line and flushes after each line, so a reader
/// of a pipe or a crashed tracer's file gets every event emitted so far.
pub struct JsonLinesSink {
    writer: BufWriter<Box<dyn Write + Send>>,
    failed: bool,
}

impl JsonLinesSink {
    /// Wraps a writer (a file or stdout).
    pub fn new(writer: Box<dyn Write + Send>) -> JsonLinesSink {
        JsonLinesSink {
            writer: BufWriter::new(writer),
            failed: false,
        }
    }

    fn write_event(&mut self, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.writer, event)?;
        self.writer.write_all(b"\n")?;
        self.writer.flush()
    }
}

impl EventSink for JsonLinesSink {
    fn emit(&mut self, event: Event) {
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
}
