//! Builds the Rust Lambda functions in `lambdas/` and packages each binary
//! as `bootstrap` in a reproducible zip (fixed timestamps and order), so
//! unchanged code gives the same bytes and the same hash.
//!
//! - [`build`]: compile one `{package, bin}` and zip it.
//! - [`upload_route`]: inline or through an artifact bucket, by size.
//! - [`zip`]: the reproducible zip writer.

mod build;
mod error;
mod upload;
pub mod zip;

pub use build::{
    Architecture, Artifact, BuildOptions, BuildProfile, FunctionCode, Toolchain, build,
    cargo_lambda_available, find_workspace_root,
};
pub use error::{Error, Result};
pub use upload::{DIRECT_UPLOAD_LIMIT, Upload, upload_route};
