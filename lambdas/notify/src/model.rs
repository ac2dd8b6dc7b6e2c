//! What a notification is: its channels, priority, category, and the
//! delivery status of each channel.
//!
//! Times are Unix epoch milliseconds (`*_at` fields), as the API shows them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Now, in Unix epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A way of reaching a user. Each has its own worker pool and provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// SES v2 or SMTP, to the user's email address.
    Email,
    /// SNS `Publish` to the user's E.164 phone number.
    Sms,
    /// SNS mobile push to the user's device token.
    Push,
    /// A signed HTTPS POST to the user's webhook URL.
    Webhook,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Email,
        Channel::Sms,
        Channel::Push,
        Channel::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
            Channel::Webhook => "webhook",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel name that is none of [`Channel::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel {0:?}; the channels are email, sms, push and webhook")]
pub struct UnknownChannel(pub String);

impl FromStr for Channel {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownChannel(s.to_owned()))
    }
}

/// How urgent a notification is. Workers take transactional messages ahead
/// of bulk ones; critical messages (a transactional kind) also go out in
/// quiet hours and past category and channel opt-outs, never past a global
/// unsubscribe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Security alerts, one-time codes: cannot wait for the morning.
    Critical,
    /// Receipts, password resets: expected by the user, ahead of bulk.
    #[default]
    Transactional,
    /// Newsletters, digests, marketing.
    Bulk,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::Transactional => "transactional",
            Priority::Bulk => "bulk",
        }
    }

    /// Lower is served first (the derive orders the variants so).
    pub fn rank(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A priority name that is not one of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown priority {0:?}; use transactional, bulk or critical")]
pub struct UnknownPriority(pub String);

impl FromStr for Priority {
    type Err = UnknownPriority;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Priority::Critical, Priority::Transactional, Priority::Bulk]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPriority(s.to_owned()))
    }
}

/// Why a channel of a notification was not sent, by the service's choice
/// rather than a provider's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    /// The user opted out of the category, of the channel, or of the
    /// channel for this category.
    OptedOut,
    /// In the user's quiet hours, and the user asked that such messages be
    /// dropped rather than delayed.
    QuietHours,
    /// No contact point for the channel (no email address, phone number,
    /// push token or webhook URL), or no preferences at all.
    NoContact,
    /// The user unsubscribed from everything.
    Unsubscribed,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::OptedOut => "opted_out",
            SuppressionReason::QuietHours => "quiet_hours",
            SuppressionReason::NoContact => "no_contact",
            SuppressionReason::Unsubscribed => "unsubscribed",
        }
    }
}

impl fmt::Display for SuppressionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one channel of one notification stands. Serialized with its name
/// in `status` beside the variant's fields, e.g.
/// `{"status": "retrying", "attempts": 2, "reason": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChannelStatus {
    /// Waiting for a worker. `not_before` is set when the user's quiet
    /// hours delay it: no worker sends it earlier.
    Queued {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_before: Option<i64>,
    },
    /// A worker holds the send claim and is handing it to the provider
    /// (attempt `attempts`). A redelivered job finds it so and does not
    /// send again; a worker that died mid-send leaves it until its claim
    /// expires.
    Sending { attempts: u32 },
    /// The provider accepted it (`provider_id`: SES message id, SNS
    /// message id, the webhook's `webhook-id`).
    Sent {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_id: Option<String>,
    },
    /// The provider reported delivery to the user's device or mailbox.
    Delivered,
    /// A failure that retrying would not fix (a 4xx from a webhook, an
    /// address the provider rejects).
    Failed { reason: String },
    /// A failure that may pass; `attempts` were made so far.
    Retrying {
        attempts: u32,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_attempt_at: Option<i64>,
    },
    /// Not sent, by the user's preferences.
    Suppressed { reason: SuppressionReason },
    /// Retries ran out; the job is in the dead-letter queue.
    DeadLettered { attempts: u32, reason: String },
}

impl ChannelStatus {
    /// The status name as the API shows it.
    pub fn name(&self) -> &'static str {
        match self {
            ChannelStatus::Queued { .. } => "queued",
            ChannelStatus::Sending { .. } => "sending",
            ChannelStatus::Sent { .. } => "sent",
            ChannelStatus::Delivered => "delivered",
            ChannelStatus::Failed { .. } => "failed",
            ChannelStatus::Retrying { .. } => "retrying",
            ChannelStatus::Suppressed { .. } => "suppressed",
            ChannelStatus::DeadLettered { .. } => "dead_lettered",
        }
    }

    /// No further change is expected from the service itself (a provider
    /// may still report `delivered` after `sent`).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            ChannelStatus::Delivered
                | ChannelStatus::Failed { .. }
                | ChannelStatus::Suppressed { .. }
                | ChannelStatus::DeadLettered { .. }
        )
    }
}

/// One channel of a notification: its status, the locale its message was
/// rendered in, and when the status last changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelDelivery {
    #[serde(flatten)]
    pub status: ChannelStatus,
    /// After fallback (`pt` for a `pt-BR` user when only `pt` has this
    /// channel). The API renders every channel it is asked for, suppressed
    /// or not, so it always sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    pub updated_at: i64,
}

/// A notification to one user, as stored and as `GET
/// /v1/notifications/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub user_id: String,
    pub template: String,
    /// The template variables, a JSON object.
    pub data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub priority: Priority,
    /// The locale asked for: the user's, else the template's default.
    /// Each channel says which locale it was rendered in.
    pub locale: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub created_at: i64,
    /// Every channel asked for, sent or not.
    pub channels: BTreeMap<Channel, ChannelDelivery>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn channels_and_priorities_parse_their_own_names() {
        for channel in Channel::ALL {
            assert_eq!(channel.as_str().parse::<Channel>(), Ok(channel));
            assert_eq!(
                serde_json::to_value(channel).unwrap(),
                json!(channel.as_str())
            );
        }
        assert_eq!(
            "fax".parse::<Channel>().unwrap_err().to_string(),
            "unknown channel \"fax\"; the channels are email, sms, push and webhook"
        );
        assert_eq!(
            "Email".parse::<Channel>(),
            Err(UnknownChannel("Email".into()))
        );
        for p in [Priority::Critical, Priority::Transactional, Priority::Bulk] {
            assert_eq!(p.as_str().parse::<Priority>(), Ok(p));
        }
        assert!("urgent".parse::<Priority>().is_err());
    }

    #[test]
    fn critical_ranks_ahead_of_transactional_ahead_of_bulk() {
        assert!(Priority::Critical.rank() < Priority::Transactional.rank());
        assert!(Priority::Transactional.rank() < Priority::Bulk.rank());
        assert_eq!(Priority::default(), Priority::Transactional);
    }

    #[test]
    fn statuses_serialize_with_their_name_and_reason() {
        let cases = [
            (
                ChannelStatus::Queued { not_before: None },
                json!({"status": "queued"}),
            ),
            (
                ChannelStatus::Queued {
                    not_before: Some(1_700_000_000_000),
                },
                json!({"status": "queued", "not_before": 1_700_000_000_000_i64}),
            ),
            (
                ChannelStatus::Sent {
                    provider_id: Some("msg-1".into()),
                },
                json!({"status": "sent", "provider_id": "msg-1"}),
            ),
            (ChannelStatus::Delivered, json!({"status": "delivered"})),
            (
                ChannelStatus::Sending { attempts: 1 },
                json!({"status": "sending", "attempts": 1}),
            ),
            (
                ChannelStatus::Failed {
                    reason: "HTTP 410".into(),
                },
                json!({"status": "failed", "reason": "HTTP 410"}),
            ),
            (
                ChannelStatus::Retrying {
                    attempts: 2,
                    reason: "timeout".into(),
                    next_attempt_at: None,
                },
                json!({"status": "retrying", "attempts": 2, "reason": "timeout"}),
            ),
            (
                ChannelStatus::Suppressed {
                    reason: SuppressionReason::QuietHours,
                },
                json!({"status": "suppressed", "reason": "quiet_hours"}),
            ),
            (
                ChannelStatus::DeadLettered {
                    attempts: 5,
                    reason: "HTTP 503".into(),
                },
                json!({"status": "dead_lettered", "attempts": 5, "reason": "HTTP 503"}),
            ),
        ];
        for (status, expected) in cases {
            assert_eq!(serde_json::to_value(&status).unwrap(), expected);
            assert_eq!(expected["status"], status.name());
            let back: ChannelStatus = serde_json::from_value(expected).unwrap();
            assert_eq!(back, status);
        }
    }

    #[test]
    fn a_channel_delivery_flattens_its_status() {
        let delivery = ChannelDelivery {
            status: ChannelStatus::Suppressed {
                reason: SuppressionReason::OptedOut,
            },
            locale: None,
            updated_at: 5,
        };
        let value = serde_json::to_value(&delivery).unwrap();
        assert_eq!(
            value,
            json!({"status": "suppressed", "reason": "opted_out", "updated_at": 5})
        );
        assert_eq!(
            serde_json::from_value::<ChannelDelivery>(value).unwrap(),
            delivery
        );
    }

    #[test]
    fn final_statuses() {
        assert!(!ChannelStatus::Queued { not_before: None }.is_final());
        assert!(!ChannelStatus::Sent { provider_id: None }.is_final());
        assert!(ChannelStatus::Delivered.is_final());
        assert!(
            ChannelStatus::Suppressed {
                reason: SuppressionReason::NoContact
            }
            .is_final()
        );
    }
}
