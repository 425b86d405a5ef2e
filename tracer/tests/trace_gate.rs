//! The syscall gate through the engine's library API: a denied syscall
//! fails with EPERM in the workload and is still reported.

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

/// Denies mkdir of any path that ends with `denied`.
struct DenyMkdir;

impl SyscallGate for DenyMkdir {
    fn deny(&self, event: &Event) -> Option<String> {
        match &event.body {
            EventBody::Mkdir { mkdir } if mkdir.file.path.ends_with("denied") => {
                Some("test_rule".into())
            }
            _ => None,
        }
    }
}

#[test]
fn denied_mkdir_fails_with_eperm_and_is_reported() {
    let directory =
        std::env::temp_dir().join(format!("sentrace-trace-{}-gate", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    let script =
        "mkdir \"$1/denied\" 2>/dev/null && exit 1; mkdir \"$1/allowed\" || exit 2; exit 0";
    let command: Vec<OsString> = ["sh", "-c", script, "sh", directory.to_str().unwrap()]
        .iter()
        .map(OsString::from)
        .collect();
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut sink = Collect(Arc::clone(&events));
    let exit = wrap(
        &command,
        &TraceConfig::default(),
        &mut sink,
        Some(&DenyMkdir),
    )
    .unwrap();

    assert_eq!(
        exit,
        WorkloadExit::Exited(0),
        "the denied mkdir succeeded or the allowed one failed"
    );
    assert!(!directory.join("denied").exists());
    assert!(directory.join("allowed").exists());
    let events = events.lock().unwrap();
    let denied = events.iter().find_map(|event| match &event.body {
        EventBody::Mkdir { mkdir } if mkdir.file.path.ends_with("denied") => Some(mkdir.retval),
        _ => None,
    });
    assert_eq!(denied, Some(-1), "denied mkdir not reported with EPERM");
}
