//! Operator semantics, process lineage, variables, actions and load states,
//! checked through the public API on synthetic events.

use protocol::{
    Address, ChownEvent, Container, DenyRule, DnsEvent, DnsQuestion, Event, EventBody, ExecEvent,
    File, ModeEvent, OpenEvent, Process, SocketEvent,
};
use sentrace_rules::{DenyPolicy, MatchAction, Policy, RuleStatus, Variables};

fn process(pid: u32, path: &str, argv: &[&str]) -> Process {
    Process {
        pid,
        tid: pid,
        ppid: pid.saturating_sub(1),
        uid: 1000,
        euid: 1000,
        comm: protocol::base_name(path).chars().take(15).collect(),
        file: File::from_path(path),
        argv: argv.iter().map(|arg| arg.to_string()).collect(),
        ..Process::default()
    }
}

fn event(process: Process, body: EventBody) -> Event {
    Event {
        timestamp: "2026-01-01T00:00:00.000000Z".into(),
        process,
        body,
    }
}

fn open(path: &str, flags: u32) -> Event {
    let body = EventBody::Open {
        open: OpenEvent {
            file: File::from_path(path),
            flags,
            mode: 0o644,
            retval: 3,
        },
    };
    event(process(10, "/usr/bin/cat", &["cat", path]), body)
}

fn exec(path: &str, argv: &[&str], envp: &[&str]) -> Event {
    let exec = ExecEvent {
        file: File::from_path(path),
        argv: argv.iter().map(|arg| arg.to_string()).collect(),
        envp: envp.iter().map(|arg| arg.to_string()).collect(),
        procfs: false,
        retval: 0,
        ..ExecEvent::default()
    };
    event(process(10, path, argv), EventBody::Exec { exec })
}

fn connect(ip: &str, port: u16) -> Event {
    let addr = Address {
        family: if ip.contains(':') { 10 } else { 2 },
        ip: ip.into(),
        port,
        ..Address::default()
    };
    event(
        process(10, "/usr/bin/curl", &["curl"]),
        EventBody::Connect {
            connect: SocketEvent { addr, retval: -101 },
        },
    )
}

fn chmod(path: &str, mode: u32) -> Event {
    let chmod = ModeEvent {
        file: File::from_path(path),
        mode,
        retval: 0,
    };
    event(
        process(10, "/usr/bin/chmod", &["chmod"]),
        EventBody::Chmod { chmod },
    )
}

fn policy(rules: &str) -> Policy {
    let text = format!("rules:\n{rules}");
    let (policy, report) =
        Policy::load_sources(&[("test.policy".into(), text)]).expect("policy loads");
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

fn matches(expression: &str, event: &Event, ancestors: &[Process]) -> bool {
    let policy = policy(&format!(
        "  - id: r\n    expression: '{}'\n",
        expression.replace('\'', "''")
    ));
    !policy
        .evaluate(event, ancestors, &mut Variables::default())
        .is_empty()
}

#[test]
fn operator_table() {
    let cases: &[(&str, Event, bool)] = &[
        (
            r#"open.file.path == "/etc/passwd""#,
            open("/etc/passwd", 0),
            true,
        ),
        (
            r#"open.file.path != "/etc/passwd""#,
            open("/etc/passwd", 0),
            false,
        ),
        (
            r#"open.file.path in ["/a", "/etc/passwd"]"#,
            open("/etc/passwd", 0),
            true,
        ),
        (
            r#"open.file.path not in ["/a", "/etc/passwd"]"#,
            open("/etc/passwd", 0),
            false,
        ),
        (
            r#"open.file.path =~ "/etc/*""#,
            open("/etc/passwd", 0),
            true,
        ),
        (
            r#"open.file.path =~ "/etc/*""#,
            open("/etc/ssh/sshd_config", 0),
            false,
        ),
        (
            r#"open.file.path =~ "/etc/**""#,
            open("/etc/ssh/sshd_config", 0),
            true,
        ),
        (
            r#"open.file.path == ~"/etc/*/sshd_config""#,
            open("/etc/ssh/sshd_config", 0),
            true,
        ),
        (
            r#"open.file.path !~ "/etc/*""#,
            open("/etc/passwd", 0),
            false,
        ),
        (r#"open.file.name =~ "*wd""#, open("/etc/passwd", 0), true),
        (
            r#"open.file.path =~ r"^/etc/pass[a-z]+$""#,
            open("/etc/passwd", 0),
            true,
        ),
        (
            r#"open.file.path in [r"sha?dow"]"#,
            open("/etc/shadow", 0),
            true,
        ),
        ("open.flags & O_CREAT > 0", open("/x", 0o101), true),
        ("open.flags & O_CREAT > 0", open("/x", 0o1), false),
        (
            "open.flags & (O_CREAT|O_TRUNC) == O_CREAT|O_TRUNC",
            open("/x", 0o1101),
            true,
        ),
        ("open.flags ^ O_WRONLY == 0", open("/x", 0o1), true),
        ("open.flags | O_CREAT == 65", open("/x", 0o1), true),
        ("open.flags >= 64 && open.flags < 65", open("/x", 64), true),
        ("open.flags <= 63", open("/x", 64), false),
        ("open.flags in [1, 2, 64]", open("/x", 64), true),
        ("open.file.path.length == 11", open("/etc/passwd", 0), true),
        ("open.file.name.length > 6", open("/etc/passwd", 0), false),
        ("!(open.flags == 0)", open("/x", 0), false),
        (
            "not open.flags == 0 || open.flags == 0",
            open("/x", 0),
            true,
        ),
        ("open.flags == 0 and open.retval == 3", open("/x", 0), true),
        (
            r#"open.flags == 0 && process.file.name == "cat" && process.uid == 1000"#,
            open("/x", 0),
            true,
        ),
        (
            r#"open.flags == 0 && process.user == "root""#,
            open("/x", 0),
            false,
        ),
        (r#"process.file.name == "cat""#, open("/x", 0), false),
        (
            r#"exec.args == "-o stratum+tcp://pool:1""#,
            exec(
                "/usr/bin/xmrig",
                &["xmrig", "-o", "stratum+tcp://pool:1"],
                &[],
            ),
            true,
        ),
        (
            r#"exec.argv in ["-o"]"#,
            exec("/usr/bin/xmrig", &["xmrig", "-o", "x"], &[]),
            true,
        ),
        (
            r#"exec.argv in ["xmrig"]"#,
            exec("/usr/bin/xmrig", &["xmrig", "-o", "x"], &[]),
            false,
        ),
        (
            r#"exec.argv0 == "xmrig""#,
            exec("/usr/bin/xmrig", &["xmrig"], &[]),
            true,
        ),
        (
            r#"exec.args_flags in ["e"]"#,
            exec("/bin/nc", &["nc", "-lve", "/bin/sh"], &[]),
            true,
        ),
        (
            r#"exec.args_options in ["exec"]"#,
            exec("/bin/ncat", &["ncat", "--exec=/bin/sh"], &[]),
            true,
        ),
        (
            r#"exec.envs in ["LD_PRELOAD"]"#,
            exec("/bin/true", &["true"], &["LD_PRELOAD=/x.so", "HOME"]),
            true,
        ),
        (
            r#"exec.envs in ["LD_AUDIT"]"#,
            exec("/bin/true", &["true"], &["LD_PRELOAD=/x.so"]),
            false,
        ),
        (
            r#"exec.argv allin ["-a", "-b"]"#,
            exec("/bin/x", &["x", "-a", "-b"], &[]),
            true,
        ),
        (
            r#"exec.argv allin ["-a"]"#,
            exec("/bin/x", &["x", "-a", "-b"], &[]),
            false,
        ),
        (
            "connect.addr.ip in 169.254.169.254/32",
            connect("169.254.169.254", 80),
            true,
        ),
        (
            "connect.addr.ip in [10.0.0.0/8, 169.254.0.0/16]",
            connect("169.254.1.1", 80),
            true,
        ),
        (
            "connect.addr.ip == 10.0.0.0/8",
            connect("11.0.0.1", 80),
            false,
        ),
        (
            "connect.addr.ip in [fd00:ec2::254/128]",
            connect("fd00:ec2::254", 80),
            true,
        ),
        (
            r#"connect.addr.ip == "127.0.0.1""#,
            connect("127.0.0.1", 80),
            true,
        ),
        (
            "connect.addr.ip not in [127.0.0.0/8]",
            connect("8.8.8.8", 80),
            true,
        ),
        (
            "connect.addr.family == AF_INET && connect.addr.port == 80",
            connect("8.8.8.8", 80),
            true,
        ),
        (
            "connect.addr.is_public == true",
            connect("8.8.8.8", 80),
            true,
        ),
        ("connect.addr.is_public", connect("10.1.1.1", 80), false),
        (
            "chmod.file.destination.mode & S_ISUID > 0",
            chmod("/x", 0o4755),
            true,
        ),
        (
            "chmod.file.destination.mode & S_ISUID > 0",
            chmod("/x", 0o755),
            false,
        ),
        (
            "chmod.file.destination.mode == 0755",
            chmod("/x", 0o755),
            true,
        ),
        (
            r#"open.flags == 0 && event.origin == "ebpfless""#,
            open("/x", 0),
            true,
        ),
    ];
    for (expression, event, expected) in cases {
        assert_eq!(matches(expression, event, &[]), *expected, "{expression}");
    }
}

fn dns(name: &str, qtype: u16) -> Event {
    let dns = DnsEvent {
        id: 0x1234,
        question: DnsQuestion {
            name: name.into(),
            qtype,
            class: 1,
            count: 1,
            length: 40,
        },
    };
    event(
        process(10, "/usr/bin/getent", &["getent"]),
        EventBody::Dns { dns },
    )
}

#[test]
fn dns_and_hostname_fields() {
    let lookup = dns("pool.example.com", 16);
    assert!(matches("dns.question.type == TXT", &lookup, &[]));
    assert!(!matches("dns.question.type == AAAA", &lookup, &[]));
    assert!(matches(
        "dns.question.name in [~\"*.example.com\"]",
        &lookup,
        &[]
    ));
    assert!(matches("dns.question.name.length == 16", &lookup, &[]));
    assert!(matches(
        "dns.question.class == CLASS_INET && dns.question.count == 1",
        &lookup,
        &[]
    ));
    assert!(matches(
        "dns.id == 4660 && dns.question.length == 40",
        &lookup,
        &[]
    ));
    assert!(!matches(
        "dns.question.name == \"x\"",
        &connect("10.0.0.1", 53),
        &[]
    ));

    let mut named = connect("10.0.0.1", 443);
    if let EventBody::Connect { connect } = &mut named.body {
        connect.addr.hostname = "api.github.com".into();
    }
    assert!(matches(
        "connect.addr.hostname == \"api.github.com\"",
        &named,
        &[]
    ));
    assert!(!matches(
        "connect.addr.hostname == \"api.github.com\"",
        &connect("10.0.0.1", 443),
        &[]
    ));
}

#[test]
fn rules_apply_only_to_their_event_type() {
    assert!(!matches("open.flags == 0", &chmod("/x", 0), &[]));
    let chown = ChownEvent {
        file: File::from_path("/x"),
        uid: 0,
        gid: -1,
        retval: 0,
    };
    let event = event(
        process(10, "/bin/chown", &["chown"]),
        EventBody::Chown { chown },
    );
    assert!(matches(
        "chown.file.destination.uid == 0 && chown.file.destination.gid == -1",
        &event,
        &[]
    ));
}

#[test]
fn parents_and_ancestors() {
    let event = exec("/bin/sh", &["sh"], &[]);
    let lineage = [
        process(9, "/usr/bin/python3.11", &["python3"]),
        process(8, "/usr/sbin/nginx", &["nginx"]),
    ];
    assert!(matches(
        r#"process.parent.file.name == "python3.11""#,
        &event,
        &lineage
    ));
    assert!(!matches(
        r#"process.parent.file.name == "nginx""#,
        &event,
        &lineage
    ));
    assert!(matches(
        r#"process.ancestors.file.name == "nginx""#,
        &event,
        &lineage
    ));
    assert!(matches(
        r#"process.ancestors.file.name in ["nginx", "httpd"]"#,
        &event,
        &lineage
    ));
    assert!(!matches(
        r#"process.ancestors.file.name not in ["nginx"]"#,
        &event,
        &lineage
    ));
    assert!(matches(
        r#"process.ancestors.file.name != "bash""#,
        &event,
        &lineage
    ));
    assert!(matches("process.ancestors.length == 2", &event, &lineage));
    assert!(!matches(
        r#"process.parent.file.name == "python3.11""#,
        &event,
        &[]
    ));
    let bound = r#"process.ancestors[A].file.name == "nginx" && process.ancestors[A].pid == 8"#;
    assert!(matches(bound, &event, &lineage));
    let unbound = r#"process.ancestors[A].file.name == "nginx" && process.ancestors[A].pid == 9"#;
    assert!(!matches(unbound, &event, &lineage));
}

#[test]
fn macros_expand_lists_and_expressions() {
    let text = r#"
macros:
  - id: shells
    expression: '["sh", "bash"]'
  - id: is_shell
    expression: exec.file.name in shells
rules:
  - id: shell
    expression: is_shell && exec.argv in ["-c"]
"#;
    let (policy, report) = Policy::load_sources(&[("m.policy".into(), text.into())]).unwrap();
    assert_eq!(
        report.rules[0].status,
        RuleStatus::Active,
        "{:?}",
        report.rules[0].reason
    );
    let mut variables = Variables::default();
    assert_eq!(
        policy
            .evaluate(
                &exec("/bin/bash", &["bash", "-c", "x"], &[]),
                &[],
                &mut variables
            )
            .len(),
        1
    );
    assert!(policy
        .evaluate(
            &exec("/bin/zsh", &["zsh", "-c", "x"], &[]),
            &[],
            &mut variables
        )
        .is_empty());
}

#[test]
fn set_action_and_process_variables() {
    let policy = policy(
        r#"  - id: remember
    expression: open.file.path == "/etc/shadow"
    silent: true
    actions:
      - set:
          name: touched_shadow
          value: true
          scope: process
  - id: later_connect
    expression: connect.addr.port == 443 && ${process.touched_shadow} == true
"#,
    );
    let mut variables = Variables::default();
    assert!(policy
        .evaluate(&connect("1.1.1.1", 443), &[], &mut variables)
        .is_empty());
    assert!(
        policy
            .evaluate(&open("/etc/shadow", 0), &[], &mut variables)
            .is_empty(),
        "silent rules raise nothing"
    );
    let found = policy.evaluate(&connect("1.1.1.1", 443), &[], &mut variables);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule_id, "later_connect");
    variables.forget_process(10);
    assert!(policy
        .evaluate(&connect("1.1.1.1", 443), &[], &mut variables)
        .is_empty());
}

#[test]
fn container_variables_with_append() {
    let policy = policy(
        r#"  - id: track
    expression: open.flags & O_CREAT > 0
    silent: true
    actions:
      - set:
          name: created
          field: open.file.path
          append: true
          scope: container
  - id: run_created
    expression: exec.file.path in ${container.created}
"#,
    );
    let mut variables = Variables::default();
    let mut in_container = |mut event: Event, id: &str| {
        event.process.container = Container {
            id: id.into(),
            ..Container::default()
        };
        policy.evaluate(&event, &[], &mut variables).len()
    };
    assert_eq!(in_container(open("/app/drop", 0o101), "c1"), 0);
    assert_eq!(
        in_container(exec("/app/drop", &["drop"], &[]), "c2"),
        0,
        "other container"
    );
    assert_eq!(in_container(exec("/app/drop", &["drop"], &[]), "c1"), 1);
    assert_eq!(in_container(exec("/app/other", &["other"], &[]), "c1"), 0);
}

#[test]
fn kill_and_deny_actions() {
    let policy = policy(
        r#"  - id: stop_miner
    expression: exec.file.name == "xmrig"
    tags:
      technique: T1496
    actions:
      - kill:
          signal: SIGTERM
          scope: process_group
  - id: deny_shadow
    expression: open.file.path == "/etc/shadow"
    actions:
      - deny: {}
  - id: deny_needs_retval
    expression: open.file.path == "/etc/gshadow" && open.retval >= 0
    actions:
      - deny: {}
"#,
    );
    let found = policy.evaluate(
        &exec("/usr/bin/xmrig", &["xmrig"], &[]),
        &[],
        &mut Variables::default(),
    );
    assert_eq!(
        found[0].actions,
        vec![MatchAction::Kill {
            signal: 15,
            scope: "process_group".into()
        }]
    );
    assert_eq!(found[0].tags, vec!["technique:T1496".to_string()]);
    let found = policy.evaluate(&open("/etc/shadow", 0), &[], &mut Variables::default());
    assert_eq!(found[0].actions, vec![MatchAction::Deny]);
    let deny = policy.deny_rules();
    assert_eq!(deny.len(), 1, "{deny:?}");
    assert_eq!(deny[0].id, "deny_shadow");
    let (compiled, errors) = DenyPolicy::compile(&deny);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(compiled.check(&open("/etc/shadow", 0)), Some("deny_shadow"));
    assert_eq!(compiled.check(&open("/etc/passwd", 0)), None);
}

#[test]
fn deny_policy_rejects_what_the_tracer_cannot_know() {
    let rules = [
        DenyRule {
            id: "parent".into(),
            expression: r#"exec.file.name == "sh" && process.parent.comm == "nginx""#.into(),
        },
        DenyRule {
            id: "broken".into(),
            expression: "open.file.path ==".into(),
        },
        DenyRule {
            id: "ok".into(),
            expression: r#"exec.file.name in ["nc"]"#.into(),
        },
    ];
    let (policy, errors) = DenyPolicy::compile(&rules);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("parent"));
    assert!(errors[1].contains("broken"));
    assert_eq!(policy.check(&exec("/bin/nc", &["nc"], &[])), Some("ok"));
}

#[test]
fn event_types_follow_active_rules() {
    let policy = policy("  - id: a\n    expression: open.flags == 0\n  - id: b\n    expression: connect.addr.port == 1\n");
    assert_eq!(
        policy.event_types(),
        vec![protocol::EventKind::Open, protocol::EventKind::Connect]
    );
}

fn load_one(rule: &str) -> sentrace_rules::RuleReport {
    let text = format!("rules:\n{rule}");
    let (_, report) = Policy::load_sources(&[("one.policy".into(), text)]).unwrap();
    report.rules.into_iter().next().unwrap()
}

#[test]
fn rule_states_and_reasons() {
    let cases = [
        ("  - id: a\n    expression: open.flags == 0\n    disabled: true\n", RuleStatus::Disabled, "disabled"),
        ("  - id: a\n    expression: open.flags == 0\n    filters:\n      - os == \"windows\"\n", RuleStatus::Filtered, "windows"),
        ("  - id: a\n    expression: open.flags == 0\n    agent_version: < 7.0\n", RuleStatus::Filtered, "agent_version"),
        ("  - id: a\n    expression: bpf.cmd == 5\n", RuleStatus::Unsupported, "event type bpf"),
        ("  - id: a\n    expression: open.file.inode == 1\n", RuleStatus::Unsupported, "field open.file.inode"),
        ("  - id: a\n    expression: open.flags == ${session.x}\n", RuleStatus::Unsupported, "variable scope session"),
        ("  - id: a\n    expression: open.flags == \"x\"\n", RuleStatus::Error, "a string cannot be compared"),
        ("  - id: a\n    expression: open.flags == 1 && exec.argv0 == \"x\"\n", RuleStatus::Error, "mixes event types"),
        ("  - id: a\n    expression: open.flags == NOT_A_CONSTANT\n", RuleStatus::Error, "unknown field, constant or macro"),
        ("  - id: a\n    expression: open.flags == ${nobody}\n", RuleStatus::Error, "unknown variable"),
        ("  - id: a\n    expression: open.file.path =~ r\"(\"\n", RuleStatus::Error, "invalid regular expression"),
        ("  - id: a\n", RuleStatus::Error, "no expression"),
        ("  - id: a\n    expression: open.flags == 0\n    actions:\n      - hash: {}\n", RuleStatus::Active, "action hash is not supported"),
        ("  - id: a\n    expression: open.flags == 0\n    actions:\n      - kill:\n          signal: SIGNOPE\n", RuleStatus::Error, "invalid signal"),
    ];
    for (rule, status, reason) in cases {
        let report = load_one(rule);
        assert_eq!(report.status, status, "{rule}: {:?}", report.reason);
        let text = report.reason.unwrap_or_default();
        assert!(
            text.contains(reason),
            "{rule}: reason {text:?} lacks {reason:?}"
        );
    }
}

#[test]
fn errors_point_at_line_and_column() {
    let text = "rules:\n  - id: broken\n    expression: open.flags == 1 && open.file.path == 3\n";
    let (_, report) = Policy::load_sources(&[("p.policy".into(), text.into())]).unwrap();
    let rule = &report.rules[0];
    let location = rule.location.as_ref().expect("error has a location");
    assert_eq!((location.line, location.column), (3, 54));
    assert_eq!(location.width, 1);
    assert!(rule
        .reason
        .as_deref()
        .unwrap()
        .starts_with("p.policy:3:54: "));
    let rendered = report.to_text();
    assert!(rendered.contains("  --> p.policy:3:54\n"), "{rendered}");
    assert!(
        rendered.contains(&format!("   | {}^\n", " ".repeat(53))),
        "{rendered}"
    );
    let block = "rules:\n  - id: b\n    expression: |-\n      open.flags == 1 &&\n        open.file.path ==\n";
    let (_, report) = Policy::load_sources(&[("b.policy".into(), block.into())]).unwrap();
    let location = report.rules[0].location.clone().expect("location");
    assert_eq!((location.line, location.column), (5, 26));
}

#[test]
fn later_files_override_rules_and_macros() {
    let first = "macros:\n  - id: names\n    expression: '[\"a\"]'\nrules:\n  - id: r\n    expression: exec.file.name in names\n  - id: keep\n    expression: open.flags == 0\n";
    let second = "macros:\n  - id: names\n    expression: '[\"b\"]'\nrules:\n  - id: r\n    expression: exec.file.name in names && exec.argv0 != \"\"\n";
    let sources = [
        ("1.policy".to_string(), first.to_string()),
        ("2.policy".to_string(), second.to_string()),
    ];
    let (policy, report) = Policy::load_sources(&sources).unwrap();
    assert_eq!(report.rules.len(), 2);
    let mut variables = Variables::default();
    assert!(policy
        .evaluate(&exec("/bin/a", &["a"], &[]), &[], &mut variables)
        .is_empty());
    assert_eq!(
        policy
            .evaluate(&exec("/bin/b", &["b"], &[]), &[], &mut variables)
            .len(),
        1
    );
}

#[test]
fn files_that_are_not_policies_fail_to_load() {
    let bad_yaml = Policy::load_sources(&[("x".into(), "rules: [".into())]);
    assert!(bad_yaml.unwrap_err().to_string().contains("invalid YAML"));
    let not_policy = Policy::load_sources(&[("x".into(), "name: value\n".into())]);
    assert!(not_policy.unwrap_err().to_string().contains("not a policy"));
    let missing = Policy::load_files(&["/nonexistent/sentrace.policy".into()]);
    assert!(missing.unwrap_err().to_string().contains("failed to read"));
}
