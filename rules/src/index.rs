//! Candidate selection: skips rules that cannot match an event before any of
//! their predicates run.
//!
//! Most rules require a string field (a path, a file name) to be in a set of
//! strings and globs. The literal prefix of each such pattern (up to the first
//! `*`) goes into a byte trie per field. Walking the event's value through the
//! trie marks the rules whose patterns could match. A rule whose `||`
//! alternatives each require such a field (the same one or not) is marked by
//! any of them. Rules without such a requirement are always candidates. The full predicate still decides, so
//! the index changes speed only, never results.

use crate::eval::{Comparison, Context, Matcher, Operand, Predicate};
use crate::fields::{Accessor, ProcessScope, Value};

/// A rule's necessary condition: a field and the literal prefixes of the
/// patterns it must match.
struct Approver {
    accessor: Accessor,
    prefixes: Vec<String>,
}

#[derive(Default)]
struct TrieNode {
    children: Vec<(u8, u32)>,
    rules: Vec<u32>,
}

/// The prefixes of every rule that requires one field.
struct FieldTrie {
    accessor: Accessor,
    nodes: Vec<TrieNode>,
}

impl FieldTrie {
    fn insert(&mut self, prefix: &str, rule: u32) {
        let mut node = 0usize;
        for byte in prefix.bytes() {
            let found = self.nodes[node]
                .children
                .iter()
                .find(|(b, _)| *b == byte)
                .map(|(_, child)| *child);
            node = match found {
                Some(child) => child as usize,
                None => {
                    self.nodes.push(TrieNode::default());
                    let child = (self.nodes.len() - 1) as u32;
                    self.nodes[node].children.push((byte, child));
                    child as usize
                }
            };
        }
        if !self.nodes[node].rules.contains(&rule) {
            self.nodes[node].rules.push(rule);
        }
    }

    fn mark_value(&self, value: &str, marks: &mut [bool]) {
        let mut node = 0usize;
        for byte in value.bytes() {
            match self.nodes[node].children.iter().find(|(b, _)| *b == byte) {
                Some((_, child)) => node = *child as usize,
                None => return,
            }
            for rule in &self.nodes[node].rules {
                marks[*rule as usize] = true;
            }
        }
    }

    /// Marks the rules whose prefixes start a value of the field: every
    /// element of a list and, for `process.ancestors.*`, every ancestor.
    fn mark(&self, context: &Context<'_>, marks: &mut [bool]) {
        // The event's own scalar fields are read directly; lists and
        // ancestors go through the general walk over every value.
        let value = match self.accessor {
            Accessor::Event(getter) => getter(context.event),
            Accessor::Process(ProcessScope::Current, getter) => {
                Some(getter(&context.event.process))
            }
            _ => {
                Operand::Field(self.accessor).any_value(context, &mut |value| {
                    if let Value::Str(text) = value {
                        self.mark_value(text, marks);
                    }
                    false
                });
                return;
            }
        };
        match value {
            Some(Value::Str(text)) => self.mark_value(&text, marks),
            Some(Value::List(items)) => {
                for item in items.iter() {
                    self.mark_value(item, marks);
                }
            }
            _ => {}
        }
    }
}

/// Candidate selection for the rules of one event type.
#[derive(Default)]
pub(crate) struct RuleIndex {
    always: Vec<u32>,
    fields: Vec<FieldTrie>,
}

impl std::fmt::Debug for RuleIndex {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "RuleIndex({} always, {} fields)",
            self.always.len(),
            self.fields.len()
        )
    }
}

fn same_accessor(a: &Accessor, b: &Accessor) -> bool {
    match (a, b) {
        (Accessor::Process(scope_a, getter_a), Accessor::Process(scope_b, getter_b)) => {
            scope_a == scope_b && *getter_a as usize == *getter_b as usize
        }
        (Accessor::Event(getter_a), Accessor::Event(getter_b)) => {
            *getter_a as usize == *getter_b as usize
        }
        _ => false,
    }
}

/// Returns the literal prefixes that a comparison requires of its field, or
/// `None` when the comparison is not a plain `in` or `==` on strings and globs.
fn comparison_approver(comparison: &Comparison) -> Option<Approver> {
    if comparison.negate || comparison.all {
        return None;
    }
    let (Operand::Field(accessor), Matcher::Strings(set)) = (&comparison.lhs, &comparison.matcher)
    else {
        return None;
    };
    // A bound ancestor is known only inside the rule's own evaluation.
    if matches!(accessor, Accessor::Process(ProcessScope::Bound, _)) {
        return None;
    }
    Some(Approver {
        accessor: *accessor,
        prefixes: set.prefixes()?,
    })
}

/// Finds approvers of which at least one holds whenever `predicate` is true,
/// with their selectivity: the length of the shortest prefix among them.
///
/// In `&&` the conjunct with the best selectivity is enough. In `||` every
/// alternative needs approvers of its own, and their union approves the
/// whole. A prefix of length 0 approves every value, so it never counts.
fn approvers(predicate: &Predicate) -> Option<(usize, Vec<Approver>)> {
    match predicate {
        Predicate::Compare(comparison) => {
            let approver = comparison_approver(comparison)?;
            let shortest = approver.prefixes.iter().map(String::len).min()?;
            (shortest > 0).then(|| (shortest, vec![approver]))
        }
        Predicate::And(items) => items.iter().filter_map(approvers).fold(
            None,
            |best: Option<(usize, Vec<Approver>)>, found| match best {
                Some(best) if best.0 >= found.0 => Some(best),
                _ => Some(found),
            },
        ),
        Predicate::Or(items) if !items.is_empty() => {
            let mut shortest = usize::MAX;
            let mut union = Vec::new();
            for item in items {
                let (length, found) = approvers(item)?;
                shortest = shortest.min(length);
                union.extend(found);
            }
            Some((shortest, union))
        }
        _ => None,
    }
}

impl RuleIndex {
    /// Builds the index of a list of rule predicates, in rule order.
    pub fn build<'a>(predicates: impl Iterator<Item = &'a Predicate>) -> RuleIndex {
        let mut index = RuleIndex::default();
        for (position, predicate) in predicates.enumerate() {
            let rule = position as u32;
            let Some((_, found)) = approvers(predicate) else {
                index.always.push(rule);
                continue;
            };
            for approver in found {
                index.insert(approver, rule);
            }
        }
        index
    }

    fn insert(&mut self, approver: Approver, rule: u32) {
        let found = self
            .fields
            .iter()
            .position(|trie| same_accessor(&trie.accessor, &approver.accessor));
        let trie_index = found.unwrap_or_else(|| {
            self.fields.push(FieldTrie {
                accessor: approver.accessor,
                nodes: vec![TrieNode::default()],
            });
            self.fields.len() - 1
        });
        for prefix in &approver.prefixes {
            self.fields[trie_index].insert(prefix, rule);
        }
    }

    /// Sets `marks[i]` for each rule `i` that may match the event; `marks`
    /// has one entry per rule and starts all false.
    pub fn mark_candidates(&self, context: &Context<'_>, marks: &mut [bool]) {
        for rule in &self.always {
            marks[*rule as usize] = true;
        }
        for trie in &self.fields {
            trie.mark(context, marks);
        }
    }
}
