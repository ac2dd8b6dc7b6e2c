//! An emulator child process owned by a value in this process.
//!
//! It is killed when the value drops and, through `PR_SET_PDEATHSIG`, when
//! this process dies for any reason (panic, SIGKILL, a test harness calling
//! `exit` with statics never dropped), so test runs never leak servers.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, SystemTime};

use crate::cache_dir::cache_root;
use crate::emulator::{EmulatorKind, Ownership, endpoint_url, launch};
use crate::error::Result;
use crate::process;

/// A running emulator that lives no longer than its owner.
#[derive(Debug)]
pub struct OwnedEmulator {
    kind: EmulatorKind,
    port: u16,
    endpoint: String,
    log_path: PathBuf,
    run_dir: PathBuf,
    child: Child,
}

impl OwnedEmulator {
    /// Installs the emulator on first use, starts it on a free loopback port
    /// and returns once it answers its health check.
    pub fn start(kind: EmulatorKind) -> Result<Self> {
        prune_dead_owners_files();
        let launched = launch(kind, Ownership::Owned)?;
        Ok(Self {
            kind,
            port: launched.port,
            endpoint: endpoint_url(launched.port),
            log_path: launched.log_path,
            run_dir: launched.run_dir,
            child: launched.child,
        })
    }

    pub fn kind(&self) -> EmulatorKind {
        self.kind
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, ready for an SDK's endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The emulator's combined stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

impl Drop for OwnedEmulator {
    fn drop(&mut self) {
        // Its state is throwaway, so there is nothing to shut down gracefully.
        process::signal_group(self.child.id(), libc::SIGKILL);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// Owned emulators that live in statics are never dropped, so their log files
/// and run dirs stay behind. Remove those whose owner process is gone, once
/// they are an hour old (so a failed run's log can still be read).
fn prune_dead_owners_files() {
    let Ok(root) = cache_root() else { return };
    for sub in ["logs", "run"] {
        let Ok(entries) = std::fs::read_dir(root.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(owner) = name.to_str().and_then(owner_pid_of) else {
                continue;
            };
            let old_enough = entry
                .metadata()
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| SystemTime::now().duration_since(modified).ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if old_enough && !process::pid_alive(owner) {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
}

/// The owner pid in `<kind>-owned-<pid>-<port>[.log]`.
fn owner_pid_of(name: &str) -> Option<u32> {
    let (_, rest) = name.split_once("-owned-")?;
    rest.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_is_read_from_file_names() {
        assert_eq!(owner_pid_of("moto-owned-1234-5000.log"), Some(1234));
        assert_eq!(owner_pid_of("localstack-owned-77-4566"), Some(77));
        assert_eq!(owner_pid_of("moto-daemon.log"), None);
    }
}
