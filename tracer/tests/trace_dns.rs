//! DNS under the tracer. Real resolvers (glibc's through getent and
//! python3, a sendto client in the style of musl) look names up from a name
//! server of the test's own. The tracer reports each query as a `dns` event
//! and the resolved name of a connect as `connect.addr.hostname`.
//!
//! Every test uses its own loopback address for its server, so the tests
//! can run in parallel. Lookups through the system resolver run in a
//! private mount namespace whose /etc/resolv.conf names that server.

mod dns_support;
mod policy_support;
mod trace_support;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use dns_support::{in_namespace, loopback_listener, DnsServer, Record, Reply};
use serde_json::Value;
use trace_support::{compile, read_events, scratch_dir, sentrace, wait_with_timeout};

const TIMEOUT: Duration = Duration::from_secs(60);

const DATADOG_POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/rulesets/datadog_default.policy"
);

/// The result of one run of a command, plain or traced.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    events: Vec<Value>,
}

impl Run {
    fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|event| event["type"] == kind)
            .collect()
    }

    /// Returns the (name, type) of every dns event.
    fn questions(&self) -> BTreeSet<(String, u64)> {
        self.of_type("dns")
            .iter()
            .map(|event| {
                let question = &event["dns"]["question"];
                (
                    question["name"].as_str().unwrap_or_default().to_string(),
                    question["type"].as_u64().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Returns the hostname of the first connect to `ip:port`.
    fn connect_hostname(&self, ip: &str, port: u16) -> Option<String> {
        self.of_type("connect")
            .into_iter()
            .find(|event| {
                event["connect"]["addr"]["ip"] == ip && event["connect"]["addr"]["port"] == port
            })
            .map(|event| {
                event["connect"]["addr"]["hostname"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

/// Runs `argv` and waits at most [`TIMEOUT`].
fn run_argv(argv: &[String]) -> std::process::Output {
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("starting {argv:?}: {error}"));
    wait_with_timeout(child, TIMEOUT)
}

/// Runs `command`, without the tracer or under `sentrace trace [extra]`,
/// inside a mount namespace where `resolv_conf` is /etc/resolv.conf
/// (directly when `resolv_conf` is `None`).
fn run(
    directory: &Path,
    resolv_conf: Option<&Path>,
    traced: Option<&[&str]>,
    command: &[String],
) -> Run {
    let output_path = directory.join("events.json");
    let _ = std::fs::remove_file(&output_path);
    let mut argv = Vec::new();
    if let Some(extra) = traced {
        argv.extend(strings(&[sentrace(), "trace", "--output"]));
        argv.push(output_path.display().to_string());
        argv.extend(strings(extra));
        argv.push("--".to_string());
    }
    argv.extend(command.iter().cloned());
    if let Some(resolv_conf) = resolv_conf {
        argv = in_namespace(resolv_conf, &argv);
    }
    let output = run_argv(&argv);
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        events: if traced.is_some() {
            read_events(&output_path)
        } else {
            Vec::new()
        },
    }
}

/// Looks `name` up with getent, plain and traced, checks that both print
/// the same, and returns the traced run.
fn getent_lookup(test: &str, server: &DnsServer, options: &str, extra: &[&str]) -> Run {
    let directory = scratch_dir(test);
    let resolv_conf = server.resolv_conf(&directory, options);
    let command = strings(&["getent", "ahosts", "www.sentrace.test"]);
    let plain = run(&directory, Some(&resolv_conf), None, &command);
    let traced = run(&directory, Some(&resolv_conf), Some(extra), &command);
    assert_eq!(plain.code, Some(0), "plain getent failed: {}", plain.stderr);
    assert_eq!(traced.code, plain.code, "stderr: {}", traced.stderr);
    assert_eq!(traced.stdout, plain.stdout);
    assert!(plain.stdout.contains("127.0.54.1"), "{}", plain.stdout);
    traced
}

fn www_record() -> Record {
    Record {
        ipv4: Some(Ipv4Addr::new(127, 0, 54, 1)),
        ipv6: Some(Ipv6Addr::LOCALHOST),
        reply: Reply::Normal,
    }
}

/// Checks the dns events of a getent lookup of www.sentrace.test against
/// the queries the server received.
fn assert_getent_queries(traced: &Run, server: &DnsServer, tcp: bool) {
    let expected: BTreeSet<(String, u64)> = [1, 28]
        .into_iter()
        .map(|qtype| ("www.sentrace.test".to_string(), qtype))
        .collect();
    assert_eq!(traced.questions(), expected, "{:?}", traced.of_type("dns"));
    let received = server.received();
    assert!(
        received.iter().all(|query| query.tcp == tcp),
        "{received:?}"
    );
    for event in traced.of_type("dns") {
        let dns = &event["dns"];
        let id = dns["id"].as_u64().unwrap();
        assert!(
            received.iter().any(|query| u64::from(query.id) == id),
            "id {id} not among {received:?}"
        );
        assert_eq!(dns["question"]["class"], 1);
        assert_eq!(dns["question"]["count"], 1);
        // Header, 3www8sentrace4test0, type and class; plus an EDNS record
        // when glibc adds one.
        let length = dns["question"]["length"].as_u64().unwrap();
        assert!(length == 35 || length == 46, "length {length}");
        assert_eq!(event["process"]["comm"], "getent");
        assert!(event["process"]["pid"].as_u64().unwrap() > 0);
    }
}

#[test]
fn getent_udp_lookup_is_reported() {
    let server = DnsServer::start(
        Ipv4Addr::new(127, 0, 53, 1),
        &[("www.sentrace.test", www_record())],
    );
    let traced = getent_lookup("dns-udp", &server, "", &[]);
    assert_getent_queries(&traced, &server, false);
}

#[test]
fn getent_tcp_lookup_is_reported() {
    let server = DnsServer::start(
        Ipv4Addr::new(127, 0, 53, 2),
        &[("www.sentrace.test", www_record())],
    );
    let traced = getent_lookup("dns-tcp", &server, "use-vc", &[]);
    assert_getent_queries(&traced, &server, true);
}

#[test]
fn lookup_without_seccomp_is_reported() {
    let server = DnsServer::start(
        Ipv4Addr::new(127, 0, 53, 3),
        &[("www.sentrace.test", www_record())],
    );
    let traced = getent_lookup("dns-noseccomp", &server, "", &["--disable-seccomp"]);
    assert_getent_queries(&traced, &server, false);
}

#[test]
fn python_connect_gets_resolved_hostname() {
    let server = DnsServer::start(
        Ipv4Addr::new(127, 0, 53, 4),
        &[(
            "api.sentrace.test",
            Record::v4(Ipv4Addr::new(127, 0, 54, 4)),
        )],
    );
    let (_named, named_port) = loopback_listener(Ipv4Addr::new(127, 0, 54, 4));
    let (_literal, literal_port) = loopback_listener(Ipv4Addr::new(127, 0, 54, 44));

    let directory = scratch_dir("dns-python");
    let resolv_conf = server.resolv_conf(&directory, "");
    let script = format!(
        "import socket\n\
         socket.create_connection(('api.sentrace.test', {named_port}), timeout=5).close()\n\
         socket.create_connection(('127.0.54.44', {literal_port}), timeout=5).close()\n\
         print('connected')"
    );
    let command = strings(&["/usr/bin/python3", "-c", &script]);
    let traced = run(&directory, Some(&resolv_conf), Some(&[]), &command);
    assert_eq!(traced.code, Some(0), "stderr: {}", traced.stderr);
    assert_eq!(traced.stdout, "connected\n");

    assert!(
        traced
            .questions()
            .contains(&("api.sentrace.test".to_string(), 1)),
        "{:?}",
        traced.questions()
    );
    assert_eq!(
        traced.connect_hostname("127.0.54.4", named_port).as_deref(),
        Some("api.sentrace.test")
    );
    assert_eq!(
        traced
            .connect_hostname("127.0.54.44", literal_port)
            .as_deref(),
        Some("")
    );
}

#[test]
fn sendto_client_is_reported() {
    let server = DnsServer::start(
        Ipv4Addr::new(127, 0, 53, 5),
        &[("db.sentrace.test", Record::v4(Ipv4Addr::new(127, 0, 54, 5)))],
    );
    let (_listener, port) = loopback_listener(Ipv4Addr::new(127, 0, 54, 5));

    let directory = scratch_dir("dns-sendto");
    let client = compile("dns_sendto", &directory);
    let command = vec![
        client.display().to_string(),
        "127.0.53.5".to_string(),
        "db.sentrace.test".to_string(),
        port.to_string(),
    ];
    let plain = run(&directory, None, None, &command);
    let traced = run(&directory, None, Some(&[]), &command);
    assert_eq!(plain.code, Some(0), "stderr: {}", plain.stderr);
    assert!(plain.stdout.ends_with("connect ok\n"), "{}", plain.stdout);
    assert_eq!(traced.code, plain.code, "stderr: {}", traced.stderr);
    assert_eq!(traced.stdout, plain.stdout);

    let dns = traced.of_type("dns");
    assert_eq!(dns.len(), 1, "{dns:?}");
    assert_eq!(dns[0]["dns"]["id"], 0x5e47);
    assert_eq!(dns[0]["dns"]["question"]["name"], "db.sentrace.test");
    assert_eq!(dns[0]["dns"]["question"]["type"], 1);
    assert_eq!(dns[0]["process"]["comm"], "dns_sendto");
    // The plain and the traced run each sent the one query.
    let received = server.received();
    assert_eq!(received.len(), 2, "{received:?}");
    assert!(received
        .iter()
        .all(|query| query.id == 0x5e47 && !query.tcp));
    assert_eq!(
        traced.connect_hostname("127.0.54.5", port).as_deref(),
        Some("db.sentrace.test")
    );
}

#[test]
fn malformed_answers_change_nothing() {
    let cases = [
        ("truncated.sentrace.test", Reply::Truncated),
        ("loop.sentrace.test", Reply::PointerLoop),
        ("forged.sentrace.test", Reply::ForgedCount),
    ];
    let records: Vec<(&str, Record)> = cases
        .iter()
        .map(|(name, reply)| (*name, Record::broken(Ipv4Addr::new(127, 0, 54, 6), *reply)))
        .collect();
    let server = DnsServer::start(Ipv4Addr::new(127, 0, 53, 6), &records);
    let directory = scratch_dir("dns-malformed");
    let client = compile("dns_sendto", &directory);
    let resolv_conf = server.resolv_conf(&directory, "");
    for (name, reply) in cases {
        let raw = vec![
            client.display().to_string(),
            "127.0.53.6".to_string(),
            name.to_string(),
        ];
        let plain = run(&directory, None, None, &raw);
        let traced = run(&directory, None, Some(&[]), &raw);
        assert_eq!(plain.code, Some(0), "{reply:?}: {}", plain.stderr);
        assert_eq!(traced.code, plain.code, "{reply:?}: {}", traced.stderr);
        assert_eq!(traced.stdout, plain.stdout, "{reply:?}");
        assert!(
            traced.questions().contains(&(name.to_string(), 1)),
            "{reply:?}: {:?}",
            traced.questions()
        );

        let getent = strings(&["getent", "ahosts", name]);
        let plain = run(&directory, Some(&resolv_conf), None, &getent);
        let traced = run(&directory, Some(&resolv_conf), Some(&[]), &getent);
        assert_eq!(traced.code, plain.code, "{reply:?}: {}", traced.stderr);
        assert_eq!(traced.stdout, plain.stdout, "{reply:?}");
        assert!(
            traced.questions().contains(&(name.to_string(), 1)),
            "{reply:?}: {:?}",
            traced.questions()
        );
    }
}

/// Counts the syscall and seccomp stops that `sentrace trace --verbose`
/// logged while python3 sent `count` datagrams on a UDP socket connected
/// to `ip:port`.
fn stops_for_sends(directory: &Path, ip: &str, port: u16, count: usize) -> usize {
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.connect(('{ip}', {port}))\n\
         for _ in range({count}): s.send(b'not a dns message')\n"
    );
    let command = strings(&["/usr/bin/python3", "-c", &script]);
    let traced = run(directory, None, Some(&["--verbose"]), &command);
    assert_eq!(traced.code, Some(0), "stderr: {}", traced.stderr);
    traced
        .stderr
        .lines()
        .filter(|line| line.contains("stop=Syscall") || line.contains("stop=Seccomp"))
        .count()
}

#[test]
fn sends_elsewhere_add_no_stops() {
    let sink = std::net::UdpSocket::bind("127.0.53.7:0").expect("binding a UDP sink");
    let sink_port = sink.local_addr().unwrap().port();
    let _server = DnsServer::start(Ipv4Addr::new(127, 0, 53, 7), &[]);
    let directory = scratch_dir("dns-stops");
    let baseline = stops_for_sends(&directory, "127.0.53.7", sink_port, 0);
    let elsewhere = stops_for_sends(&directory, "127.0.53.7", sink_port, 300);
    let to_dns = stops_for_sends(&directory, "127.0.53.7", 53, 300);
    assert!(baseline > 0, "no stops were logged");
    // Python's start-up varies by a stop or two between runs.
    assert!(
        elsewhere.abs_diff(baseline) <= 4,
        "baseline {baseline}, 300 sends elsewhere {elsewhere}"
    );
    // A socket connected to port 53 is followed until the budget runs out,
    // which shows that the count would see extra stops.
    assert!(
        to_dns >= baseline + 64,
        "baseline {baseline}, 300 sends to port 53 {to_dns}"
    );
    assert!(
        to_dns < baseline + 300,
        "baseline {baseline}, 300 sends to port 53 {to_dns}"
    );
}

/// Runs `command` under `sentrace run --format json [--policy PATH]` in a
/// namespace that resolves through `server`, and returns the alerted rule ids.
fn run_alerts(
    test: &str,
    server: &DnsServer,
    policy: Option<&str>,
    command: &[String],
) -> BTreeSet<String> {
    let directory = scratch_dir(test);
    let resolv_conf = server.resolv_conf(&directory, "");
    let mut argv = strings(&[sentrace(), "run", "--format", "json"]);
    if let Some(policy) = policy {
        argv.extend(strings(&["--policy", policy]));
    }
    argv.push("--".to_string());
    argv.extend(command.iter().cloned());
    let output = run_argv(&in_namespace(&resolv_conf, &argv));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|alert| alert["rule_id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn datadog_dns_and_hostname_rules_alert() {
    let server = DnsServer::start(
        Ipv4Addr::new(127, 0, 53, 8),
        &[
            ("icanhazip.com", Record::v4(Ipv4Addr::new(127, 0, 54, 8))),
            ("ssh.tmate.io", Record::v4(Ipv4Addr::new(127, 0, 54, 8))),
            (
                "www.sentrace.test",
                Record::v4(Ipv4Addr::new(127, 0, 54, 8)),
            ),
        ],
    );
    let (_listener, port) = loopback_listener(Ipv4Addr::new(127, 0, 54, 8));
    let connect_to = |name: &str| {
        let script = format!(
            "import socket\nsocket.create_connection(('{name}', {port}), timeout=5).close()"
        );
        strings(&["/usr/bin/python3", "-c", &script])
    };

    let lookup = strings(&["getent", "ahostsv4", "icanhazip.com"]);
    let raised = run_alerts("dns-dd-lookup", &server, Some(DATADOG_POLICY), &lookup);
    assert!(raised.contains("ip_check_domain_v2"), "{raised:?}");

    let raised = run_alerts(
        "dns-dd-tmate",
        &server,
        Some(DATADOG_POLICY),
        &connect_to("ssh.tmate.io"),
    );
    assert!(raised.contains("tmate_usage"), "{raised:?}");

    let raised = run_alerts(
        "dns-dd-benign",
        &server,
        Some(DATADOG_POLICY),
        &connect_to("www.sentrace.test"),
    );
    assert!(!raised.contains("ip_check_domain_v2"), "{raised:?}");
    assert!(!raised.contains("tmate_usage"), "{raised:?}");
}

#[test]
fn datadog_policy_requests_dns_syscalls() {
    let output = run_argv(&strings(&[
        sentrace(),
        "rules",
        "syscalls",
        "--policy",
        DATADOG_POLICY,
    ]));
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let names: Vec<&str> = stdout.trim().split(',').collect();
    assert!(names.contains(&"connect"), "{names:?}");
    assert!(names.contains(&"sendto"), "{names:?}");
}

/// One built-in DNS rule, a name whose lookup triggers it and a similar
/// name whose lookup does not.
struct Case {
    rule: &'static str,
    trigger: String,
    benign: String,
}

fn builtin_cases() -> Vec<Case> {
    let label = "a".repeat(60);
    vec![
        Case {
            rule: "dns_long_name_lookup",
            trigger: format!("{label}.{label}.{label}.sentrace.test"),
            benign: format!("{label}.{label}.sentrace.test"),
        },
        Case {
            rule: "mining_pool_dns_lookup",
            trigger: "xmr.pool.supportxmr.com".to_string(),
            benign: "xmr.support.example.com".to_string(),
        },
    ]
}

#[test]
fn builtin_dns_rules_fire_and_stay_quiet() {
    let server = DnsServer::start(Ipv4Addr::new(127, 0, 53, 9), &[]);
    let directory = scratch_dir("dns-builtin");
    let client = compile("dns_sendto", &directory);
    let policy = rules::Policy::builtin();
    let mut failures = Vec::new();
    for case in builtin_cases() {
        for (name, expected) in [(&case.trigger, true), (&case.benign, false)] {
            let command = vec![
                client.display().to_string(),
                "127.0.53.9".to_string(),
                name.clone(),
            ];
            let traced = run(&directory, None, Some(&[]), &command);
            let events: Vec<protocol::Event> = traced
                .events
                .iter()
                .filter_map(|event| serde_json::from_value(event.clone()).ok())
                .collect();
            let matched = policy_support::matched_rules(&policy, &events);
            if matched.contains(case.rule) != expected {
                failures.push(format!("{} on {name}: matched {matched:?}", case.rule));
            }
            let raised = run_alerts("dns-builtin-run", &server, None, &command);
            if raised.contains(case.rule) != expected {
                failures.push(format!(
                    "{} under run on {name}: raised {raised:?}",
                    case.rule
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let _ = std::fs::remove_dir_all(&directory);
}
