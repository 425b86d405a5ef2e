//! What loading reports for misspelt fields, SECL fields sentrace lacks,
//! duplicate rule ids, and how the `cgroup` variable scope behaves.

use protocol::{Container, Event, EventBody, File, OpenEvent, Process};
use sentrace_rules::{LoadReport, Policy, RuleReport, RuleStatus, Variables};

fn load(sources: &[(&str, &str)]) -> LoadReport {
    let sources: Vec<(String, String)> = sources
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect();
    let (_, report) = Policy::load_sources(&sources).expect("policy loads");
    report
}

fn load_expression(expression: &str) -> RuleReport {
    let text = format!("rules:\n  - id: r\n    expression: {expression}\n");
    let report = load(&[("one.policy", &text)]);
    assert_eq!(report.rules.len(), 1, "{expression}");
    report.rules[0].clone()
}

#[test]
fn misspelt_fields_are_errors() {
    // (expression, column of the misspelt name, width, suggestion)
    let cases = [
        (
            "open.file.pth == \"/etc/shadow\"",
            17,
            13,
            Some("open.file.path"),
        ),
        (
            "opne.file.path == \"/etc/shadow\"",
            17,
            14,
            Some("open.file.path"),
        ),
        ("exec.file.nmae == \"sh\"", 17, 14, Some("exec.file.name")),
        (
            "process.fle.path == \"/bin/sh\"",
            17,
            16,
            Some("process.file.path"),
        ),
        ("connect.addr.prt == 22", 17, 16, Some("connect.addr.port")),
        (
            "open.flags == 1 && open.file.nam == \"x\"",
            36,
            13,
            Some("open.file.name"),
        ),
        (
            "process.ancestors.cmm == \"sh\"",
            17,
            21,
            Some("process.ancestors.comm"),
        ),
        ("open.file.zzzzzzzz == \"x\"", 17, 18, None),
    ];
    for (expression, column, width, suggestion) in cases {
        let rule = load_expression(expression);
        assert_eq!(
            rule.status,
            RuleStatus::Error,
            "{expression}: {:?}",
            rule.reason
        );
        let location = rule.location.clone().expect("an error has a location");
        assert_eq!(location.line, 3, "{expression}");
        assert_eq!(location.column, column, "{expression}");
        assert_eq!(location.width, width, "{expression}");
        let reason = rule.reason.unwrap_or_default();
        assert!(
            reason.starts_with(&format!("one.policy:3:{column}: unknown field")),
            "{expression}: {reason}"
        );
        match suggestion {
            Some(name) => assert!(
                reason.ends_with(&format!("did you mean {name}?")),
                "{expression}: {reason}"
            ),
            None => assert!(!reason.contains("did you mean"), "{expression}: {reason}"),
        }
    }
}

#[test]
fn misspelt_field_underlined_in_text() {
    let text = "rules:\n  - id: typo\n    expression: open.file.pth == \"/etc/shadow\"\n";
    let rendered = load(&[("t.policy", text)]).to_text();
    assert!(rendered.contains("  --> t.policy:3:17\n"), "{rendered}");
    let underline = format!("   | {}{}\n", " ".repeat(16), "^".repeat(13));
    assert!(rendered.contains(&underline), "{rendered}");
    assert!(rendered.contains("1 error"), "{rendered}");
}

#[test]
fn secl_fields_sentrace_lacks_are_unsupported() {
    for expression in [
        "bind.addr.hostname == \"example.com\"",
        "process.is_kworker",
        "exec.user_session.identity != \"\"",
        "process.ancestors.user_session.identity != \"\"",
        "open.file.inode == 1",
        "container.runtime == \"docker\"",
        "dns.response.code == 3",
        "bpf.cmd == 5",
        "mmap.flags == 1",
        "signal.target.parent.uid == 0",
    ] {
        let rule = load_expression(expression);
        assert_eq!(
            rule.status,
            RuleStatus::Unsupported,
            "{expression}: {:?}",
            rule.reason
        );
        assert!(rule.location.is_none(), "{expression}");
    }
}

#[test]
fn duplicate_id_in_one_file_is_an_error() {
    let text = "rules:\n  - id: a\n    expression: open.flags == 1\n  - id: b\n    expression: open.flags == 2\n  - id: a\n    expression: open.file.pth == \"x\"\n";
    let report = load(&[("dup.policy", text)]);
    assert_eq!(report.rules.len(), 3);
    let first = report.rule("a").expect("rule a");
    assert_eq!(first.status, RuleStatus::Active);
    let duplicate = report
        .rules
        .iter()
        .find(|rule| rule.id == "a" && rule.status == RuleStatus::Error)
        .expect("the second rule a is in error");
    let location = duplicate.location.clone().expect("location");
    assert_eq!((location.line, location.column), (6, 9));
    assert_eq!(location.width, 1);
    let reason = duplicate.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("dup.policy:6:9: duplicate rule id a"),
        "{reason}"
    );
    assert_eq!(report.summary().error, 1);
}

#[test]
fn combine_override_replaces_in_one_file() {
    let text = "rules:\n  - id: a\n    expression: open.flags == 1\n  - id: a\n    combine: override\n    expression: open.file.pth == \"x\"\n";
    let report = load(&[("dup.policy", text)]);
    assert_eq!(report.rules.len(), 1);
    let rule = &report.rules[0];
    assert_eq!(rule.status, RuleStatus::Error, "{:?}", rule.reason);
    assert!(rule
        .reason
        .as_deref()
        .unwrap_or_default()
        .contains("open.file.pth"));
    assert!(rule.overrides.is_empty());
}

#[test]
fn later_file_wins_and_is_named() {
    let first = "rules:\n  - id: a\n    expression: open.flags == 1\n  - id: only_first\n    expression: open.flags == 3\n";
    let second = "rules:\n  - id: a\n    expression: open.flags == 2\n";
    let report = load(&[("first.policy", first), ("second.policy", second)]);
    assert_eq!(report.rules.len(), 2);
    let rule = report.rule("a").expect("rule a");
    assert_eq!(rule.status, RuleStatus::Active);
    assert_eq!(rule.file, "second.policy");
    assert_eq!(rule.overrides, ["first.policy"]);
    let other = report.rule("only_first").expect("rule only_first");
    assert_eq!(other.file, "first.policy");
    assert!(other.overrides.is_empty());
    let text = report.to_text();
    assert!(
        text.contains("  = the rule from second.policy overrides the one from first.policy\n"),
        "{text}"
    );
    let json = report.to_json();
    assert_eq!(json["rules"][0]["file"], "second.policy");
    assert_eq!(json["rules"][0]["overrides"][0], "first.policy");
}

fn open_in(container: &str, pid: u32, path: &str) -> Event {
    let process = Process {
        pid,
        tid: pid,
        file: File::from_path("/usr/bin/cat"),
        container: Container {
            id: container.to_string(),
            ..Container::default()
        },
        ..Process::default()
    };
    let open = OpenEvent {
        file: File::from_path(path),
        flags: 0,
        mode: 0,
        retval: 3,
    };
    Event {
        timestamp: "2026-01-01T00:00:00.000000Z".into(),
        process,
        body: EventBody::Open { open },
    }
}

#[test]
fn cgroup_scope_is_the_container() {
    let text = "rules:
  - id: mark
    expression: open.file.path == \"/tmp/mark\"
    actions:
      - set:
          name: marked
          scope: cgroup
          value: true
  - id: seen
    expression: open.file.path == \"/tmp/check\" && ${cgroup.marked}
";
    let (policy, report) =
        Policy::load_sources(&[("cgroup.policy".into(), text.into())]).expect("policy loads");
    for rule in &report.rules {
        assert_eq!(
            rule.status,
            RuleStatus::Active,
            "{}: {:?}",
            rule.id,
            rule.reason
        );
    }
    let fired = |variables: &mut Variables, event: &Event| -> Vec<String> {
        let found = policy.evaluate(event, &[], variables);
        found.into_iter().map(|found| found.rule_id).collect()
    };
    let mut variables = Variables::default();
    assert_eq!(
        fired(&mut variables, &open_in("c1", 10, "/tmp/check")),
        Vec::<String>::new()
    );
    assert_eq!(
        fired(&mut variables, &open_in("c1", 10, "/tmp/mark")),
        ["mark"]
    );
    // Another process of the same container reads the value, but another container does not.
    assert_eq!(
        fired(&mut variables, &open_in("c1", 11, "/tmp/check")),
        ["seen"]
    );
    assert_eq!(
        fired(&mut variables, &open_in("c2", 12, "/tmp/check")),
        Vec::<String>::new()
    );

    // Host processes (empty container id) share one scope.
    assert_eq!(
        fired(&mut variables, &open_in("", 20, "/tmp/check")),
        Vec::<String>::new()
    );
    assert_eq!(
        fired(&mut variables, &open_in("", 20, "/tmp/mark")),
        ["mark"]
    );
    assert_eq!(
        fired(&mut variables, &open_in("", 21, "/tmp/check")),
        ["seen"]
    );
    assert_eq!(
        fired(&mut variables, &open_in("c2", 12, "/tmp/check")),
        Vec::<String>::new()
    );
}

#[test]
fn set_action_fields_are_checked() {
    let set_field = |field: &str| {
        let text = format!(
            "rules:\n  - id: r\n    expression: open.flags == 1\n    actions:\n      - set:\n          name: v\n          field: {field}\n"
        );
        load(&[("set.policy", &text)]).rules[0].clone()
    };
    let misspelt = set_field("open.file.pth");
    assert_eq!(misspelt.status, RuleStatus::Error, "{:?}", misspelt.reason);
    let reason = misspelt.reason.unwrap_or_default();
    assert!(
        reason.contains("set action v: unknown field 'open.file.pth'"),
        "{reason}"
    );
    assert!(reason.ends_with("did you mean open.file.path?"), "{reason}");

    let lacking = set_field("exec.user_session.identity");
    assert_eq!(
        lacking.status,
        RuleStatus::Unsupported,
        "{:?}",
        lacking.reason
    );

    let known = set_field("open.file.path");
    assert_eq!(known.status, RuleStatus::Active, "{:?}", known.reason);
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let text = "rules:\n  - id: typo\n    expression: open.file.path == \"/x\"\n    acitons:\n      - kill: {}\n    disable: true\n";
    let report = load(&[("keys.policy", text)]);
    let rule = &report.rules[0];
    assert_eq!(rule.status, RuleStatus::Active);
    let reason = rule.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("unknown key 'acitons' on line 4"),
        "{reason}"
    );
    assert!(
        reason.contains("unknown key 'disable' on line 6"),
        "{reason}"
    );
}

#[test]
fn rules_without_id_or_expression_are_located() {
    let text = "rules:\n  - description: no id\n    expression: open.file.path == \"/y\"\n  - id: no_expression\n    description: nothing\n";
    let report = load(&[("missing.policy", text)]);
    let lines: Vec<(String, usize)> = report
        .rules
        .iter()
        .map(|rule| {
            assert_eq!(rule.status, RuleStatus::Error, "{rule:?}");
            let location = rule.location.clone().expect("a location");
            assert_eq!(location.file, "missing.policy");
            (rule.id.clone(), location.line)
        })
        .collect();
    assert_eq!(
        lines,
        [("<no id>".to_string(), 2), ("no_expression".to_string(), 4)]
    );
}
