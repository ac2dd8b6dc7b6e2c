//! What the service packages in `lambdas/` share, so that each service is
//! only its own logic:
//!
//! - [`logging`]: JSON log lines through `tracing` (stdout on Lambda, stderr
//!   standalone);
//! - [`emf`]: CloudWatch Embedded Metric Format lines and where they go;
//! - [`request_id`]: the id of one request (Lambda's, or a random one);
//! - [`runtime`]: "am I running under a Lambda runtime?" and the exit
//!   status of a configuration error;
//! - [`ws_management`]: where a WebSocket API's `@connections` endpoint is
//!   (on AWS and under `archform dev`), one SDK client per endpoint;
//! - [`aws_sdk`]: the AWS SDK configuration from the standard environment
//!   (`AWS_ENDPOINT_URL` for an emulator), with a region required;
//! - [`serving`]: the standalone servers' `listening on` line and shutdown
//!   signal.

pub mod aws_sdk;
pub mod emf;
pub mod logging;
pub mod request_id;
pub mod runtime;
pub mod serving;
pub mod ws_management;

pub use emf::MetricsSink;
pub use request_id::RequestId;
pub use runtime::in_lambda;
