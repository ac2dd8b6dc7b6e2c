//! A local Lambda runtime: runs a function's real `bootstrap` binary as a
//! child process and serves it the Lambda Runtime API (2018-06-01) on a
//! loopback port, like the Lambda service does, without Docker.
//!
//! ```no_run
//! # async fn demo() -> Result<(), archform_local::LocalError> {
//! use archform_local::{FunctionConfig, LocalFunction};
//! let mut f = LocalFunction::new(FunctionConfig::new("bootstrap", "my-fn"));
//! let outcome = f.invoke(serde_json::json!({"hi": 1}), std::time::Duration::from_secs(3)).await?;
//! println!("{:?} {}", outcome.result, outcome.logs);
//! # Ok(()) }
//! ```

mod api;
pub mod bundle;
mod config;
mod error;
pub mod events;
mod function;
mod ids;
mod logs;
mod outcome;

pub use config::{AwsEndpoint, FunctionConfig};
pub use error::LocalError;
pub use function::LocalFunction;
pub use outcome::{FunctionError, InvokeOutcome, InvokeResult};
