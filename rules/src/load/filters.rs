//! Rule `filters` (`os == "linux"`, kernel versions) and `agent_version`
//! constraints, evaluated once at load time.

use std::sync::OnceLock;

use crate::constants;
use crate::parse::{self, CmpOp, Expr, Node};
use crate::yaml::Yaml;

/// The Datadog Agent version whose SECL features sentrace implements; rule
/// `agent_version` constraints are checked against it.
pub const SECL_AGENT_VERSION: (u64, u64, u64) = (7, 72, 0);

/// Returns `Ok(None)` when every filter holds, `Ok(Some(reason))` when one
/// does not, and `Err` when a filter cannot be evaluated.
pub(super) fn check_filters(node: &Yaml) -> Result<Option<String>, String> {
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
