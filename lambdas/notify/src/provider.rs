//! What a channel's worker calls to hand one message to the outside world.
//!
//! A provider gets the queued job (the rendered message) and the user's
//! preferences as they are at send time (the address, the webhook secret),
//! and says whether the message was accepted. Its error says whether
//! trying again could help, which is what decides between `retrying`
//! (and, in the end, `dead_lettered`) and `failed`.

use crate::model::{Channel, ChannelStatus};
use crate::preferences::Preferences;
use crate::store::{BoxFuture, DeliveryJob};

/// A message the provider accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The provider's id for it (SES and SNS message ids; a webhook's
    /// `webhook-id`).
    pub provider_id: Option<String>,
}

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Trying again will not help: a refused address, a 4xx, a
    /// misconfiguration.
    #[error("{0}")]
    Permanent(String),
    /// It may pass: a timeout, a refused connection, a 5xx or 429.
    #[error("{0}")]
    Transient(String),
}

impl ProviderError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient(_))
    }

    /// The channel status after `attempts` attempts, the last one failing
    /// with `self`, when a job may be tried `max_attempts` times.
    pub fn status(&self, attempts: u32, max_attempts: u32) -> ChannelStatus {
        match self {
            ProviderError::Permanent(reason) => ChannelStatus::Failed {
                reason: reason.clone(),
            },
            ProviderError::Transient(reason) if attempts >= max_attempts => {
                ChannelStatus::DeadLettered {
                    attempts,
                    reason: reason.clone(),
                }
            }
            ProviderError::Transient(reason) => ChannelStatus::Retrying {
                attempts,
                reason: reason.clone(),
                next_attempt_at: None,
            },
        }
    }
}

/// One channel's way out.
pub trait NotificationProvider: Send + Sync {
    fn channel(&self) -> Channel;

    /// Sends `job` to the user of `preferences`.
    fn send<'a>(
        &'a self,
        job: &'a DeliveryJob,
        preferences: &'a Preferences,
    ) -> BoxFuture<'a, Result<Accepted, ProviderError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_become_statuses() {
        let permanent = ProviderError::Permanent("HTTP 410".into());
        assert!(!permanent.is_transient());
        assert_eq!(
            permanent.status(1, 5),
            ChannelStatus::Failed {
                reason: "HTTP 410".into()
            }
        );
        let transient = ProviderError::Transient("timed out".into());
        assert_eq!(
            transient.status(2, 5),
            ChannelStatus::Retrying {
                attempts: 2,
                reason: "timed out".into(),
                next_attempt_at: None
            }
        );
        assert_eq!(
            transient.status(5, 5),
            ChannelStatus::DeadLettered {
                attempts: 5,
                reason: "timed out".into()
            }
        );
    }
}
