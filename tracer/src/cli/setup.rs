//! `sentrace setup`.

/// Arguments of `sentrace setup`.
#[derive(Debug, clap::Args)]
pub struct SetupArgs {}

/// Runs `sentrace setup`.
pub fn run(_args: SetupArgs) -> anyhow::Result<u8> {
    anyhow::bail!("sentrace setup is not available in this build")
}
