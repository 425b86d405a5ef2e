//! The lexer: identifiers (with `.length` and `[A]` iterator parts), numbers,
//! durations, IP addresses and ranges, strings, globs, regexes, variables
//! and punctuation.

use super::{ParseError, Span};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Ident(String),
    Number(i64),
    Str(String),
    Pattern(String),
    Regex(String),
    Ip(String),
    Variable(String, bool),
    Punct(&'static str),
    End,
}

const PUNCTUATION: [&str; 20] = [
    "&&", "||", "==", "!=", "<=", ">=", "=~", "!~", "<", ">", "!", "&", "|", "^", "+", "-", "(",
    ")", "[", "]",
];

pub(super) struct Lexer<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Lexer<'a> {
    /// Starts reading `text` from its first byte.
    pub(super) fn new(text: &'a str) -> Lexer<'a> {
        Lexer { text, position: 0 }
    }
}

impl<'a> Lexer<'a> {
    pub(super) fn next_token(&mut self) -> Result<(Token, Span), ParseError> {
        let rest = &self.text[self.position..];
        let trimmed = rest.trim_start();
        self.position += rest.len() - trimmed.len();
        let start = self.position;
        let Some(first) = trimmed.chars().next() else {
            return Ok((Token::End, Span { start, end: start }));
        };
        let token = if first == '"' {
            Token::Str(self.quoted(start)?)
        } else if (first == '~' || first == 'r') && trimmed[1..].starts_with('"') {
            self.position += 1;
            let body = self.quoted(start)?;
            if first == '~' {
                Token::Pattern(body)
            } else {
                Token::Regex(body)
            }
        } else if trimmed.starts_with("${") {
            self.variable(start)?
        } else if first == ',' {
            self.position += 1;
            Token::Punct(",")
        } else if let Some(length) = ipv6_length(trimmed) {
            self.position += length;
            Token::Ip(trimmed[..length].to_string())
        } else if first.is_ascii_digit() || trimmed.starts_with("::") {
            self.number(start)?
        } else if first.is_ascii_alphabetic() || first == '_' {
            let length = identifier_length(trimmed);
            self.position += length;
            Token::Ident(trimmed[..length].trim_end_matches('.').to_string())
        } else if let Some(punct) = PUNCTUATION.iter().find(|p| trimmed.starts_with(**p)) {
            self.position += punct.len();
            Token::Punct(punct)
        } else {
            let end = start + first.len_utf8();
            return Err(ParseError::new(
                format!("unexpected character '{first}'"),
                Span { start, end },
            ));
        };
        Ok((
            token,
            Span {
                start,
                end: self.position,
            },
        ))
    }

    /// Reads a double-quoted string starting at `self.position`.
    fn quoted(&mut self, start: usize) -> Result<String, ParseError> {
        let mut value = String::new();
        let mut chars = self.text[self.position + 1..].char_indices();
        while let Some((index, c)) = chars.next() {
            match c {
                '"' => {
                    self.position += index + 2;
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => {
                        if escaped != '"' && escaped != '\\' {
                            value.push('\\');
                        }
                        value.push(escaped);
                    }
                    None => break,
                },
                _ => value.push(c),
            }
        }
        let span = Span {
            start,
            end: self.text.len(),
        };
        Err(ParseError::new("unterminated string", span))
    }

    fn variable(&mut self, start: usize) -> Result<Token, ParseError> {
        let rest = &self.text[start + 2..];
        let Some(close) = rest.find('}') else {
            let span = Span {
                start,
                end: self.text.len(),
            };
            return Err(ParseError::new("unterminated variable, expected '}'", span));
        };
        let name = &rest[..close];
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid {
            let span = Span {
                start,
                end: start + close + 3,
            };
            return Err(ParseError::new(
                format!("invalid variable name '{name}'"),
                span,
            ));
        }
        self.position = start + close + 3;
        let length = self.text[self.position..].starts_with(".length");
        if length {
            self.position += ".length".len();
        }
        Ok(Token::Variable(name.to_string(), length))
    }

    /// Reads an integer, a duration (`5s`) or an IP address or range.
    fn number(&mut self, start: usize) -> Result<Token, ParseError> {
        let rest = &self.text[start..];
        let length = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == ':' || c == '/'))
            .unwrap_or(rest.len());
        let word = &rest[..length];
        self.position = start + length;
        let span = Span {
            start,
            end: self.position,
        };
        if let Some(value) = parse_integer(word) {
            return Ok(Token::Number(value));
        }
        if word.contains('.') || word.contains(':') {
            if crate::glob::parse_cidr(word).is_some() {
                return Ok(Token::Ip(word.to_string()));
            }
            return Err(ParseError::new(
                format!("invalid IP address '{word}'"),
                span,
            ));
        }
        let digits = word
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(word.len());
        let unit = match &word[digits..] {
            "ns" => 1,
            "us" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return Err(ParseError::new(format!("invalid number '{word}'"), span)),
        };
        let count: i64 = word[..digits]
            .parse()
            .map_err(|_| ParseError::new(format!("invalid number '{word}'"), span))?;
        count
            .checked_mul(unit)
            .map(Token::Number)
            .ok_or_else(|| ParseError::new(format!("duration '{word}' is too large"), span))
    }
}

/// Returns the length of an IPv6 address or range at the start of `text`
/// (`fd00:ec2::254/128`), which the identifier rule would otherwise split.
fn ipv6_length(text: &str) -> Option<usize> {
    let length = text
        .find(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.' || c == '/'))
        .unwrap_or(text.len());
    let word = &text[..length];
    let address = word.split('/').next().unwrap_or(word);
    if !address.contains(':') || address.parse::<std::net::Ipv6Addr>().is_err() {
        return None;
    }
    crate::glob::parse_cidr(word).map(|_| length)
}

/// Returns the length of an identifier, including iterator variables such as
/// `process.ancestors[A].comm`.
fn identifier_length(text: &str) -> usize {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let mut length = text.find(|c: char| !is_name(c)).unwrap_or(text.len());
    while let Some(rest) = text[length..].strip_prefix('[') {
        let Some(close) = rest.find(']') else { break };
        let variable = &rest[..close];
        let after = &rest[close + 1..];
        if variable.is_empty()
            || !variable.chars().all(|c| c.is_ascii_alphanumeric())
            || !after.starts_with('.')
        {
            break;
        }
        let tail = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
        length += close + 2 + tail;
    }
    length
}

fn parse_integer(word: &str) -> Option<i64> {
    if let Some(hex) = word.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if word.len() > 1 && word.starts_with('0') && word.bytes().all(|b| b.is_ascii_digit()) {
        return i64::from_str_radix(&word[1..], 8).ok();
    }
    word.parse().ok()
}
