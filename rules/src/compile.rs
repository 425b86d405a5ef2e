//! The checker and compiler: resolves fields, constants, macros and
//! variables in a syntax tree, checks operand types, and builds a
//! [`Predicate`] with prepared matchers.

use std::collections::HashMap;

use protocol::EventKind;

use crate::constants;
use crate::eval::{var_type, Comparison, Matcher, Operand, Predicate, VarRef};
use crate::fields::{self, Accessor, FieldType, FimTarget, ProcessScope, FIM_WRITE_PREFIX};
use crate::parse::{CmpOp, Expr, Node, ParseError, Span};
use crate::variables::{VarScope, VarValue};

mod fim;
mod matcher;

use matcher::{build_matcher, fold, Static};

/// Maximum depth of macros that use other macros.
const MAX_MACRO_DEPTH: usize = 16;

/// SECL event types and namespaces that sentrace does not produce. A field
/// under one of them makes a rule unsupported rather than wrong.
const FOREIGN_EVENTS: &[&str] = &[
    "bpf",
    "cgroup_write",
    "imds",
    "login_uid",
    "mmap",
    "mprotect",
    "network_flow_monitor",
    "ondemand",
    "packet",
    "raw_packet",
    "removexattr",
    "selinux",
    "setrlimit",
    "setsockopt",
    "setxattr",
    "splice",
    "sysctl",
    "create",
    "write",
    "delete",
    "change_permission",
    "set",
];

/// A failure to compile: a real error, or a feature sentrace lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompileError {
    pub unsupported: bool,
    pub message: String,
    pub span: Span,
}

impl CompileError {
    fn error(message: impl Into<String>, span: Span) -> CompileError {
        CompileError {
            unsupported: false,
            message: message.into(),
            span,
        }
    }

    fn unsupported(message: impl Into<String>, span: Span) -> CompileError {
        CompileError {
            unsupported: true,
            message: message.into(),
            span,
        }
    }
}

impl From<ParseError> for CompileError {
    fn from(error: ParseError) -> CompileError {
        CompileError::error(error.message, error.span)
    }
}

/// A variable that some rule's `set` action defines.
#[derive(Debug, Clone)]
pub(crate) struct VarDecl {
    pub field_type: FieldType,
    pub inherited: bool,
    pub default: Option<VarValue>,
}

/// Macros (parsed, or the parse error) and variables visible to rules.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    pub macros: HashMap<String, Result<Expr, String>>,
    pub variables: HashMap<String, VarDecl>,
}

/// The result of compiling a rule expression.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// The predicate for each event type the rule runs on: one, unless the
    /// rule reads `fim.write.file.*`. A rule that reads only process fields
    /// runs on exec.
    pub variants: Vec<(EventKind, Predicate)>,
    /// True when the rule reads a return value (known only at syscall exit).
    pub uses_retval: bool,
    /// True when it reads parents, ancestors, variables or container tags
    /// (unknown to the tracer).
    pub uses_context: bool,
}

struct Compiler<'a> {
    scope: &'a Scope,
    /// The reading of `fim.write.file.` while a `fim` rule is expanded.
    fim: Option<FimTarget>,
    event: Option<(EventKind, String)>,
    uses_retval: bool,
    uses_context: bool,
    iterates: bool,
    macro_depth: usize,
}

/// Compiles a boolean expression.
pub(crate) fn compile(expr: &Expr, scope: &Scope) -> Result<Compiled, CompileError> {
    if fim::mentions_fim(expr, scope) {
        let expansion = fim::expand(expr, scope)?;
        return Ok(Compiled {
            variants: expansion.variants,
            uses_retval: expansion.uses_retval,
            uses_context: expansion.uses_context,
        });
    }
    let mut compiler = Compiler::new(scope, None);
    let predicate = compiler.root(expr)?;
    let event = compiler.event.map_or(EventKind::Exec, |(kind, _)| kind);
    Ok(Compiled {
        variants: vec![(event, predicate)],
        uses_retval: compiler.uses_retval,
        uses_context: compiler.uses_context,
    })
}

/// Compiles a value expression (the `expression` of a `set` action).
pub(crate) fn compile_value(
    expr: &Expr,
    scope: &Scope,
) -> Result<(Operand, FieldType), CompileError> {
    Compiler::new(scope, None).operand(expr)
}

/// Resolves a field name for `set` actions with `field:`.
pub(crate) fn field_operand(name: &str) -> Option<(Operand, FieldType)> {
    let resolved = fields::resolve(name)?;
    Some((Operand::Field(resolved.accessor), resolved.field_type))
}

/// Explains why an unknown field cannot be used: a SECL field or event type
/// that sentrace does not produce makes the rule unsupported, and any other
/// name is an error, with the closest registry field when one is near.
pub(crate) fn unknown_field(name: &str, span: Span) -> CompileError {
    let namespace = name.split('.').next().unwrap_or(name);
    if FOREIGN_EVENTS.contains(&namespace) {
        let message = format!("event type {namespace} is not produced by sentrace (field {name})");
        return CompileError::unsupported(message, span);
    }
    if fields::is_secl_field(name) {
        return CompileError::unsupported(
            format!("field {name} is not produced by sentrace"),
            span,
        );
    }
    // Constants and macro ids have no dots, so a dotted name is meant as a field.
    let is_field = name.contains('.');
    let mut message = if is_field {
        format!("unknown field '{name}'")
    } else {
        format!("unknown field, constant or macro '{name}'")
    };
    if let Some(candidate) = fields::suggest(name) {
        message.push_str(&format!(": did you mean {candidate}?"));
    }
    CompileError::error(message, span)
}

fn positive(op: CmpOp) -> (CmpOp, bool) {
    match op {
        CmpOp::Ne => (CmpOp::Eq, true),
        CmpOp::NotIn => (CmpOp::In, true),
        CmpOp::NotMatch => (CmpOp::Match, true),
        other => (other, false),
    }
}

impl<'a> Compiler<'a> {
    fn new(scope: &'a Scope, fim: Option<FimTarget>) -> Compiler<'a> {
        Compiler {
            scope,
            fim,
            event: None,
            uses_retval: false,
            uses_context: false,
            iterates: false,
            macro_depth: 0,
        }
    }

    /// Compiles a whole rule expression. With `process.ancestors[A]` in it,
    /// the result is true when it is true for some ancestor bound to `A`.
    fn root(&mut self, expr: &Expr) -> Result<Predicate, CompileError> {
        let predicate = self.predicate(expr)?;
        if self.iterates {
            return Ok(Predicate::AnyAncestor(Box::new(predicate)));
        }
        Ok(predicate)
    }

    fn enter_macro(&mut self, name: &str, span: Span) -> Result<&'a Expr, CompileError> {
        let scope = self.scope;
        let Some(definition) = scope.macros.get(name) else {
            return Err(CompileError::error(format!("unknown macro '{name}'"), span));
        };
        if self.macro_depth >= MAX_MACRO_DEPTH {
            return Err(CompileError::error(
                format!("macro '{name}' is nested too deeply"),
                span,
            ));
        }
        self.macro_depth += 1;
        definition.as_ref().map_err(|message| {
            CompileError::error(format!("macro '{name}' is invalid: {message}"), span)
        })
    }

    fn predicate(&mut self, expr: &Expr) -> Result<Predicate, CompileError> {
        match &expr.node {
            Node::Or(..) | Node::And(..) => self.junction(expr),
            Node::Not(inner) => Ok(Predicate::Not(Box::new(self.predicate(inner)?))),
            Node::Compare(op, lhs, rhs) => self.comparison(*op, lhs, rhs, expr.span),
            Node::Ident(name) if name == "true" || name == "false" => {
                Ok(Predicate::Const(name == "true"))
            }
            Node::Ident(name) if self.scope.macros.contains_key(name) => {
                let inner = self.enter_macro(name, expr.span)?;
                let result = self
                    .predicate(inner)
                    .map_err(|error| relocate(error, name, expr.span));
                self.macro_depth -= 1;
                result
            }
            _ => {
                let (operand, field_type) = self.operand(expr)?;
                match field_type {
                    FieldType::Bool => Ok(Predicate::Truthy(operand)),
                    FieldType::Int => Ok(Predicate::Compare(Box::new(Comparison {
                        lhs: operand,
                        matcher: Matcher::IntCmp(CmpOp::Eq, 0),
                        negate: true,
                        all: false,
                    }))),
                    other => Err(CompileError::error(
                        format!(
                            "expected a boolean expression, found a {} value",
                            other.as_str()
                        ),
                        expr.span,
                    )),
                }
            }
        }
    }

    /// Compiles a chain of `&&` or `||` into one node, cheapest test first.
    fn junction(&mut self, expr: &Expr) -> Result<Predicate, CompileError> {
        let is_and = matches!(expr.node, Node::And(..));
        let mut items = Vec::new();
        let mut stack = vec![expr];
        while let Some(current) = stack.pop() {
            match (&current.node, is_and) {
                (Node::And(lhs, rhs), true) | (Node::Or(lhs, rhs), false) => {
                    stack.push(rhs);
                    stack.push(lhs);
                }
                _ => items.push(self.predicate(current)?),
            }
        }
        items.sort_by_key(Predicate::cost);
        Ok(if is_and {
            Predicate::And(items)
        } else {
            Predicate::Or(items)
        })
    }

    fn comparison(
        &mut self,
        op: CmpOp,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
    ) -> Result<Predicate, CompileError> {
        let (lhs, rhs) =
            if is_literal(lhs) && !is_literal(rhs) && matches!(op, CmpOp::Eq | CmpOp::Ne) {
                (rhs, lhs)
            } else {
                (lhs, rhs)
            };
        let (operand, field_type) = self.operand(lhs)?;
        let (op, negate) = positive(op);
        let matcher = match self.statics(rhs)? {
            Some(values) => build_matcher(op, field_type, values, rhs.span)?,
            None => {
                let (other, _) = self.operand(rhs)?;
                if matches!(op, CmpOp::Match | CmpOp::AllIn) {
                    return Err(CompileError::unsupported(
                        "pattern matching against a field or variable is not supported",
                        span,
                    ));
                }
                Matcher::Dynamic(op, other)
            }
        };
        let all = op == CmpOp::AllIn;
        Ok(Predicate::Compare(Box::new(Comparison {
            lhs: operand,
            matcher,
            negate,
            all,
        })))
    }

    /// Collects the constant values of a right-hand side; `None` when it
    /// reads a field or variable.
    fn statics(&mut self, expr: &Expr) -> Result<Option<Vec<Static>>, CompileError> {
        let value = match &expr.node {
            Node::Number(value) => Static::Int(*value),
            Node::Str(text) if text.contains("${") => return Ok(None),
            Node::Str(text) => Static::Str(text.clone()),
            Node::Pattern(text) => Static::Glob(text.clone()),
            Node::Regex(text) => Static::Regex(text.clone()),
            Node::Ip(text) => Static::Ip(text.clone()),
            Node::List(items) => {
                let mut out = Vec::new();
                for item in items {
                    match self.statics(item)? {
                        Some(values) => out.extend(values),
                        None => return Ok(None),
                    }
                }
                return Ok(Some(out));
            }
            Node::Ident(name) if name == "true" || name == "false" => Static::Bool(name == "true"),
            Node::Ident(name)
                if name.starts_with(FIM_WRITE_PREFIX)
                    || fields::resolve(name).is_some()
                    || fields::resolve(strip_length(name)).is_some() =>
            {
                return Ok(None)
            }
            Node::Ident(name) if self.scope.macros.contains_key(name) => {
                let inner = self.enter_macro(name, expr.span)?;
                let result = self
                    .statics(inner)
                    .map_err(|error| relocate(error, name, expr.span));
                self.macro_depth -= 1;
                return result;
            }
            Node::Ident(name) => match constants::lookup(name) {
                Some(value) => Static::Int(value),
                None => return Err(unknown_field(name, expr.span)),
            },
            Node::Int(..) => match self.operand(expr)? {
                (operand, FieldType::Int) => match fold(&operand) {
                    Some(value) => Static::Int(value),
                    None => return Ok(None),
                },
                _ => {
                    return Err(CompileError::error(
                        "expected an integer expression",
                        expr.span,
                    ))
                }
            },
            Node::Variable { .. } => return Ok(None),
            _ => return Err(CompileError::error("expected a value", expr.span)),
        };
        Ok(Some(vec![value]))
    }

    fn operand(&mut self, expr: &Expr) -> Result<(Operand, FieldType), CompileError> {
        match &expr.node {
            Node::Number(value) => Ok((Operand::Int(*value), FieldType::Int)),
            Node::Str(text) if text.contains("${") => self.interpolation(text, expr.span),
            Node::Str(text) => Ok((Operand::Str(text.clone()), FieldType::Str)),
            Node::Ident(name) => self.identifier(name, expr.span),
            Node::Variable { name, length } => self.variable(name, *length, expr.span),
            Node::Int(op, lhs, rhs) => {
                let (left, left_type) = self.operand(lhs)?;
                let (right, right_type) = self.operand(rhs)?;
                if left_type != FieldType::Int || right_type != FieldType::Int {
                    let message = format!(
                        "operator {op:?} needs integers, found {} and {}",
                        left_type.as_str(),
                        right_type.as_str()
                    );
                    return Err(CompileError::error(message.to_lowercase(), expr.span));
                }
                let mut operand = Operand::IntOp(*op, Box::new(left), Box::new(right));
                // Fold constant parts such as O_WRONLY|O_CREAT once, not per event.
                if let Some(value) = fold(&operand) {
                    operand = Operand::Int(value);
                }
                Ok((operand, FieldType::Int))
            }
            Node::Pattern(_) | Node::Regex(_) | Node::Ip(_) | Node::List(_) => {
                Err(CompileError::error(
                    "expected a field or variable on the left of the operator",
                    expr.span,
                ))
            }
            Node::Or(..) | Node::And(..) | Node::Not(_) | Node::Compare(..) => Err(
                CompileError::error("expected a value, found a boolean expression", expr.span),
            ),
        }
    }

    fn identifier(&mut self, name: &str, span: Span) -> Result<(Operand, FieldType), CompileError> {
        if name == "true" || name == "false" {
            return Ok((Operand::Bool(name == "true"), FieldType::Bool));
        }
        if let Some(suffix) = name.strip_prefix(FIM_WRITE_PREFIX) {
            return self.fim_field(name, suffix, span);
        }
        if let Some(resolved) = fields::resolve(name) {
            self.note_field(name, resolved.event, &resolved.accessor, span)?;
            return Ok((Operand::Field(resolved.accessor), resolved.field_type));
        }
        let base = strip_length(name);
        if base != name {
            if let Some(resolved) = fields::resolve(base).filter(|field| field.field_type.is_text())
            {
                self.note_field(base, resolved.event, &resolved.accessor, span)?;
                return Ok((
                    Operand::Length(Box::new(Operand::Field(resolved.accessor))),
                    FieldType::Int,
                ));
            }
        }
        if let Some(value) = constants::lookup(name) {
            return Ok((Operand::Int(value), FieldType::Int));
        }
        if self.scope.macros.contains_key(name) {
            let inner = self.enter_macro(name, span)?;
            let result = self
                .operand(inner)
                .map_err(|error| relocate(error, name, span));
            self.macro_depth -= 1;
            return result;
        }
        Err(unknown_field(name, span))
    }

    fn note_field(
        &mut self,
        name: &str,
        event: Option<EventKind>,
        accessor: &Accessor,
        span: Span,
    ) -> Result<(), CompileError> {
        if name.ends_with(".retval") {
            self.uses_retval = true;
        }
        if matches!(
            accessor,
            Accessor::Process(ProcessScope::Parent | ProcessScope::Ancestors, _)
                | Accessor::AncestorCount
        ) {
            self.uses_context = true;
        }
        // The probe sets container tags from the tracer's hello, so the
        // tracer's own events lack them.
        if name.ends_with("container.tags") || name == "event.service" {
            self.uses_context = true;
        }
        if matches!(accessor, Accessor::Process(ProcessScope::Bound, _)) {
            self.uses_context = true;
            self.iterates = true;
        }
        let Some(kind) = event else {
            return Ok(());
        };
        match &self.event {
            Some((current, first)) if *current != kind => Err(CompileError::error(
                format!("rule mixes event types: {name} is a {kind} field but {first} is a {current} field"),
                span,
            )),
            Some(_) => Ok(()),
            None => {
                self.event = Some((kind, name.to_string()));
                Ok(())
            }
        }
    }

    fn variable(
        &mut self,
        name: &str,
        length: bool,
        span: Span,
    ) -> Result<(Operand, FieldType), CompileError> {
        self.uses_context = true;
        if name == "builtins.uuid4" {
            return Ok((Operand::UniqueId, FieldType::Str));
        }
        let (scope, short) = VarScope::split(name).map_err(|scope| {
            CompileError::unsupported(
                format!("variable scope {scope} is not supported (${{{name}}})"),
                span,
            )
        })?;
        let Some(declaration) = self.scope.variables.get(name) else {
            return Err(CompileError::error(
                format!("unknown variable ${{{name}}}: no rule sets it"),
                span,
            ));
        };
        let reference = VarRef {
            scope,
            name: short.to_string(),
            inherited: declaration.inherited,
            default: declaration.default.clone(),
        };
        let operand = Operand::Variable(reference);
        if length {
            return Ok((Operand::Length(Box::new(operand)), FieldType::Int));
        }
        Ok((operand, declaration.field_type))
    }

    /// Compiles `"a${process.x}b"` into a concatenation.
    fn interpolation(
        &mut self,
        text: &str,
        span: Span,
    ) -> Result<(Operand, FieldType), CompileError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Operand::Str(rest[..start].to_string()));
            }
            let Some(end) = rest[start..].find('}') else {
                return Err(CompileError::error("unterminated variable in string", span));
            };
            let name = &rest[start + 2..start + end];
            let (operand, _) = self.variable(name, false, span)?;
            parts.push(operand);
            rest = &rest[start + end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Operand::Str(rest.to_string()));
        }
        Ok((Operand::Concat(parts), FieldType::Str))
    }
}

fn strip_length(name: &str) -> &str {
    name.strip_suffix(".length").unwrap_or(name)
}

fn is_literal(expr: &Expr) -> bool {
    matches!(
        expr.node,
        Node::Number(_)
            | Node::Str(_)
            | Node::Pattern(_)
            | Node::Regex(_)
            | Node::Ip(_)
            | Node::List(_)
    )
}

/// Names the macro in an error raised inside it and points at its use.
fn relocate(mut error: CompileError, name: &str, span: Span) -> CompileError {
    if !error.message.starts_with("in macro") && !error.unsupported {
        error.message = format!("in macro '{name}': {}", error.message);
    }
    error.span = span;
    error
}

/// Infers the type of a variable from its `set` value.
pub(crate) fn value_type(value: &VarValue) -> FieldType {
    var_type(value)
}
