//! One error type for the whole crate, so callers (tests, the CLI) can match
//! on what went wrong and print a message that says what to do about it.
//!
//! Messages do not repeat their `source`: print the chain (anyhow's `{:#}`,
//! or [`Error::chain_text`]) to see the underlying OS or parse error.

use std::path::PathBuf;

use crate::emulator::EmulatorKind;

/// Everything that can fail while provisioning or running an emulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither `ARCHFORM_CACHE_DIR`, `XDG_CACHE_HOME` nor `HOME` gave a usable directory.
    #[error(
        "cannot find a cache directory: set ARCHFORM_CACHE_DIR, XDG_CACHE_HOME (absolute) or HOME"
    )]
    NoCacheDir,

    /// A filesystem or process operation failed; `context` says which one.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// The Python interpreter needed to build tool environments is missing.
    #[error(
        "cannot run `{python}`: install Python 3.11+ with the venv module \
         (Debian: apt-get install python3 python3-venv) or point ARCHFORM_PYTHON at one"
    )]
    PythonMissing {
        python: String,
        #[source]
        source: std::io::Error,
    },

    /// One step of building a tool venv failed; the full output is in `log`.
    #[error("installing {tool} failed at `{step}` (full log: {log}):\n{tail}", log = log.display())]
    Install {
        tool: String,
        step: String,
        log: PathBuf,
        tail: String,
    },

    /// The emulator process exited before it answered its health check.
    #[error("{kind} exited before it became healthy ({status}); log {log}:\n{tail}", log = log.display())]
    EmulatorExited {
        kind: EmulatorKind,
        status: String,
        log: PathBuf,
        tail: String,
    },

    /// The emulator kept running but did not answer its health check in time.
    #[error("{kind} did not become healthy within {secs} s; log {log}:\n{tail}", log = log.display())]
    EmulatorTimeout {
        kind: EmulatorKind,
        secs: u64,
        log: PathBuf,
        tail: String,
    },

    /// A daemon state file exists but cannot be parsed.
    #[error("state file {path} is corrupt; delete it", path = path.display())]
    StateFile {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// An endpoint URL this crate cannot probe (only plain `http://host:port` is supported).
    #[error("unsupported endpoint URL {0:?}: expected http://HOST:PORT")]
    BadEndpoint(String),
}

impl Error {
    /// This error and its causes, joined with `: `.
    pub fn chain_text(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(err) = cause {
            text.push_str(": ");
            text.push_str(&err.to_string());
            cause = err.source();
        }
        text
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a human-readable context to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context(),
            source,
        })
    }
}
