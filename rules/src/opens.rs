//! The opens that a policy's rules may match, as conditions on what the
//! tracer has at syscall entry: the canonical path, its base name and the
//! flags.
//!
//! A compiler or a database opens thousands of files that no rule names,
//! and each open reported costs the workload an exit stop and the probe an
//! evaluation. Most open rules name their files, so each rule on `open`
//! events yields approvers, conditions that every event it matches meets:
//!
//! - a comparison of `open.file.path` or `open.file.name` with strings,
//!   globs or regular expressions (`==`, `in`, `=~`), not negated;
//! - `open.flags & MASK` compared so that it cannot be zero (`> 0`,
//!   `!= 0`, `== MASK`);
//! - for `&&`, the conditions of its operands together;
//! - for `||`, the alternatives of every operand.
//!
//! A rule without approvers (a negation, a field known only at exit, a
//! process field alone) makes every open interesting: the interest is then
//! `None`.

use std::collections::HashSet;

use protocol::{OpenApprover, OpenInterest, PatternSet};
use regex::Regex;

use crate::eval::{Matcher, Operand, Predicate};
use crate::fields::{self, Accessor, EventGetter};
use crate::parse::{CmpOp, IntOp};

/// The event getters of the fields that approvers read.
struct KnownFields {
    path: EventGetter,
    name: EventGetter,
    flags: EventGetter,
}

impl KnownFields {
    fn resolve() -> Option<KnownFields> {
        let getter = |name: &str| match fields::resolve(name)?.accessor {
            Accessor::Event(getter) => Some(getter),
            _ => None,
        };
        Some(KnownFields {
            path: getter("open.file.path")?,
            name: getter("open.file.name")?,
            flags: getter("open.flags")?,
        })
    }
}

/// Returns the opens that some of `predicates` (the rules on `open` events)
/// may match, or `None` when any open may match.
pub(crate) fn interest<'a>(
    predicates: impl Iterator<Item = &'a Predicate>,
) -> Option<OpenInterest> {
    let known = KnownFields::resolve()?;
    let mut alternatives: Vec<OpenApprover> = Vec::new();
    for predicate in predicates {
        for alternative in approvers(predicate, &known)? {
            if !alternatives.contains(&alternative) {
                alternatives.push(alternative);
            }
        }
    }
    Some(OpenInterest { alternatives })
}

/// Returns alternatives, one of which every event matching `predicate`
/// meets, or `None` when no such conditions are found. An empty list means
/// the predicate matches no event.
fn approvers(predicate: &Predicate, known: &KnownFields) -> Option<Vec<OpenApprover>> {
    match predicate {
        Predicate::Const(false) => Some(Vec::new()),
        Predicate::Or(items) => {
            let mut alternatives = Vec::new();
            for item in items {
                alternatives.extend(approvers(item, known)?);
            }
            Some(alternatives)
        }
        Predicate::And(items) => conjunction(items, known),
        Predicate::Compare(comparison) => leaf(
            &comparison.lhs,
            &comparison.matcher,
            comparison.negate,
            known,
        )
        .map(|approver| vec![approver]),
        _ => None,
    }
}

/// Merges the conditions of the operands of `&&`. The single-alternative
/// operands are merged into one approver, and the first operand with several
/// alternatives is distributed over it. Leaving out the conditions of other
/// operands only widens the result, which keeps it sound.
fn conjunction(items: &[Predicate], known: &KnownFields) -> Option<Vec<OpenApprover>> {
    let mut merged: Option<OpenApprover> = None;
    let mut several: Option<Vec<OpenApprover>> = None;
    for item in items {
        let Some(alternatives) = approvers(item, known) else {
            continue;
        };
        match alternatives.len() {
            // An operand that matches nothing makes the conjunction match nothing.
            0 => return Some(Vec::new()),
            1 => {
                let alternative = alternatives.into_iter().next()?;
                merged = Some(match merged {
                    Some(existing) => merge(existing, alternative),
                    None => alternative,
                });
            }
            _ => {
                several.get_or_insert(alternatives);
            }
        }
    }
    match (merged, several) {
        (Some(merged), Some(several)) => Some(
            several
                .into_iter()
                .map(|alternative| merge(alternative, merged.clone()))
                .collect(),
        ),
        (Some(merged), None) => Some(vec![merged]),
        (None, several) => several,
    }
}

fn merge(mut left: OpenApprover, right: OpenApprover) -> OpenApprover {
    left.paths.extend(right.paths);
    left.names.extend(right.names);
    left.flags.extend(right.flags);
    left
}

/// Returns the condition that a comparison sets on the path, the name or
/// the flags, or `None` when it sets none of them.
fn leaf(
    lhs: &Operand,
    matcher: &Matcher,
    negate: bool,
    known: &KnownFields,
) -> Option<OpenApprover> {
    match (lhs, matcher) {
        (Operand::Field(Accessor::Event(getter)), Matcher::Strings(set)) if !negate => {
            if std::ptr::fn_addr_eq(*getter, known.path) {
                Some(OpenApprover {
                    paths: vec![set.source().clone()],
                    ..OpenApprover::default()
                })
            } else if std::ptr::fn_addr_eq(*getter, known.name) {
                Some(OpenApprover {
                    names: vec![set.source().clone()],
                    ..OpenApprover::default()
                })
            } else {
                None
            }
        }
        (Operand::IntOp(IntOp::And, left, right), matcher) if excludes_zero(matcher, negate) => {
            let mask = match (left.as_ref(), right.as_ref()) {
                (Operand::Field(Accessor::Event(getter)), Operand::Int(mask))
                | (Operand::Int(mask), Operand::Field(Accessor::Event(getter)))
                    if std::ptr::fn_addr_eq(*getter, known.flags) =>
                {
                    u32::try_from(*mask).ok()?
                }
                _ => return None,
            };
            Some(OpenApprover {
                flags: vec![mask],
                ..OpenApprover::default()
            })
        }
        _ => None,
    }
}

/// Returns true when a value that `matcher` accepts, or rejects when
/// `negate` is set, cannot be zero. `x != 0` compiles to a negated `{0}`.
fn excludes_zero(matcher: &Matcher, negate: bool) -> bool {
    if negate {
        return matches!(matcher, Matcher::IntSet(values) if values.contains(&0));
    }
    match matcher {
        Matcher::IntCmp(CmpOp::Gt, value) => *value >= 0,
        Matcher::IntCmp(CmpOp::Ge, value) => *value >= 1,
        Matcher::IntCmp(CmpOp::Lt, value) => *value <= 0,
        Matcher::IntCmp(CmpOp::Le, value) => *value <= -1,
        Matcher::IntSet(values) => !values.is_empty() && !values.contains(&0),
        _ => false,
    }
}

/// An [`OpenInterest`] prepared for matching at every open.
#[derive(Debug, Clone)]
pub struct OpenFilter {
    /// The path sets of the alternatives that set only a path, in one set.
    any_path: Option<Patterns>,
    /// The name sets of the alternatives that set only a name, in one set.
    any_name: Option<Patterns>,
    /// The other alternatives.
    others: Vec<CompiledApprover>,
}

#[derive(Debug, Clone)]
struct CompiledApprover {
    paths: Vec<Patterns>,
    names: Vec<Patterns>,
    flags: Vec<u32>,
}

impl OpenFilter {
    /// Prepares the sets of `interest`. Fails on an invalid regular
    /// expression.
    pub fn new(interest: &OpenInterest) -> Result<OpenFilter, String> {
        let mut path_only = PatternSet::default();
        let mut name_only = PatternSet::default();
        let mut others = Vec::new();
        for alternative in &interest.alternatives {
            match (
                alternative.paths.as_slice(),
                alternative.names.as_slice(),
                alternative.flags.is_empty(),
            ) {
                ([path], [], true) => extend(&mut path_only, path),
                ([], [name], true) => extend(&mut name_only, name),
                _ => others.push(CompiledApprover {
                    paths: compile_all(&alternative.paths, true)?,
                    names: compile_all(&alternative.names, false)?,
                    flags: alternative.flags.clone(),
                }),
            }
        }
        Ok(OpenFilter {
            any_path: compile_unless_empty(&path_only, true)?,
            any_name: compile_unless_empty(&name_only, false)?,
            others,
        })
    }

    /// Returns true when an open of the canonical `path` with `flags` may
    /// match a rule.
    pub fn may_match(&self, path: &str, flags: u32) -> bool {
        let name = protocol::base_name(path);
        self.any_path.as_ref().is_some_and(|set| set.contains(path))
            || self.any_name.as_ref().is_some_and(|set| set.contains(name))
            || self.others.iter().any(|approver| {
                approver.flags.iter().all(|mask| flags & mask != 0)
                    && approver.paths.iter().all(|set| set.contains(path))
                    && approver.names.iter().all(|set| set.contains(name))
            })
    }
}

/// A [`PatternSet`] prepared for matching without a regular expression
/// engine for its globs: the tracer checks every open against it, and a
/// compiled regular expression of a policy's globs costs it megabytes.
/// It matches as the rules' own sets do (`glob_to_regex`).
#[derive(Debug, Clone)]
struct Patterns {
    exact: HashSet<String>,
    globs: Vec<Vec<GlobPart>>,
    regexes: Option<Regex>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobPart {
    Literal(String),
    /// `*`: any text, but no `/` in a path.
    Star,
    /// `**` in a path: any text.
    AnyText,
}

impl Patterns {
    fn new(set: &PatternSet, path: bool) -> Result<Patterns, String> {
        let regexes = if set.regexes.is_empty() {
            None
        } else {
            let alternatives: Vec<String> = set
                .regexes
                .iter()
                .map(|regex| format!("(?:{regex})"))
                .collect();
            let regex = regex::RegexBuilder::new(&alternatives.join("|"))
                .size_limit(32 << 20)
                .build()
                .map_err(|error| error.to_string())?;
            Some(regex)
        };
        Ok(Patterns {
            exact: set.exact.iter().cloned().collect(),
            globs: set
                .globs
                .iter()
                .map(|glob| glob_parts(glob, path))
                .collect(),
            regexes,
        })
    }

    fn contains(&self, value: &str) -> bool {
        self.exact.contains(value)
            || self.globs.iter().any(|glob| glob_matches(glob, value))
            || self
                .regexes
                .as_ref()
                .is_some_and(|regex| regex.is_match(value))
    }
}

/// Splits a glob into literals and stars. Outside paths every star matches
/// any text.
fn glob_parts(glob: &str, path: bool) -> Vec<GlobPart> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = glob.chars().peekable();
    while let Some(character) = chars.next() {
        if character != '*' {
            literal.push(character);
            continue;
        }
        let mut double = false;
        while chars.peek() == Some(&'*') {
            chars.next();
            double = true;
        }
        if !literal.is_empty() {
            parts.push(GlobPart::Literal(std::mem::take(&mut literal)));
        }
        parts.push(if path && !double {
            GlobPart::Star
        } else {
            GlobPart::AnyText
        });
    }
    if !literal.is_empty() {
        parts.push(GlobPart::Literal(literal));
    }
    parts
}

/// Returns true when the whole of `text` matches `parts`.
fn glob_matches(parts: &[GlobPart], text: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return text.is_empty();
    };
    match first {
        GlobPart::Literal(literal) => text
            .strip_prefix(literal.as_str())
            .is_some_and(|after| glob_matches(rest, after)),
        GlobPart::Star | GlobPart::AnyText => {
            let crosses_slash = *first == GlobPart::AnyText;
            for (index, character) in text.char_indices() {
                if glob_matches(rest, &text[index..]) {
                    return true;
                }
                if character == '/' && !crosses_slash {
                    return false;
                }
            }
            glob_matches(rest, "")
        }
    }
}

fn extend(target: &mut PatternSet, source: &PatternSet) {
    target.exact.extend(source.exact.iter().cloned());
    target.globs.extend(source.globs.iter().cloned());
    target.regexes.extend(source.regexes.iter().cloned());
}

fn compile_all(sets: &[PatternSet], path: bool) -> Result<Vec<Patterns>, String> {
    sets.iter().map(|set| Patterns::new(set, path)).collect()
}

fn compile_unless_empty(set: &PatternSet, path: bool) -> Result<Option<Patterns>, String> {
    if set.exact.is_empty() && set.globs.is_empty() && set.regexes.is_empty() {
        return Ok(None);
    }
    Patterns::new(set, path).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    fn policy_of(expressions: &[&str]) -> Policy {
        crate::policy::policy_of_expressions(expressions)
    }

    fn filter_of(expressions: &[&str]) -> Option<OpenFilter> {
        let interest = policy_of(expressions).open_interest()?;
        Some(OpenFilter::new(&interest).expect("sets compile"))
    }

    const O_WRONLY: u32 = 0o1;
    const O_RDWR: u32 = 0o2;
    const O_CREAT: u32 = 0o100;

    #[test]
    fn no_open_rule_needs_no_open() {
        let filter = filter_of(&["exec.file.path == \"/bin/sh\""]).unwrap();
        assert!(!filter.may_match("/etc/shadow", 0));
    }

    #[test]
    fn path_and_name_rules_select_their_files() {
        let filter = filter_of(&[
            "open.file.path == \"/etc/shadow\"",
            "open.file.path in [~\"/etc/sudoers.d/*\", \"/etc/sudoers\"]",
            "open.file.name =~ \"*.pem\" && process.comm != \"nginx\"",
        ])
        .unwrap();
        assert!(filter.may_match("/etc/shadow", 0));
        assert!(filter.may_match("/etc/sudoers.d/admins", 0));
        assert!(filter.may_match("/srv/tls/key.pem", 0));
        assert!(!filter.may_match("/etc/hostname", 0));
        assert!(!filter.may_match("/etc/sudoers.d/x/y", 0));
    }

    #[test]
    fn flag_conditions_narrow_a_path() {
        let filter = filter_of(&[
            "open.file.path =~ \"/etc/*\" && open.flags & (O_WRONLY | O_RDWR) > 0",
            "open.flags & O_CREAT != 0 && open.file.name == \"authorized_keys\"",
        ])
        .unwrap();
        assert!(!filter.may_match("/etc/passwd", 0));
        assert!(filter.may_match("/etc/passwd", O_WRONLY));
        assert!(!filter.may_match("/root/.ssh/authorized_keys", O_WRONLY));
        assert!(filter.may_match("/root/.ssh/authorized_keys", O_CREAT | O_WRONLY));
    }

    #[test]
    fn flags_alone_select_by_flags() {
        let filter = filter_of(&["open.flags & O_CREAT > 0 && process.comm == \"x\""]).unwrap();
        assert!(filter.may_match("/anything", O_CREAT));
        assert!(!filter.may_match("/anything", 0));
    }

    #[test]
    fn disjunction_keeps_each_side() {
        let filter = filter_of(&[
            "(open.file.path == \"/a\" || open.file.name == \"b\") && open.flags & O_CREAT > 0",
        ])
        .unwrap();
        assert!(filter.may_match("/a", O_CREAT));
        assert!(filter.may_match("/x/b", O_CREAT));
        assert!(!filter.may_match("/a", 0));
        assert!(!filter.may_match("/x/c", O_CREAT));
    }

    #[test]
    fn regular_expressions_are_searched() {
        let filter = filter_of(&["open.file.path =~ r\"\\.ssh/id_[a-z]+$\""]).unwrap();
        assert!(filter.may_match("/home/a/.ssh/id_rsa", 0));
        assert!(!filter.may_match("/home/a/.ssh/config", 0));
    }

    #[test]
    fn rules_without_approvers_keep_every_open() {
        assert!(filter_of(&["open.file.path != \"/tmp/x\""]).is_none());
        assert!(filter_of(&["open.retval == -13"]).is_none());
        assert!(filter_of(&["open.file.path == \"/a\" || process.comm == \"b\""]).is_none());
        assert!(filter_of(&["!(open.file.path == \"/a\")"]).is_none());
        assert!(filter_of(&["open.flags & O_CREAT == 0"]).is_none());
        assert!(filter_of(&[
            "open.file.path == \"/a\"",
            "process.comm == \"b\" && open.flags > 0"
        ])
        .is_none());
    }

    /// The tracer's glob matcher agrees with the rules' compiled sets.
    #[test]
    fn patterns_match_as_rule_sets() {
        use crate::glob::StrSet;
        let globs = [
            "/etc/*",
            "/etc/**",
            "/home/*/.ssh/id_*",
            "*.pem",
            "/var/log/**/x",
            "**",
            "/a*b*c",
            "/usr/bin/*",
            "/tmp/**",
            "*/bin/*",
            "/proc/*/environ",
            "a**b",
        ];
        let values = [
            "/etc/passwd",
            "/etc/ssh/sshd_config",
            "/home/ann/.ssh/id_rsa",
            "/home/ann/x/.ssh/id_rsa",
            "/srv/key.pem",
            "/srv/tls/key.pem",
            "/var/log/x",
            "/var/log/a/b/x",
            "/abc",
            "/a/b/c",
            "/aXbYc",
            "/usr/bin/ls",
            "/usr/bin/sub/ls",
            "/tmp",
            "/tmp/",
            "/tmp/a\nb",
            "/x/bin/y",
            "/proc/12/environ",
            "/proc/12/task/1/environ",
            "ab",
            "a/b",
            "",
            "/",
            "é/ü*",
        ];
        for path in [true, false] {
            for glob in globs {
                let source = PatternSet {
                    globs: vec![glob.to_string()],
                    ..PatternSet::default()
                };
                let light = Patterns::new(&source, path).unwrap();
                let reference = StrSet::from_source(&source, path).unwrap();
                for value in values {
                    assert_eq!(
                        light.contains(value),
                        reference.contains(value),
                        "glob {glob:?} on {value:?}, path field: {path}"
                    );
                }
            }
        }
    }

    #[test]
    fn builtin_policy_skips_plain_reads() {
        let policy = Policy::builtin();
        let filter = OpenFilter::new(&policy.open_interest().expect("approvers")).unwrap();
        assert!(!filter.may_match("/etc/hostname", 0));
        assert!(!filter.may_match("/usr/lib/x86_64-linux-gnu/libc.so.6", 0o2000000));
        assert!(filter.may_match("/etc/shadow", 0));
        assert!(filter.may_match("/etc/hostname", O_WRONLY));
        assert!(filter.may_match("/tmp/new", O_CREAT | O_WRONLY));
    }

    /// Every event that a rule matches passes the filter: checked on a table
    /// of paths and flags against the rules' own evaluation.
    #[test]
    fn filter_never_drops_a_match() {
        let expressions = [
            "open.file.path in [\"/etc/shadow\", ~\"/etc/ssh/*\"] && open.flags & O_WRONLY > 0",
            "open.file.name in [\"id_rsa\", ~\"*.key\"] || open.file.path =~ \"/root/**\"",
            "open.flags & O_CREAT > 0 && open.file.path =~ \"/usr/bin/*\"",
        ];
        let policy = policy_of(&expressions);
        let filter = OpenFilter::new(&policy.open_interest().unwrap()).unwrap();
        let paths = [
            "/etc/shadow",
            "/etc/ssh/sshd_config",
            "/etc/passwd",
            "/home/a/id_rsa",
            "/srv/server.key",
            "/root/deep/dir/file",
            "/usr/bin/ls",
            "/usr/bin/sub/ls",
            "/tmp/x",
        ];
        let flag_sets = [0, O_WRONLY, O_CREAT | O_WRONLY, O_RDWR];
        for path in paths {
            for flags in flag_sets {
                let event = protocol::Event {
                    timestamp: String::new(),
                    process: protocol::Process::default(),
                    body: protocol::EventBody::Open {
                        open: protocol::OpenEvent {
                            file: protocol::File::from_path(path.to_string()),
                            flags,
                            ..protocol::OpenEvent::default()
                        },
                    },
                };
                let matched = !policy
                    .evaluate(&event, &[], &mut crate::Variables::default())
                    .is_empty();
                let passed = filter.may_match(path, flags);
                assert!(
                    !matched || passed,
                    "{path} with flags {flags:#o} matched but was dropped"
                );
            }
        }
    }
}
