//! Helpers for the built-in policy tests: run a shell command under
//! `sentrace trace --output`, rebuild the process tree from the events, and
//! evaluate every event against the built-in policy.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use protocol::{Event, EventBody, Process};
use rules::{Policy, Variables};

/// How long one traced command may run.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Creates a scratch directory for one command, outside /tmp so that running
/// files from it does not look like execution from /tmp.
pub fn scratch_dir(name: &str) -> PathBuf {
    let directory = PathBuf::from(format!(
        "/var/lib/sentrace-policy-test/{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("creating scratch directory");
    directory
}

/// Runs `sh -c command` under the tracer and returns its events.
pub fn trace_command(command: &str, directory: &Path) -> Vec<Event> {
    let output = directory.join("events.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentrace"))
        .arg("trace")
        .arg("--output")
        .arg(&output)
        .args(["--", "sh", "-c", command])
        .current_dir(directory)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting sentrace trace");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if child.try_wait().expect("polling sentrace").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sentrace trace timed out after {TIMEOUT:?} running {command:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = std::fs::read_to_string(&output).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Event>(line).ok())
        .collect()
}

/// Returns the ancestors of `process` from the tree, parent first.
fn ancestors(tree: &HashMap<u32, Process>, process: &Process) -> Vec<Process> {
    let mut out = Vec::new();
    let mut pid = process.ppid;
    while let Some(parent) = tree.get(&pid) {
        if parent.pid == process.pid || out.len() >= 64 {
            break;
        }
        out.push(parent.clone());
        pid = parent.ppid;
    }
    out
}

/// Evaluates events in order against a policy, as the probe does, and
/// returns the ids of the rules that matched.
pub fn matched_rules(policy: &Policy, events: &[Event]) -> BTreeSet<String> {
    let mut tree: HashMap<u32, Process> = HashMap::new();
    let mut variables = Variables::default();
    let mut matched = BTreeSet::new();
    for event in events {
        let lineage = ancestors(&tree, &event.process);
        for found in policy.evaluate(event, &lineage, &mut variables) {
            matched.insert(found.rule_id);
        }
        tree.insert(event.process.pid, event.process.clone());
        if let EventBody::Exit { .. } = event.body {
            variables.forget_process(event.process.pid);
        }
    }
    matched
}

/// Runs `sh -c command` under `sentrace run --format json` and returns the
/// ids of the alerts it printed on stderr.
pub fn run_command(command: &str, directory: &Path) -> BTreeSet<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentrace"))
        .args(["run", "--format", "json", "--", "sh", "-c", command])
        .current_dir(directory)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting sentrace run");
    let stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().expect("polling sentrace").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sentrace run timed out after {TIMEOUT:?} running {command:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = reader.join().unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|alert| alert["rule_id"].as_str().map(str::to_string))
        .collect()
}
