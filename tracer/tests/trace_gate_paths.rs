//! The deny gate at entry sees the canonical path the kernel will open,
//! whatever the spelling. It runs the engine in this test process, whose
//! wait loop reaps every child, so it has a test binary of its own.

use std::ffi::OsString;
use std::sync::{Arc, Mutex};

use protocol::{Event, EventBody};
use tracer::engine::{wrap, TraceConfig, WorkloadExit};
use tracer::sink::{EventSink, SyscallGate};

struct Collect(Arc<Mutex<Vec<Event>>>);

impl EventSink for Collect {
    fn emit(&mut self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

/// Denies opens of one canonical path.
struct DenyOpen(String);

impl SyscallGate for DenyOpen {
    fn deny(&self, event: &Event) -> Option<String> {
        match &event.body {
            EventBody::Open { open } if open.file.path == self.0 => Some("deny_secret".into()),
            _ => None,
        }
    }
}

#[test]
fn gate_sees_the_canonical_path_at_entry() {
    let directory =
        std::env::temp_dir().join(format!("sentrace-trace-{}-gate-paths", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(directory.join("real")).unwrap();
    std::fs::write(directory.join("real/secret"), b"secret\n").unwrap();
    std::os::unix::fs::symlink(directory.join("real/secret"), directory.join("lnk")).unwrap();
    std::os::unix::fs::symlink("real", directory.join("dir")).unwrap();
    let base = directory.canonicalize().unwrap().display().to_string();
    let secret = format!("{base}/real/secret");
    let script =
        "for p in \"$1/lnk\" \"$1/dir//secret\" \"/proc/self/root$1/real/../real/secret\"; \
                  do cat \"$p\" >/dev/null 2>&1 && exit 1; done; exit 0";
    let command: Vec<OsString> = ["sh", "-c", script, "sh", &base]
        .iter()
        .map(OsString::from)
        .collect();
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut sink = Collect(Arc::clone(&events));
    let gate = DenyOpen(secret.clone());
    let exit = wrap(&command, &TraceConfig::default(), &mut sink, Some(&gate)).unwrap();
    assert_eq!(
        exit,
        WorkloadExit::Exited(0),
        "a spelling got through the gate"
    );
    let denied = events
        .lock()
        .unwrap()
        .iter()
        .filter(|event| match &event.body {
            EventBody::Open { open } => open.file.path == secret && open.retval == -1,
            _ => false,
        })
        .count();
    assert_eq!(denied, 3, "denied opens reported with the canonical path");
}
