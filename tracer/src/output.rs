//! An [`EventSink`] that writes events as JSON lines, for `--output`.

use std::io::{self, BufWriter, Write};
use std::time::{Duration, Instant};

use protocol::Event;

use crate::sink::EventSink;

/// Maximum time an event waits in the buffer before the sink writes it.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Writes one JSON object per line. Lines are buffered and written when the
/// 8 KiB buffer fills, when an event arrives more than [`FLUSH_INTERVAL`]
/// after the last write, and at the end of tracing, which saves one write
/// syscall per event on busy workloads.
pub struct JsonLinesSink {
    writer: BufWriter<Box<dyn Write + Send>>,
    last_flush: Instant,
    failed: bool,
}

impl JsonLinesSink {
    /// Wraps a writer (a file or stdout).
    pub fn new(writer: Box<dyn Write + Send>) -> JsonLinesSink {
        JsonLinesSink {
            writer: BufWriter::new(writer),
            last_flush: Instant::now(),
            failed: false,
        }
    }

    fn write_event(&mut self, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.writer, event)?;
        self.writer.write_all(b"\n")?;
        if self.last_flush.elapsed() >= FLUSH_INTERVAL {
            self.last_flush = Instant::now();
            self.writer.flush()?;
        }
        Ok(())
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

    fn flush_buffered(&mut self) {
        let _ = self.writer.flush();
    }
}
