//! `sentrace rules`.

/// Arguments of `sentrace rules`.
#[derive(Debug, clap::Args)]
pub struct RulesArgs {}

/// Runs `sentrace rules`.
pub fn run(_args: RulesArgs) -> anyhow::Result<u8> {
    anyhow::bail!("sentrace rules is not available in this build")
}
