//! What each emulator is, how to launch it on a free loopback port, and how
//! to tell when it is ready. Shared by the owned ([`crate::OwnedEmulator`])
//! and detached ([`crate::daemon`]) modes, which differ only in how the
//! process is spawned and who stops it.

use std::fmt;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cache_dir::{cache_subdir, create_dir_all};
use crate::error::{Error, IoContext, Result};
use crate::http_probe::{http_get, parse_http_endpoint};
use crate::log_tail::tail_of_file;
use crate::process;
use crate::python_venv::{PythonTool, ensure_venv};

/// Emulators only ever listen on loopback: they accept any credentials.
pub(crate) const LOOPBACK: &str = "127.0.0.1";

/// A local AWS emulator archform can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmulatorKind {
    /// moto server: the widest service coverage; the default.
    Moto,
    /// LocalStack 4.12.0 community, host mode.
    LocalStack,
}

impl EmulatorKind {
    /// `"moto"` or `"localstack"`, as used in file names and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Moto => "moto",
            Self::LocalStack => "localstack",
        }
    }

    /// The path that answers 200 only when this emulator is up. Each is
    /// specific: moto treats `/_localstack/health` as an S3 bucket (404), and
    /// LocalStack treats `/moto-api/` the same way.
    pub fn health_path(self) -> &'static str {
        match self {
            Self::Moto => "/moto-api/",
            Self::LocalStack => "/_localstack/health",
        }
    }

    /// How long a start may take before it is reported as failed. Generous,
    /// because tests often start emulators while cargo keeps both cores busy.
    /// `ARCHFORM_EMULATOR_START_TIMEOUT` (seconds) overrides it.
    pub fn start_timeout(self) -> Duration {
        let from_env = std::env::var("ARCHFORM_EMULATOR_START_TIMEOUT")
            .ok()
            .and_then(|secs| secs.trim().parse().ok());
        Duration::from_secs(from_env.unwrap_or(match self {
            Self::Moto => 60,
            Self::LocalStack => 180,
        }))
    }

    pub(crate) fn tool(self) -> PythonTool {
        match self {
            Self::Moto => PythonTool::Moto,
            Self::LocalStack => PythonTool::LocalStack,
        }
    }

    /// Whether this emulator answers its health check on `host:port`.
    pub(crate) fn is_healthy_at(self, host: &str, port: u16) -> bool {
        let Ok(reply) = http_get(host, port, self.health_path(), Duration::from_secs(2)) else {
            return false;
        };
        match self {
            Self::Moto => reply.status == 200,
            // Any 200 is not enough: make sure it is LocalStack's health document.
            Self::LocalStack => {
                reply.status == 200
                    && serde_json::from_str::<serde_json::Value>(&reply.body)
                        .is_ok_and(|doc| doc.get("services").is_some())
            }
        }
    }
}

impl fmt::Display for EmulatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EmulatorKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "moto" => Ok(Self::Moto),
            "localstack" => Ok(Self::LocalStack),
            other => Err(format!(
                "unknown emulator {other:?}: expected moto or localstack"
            )),
        }
    }
}

/// Which emulator answers at `endpoint`, by probing each one's health path;
/// `None` for anything else (real AWS, an unknown server, nothing listening).
/// Tests use it to skip, with a printed reason, what a backend lacks.
pub fn endpoint_kind(endpoint: &str) -> Option<EmulatorKind> {
    let (host, port) = parse_http_endpoint(endpoint).ok()?;
    // LocalStack first: moto answers its health path with a plain 404.
    [EmulatorKind::LocalStack, EmulatorKind::Moto]
        .into_iter()
        .find(|kind| kind.is_healthy_at(&host, port))
}

/// `http://127.0.0.1:PORT`
pub(crate) fn endpoint_url(port: u16) -> String {
    format!("http://{LOOPBACK}:{port}")
}

/// Who stops the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ownership {
    /// Dies with the owning value and with this process.
    Owned,
    /// Outlives this process; stopped through the daemon state file.
    Detached,
}

/// A launched emulator that answered its health check.
#[derive(Debug)]
pub(crate) struct Launched {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) log_path: PathBuf,
    pub(crate) run_dir: PathBuf,
}

/// How many ports to try: another process can take the port between our
/// probe bind and the emulator's own bind.
const PORT_ATTEMPTS: usize = 3;

/// Installs the emulator if needed, starts it on a free port and waits until
/// it is healthy. On failure the process is killed and the error carries the
/// tail of its log.
pub(crate) fn launch(kind: EmulatorKind, ownership: Ownership) -> Result<Launched> {
    let venv = ensure_venv(kind.tool())?;
    let logs = cache_subdir("logs")?;
    let runs = cache_subdir("run")?;
    let mut attempt = 1;
    loop {
        let port = free_loopback_port()?;
        // Owned instances are per process and port; the daemon has one fixed
        // name per kind, so its log is where `archform emulator status` says.
        let name = match ownership {
            Ownership::Owned => format!("{kind}-owned-{}-{port}", std::process::id()),
            Ownership::Detached => format!("{kind}-daemon"),
        };
        let log_path = logs.join(format!("{name}.log"));
        let run_dir = runs.join(&name);
        if ownership == Ownership::Owned && run_dir.exists() {
            // Left over from an earlier process that had the same pid.
            let _ = std::fs::remove_dir_all(&run_dir);
        }
        create_dir_all(&run_dir)?;
        let command = emulator_command(kind, &venv, port, &run_dir, &log_path)?;
        let spawned = match ownership {
            Ownership::Owned => process::spawn_owned(command),
            Ownership::Detached => process::spawn_detached(command),
        };
        let mut child = spawned.context(|| format!("starting {kind}"))?;
        match wait_healthy(kind, port, &mut child, &log_path, kind.start_timeout()) {
            Ok(()) => {
                return Ok(Launched {
                    child,
                    port,
                    log_path,
                    run_dir,
                });
            }
            Err(err) => {
                process::signal_group(child.id(), libc::SIGKILL);
                let _ = child.wait();
                let port_taken = matches!(&err, Error::EmulatorExited { tail, .. }
                    if tail.contains("in use"));
                if port_taken && attempt < PORT_ATTEMPTS {
                    attempt += 1;
                    continue;
                }
                return Err(err);
            }
        }
    }
}

/// Asks the kernel for a free port by binding port 0 on loopback.
fn free_loopback_port() -> Result<u16> {
    let listener = TcpListener::bind((LOOPBACK, 0)).context(|| "binding a free port".to_owned())?;
    Ok(listener
        .local_addr()
        .context(|| "reading the bound port".to_owned())?
        .port())
}

/// The command line and environment for one emulator instance.
fn emulator_command(
    kind: EmulatorKind,
    venv: &Path,
    port: u16,
    run_dir: &Path,
    log_path: &Path,
) -> Result<Command> {
    let mut command = Command::new(kind.tool().executable(venv));
    match kind {
        EmulatorKind::Moto => {
            command.args(["-H", LOOPBACK, "-p", &port.to_string()]);
        }
        EmulatorKind::LocalStack => {
            command
                .args(["-m", "localstack.runtime.main"])
                .env("GATEWAY_LISTEN", format!("{LOOPBACK}:{port}"))
                // URLs LocalStack hands out (SQS queue URLs and the like) must
                // point here; the default host name needs public DNS.
                .env("LOCALSTACK_HOST", format!("{LOOPBACK}:{port}"))
                .env("SQS_ENDPOINT_STRATEGY", "path")
                // Its DNS server would want port 53 and is not needed.
                .env("DNS_ADDRESS", "0")
                // No internet here: do not try to fetch a TLS certificate.
                .env("SKIP_SSL_CERT_DOWNLOAD", "1")
                // No analytics calls to the internet either.
                .env("DISABLE_EVENTS", "1")
                // Inside a container LocalStack decides it runs in its own image
                // and writes to /etc, /usr/lib, /var/lib and /tmp; host mode keeps
                // everything under FILESYSTEM_ROOT.
                .env("OVERRIDE_IN_DOCKER", "0")
                .env("FILESYSTEM_ROOT", run_dir);
        }
    }
    let log = File::create(log_path).context(|| format!("creating {}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .context(|| format!("opening {}", log_path.display()))?;
    command
        .current_dir(run_dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    Ok(command)
}

/// Polls the health path until it answers, the process exits, or `timeout` passes.
fn wait_healthy(
    kind: EmulatorKind,
    port: u16,
    child: &mut Child,
    log_path: &Path,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().context(|| format!("checking on {kind}"))? {
            return Err(Error::EmulatorExited {
                kind,
                status: status.to_string(),
                log: log_path.to_owned(),
                tail: tail_of_file(log_path, 25),
            });
        }
        if kind.is_healthy_at(LOOPBACK, port) {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(Error::EmulatorTimeout {
                kind,
                secs: timeout.as_secs(),
                log: log_path.to_owned(),
                tail: tail_of_file(log_path, 25),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_strings_and_json() {
        for kind in [EmulatorKind::Moto, EmulatorKind::LocalStack] {
            assert_eq!(kind.as_str().parse::<EmulatorKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(
            "LocalStack".parse::<EmulatorKind>().unwrap(),
            EmulatorKind::LocalStack
        );
        assert!("docker".parse::<EmulatorKind>().is_err());
    }

    #[test]
    fn free_ports_are_real_ports() {
        assert_ne!(free_loopback_port().unwrap(), 0);
    }
}
