//! Typed build and packaging errors.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no Cargo workspace found at or above {0} (run archform from the workspace that holds lambdas/)"
    )]
    NoWorkspace(PathBuf),
    #[error("reading the Cargo workspace at {workspace}: {message}")]
    Metadata { workspace: PathBuf, message: String },
    #[error(
        "package `{package}` not found in the Cargo workspace at {workspace} (expected in lambdas/{package}); \
         create it, or deploy with --placeholder-code or --code-override ZIP"
    )]
    PackageNotFound { package: String, workspace: PathBuf },
    #[error("package `{package}` has no binary `{bin}` (its binaries: {available})")]
    BinNotFound {
        package: String,
        bin: String,
        available: String,
    },
    #[error(
        "function {package}/{bin} is {arch} but this machine is {host}: install cargo-lambda \
         (`pip install cargo-lambda`) to cross-compile for Lambda"
    )]
    NeedsCargoLambda {
        package: String,
        bin: String,
        arch: &'static str,
        host: &'static str,
    },
    #[error("`{command}` failed ({status})")]
    CargoFailed { command: String, status: String },
    #[error("running `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("the build did not produce {0}")]
    BinaryMissing(PathBuf),
    #[error(
        "function `{function}`: its code zip {path} is {size} bytes ({mb:.1} MB), over Lambda's \
         direct-upload limit of {limit} bytes (50 MB). Larger zips go through an S3 bucket: set \
         ARCHFORM_ARTIFACT_BUCKET=<bucket> or pass --artifact-bucket <bucket>, an existing bucket \
         in the same region as the stack (archform does not create it); or make the binary smaller",
        mb = *size as f64 / (1024.0 * 1024.0)
    )]
    TooLarge {
        function: String,
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}
