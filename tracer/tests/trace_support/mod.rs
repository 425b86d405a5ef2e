//! Helpers for the tracer's integration tests: compiling the C test
//! programs, running `sentrace trace --output` with a timeout, and reading
//! the JSON lines it writes.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Returns the path of the `sentrace` binary under test.
pub fn sentrace() -> &'static str {
    env!("CARGO_BIN_EXE_sentrace")
}

/// Creates a fresh scratch directory for one test.
pub fn scratch_dir(test: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("sentrace-trace-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("creating scratch directory");
    directory
}

/// Compiles `tests/programs/NAME.c` with gcc into `directory` and returns the binary.
pub fn compile(name: &str, directory: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(format!("{name}.c"));
    let binary = directory.join(name);
    let status = Command::new("gcc")
        .args(["-O1", "-pthread", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("running gcc (install it with .ci/install-deps)");
    assert!(status.success(), "gcc failed on {}", source.display());
    binary
}

/// Waits for `child` at most `timeout`, killing it when the time is up.
pub fn wait_with_timeout(mut child: Child, timeout: Duration) -> Output {
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait().expect("polling child").is_some() {
            return child.wait_with_output().expect("collecting child output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collecting killed child");
            panic!(
                "timed out after {timeout:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The result of one traced run.
pub struct Traced {
    /// Exit status of `sentrace trace`.
    pub status: ExitStatus,
    /// Its stdout (the workload's, since events go to a file).
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
    /// The events, one JSON value per line of the output file.
    pub events: Vec<Value>,
}

impl Traced {
    /// Events of type `kind`.
    pub fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|event| event["type"] == kind)
            .collect()
    }

    /// True when an event of `kind` has `pointer` (a JSON pointer) equal to `expected`.
    pub fn has(&self, kind: &str, pointer: &str, expected: &str) -> bool {
        self.of_type(kind)
            .iter()
            .any(|event| event.pointer(pointer).and_then(Value::as_str) == Some(expected))
    }

    /// Returns the exit code, or `None` when sentrace was killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Starts `sentrace trace --output FILE [extra] -- command...` with stdin closed.
pub fn spawn_traced<S: AsRef<OsStr>>(output: &Path, extra: &[&str], command: &[S]) -> Child {
    Command::new(sentrace())
        .arg("trace")
        .arg("--output")
        .arg(output)
        .args(extra)
        .arg("--")
        .args(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting sentrace")
}

/// Runs a command under `sentrace trace --output` and collects everything.
pub fn trace<S: AsRef<OsStr>>(
    directory: &Path,
    extra: &[&str],
    command: &[S],
    timeout: Duration,
) -> Traced {
    let output_path = directory.join("events.json");
    let child = spawn_traced(&output_path, extra, command);
    let output = wait_with_timeout(child, timeout);
    Traced {
        status: output.status,
        stdout: output.stdout,
        stderr: output.stderr,
        events: read_events(&output_path),
    }
}

/// Reads a JSON-lines event file.
pub fn read_events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("invalid event line {line:?}: {error}"))
        })
        .collect()
}

/// Runs a command without the tracer, with the same stdin and a timeout.
pub fn run_plain<S: AsRef<OsStr>>(command: &[S], timeout: Duration) -> Output {
    let child = Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting command");
    wait_with_timeout(child, timeout)
}
