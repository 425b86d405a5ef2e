//! Alert sinks: the destinations of alerts. Each sink runs on its own thread
//! behind a bounded queue that is fair between sessions (see
//! [`crate::alert_queue`]), so a slow sink does not delay event processing
//! and a session that floods alerts does not crowd out the others. An alert
//! that does not fit in a sink's queue is dropped, counted and logged.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::alert::Alert;
use crate::alert_queue::AlertQueue;
use crate::budget::Limits;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimitedLog;

/// Default size at which a file sink rotates, in bytes (64 MiB).
pub const DEFAULT_ROTATE_BYTES: u64 = 64 << 20;
/// Default number of rotated files kept (`PATH.1` is the newest).
pub const DEFAULT_ROTATE_KEEP: u32 = 5;
/// Attempts per alert for an HTTP sink.
const HTTP_ATTEMPTS: u32 = 5;
/// Time allowed for one HTTP request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Output format of a terminal sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// One readable line per alert.
    Text,
}

/// Destination of alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    /// JSON lines on standard output (`stdout`).
    Stdout,
    /// Lines on standard error in the given format (`stderr`, used by
    /// `sentrace run`).
    Stderr(Format),
    /// JSON lines appended to a file, rotated at `rotate_bytes`
    /// (`file:PATH`).
    File {
        /// The file.
        path: PathBuf,
        /// Size that triggers a rotation.
        rotate_bytes: u64,
        /// Rotated files kept.
        keep: u32,
    },
    /// A POST of each alert as JSON (`http://...` or `https://...`).
    Http {
        /// The URL.
        url: String,
    },
}

/// A sink specification that could not be parsed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Not one of the known forms.
    #[error(
        "invalid alert sink {0:?}: expected stdout, stderr, file:PATH, http://URL or https://URL"
    )]
    Invalid(String),
    /// The file sink's file could not be opened.
    #[error("failed to open alert file {path}: {error}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause, part of the message rather than a `source`, so that
        /// an error chain names it once.
        error: io::Error,
    },
    /// The sink thread could not start.
    #[error("failed to start the alert sink thread: {0}")]
    Thread(io::Error),
}

impl FromStr for SinkSpec {
    type Err = SinkError;

    fn from_str(text: &str) -> Result<SinkSpec, SinkError> {
        if text == "stdout" {
            Ok(SinkSpec::Stdout)
        } else if text == "stderr" {
            Ok(SinkSpec::Stderr(Format::Json))
        } else if let Some(path) = text.strip_prefix("file:").filter(|path| !path.is_empty()) {
            Ok(SinkSpec::File {
                path: PathBuf::from(path),
                rotate_bytes: DEFAULT_ROTATE_BYTES,
                keep: DEFAULT_ROTATE_KEEP,
            })
        } else if text.starts_with("http://") || text.starts_with("https://") {
            Ok(SinkSpec::Http {
                url: text.to_string(),
            })
        } else {
            Err(SinkError::Invalid(text.to_string()))
        }
    }
}

impl SinkSpec {
    /// Returns the name used in logs and metrics (a URL without its query).
    pub fn name(&self) -> String {
        match self {
            SinkSpec::Stdout => "stdout".to_string(),
            SinkSpec::Stderr(_) => "stderr".to_string(),
            SinkSpec::File { path, .. } => format!("file:{}", path.display()),
            SinkSpec::Http { url } => url.split(['?', '#']).next().unwrap_or_default().to_string(),
        }
    }
}

/// The running sinks.
pub struct Sinks {
    queues: Vec<(String, Arc<AlertQueue>)>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    metrics: Arc<Metrics>,
    dropped_log: RateLimitedLog,
}

impl Sinks {
    /// Opens every sink and starts its thread, each behind a queue bounded
    /// by the alert limits of `limits`.
    pub fn start(
        specs: &[SinkSpec],
        limits: &Limits,
        metrics: Arc<Metrics>,
    ) -> Result<Sinks, SinkError> {
        let mut queues = Vec::new();
        let mut threads = Vec::new();
        for spec in specs {
            let mut writer = open(spec)?;
            let queue = Arc::new(AlertQueue::new(
                limits.max_queued_alerts,
                limits.max_queued_alert_bytes,
            ));
            let name = spec.name();
            let metrics = Arc::clone(&metrics);
            let thread_name = name.clone();
            let thread_queue = Arc::clone(&queue);
            let thread = thread::Builder::new()
                .name("sentrace-sink".into())
                .spawn(move || drain(&thread_queue, writer.as_mut(), &thread_name, &metrics))
                .map_err(SinkError::Thread)?;
            queues.push((name, queue));
            threads.push(thread);
        }
        Ok(Sinks {
            queues,
            threads: Mutex::new(threads),
            metrics,
            dropped_log: RateLimitedLog::default(),
        })
    }

    /// Queues an alert on every sink without waiting. When a sink's queue
    /// is full, the newest alert of the session with the most queued alerts
    /// is dropped, counted and logged.
    pub fn send(&self, alert: Alert) {
        let alert = Arc::new(alert);
        for (name, queue) in &self.queues {
            for session in queue.push(Arc::clone(&alert)) {
                self.metrics.alert_dropped(name);
                self.dropped_log.warn(|suppressed| {
                    tracing::warn!(
                        sink = name,
                        tracer.session = session,
                        suppressed,
                        "alert sink queue full; alert of the session with the most queued alerts dropped"
                    );
                });
            }
        }
    }

    /// Closes the queues and waits until every sink wrote what it had;
    /// alerts sent afterwards are dropped and counted.
    pub fn close(&self) {
        for (_, queue) in &self.queues {
            queue.close();
        }
        let threads = std::mem::take(
            &mut *self
                .threads
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// Writes one alert; an error means the alert is lost for this sink.
trait AlertWriter: Send {
    fn write(&mut self, alert: &Alert) -> Result<(), String>;
}

fn open(spec: &SinkSpec) -> Result<Box<dyn AlertWriter>, SinkError> {
    Ok(match spec {
        SinkSpec::Stdout => Box::new(StreamWriter {
            stderr: false,
            format: Format::Json,
        }),
        SinkSpec::Stderr(format) => Box::new(StreamWriter {
            stderr: true,
            format: *format,
        }),
        SinkSpec::File {
            path,
            rotate_bytes,
            keep,
        } => Box::new(FileWriter::open(path, *rotate_bytes, *keep)?),
        SinkSpec::Http { url } => Box::new(HttpWriter::new(url)),
    })
}

fn drain(queue: &AlertQueue, writer: &mut dyn AlertWriter, name: &str, metrics: &Metrics) {
    let log = RateLimitedLog::default();
    while let Some(alert) = queue.pop() {
        if let Err(error) = writer.write(&alert) {
            metrics.alert_dropped(name);
            log.warn(|suppressed| {
                tracing::warn!(sink = name, suppressed, "alert not delivered: {error}")
            });
        }
    }
}

struct StreamWriter {
    stderr: bool,
    format: Format,
}

impl AlertWriter for StreamWriter {
    fn write(&mut self, alert: &Alert) -> Result<(), String> {
        let line = match self.format {
            Format::Json => alert.to_json_line(),
            Format::Text => alert.to_text_line(),
        };
        let result = if self.stderr {
            writeln!(io::stderr().lock(), "{line}")
        } else {
            let mut stdout = io::stdout().lock();
            writeln!(stdout, "{line}").and_then(|()| stdout.flush())
        };
        result.map_err(|error| error.to_string())
    }
}

/// A JSON-lines file with size-based rotation: `PATH` is renamed to
/// `PATH.1`, `PATH.1` to `PATH.2`, ..., and the oldest beyond `keep` removed.
struct FileWriter {
    path: PathBuf,
    file: File,
    size: u64,
    rotate_bytes: u64,
    keep: u32,
}

impl FileWriter {
    fn open(path: &Path, rotate_bytes: u64, keep: u32) -> Result<FileWriter, SinkError> {
        let file = append(path).map_err(|error| SinkError::Open {
            path: path.to_path_buf(),
            error,
        })?;
        let size = file.metadata().map(|metadata| metadata.len()).unwrap_or(0);
        Ok(FileWriter {
            path: path.to_path_buf(),
            file,
            size,
            rotate_bytes,
            keep,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        let numbered = |index: u32| PathBuf::from(format!("{}.{index}", self.path.display()));
        let _ = fs::remove_file(numbered(self.keep.max(1)));
        for index in (1..self.keep.max(1)).rev() {
            let _ = fs::rename(numbered(index), numbered(index + 1));
        }
        fs::rename(&self.path, numbered(1))?;
        self.file = append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl AlertWriter for FileWriter {
    fn write(&mut self, alert: &Alert) -> Result<(), String> {
        let mut line = alert.to_json_line();
        line.push('\n');
        if self.size > 0 && self.size + line.len() as u64 > self.rotate_bytes {
            if let Err(error) = self.rotate() {
                tracing::warn!(path = %self.path.display(), "alert file rotation failed: {error}");
            }
        }
        self.file
            .write_all(line.as_bytes())
            .map_err(|error| error.to_string())?;
        self.size += line.len() as u64;
        Ok(())
    }
}

/// POSTs each alert, retrying with backoff before giving up on it.
struct HttpWriter {
    url: String,
    agent: ureq::Agent,
}

impl HttpWriter {
    fn new(url: &str) -> HttpWriter {
        let agent = ureq::AgentBuilder::new().timeout(HTTP_TIMEOUT).build();
        HttpWriter {
            url: url.to_string(),
            agent,
        }
    }
}

impl AlertWriter for HttpWriter {
    fn write(&mut self, alert: &Alert) -> Result<(), String> {
        let body = alert.to_json_line();
        let mut delay = Duration::from_millis(100);
        let mut last_error = String::new();
        for attempt in 1..=HTTP_ATTEMPTS {
            let response = self
                .agent
                .post(&self.url)
                .set("Content-Type", "application/json")
                .send_string(&body);
            match response {
                Ok(_) => return Ok(()),
                // A 4xx other than 429 will not succeed on a retry.
                Err(ureq::Error::Status(code, _)) if (400..500).contains(&code) && code != 429 => {
                    return Err(format!("POST returned status {code}"));
                }
                Err(error) => last_error = error.to_string(),
            }
            if attempt < HTTP_ATTEMPTS {
                thread::sleep(delay);
                delay *= 2;
            }
        }
        Err(format!("POST failed {HTTP_ATTEMPTS} times: {last_error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_specs_parse() {
        assert_eq!("stdout".parse::<SinkSpec>().unwrap(), SinkSpec::Stdout);
        assert!(
            matches!("file:/tmp/a".parse::<SinkSpec>().unwrap(), SinkSpec::File { path, .. } if path == Path::new("/tmp/a"))
        );
        assert!(matches!(
            "https://x/y".parse::<SinkSpec>().unwrap(),
            SinkSpec::Http { .. }
        ));
        assert!("file:".parse::<SinkSpec>().is_err());
        assert!("ftp://x".parse::<SinkSpec>().is_err());
    }

    #[test]
    fn file_sink_rotates_and_keeps_newest() {
        let directory =
            std::env::temp_dir().join(format!("sentrace-sink-rotate-{}", std::process::id()));
        let _ = fs::remove_dir_all(&directory);
        fs::create_dir_all(&directory).unwrap();
        let path = directory.join("alerts.jsonl");
        let alert = crate::alert::tests::sample_alert();
        let line_len = alert.to_json_line().len() as u64 + 1;
        // Two alerts per file, two rotated files kept.
        let mut writer = FileWriter::open(&path, line_len * 2, 2).unwrap();
        for _ in 0..7 {
            writer.write(&alert).unwrap();
        }
        let lines = |suffix: &str| {
            let name = format!("{}{suffix}", path.display());
            fs::read_to_string(name)
                .map(|text| text.lines().count())
                .unwrap_or(0)
        };
        assert_eq!(lines(""), 1);
        assert_eq!(lines(".1"), 2);
        assert_eq!(lines(".2"), 2);
        assert_eq!(lines(".3"), 0);
        let _ = fs::remove_dir_all(&directory);
    }

    #[test]
    fn http_sink_name_hides_query() {
        let spec: SinkSpec = "https://hooks.local/alert?token=secret".parse().unwrap();
        assert_eq!(spec.name(), "https://hooks.local/alert");
    }
}
