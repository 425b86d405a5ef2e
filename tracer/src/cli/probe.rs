//! `sentrace probe`: receive events from tracers, evaluate the policy, raise
//! alerts and send actions, until SIGTERM or SIGINT. SIGHUP, or a change to
//! a policy file, reloads the policy; a policy with errors is logged and the
//! running one stays.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use probe::{
    load_policy, load_policy_skipping_errors, Limits, ProbeConfig, ProbeHandle, SharedRules,
    SinkSpec, DEFAULT_SESSION_RATE,
};
use tokio::signal::unix::{signal, SignalKind};

/// How often policy files are checked for changes.
const POLICY_POLL: Duration = Duration::from_secs(2);

/// Arguments of `sentrace probe`.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// Address to listen on for tracers.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5678")]
    pub listen: String,
    /// Policy file to load (repeatable); default: the built-in policy.
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Alert sink (repeatable): stdout, file:PATH, http://URL or https://URL.
    #[arg(long = "alerts", value_name = "SINK", default_value = "stdout")]
    pub alerts: Vec<SinkSpec>,
    /// Address of the HTTP server for GET /metrics and GET /healthz.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    /// File that contains the token tracers must send.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Events per second processed for each tracer session at most.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SESSION_RATE,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub session_rate: u64,
    /// Log each session and action at debug level.
    #[arg(long)]
    pub verbose: bool,
    /// Caps on retained memory, listed last because their help heading
    /// applies to every option after them.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Caps on what the probe keeps in memory. The defaults keep a probe with
/// 1000 live sessions under 128 MiB of RSS.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Memory limits")]
pub struct LimitArgs {
    /// Maximum processes kept across all sessions. Over it, the oldest
    /// disconnected sessions are evicted, then new processes are not kept.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_processes)]
    pub max_processes: usize,
    /// Maximum estimated MiB of sessions and processes kept across all
    /// sessions, enforced like --max-processes.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().max_retained_bytes >> 20)]
    pub max_retained_mib: usize,
    /// Maximum processes kept per session; more are not kept.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_session_processes)]
    pub max_session_processes: usize,
    /// Maximum bytes of arguments kept per process. Longer argument lists
    /// are cut.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_argv_bytes)]
    pub max_argv_bytes: usize,
    /// Maximum disconnected sessions kept for their tracer to come back. The
    /// oldest are evicted first.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_disconnected_sessions)]
    pub max_disconnected_sessions: usize,
    /// Seconds a disconnected session is kept for its tracer to come back.
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().session_retention.as_secs())]
    pub session_retention: u64,
    /// Maximum alerts queued per sink. When the queue is full, the session
    /// with the most queued alerts loses its newest one.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_queued_alerts)]
    pub max_queued_alerts: usize,
    /// Maximum estimated MiB of alerts queued per sink.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().max_queued_alert_bytes >> 20)]
    pub max_queued_alert_mib: usize,
}

impl LimitArgs {
    /// Converts the options to the probe's limits.
    pub fn to_limits(&self) -> Limits {
        Limits {
            max_processes: self.max_processes,
            max_retained_bytes: self.max_retained_mib.saturating_mul(1 << 20),
            max_session_processes: self.max_session_processes,
            max_argv_bytes: self.max_argv_bytes,
            max_disconnected_sessions: self.max_disconnected_sessions,
            session_retention: Duration::from_secs(self.session_retention),
            max_queued_alerts: self.max_queued_alerts,
            max_queued_alert_bytes: self.max_queued_alert_mib.saturating_mul(1 << 20),
        }
    }
}

/// Runs `sentrace probe` until a termination signal.
pub fn run(args: ProbeArgs) -> anyhow::Result<u8> {
    init_logging(if args.verbose { "debug" } else { "info" });
    let (rules, report) =
        load_policy_skipping_errors(&args.policies).context("policy not loaded")?;
    warn_rules_in_error(&report);
    let summary = report.summary();
    tracing::info!(
        active = summary.active,
        unsupported = summary.unsupported,
        "policy loaded"
    );

    let token = match &args.token_file {
        Some(path) => Some(read_token(path)?),
        None => None,
    };
    let config = ProbeConfig {
        listen: args.listen.clone(),
        token,
        sinks: args.alerts.clone(),
        metrics_addr: args.metrics_addr.clone(),
        session_rate: args.session_rate,
    };
    let shared_rules = SharedRules::new(rules);
    let handle =
        ProbeHandle::start_with_limits(config, shared_rules.clone(), args.limits.to_limits())?;
    eprintln!("sentrace probe: listening on {}", handle.local_addr());
    if let Some(addr) = handle.metrics_addr() {
        eprintln!("sentrace probe: metrics on http://{addr}/metrics");
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(wait_for_signals(&args.policies, &shared_rules))?;
    tracing::info!("probe stopping");
    handle.shutdown();
    Ok(0)
}

/// Reads a token file, without its trailing newline.
pub(crate) fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    let token = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read token file {}", path.display()))?;
    let token = token.trim().to_string();
    anyhow::ensure!(!token.is_empty(), "token file {} is empty", path.display());
    Ok(token)
}

/// Waits for SIGTERM or SIGINT, reloading the policy on SIGHUP and when a
/// policy file's modification time changes.
async fn wait_for_signals(paths: &[PathBuf], rules: &SharedRules) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut poll = tokio::time::interval(POLICY_POLL);
    let mut stamps = modification_times(paths);
    loop {
        tokio::select! {
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
            _ = hangup.recv() => {
                tracing::info!("SIGHUP received; reloading the policy");
                reload(paths, rules);
                stamps = modification_times(paths);
            }
            _ = poll.tick() => {
                let current = modification_times(paths);
                if current != stamps {
                    tracing::info!("policy file changed; reloading the policy");
                    stamps = current;
                    reload(paths, rules);
                }
            }
        }
    }
}

fn modification_times(paths: &[PathBuf]) -> Vec<Option<SystemTime>> {
    paths
        .iter()
        .map(|path| {
            std::fs::metadata(path)
                .and_then(|metadata| metadata.modified())
                .ok()
        })
        .collect()
}

fn reload(paths: &[PathBuf], rules: &SharedRules) {
    match load_policy(paths) {
        Ok((new_rules, report)) => {
            let summary = report.summary();
            rules.replace(new_rules);
            tracing::info!(
                active = summary.active,
                unsupported = summary.unsupported,
                "policy reloaded"
            );
        }
        Err(error) => {
            tracing::error!("policy reload failed; the previous policy stays active: {error}")
        }
    }
}

/// Prints the rules left out of the policy because they are in error, with
/// their file, line and column, so that the rest runs without them.
pub(crate) fn warn_rules_in_error(report: &rules::LoadReport) {
    let errors = report.summary().error;
    if errors > 0 {
        eprint!(
            "warning: {errors} rule(s) in error are left out; the other rules are active\n{}",
            report.errors_to_text()
        );
    }
}

/// Sends logs to stderr, with colors only on a terminal; `SENTRACE_LOG`
/// overrides the level.
pub(crate) fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SENTRACE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
