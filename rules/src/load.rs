//! The policy loader: reads YAML policy files, merges macros and rules by id,
//! applies `filters`, `agent_version` and `disabled`, and compiles each rule
//! and its actions, recording the final state of every rule.

use protocol::{DenyRule, EventKind};

use crate::compile::{self, CompileError, Scope, VarDecl};
use crate::fields::FieldType;
use crate::parse::{self, Node, Span};
use crate::policy::{LoadError, Rule};
use crate::report::{LoadReport, Location, RuleReport, RuleStatus};
use crate::yaml::{self, Yaml};

mod actions;
mod filters;
mod render;

use actions::{compile_actions, yaml_value};
pub(crate) use actions::{RuleAction, SetAction, SetValue};
pub use filters::SECL_AGENT_VERSION;
use filters::{check_agent_version, check_filters};
use render::render;

/// A compiled rule, once per event type it runs on, and, when the tracer
/// can enforce it, its deny form.
pub(crate) struct LoadedRule {
    pub variants: Vec<(EventKind, Rule)>,
    pub deny: Option<DenyRule>,
}

/// Everything a load produced.
pub(crate) struct Loaded {
    pub rules: Vec<LoadedRule>,
    pub report: LoadReport,
}

struct RawRule<'a> {
    id: String,
    node: &'a Yaml,
    source: usize,
    /// Earlier files whose rule with the same id this one replaced.
    overridden: Vec<usize>,
}

/// Loads policies given as `(file name, text)` pairs.
pub(crate) fn load(sources: &[(String, String)]) -> Result<Loaded, LoadError> {
    let mut documents = Vec::new();
    for (path, text) in sources {
        let root = yaml::load(text).map_err(|message| LoadError::Yaml {
            path: path.clone(),
            message,
        })?;
        if !matches!(root, Yaml::Mapping(_))
            || (root.get("rules").is_none() && root.get("macros").is_none())
        {
            let message = "expected a mapping with 'rules' or 'macros'".to_string();
            return Err(LoadError::NotAPolicy {
                path: path.clone(),
                message,
            });
        }
        documents.push(root);
    }
    let mut report = LoadReport::default();
    let mut scope = Scope::default();
    let mut rules: Vec<RawRule<'_>> = Vec::new();
    let mut duplicates = Vec::new();
    for (source, root) in documents.iter().enumerate() {
        collect_macros(root, &mut scope, &mut report);
        for node in root.get("rules").map(Yaml::items).unwrap_or_default() {
            if let Some(duplicate) = merge_rule(&mut rules, node, source, &sources[source]) {
                duplicates.push(duplicate);
            }
        }
    }
    for rule in &rules {
        declare_variables(rule.node, &mut scope);
    }
    let mut loaded = Vec::new();
    for raw in &rules {
        let (mut rule_report, rule) = compile_rule(raw, &scope, sources);
        rule_report.file = sources[raw.source].0.clone();
        rule_report.overrides = raw
            .overridden
            .iter()
            .map(|index| sources[*index].0.clone())
            .collect();
        report.rules.push(rule_report);
        loaded.extend(rule);
    }
    report.rules.extend(duplicates);
    Ok(Loaded {
        rules: loaded,
        report,
    })
}

/// Adds a rule to the merged list. A rule from a later file replaces the
/// earlier rule with the same id. Within one file, a second rule with the
/// same id replaces the first only with `combine: override`; otherwise it is
/// dropped and its error report is returned.
fn merge_rule<'a>(
    rules: &mut Vec<RawRule<'a>>,
    node: &'a Yaml,
    source: usize,
    file: &(String, String),
) -> Option<RuleReport> {
    let id = node
        .get("id")
        .and_then(Yaml::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(existing) = rules
        .iter_mut()
        .find(|rule| !id.is_empty() && rule.id == id)
    else {
        rules.push(RawRule {
            id,
            node,
            source,
            overridden: Vec::new(),
        });
        return None;
    };
    let combine = node.get("combine").and_then(Yaml::as_str);
    if existing.source == source && combine != Some("override") {
        return Some(duplicate_report(&id, node, file));
    }
    let mut overridden = std::mem::take(&mut existing.overridden);
    if existing.source != source && !overridden.contains(&existing.source) {
        overridden.push(existing.source);
    }
    *existing = RawRule {
        id,
        node,
        source,
        overridden,
    };
    None
}

/// Reports a second rule with the same id in one file, at its `id` value.
fn duplicate_report(id: &str, node: &Yaml, (file, text): &(String, String)) -> RuleReport {
    let (line, column) = node.get("id").map_or((1, 1), Yaml::position);
    let source_line = text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default()
        .to_string();
    let message = format!(
        "duplicate rule id {id} in this file: the first definition is kept \
         (add 'combine: override' to replace it)"
    );
    RuleReport {
        id: id.to_string(),
        status: RuleStatus::Error,
        reason: Some(format!("{file}:{line}:{column}: {message}")),
        location: Some(Location {
            file: file.clone(),
            line,
            column,
            source_line,
            width: id.chars().count().max(1),
        }),
        file: file.clone(),
        overrides: Vec::new(),
    }
}

fn collect_macros(root: &Yaml, scope: &mut Scope, report: &mut LoadReport) {
    for node in root.get("macros").map(Yaml::items).unwrap_or_default() {
        let Some(id) = node.get("id").and_then(Yaml::as_str) else {
            report
                .warnings
                .push("a macro has no id and is ignored".to_string());
            continue;
        };
        if !matches!(check_filters(node), Ok(None)) {
            continue;
        }
        let Some(text) = node.get("expression").and_then(Yaml::as_str) else {
            report
                .warnings
                .push(format!("macro {id} has no expression and is ignored"));
            continue;
        };
        let parsed = parse::parse(text).map_err(|error| error.message);
        if let Err(message) = &parsed {
            report
                .warnings
                .push(format!("macro {id} is invalid: {message}"));
        }
        scope.macros.insert(id.to_string(), parsed);
    }
}

/// Registers the variables that a rule's `set` actions define, with a type
/// inferred from their value.
fn declare_variables(node: &Yaml, scope: &mut Scope) {
    for action in node.get("actions").map(Yaml::items).unwrap_or_default() {
        let Some(set) = action.get("set") else {
            continue;
        };
        let Some(name) = set.get("name").and_then(Yaml::as_str) else {
            continue;
        };
        let scope_name = set.get("scope").and_then(Yaml::as_str).unwrap_or("");
        let full = if scope_name.is_empty() {
            name.to_string()
        } else {
            format!("{scope_name}.{name}")
        };
        let mut field_type = if let Some(value) = set.get("value") {
            yaml_value(value).map_or(FieldType::Str, |value| compile::value_type(&value))
        } else if let Some(field) = set.get("field").and_then(Yaml::as_str) {
            compile::field_operand(field).map_or(FieldType::Str, |(_, field_type)| field_type)
        } else {
            let text = set.get("expression").and_then(Yaml::as_str).unwrap_or("");
            expression_type(text, scope)
        };
        let append = set.get("append").and_then(Yaml::as_bool).unwrap_or(false);
        if append {
            field_type = FieldType::StrList;
        }
        if field_type == FieldType::Path {
            field_type = FieldType::Str;
        }
        let inherited = set
            .get("inherited")
            .and_then(Yaml::as_bool)
            .unwrap_or(false);
        let default = set.get("default_value").and_then(yaml_value);
        scope.variables.entry(full).or_insert(VarDecl {
            field_type,
            inherited,
            default,
        });
    }
}

fn expression_type(text: &str, scope: &Scope) -> FieldType {
    match parse::parse(text) {
        Ok(expr) => match compile::compile_value(&expr, scope) {
            Ok((_, field_type)) => field_type,
            Err(_) if matches!(expr.node, Node::Int(..) | Node::Number(_)) => FieldType::Int,
            Err(_) => FieldType::Str,
        },
        Err(_) => FieldType::Str,
    }
}

fn rule_report(id: &str, status: RuleStatus, reason: Option<String>) -> RuleReport {
    RuleReport {
        id: id.to_string(),
        status,
        reason,
        location: None,
        file: String::new(),
        overrides: Vec::new(),
    }
}

fn compile_rule(
    raw: &RawRule<'_>,
    scope: &Scope,
    sources: &[(String, String)],
) -> (RuleReport, Option<LoadedRule>) {
    let node = raw.node;
    let id = raw.id.as_str();
    if id.is_empty() {
        let mut report = rule_report("<no id>", RuleStatus::Error, Some("rule has no id".into()));
        report.location = Some(locate_node(node, &sources[raw.source]));
        return (report, None);
    }
    match check_filters(node) {
        Ok(None) => {}
        Ok(Some(reason)) => return (rule_report(id, RuleStatus::Filtered, Some(reason)), None),
        Err(reason) => return (rule_report(id, RuleStatus::Unsupported, Some(reason)), None),
    }
    let mut notes = unknown_keys(node, &sources[raw.source].1);
    if let Some(constraint) = node.get("agent_version").and_then(Yaml::as_str) {
        match check_agent_version(constraint) {
            Ok(true) => {}
            Ok(false) => {
                let (major, minor, patch) = SECL_AGENT_VERSION;
                let reason = format!("agent_version {constraint} excludes the SECL level of sentrace ({major}.{minor}.{patch})");
                return (rule_report(id, RuleStatus::Filtered, Some(reason)), None);
            }
            Err(message) => notes.push(message),
        }
    }
    if node.get("disabled").and_then(Yaml::as_bool) == Some(true) {
        return (
            rule_report(
                id,
                RuleStatus::Disabled,
                Some("disabled in the policy".into()),
            ),
            None,
        );
    }
    let Some(expression) = node
        .get("expression")
        .filter(|value| value.as_str().is_some())
    else {
        let mut report = rule_report(id, RuleStatus::Error, Some("rule has no expression".into()));
        report.location = Some(locate_node(node, &sources[raw.source]));
        return (report, None);
    };
    let text = expression.as_str().unwrap_or_default();
    let compiled = parse::parse(text)
        .map_err(CompileError::from)
        .and_then(|expr| {
            let compiled = compile::compile(&expr, scope)?;
            Ok((expr, compiled))
        });
    let (expr, compiled) = match compiled {
        Ok(pair) => pair,
        Err(error) if error.unsupported => {
            return (
                rule_report(id, RuleStatus::Unsupported, Some(error.message)),
                None,
            );
        }
        Err(error) => {
            let location = locate(expression, &sources[raw.source], error.span);
            let reason = format!(
                "{}:{}:{}: {}",
                location.file, location.line, location.column, error.message
            );
            let report = RuleReport {
                location: Some(location),
                ..rule_report(id, RuleStatus::Error, Some(reason))
            };
            return (report, None);
        }
    };
    let actions = match compile_actions(node, scope, &mut notes) {
        Ok(actions) => actions,
        Err(error) => {
            let status = if error.unsupported {
                RuleStatus::Unsupported
            } else {
                RuleStatus::Error
            };
            return (rule_report(id, status, Some(error.message)), None);
        }
    };
    let deny = actions
        .iter()
        .any(|action| matches!(action, RuleAction::Deny))
        && !compiled.uses_retval
        && !compiled.uses_context;
    let deny = deny.then(|| DenyRule {
        id: id.to_string(),
        expression: render(&expr, scope, 0),
    });
    let description = node
        .get("description")
        .and_then(Yaml::as_str)
        .unwrap_or_default()
        .to_string();
    let tags = tags(node);
    let silent = node.get("silent").and_then(Yaml::as_bool).unwrap_or(false);
    let variants = compiled
        .variants
        .into_iter()
        .map(|(kind, predicate)| {
            let rule = Rule {
                id: id.to_string(),
                description: description.clone(),
                tags: tags.clone(),
                predicate,
                actions: actions.clone(),
                silent,
            };
            (kind, rule)
        })
        .collect();
    let reason = (!notes.is_empty()).then(|| notes.join("; "));
    (
        rule_report(id, RuleStatus::Active, reason),
        Some(LoadedRule { variants, deny }),
    )
}

fn tags(node: &Yaml) -> Vec<String> {
    match node.get("tags") {
        Some(Yaml::Mapping(entries)) => entries
            .iter()
            .map(|(key, value)| format!("{key}:{}", value.as_str().unwrap_or_default()))
            .collect(),
        Some(Yaml::Sequence(items)) => items
            .iter()
            .filter_map(Yaml::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// The keys a SECL rule may have, as Datadog's agent reads them.
const RULE_KEYS: &[&str] = &[
    "id",
    "version",
    "description",
    "expression",
    "tags",
    "product_tags",
    "actions",
    "disabled",
    "combine",
    "override",
    "filters",
    "agent_version",
    "every",
    "limiter_token",
    "silent",
    "group_id",
    "priority",
];

/// Describes the keys of a rule that no SECL rule has (a misspelt
/// `actions` or `disabled`), which would otherwise be ignored unseen. The
/// line is the first one at or after the rule's start that sets the key.
fn unknown_keys(node: &Yaml, text: &str) -> Vec<String> {
    let (start, _) = node.position();
    node.entries()
        .iter()
        .filter(|(key, _)| !RULE_KEYS.contains(&key.as_str()))
        .map(|(key, _)| {
            let line = text
                .lines()
                .enumerate()
                .skip(start.saturating_sub(1))
                .find(|(_, line)| {
                    let line = line.trim_start().trim_start_matches("- ");
                    line.strip_prefix(key.as_str())
                        .is_some_and(|rest| rest.trim_start().starts_with(':'))
                })
                .map_or(start, |(index, _)| index + 1);
            format!("unknown key '{key}' on line {line} is ignored")
        })
        .collect()
}

/// Locates a whole rule, for errors that have no span of their own.
fn locate_node(node: &Yaml, source: &(String, String)) -> Location {
    let (file, text) = source;
    let (line, column) = node.position();
    let source_line = text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default()
        .to_string();
    let width = source_line
        .chars()
        .count()
        .saturating_sub(column - 1)
        .max(1);
    Location {
        file: file.clone(),
        line,
        column,
        source_line,
        width,
    }
}

fn locate(expression: &Yaml, source: &(String, String), span: Span) -> Location {
    let (file, text) = source;
    let value = expression.as_str().unwrap_or_default();
    let (line, column) = expression.position();
    let (error_line, error_column) = yaml::locate(text, line, column, value, span.start);
    let source_line = text
        .lines()
        .nth(error_line.saturating_sub(1))
        .unwrap_or_default()
        .to_string();
    let span_text = value
        .get(span.start..span.end.min(value.len()))
        .unwrap_or_default();
    let first_line = span_text.lines().next().unwrap_or_default().chars().count();
    let room = source_line.chars().count().saturating_sub(error_column - 1);
    Location {
        file: file.clone(),
        line: error_line,
        column: error_column,
        source_line,
        width: first_line.min(room).max(1),
    }
}
