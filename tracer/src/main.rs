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

/// Ends this process by `signal`, as the workload ended. Returns when the
/// signal does not end it: as pid 1 of a namespace, which the kernel does
/// not let a signal without a handler end, the caller exits with 128 plus
/// the number instead.
fn die_by(signal: i32) {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: these calls change this process's signal disposition, signal
    // mask and core size limit only, with valid pointers to local values.
    unsafe {
        // The workload's crash is not the tracer's: no core file of sentrace.
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_CORE, &mut limit) == 0 {
            limit.rlim_cur = 0;
            libc::setrlimit(libc::RLIMIT_CORE, &limit);
        }
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
    }
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
    if let (Ok(_), Some(signal)) = (&result, cli::trace::workload_signal()) {
        die_by(signal);
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("sentrace: {error:#}");
            ExitCode::from(1)
        }
    }
}
