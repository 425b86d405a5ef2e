//! `sentrace rules`: check policy files, list the fields rules can use, and
//! list the syscalls a policy needs.

use std::path::PathBuf;

use anyhow::Context;
use rules::{LoadReport, Policy, RuleStatus};

/// Arguments of `sentrace rules`.
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RulesCommand {
    /// Load policy files and print the state of each rule; exits 1 when a rule is in error.
    Check(CheckArgs),
    /// Print every field rules can use, its type and the event types that carry it.
    Fields,
    /// Print the sorted, comma-separated x86_64 syscall names that the active
    /// rules of a policy need (the syscalls `sentrace trace` stops on).
    Syscalls(SyscallsArgs),
}

/// Output format of `sentrace rules check`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Policy files, loaded together; later rules override earlier ones with the same id.
    /// Without files, the built-in policy is checked.
    files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct SyscallsArgs {
    /// Policy file. Repeat the option to load several files together, and later rules
    /// override earlier ones with the same id. Without it, the built-in policy is used.
    #[arg(long = "policy", value_name = "FILE")]
    policies: Vec<PathBuf>,
}

/// Runs `sentrace rules`.
pub fn run(args: RulesArgs) -> anyhow::Result<u8> {
    match args.command {
        RulesCommand::Check(check) => run_check(check),
        RulesCommand::Fields => {
            print_fields();
            Ok(0)
        }
        RulesCommand::Syscalls(syscalls) => run_syscalls(syscalls),
    }
}

fn run_syscalls(args: SyscallsArgs) -> anyhow::Result<u8> {
    let policy = if args.policies.is_empty() {
        Policy::builtin()
    } else {
        let (policy, _) =
            Policy::load_files(&args.policies).context("failed to load the policy")?;
        policy
    };
    let names = protocol::syscalls::syscalls_for_kinds(policy.event_types());
    println!("{}", names.join(","));
    Ok(0)
}

fn run_check(args: CheckArgs) -> anyhow::Result<u8> {
    let report: LoadReport = if args.files.is_empty() {
        Policy::builtin().report().clone()
    } else {
        let (_, report) = Policy::load_files(&args.files).context("failed to load the policy")?;
        report
    };
    match args.format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!("{}", report.to_json()),
    }
    let failed = report
        .rules
        .iter()
        .any(|rule| rule.status == RuleStatus::Error);
    Ok(u8::from(failed))
}

fn print_fields() {
    let table = rules::field_table();
    let width = table.iter().map(|row| row.name.len()).max().unwrap_or(0);
    println!("{:<width$}  {:<11}  EVENT TYPES", "FIELD", "TYPE");
    for row in table {
        println!(
            "{:<width$}  {:<11}  {}",
            row.name, row.field_type, row.events
        );
    }
}
