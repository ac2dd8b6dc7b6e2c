//! Which AWS to talk to: the local emulator (`--local`), an explicit
//! endpoint (`--endpoint`, or `AWS_ENDPOINT_URL` from the environment), or
//! the real account from the usual AWS configuration.
//!
//! Every "is this an emulator?" question (confirmation before changing an
//! account, test credentials, the endpoint handed to local functions,
//! whether an unsupported operation is a skip or a failure) is answered by
//! [`Target::is_emulator`], so the flag and the environment variable cannot
//! disagree.

use anyhow::Context;
use archform_emulator::{EmulatorKind, daemon};
use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig};
use aws_credential_types::Credentials;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::OnceLock;

/// The variable AWS tools (the CLI, the SDKs, LocalStack's docs) use to send
/// every service's calls to one endpoint.
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL";
/// The SDKs' switch to ignore configured endpoint URLs; archform honours it
/// the same way, so it never treats an ignored endpoint as the target.
pub const IGNORE_ENDPOINTS_ENV: &str = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS";

#[derive(Debug, clap::Args, Clone)]
pub struct TargetArgs {
    /// Use the local emulator started by `archform emulator start` (moto,
    /// or LocalStack when only that one is running).
    #[arg(long, conflicts_with = "endpoint")]
    pub local: bool,
    /// Send every AWS call to this endpoint (an emulator or a proxy).
    /// Without it, a non-empty AWS_ENDPOINT_URL is used the same way.
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

/// Where a command's AWS calls go, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The real AWS account from the usual configuration.
    Aws,
    /// `--local`: an emulator started by `archform emulator start`.
    Local { kind: EmulatorKind, url: String },
    /// `--endpoint URL`.
    Flag(String),
    /// `AWS_ENDPOINT_URL`, with neither `--local` nor `--endpoint`.
    Env(String),
}

impl Endpoint {
    /// The URL every call goes to, for anything but the real account.
    pub fn url(&self) -> Option<&str> {
        match self {
            Endpoint::Aws => None,
            Endpoint::Local { url, .. } | Endpoint::Flag(url) | Endpoint::Env(url) => Some(url),
        }
    }

    /// What to tell the user about a target they did not spell out on the
    /// command line (`None` when the flags say it all).
    fn note(&self) -> Option<String> {
        match self {
            Endpoint::Local { kind, url } => Some(format!(
                "--local: using the {} emulator at {url}",
                kind_label(*kind)
            )),
            Endpoint::Env(url) => Some(format!(
                "using {ENDPOINT_ENV}={url} like --endpoint: an emulator, test credentials, \
                 no confirmation (unset it or set {IGNORE_ENDPOINTS_ENV}=true to target AWS)"
            )),
            Endpoint::Aws | Endpoint::Flag(_) => None,
        }
    }
}

fn kind_label(kind: EmulatorKind) -> &'static str {
    match kind {
        EmulatorKind::Moto => "moto",
        EmulatorKind::LocalStack => "LocalStack",
    }
}

/// Why no target could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "--local: no local emulator is running{stale}: start one with `archform emulator start` \
         (moto) or `archform emulator start --kind localstack`"
    )]
    NoEmulator {
        /// The emulators whose state file is left but that do not answer.
        stale: String,
    },
    #[error("--local: cannot read the state of the local emulators")]
    Daemon(#[from] archform_emulator::Error),
    #[error("no AWS region: pass --region, set AWS_REGION, or use --local for the emulator")]
    NoRegion,
}

pub struct Target {
    pub config: SdkConfig,
    pub endpoint: Endpoint,
}

impl Target {
    /// An emulator or explicit endpoint: no confirmation, test credentials,
    /// and an operation it lacks is skipped rather than failed.
    pub fn is_emulator(&self) -> bool {
        self.endpoint != Endpoint::Aws
    }
}

/// Retries with backoff on throttling and 5xx: AWS throttles bursts of
/// parallel creates, and the engine runs up to 16 at once.
fn retry() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(10)
        .with_initial_backoff(std::time::Duration::from_millis(200))
}

/// `--local`: the running emulator archform started, moto first (it covers
/// every kind; LocalStack host mode only some).
pub fn running_emulator(
    status: impl Fn(EmulatorKind) -> archform_emulator::Result<daemon::DaemonStatus>,
) -> Result<Endpoint, TargetError> {
    let mut stale = Vec::new();
    for kind in [EmulatorKind::Moto, EmulatorKind::LocalStack] {
        match status(kind)? {
            daemon::DaemonStatus::Running(s) => {
                return Ok(Endpoint::Local {
                    kind,
                    url: s.endpoint,
                });
            }
            daemon::DaemonStatus::Stale { reason, .. } => {
                stale.push(format!("{} ({reason})", kind_label(kind)))
            }
            daemon::DaemonStatus::NotRunning => {}
        }
    }
    Err(TargetError::NoEmulator {
        stale: match stale.is_empty() {
            true => String::new(),
            false => format!(" (not answering: {})", stale.join(", ")),
        },
    })
}

/// The target the flags and the environment (`env`) select; `--local` asks
/// `status` which emulators are running.
pub fn choose(
    args: &TargetArgs,
    env: impl Fn(&str) -> Option<String>,
    status: impl Fn(EmulatorKind) -> archform_emulator::Result<daemon::DaemonStatus>,
) -> Result<Endpoint, TargetError> {
    if args.local {
        return running_emulator(status);
    }
    if let Some(url) = &args.endpoint {
        return Ok(Endpoint::Flag(url.clone()));
    }
    let ignored = env(IGNORE_ENDPOINTS_ENV).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    match env(ENDPOINT_ENV).filter(|u| !u.trim().is_empty()) {
        Some(url) if !ignored => Ok(Endpoint::Env(url.trim().to_string())),
        _ => Ok(Endpoint::Aws),
    }
}

pub async fn resolve(args: &TargetArgs, region: Option<&str>) -> anyhow::Result<Target> {
    let endpoint = choose(args, |k| std::env::var(k).ok(), daemon::status)?;
    announce(&endpoint);
    if let Some(url) = endpoint.url() {
        // Set on the shared config like `--endpoint`: AWS_ENDPOINT_URL_<SERVICE>
        // variables still win for their service, as the SDK documents.
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
        return Ok(Target { config, endpoint });
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
        return Err(TargetError::NoRegion.into());
    }
    Ok(Target { config, endpoint })
}

/// Says once per run which target was picked when the command line does not
/// show it (a command may resolve twice: for the state and for resources).
fn announce(endpoint: &Endpoint) {
    static SAID: OnceLock<()> = OnceLock::new();
    if let Some(note) = endpoint.note()
        && SAID.set(()).is_ok()
    {
        crate::output::note(&note, &target_json(endpoint));
    }
}

fn target_json(endpoint: &Endpoint) -> serde_json::Value {
    let (source, emulator) = match endpoint {
        Endpoint::Aws => ("aws", None),
        Endpoint::Local { kind, .. } => ("local", Some(kind.as_str())),
        Endpoint::Flag(_) => ("endpoint", None),
        Endpoint::Env(_) => ("env", None),
    };
    serde_json::json!({
        "event": "target",
        "source": source,
        "emulator": emulator,
        "endpoint": endpoint.url(),
    })
}

/// Before changing a real account: show which one and ask, unless --yes.
pub fn confirm(account: &str, region: &str, what: &str, yes: bool) -> anyhow::Result<()> {
    eprintln!("About to {what} in AWS account {account}, region {region}.");
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("refusing to change a real AWS account without confirmation: pass --yes");
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
        anyhow::bail!("cancelled")
    }
}

#[cfg(test)]
mod tests;
