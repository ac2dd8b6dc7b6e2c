//! The notification service: one ingestion API in front of per-channel
//! delivery (email, SMS, push, webhook), with templates per channel and
//! locale, user preferences (contact points, opt-outs, quiet hours,
//! unsubscribe), idempotent requests and a delivery status per channel.

pub mod api;
pub mod api_error;
pub mod api_key;
pub mod aws;
pub mod cli;
pub mod config;
pub mod dynamo;
pub mod expander;
pub mod idempotency;
pub mod ids;
pub mod lambda;
pub mod memory;
pub mod model;
pub mod page;
pub mod planning;
pub mod preferences;
pub mod provider;
pub mod rules;
pub mod ses_provider;
pub mod sms_segments;
pub mod smtp_provider;
pub mod sns_provider;
pub mod sqs;
pub mod store;
pub mod templates;
pub mod validate;
pub mod webhook_provider;
pub mod webhook_signature;
pub mod worker;

pub use api::{AppState, router};
pub use config::{ConfigError, ServiceOptions, WorkerOptions};
pub use memory::MemoryStores;
pub use model::{
    Channel, ChannelDelivery, ChannelStatus, Notification, Priority, SuppressionReason,
};
pub use store::{StoreError, Stores};

#[cfg(test)]
mod router_tests;
