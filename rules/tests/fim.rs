//! `fim.write.file.*` rules: one rule that runs on every event type that
//! changes a file, checked on synthetic events, with Datadog's
//! `pam_modification` rule as loaded from its public policy.

use std::path::PathBuf;

use protocol::{
    ChownEvent, DenyRule, Event, EventBody, EventKind, File, FileEvent, FileStat, ModeEvent,
    OpenEvent, Process, UnlinkEvent,
};
use sentrace_rules::{DenyPolicy, Policy, RuleStatus, Variables};

const O_WRONLY: u32 = 0o1;
const O_RDWR: u32 = 0o2;
const O_CREAT: u32 = 0o100;
const O_TRUNC: u32 = 0o1000;
const O_APPEND: u32 = 0o2000;
const O_CLOEXEC: u32 = 0o2000000;

const PAM_RULE: &str = r#"fim.write.file.path in [~"/etc/pam.d/**", "/etc/pam.conf"]"#;

fn event(body: EventBody) -> Event {
    Event {
        timestamp: "2026-01-01T00:00:00.000000Z".into(),
        process: Process {
            pid: 10,
            tid: 10,
            ppid: 1,
            comm: "vi".into(),
            file: File::from_path("/usr/bin/vi"),
            argv: vec!["vi".into()],
            ..Process::default()
        },
        body,
    }
}

/// Builds a regular file owned by root, with `mode` in its `stat`.
fn stat_file(path: &str, mode: u32) -> File {
    File {
        stat: Some(FileStat {
            mode: 0o100000 | mode,
            ..FileStat::default()
        }),
        ..File::from_path(path)
    }
}

fn open(path: &str, flags: u32) -> Event {
    event(EventBody::Open {
        open: OpenEvent {
            file: File::from_path(path),
            flags,
            mode: 0o644,
            retval: 3,
        },
    })
}

fn chmod(path: &str, old_mode: u32, new_mode: u32) -> Event {
    event(EventBody::Chmod {
        chmod: ModeEvent {
            file: stat_file(path, old_mode),
            mode: new_mode,
            retval: 0,
        },
    })
}

fn chown(path: &str, uid: i64, gid: i64) -> Event {
    event(EventBody::Chown {
        chown: ChownEvent {
            file: stat_file(path, 0o644),
            uid,
            gid,
            retval: 0,
        },
    })
}

fn file_event(path: &str, destination: Option<&str>) -> FileEvent {
    let file = match destination {
        Some(target) => File::with_destination(path, target),
        None => File::from_path(path),
    };
    FileEvent {
        file,
        retval: 0,
        syscall_path: String::new(),
    }
}

fn rename(from: &str, to: &str) -> Event {
    event(EventBody::Rename {
        rename: file_event(from, Some(to)),
    })
}

fn link(from: &str, to: &str) -> Event {
    event(EventBody::Link {
        link: file_event(from, Some(to)),
    })
}

fn unlink(path: &str) -> Event {
    event(EventBody::Unlink {
        unlink: UnlinkEvent {
            file: File::from_path(path),
            flags: 0,
            retval: 0,
        },
    })
}

fn utimes(path: &str) -> Event {
    event(EventBody::Utimes {
        utimes: file_event(path, None),
    })
}

fn mkdir(path: &str) -> Event {
    event(EventBody::Mkdir {
        mkdir: ModeEvent {
            file: File::from_path(path),
            mode: 0o755,
            retval: 0,
        },
    })
}

fn load(rules: &str) -> Policy {
    let text = format!("rules:\n{rules}");
    let (policy, report) =
        Policy::load_sources(&[("fim.policy".into(), text)]).expect("policy loads");
    for rule in &report.rules {
        assert_eq!(
            rule.status,
            RuleStatus::Active,
            "{}: {:?}",
            rule.id,
            rule.reason
        );
    }
    policy
}

fn pam_policy() -> Policy {
    load(&format!("  - id: pam\n    expression: '{PAM_RULE}'\n"))
}

/// Returns the ids of the rules that match, in rule order.
fn matched(policy: &Policy, event: &Event) -> Vec<String> {
    policy
        .evaluate(event, &[], &mut Variables::default())
        .into_iter()
        .map(|found| found.rule_id)
        .collect()
}

fn cases() -> Vec<(&'static str, Event, bool)> {
    vec![
        (
            "write open",
            open("/etc/pam.d/x", O_WRONLY | O_CREAT | O_TRUNC),
            true,
        ),
        ("read-write open", open("/etc/pam.d/x", O_RDWR), true),
        (
            "append open",
            open("/etc/pam.conf", O_WRONLY | O_APPEND),
            true,
        ),
        ("create open", open("/etc/pam.d/new", O_CREAT), true),
        ("read-only open", open("/etc/pam.d/x", O_CLOEXEC), false),
        ("write open elsewhere", open("/etc/hosts", O_WRONLY), false),
        (
            "chmod that changes the mode",
            chmod("/etc/pam.conf", 0o644, 0o666),
            true,
        ),
        (
            "chmod to the same mode",
            chmod("/etc/pam.conf", 0o644, 0o644),
            false,
        ),
        (
            "chown to another owner",
            chown("/etc/pam.conf", 1000, -1),
            true,
        ),
        (
            "chown to another group",
            chown("/etc/pam.d/sshd", -1, 1000),
            true,
        ),
        (
            "chown that keeps owner and group",
            chown("/etc/pam.conf", -1, -1),
            false,
        ),
        (
            "chown to the same owner",
            chown("/etc/pam.conf", 0, 0),
            false,
        ),
        (
            "rename into pam.d",
            rename("/tmp/evil", "/etc/pam.d/sshd"),
            true,
        ),
        (
            "rename out of pam.d",
            rename("/etc/pam.d/sshd", "/tmp/saved"),
            true,
        ),
        ("rename elsewhere", rename("/tmp/a", "/tmp/b"), false),
        (
            "link of a pam file",
            link("/etc/pam.d/sshd", "/tmp/l"),
            true,
        ),
        // As in Datadog's agent, a link is checked by its source only.
        (
            "link into pam.d",
            link("/tmp/evil", "/etc/pam.d/evil"),
            false,
        ),
        ("unlink", unlink("/etc/pam.d/sshd"), true),
        ("utimes", utimes("/etc/pam.conf"), true),
        (
            "mkdir, not a fim event type",
            mkdir("/etc/pam.d/dir"),
            false,
        ),
    ]
}

#[test]
fn fim_write_table() {
    let policy = pam_policy();
    for (name, event, expected) in cases() {
        let found = matched(&policy, &event);
        let expected_ids: Vec<String> = if expected {
            vec!["pam".into()]
        } else {
            Vec::new()
        };
        assert_eq!(found, expected_ids, "{name}: {event:?}");
    }
}

#[test]
fn datadog_pam_modification_follows_table() {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/rulesets/datadog_default.policy"
    ));
    let (policy, report) = Policy::load_files(&[path]).expect("loading the Datadog policy");
    let state = report.rule("pam_modification").expect("pam_modification");
    assert_eq!(state.status, RuleStatus::Active, "{:?}", state.reason);
    for (name, event, expected) in cases() {
        let found = matched(&policy, &event);
        let fired = found.iter().any(|id| id == "pam_modification");
        assert_eq!(fired, expected, "{name}: {found:?}");
    }
}

#[test]
fn rename_within_pam_d_matches_once() {
    let found = matched(&pam_policy(), &rename("/etc/pam.d/a", "/etc/pam.d/b"));
    assert_eq!(found, ["pam"]);
}

#[test]
fn fim_rule_runs_on_file_event_types() {
    let policy = pam_policy();
    let mut kinds = policy.event_types();
    kinds.sort();
    let mut expected = vec![
        EventKind::Open,
        EventKind::Chmod,
        EventKind::Chown,
        EventKind::Link,
        EventKind::Rename,
        EventKind::Unlink,
        EventKind::Utimes,
    ];
    expected.sort();
    assert_eq!(kinds, expected);
}

#[test]
fn fim_fields_combine_with_others() {
    let policy = load(
        r#"  - id: name_and_process
    expression: fim.write.file.name == "sshd" && process.comm == "vi"
  - id: length
    expression: fim.write.file.path.length > 20
"#,
    );
    assert_eq!(
        matched(&policy, &unlink("/etc/pam.d/sshd")),
        ["name_and_process"]
    );
    assert_eq!(
        matched(&policy, &open("/etc/pam.d/a-long-file-name", O_WRONLY)),
        ["length"]
    );
    assert!(matched(&policy, &open("/etc/pam.d/sshd", 0)).is_empty());
}

fn load_report(expression: &str) -> sentrace_rules::RuleReport {
    let text = format!("rules:\n  - id: r\n    expression: '{expression}'\n");
    let (_, report) = Policy::load_sources(&[("fim.policy".into(), text)]).unwrap();
    report.rules.into_iter().next().unwrap()
}

#[test]
fn fim_fields_sentrace_lacks_or_misspelt() {
    let lacking = load_report(r#"fim.write.file.inode == 1"#);
    assert_eq!(lacking.status, RuleStatus::Unsupported, "{lacking:?}");
    let reason = lacking.reason.unwrap_or_default();
    assert!(reason.contains("fim.write.file.inode"), "{reason}");

    let misspelt = load_report(r#"fim.write.file.pth == "/etc/pam.conf""#);
    assert_eq!(misspelt.status, RuleStatus::Error, "{misspelt:?}");
    let reason = misspelt.reason.unwrap_or_default();
    assert!(
        reason.ends_with("did you mean fim.write.file.path?"),
        "{reason}"
    );

    let other = load_report(r#"fim.read.file.path == "/etc/pam.conf""#);
    assert_eq!(other.status, RuleStatus::Error, "{other:?}");

    let mixed = load_report(r#"fim.write.file.path == "/etc/pam.conf" && exec.file.name == "vi""#);
    assert_eq!(mixed.status, RuleStatus::Error, "{mixed:?}");
    let reason = mixed.reason.unwrap_or_default();
    assert!(reason.contains("mixes event types"), "{reason}");
}

#[test]
fn fim_deny_rule_blocks_each_event_type() {
    let rules = [DenyRule {
        id: "pam".into(),
        expression: PAM_RULE.into(),
    }];
    let (policy, errors) = DenyPolicy::compile(&rules);
    assert!(errors.is_empty(), "{errors:?}");
    for (name, event, expected) in cases() {
        let denied = policy.check(&event).is_some();
        assert_eq!(denied, expected, "{name}");
    }
}
