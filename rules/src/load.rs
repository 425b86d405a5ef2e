//! The policy loader: reads YAML policy files, merges macros and rules by id,
//! applies `filters`, `agent_version` and `disabled`, and compiles each rule
//! and its actions, recording the final state of every rule.

use std::sync::OnceLock;

use protocol::{DenyRule, EventKind};

use crate::compile::{self, CompileError, Scope, VarDecl};
use crate::constants;
use crate::eval::Operand;
use crate::fields::FieldType;
use crate::parse::{self, CmpOp, Expr, Node, Span};
use crate::policy::{LoadError, Rule};
use crate::report::{LoadReport, Location, RuleReport, RuleStatus};
use crate::variables::{VarScope, VarValue};
use crate::yaml::{self, Yaml};

/// The Datadog Agent version whose SECL features sentrace implements; rule
/// `agent_version` constraints are checked against it.
pub const SECL_AGENT_VERSION: (u64, u64, u64) = (7, 72, 0);

/// An action of a compiled rule.
#[derive(Debug)]
pub(crate) enum RuleAction {
    Kill { signal: i32, scope: String },
    Deny,
    Set(SetAction),
}

/// A `set` action.
#[derive(Debug)]
pub(crate) struct SetAction {
    pub scope: VarScope,
    pub name: String,
    pub value: SetValue,
    pub append: bool,
    pub filter: Option<crate::eval::Predicate>,
}

/// The value a `set` action stores.
#[derive(Debug)]
pub(crate) enum SetValue {
    Const(VarValue),
    Operand(Operand),
}

/// A compiled rule with its event type and, when the tracer can enforce it,
/// its deny form.
pub(crate) struct LoadedRule {
    pub rule: Rule,
    pub event: EventKind,
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
    for (source, root) in documents.iter().enumerate() {
        collect_macros(root, &mut scope, &mut report);
        for node in root.get("rules").map(Yaml::items).unwrap_or_default() {
            let id = node
                .get("id")
                .and_then(Yaml::as_str)
                .unwrap_or_default()
                .to_string();
            match rules
                .iter_mut()
                .find(|rule| !id.is_empty() && rule.id == id)
            {
                Some(existing) => *existing = RawRule { id, node, source },
                None => rules.push(RawRule { id, node, source }),
            }
        }
    }
    for rule in &rules {
        declare_variables(rule.node, &mut scope);
    }
    let mut loaded = Vec::new();
    for raw in &rules {
        let (rule_report, rule) = compile_rule(raw, &scope, sources);
        report.rules.push(rule_report);
        loaded.extend(rule);
    }
    Ok(Loaded {
        rules: loaded,
        report,
    })
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

/// Reads a YAML scalar or list as a variable value.
fn yaml_value(node: &Yaml) -> Option<VarValue> {
    match node {
        Yaml::Scalar {
            value,
            quoted: false,
            ..
        } => Some(if let Ok(number) = value.parse() {
            VarValue::Int(number)
        } else if let Some(flag) = node.as_bool() {
            VarValue::Bool(flag)
        } else {
            VarValue::Str(value.clone())
        }),
        Yaml::Scalar { value, .. } => Some(VarValue::Str(value.clone())),
        Yaml::Sequence(items) => {
            let values: Vec<VarValue> = items.iter().filter_map(yaml_value).collect();
            if !values.is_empty() && values.iter().all(|value| matches!(value, VarValue::Int(_))) {
                let numbers = values.iter().filter_map(|value| match value {
                    VarValue::Int(number) => Some(*number),
                    _ => None,
                });
                return Some(VarValue::IntList(numbers.collect()));
            }
            let texts = values.into_iter().map(|value| match value {
                VarValue::Str(text) => text,
                VarValue::Int(number) => number.to_string(),
                VarValue::Bool(flag) => flag.to_string(),
                VarValue::StrList(_) | VarValue::IntList(_) => String::new(),
            });
            Some(VarValue::StrList(texts.collect()))
        }
        Yaml::Mapping(_) | Yaml::Null => None,
    }
}

fn rule_report(id: &str, status: RuleStatus, reason: Option<String>) -> RuleReport {
    RuleReport {
        id: id.to_string(),
        status,
        reason,
        location: None,
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
        return (
            rule_report("<no id>", RuleStatus::Error, Some("rule has no id".into())),
            None,
        );
    }
    match check_filters(node) {
        Ok(None) => {}
        Ok(Some(reason)) => return (rule_report(id, RuleStatus::Filtered, Some(reason)), None),
        Err(reason) => return (rule_report(id, RuleStatus::Unsupported, Some(reason)), None),
    }
    let mut notes = Vec::new();
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
        return (
            rule_report(id, RuleStatus::Error, Some("rule has no expression".into())),
            None,
        );
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
                id: id.to_string(),
                status: RuleStatus::Error,
                reason: Some(reason),
                location: Some(location),
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
    let rule = Rule {
        id: id.to_string(),
        description: node
            .get("description")
            .and_then(Yaml::as_str)
            .unwrap_or_default()
            .to_string(),
        tags: tags(node),
        predicate: compiled.predicate,
        actions,
        silent: node.get("silent").and_then(Yaml::as_bool).unwrap_or(false),
    };
    let reason = (!notes.is_empty()).then(|| notes.join("; "));
    (
        rule_report(id, RuleStatus::Active, reason),
        Some(LoadedRule {
            rule,
            event: compiled.event,
            deny,
        }),
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

/// Returns `Ok(None)` when every filter holds, `Ok(Some(reason))` when one
/// does not, and `Err` when a filter cannot be evaluated.
fn check_filters(node: &Yaml) -> Result<Option<String>, String> {
    for filter in node.get("filters").map(Yaml::items).unwrap_or_default() {
        let text = filter.as_str().unwrap_or_default();
        let expr = parse::parse(text)
            .map_err(|error| format!("filter '{text}' is invalid: {}", error.message))?;
        if !eval_filter(&expr).map_err(|message| format!("filter '{text}': {message}"))? {
            return Ok(Some(format!(
                "filter '{text}' does not hold on this system"
            )));
        }
    }
    Ok(None)
}

#[derive(PartialEq, PartialOrd)]
enum FilterValue {
    Int(i64),
    Str(String),
}

fn filter_operand(expr: &Expr) -> Result<FilterValue, String> {
    match &expr.node {
        Node::Ident(name) if name == "os" => Ok(FilterValue::Str("linux".into())),
        Node::Ident(name) if name.starts_with("kernel.version.") => {
            let (major, minor, patch) = kernel_version();
            match &name["kernel.version.".len()..] {
                "major" => Ok(FilterValue::Int(major)),
                "minor" => Ok(FilterValue::Int(minor)),
                "patch" => Ok(FilterValue::Int(patch)),
                _ => Err(format!("field {name} is not known in filters")),
            }
        }
        Node::Ident(name) => constants::lookup(name)
            .map(FilterValue::Int)
            .ok_or_else(|| format!("field {name} is not known in filters")),
        Node::Number(value) => Ok(FilterValue::Int(*value)),
        Node::Str(text) => Ok(FilterValue::Str(text.clone())),
        _ => Err("only fields, numbers and strings are supported in filters".into()),
    }
}

fn eval_filter(expr: &Expr) -> Result<bool, String> {
    match &expr.node {
        Node::Or(a, b) => Ok(eval_filter(a)? || eval_filter(b)?),
        Node::And(a, b) => Ok(eval_filter(a)? && eval_filter(b)?),
        Node::Not(inner) => Ok(!eval_filter(inner)?),
        Node::Compare(op, lhs, rhs) => {
            let (a, b) = (filter_operand(lhs)?, filter_operand(rhs)?);
            match op {
                CmpOp::Eq => Ok(a == b),
                CmpOp::Ne => Ok(a != b),
                CmpOp::Lt => Ok(a < b),
                CmpOp::Le => Ok(a <= b),
                CmpOp::Gt => Ok(a > b),
                CmpOp::Ge => Ok(a >= b),
                _ => Err(format!("operator {op:?} is not supported in filters")),
            }
        }
        _ => Err("expected a comparison".into()),
    }
}

/// Returns the running kernel's version from `/proc/sys/kernel/osrelease`
/// (zeros when unreadable).
fn kernel_version() -> (i64, i64, i64) {
    static VERSION: OnceLock<(i64, i64, i64)> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut parts = release
            .trim()
            .split(|c: char| !c.is_ascii_digit())
            .map(|part| part.parse::<i64>().unwrap_or(0));
        (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        )
    })
}

/// Checks an `agent_version` constraint such as `>= 7.71` or `>=7.65 <7.70`;
/// `Err` when it cannot be read.
pub(crate) fn check_agent_version(constraint: &str) -> Result<bool, String> {
    let unreadable = || format!("agent_version '{constraint}' could not be read and is ignored");
    let mut rest = constraint.trim();
    let mut holds = true;
    while !rest.is_empty() {
        let op_length = rest
            .find(|c: char| c.is_ascii_digit() || c.is_whitespace())
            .unwrap_or(rest.len());
        let op = &rest[..op_length];
        let after = rest[op_length..].trim_start();
        let version_length = after
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(after.len());
        let version = &after[..version_length];
        let mut numbers = version.split('.').map(|part| part.parse::<u64>());
        let wanted = match (numbers.next(), numbers.next(), numbers.next()) {
            (Some(Ok(major)), Some(Ok(minor)), None) => (major, minor, 0),
            (Some(Ok(major)), Some(Ok(minor)), Some(Ok(patch))) => (major, minor, patch),
            _ => return Err(unreadable()),
        };
        let ours = SECL_AGENT_VERSION;
        holds &= match op {
            ">=" => ours >= wanted,
            ">" => ours > wanted,
            "<=" => ours <= wanted,
            "<" => ours < wanted,
            "=" | "==" | "" => ours == wanted,
            "!=" => ours != wanted,
            _ => return Err(unreadable()),
        };
        rest = after[version_length..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
    }
    Ok(holds)
}

fn compile_actions(
    node: &Yaml,
    scope: &Scope,
    notes: &mut Vec<String>,
) -> Result<Vec<RuleAction>, CompileError> {
    let mut actions = Vec::new();
    for action in node.get("actions").map(Yaml::items).unwrap_or_default() {
        let filter = match action.get("filter").and_then(Yaml::as_str) {
            Some(text) => {
                let compiled =
                    crate::policy::compile_expression(text, scope).map_err(|mut error| {
                        error.message = format!("action filter '{text}': {}", error.message);
                        error
                    })?;
                Some(compiled.predicate)
            }
            None => None,
        };
        for (kind, body) in action.entries() {
            match kind.as_str() {
                "filter" => {}
                "kill" => actions.push(kill_action(body)?),
                "deny" => actions.push(RuleAction::Deny),
                "set" => actions.push(RuleAction::Set(set_action(body, scope, filter.clone())?)),
                other => {
                    let note = format!("action {other} is not supported and is ignored");
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                }
            }
        }
    }
    Ok(actions)
}

fn kill_action(body: &Yaml) -> Result<RuleAction, CompileError> {
    let signal_text = body
        .get("signal")
        .and_then(Yaml::as_str)
        .unwrap_or("SIGKILL");
    let signal = signal_text
        .parse::<i32>()
        .ok()
        .or_else(|| {
            constants::lookup(signal_text)
                .filter(|_| signal_text.starts_with("SIG"))
                .map(|value| value as i32)
        })
        .filter(|signal| (1..=64).contains(signal))
        .ok_or_else(|| CompileError {
            unsupported: false,
            message: format!("kill action has an invalid signal '{signal_text}'"),
            span: Span::default(),
        })?;
    let scope = body
        .get("scope")
        .and_then(Yaml::as_str)
        .unwrap_or("process")
        .to_string();
    if !matches!(scope.as_str(), "process" | "process_group" | "container") {
        let message = format!(
            "kill scope {scope} is not supported (expected process, process_group or container)"
        );
        return Err(CompileError {
            unsupported: true,
            message,
            span: Span::default(),
        });
    }
    Ok(RuleAction::Kill { signal, scope })
}

fn set_action(
    body: &Yaml,
    scope: &Scope,
    filter: Option<crate::eval::Predicate>,
) -> Result<SetAction, CompileError> {
    let error = |unsupported: bool, message: String| CompileError {
        unsupported,
        message,
        span: Span::default(),
    };
    let name = body
        .get("name")
        .and_then(Yaml::as_str)
        .ok_or_else(|| error(false, "set action has no name".into()))?;
    let scope_name = body.get("scope").and_then(Yaml::as_str).unwrap_or("");
    let var_scope = match scope_name {
        "" => VarScope::Global,
        "process" => VarScope::Process,
        "container" => VarScope::Container,
        other => {
            return Err(error(
                true,
                format!("set action scope {other} is not supported (variable {name})"),
            ))
        }
    };
    let value = if let Some(value) = body.get("value") {
        SetValue::Const(
            yaml_value(value)
                .ok_or_else(|| error(false, format!("set action {name} has an invalid value")))?,
        )
    } else if let Some(field) = body.get("field").and_then(Yaml::as_str) {
        let (operand, _) = compile::field_operand(field).ok_or_else(|| {
            error(
                true,
                format!("field {field} is not produced by sentrace (set action {name})"),
            )
        })?;
        SetValue::Operand(operand)
    } else if let Some(text) = body.get("expression").and_then(Yaml::as_str) {
        let expr = parse::parse(text)
            .map_err(|e| error(false, format!("set action {name}: {}", e.message)))?;
        let (operand, _) = compile::compile_value(&expr, scope).map_err(|mut e| {
            e.message = format!("set action {name}: {}", e.message);
            e
        })?;
        SetValue::Operand(operand)
    } else {
        return Err(error(
            false,
            format!("set action {name} has no value, field or expression"),
        ));
    };
    let append = body.get("append").and_then(Yaml::as_bool).unwrap_or(false);
    Ok(SetAction {
        scope: var_scope,
        name: name.to_string(),
        value,
        append,
        filter,
    })
}

/// Prints an expression with every macro expanded (for deny rules, which the
/// tracer compiles without the policy's macros).
pub(crate) fn render(expr: &Expr, scope: &Scope, depth: usize) -> String {
    let quote = |text: &str| text.replace('\\', "\\\\").replace('"', "\\\"");
    match &expr.node {
        Node::Or(a, b) => format!(
            "({} || {})",
            render(a, scope, depth),
            render(b, scope, depth)
        ),
        Node::And(a, b) => format!(
            "({} && {})",
            render(a, scope, depth),
            render(b, scope, depth)
        ),
        Node::Not(inner) => format!("!({})", render(inner, scope, depth)),
        Node::Compare(op, a, b) => format!(
            "{} {} {}",
            render(a, scope, depth),
            cmp_text(*op),
            render(b, scope, depth)
        ),
        Node::Int(op, a, b) => {
            let symbol = match op {
                parse::IntOp::And => "&",
                parse::IntOp::Or => "|",
                parse::IntOp::Xor => "^",
                parse::IntOp::Add => "+",
                parse::IntOp::Sub => "-",
            };
            format!(
                "({} {symbol} {})",
                render(a, scope, depth),
                render(b, scope, depth)
            )
        }
        Node::Ident(name) => match scope.macros.get(name) {
            Some(Ok(inner)) if depth < 16 => format!("({})", render(inner, scope, depth + 1)),
            _ => name.clone(),
        },
        Node::Number(value) => value.to_string(),
        Node::Str(text) => format!("\"{}\"", quote(text)),
        Node::Pattern(text) => format!("~\"{}\"", quote(text)),
        Node::Regex(text) => format!("r\"{}\"", quote(text)),
        Node::Ip(text) => text.clone(),
        Node::Variable { name, length } => {
            format!("${{{name}}}{}", if *length { ".length" } else { "" })
        }
        Node::List(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|item| render(item, scope, depth))
                .collect();
            format!("[{}]", items.join(", "))
        }
    }
}

fn cmp_text(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
        CmpOp::In => "in",
        CmpOp::NotIn => "not in",
        CmpOp::AllIn => "allin",
        CmpOp::Match => "=~",
        CmpOp::NotMatch => "!~",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_version_constraints() {
        let cases = [
            (">= 7.71", true),
            ("< 7.71", false),
            (">=7.65 <7.70", false),
            (">=7.65 <7.80", true),
            (">= 7.70.1", true),
            (">= 7.73", false),
        ];
        for (constraint, expected) in cases {
            assert_eq!(
                check_agent_version(constraint),
                Ok(expected),
                "{constraint}"
            );
        }
        assert!(check_agent_version("~7").is_err());
    }

    #[test]
    fn filter_expressions() {
        let holds = |text: &str| eval_filter(&parse::parse(text).unwrap());
        assert_eq!(holds(r#"os == "linux""#), Ok(true));
        assert_eq!(holds(r#"os == "windows""#), Ok(false));
        assert_eq!(
            holds("kernel.version.major >= 3 && kernel.version.major < 1000"),
            Ok(true)
        );
        assert!(holds("unknown.field == 1").is_err());
    }
}
