//! Measures rule evaluation throughput on one core.
//!
//! Replays a recorded event stream (`rules/benches/events.jsonl`, recorded
//! with `sentrace trace --output` on a shell workload) through
//! `Policy::evaluate` with the Datadog default policy and the built-in policy
//! loaded together, then with each alone, and prints events per second.
//! Ancestors are resolved before timing, as the probe's process tree would.
//!
//! Run: `cargo run --release -p sentrace-rules --example bench [EVENTS.jsonl] [SECONDS]`
//!
//! With `--replays N` as the only argument after the optional events file, it
//! replays the stream exactly N times against both policies and prints the
//! matches, so that an instruction count (`valgrind --tool=callgrind
//! --toggle-collect='*Policy*evaluate*'`) is the same from run to run.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use protocol::{Event, Process};
use sentrace_rules::{Policy, Variables, BUILTIN_POLICY};

const DEFAULT_EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/events.jsonl");
const DATADOG_POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/rulesets/datadog_default.policy"
);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let replays = match args.iter().position(|arg| arg == "--replays") {
        Some(at) => {
            let count = args.get(at + 1).ok_or("--replays needs a count")?.parse()?;
            args.drain(at..at + 2);
            Some(count)
        }
        None => None,
    };
    let mut args = args.into_iter();
    let events_path = args.next().unwrap_or_else(|| DEFAULT_EVENTS.to_string());
    let seconds: f64 = args
        .next()
        .map(|text| text.parse())
        .transpose()?
        .unwrap_or(3.0);
    let events: Vec<Event> = std::fs::read_to_string(&events_path)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let lineages = resolve_ancestors(&events);
    let datadog = std::fs::read_to_string(DATADOG_POLICY)?;
    let builtin = ("builtin".to_string(), BUILTIN_POLICY.to_string());
    let both = [("datadog".to_string(), datadog.clone()), builtin.clone()];
    println!("{} events from {events_path}", events.len());
    if let Some(count) = replays {
        let (policy, report) = Policy::load_sources(&both)?;
        let matches = replay(&policy, &events, &lineages, count);
        println!(
            "{} active rules, {count} replays, {matches} matches in all",
            report.summary().active
        );
        return Ok(());
    }
    for (name, sources) in [
        ("datadog + builtin", both.to_vec()),
        ("datadog", vec![("datadog".to_string(), datadog)]),
        ("builtin", vec![builtin]),
    ] {
        let (policy, report) = Policy::load_sources(&sources)?;
        let (rate, matches) = measure(
            &policy,
            &events,
            &lineages,
            Duration::from_secs_f64(seconds),
        );
        println!(
            "{name:<18} {:>4} active rules  {:>12.0} events per CPU second  ({matches} matches per replay)",
            report.summary().active,
            rate
        );
    }
    let (policy, _) = Policy::load_sources(&both)?;
    println!("by event type, datadog + builtin:");
    for kind in protocol::EventKind::ALL {
        let chosen: Vec<usize> = (0..events.len())
            .filter(|i| events[*i].kind() == kind)
            .collect();
        if chosen.is_empty() {
            continue;
        }
        let subset: Vec<Event> = chosen.iter().map(|i| events[*i].clone()).collect();
        let subset_lineages: Vec<Vec<Process>> =
            chosen.iter().map(|i| lineages[*i].clone()).collect();
        let (rate, _) = measure(
            &policy,
            &subset,
            &subset_lineages,
            Duration::from_secs_f64(seconds / 4.0),
        );
        println!(
            "  {kind:<12} {:>5} events  {rate:>12.0} events per CPU second",
            subset.len()
        );
    }
    Ok(())
}

/// Returns the ancestors of each event's process, parent first, from the
/// processes seen in earlier events.
fn resolve_ancestors(events: &[Event]) -> Vec<Vec<Process>> {
    let mut tree: HashMap<u32, Process> = HashMap::new();
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        let mut lineage = Vec::new();
        let mut pid = event.process.ppid;
        while let Some(parent) = tree.get(&pid) {
            if lineage.len() >= 64 || parent.pid == event.process.pid {
                break;
            }
            lineage.push(parent.clone());
            pid = parent.ppid;
        }
        out.push(lineage);
        tree.insert(event.process.pid, event.process.clone());
    }
    out
}

/// Returns the CPU time this process has used, from `/proc/self/stat`
/// (utime + stime in clock ticks, 100 per second on Linux x86_64 and arm64).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Replays the stream `count` times and returns the number of matches.
fn replay(policy: &Policy, events: &[Event], lineages: &[Vec<Process>], count: u32) -> usize {
    let mut matches = 0;
    for _ in 0..count {
        let mut variables = Variables::default();
        for (event, lineage) in events.iter().zip(lineages) {
            matches += policy.evaluate(event, lineage, &mut variables).len();
        }
    }
    matches
}

/// Replays the stream until `duration` has passed. Returns events per CPU
/// second, so that other load on the machine lowers the figure less, and the
/// matches of the last replay.
fn measure(
    policy: &Policy,
    events: &[Event],
    lineages: &[Vec<Process>],
    duration: Duration,
) -> (f64, usize) {
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let mut evaluated = 0u64;
    let mut matches = 0;
    while start.elapsed() < duration {
        let mut variables = Variables::default();
        matches = 0;
        for (event, lineage) in events.iter().zip(lineages) {
            matches += policy.evaluate(event, lineage, &mut variables).len();
        }
        evaluated += events.len() as u64;
    }
    let cpu = (cpu_seconds() - cpu_start).max(0.01);
    (evaluated as f64 / cpu, matches)
}
