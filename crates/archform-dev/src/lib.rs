//! `archform dev`: every function of a deployed stack runs on this machine
//! (archform-local's runtime, warm environments per function) behind local
//! stand-ins for the AWS services that call it, against the stack's real
//! resources (its tables, queues and topics in the emulator or the account):
//!
//! - each ALB listener becomes an HTTP port applying the listener's rules;
//! - each Lambda function URL becomes an HTTP port sending payload 2.0 events;
//! - each SQS event source mapping becomes a poller with Lambda's batching,
//!   partial-batch-failure and retry semantics;
//! - each WebSocket API becomes a WebSocket port with route selection and a
//!   local `@connections` management endpoint.

mod console;
mod error;
mod event_sources;
mod http_front;
mod pool;
mod pools;
mod rules;
mod serve;
mod sqs_poller;
mod start;
pub mod topology;
mod websocket;

pub use console::set_quiet;
pub use error::DevError;
pub use rules::path_matches;
pub use start::{DevOptions, LocalEndpoint, Running, start};
pub use topology::Topology;
