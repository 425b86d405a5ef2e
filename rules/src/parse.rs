//! Lexer and parser for SECL expressions.
//!
//! The parser turns one expression into an untyped syntax tree whose nodes
//! carry byte spans, so that the checker can underline what it rejects. It
//! limits input size and nesting depth and returns a [`ParseError`] on any
//! input it cannot read, without panicking (the fuzz targets and the
//! randomized tests check this).

use std::fmt;

mod lexer;

use lexer::{Lexer, Token};

/// Maximum expression size in bytes, after macro expansion.
pub const MAX_EXPRESSION_BYTES: usize = 256 * 1024;

/// Maximum nesting depth of parentheses, lists and `!`.
pub const MAX_DEPTH: usize = 64;

/// A byte range in the expression text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    fn to(self, other: Span) -> Span {
        Span {
            start: self.start,
            end: other.end.max(self.start),
        }
    }
}

/// An expression that could not be parsed or checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Description of the problem.
    pub message: String,
    /// Where, in the expression text.
    pub span: Span,
}

impl ParseError {
    pub(crate) fn new(message: impl Into<String>, span: Span) -> ParseError {
        ParseError {
            message: message.into(),
            span,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    AllIn,
    Match,
    NotMatch,
}

/// Bitwise and arithmetic operators on integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOp {
    And,
    Or,
    Xor,
    Add,
    Sub,
}

/// A node of the syntax tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    Int(IntOp, Box<Expr>, Box<Expr>),
    /// A field, a constant, a macro or `true`/`false`; `.length` is kept in the name.
    Ident(String),
    Number(i64),
    Str(String),
    Pattern(String),
    Regex(String),
    /// An IP address or CIDR range written without quotes.
    Ip(String),
    /// `${name}`, with `length` set for `${name}.length`.
    Variable {
        name: String,
        length: bool,
    },
    List(Vec<Expr>),
}

/// A node and the span of text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The node.
    pub node: Node,
    /// Its source text.
    pub span: Span,
}

/// Parses one expression.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    if text.len() > MAX_EXPRESSION_BYTES {
        let span = Span {
            start: 0,
            end: text.len(),
        };
        let message = format!(
            "expression is {} bytes long, the maximum is {MAX_EXPRESSION_BYTES}",
            text.len()
        );
        return Err(ParseError::new(message, span));
    }
    let mut parser = Parser::new(text)?;
    let expr = parser.or()?;
    match &parser.token {
        Token::End => Ok(expr),
        _ => Err(ParseError::new(
            "unexpected token, expected an operator or the end",
            parser.span,
        )),
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    token: Token,
    span: Span,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Result<Parser<'a>, ParseError> {
        let mut lexer = Lexer::new(text);
        let (token, span) = lexer.next_token()?;
        Ok(Parser {
            lexer,
            token,
            span,
            depth: 0,
        })
    }

    fn advance(&mut self) -> Result<(Token, Span), ParseError> {
        let (token, span) = self.lexer.next_token()?;
        let previous = std::mem::replace(&mut self.token, token);
        let previous_span = std::mem::replace(&mut self.span, span);
        Ok((previous, previous_span))
    }

    fn is_punct(&self, punct: &str) -> bool {
        matches!(&self.token, Token::Punct(p) if *p == punct)
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.token, Token::Ident(word) if word == keyword)
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let message = format!("expression is nested deeper than {MAX_DEPTH} levels");
            return Err(ParseError::new(message, self.span));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.and()?;
        while self.is_punct("||") || self.is_keyword("or") {
            self.advance()?;
            let rhs = self.and()?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                node: Node::Or(Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.not()?;
        while self.is_punct("&&") || self.is_keyword("and") {
            self.advance()?;
            let rhs = self.not()?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                node: Node::And(Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        Ok(lhs)
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        if self.is_punct("!") || self.is_keyword("not") {
            let (_, start) = self.advance()?;
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            let span = start.to(inner.span);
            return Ok(Expr {
                node: Node::Not(Box::new(inner)),
                span,
            });
        }
        self.comparison()
    }

    fn comparison_operator(&mut self) -> Result<Option<CmpOp>, ParseError> {
        let op = match &self.token {
            Token::Punct("==") => CmpOp::Eq,
            Token::Punct("!=") => CmpOp::Ne,
            Token::Punct("<") => CmpOp::Lt,
            Token::Punct("<=") => CmpOp::Le,
            Token::Punct(">") => CmpOp::Gt,
            Token::Punct(">=") => CmpOp::Ge,
            Token::Punct("=~") => CmpOp::Match,
            Token::Punct("!~") => CmpOp::NotMatch,
            Token::Ident(word) if word == "in" => CmpOp::In,
            Token::Ident(word) if word == "allin" => CmpOp::AllIn,
            Token::Ident(word) if word == "not" => {
                self.advance()?;
                if !self.is_keyword("in") {
                    return Err(ParseError::new("expected 'in' after 'not'", self.span));
                }
                CmpOp::NotIn
            }
            _ => return Ok(None),
        };
        self.advance()?;
        Ok(Some(op))
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let lhs = self.integer(0)?;
        let Some(op) = self.comparison_operator()? else {
            return Ok(lhs);
        };
        let rhs = self.integer(0)?;
        let span = lhs.span.to(rhs.span);
        Ok(Expr {
            node: Node::Compare(op, Box::new(lhs), Box::new(rhs)),
            span,
        })
    }

    /// Parses integer operators by precedence level: `|`, `^`, `&`, `+ -`.
    fn integer(&mut self, level: usize) -> Result<Expr, ParseError> {
        const LEVELS: [&[(&str, IntOp)]; 4] = [
            &[("|", IntOp::Or)],
            &[("^", IntOp::Xor)],
            &[("&", IntOp::And)],
            &[("+", IntOp::Add), ("-", IntOp::Sub)],
        ];
        if level == LEVELS.len() {
            return self.primary();
        }
        let mut lhs = self.integer(level + 1)?;
        loop {
            let found = LEVELS[level].iter().find(|(punct, _)| self.is_punct(punct));
            let Some((_, op)) = found else {
                return Ok(lhs);
            };
            let op = *op;
            self.advance()?;
            let rhs = self.integer(level + 1)?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                node: Node::Int(op, Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let (token, span) = self.advance()?;
        let node = match token {
            Token::Ident(name) => Node::Ident(name),
            Token::Number(value) => Node::Number(value),
            Token::Str(value) => Node::Str(value),
            Token::Pattern(value) => Node::Pattern(value),
            Token::Regex(value) => Node::Regex(value),
            Token::Ip(value) => Node::Ip(value),
            Token::Variable(name, length) => Node::Variable { name, length },
            Token::Punct("-") => return self.negative(span),
            Token::Punct("(") => return self.group(span),
            Token::Punct("[") => return self.list(span),
            Token::End => return Err(ParseError::new("unexpected end of expression", span)),
            Token::Punct(punct) => {
                return Err(ParseError::new(
                    format!("unexpected '{punct}', expected a value"),
                    span,
                ))
            }
        };
        Ok(Expr { node, span })
    }

    fn negative(&mut self, start: Span) -> Result<Expr, ParseError> {
        let (token, span) = self.advance()?;
        match token {
            Token::Number(value) => Ok(Expr {
                node: Node::Number(-value),
                span: start.to(span),
            }),
            _ => Err(ParseError::new("expected a number after '-'", span)),
        }
    }

    fn group(&mut self, start: Span) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut inner = self.or()?;
        self.depth -= 1;
        if !self.is_punct(")") {
            return Err(ParseError::new("expected ')'", self.span));
        }
        let (_, end) = self.advance()?;
        inner.span = start.to(end);
        Ok(inner)
    }

    fn list(&mut self, start: Span) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut items = Vec::new();
        while !self.is_punct("]") {
            items.push(self.integer(0)?);
            if self.is_punct(",") {
                self.advance()?;
            } else if !self.is_punct("]") {
                return Err(ParseError::new("expected ',' or ']' in list", self.span));
            }
        }
        self.depth -= 1;
        let (_, end) = self.advance()?;
        Ok(Expr {
            node: Node::List(items),
            span: start.to(end),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(text: &str) -> String {
        fn show(expr: &Expr) -> String {
            match &expr.node {
                Node::Or(a, b) => format!("({} || {})", show(a), show(b)),
                Node::And(a, b) => format!("({} && {})", show(a), show(b)),
                Node::Not(a) => format!("!{}", show(a)),
                Node::Compare(op, a, b) => format!("({} {op:?} {})", show(a), show(b)),
                Node::Int(op, a, b) => format!("({} {op:?} {})", show(a), show(b)),
                Node::Ident(name) => name.clone(),
                Node::Number(value) => value.to_string(),
                Node::Str(value) => format!("{value:?}"),
                Node::Pattern(value) => format!("~{value:?}"),
                Node::Regex(value) => format!("r{value:?}"),
                Node::Ip(value) => value.clone(),
                Node::Variable { name, length } => {
                    format!("${name}{}", if *length { ".length" } else { "" })
                }
                Node::List(items) => {
                    format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(","))
                }
            }
        }
        match parse(text) {
            Ok(expr) => show(&expr),
            Err(error) => format!(
                "error {}..{}: {}",
                error.span.start, error.span.end, error.message
            ),
        }
    }

    #[test]
    fn parser_table() {
        let cases = [
            ("a == 1", "(a Eq 1)"),
            (
                "a == 1 || b == 2 && c == 3",
                "((a Eq 1) || ((b Eq 2) && (c Eq 3)))",
            ),
            ("!a == 1", "!(a Eq 1)"),
            ("not (a == 1)", "!(a Eq 1)"),
            (
                "a & O_CREAT|O_TRUNC > 0",
                "(((a And O_CREAT) Or O_TRUNC) Gt 0)",
            ),
            ("a not in [1, 2]", "(a NotIn [1,2])"),
            ("a allin [\"x\"]", "(a AllIn [\"x\"])"),
            ("p =~ ~\"/etc/*\"", "(p Match ~\"/etc/*\")"),
            ("p =~ r\"^a.*\"", "(p Match r\"^a.*\")"),
            ("d > 5s", "(d Gt 5000000000)"),
            ("m == 0755", "(m Eq 493)"),
            ("ip in [10.0.0.0/8, ::1]", "(ip In [10.0.0.0/8,::1])"),
            ("ip == fd00:ec2::254/128", "(ip Eq fd00:ec2::254/128)"),
            ("ip == ::ffff:1.2.3.4", "(ip Eq ::ffff:1.2.3.4)"),
            ("${x}.length > 2", "($x.length Gt 2)"),
            ("${process.k} + 1", "($process.k Add 1)"),
            ("s == \"a\\\"b\"", "(s Eq \"a\\\"b\")"),
            ("a == -1", "(a Eq -1)"),
            ("a == ", "error 5..5: unexpected end of expression"),
            ("a == \"x", "error 5..7: unterminated string"),
            ("(a == 1", "error 7..7: expected ')'"),
            (
                "a == 1 b",
                "error 7..8: unexpected token, expected an operator or the end",
            ),
            ("a # 1", "error 2..3: unexpected character '#'"),
            ("a == 1.2.3", "error 5..10: invalid IP address '1.2.3'"),
            ("a not 1", "error 6..7: expected 'in' after 'not'"),
            ("a == [1 2]", "error 8..9: expected ',' or ']' in list"),
            ("a == 12q", "error 5..8: invalid number '12q'"),
            (
                "p.ancestors[A].comm == \"x\"",
                "(p.ancestors[A].comm Eq \"x\")",
            ),
            (
                "a[0] == 1",
                "error 1..2: unexpected token, expected an operator or the end",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(shape(text), expected, "parsing {text:?}");
        }
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let text = format!("{}a == 1{}", "(".repeat(100), ")".repeat(100));
        let error = parse(&text).unwrap_err();
        assert!(error.message.contains("nested deeper"), "{}", error.message);
        let nots = format!("{}a", "!".repeat(1000));
        assert!(parse(&nots).is_err());
    }

    #[test]
    fn oversized_input_is_rejected() {
        let text = "a == 1 && ".repeat(MAX_EXPRESSION_BYTES / 8);
        let error = parse(&text).unwrap_err();
        assert!(error.message.contains("maximum"), "{}", error.message);
    }
}
