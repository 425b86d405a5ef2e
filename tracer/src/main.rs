//! The `sentrace` command: tracer, probe, the two in one process, and rule tools.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// Runtime threat detection for Linux without eBPF.
#[derive(Debug, Parser)]
#[command(name = "sentrace", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run or attach to a workload under ptrace and stream its security events.
    Trace(cli::trace::TraceArgs),
    /// Copy this binary into a shared volume (what an init container runs).
    Setup(cli::setup::SetupArgs),
    /// Receive events from tracers, evaluate rules, raise alerts and send actions.
    Probe(cli::probe::ProbeArgs),
    /// Trace a workload with an embedded probe and print alerts.
    Run(cli::run::RunArgs),
    /// Check policy files and list rule fields.
    Rules(cli::rules::RulesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Trace(args) => cli::trace::run(args),
        Command::Setup(args) => cli::setup::run(args),
        Command::Probe(args) => cli::probe::run(args),
        Command::Run(args) => cli::run::run(args),
        Command::Rules(args) => {
            // Listings end quietly when the reader goes away (`| head`).
            // SAFETY: setting a signal disposition has no memory effects, and
            // no other thread exists yet.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
            cli::rules::run(args)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("sentrace: {error:#}");
            ExitCode::from(1)
        }
    }
}
