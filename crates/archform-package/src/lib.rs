//! Builds the Rust Lambda functions in `lambdas/` and packages each binary
//! as `bootstrap` in a reproducible zip (fixed timestamps and order), so
//! unchanged code gives the same bytes and the same hash.
//!
//! - [`build`]: compile one `{package, bin}` and zip it.
//! - [`zip`]: the reproducible zip writer.

mod build;
mod error;
pub mod zip;

pub use build::{
    Architecture, Artifact, BuildOptions, BuildProfile, DIRECT_UPLOAD_LIMIT, FunctionCode,
    Toolchain, build, cargo_lambda_available, find_workspace_root,
};
pub use error::{Error, Result};
