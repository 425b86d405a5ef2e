//! `sentrace probe`.

/// Arguments of `sentrace probe`.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {}

/// Runs `sentrace probe`.
pub fn run(_args: ProbeArgs) -> anyhow::Result<u8> {
    anyhow::bail!("sentrace probe is not available in this build")
}
