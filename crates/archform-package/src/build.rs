//! Compiling a `{package, bin}` and zipping it as `bootstrap`.

use crate::error::{Error, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A function's instruction set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Architecture {
    #[default]
    X86_64,
    Arm64,
}

impl Architecture {
    /// Lambda's name: `x86_64` or `arm64`.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// Parses Lambda's name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "x86_64" => Some(Architecture::X86_64),
            "arm64" => Some(Architecture::Arm64),
            _ => None,
        }
    }

    /// This machine's architecture, if Lambda has it.
    pub fn host() -> Option<Self> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Architecture::X86_64),
            "aarch64" => Some(Architecture::Arm64),
            _ => None,
        }
    }
}

/// A function's code as a blueprint names it: a binary of a Cargo package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCode {
    pub package: String,
    pub bin: String,
    pub architecture: Architecture,
}

/// How to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Toolchain {
    /// `cargo lambda` when it is installed, else a host build.
    #[default]
    Auto,
    /// Always `cargo lambda build`.
    CargoLambda,
    /// Always `cargo build --profile lambda` for the host.
    Host,
}

/// Which Cargo profile function binaries are built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuildProfile {
    /// The workspace's size-tuned `lambda` profile: what goes to AWS.
    #[default]
    Lambda,
    /// Cargo's `dev` profile for this machine, sharing `target/debug` with
    /// the rest of the workspace: seconds instead of minutes to build, for
    /// local runs (`archform dev`) and tests. Unoptimized: not for AWS.
    Dev,
}

impl BuildProfile {
    /// `lambda` or `dev` (the names `ARCHFORM_BUILD_PROFILE` takes).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "lambda" => Some(BuildProfile::Lambda),
            "dev" => Some(BuildProfile::Dev),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub toolchain: Toolchain,
    pub profile: BuildProfile,
    /// Overrides the workspace's target directory (`CARGO_TARGET_DIR`).
    pub target_dir: Option<PathBuf>,
    /// Hides cargo's progress output.
    pub quiet: bool,
}

/// A packaged function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub zip_path: PathBuf,
    /// Lowercase hex SHA-256 of the zip's bytes.
    pub sha256: String,
    /// The zip's size in bytes.
    pub size: u64,
    pub warnings: Vec<String>,
}

/// Whether `cargo lambda` can be run here.
pub fn cargo_lambda_available() -> bool {
    Command::new("cargo")
        .args(["lambda", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The nearest directory at or above `start` whose Cargo.toml has a
/// `[workspace]` table.
pub fn find_workspace_root(start: &Path) -> Result<PathBuf> {
    let start = start.canonicalize().map_err(|source| Error::Io {
        path: start.to_path_buf(),
        source,
    })?;
    start
        .ancestors()
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml"))
                .is_ok_and(|s| s.lines().any(|l| l.trim() == "[workspace]"))
        })
        .map(Path::to_path_buf)
        .ok_or(Error::NoWorkspace(start))
}

/// Builds `function` in the Cargo workspace at `workspace_root` and zips its
/// binary as `bootstrap` (mode 0755) into
/// `<target>/archform/<package>/<bin>-<arch>.zip`.
pub fn build(
    function: &FunctionCode,
    workspace_root: &Path,
    options: &BuildOptions,
) -> Result<Artifact> {
    let meta = metadata(workspace_root, options)?;
    check_bin(&meta, workspace_root, function)?;
    let target_dir =
        PathBuf::from(
            meta["target_directory"]
                .as_str()
                .ok_or_else(|| Error::Metadata {
                    workspace: workspace_root.to_path_buf(),
                    message: "no target_directory".into(),
                })?,
        );
    let use_cargo_lambda = match options.toolchain {
        Toolchain::Auto => cargo_lambda_available(),
        Toolchain::CargoLambda => true,
        Toolchain::Host => false,
    };
    let mut warnings = Vec::new();
    let (mut cmd, binary) = if options.profile == BuildProfile::Dev {
        if Architecture::host() != Some(function.architecture) {
            return Err(Error::NeedsCargoLambda {
                package: function.package.clone(),
                bin: function.bin.clone(),
                arch: function.architecture.as_str(),
                host: std::env::consts::ARCH,
            });
        }
        warnings.push(format!(
            "{}/{}: built with the dev profile (unoptimized, for this machine's glibc): \
             for local runs and tests, not for AWS",
            function.package, function.bin
        ));
        // No --target: the build shares target/debug (and its already
        // compiled dependencies) with the rest of the workspace.
        let mut cmd = Command::new("cargo");
        cmd.args(["build", "--package"])
            .arg(&function.package)
            .arg("--bin")
            .arg(&function.bin);
        (cmd, target_dir.join("debug").join(&function.bin))
    } else if use_cargo_lambda {
        let mut cmd = Command::new("cargo");
        // The size-tuned profile; cargo-lambda still copies the binary to
        // <target>/lambda/<bin>/bootstrap.
        cmd.args(["lambda", "build", "--profile", "lambda", "--package"])
            .arg(&function.package)
            .arg("--bin")
            .arg(&function.bin);
        if function.architecture == Architecture::Arm64 {
            cmd.arg("--arm64");
        }
        let binary = target_dir
            .join("lambda")
            .join(&function.bin)
            .join("bootstrap");
        (cmd, binary)
    } else {
        let host = Architecture::host();
        if host != Some(function.architecture) {
            return Err(Error::NeedsCargoLambda {
                package: function.package.clone(),
                bin: function.bin.clone(),
                arch: function.architecture.as_str(),
                host: std::env::consts::ARCH,
            });
        }
        warnings.push(format!(
            "{}/{}: cargo-lambda is not installed, so it was built for this machine: the binary \
             needs this host's glibc and may not run on Lambda's provided.al2023; install \
             cargo-lambda (`pip install cargo-lambda`) for Lambda-compatible builds (arm64 \
             needs it)",
            function.package, function.bin
        ));
        // An explicit host target keeps the output in <target>/<triple>/lambda/,
        // away from cargo-lambda's <target>/lambda/<bin>/ directories.
        let triple = host_triple()?;
        let mut cmd = Command::new("cargo");
        cmd.args([
            "build",
            "--profile",
            "lambda",
            "--target",
            &triple,
            "--package",
        ])
        .arg(&function.package)
        .arg("--bin")
        .arg(&function.bin);
        let binary = target_dir.join(&triple).join("lambda").join(&function.bin);
        (cmd, binary)
    };
    cmd.current_dir(workspace_root);
    if let Some(t) = &options.target_dir {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    if options.quiet {
        cmd.arg("--quiet");
    }
    // Cargo's progress goes to our stderr; stdout stays ours (JSON output).
    cmd.stdout(Stdio::null());
    let command = format!("{cmd:?}");
    let status = cmd.status().map_err(|source| Error::Spawn {
        command: command.clone(),
        source,
    })?;
    if !status.success() {
        return Err(Error::CargoFailed {
            command,
            status: status.to_string(),
        });
    }
    // Dev binaries carry symbols and line tables (~40% of their size);
    // stripping a copy keeps the zip well under the direct-upload limit.
    let binary = match options.profile {
        BuildProfile::Dev => stripped_copy(&binary, &target_dir, function),
        BuildProfile::Lambda => binary,
    };
    let bytes = match std::fs::read(&binary) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::BinaryMissing(binary));
        }
        Err(source) => {
            return Err(Error::Io {
                path: binary,
                source,
            });
        }
    };
    let zip = crate::zip::build(&[("bootstrap", &bytes, 0o755)]);
    let dir = target_dir.join("archform").join(&function.package);
    let zip_path = dir.join(format!(
        "{}-{}{}.zip",
        function.bin,
        function.architecture.as_str(),
        match options.profile {
            BuildProfile::Lambda => "",
            BuildProfile::Dev => "-dev",
        }
    ));
    // Any size is packaged: whether it goes to Lambda inline or through an
    // artifact bucket is decided at deploy time (`upload_route`).
    let size = zip.len() as u64;
    write_if_changed(&dir, &zip_path, &zip)?;
    let sha256 = Sha256::digest(&zip)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Artifact {
        zip_path,
        sha256,
        size,
        warnings,
    })
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let command = format!("{} -vV", rustc.to_string_lossy());
    let out = Command::new(&rustc)
        .arg("-vV")
        .output()
        .map_err(|source| Error::Spawn {
            command: command.clone(),
            source,
        })?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_string())
        .ok_or(Error::CargoFailed {
            command,
            status: out.status.to_string(),
        })
}

/// `cargo metadata --no-deps` of the workspace.
fn metadata(workspace_root: &Path, options: &BuildOptions) -> Result<Value> {
    let mut cmd = Command::new("cargo");
    cmd.args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(workspace_root)
        .stdin(Stdio::null());
    if let Some(t) = &options.target_dir {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    let out = cmd.output().map_err(|source| Error::Spawn {
        command: "cargo metadata".into(),
        source,
    })?;
    let err = |message: String| Error::Metadata {
        workspace: workspace_root.to_path_buf(),
        message,
    };
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| err(e.to_string()))
}

fn check_bin(meta: &Value, workspace_root: &Path, f: &FunctionCode) -> Result<()> {
    let package = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == f.package.as_str())
        .ok_or_else(|| Error::PackageNotFound {
            package: f.package.clone(),
            workspace: workspace_root.to_path_buf(),
        })?;
    let bins: Vec<&str> = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|t| t["name"].as_str())
        .collect();
    if bins.contains(&f.bin.as_str()) {
        return Ok(());
    }
    Err(Error::BinNotFound {
        package: f.package.clone(),
        bin: f.bin.clone(),
        available: if bins.is_empty() {
            "none".into()
        } else {
            bins.join(", ")
        },
    })
}

/// Writes `bytes` unless the file already holds them (keeps its mtime), via
/// a temporary file so readers never see half a zip.
fn write_if_changed(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = path.with_extension(format!("zip.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// `strip`s a copy of a dev binary into `<target>/archform/<package>/`; the
/// original when `strip` (binutils) is not installed or fails.
fn stripped_copy(binary: &Path, target_dir: &Path, function: &FunctionCode) -> PathBuf {
    let out = target_dir
        .join("archform")
        .join(&function.package)
        .join(format!("{}-dev-stripped", function.bin));
    let _ = std::fs::create_dir_all(out.parent().unwrap_or(target_dir));
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&out)
        .arg(binary)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if stripped { out } else { binary.to_path_buf() }
}
