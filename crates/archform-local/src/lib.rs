//! A local Lambda runtime: runs a function's real `bootstrap` binary as a
//! child process and serves it the Lambda Runtime API (2018-06-01) on a
//! loopback port, like the Lambda service does, without Docker.
//!
//! The same port answers the Extensions API for extensions inside the
//! function's process (`lambda_runtime`'s graceful-shutdown helper
//! registers one): [`LocalFunction::stop`] then ends the process with
//! SIGTERM and [`SHUTDOWN_GRACE`] before SIGKILL, as Lambda does.
//! [`events`] builds the events the ALB, function URLs, WebSocket APIs, SQS
//! and SNS send, and reads HTTP responses the way those services do.
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
mod extensions;
mod function;
mod logs;
mod outcome;

pub use config::{AwsEndpoint, FunctionConfig};
pub use error::LocalError;
pub use function::{LocalFunction, SHUTDOWN_GRACE};
pub use outcome::{FunctionError, InvokeOutcome, InvokeResult};
