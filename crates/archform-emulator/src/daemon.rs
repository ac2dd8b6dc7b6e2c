//! Detached emulators for `archform emulator start|status|stop`: the server
//! keeps running after the command returns, and a state file under the cache
//! (`emulators/<kind>.json`) is how later commands find it.
//!
//! There is at most one daemon per kind. Start and stop hold an exclusive
//! lock on `emulators/<kind>.lock`, so two concurrent starts cannot both
//! launch one.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::cache_dir::cache_subdir;
use crate::emulator::{EmulatorKind, LOOPBACK, Ownership, endpoint_url, launch};
use crate::error::{Error, IoContext, Result};
use crate::process;

/// How long a daemon gets to shut down on SIGTERM before SIGKILL.
/// LocalStack takes a few seconds to stop its services.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// What the state file records about a running daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonState {
    pub kind: EmulatorKind,
    /// Process id; also the process group id, since the daemon leads a new session.
    pub pid: u32,
    pub port: u16,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub log_path: PathBuf,
    pub started_at_unix: u64,
    /// The pid's start time (`/proc/<pid>/stat` field 22) when it was
    /// launched; a different value later means the pid now belongs to
    /// another process, which must not be signalled.
    pub proc_start_ticks: Option<u64>,
}

impl DaemonState {
    /// Whether the recorded process still exists and is the one we started.
    fn process_is_ours(&self) -> bool {
        process::pid_alive(self.pid)
            && (self.proc_start_ticks.is_none()
                || process::proc_start_ticks(self.pid) == self.proc_start_ticks)
    }

    fn is_healthy(&self) -> bool {
        self.kind.is_healthy_at(LOOPBACK, self.port)
    }

    /// Seconds since the daemon started.
    pub fn uptime_secs(&self) -> u64 {
        unix_now().saturating_sub(self.started_at_unix)
    }
}

/// What `status` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonStatus {
    /// The process is alive and answers its health check.
    Running(DaemonState),
    /// No state file: nothing was started, or it was stopped.
    NotRunning,
    /// A state file exists but its process is dead or does not answer.
    Stale { state: DaemonState, reason: String },
}

/// What `start` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    Started(DaemonState),
    /// A healthy daemon of this kind was already running; nothing was started.
    AlreadyRunning(DaemonState),
}

impl StartOutcome {
    pub fn state(&self) -> &DaemonState {
        match self {
            Self::Started(state) | Self::AlreadyRunning(state) => state,
        }
    }
}

/// `<cache>/emulators/<kind>.json`
pub fn state_path(kind: EmulatorKind) -> Result<PathBuf> {
    Ok(cache_subdir("emulators")?.join(format!("{kind}.json")))
}

/// Starts a detached emulator of `kind`, or reports the healthy one that is
/// already running. A stale state file (dead or unresponsive process) is
/// cleaned up first.
pub fn start(kind: EmulatorKind) -> Result<StartOutcome> {
    let _lock = lock(kind)?;
    let path = state_path(kind)?;
    match status_at(&path)? {
        DaemonStatus::Running(state) => return Ok(StartOutcome::AlreadyRunning(state)),
        DaemonStatus::Stale { state, .. } => {
            if state.process_is_ours() {
                process::terminate_group(state.pid, STOP_GRACE);
            }
            remove_state(&path)?;
        }
        DaemonStatus::NotRunning => {}
    }
    let launched = launch(kind, Ownership::Detached)?;
    let pid = launched.child.id();
    let state = DaemonState {
        kind,
        pid,
        port: launched.port,
        endpoint: endpoint_url(launched.port),
        log_path: launched.log_path,
        started_at_unix: unix_now(),
        proc_start_ticks: process::proc_start_ticks(pid),
    };
    if let Err(err) = write_state(&path, &state) {
        // Without a state file nobody could find it to stop it.
        process::terminate_group(pid, STOP_GRACE);
        return Err(err);
    }
    // The Child handle is dropped without waiting: the daemon outlives us.
    Ok(StartOutcome::Started(state))
}

/// Whether a daemon of `kind` is running and healthy.
pub fn status(kind: EmulatorKind) -> Result<DaemonStatus> {
    status_at(&state_path(kind)?)
}

/// Stops the daemon of `kind` (SIGTERM to its process group, SIGKILL after a
/// grace period) and removes its state file. Returns the state of the daemon
/// that was stopped, or `None` if none was running.
pub fn stop(kind: EmulatorKind) -> Result<Option<DaemonState>> {
    let _lock = lock(kind)?;
    let path = state_path(kind)?;
    let Some(state) = read_state(&path)? else {
        return Ok(None);
    };
    let stopped = if state.process_is_ours() {
        process::terminate_group(state.pid, STOP_GRACE);
        Some(state)
    } else {
        None
    };
    remove_state(&path)?;
    Ok(stopped)
}

fn status_at(path: &Path) -> Result<DaemonStatus> {
    let Some(state) = read_state(path)? else {
        return Ok(DaemonStatus::NotRunning);
    };
    if !state.process_is_ours() {
        let reason = format!("process {} is no longer running", state.pid);
        return Ok(DaemonStatus::Stale { state, reason });
    }
    if !state.is_healthy() {
        let reason = format!(
            "process {} is alive but {} does not answer on {}",
            state.pid,
            state.kind.health_path(),
            state.endpoint
        );
        return Ok(DaemonStatus::Stale { state, reason });
    }
    Ok(DaemonStatus::Running(state))
}

/// Exclusive lock for start/stop of one kind; released when the file drops.
fn lock(kind: EmulatorKind) -> Result<File> {
    let path = cache_subdir("emulators")?.join(format!("{kind}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .context(|| format!("opening {}", path.display()))?;
    file.lock()
        .context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

/// Writes via a temporary file and rename, so a reader never sees half a file.
pub(crate) fn write_state(path: &Path, state: &DaemonState) -> Result<()> {
    let json = serde_json::to_string_pretty(state).map_err(|source| Error::StateFile {
        path: path.to_owned(),
        source,
    })?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json + "\n").context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).context(|| format!("renaming {} into place", tmp.display()))
}

/// `None` when there is no state file.
pub(crate) fn read_state(path: &Path) -> Result<Option<DaemonState>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                context: format!("reading {}", path.display()),
                source,
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| Error::StateFile {
            path: path.to_owned(),
            source,
        })
}

fn remove_state(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            context: format!("removing {}", path.display()),
            source: err,
        }),
        _ => Ok(()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("archform-emulator-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn sample_state() -> DaemonState {
        DaemonState {
            kind: EmulatorKind::LocalStack,
            pid: 4242,
            port: 45123,
            endpoint: "http://127.0.0.1:45123".to_owned(),
            log_path: PathBuf::from("/cache/logs/localstack-daemon.log"),
            started_at_unix: 1_700_000_000,
            proc_start_ticks: Some(123_456),
        }
    }

    #[test]
    fn state_file_round_trips() {
        let dir = scratch_dir("state");
        let path = dir.join("localstack.json");
        assert_eq!(read_state(&path).unwrap(), None);
        let state = sample_state();
        write_state(&path, &state).unwrap();
        assert_eq!(read_state(&path).unwrap(), Some(state));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"kind\": \"localstack\""), "{text}");
        remove_state(&path).unwrap();
        remove_state(&path).unwrap();
        assert_eq!(read_state(&path).unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_state_file_is_reported() {
        let dir = scratch_dir("corrupt");
        let path = dir.join("moto.json");
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(read_state(&path), Err(Error::StateFile { .. })));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_dead_pid_makes_the_state_stale() {
        let dir = scratch_dir("stale");
        let path = dir.join("moto.json");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let state = DaemonState {
            kind: EmulatorKind::Moto,
            pid,
            ..sample_state()
        };
        write_state(&path, &state).unwrap();
        assert!(matches!(
            status_at(&path).unwrap(),
            DaemonStatus::Stale { .. }
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
