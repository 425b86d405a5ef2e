//! A hostile workload against `sentrace trace`: every way it could run code
//! that the tracer does not see, or make the tracer lose events, run as a
//! real program whose events and behaviour are checked.

mod trace_support;

use std::time::Duration;

use serde_json::Value;
use trace_support::{compile, run_plain, scratch_dir, trace, Traced};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Opens of `path` in a traced run.
fn opens_of<'a>(events: &'a [&'a Value], path: &str) -> Vec<&'a Value> {
    events
        .iter()
        .copied()
        .filter(|event| event["open"]["file"]["path"] == path)
        .collect()
}

#[test]
fn clone_untraced_children_stay_traced() {
    let directory = scratch_dir("clone-untraced");
    let program = compile("clone_untraced", &directory);
    let marker = directory.join("clone-untraced-marker");
    std::fs::write(&marker, "x").unwrap();
    let command = [program.as_os_str(), marker.as_os_str()];
    let expected = "glibc-clone 3\nraw-clone 3\nvfork-clone 3\nthread-clone 3\n\
                    clone3 3 flags-after=800000\n";

    let plain = run_plain(&command, TIMEOUT);
    assert_eq!(String::from_utf8_lossy(&plain.stdout), expected);
    for extra in [&[][..], &["--disable-seccomp"][..]] {
        let traced = trace(&directory, extra, &command, TIMEOUT);
        assert_eq!(
            traced.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&traced.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&traced.stdout),
            expected,
            "{extra:?}"
        );
        check_untraced_clones(&traced, marker.to_str().unwrap());
    }
}

/// Checks that each of the four children and the thread opened `marker`
/// under the tracer, and that the fork events show `CLONE_UNTRACED`.
fn check_untraced_clones(traced: &Traced, marker: &str) {
    let untraced = u64::from(libc::CLONE_UNTRACED as u32);
    let forks = traced.of_type("fork");
    assert_eq!(forks.len(), 4, "fork events: {forks:?}");
    let opens = traced.of_type("open");
    let marker_opens = opens_of(&opens, marker);
    for fork in &forks {
        let flags = fork["fork"]["flags"].as_u64().unwrap();
        assert_eq!(flags & untraced, untraced, "fork flags {fork}");
        let child = &fork["fork"]["child_pid"];
        assert!(
            marker_opens
                .iter()
                .any(|open| &open["process"]["pid"] == child),
            "no open by child {child}"
        );
        let exit = traced
            .of_type("exit")
            .into_iter()
            .find(|event| &event["process"]["pid"] == child);
        assert_eq!(exit.expect("no exit of the child")["exit"]["code"], 3);
    }
    let thread_open = marker_opens
        .iter()
        .find(|open| open["process"]["pid"] != open["process"]["tid"]);
    assert!(thread_open.is_some(), "no open by the untraced thread");
}
