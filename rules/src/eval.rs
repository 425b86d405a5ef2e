//! The compiled form of an expression and its evaluation.
//!
//! Every field is an [`Accessor`] chosen at compile time, and every constant
//! right-hand side is a [`Matcher`] prepared at load time: string sets are
//! hashed, globs and regexes are compiled, IP ranges are parsed.

use std::borrow::Cow;
use std::net::IpAddr;

use protocol::{Event, Process};

use crate::fields::{Accessor, FieldType, ProcessScope, Value};
use crate::glob::{Cidr, StrSet};
use crate::parse::{CmpOp, IntOp};
use crate::variables::{VarScope, VarValue, Variables};

/// The event, the ancestors of its process and the session variables that
/// an expression reads.
pub(crate) struct Context<'a> {
    pub event: &'a Event,
    pub ancestors: &'a [Process],
    pub variables: &'a Variables,
    /// The ancestor bound to `process.ancestors[A]` while evaluating
    /// [`Predicate::AnyAncestor`].
    pub bound: Option<&'a Process>,
}

/// A reference to a variable, resolved at compile time.
#[derive(Debug, Clone)]
pub(crate) struct VarRef {
    pub scope: VarScope,
    pub name: String,
    pub inherited: bool,
    pub default: Option<VarValue>,
}

/// A value computed from the event.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Field(Accessor),
    Length(Box<Operand>),
    Int(i64),
    Str(String),
    Bool(bool),
    Variable(VarRef),
    /// A string with `${...}` parts; evaluated only by `set`.
    Concat(Vec<Operand>),
    /// `${builtins.uuid4}`, replaced by `set`.
    UniqueId,
    IntOp(IntOp, Box<Operand>, Box<Operand>),
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    IntCmp(CmpOp, i64),
    IntSet(Vec<i64>),
    Strings(Box<StrSet>),
    Ips(Vec<Cidr>),
    Bool(bool),
    /// Another field or a variable, compared at evaluation time.
    Dynamic(CmpOp, Operand),
}

/// A comparison: any value of `lhs` matches (all values for `allin`),
/// inverted for `!=`, `not in` and `!~`.
#[derive(Debug, Clone)]
pub(crate) struct Comparison {
    pub lhs: Operand,
    pub matcher: Matcher,
    pub negate: bool,
    pub all: bool,
}

/// A compiled boolean expression.
#[derive(Debug, Clone)]
pub(crate) enum Predicate {
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Not(Box<Predicate>),
    Const(bool),
    Compare(Box<Comparison>),
    /// A boolean field or variable used alone.
    Truthy(Operand),
    /// True when the inner predicate is true with `process.ancestors[A]`
    /// bound to some ancestor.
    AnyAncestor(Box<Predicate>),
}

impl Predicate {
    /// Evaluates the predicate.
    pub fn eval(&self, context: &Context<'_>) -> bool {
        match self {
            Predicate::And(items) => items.iter().all(|item| item.eval(context)),
            Predicate::Or(items) => items.iter().any(|item| item.eval(context)),
            Predicate::Not(inner) => !inner.eval(context),
            Predicate::Const(value) => *value,
            Predicate::Compare(comparison) => comparison.eval(context),
            Predicate::Truthy(operand) => {
                operand.any_value(context, &mut |value| matches!(value, Value::Bool(true)))
            }
            Predicate::AnyAncestor(inner) => context.ancestors.iter().any(|ancestor| {
                let bound = Context {
                    bound: Some(ancestor),
                    ..*context
                };
                inner.eval(&bound)
            }),
        }
    }

    /// Evaluates the predicate in three-valued logic: `leaf` gives the value
    /// of a comparison or boolean field, or `None` when it depends on what is
    /// not known. Returns `None` when the result depends on it too.
    pub fn partial_eval(&self, leaf: &dyn Fn(&Predicate) -> Option<bool>) -> Option<bool> {
        match self {
            Predicate::And(items) => {
                let mut result = Some(true);
                for item in items {
                    match item.partial_eval(leaf) {
                        Some(false) => return Some(false),
                        None => result = None,
                        Some(true) => {}
                    }
                }
                result
            }
            Predicate::Or(items) => {
                let mut result = Some(false);
                for item in items {
                    match item.partial_eval(leaf) {
                        Some(true) => return Some(true),
                        None => result = None,
                        Some(false) => {}
                    }
                }
                result
            }
            Predicate::Not(inner) => inner.partial_eval(leaf).map(|value| !value),
            Predicate::Const(value) => Some(*value),
            Predicate::Compare(_) | Predicate::Truthy(_) => leaf(self),
            // Even a predicate true for every ancestor needs an ancestor to exist.
            Predicate::AnyAncestor(inner) => match inner.partial_eval(leaf) {
                Some(false) => Some(false),
                _ => None,
            },
        }
    }

    /// Estimates the cost of evaluating, to run cheap tests first in `&&` and `||`.
    pub fn cost(&self) -> u32 {
        match self {
            Predicate::And(items) | Predicate::Or(items) => items.iter().map(Predicate::cost).sum(),
            Predicate::Not(inner) => inner.cost(),
            Predicate::AnyAncestor(inner) => inner.cost() * 20,
            Predicate::Const(_) => 0,
            Predicate::Truthy(operand) => operand.cost(),
            Predicate::Compare(comparison) => {
                let matcher = match &comparison.matcher {
                    Matcher::IntCmp(..) | Matcher::IntSet(_) | Matcher::Bool(_) => 1,
                    Matcher::Ips(_) => 4,
                    Matcher::Strings(_) => 3,
                    Matcher::Dynamic(_, operand) => operand.cost() + 4,
                };
                comparison.lhs.cost() * matcher
            }
        }
    }
}

impl Comparison {
    fn eval(&self, context: &Context<'_>) -> bool {
        let found = if self.all {
            let mut seen = false;
            let mut all = true;
            self.lhs.any_value(context, &mut |value| {
                seen = true;
                all = self.matcher.matches(value, context);
                !all
            });
            seen && all
        } else {
            self.lhs
                .any_value(context, &mut |value| self.matcher.matches(value, context))
        };
        found != self.negate
    }
}

impl Operand {
    fn cost(&self) -> u32 {
        match self {
            Operand::Field(Accessor::Process(ProcessScope::Ancestors | ProcessScope::Bound, _)) => {
                20
            }
            Operand::Field(_) | Operand::Int(_) | Operand::Str(_) | Operand::Bool(_) => 1,
            Operand::Length(inner) => inner.cost(),
            Operand::Variable(_) | Operand::Concat(_) | Operand::UniqueId => 5,
            Operand::IntOp(_, a, b) => a.cost() + b.cost(),
        }
    }

    /// Calls `visit` on each value until it returns true; returns whether it did.
    /// Lists and ancestors give one value per element.
    pub fn any_value(
        &self,
        context: &Context<'_>,
        visit: &mut dyn FnMut(&Value<'_>) -> bool,
    ) -> bool {
        match self {
            Operand::Field(Accessor::Process(ProcessScope::Ancestors, getter)) => context
                .ancestors
                .iter()
                .any(|process| visit_elements(&getter(process), visit)),
            Operand::Field(_)
            | Operand::Variable(_)
            | Operand::Concat(_)
            | Operand::UniqueId
            | Operand::IntOp(..) => match self.value(context) {
                Some(value) => visit_elements(&value, visit),
                None => false,
            },
            Operand::Length(inner) => inner.any_length(context, visit),
            Operand::Int(value) => visit(&Value::Int(*value)),
            Operand::Str(value) => visit(&Value::Str(Cow::Borrowed(value))),
            Operand::Bool(value) => visit(&Value::Bool(*value)),
        }
    }

    fn any_length(&self, context: &Context<'_>, visit: &mut dyn FnMut(&Value<'_>) -> bool) -> bool {
        let mut length_of = |value: &Value<'_>| match value {
            Value::Str(text) => visit(&Value::Int(text.chars().count() as i64)),
            Value::List(items) => visit(&Value::Int(items.len() as i64)),
            _ => false,
        };
        match self {
            Operand::Field(Accessor::Process(ProcessScope::Ancestors, getter)) => context
                .ancestors
                .iter()
                .any(|process| length_of(&getter(process))),
            _ => self.value(context).is_some_and(|value| length_of(&value)),
        }
    }

    /// Returns the single value of a scalar operand (the first ancestor for
    /// `process.ancestors.*`).
    pub fn value<'a>(&'a self, context: &Context<'a>) -> Option<Value<'a>> {
        match self {
            Operand::Field(accessor) => field_value(accessor, context),
            Operand::Int(value) => Some(Value::Int(*value)),
            Operand::Str(value) => Some(Value::Str(Cow::Borrowed(value))),
            Operand::Bool(value) => Some(Value::Bool(*value)),
            Operand::Variable(var) => {
                let process = &context.event.process;
                let found = context.variables.get(
                    var.scope,
                    &var.name,
                    process,
                    context.ancestors,
                    var.inherited,
                );
                found.or(var.default.as_ref()).map(var_to_value)
            }
            Operand::Length(inner) => match inner.value(context)? {
                Value::Str(text) => Some(Value::Int(text.chars().count() as i64)),
                Value::List(items) => Some(Value::Int(items.len() as i64)),
                _ => None,
            },
            Operand::Concat(parts) => {
                let mut out = String::new();
                for part in parts {
                    match part.value(context)? {
                        Value::Str(text) => out.push_str(&text),
                        Value::Int(number) => out.push_str(&number.to_string()),
                        Value::Bool(flag) => out.push_str(if flag { "true" } else { "false" }),
                        Value::List(items) => out.push_str(&items.join(",")),
                    }
                }
                Some(Value::Str(Cow::Owned(out)))
            }
            Operand::UniqueId => None,
            Operand::IntOp(op, lhs, rhs) => {
                let (Value::Int(a), Value::Int(b)) = (lhs.value(context)?, rhs.value(context)?)
                else {
                    return None;
                };
                Some(Value::Int(match op {
                    IntOp::And => a & b,
                    IntOp::Or => a | b,
                    IntOp::Xor => a ^ b,
                    IntOp::Add => a.wrapping_add(b),
                    IntOp::Sub => a.wrapping_sub(b),
                }))
            }
        }
    }
}

fn field_value<'a>(accessor: &Accessor, context: &Context<'a>) -> Option<Value<'a>> {
    match accessor {
        Accessor::Process(ProcessScope::Current, getter) => Some(getter(&context.event.process)),
        Accessor::Process(ProcessScope::Parent, getter) => {
            context.ancestors.first().map(|parent| getter(parent))
        }
        Accessor::Process(ProcessScope::Ancestors, getter) => {
            context.ancestors.first().map(|first| getter(first))
        }
        Accessor::Process(ProcessScope::Bound, getter) => {
            context.bound.map(|process| getter(process))
        }
        Accessor::Event(getter) => getter(context.event),
        Accessor::AncestorCount => Some(Value::Int(context.ancestors.len() as i64)),
    }
}

fn visit_elements(value: &Value<'_>, visit: &mut dyn FnMut(&Value<'_>) -> bool) -> bool {
    match value {
        Value::List(items) => items
            .iter()
            .any(|item| visit(&Value::Str(Cow::Borrowed(item)))),
        other => visit(other),
    }
}

fn var_to_value(value: &VarValue) -> Value<'_> {
    match value {
        VarValue::Int(number) => Value::Int(*number),
        VarValue::Str(text) => Value::Str(Cow::Borrowed(text)),
        VarValue::Bool(flag) => Value::Bool(*flag),
        VarValue::StrList(items) => Value::List(Cow::Borrowed(items)),
        VarValue::IntList(items) => {
            Value::List(Cow::Owned(items.iter().map(i64::to_string).collect()))
        }
    }
}

/// Converts an evaluated value into a variable value.
pub(crate) fn value_to_var(value: Value<'_>) -> VarValue {
    match value {
        Value::Int(number) => VarValue::Int(number),
        Value::Bool(flag) => VarValue::Bool(flag),
        Value::Str(text) => VarValue::Str(text.into_owned()),
        Value::List(items) => VarValue::StrList(items.into_owned()),
    }
}

fn compare_int(op: CmpOp, a: i64, b: i64) -> bool {
    match op {
        CmpOp::Eq | CmpOp::In | CmpOp::AllIn => a == b,
        CmpOp::Ne | CmpOp::NotIn => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
        CmpOp::Match | CmpOp::NotMatch => false,
    }
}

impl Matcher {
    fn matches(&self, value: &Value<'_>, context: &Context<'_>) -> bool {
        match (self, value) {
            (Matcher::IntCmp(op, expected), Value::Int(actual)) => {
                compare_int(*op, *actual, *expected)
            }
            (Matcher::IntSet(set), Value::Int(actual)) => set.contains(actual),
            (Matcher::Strings(set), Value::Str(text)) => set.contains(text),
            (Matcher::Ips(ranges), Value::Str(text)) => match text.parse::<IpAddr>() {
                Ok(address) => ranges.iter().any(|range| range.contains(address)),
                Err(_) => false,
            },
            (Matcher::Bool(expected), Value::Bool(actual)) => expected == actual,
            (Matcher::Dynamic(op, operand), actual) => {
                operand.any_value(context, &mut |other| match (actual, other) {
                    (Value::Int(a), Value::Int(b)) => compare_int(*op, *a, *b),
                    (Value::Str(a), Value::Str(b)) => a == b,
                    (Value::Bool(a), Value::Bool(b)) => a == b,
                    (Value::Int(a), Value::Str(b)) | (Value::Str(b), Value::Int(a)) => {
                        b.parse() == Ok(*a)
                    }
                    _ => false,
                })
            }
            _ => false,
        }
    }
}

/// Returns the type a variable value has in expressions.
pub(crate) fn var_type(value: &VarValue) -> FieldType {
    match value {
        VarValue::Int(_) => FieldType::Int,
        VarValue::Str(_) => FieldType::Str,
        VarValue::Bool(_) => FieldType::Bool,
        VarValue::StrList(_) | VarValue::IntList(_) => FieldType::StrList,
    }
}
