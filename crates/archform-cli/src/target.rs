//! Which AWS to talk to: the local emulator (`--local`), an explicit
//! endpoint, or the real account from the usual AWS configuration.

use anyhow::{Context, bail};
use archform_emulator::{EmulatorKind, daemon};
use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig};
use aws_credential_types::Credentials;
use std::io::{BufRead, IsTerminal, Write};

#[derive(Debug, clap::Args, Clone)]
pub struct TargetArgs {
    /// Use the local emulator started by `archform emulator start`.
    #[arg(long, conflicts_with = "endpoint")]
    pub local: bool,
    /// Send every AWS call to this endpoint (an emulator or a proxy).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// AWS profile for a real account.
    #[arg(long)]
    pub profile: Option<String>,
    /// Do not ask before changing a real AWS account.
    #[arg(long)]
    pub yes: bool,
    /// Where state files live.
    #[arg(long, default_value = ".archform/state", value_name = "DIR")]
    pub state_dir: std::path::PathBuf,
    /// Where state lives: `s3://bucket/prefix` (locked with a lock object,
    /// writes guarded by ETag) or a directory; overrides --state-dir.
    #[arg(long, env = "ARCHFORM_STATE", value_name = "s3://BUCKET/PREFIX|DIR")]
    pub state: Option<String>,
}

pub struct Target {
    pub config: SdkConfig,
    /// An emulator or explicit endpoint: no confirmation, test credentials.
    pub local: bool,
}

/// Retries with backoff on throttling and 5xx: AWS throttles bursts of
/// parallel creates, and the engine runs up to 16 at once.
fn retry() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(10)
        .with_initial_backoff(std::time::Duration::from_millis(200))
}

pub async fn resolve(args: &TargetArgs, region: Option<&str>) -> anyhow::Result<Target> {
    let endpoint = if args.local {
        match daemon::status(EmulatorKind::Moto)? {
            daemon::DaemonStatus::Running(s) => Some(s.endpoint),
            _ => bail!("no local emulator is running: start one with `archform emulator start`"),
        }
    } else {
        args.endpoint.clone()
    };
    if let Some(url) = endpoint {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.unwrap_or("us-east-1").to_string()))
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "archform-local",
            ))
            .endpoint_url(url)
            .retry_config(retry())
            .load()
            .await;
        return Ok(Target {
            config,
            local: true,
        });
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry());
    if let Some(p) = &args.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        bail!("no AWS region: pass --region, set AWS_REGION, or use --local for the emulator");
    }
    Ok(Target {
        config,
        local: false,
    })
}

/// Before changing a real account: show which one and ask, unless --yes.
pub fn confirm(account: &str, region: &str, what: &str, yes: bool) -> anyhow::Result<()> {
    eprintln!("About to {what} in AWS account {account}, region {region}.");
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to change a real AWS account without confirmation: pass --yes");
    }
    eprint!("Continue? [y/N] ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the answer")?;
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        bail!("cancelled")
    }
}
