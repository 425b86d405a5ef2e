//! `sentrace run`: trace a command with a probe embedded in the same process
//! and print alerts on stderr. The probe listens on an ephemeral loopback
//! port and the command is traced by `sentrace trace` through the same link
//! a remote probe uses, so both paths run the same code.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;
use probe::{
    load_policy_skipping_errors, Format, ProbeConfig, ProbeHandle, SharedRules, SinkSpec,
    DEFAULT_SESSION_RATE,
};

use super::probe::{init_logging, warn_rules_in_error};
use super::trace::{self, TraceArgs};

/// Seconds the tracer waits for the embedded probe (it is already listening).
const EMBEDDED_PROBE_TIMEOUT: u64 = 10;

/// Format of the alerts printed on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AlertFormat {
    /// One readable line per alert.
    Text,
    /// One JSON object per line.
    Json,
}

/// Arguments of `sentrace run`.
#[derive(Debug, clap::Args)]
#[command(arg_required_else_help = true)]
pub struct RunArgs {
    /// Policy file to load (repeatable); default: the built-in policy.
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// More places for alerts (repeatable): stdout, file:PATH, http://URL or https://URL.
    #[arg(long = "alerts", value_name = "SINK")]
    pub alerts: Vec<SinkSpec>,
    /// Format of the alerts printed on stderr.
    #[arg(long, value_enum, default_value = "text")]
    pub format: AlertFormat,
    /// Log tracer and probe decisions to stderr.
    #[arg(long)]
    pub verbose: bool,
    /// Tag of the workload, `key:value` or a bare `key` (repeatable), as
    /// for `sentrace trace`. Rules read the tags as `container.tags`.
    #[arg(long = "tag", value_name = "KEY:VALUE", value_parser = super::workload::parse_tag)]
    pub tags: Vec<String>,
    /// Kubernetes user of the session the workload runs in, as a UserInfo
    /// object, as for `sentrace trace`.
    #[arg(long, value_name = "JSON")]
    pub k8s_user_session: Option<String>,
    /// Microseconds the tracer polls for the next stop before it sleeps,
    /// as for `sentrace trace` (0: always sleep).
    #[arg(long, value_name = "MICROSECONDS", default_value_t = trace::DEFAULT_BUSY_POLL)]
    pub busy_poll: u64,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Runs `sentrace run` and returns the workload's exit status.
pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    init_logging(if args.verbose { "debug" } else { "warn" });
    let (rules, report) =
        load_policy_skipping_errors(&args.policies).context("policy not loaded")?;
    warn_rules_in_error(&report);
    let format = match args.format {
        AlertFormat::Text => Format::Text,
        AlertFormat::Json => Format::Json,
    };
    let mut sinks = vec![SinkSpec::Stderr(format)];
    sinks.extend(args.alerts.iter().cloned());
    let config = ProbeConfig {
        listen: "127.0.0.1:0".to_string(),
        token: None,
        sinks,
        metrics_addr: None,
        session_rate: DEFAULT_SESSION_RATE,
    };
    let probe = ProbeHandle::start(config, SharedRules::new(rules))?;

    let mut trace_args = trace_args(&probe.local_addr().to_string(), args.verbose, args.command)?;
    trace_args.tags = args.tags;
    trace_args.k8s_user_session = args.k8s_user_session;
    trace_args.busy_poll = args.busy_poll;
    let status = trace::run(trace_args);
    // The link flushed every event; the shutdown waits for the sinks to
    // print the alerts they raised.
    probe.shutdown();
    status
}

/// The `sentrace trace` command line, parsed with the same definitions.
#[derive(clap::Parser)]
struct TraceCommandLine {
    #[command(flatten)]
    trace: TraceArgs,
}

/// Builds the `sentrace trace` arguments for the embedded probe by parsing a
/// command line, so that every other option keeps the trace command's
/// default.
fn trace_args(
    probe_addr: &str,
    verbose: bool,
    command: Vec<OsString>,
) -> anyhow::Result<TraceArgs> {
    let timeout = EMBEDDED_PROBE_TIMEOUT.to_string();
    let mut argv: Vec<OsString> = [
        "sentrace-trace",
        "--probe-addr",
        probe_addr,
        "--probe-timeout",
        &timeout,
    ]
    .iter()
    .map(OsString::from)
    .collect();
    argv.extend(
        [
            "--on-probe-unavailable",
            "exit",
            "--proc-scan-interval",
            "0",
        ]
        .map(OsString::from),
    );
    if verbose {
        argv.push("--verbose".into());
    }
    argv.push("--".into());
    argv.extend(command);
    let parsed = <TraceCommandLine as clap::Parser>::try_parse_from(argv)
        .context("invalid trace arguments")?;
    Ok(parsed.trace)
}
