//! A YAML document tree that keeps the position of every scalar, so that an
//! error inside a rule expression can be reported at its line and column in
//! the policy file.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A YAML node with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Yaml {
    Scalar {
        value: String,
        quoted: bool,
        line: usize,
        column: usize,
    },
    Sequence(Vec<Yaml>),
    Mapping(Vec<(String, Yaml)>),
    Null,
}

impl Yaml {
    /// Returns the value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Mapping(entries) => entries
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value),
            _ => None,
        }
    }

    /// Returns a scalar's text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Yaml::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Returns a scalar read as a YAML boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self.as_str()? {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        }
    }

    /// Returns the items of a sequence (empty for other nodes).
    pub fn items(&self) -> &[Yaml] {
        match self {
            Yaml::Sequence(items) => items,
            _ => &[],
        }
    }

    /// Returns the entries of a mapping (empty for other nodes).
    pub fn entries(&self) -> &[(String, Yaml)] {
        match self {
            Yaml::Mapping(entries) => entries,
            _ => &[],
        }
    }

    /// Returns the line and column (both from 1) of a scalar, or of the
    /// first scalar inside a sequence or mapping. Without any, (1, 1).
    pub fn position(&self) -> (usize, usize) {
        match self {
            Yaml::Scalar { line, column, .. } => (*line, *column),
            Yaml::Sequence(items) => first_position(items.iter()),
            Yaml::Mapping(entries) => first_position(entries.iter().map(|(_, value)| value)),
            Yaml::Null => (1, 1),
        }
    }
}

fn first_position<'a>(mut nodes: impl Iterator<Item = &'a Yaml>) -> (usize, usize) {
    nodes
        .find_map(|node| Some(node.position()).filter(|position| *position != (1, 1)))
        .unwrap_or((1, 1))
}

enum Frame {
    Sequence(Vec<Yaml>),
    Mapping(Vec<(String, Yaml)>, Option<String>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Yaml>,
}

impl Builder {
    fn push_value(&mut self, value: Yaml) {
        match self.stack.last_mut() {
            Some(Frame::Sequence(items)) => items.push(value),
            Some(Frame::Mapping(entries, key)) => match key.take() {
                Some(name) => entries.push((name, value)),
                None => *key = Some(value.as_str().unwrap_or_default().to_string()),
            },
            None => {
                if self.root.is_none() {
                    self.root = Some(value);
                }
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, style, _, _) => {
                let quoted = style != TScalarStyle::Plain;
                let null = !quoted && matches!(value.as_str(), "~" | "null" | "");
                let node = if null && !matches!(self.stack.last(), Some(Frame::Mapping(_, None))) {
                    Yaml::Null
                } else {
                    Yaml::Scalar {
                        value,
                        quoted,
                        line: mark.line(),
                        column: mark.col() + 1,
                    }
                };
                self.push_value(node);
            }
            Event::SequenceStart(..) => self.stack.push(Frame::Sequence(Vec::new())),
            Event::MappingStart(..) => self.stack.push(Frame::Mapping(Vec::new(), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Sequence(items)) => Yaml::Sequence(items),
                    Some(Frame::Mapping(entries, _)) => Yaml::Mapping(entries),
                    None => Yaml::Null,
                };
                self.push_value(node);
            }
            Event::Alias(_) => self.push_value(Yaml::Null),
            _ => {}
        }
    }
}

/// Parses the first document of a YAML text.
pub(crate) fn load(text: &str) -> Result<Yaml, String> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, false)
        .map_err(|error| error.to_string())?;
    Ok(builder.root.unwrap_or(Yaml::Null))
}

/// Finds where byte `offset` of a scalar's value sits in the source text, by
/// walking the source from the scalar's start and matching the value's
/// characters in order (quotes, escapes and block indentation are skipped).
pub(crate) fn locate(
    source: &str,
    line: usize,
    column: usize,
    value: &str,
    offset: usize,
) -> (usize, usize) {
    let line_start = source
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let start = source[line_start.min(source.len())..]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(source.len(), |(index, _)| line_start + index);

    let mut position = start;
    let target = value.get(..offset.min(value.len())).unwrap_or(value);
    for wanted in target.chars() {
        match source[position..].find(wanted) {
            Some(found) => position += found + wanted.len_utf8(),
            None => break,
        }
    }
    // Skip what the source has before the next value character (quote, indentation).
    if let Some(next) = value
        .get(offset.min(value.len())..)
        .and_then(|rest| rest.chars().next())
    {
        if let Some(found) = source[position..].find(next) {
            position += found;
        }
    }

    let before = &source[..position];
    let error_line = before.matches('\n').count() + 1;
    let line_begin = before.rfind('\n').map_or(0, |index| index + 1);
    (error_line, source[line_begin..position].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_keeps_scalar_positions() {
        let text = "rules:\n  - id: a\n    expression: 'x == 1'\n";
        let root = load(text).unwrap();
        let rule = &root.get("rules").unwrap().items()[0];
        assert_eq!(rule.get("id").unwrap().as_str(), Some("a"));
        let expression = rule.get("expression").unwrap();
        assert_eq!(expression.as_str(), Some("x == 1"));
        assert_eq!(expression.position(), (3, 17));
    }

    #[test]
    fn locate_in_quoted_and_block_scalars() {
        let text = "a: 'x == ''q'' && y'\nb: |-\n  first\n  second line\n";
        let root = load(text).unwrap();
        let (line, column) = root.get("a").unwrap().position();
        let value = root.get("a").unwrap().as_str().unwrap();
        assert_eq!(value, "x == 'q' && y");
        assert_eq!(
            locate(text, line, column, value, value.find('y').unwrap()),
            (1, 19)
        );
        let block = root.get("b").unwrap();
        let (line, column) = block.position();
        let value = block.as_str().unwrap();
        assert_eq!(
            locate(text, line, column, value, value.find("line").unwrap()),
            (4, 10)
        );
    }

    #[test]
    fn invalid_yaml_is_an_error() {
        assert!(load("a: [1, 2").is_err());
    }
}
