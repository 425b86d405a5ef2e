//! `sentrace trace`: run a command under the tracer, or attach to running
//! processes, and send the events to a probe or write them as JSON lines.

use std::ffi::OsString;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use protocol::{Hello, Mode, PROTOCOL_VERSION};
use tracer::engine::{self, TraceConfig, TraceError, WorkloadExit};
use tracer::link::{self, LinkOptions};
use tracer::output::JsonLinesSink;
use tracer::sink::{EventSink, SyscallGate};

use super::workload::{self, TAGS_ENV};

/// Default of `--busy-poll`, in microseconds: longer than the few
/// microseconds a tracee runs between two syscalls of a loop, so that a
/// syscall-heavy phase keeps the tracer polling.
pub const DEFAULT_BUSY_POLL: u64 = 50;

/// The reaction to a probe that cannot be reached in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnProbeUnavailable {
    /// Start the workload anyway and keep retrying in the background.
    Start,
    /// Exit with status 1 without starting the workload.
    Exit,
}

/// Arguments of `sentrace trace`.
#[derive(Debug, clap::Args)]
#[command(arg_required_else_help = true)]
pub struct TraceArgs {
    /// Write events as JSON lines to PATH (`-` for stdout) instead of sending them to a probe.
    #[arg(long, value_name = "PATH|-")]
    pub output: Option<String>,
    /// Address of the probe.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:5678", value_parser = parse_host_port)]
    pub probe_addr: String,
    /// Seconds to wait for the probe's welcome before starting the workload.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub probe_timeout: u64,
    /// Start the workload anyway or exit when the probe cannot be reached within --probe-timeout.
    #[arg(long, value_enum, default_value = "start")]
    pub on_probe_unavailable: OnProbeUnavailable,
    /// Number of unacknowledged events kept for resending to the probe.
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    pub buffer_events: usize,
    /// Seconds between scans of /proc for processes the tracer does not follow;
    /// 0 disables. Default: every second when the tracer is pid 1, else off.
    #[arg(long, value_name = "SECONDS")]
    pub proc_scan_interval: Option<u64>,
    /// File that contains the token the probe requires.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Run the workload as this user id (after setgroups and setgid).
    #[arg(long, value_name = "UID")]
    pub uid: Option<u32>,
    /// Run the workload as this group id.
    #[arg(long, value_name = "GID")]
    pub gid: Option<u32>,
    /// Stop at every syscall instead of installing a seccomp filter.
    #[arg(long)]
    pub disable_seccomp: bool,
    /// Microseconds the tracer polls for the next stop before it sleeps,
    /// while the workload's stops come close together (0: always sleep).
    /// Polling spends tracer CPU to spare each stop the wake-up of an idle
    /// CPU, which costs tens of microseconds on virtual machines.
    #[arg(long, value_name = "MICROSECONDS", default_value_t = DEFAULT_BUSY_POLL)]
    pub busy_poll: u64,
    /// Start the workload at once, without waiting for the probe's welcome.
    #[arg(long = "async")]
    pub start_immediately: bool,
    /// Log tracer decisions and every ptrace stop to stderr.
    #[arg(long)]
    pub verbose: bool,
    /// Tag of the workload, `key:value` or a bare `key` (repeatable). Rules
    /// read the tags as `container.tags`. The comma-separated tags of the
    /// SENTRACE_TAGS environment variable come first.
    #[arg(long = "tag", value_name = "KEY:VALUE", value_parser = workload::parse_tag)]
    pub tags: Vec<String>,
    /// Kubernetes user of the session every traced process runs in (a
    /// `kubectl exec`), as a UserInfo object:
    /// '{"username":"alice","uid":"42","groups":["dev"],"extra":{"key":["value"]}}'.
    /// Rules read it as `process.user_session.k8s_username`, `k8s_uid`,
    /// `k8s_groups` and `k8s_extra`.
    #[arg(long, value_name = "JSON")]
    pub k8s_user_session: Option<String>,
    /// Attach to this process and all its threads (repeatable) instead of running a command.
    #[arg(long = "pid", value_name = "PID", conflicts_with = "command")]
    pub pids: Vec<u32>,
    /// The command to run, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Runs `sentrace trace` and returns the workload's exit status.
pub fn run(args: TraceArgs) -> anyhow::Result<u8> {
    // Before the probe link starts, so a signal meanwhile cannot kill the tracer.
    engine::install_signal_forwarding();
    init_logging(args.verbose);
    if args.command.is_empty() && args.pids.is_empty() {
        anyhow::bail!("nothing to trace: give a command after `--` or --pid PID");
    }
    let session_id = new_session_id();
    let tags = workload::collect_tags(&args.tags, std::env::var(TAGS_ENV).ok().as_deref())?;
    let user_session = match &args.k8s_user_session {
        Some(json) => Some(Arc::new(workload::parse_user_session(json, &session_id)?)),
        None => None,
    };
    let mut config = TraceConfig {
        syscalls: None,
        signals: None,
        opens: Default::default(),
        disable_seccomp: args.disable_seccomp,
        uid: args.uid,
        gid: args.gid,
        verbose: args.verbose,
        user_session,
        busy_poll: Duration::from_micros(args.busy_poll),
    };
    let (mut sink, gate): (Box<dyn EventSink>, Option<Box<dyn SyscallGate>>) = match &args.output {
        Some(path) => (open_output(path, tags)?, None),
        None => {
            let (sink, welcomed) = link::connect(link_options(&args, session_id, tags)?)?;
            config.syscalls = welcomed.syscalls;
            config.signals = welcomed.signals;
            config.opens = welcomed.opens;
            (sink, welcomed.deny_gate)
        }
    };
    let result = if args.pids.is_empty() {
        engine::wrap(&args.command, &config, sink.as_mut(), gate.as_deref())
    } else {
        engine::attach(&args.pids, &config, sink.as_mut(), gate.as_deref())
    };
    sink.flush();
    exit_status(result)
}

/// The signal that killed the workload, 0 while none did.
static WORKLOAD_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Returns the signal that killed the traced workload, if one did. The
/// `sentrace` process ends by the same signal, so that its parent gets the
/// status it would get without the tracer.
pub fn workload_signal() -> Option<i32> {
    match WORKLOAD_SIGNAL.load(Ordering::Relaxed) {
        0 => None,
        signal => Some(signal),
    }
}

/// Maps the engine's result to the exit status, printing shell-style
/// messages for commands that cannot run.
fn exit_status(result: Result<WorkloadExit, TraceError>) -> anyhow::Result<u8> {
    match result {
        Ok(exit) => {
            if let WorkloadExit::Signaled(signal) = exit {
                WORKLOAD_SIGNAL.store(signal, Ordering::Relaxed);
            }
            Ok(exit.status_code())
        }
        Err(error @ TraceError::CommandNotFound { .. }) => {
            eprintln!("sentrace: {error}");
            Ok(127)
        }
        Err(error @ TraceError::NotExecutable { .. }) => {
            eprintln!("sentrace: {error}");
            Ok(126)
        }
        Err(error) => Err(error.into()),
    }
}

/// Opens the `--output` sink, which writes the tags into each event's
/// `process.container.tags`, as a probe would set them.
fn open_output(path: &str, tags: Vec<String>) -> anyhow::Result<Box<dyn EventSink>> {
    let writer: Box<dyn Write + Send> = if path == "-" {
        Box::new(std::io::stdout())
    } else {
        Box::new(File::create(path).with_context(|| format!("creating output file {path}"))?)
    };
    Ok(Box::new(JsonLinesSink::new(writer).with_tags(tags)))
}

fn link_options(
    args: &TraceArgs,
    session_id: String,
    tags: Vec<String>,
) -> anyhow::Result<LinkOptions> {
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading token file {}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let (mode, entrypoint) = if args.pids.is_empty() {
        let argv = args
            .command
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        (Mode::Wrap, argv)
    } else {
        (Mode::Attach, args.pids.iter().map(u32::to_string).collect())
    };
    let hello = Hello {
        version: PROTOCOL_VERSION,
        session_id,
        mode,
        hostname: nix::unistd::gethostname()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        container_id: engine::snapshot_process(std::process::id())
            .map(|me| me.container.id)
            .unwrap_or_default(),
        pid_ns: pid_namespace_inode(),
        entrypoint,
        token,
        tags,
    };
    let mut options = LinkOptions::new(args.probe_addr.clone(), hello);
    options.probe_timeout = Duration::from_secs(args.probe_timeout);
    options.exit_if_unavailable = args.on_probe_unavailable == OnProbeUnavailable::Exit;
    options.start_immediately = args.start_immediately;
    options.buffer_events = args.buffer_events;
    if let Some(seconds) = args.proc_scan_interval {
        options.proc_scan_interval = (seconds > 0).then(|| Duration::from_secs(seconds));
    }
    Ok(options)
}

/// A random session id from the kernel's UUID generator.
fn new_session_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|uuid| uuid.trim().to_string())
        .unwrap_or_else(|_| format!("{}-{}", std::process::id(), protocol::time::now_rfc3339()))
}

fn pid_namespace_inode() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid")
        .map(|metadata| metadata.ino())
        .unwrap_or(0)
}

/// Logs to stderr at warn level, debug with --verbose, or as `SENTRACE_LOG`
/// sets; colors only on a terminal.
fn init_logging(verbose: bool) {
    let default = if verbose { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SENTRACE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Checks that an address is `HOST:PORT` with a port from 1 to 65535; the
/// host is resolved when the link connects.
pub(crate) fn parse_host_port(value: &str) -> Result<String, String> {
    let Some((host, port)) = value.rsplit_once(':') else {
        return Err(format!(
            "invalid address {value:?}: expected HOST:PORT, such as 127.0.0.1:5678"
        ));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("invalid address {value:?}: the host is missing"));
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(value.to_string()),
        _ => Err(format!(
            "invalid address {value:?}: the port must be a number from 1 to 65535"
        )),
    }
}
