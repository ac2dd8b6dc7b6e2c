//! Python virtual environments for the Python-based tools archform drives
//! (moto, LocalStack, cfn-lint, cargo-lambda), built on first use from
//! pinned requirements.
//!
//! The requirement files are compiled into the binary (`include_str!`), so an
//! installed `archform` works from any directory. A venv's directory name
//! carries a hash of its requirements: changing a pin produces a new venv
//! instead of mutating one that another process may be running from.

use std::fmt;
use std::fs::{File, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::cache_dir::cache_subdir;
use crate::error::{Error, IoContext, Result};
use crate::log_tail::tail_of_file;
use crate::process;

/// Written last; a venv directory without it is half-built and gets rebuilt.
const COMPLETE_MARKER: &str = ".archform-complete";

/// The installer put into each venv first. uv installs these sets about four
/// times faster than pip (measured: moto 7.6 s vs 30.5 s), and pip can only
/// fetch it, not pin it, so its version is pinned here.
const UV_REQUIREMENT: &str = "uv==0.13.9";

/// A Python tool with its own pinned venv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PythonTool {
    /// `moto[server]`: the default local AWS emulator.
    Moto,
    /// `localstack-core` 4.12.0 in host mode (no Docker).
    LocalStack,
    /// `cfn-lint`: validates exported CloudFormation templates.
    CfnLint,
    /// `cargo-lambda` with zig (`ziglang`): Lambda-compatible builds of the
    /// functions for both architectures.
    CargoLambda,
}

impl PythonTool {
    /// The short name used in directory names and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Moto => "moto",
            Self::LocalStack => "localstack",
            Self::CfnLint => "cfn-lint",
            Self::CargoLambda => "cargo-lambda",
        }
    }

    /// The fully pinned requirement set (see `localstack/README.md`).
    pub fn requirements(self) -> &'static str {
        match self {
            Self::Moto => include_str!("../../../localstack/moto.txt"),
            Self::LocalStack => include_str!("../../../localstack/localstack.txt"),
            Self::CfnLint => include_str!("../../../localstack/cfn-lint.txt"),
            Self::CargoLambda => include_str!("../../../localstack/cargo-lambda.txt"),
        }
    }

    /// The program to run inside `venv`. LocalStack has no usable console
    /// script for host mode, so its entry is the interpreter (`-m localstack.runtime.main`).
    pub fn executable(self, venv: &Path) -> PathBuf {
        let bin = venv.join("bin");
        match self {
            Self::Moto => bin.join("moto_server"),
            Self::LocalStack => bin.join("python"),
            Self::CfnLint => bin.join("cfn-lint"),
            // A cargo subcommand: cargo finds it through PATH (`cargo lambda`).
            Self::CargoLambda => bin.join("cargo-lambda"),
        }
    }
}

impl fmt::Display for PythonTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `<tool>-<first 12 hex digits of sha256(requirements)>`.
pub(crate) fn venv_dir_name(tool: PythonTool, requirements: &str) -> String {
    let digest = Sha256::digest(requirements.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{}-{}", tool.name(), &hex[..12])
}

/// Returns the venv for `tool`, creating it first if needed.
///
/// Safe to call from many processes at once: builders serialize on an
/// exclusive file lock and later callers find the completion marker.
pub fn ensure_venv(tool: PythonTool) -> Result<PathBuf> {
    let venvs = cache_subdir("venvs")?;
    let name = venv_dir_name(tool, tool.requirements());
    let dir = venvs.join(&name);
    if is_complete(tool, &dir) {
        return Ok(dir);
    }

    let lock_path = venvs.join(format!("{name}.lock"));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .context(|| format!("opening {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            eprintln!("archform: waiting for another process that is installing {tool}...");
            lock.lock()
                .context(|| format!("locking {}", lock_path.display()))?;
        }
        Err(TryLockError::Error(source)) => {
            return Err(Error::Io {
                context: format!("locking {}", lock_path.display()),
                source,
            });
        }
    }
    // Whoever held the lock before us may have finished the job.
    if is_complete(tool, &dir) {
        return Ok(dir);
    }
    let log = venvs.join(format!("{name}.install.log"));
    install(tool, &dir, &log)?;
    Ok(dir)
    // `lock` drops here, which releases the file lock.
}

/// The marker says the install finished; the executable check catches a venv
/// whose files were deleted afterwards (say, by clearing the cache while an
/// install was running), which would otherwise stay broken forever.
fn is_complete(tool: PythonTool, dir: &Path) -> bool {
    dir.join(COMPLETE_MARKER).is_file() && tool.executable(dir).is_file()
}

/// Builds the venv from scratch. Called with the lock held.
fn install(tool: PythonTool, dir: &Path, log: &Path) -> Result<()> {
    let started = Instant::now();
    if dir.exists() {
        eprintln!(
            "archform: removing half-built {tool} environment {}",
            dir.display()
        );
        std::fs::remove_dir_all(dir).context(|| format!("removing {}", dir.display()))?;
    }
    File::create(log).context(|| format!("creating {}", log.display()))?;
    let packages = tool
        .requirements()
        .lines()
        .filter(|line| line.contains("==") && !line.trim_start().starts_with('#'))
        .count();
    eprintln!(
        "archform: first use of {tool}: installing {packages} pinned Python packages into {} \
         (usually 10-60 s; log: {})",
        dir.display(),
        log.display()
    );

    let python = std::env::var("ARCHFORM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut venv = Command::new(&python);
    venv.arg("-m").arg("venv").arg(dir);
    run_step(tool, "python3 -m venv", venv, log).map_err(|err| match err {
        StepError::Spawn(source) => Error::PythonMissing {
            python: python.clone(),
            source,
        },
        StepError::Other(err) => err,
    })?;

    let venv_python = dir.join("bin").join("python");
    let mut pip = Command::new(&venv_python);
    pip.args(["-m", "pip", "install", "--quiet", UV_REQUIREMENT])
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1");
    run_step(tool, &format!("pip install {UV_REQUIREMENT}"), pip, log)
        .map_err(StepError::into_error)?;

    // Keep the exact set next to the venv so a human can see what is in it.
    let requirements = dir.join("requirements.txt");
    std::fs::write(&requirements, tool.requirements())
        .context(|| format!("writing {}", requirements.display()))?;
    // --no-deps: the file is the complete resolved set, so nothing is resolved here.
    // --compile-bytecode: the environment sets PYTHONDONTWRITEBYTECODE, so without
    // compiling now every emulator start would recompile (moto: 1.5 s vs 0.4 s).
    let mut uv = Command::new(dir.join("bin").join("uv"));
    uv.args([
        "pip",
        "install",
        "--no-deps",
        "--compile-bytecode",
        "--python",
    ])
    .arg(&venv_python)
    .arg("-r")
    .arg(&requirements);
    run_step(tool, "uv pip install -r requirements.txt", uv, log).map_err(StepError::into_error)?;

    let executable = tool.executable(dir);
    if !executable.is_file() {
        return Err(Error::Install {
            tool: tool.name().to_owned(),
            step: format!("checking for {}", executable.display()),
            log: log.to_owned(),
            tail: "  | the install reported success but the program is missing".to_owned(),
        });
    }
    let marker = dir.join(COMPLETE_MARKER);
    let mut file = File::create(&marker).context(|| format!("creating {}", marker.display()))?;
    writeln!(file, "{}", venv_dir_name(tool, tool.requirements()))
        .and_then(|()| file.sync_all())
        .context(|| format!("writing {}", marker.display()))?;
    eprintln!(
        "archform: {tool} installed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

enum StepError {
    /// The program could not be started at all.
    Spawn(std::io::Error),
    Other(Error),
}

impl StepError {
    fn into_error(self) -> Error {
        match self {
            Self::Spawn(source) => Error::Io {
                context: "starting installer".to_owned(),
                source,
            },
            Self::Other(err) => err,
        }
    }
}

/// Runs one install step with its output appended to `log`.
fn run_step(
    tool: PythonTool,
    step: &str,
    mut command: Command,
    log: &Path,
) -> Result<(), StepError> {
    let open_log = || {
        File::options()
            .append(true)
            .open(log)
            .context(|| format!("opening {}", log.display()))
            .map_err(StepError::Other)
    };
    let mut header = open_log()?;
    let _ = writeln!(header, "\n$ {command:?}");
    command
        .stdin(Stdio::null())
        .stdout(open_log()?)
        .stderr(open_log()?);
    // Owned, so an installer never outlives an interrupted archform and keeps
    // writing into a venv that the next run is rebuilding.
    let status = process::spawn_owned(command)
        .and_then(|mut child| child.wait())
        .map_err(StepError::Spawn)?;
    if status.success() {
        return Ok(());
    }
    Err(StepError::Other(Error::Install {
        tool: tool.name().to_owned(),
        step: step.to_owned(),
        log: log.to_owned(),
        tail: tail_of_file(log, 30),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_name_is_tool_and_short_hash() {
        // sha256("abc") = ba7816bf8f01cfea...
        assert_eq!(venv_dir_name(PythonTool::Moto, "abc"), "moto-ba7816bf8f01");
        assert_eq!(
            venv_dir_name(PythonTool::CfnLint, "abc"),
            "cfn-lint-ba7816bf8f01"
        );
    }

    #[test]
    fn a_changed_pin_changes_the_venv() {
        let a = venv_dir_name(PythonTool::Moto, "moto==5.2.5\n");
        let b = venv_dir_name(PythonTool::Moto, "moto==5.2.6\n");
        assert_ne!(a, b);
    }

    #[test]
    fn embedded_requirements_are_fully_pinned() {
        // cargo-lambda's whole set is itself and ziglang.
        for (tool, at_least) in [
            (PythonTool::Moto, 6),
            (PythonTool::LocalStack, 6),
            (PythonTool::CfnLint, 6),
            (PythonTool::CargoLambda, 2),
        ] {
            let reqs: Vec<&str> = tool
                .requirements()
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .collect();
            assert!(
                reqs.len() >= at_least,
                "{tool}: suspiciously few requirements"
            );
            for line in reqs {
                assert!(line.contains("=="), "{tool}: unpinned requirement {line:?}");
            }
        }
    }
}
