//! Candidate selection: skips rules that cannot match an event before any of
//! their predicates run.
//!
//! Most rules require a string field (a path, a file name) to be in a set of
//! strings and globs. The literal prefix of each such pattern (up to the first
//! `*`) goes into a byte trie per field. Walking the event's value through the
//! trie marks the rules whose patterns could match. Rules without such a
//! requirement are always candidates. The full predicate still decides, so
//! the index changes speed only, never results.

use crate::eval::{Context, Matcher, Operand, Predicate};
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
        Operand::Field(self.accessor).any_value(context, &mut |value| {
            if let Value::Str(text) = value {
                self.mark_value(text, marks);
            }
            false
        });
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

/// Finds the conjunct whose patterns have the longest shortest prefix.
fn approver(predicate: &Predicate) -> Option<Approver> {
    let items = match predicate {
        Predicate::And(items) => items.as_slice(),
        other => std::slice::from_ref(other),
    };
    let mut best: Option<(usize, Approver)> = None;
    for item in items {
        let Predicate::Compare(comparison) = item else {
            continue;
        };
        if comparison.negate || comparison.all {
            continue;
        }
        let (Operand::Field(accessor), Matcher::Strings(set)) =
            (&comparison.lhs, &comparison.matcher)
        else {
            continue;
        };
        // A bound ancestor is known only inside the rule's own evaluation.
        if matches!(accessor, Accessor::Process(ProcessScope::Bound, _)) {
            continue;
        }
        let Some(prefixes) = set.prefixes() else {
            continue;
        };
        let shortest = prefixes.iter().map(String::len).min().unwrap_or(0);
        if shortest > 0 && best.as_ref().is_none_or(|(length, _)| shortest > *length) {
            best = Some((
                shortest,
                Approver {
                    accessor: *accessor,
                    prefixes,
                },
            ));
        }
    }
    best.map(|(_, approver)| approver)
}

impl RuleIndex {
    /// Builds the index of a list of rule predicates, in rule order.
    pub fn build<'a>(predicates: impl Iterator<Item = &'a Predicate>) -> RuleIndex {
        let mut index = RuleIndex::default();
        for (position, predicate) in predicates.enumerate() {
            let rule = position as u32;
            let Some(approver) = approver(predicate) else {
                index.always.push(rule);
                continue;
            };
            let found = index
                .fields
                .iter()
                .position(|trie| same_accessor(&trie.accessor, &approver.accessor));
            let trie_index = found.unwrap_or_else(|| {
                index.fields.push(FieldTrie {
                    accessor: approver.accessor,
                    nodes: vec![TrieNode::default()],
                });
                index.fields.len() - 1
            });
            for prefix in &approver.prefixes {
                index.fields[trie_index].insert(prefix, rule);
            }
        }
        index
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
