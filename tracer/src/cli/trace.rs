//! `sentrace trace`.

/// Arguments of `sentrace trace`.
#[derive(Debug, clap::Args)]
pub struct TraceArgs {}

/// Runs `sentrace trace`.
pub fn run(_args: TraceArgs) -> anyhow::Result<u8> {
    anyhow::bail!("sentrace trace is not available in this build")
}
