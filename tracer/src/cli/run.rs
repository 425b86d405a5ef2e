//! `sentrace run`.

/// Arguments of `sentrace run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {}

/// Runs `sentrace run`.
pub fn run(_args: RunArgs) -> anyhow::Result<u8> {
    anyhow::bail!("sentrace run is not available in this build")
}
