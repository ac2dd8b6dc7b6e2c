//! The chat service: WebSocket connections opened with signed tokens,
//! messages partitioned by conversation with sortable ids, presence with
//! TTL heartbeats, typing indicators and read receipts.
//!
//! One library, thin binaries: the same [`ChatService`] handles API
//! Gateway's WebSocket events on Lambda (`router` and the per-route
//! binaries, through [`fanout::ApiTransport`]) and real WebSocket
//! connections under `chat serve` (through [`hub::HubTransport`], with
//! Redis pub/sub between instances). The protocol is in the README.

pub mod calls;
pub mod cli;
pub mod config;
pub mod dynamo;
pub mod fanout;
pub mod frames;
pub mod hub;
pub mod ids;
pub mod lambda;
pub mod limits;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod order;
pub mod page;
pub mod page_lambda;
pub mod secret;
pub mod serve;
pub mod service;
pub mod store;
pub mod token;
pub mod transport;

pub use config::{Config, ConfigError, Limits};
pub use model::{ConnectionRecord, Message};
pub use service::ChatService;
pub use store::{StoreError, Stores};
pub use token::{Claims, SigningKey, TokenError};

#[cfg(test)]
mod service_tests;
