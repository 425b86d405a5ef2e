//! Helpers for the probe and `sentrace run` integration tests: scratch
//! directories, free loopback ports, a `sentrace probe` child process, runs
//! with a timeout, and reading alert files.

#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Returns the path of the `sentrace` binary under test.
pub fn sentrace() -> &'static str {
    env!("CARGO_BIN_EXE_sentrace")
}

/// Creates a fresh scratch directory for one test.
pub fn scratch_dir(test: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("sentrace-probe-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&directory);
    fs::create_dir_all(&directory).expect("creating scratch directory");
    directory
}

/// Returns a loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Writes a policy file with the given rules section and returns its path.
pub fn write_policy(directory: &Path, name: &str, rules: &str) -> PathBuf {
    let path = directory.join(name);
    fs::write(&path, format!("version: 1.0.0\nrules:\n{rules}")).expect("writing policy");
    path
}

/// A `sentrace probe` child process, killed on drop.
pub struct ProbeProcess {
    /// The child.
    pub child: Child,
    /// Its listen port on 127.0.0.1.
    pub port: u16,
    /// Its log (stderr).
    pub log: PathBuf,
}

impl ProbeProcess {
    /// Starts `sentrace probe --listen 127.0.0.1:PORT ARGS...` and waits until
    /// it listens.
    pub fn start(directory: &Path, port: u16, args: &[&str]) -> ProbeProcess {
        let log = directory.join(format!(
            "probe-{}.log",
            Instant::now().elapsed().as_nanos() ^ rand_suffix()
        ));
        let child = Command::new(sentrace())
            .args(["probe", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("creating probe log"))
            .spawn()
            .expect("starting sentrace probe");
        let mut probe = ProbeProcess { child, port, log };
        probe.wait_until_listening();
        probe
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            if log.contains("listening on") {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("probe exited with {status} before listening; log:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "probe did not listen within 20 s; log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Returns the address tracers connect to.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends SIGTERM and waits for the probe to exit.
    pub fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(
                Instant::now() < deadline,
                "probe did not stop within 15 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Returns the probe's log so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ProbeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|time| time.as_nanos())
        .unwrap_or(0)
}

/// Starts a command and waits at most `timeout`, killing it when the time is
/// up.
pub fn run_with_timeout(command: &mut Command, timeout: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning");
    wait_with_timeout(child, timeout)
}

/// Waits for `child` at most `timeout`, killing it when the time is up. The
/// child's piped output is read while it runs, so that a child writing more
/// than a pipe holds does not block.
pub fn wait_with_timeout(mut child: Child, timeout: Duration) -> Output {
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("polling child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            timed_out = true;
            break child.wait().expect("waiting for the killed child");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    assert!(
        !timed_out,
        "timed out after {timeout:?}; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Reads a child's pipe to its end on a thread.
fn read_in_background(
    pipe: Option<impl std::io::Read + Send + 'static>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Reads the JSON lines of an alert file (missing file: no alerts).
pub fn read_alerts(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| serde_json::from_str(line).expect("alert line is JSON"))
        .collect()
}

/// Polls the alert file until `done` accepts its alerts or `timeout` passes;
/// returns the last alerts read.
pub fn wait_for_alerts(
    path: &Path,
    timeout: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let alerts = read_alerts(path);
        if done(&alerts) || Instant::now() > deadline {
            return alerts;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Parses the JSON alert lines of a stderr text, skipping other lines.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|line| line.starts_with('{'))
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Returns the resident set size of a process in KiB, from the `VmRSS` line
/// of `/proc/PID/status`.
pub fn vm_rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("reading proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line in proc status")
}

/// Sends `GET PATH` to an HTTP server on loopback and returns the body.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connecting to the HTTP server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("writing request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("reading response");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

/// Returns the value of one sample in a Prometheus text body, 0 when absent.
pub fn metric_value(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}
