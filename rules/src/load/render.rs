//! Prints an expression with every macro expanded, for deny rules, which the
//! tracer compiles without the policy's macros.

use crate::compile::Scope;
use crate::parse::{self, CmpOp, Expr, Node};

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
