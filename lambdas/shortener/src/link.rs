//! A stored link and the rules about its lifetime.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest accepted `expires_in_seconds`: ten years of 365.25 days.
pub const MAX_EXPIRES_IN_SECONDS: u64 = 315_576_000;

/// One link as the links table holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub code: String,
    pub url: String,
    /// Unix epoch seconds.
    pub created_at: i64,
    /// Unix epoch seconds; the table's TTL attribute. A link whose
    /// `expires_at <= now` is gone, whether or not DynamoDB has deleted it yet
    /// (TTL deletion can lag by days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl Link {
    /// Whether the link no longer redirects at `now` (epoch seconds).
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Why `expires_in_seconds` was refused; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("expires_in_seconds must be a whole number of seconds")]
    NotAnInteger,
    #[error("expires_in_seconds must be positive")]
    NotPositive,
    #[error("expires_in_seconds must be at most {MAX_EXPIRES_IN_SECONDS} (10 years)")]
    TooLarge,
}

/// Reads the optional `expires_in_seconds` of a create request: absent or
/// `null` means the link never expires.
pub fn parse_expires_in(value: Option<&Value>) -> Result<Option<u64>, ExpiryError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(ExpiryError::NotAnInteger);
    };
    if let Some(seconds) = number.as_u64() {
        return match seconds {
            0 => Err(ExpiryError::NotPositive),
            s if s > MAX_EXPIRES_IN_SECONDS => Err(ExpiryError::TooLarge),
            s => Ok(Some(s)),
        };
    }
    if number.as_i64().is_some() {
        return Err(ExpiryError::NotPositive);
    }
    Err(ExpiryError::NotAnInteger)
}

/// Seconds since the Unix epoch, now.
pub fn now_epoch_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_epoch_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn absent_or_null_means_no_expiry() {
        assert_eq!(parse_expires_in(None), Ok(None));
        assert_eq!(parse_expires_in(Some(&Value::Null)), Ok(None));
    }

    #[test]
    fn accepts_positive_integers_up_to_ten_years() {
        assert_eq!(parse_expires_in(Some(&json!(1))), Ok(Some(1)));
        assert_eq!(
            parse_expires_in(Some(&json!(MAX_EXPIRES_IN_SECONDS))),
            Ok(Some(MAX_EXPIRES_IN_SECONDS))
        );
    }

    #[test]
    fn refuses_zero_negative_fractional_huge_and_non_numbers() {
        assert_eq!(
            parse_expires_in(Some(&json!(0))),
            Err(ExpiryError::NotPositive)
        );
        assert_eq!(
            parse_expires_in(Some(&json!(-5))),
            Err(ExpiryError::NotPositive)
        );
        assert_eq!(
            parse_expires_in(Some(&json!(1.5))),
            Err(ExpiryError::NotAnInteger)
        );
        assert_eq!(
            parse_expires_in(Some(&json!("60"))),
            Err(ExpiryError::NotAnInteger)
        );
        assert_eq!(
            parse_expires_in(Some(&json!(true))),
            Err(ExpiryError::NotAnInteger)
        );
        assert_eq!(
            parse_expires_in(Some(&json!(MAX_EXPIRES_IN_SECONDS + 1))),
            Err(ExpiryError::TooLarge)
        );
        assert_eq!(
            parse_expires_in(Some(&json!(u64::MAX))),
            Err(ExpiryError::TooLarge)
        );
    }

    #[test]
    fn expiry_is_inclusive_of_now() {
        let link = Link {
            code: "abc".into(),
            url: "https://example.com".into(),
            created_at: 100,
            expires_at: Some(160),
        };
        assert!(!link.is_expired(159));
        assert!(link.is_expired(160));
        assert!(
            !Link {
                expires_at: None,
                ..link
            }
            .is_expired(i64::MAX)
        );
    }
}
