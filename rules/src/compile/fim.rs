//! Expansion of `fim.write.file.*` rules: one predicate per file event type,
//! each with the condition that makes that event a change of the file
//! (see `fields/fim.rs` for the event types).

use protocol::EventKind;

use super::{strip_length, unknown_field, CompileError, Compiler, Scope, MAX_MACRO_DEPTH};
use crate::eval::{Operand, Predicate};
use crate::fields::{self, FieldType, FimTarget, FIM_TARGETS, FIM_WRITE_PREFIX};
use crate::parse::{self, Expr, Node, Span};

/// The compiled readings of a rule, one per event type, and what they read.
pub(super) struct Expansion {
    pub variants: Vec<(EventKind, Predicate)>,
    pub uses_retval: bool,
    pub uses_context: bool,
}

/// Returns true when the expression, or a macro it uses, reads a
/// `fim.write.file.*` field.
pub(super) fn mentions_fim(expr: &Expr, scope: &Scope) -> bool {
    mentions(expr, scope, 0)
}

fn mentions(expr: &Expr, scope: &Scope, depth: usize) -> bool {
    match &expr.node {
        Node::Or(lhs, rhs)
        | Node::And(lhs, rhs)
        | Node::Compare(_, lhs, rhs)
        | Node::Int(_, lhs, rhs) => mentions(lhs, scope, depth) || mentions(rhs, scope, depth),
        Node::Not(inner) => mentions(inner, scope, depth),
        Node::List(items) => items.iter().any(|item| mentions(item, scope, depth)),
        Node::Ident(name) if name.starts_with(FIM_WRITE_PREFIX) => true,
        Node::Ident(name) => match scope.macros.get(name) {
            // Deeper macros fail to compile with their own error.
            Some(Ok(inner)) if depth < MAX_MACRO_DEPTH => mentions(inner, scope, depth + 1),
            _ => false,
        },
        Node::Number(_)
        | Node::Str(_)
        | Node::Pattern(_)
        | Node::Regex(_)
        | Node::Ip(_)
        | Node::Variable { .. } => false,
    }
}

/// Compiles the expression once per reading of `fim.write.file.`. The two
/// readings of a rename (source and destination) join into one predicate,
/// so that a rename matches once.
pub(super) fn expand(expr: &Expr, scope: &Scope) -> Result<Expansion, CompileError> {
    let mut expansion = Expansion {
        variants: Vec::new(),
        uses_retval: false,
        uses_context: false,
    };
    for target in FIM_TARGETS {
        let mut compiler = Compiler::new(scope, Some(target));
        let mut predicate = compiler.root(expr)?;
        if let Some(condition) = condition(target)? {
            predicate = Predicate::And(vec![condition, predicate]);
        }
        expansion.uses_retval |= compiler.uses_retval;
        expansion.uses_context |= compiler.uses_context;
        let kind = compiler.event.map_or(target.kind, |(kind, _)| kind);
        match expansion
            .variants
            .iter_mut()
            .find(|(known, _)| *known == kind)
        {
            Some((_, existing)) => {
                let first = std::mem::replace(existing, Predicate::Const(false));
                *existing = Predicate::Or(vec![first, predicate]);
            }
            None => expansion.variants.push((kind, predicate)),
        }
    }
    Ok(expansion)
}

impl Compiler<'_> {
    /// Reads `fim.write.file.<suffix>` as the file field of the event type
    /// being expanded.
    pub(super) fn fim_field(
        &mut self,
        name: &str,
        suffix: &str,
        span: Span,
    ) -> Result<(Operand, FieldType), CompileError> {
        let Some(target) = self.fim else {
            return Err(CompileError::unsupported(
                format!("field {name} is expanded in rule expressions only"),
                span,
            ));
        };
        let rewritten = target.field_name(suffix);
        if fields::resolve(strip_length(&rewritten)).is_some() {
            return self.identifier(&rewritten, span);
        }
        let lacking = unknown_field(&rewritten, span);
        if lacking.unsupported {
            let message = format!("{} (read as {name})", lacking.message);
            return Err(CompileError::unsupported(message, span));
        }
        Err(unknown_field(name, span))
    }
}

/// Compiles the condition that makes an event of the target's type a change.
fn condition(target: FimTarget) -> Result<Option<Predicate>, CompileError> {
    let Some(text) = target.condition() else {
        return Ok(None);
    };
    let expr = parse::parse(text)?;
    // Without the policy's macros, so that none can shadow a constant.
    let plain = Scope::default();
    let mut compiler = Compiler::new(&plain, None);
    compiler.root(&expr).map(Some)
}
