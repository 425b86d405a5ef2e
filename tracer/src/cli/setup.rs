//! `sentrace setup`: copy this binary into a volume shared with the workload
//! container, which is what an init container runs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::Context;

/// Arguments of `sentrace setup`.
#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// Directory to copy the binary into, as `DIR/sentrace` with mode 0755.
    #[arg(long, value_name = "DIR")]
    pub volume: PathBuf,
}

/// Copies `/proc/self/exe` to `DIR/sentrace`. The copy goes to a temporary
/// name first and is renamed, so a workload never runs a half-written binary.
pub fn run(args: SetupArgs) -> anyhow::Result<u8> {
    let target = args.volume.join("sentrace");
    let partial = args.volume.join(".sentrace.partial");
    fs::copy("/proc/self/exe", &partial)
        .with_context(|| format!("copying the sentrace binary to {}", partial.display()))?;
    fs::set_permissions(&partial, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("setting mode 0755 on {}", partial.display()))?;
    fs::rename(&partial, &target)
        .with_context(|| format!("renaming {} to {}", partial.display(), target.display()))?;
    println!("sentrace: copied to {}", target.display());
    Ok(0)
}
