//! The notification service: one ingestion API in front of per-channel
//! delivery (email, SMS, push, webhook), with templates per channel and
//! locale, user preferences (contact points, opt-outs, quiet hours,
//! unsubscribe), idempotent requests and a delivery status per channel.

pub mod idempotency;
pub mod ids;
pub mod memory;
pub mod model;
pub mod preferences;
pub mod rules;
pub mod sms_segments;
pub mod store;
pub mod templates;
pub mod validate;
pub mod webhook_signature;

pub use model::{
    Channel, ChannelDelivery, ChannelStatus, Notification, Priority, SuppressionReason,
};
