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
//!   local `@connections` management endpoint;
//! - against an emulator, each PostgreSQL `rds.db_instance` becomes a local
//!   PostgreSQL server (crate::postgres) kept per stack under the dev state
//!   folder, its master user's credentials written to the instance's
//!   master-user secret.
//!
//! Function environments are rewritten (crate::env_rewrite) so that values
//! naming a stand-in's AWS resource lead to it: a load balancer's DNS name
//! (`http://<dns>[:port]`) becomes the local listener of that port, a
//! database's endpoint address and port become `localhost` and the local
//! server's port. The contract with the functions, beyond the rewritten
//! values: a function whose environment names a served database instance
//! (its endpoint address or master-user secret ARN) gets
//! `DATABASE_CA_BUNDLE` ([`DATABASE_CA_BUNDLE_ENV`]) set to the local
//! cluster's CA certificate, the one its TLS `verify-full` check must trust
//! (lambdas/webapp reads it). Against a real account the databases stay on
//! AWS and the functions keep their environment ([`Running::notes`] says so).

mod console;
pub mod database;
mod env_rewrite;
mod error;
mod event_sources;
mod http_front;
mod pool;
mod pools;
pub mod postgres;
mod rules;
mod serve;
mod sqs_poller;
mod start;
pub mod topology;
mod websocket;

pub use console::set_quiet;
pub use env_rewrite::{AlbRewrite, DATABASE_CA_BUNDLE_ENV, DbRewrite, Rewrites};
pub use error::DevError;
pub use postgres::remove_dev_state;
pub use rules::path_matches;
pub use start::{DevOptions, LocalEndpoint, Running, start};
pub use topology::Topology;
