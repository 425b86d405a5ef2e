//! Rule actions: `kill`, `deny` and `set`, compiled at load time. Other
//! actions are reported as not supported.

use crate::compile::{self, CompileError, Scope};
use crate::constants;
use crate::eval::Operand;
use crate::parse::{self, Span};
use crate::variables::{VarScope, VarValue};
use crate::yaml::Yaml;

/// An action of a compiled rule.
#[derive(Debug, Clone)]
pub(crate) enum RuleAction {
    Kill { signal: i32, scope: String },
    Deny,
    Set(SetAction),
}

/// A `set` action.
#[derive(Debug, Clone)]
pub(crate) struct SetAction {
    pub scope: VarScope,
    pub name: String,
    pub value: SetValue,
    pub append: bool,
    pub filter: Option<crate::eval::Predicate>,
}

/// The value a `set` action stores.
#[derive(Debug, Clone)]
pub(crate) enum SetValue {
    Const(VarValue),
    Operand(Operand),
}

/// Reads a YAML scalar or list as a variable value.
pub(super) fn yaml_value(node: &Yaml) -> Option<VarValue> {
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

pub(super) fn compile_actions(
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
                let mut variants = compiled.variants.into_iter();
                match (variants.next(), variants.next()) {
                    (Some((_, predicate)), None) => Some(predicate),
                    _ => {
                        return Err(CompileError {
                            unsupported: true,
                            message: format!(
                                "action filter '{text}': fim.write fields are not supported in action filters"
                            ),
                            span: Span::default(),
                        })
                    }
                }
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
        // A cgroup is a container here (see `VarScope::Container`).
        "container" | "cgroup" => VarScope::Container,
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
            let mut unknown = compile::unknown_field(field, Span::default());
            unknown.message = format!("set action {name}: {}", unknown.message);
            unknown
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
