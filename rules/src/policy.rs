//! Policies: loading YAML policy files into compiled rules indexed by event
//! type, and evaluating events against them.

use std::path::PathBuf;

use protocol::{DenyRule, Event, EventKind, OpenInterest, Process, SignalRange};

use crate::compile::{self, Scope};
use crate::eval::{value_to_var, Context, Operand, Predicate};
use crate::index::RuleIndex;
use crate::load::{self, RuleAction, SetAction, SetValue};
use crate::report::LoadReport;
use crate::variables::{VarValue, Variables};
use crate::{Match, MatchAction};

/// The built-in policy, compiled into the binary.
pub const BUILTIN_POLICY: &str = include_str!("../policy/builtin.policy");

/// A policy file that could not be loaded at all. Bad rules are not load
/// errors: they are reported in the [`LoadReport`].
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    // The I/O error is part of the message and not a `source`, so that an
    // error chain printed with its causes names it once.
    #[error("failed to read policy file {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("invalid YAML in policy file {path}: {message}")]
    Yaml {
        /// The file.
        path: String,
        /// The parser's message with line and column.
        message: String,
    },
    /// The file is YAML but not a policy.
    #[error("{path} is not a policy file: {message}")]
    NotAPolicy {
        /// The file.
        path: String,
        /// The missing part.
        message: String,
    },
}

/// A compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub id: String,
    pub description: String,
    pub tags: Vec<String>,
    pub predicate: Predicate,
    pub actions: Vec<RuleAction>,
    pub silent: bool,
}

/// Compiled rules, indexed by event type. `Policy` is `Send + Sync`: the
/// per-session state lives in [`Variables`].
#[derive(Debug)]
pub struct Policy {
    by_kind: Vec<Vec<Rule>>,
    /// Candidate selection for each entry of `by_kind`.
    indexes: Vec<RuleIndex>,
    report: LoadReport,
    deny: Vec<DenyRule>,
}

impl Policy {
    /// Returns the built-in policy.
    pub fn builtin() -> Policy {
        match Policy::load_sources(&[("<builtin>".to_string(), BUILTIN_POLICY.to_string())]) {
            Ok((policy, _)) => policy,
            Err(error) => {
                // Unreachable while the built-in policy's tests pass; kept so
                // that a bad edit degrades to an empty policy, not a panic.
                let mut policy = Policy::empty();
                policy
                    .report
                    .warnings
                    .push(format!("built-in policy failed to load: {error}"));
                policy
            }
        }
    }

    fn empty() -> Policy {
        Policy {
            by_kind: EventKind::ALL.iter().map(|_| Vec::new()).collect(),
            indexes: EventKind::ALL
                .iter()
                .map(|_| RuleIndex::default())
                .collect(),
            report: LoadReport::default(),
            deny: Vec::new(),
        }
    }

    /// Loads and compiles policy files; later rules and macros with the same
    /// id override earlier ones.
    pub fn load_files(paths: &[PathBuf]) -> Result<(Policy, LoadReport), LoadError> {
        let mut sources = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|error| LoadError::Read {
                path: path.clone(),
                error,
            })?;
            sources.push((path.display().to_string(), text));
        }
        Policy::load_sources(&sources)
    }

    /// Loads and compiles policies given as `(file name, YAML text)` pairs.
    pub fn load_sources(sources: &[(String, String)]) -> Result<(Policy, LoadReport), LoadError> {
        let loaded = load::load(sources)?;
        let mut policy = Policy::empty();
        for rule in loaded.rules {
            if let Some(deny) = rule.deny {
                policy.deny.push(deny);
            }
            for (kind, variant) in rule.variants {
                policy.by_kind[kind as usize].push(variant);
            }
        }
        policy.indexes = policy
            .by_kind
            .iter()
            .map(|rules| RuleIndex::build(rules.iter().map(|rule| &rule.predicate)))
            .collect();
        policy.report = loaded.report.clone();
        Ok((policy, loaded.report))
    }

    /// Returns the state of every rule.
    pub fn report(&self) -> &LoadReport {
        &self.report
    }

    /// Returns the event types that the active rules need.
    pub fn event_types(&self) -> Vec<EventKind> {
        EventKind::ALL
            .into_iter()
            .filter(|kind| !self.by_kind[*kind as usize].is_empty())
            .collect()
    }

    /// Returns the ranges of signal numbers that some active rule may match
    /// when a process signals a process other than the tracer, or `None`
    /// when every number may match. The tracer stops only at signal
    /// syscalls with these numbers, and at every signal to itself.
    pub fn signal_interest(&self) -> Option<Vec<SignalRange>> {
        let rules = &self.by_kind[EventKind::Signal as usize];
        crate::signals::interest(rules.iter().map(|rule| &rule.predicate))
    }

    /// Returns the opens that the rules may match, as conditions on the
    /// path, base name and flags, or `None` when any open may match. The
    /// tracer reports no other open.
    pub fn open_interest(&self) -> Option<OpenInterest> {
        let rules = &self.by_kind[EventKind::Open as usize];
        crate::opens::interest(rules.iter().map(|rule| &rule.predicate))
    }

    /// Returns the active rules with a `deny` action whose fields the tracer
    /// has at syscall entry (no return value, ancestors or variables).
    pub fn deny_rules(&self) -> Vec<DenyRule> {
        self.deny.clone()
    }

    /// Evaluates an event; `ancestors[0]` is the parent of the event's
    /// process. Applies `set` actions to `variables` and returns the matches
    /// of rules that are not silent.
    pub fn evaluate(
        &self,
        event: &Event,
        ancestors: &[Process],
        variables: &mut Variables,
    ) -> Vec<Match> {
        let mut matches = Vec::new();
        let rules = &self.by_kind[event.kind() as usize];
        if rules.is_empty() {
            return matches;
        }

        // Rules per event type rarely exceed this; larger buckets use the heap.
        const STACK_MARKS: usize = 256;
        let mut stack_marks = [false; STACK_MARKS];
        let mut heap_marks = Vec::new();
        let marks: &mut [bool] = if rules.len() <= STACK_MARKS {
            &mut stack_marks[..rules.len()]
        } else {
            heap_marks.resize(rules.len(), false);
            &mut heap_marks
        };
        {
            let context = Context {
                event,
                ancestors,
                variables,
                bound: None,
            };
            self.indexes[event.kind() as usize].mark_candidates(&context, marks);
        }

        for (rule, _) in rules
            .iter()
            .zip(marks.iter())
            .filter(|(_, candidate)| **candidate)
        {
            let context = Context {
                event,
                ancestors,
                variables,
                bound: None,
            };
            if !rule.predicate.eval(&context) {
                continue;
            }

            let actions = apply_actions(rule, event, ancestors, variables);
            if !rule.silent {
                matches.push(Match {
                    rule_id: rule.id.clone(),
                    description: rule.description.clone(),
                    tags: rule.tags.clone(),
                    actions,
                });
            }
        }
        matches
    }
}

fn apply_actions(
    rule: &Rule,
    event: &Event,
    ancestors: &[Process],
    variables: &mut Variables,
) -> Vec<MatchAction> {
    let mut out = Vec::new();
    for action in &rule.actions {
        match action {
            RuleAction::Kill { signal, scope } => out.push(MatchAction::Kill {
                signal: *signal,
                scope: scope.clone(),
            }),
            RuleAction::Deny => out.push(MatchAction::Deny),
            RuleAction::Set(set) => apply_set(set, event, ancestors, variables),
        }
    }
    out
}

fn apply_set(set: &SetAction, event: &Event, ancestors: &[Process], variables: &mut Variables) {
    let unique = if needs_unique_id(&set.value) {
        Some(variables.unique_id())
    } else {
        None
    };
    let value = {
        let context = Context {
            event,
            ancestors,
            variables,
            bound: None,
        };
        if let Some(filter) = &set.filter {
            if !filter.eval(&context) {
                return;
            }
        }
        match &set.value {
            SetValue::Const(value) => Some(value.clone()),
            SetValue::Operand(operand) => set_operand_value(operand, &context, unique.as_deref()),
        }
    };
    if let Some(value) = value {
        variables.set(set.scope, &set.name, &event.process, value, set.append);
    }
}

fn needs_unique_id(value: &SetValue) -> bool {
    match value {
        SetValue::Operand(Operand::UniqueId) => true,
        SetValue::Operand(Operand::Concat(parts)) => {
            parts.iter().any(|part| matches!(part, Operand::UniqueId))
        }
        _ => false,
    }
}

fn set_operand_value(
    operand: &Operand,
    context: &Context<'_>,
    unique: Option<&str>,
) -> Option<VarValue> {
    match operand {
        Operand::UniqueId => unique.map(|id| VarValue::Str(id.to_string())),
        Operand::Concat(parts) => {
            let mut out = String::new();
            for part in parts {
                match set_operand_value(part, context, unique)? {
                    VarValue::Str(text) => out.push_str(&text),
                    VarValue::Int(number) => out.push_str(&number.to_string()),
                    VarValue::Bool(flag) => out.push_str(&flag.to_string()),
                    VarValue::StrList(items) => out.push_str(&items.join(",")),
                    VarValue::IntList(items) => out.push_str(
                        &items
                            .iter()
                            .map(i64::to_string)
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                }
            }
            Some(VarValue::Str(out))
        }
        other => other.value(context).map(value_to_var),
    }
}

/// Compiles one expression against no macros (used by tests and the deny compiler).
pub(crate) fn compile_expression(
    text: &str,
    scope: &Scope,
) -> Result<compile::Compiled, compile::CompileError> {
    let expr = crate::parse::parse(text)?;
    compile::compile(&expr, scope)
}

/// Parses and compiles one expression without macros or variables; returns
/// the error message when it is invalid. Used by the fuzz target.
pub fn check_expression(text: &str) -> Result<(), String> {
    compile_expression(text, &Scope::default())
        .map(|_| ())
        .map_err(|error| error.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DenyPolicy, RuleStatus};

    #[test]
    fn builtin_policy_loads_cleanly() {
        let policy = Policy::builtin();
        let report = policy.report();
        let broken: Vec<String> = report
            .rules
            .iter()
            .filter(|rule| rule.status != RuleStatus::Active)
            .map(|rule| format!("{} {:?}: {:?}", rule.id, rule.status, rule.reason))
            .collect();
        assert!(broken.is_empty(), "{}", broken.join("\n"));
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert!(report.summary().active >= 40, "{:?}", report.summary());
    }

    #[test]
    fn policy_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Policy>();
        check::<DenyPolicy>();
    }
}

#[cfg(test)]
mod index_tests {
    use super::*;
    use protocol::{EventBody, File};

    impl Policy {
        /// Evaluates every rule of the event type, without the index.
        fn evaluate_without_index(
            &self,
            event: &Event,
            ancestors: &[Process],
            variables: &mut Variables,
        ) -> Vec<String> {
            let mut ids = Vec::new();
            for rule in &self.by_kind[event.kind() as usize] {
                let context = Context {
                    event,
                    ancestors,
                    variables,
                    bound: None,
                };
                if rule.predicate.eval(&context) {
                    apply_actions(rule, event, ancestors, variables);
                    if !rule.silent {
                        ids.push(rule.id.clone());
                    }
                }
            }
            ids
        }
    }

    /// Rewrites a recorded event with a path and program name from the lists,
    /// so that many rules match somewhere in the stream.
    fn variants(event: &Event, paths: &[&str], names: &[&str]) -> Vec<Event> {
        let mut out = Vec::new();
        for (index, path) in paths.iter().enumerate() {
            let mut variant = event.clone();
            let name = names[index % names.len()];
            match &mut variant.body {
                EventBody::Open { open } => open.file = File::from_path(*path),
                EventBody::Exec { exec } => {
                    exec.file = File::from_path(format!("/usr/bin/{name}"));
                    exec.argv = vec![name.to_string(), "-c".into(), (*path).to_string()];
                    variant.process.file = exec.file.clone();
                    variant.process.argv = exec.argv.clone();
                    variant.process.comm = name.to_string();
                }
                _ => {}
            }
            out.push(variant);
        }
        out
    }

    #[test]
    fn index_never_drops_matches() {
        let datadog = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/rulesets/datadog_default.policy"
        ))
        .unwrap();
        let sources = [
            ("datadog".to_string(), datadog),
            ("builtin".to_string(), BUILTIN_POLICY.to_string()),
        ];
        let (policy, _) = Policy::load_sources(&sources).unwrap();
        let stream =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/events.jsonl"))
                .unwrap();
        let paths = [
            "/etc/shadow",
            "/root/.ssh/id_rsa",
            "/etc/pam.d/sshd",
            "/usr/bin/ls",
            "/etc/sudoers.d/x",
            "/var/log/auth.log",
            "/tmp/.x/payload",
            "/etc/ld.so.preload",
            "/root/.aws/credentials",
            "/etc/systemd/system/x.service",
            "stratum+tcp://pool:3333",
            "/proc/1/environ",
        ];
        let names = [
            "bash", "nc", "xmrig", "python3", "curl", "socat", "nohup", "kubectl", "apt-get",
            "sshd",
        ];
        let parents = [
            Process {
                pid: 1,
                comm: "nginx".into(),
                file: File::from_path("/usr/sbin/nginx"),
                ..Process::default()
            },
            Process {
                pid: 2,
                comm: "sshd".into(),
                file: File::from_path("/usr/sbin/sshd"),
                ..Process::default()
            },
            Process {
                pid: 3,
                comm: "nohup".into(),
                file: File::from_path("/usr/bin/nohup"),
                ..Process::default()
            },
        ];
        let mut indexed_variables = Variables::default();
        let mut plain_variables = Variables::default();
        let mut total = 0;
        for line in stream.lines() {
            let event: Event = serde_json::from_str(line).unwrap();
            for variant in variants(&event, &paths, &names) {
                for depth in 0..=parents.len() {
                    let lineage = &parents[parents.len() - depth..];
                    let indexed: Vec<String> = policy
                        .evaluate(&variant, lineage, &mut indexed_variables)
                        .into_iter()
                        .map(|found| found.rule_id)
                        .collect();
                    let plain =
                        policy.evaluate_without_index(&variant, lineage, &mut plain_variables);
                    assert_eq!(indexed, plain, "{variant:?} with {depth} ancestors");
                    total += plain.len();
                }
            }
        }
        assert!(
            total > 1000,
            "only {total} matches: the variants exercise too few rules"
        );
    }
}

/// Loads a policy of one rule per expression, `rule_0`, `rule_1`... for
/// tests, failing on any rule in error.
#[cfg(test)]
pub(crate) fn policy_of_expressions(expressions: &[&str]) -> Policy {
    let mut yaml = String::from("rules:\n");
    for (index, expression) in expressions.iter().enumerate() {
        yaml.push_str(&format!(
            "  - id: rule_{index}\n    expression: '{expression}'\n"
        ));
    }
    let (policy, report) =
        Policy::load_sources(&[("test.policy".to_string(), yaml)]).expect("policy loads");
    assert_eq!(report.summary().error, 0, "{report:?}");
    policy
}
