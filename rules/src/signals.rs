//! The signal numbers that a policy's rules may match, so that the tracer
//! stops only at the signal syscalls that can raise an alert.
//!
//! Some workloads signal all the time: PostgreSQL wakes its processes with
//! SIGURG and SIGUSR1, and the Go runtime preempts goroutines with SIGURG.
//! A stop at each of those kill and tgkill calls costs the workload more
//! than any rule gains when no rule reads such a signal.
//!
//! Each rule on `signal` events is evaluated in three-valued logic for every
//! signal number, with the target not the tracer: comparisons that read only
//! `signal.type` and `signal.target.is_tracer` get their value, and any other
//! comparison is unknown. A number is kept when some rule is not false for it.

use protocol::{Event, EventBody, Process, SignalEvent, SignalRange};

use crate::eval::{Context, Matcher, Operand, Predicate};
use crate::fields::{self, Accessor, EventGetter};
use crate::variables::Variables;

/// Highest signal number Linux defines (`SIGRTMAX`). The number after it
/// stands for every higher one, which the kernel rejects with EINVAL but a
/// rule such as `signal.type > 31` still matches.
const MAX_SIGNAL: u32 = 64;

/// The fields whose values the synthetic events below fix.
const KNOWN_FIELDS: [&str; 2] = ["signal.type", "signal.target.is_tracer"];

/// Returns the ranges of signal numbers for which some of `predicates` may
/// be true when the target is not the tracer, or `None` when every number
/// may match.
pub(crate) fn interest<'a>(
    predicates: impl Iterator<Item = &'a Predicate>,
) -> Option<Vec<SignalRange>> {
    let predicates: Vec<&Predicate> = predicates.collect();
    let known: Vec<EventGetter> = KNOWN_FIELDS
        .iter()
        .filter_map(|name| match fields::resolve(name)?.accessor {
            Accessor::Event(getter) => Some(getter),
            _ => None,
        })
        .collect();
    let variables = Variables::default();
    let may_match: Vec<bool> = (0..=MAX_SIGNAL + 1)
        .map(|number| {
            let event = signal_event(number);
            let context = Context {
                event: &event,
                ancestors: &[],
                variables: &variables,
                bound: None,
            };
            let leaf = |leaf: &Predicate| known_value(leaf, &context, &known);
            predicates
                .iter()
                .any(|predicate| predicate.partial_eval(&leaf) != Some(false))
        })
        .collect();
    if may_match.iter().all(|matched| *matched) {
        return None;
    }
    Some(ranges(&may_match))
}

/// Builds a signal event with number `number` whose target is not the tracer.
fn signal_event(number: u32) -> Event {
    Event {
        timestamp: String::new(),
        process: Process::default(),
        body: EventBody::Signal {
            signal: SignalEvent {
                signal_type: number,
                ..SignalEvent::default()
            },
        },
    }
}

/// Returns the value of a comparison or boolean field that reads only the
/// known fields, `None` for any other.
fn known_value(leaf: &Predicate, context: &Context<'_>, known: &[EventGetter]) -> Option<bool> {
    let reads_known = match leaf {
        Predicate::Compare(comparison) => {
            !matches!(comparison.matcher, Matcher::Dynamic(..))
                && reads_only(&comparison.lhs, known)
        }
        Predicate::Truthy(operand) => reads_only(operand, known),
        _ => false,
    };
    reads_known.then(|| leaf.eval(context))
}

/// Returns true when `operand` reads no field but the `known` ones.
fn reads_only(operand: &Operand, known: &[EventGetter]) -> bool {
    match operand {
        Operand::Field(Accessor::Event(getter)) => known
            .iter()
            .any(|known| std::ptr::fn_addr_eq(*known, *getter)),
        Operand::Int(_) | Operand::Str(_) | Operand::Bool(_) => true,
        Operand::IntOp(_, left, right) => reads_only(left, known) && reads_only(right, known),
        Operand::Length(inner) => reads_only(inner, known),
        Operand::Field(_) | Operand::Variable(_) | Operand::Concat(_) | Operand::UniqueId => false,
    }
}

/// Turns the flags of numbers 0 to `MAX_SIGNAL + 1` into ranges. The last
/// flag extends its range to `u32::MAX`.
fn ranges(may_match: &[bool]) -> Vec<SignalRange> {
    let mut ranges: Vec<SignalRange> = Vec::new();
    for (number, matched) in (0u32..).zip(may_match) {
        if !matched {
            continue;
        }
        let last = if number > MAX_SIGNAL {
            u32::MAX
        } else {
            number
        };
        match ranges.last_mut() {
            Some(range) if range.last + 1 == number => range.last = last,
            _ => ranges.push(SignalRange {
                first: number,
                last,
            }),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interest_of(expressions: &[&str]) -> Option<Vec<SignalRange>> {
        crate::policy::policy_of_expressions(expressions).signal_interest()
    }

    fn range(first: u32, last: u32) -> SignalRange {
        SignalRange { first, last }
    }

    #[test]
    fn no_signal_rule_needs_no_signal() {
        assert_eq!(
            interest_of(&["open.file.path == \"/etc/shadow\""]),
            Some(vec![])
        );
    }

    #[test]
    fn tracer_only_rule_needs_no_number() {
        assert_eq!(
            interest_of(&["signal.target.is_tracer && signal.pid > 0 && signal.type != 0"]),
            Some(vec![])
        );
    }

    #[test]
    fn comparisons_on_type_narrow_the_numbers() {
        assert_eq!(
            interest_of(&["signal.type > 31"]),
            Some(vec![range(32, u32::MAX)])
        );
        assert_eq!(
            interest_of(&["signal.type in [SIGKILL, SIGSTOP] && process.file.name == \"sh\""]),
            Some(vec![range(9, 9), range(19, 19)])
        );
        assert_eq!(
            interest_of(&["signal.type == 9", "signal.type == 10 || signal.type == 11"]),
            Some(vec![range(9, 11)])
        );
    }

    #[test]
    fn unknown_parts_keep_every_number() {
        assert_eq!(interest_of(&["signal.target.comm == \"postgres\""]), None);
        assert_eq!(
            interest_of(&["!(signal.type == 9 && process.file.name == \"sh\")"]),
            None
        );
        assert_eq!(
            interest_of(&["signal.type == 9 || process.file.name == \"sh\""]),
            None
        );
    }

    #[test]
    fn negation_of_known_part_narrows() {
        assert_eq!(
            interest_of(&["signal.type != 23 && signal.type != 0 && signal.type <= 64"]),
            Some(vec![range(1, 22), range(24, 64)])
        );
    }
}
