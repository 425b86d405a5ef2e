//! Random and mutated inputs for the parser and loader: none may panic, and
//! each must end in a result. This runs in every `cargo test`, while the
//! libFuzzer targets under `rules/fuzz` need a nightly toolchain with
//! `cargo fuzz` to run with coverage guidance.

use std::time::{Duration, Instant};

use sentrace_rules::{check_expression, Policy, BUILTIN_POLICY};

/// How long each randomized test runs.
const BUDGET: Duration = Duration::from_secs(2);

/// A xorshift generator: deterministic, so a failure can be replayed from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "open.file.path",
    "exec.argv",
    "process.ancestors.file.name",
    "process.ancestors[A].comm",
    "${process.x}",
    "${x}.length",
    ".length",
    "==",
    "!=",
    "<",
    ">=",
    "=~",
    "!~",
    "in",
    "not",
    "allin",
    "&&",
    "||",
    "!",
    "&",
    "|",
    "^",
    "+",
    "-",
    "(",
    ")",
    "[",
    "]",
    ",",
    "\"a\"",
    "~\"/etc/*\"",
    "r\"^x+$\"",
    "r\"(\"",
    "42",
    "-7",
    "0x1f",
    "0755",
    "5s",
    "10.0.0.0/8",
    "::1",
    "fd00::/8",
    "O_CREAT",
    "S_ISUID",
    "CAP_SYS_ADMIN",
    "true",
    "false",
    "\"",
    "\\",
    " ",
    "\n",
    "é",
    "\u{0}",
];

fn random_expression(rng: &mut Rng) -> String {
    let count = rng.below(24);
    (0..count)
        .map(|_| TOKENS[rng.below(TOKENS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

/// Bytes that a mutation writes over the policy text.
const MUTATION_BYTES: &[u8] = b"()[]\"~!&|=<>,.*$:{} '\n-";

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        let position = rng.below(bytes.len());
        match rng.below(3) {
            0 => bytes[position] = MUTATION_BYTES[rng.below(MUTATION_BYTES.len())],
            1 => {
                bytes.remove(position);
            }
            _ => {
                let end = (position + rng.below(16)).min(bytes.len());
                let copy = bytes[position..end].to_vec();
                bytes.splice(position..position, copy);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn random_expressions_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let start = Instant::now();
    let mut runs = 0;
    while start.elapsed() < BUDGET {
        let text = random_expression(&mut rng);
        let _ = check_expression(&text);
        runs += 1;
    }
    assert!(runs > 100, "only {runs} expressions in {BUDGET:?}");
}

#[test]
fn mutated_policies_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0002);
    let start = Instant::now();
    let mut loaded = 0;
    while start.elapsed() < BUDGET {
        let text = mutate(&mut rng, BUILTIN_POLICY);
        if Policy::load_sources(&[("mutated.policy".into(), text)]).is_ok() {
            loaded += 1;
        }
    }
    assert!(loaded > 0, "no mutated policy loaded at all");
}

#[test]
fn pathological_inputs_end_in_errors() {
    let deep = format!(
        "{}open.flags == 1{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert!(check_expression(&deep)
        .unwrap_err()
        .contains("nested deeper"));
    let nots = format!("{}open.flags == 1", "!".repeat(10_000));
    assert!(check_expression(&nots).is_err());
    let long_list = format!("open.flags in [{}]", vec!["1"; 150_000].join(","));
    assert!(check_expression(&long_list)
        .unwrap_err()
        .contains("maximum"));
    let huge_number = "open.flags == 99999999999999999999999999";
    assert!(check_expression(huge_number).is_err());
    let duration = "open.flags == 9999999999999999d";
    assert!(check_expression(duration)
        .unwrap_err()
        .contains("too large"));
    let macro_loop = "macros:\n  - id: a\n    expression: b\n  - id: b\n    expression: a\nrules:\n  - id: r\n    expression: a\n";
    let (_, report) = Policy::load_sources(&[("loop.policy".into(), macro_loop.into())]).unwrap();
    assert!(report.rules[0]
        .reason
        .as_deref()
        .unwrap_or_default()
        .contains("nested too deeply"));
}
