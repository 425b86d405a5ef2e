//! Right-hand sides of comparisons: constant values, checked against the
//! field type and prepared as matchers (hashed sets, one regex per list, IP
//! ranges).

use super::CompileError;
use crate::eval::{Matcher, Operand};
use crate::fields::FieldType;
use crate::glob::{parse_cidr, StrSet};
use crate::parse::{CmpOp, IntOp, Span};

/// A constant right-hand-side value.
pub(super) enum Static {
    Int(i64),
    Str(String),
    Glob(String),
    Regex(String),
    Ip(String),
    Bool(bool),
}

pub(super) fn fold(operand: &Operand) -> Option<i64> {
    match operand {
        Operand::Int(value) => Some(*value),
        Operand::IntOp(op, lhs, rhs) => {
            let (a, b) = (fold(lhs)?, fold(rhs)?);
            Some(match op {
                IntOp::And => a & b,
                IntOp::Or => a | b,
                IntOp::Xor => a ^ b,
                IntOp::Add => a.wrapping_add(b),
                IntOp::Sub => a.wrapping_sub(b),
            })
        }
        _ => None,
    }
}

pub(super) fn build_matcher(
    op: CmpOp,
    field_type: FieldType,
    values: Vec<Static>,
    span: Span,
) -> Result<Matcher, CompileError> {
    let type_error = |what: &str| {
        CompileError::error(
            format!(
                "{what} cannot be compared with a {} field",
                field_type.as_str()
            ),
            span,
        )
    };
    match field_type {
        FieldType::Int => {
            let mut numbers = Vec::new();
            for value in values {
                match value {
                    Static::Int(number) => numbers.push(number),
                    Static::Str(_) | Static::Glob(_) | Static::Regex(_) => {
                        return Err(type_error("a string"))
                    }
                    Static::Ip(_) => return Err(type_error("an IP address")),
                    Static::Bool(_) => return Err(type_error("a boolean")),
                }
            }
            match (op, numbers.as_slice()) {
                (CmpOp::Match, _) => Err(CompileError::error(
                    "operator =~ needs a string field",
                    span,
                )),
                (CmpOp::Eq | CmpOp::In | CmpOp::AllIn, _) => Ok(Matcher::IntSet(numbers)),
                (_, [single]) => Ok(Matcher::IntCmp(op, *single)),
                _ => Err(CompileError::error(
                    "an ordering operator needs a single integer",
                    span,
                )),
            }
        }
        FieldType::Str | FieldType::Path | FieldType::StrList => {
            if !matches!(op, CmpOp::Eq | CmpOp::In | CmpOp::Match | CmpOp::AllIn) {
                return Err(CompileError::error(
                    "ordering operators need integers, not strings",
                    span,
                ));
            }
            let mut exact = Vec::new();
            let mut globs = Vec::new();
            let mut regexes = Vec::new();
            for value in values {
                match value {
                    Static::Str(text) if op == CmpOp::Match => globs.push(text),
                    Static::Str(text) => exact.push(text),
                    Static::Glob(text) => globs.push(text),
                    Static::Regex(text) => regexes.push(text),
                    Static::Int(_) => return Err(type_error("an integer")),
                    Static::Ip(_) => return Err(type_error("an IP address")),
                    Static::Bool(_) => return Err(type_error("a boolean")),
                }
            }
            let set = StrSet::new(exact, &globs, &regexes, field_type == FieldType::Path).map_err(
                |error| CompileError::error(format!("invalid regular expression: {error}"), span),
            )?;
            Ok(Matcher::Strings(Box::new(set)))
        }
        FieldType::Bool => match (op, values.as_slice()) {
            (CmpOp::Eq, [Static::Bool(flag)]) => Ok(Matcher::Bool(*flag)),
            _ => Err(CompileError::error(
                "a boolean field needs == or != with true or false",
                span,
            )),
        },
        FieldType::Ip => {
            if !matches!(op, CmpOp::Eq | CmpOp::In) {
                return Err(CompileError::error(
                    "an IP field needs ==, !=, in or not in",
                    span,
                ));
            }
            let mut ranges = Vec::new();
            for value in values {
                let text = match value {
                    Static::Ip(text) | Static::Str(text) => text,
                    _ => return Err(type_error("a value that is not an IP address")),
                };
                let range = parse_cidr(&text).ok_or_else(|| {
                    CompileError::error(format!("invalid IP address or range '{text}'"), span)
                })?;
                ranges.push(range);
            }
            Ok(Matcher::Ips(ranges))
        }
    }
}
