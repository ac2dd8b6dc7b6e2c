//! Settings of the API, from environment variables (or any lookup that
//! stands in for them). Every one has a default; a bad value is refused
//! with a message naming the variable.

use std::collections::{BTreeMap, BTreeSet};

use crate::api_key::ApiKey;
use crate::idempotency::DEFAULT_IDEMPOTENCY_TTL_MS;
use crate::model::Channel;
use crate::templates::DEFAULT_MAX_SMS_SEGMENTS;
use crate::validate::{self, UrlPolicy};

pub const CATEGORIES: &str = "NOTIFY_CATEGORIES";
pub const SMS_MAX_SEGMENTS: &str = "NOTIFY_SMS_MAX_SEGMENTS";
pub const IDEMPOTENCY_TTL_SECONDS: &str = "NOTIFY_IDEMPOTENCY_TTL_SECONDS";
pub const MAX_RECIPIENTS: &str = "NOTIFY_MAX_RECIPIENTS";
pub const ALLOW_HTTP_WEBHOOKS: &str = "NOTIFY_ALLOW_HTTP_WEBHOOKS";
pub const MAX_FANOUT_RECIPIENTS: &str = "NOTIFY_MAX_FANOUT_RECIPIENTS";
pub const API_KEY: &str = "NOTIFY_API_KEY";
pub const API_KEY_SECRET_ARN: &str = "NOTIFY_API_KEY_SECRET_ARN";
/// Users one fanned-out request may address.
pub const DEFAULT_MAX_FANOUT_RECIPIENTS: usize = 10_000;
const MAX_FANOUT_RECIPIENTS_LIMIT: u64 = 100_000;

/// The categories a deployment starts with: the usual split between what
/// a user must get (account, security, billing, orders) and what they may
/// turn off (marketing, product, social).
pub const DEFAULT_CATEGORIES: [&str; 7] = [
    "account",
    "billing",
    "marketing",
    "orders",
    "product",
    "security",
    "social",
];
/// Users one request may address.
pub const DEFAULT_MAX_RECIPIENTS: usize = 100;
/// Upper bounds that catch typos rather than limit real use.
const MAX_SMS_SEGMENTS_LIMIT: usize = 10;
const MAX_RECIPIENTS_LIMIT: usize = 1000;
const MAX_IDEMPOTENCY_TTL_SECONDS: u64 = 7 * 24 * 60 * 60;

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable} value {value:?}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub reason: String,
}

/// What the API needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOptions {
    /// The categories requests, templates and opt-outs may name.
    pub categories: BTreeSet<String>,
    pub max_sms_segments: usize,
    pub idempotency_ttl_ms: i64,
    pub max_recipients: usize,
    /// Users one request may address when the expander's queue is
    /// configured (requests above `max_recipients` are fanned out).
    pub max_fanout_recipients: usize,
    /// `AllowHttpLoopback` only for tests with a receiver on this machine.
    pub url_policy: UrlPolicy,
    /// With a key, every `/v1/*` request must present it ([`ApiKey`]).
    pub api_key: Option<ApiKey>,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            categories: DEFAULT_CATEGORIES.into_iter().map(String::from).collect(),
            max_sms_segments: DEFAULT_MAX_SMS_SEGMENTS,
            idempotency_ttl_ms: DEFAULT_IDEMPOTENCY_TTL_MS,
            max_recipients: DEFAULT_MAX_RECIPIENTS,
            max_fanout_recipients: DEFAULT_MAX_FANOUT_RECIPIENTS,
            url_policy: UrlPolicy::HttpsOnly,
            api_key: None,
        }
    }
}

impl ServiceOptions {
    /// The options from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The options from `lookup` (an environment stand-in); unset or empty
    /// variables take their defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name| lookup(name).filter(|v| !v.trim().is_empty());
        let mut options = Self::default();
        if let Some(value) = get(CATEGORIES) {
            options.categories = parse_categories(&value)?;
        }
        if let Some(value) = get(SMS_MAX_SEGMENTS) {
            options.max_sms_segments =
                parse_number(SMS_MAX_SEGMENTS, &value, MAX_SMS_SEGMENTS_LIMIT as u64)? as usize;
        }
        if let Some(value) = get(IDEMPOTENCY_TTL_SECONDS) {
            let seconds =
                parse_number(IDEMPOTENCY_TTL_SECONDS, &value, MAX_IDEMPOTENCY_TTL_SECONDS)?;
            options.idempotency_ttl_ms = seconds as i64 * 1000;
        }
        if let Some(value) = get(MAX_RECIPIENTS) {
            options.max_recipients =
                parse_number(MAX_RECIPIENTS, &value, MAX_RECIPIENTS_LIMIT as u64)? as usize;
        }
        if let Some(value) = get(MAX_FANOUT_RECIPIENTS) {
            options.max_fanout_recipients =
                parse_number(MAX_FANOUT_RECIPIENTS, &value, MAX_FANOUT_RECIPIENTS_LIMIT)? as usize;
        }
        if let Some(value) = get(ALLOW_HTTP_WEBHOOKS) {
            options.url_policy = match value.trim() {
                "true" | "1" => UrlPolicy::AllowHttpLoopback,
                "false" | "0" => UrlPolicy::HttpsOnly,
                _ => {
                    return Err(invalid(
                        ALLOW_HTTP_WEBHOOKS,
                        &value,
                        "must be true or false",
                    ));
                }
            };
        }
        if let Some(value) = get(API_KEY) {
            // The value is a secret: the error must not repeat it.
            options.api_key = Some(
                ApiKey::new(&value).map_err(|err| invalid(API_KEY, "(hidden)", err.to_string()))?,
            );
        }
        Ok(options)
    }
}

pub const MAX_RECEIVE_COUNT: &str = "NOTIFY_MAX_RECEIVE_COUNT";
pub const SEND_LEASE_SECONDS: &str = "NOTIFY_SEND_LEASE_SECONDS";
pub const WORKER_CONCURRENCY: &str = "NOTIFY_WORKER_CONCURRENCY";
pub const RATE_EMAIL_PER_SECOND: &str = "NOTIFY_RATE_EMAIL_PER_SECOND";
pub const RATE_SMS_PER_SECOND: &str = "NOTIFY_RATE_SMS_PER_SECOND";
pub const RATE_PUSH_PER_SECOND: &str = "NOTIFY_RATE_PUSH_PER_SECOND";
pub const RATE_WEBHOOK_PER_SECOND: &str = "NOTIFY_RATE_WEBHOOK_PER_SECOND";

/// The rate setting of each channel.
pub fn rate_variable(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => RATE_EMAIL_PER_SECOND,
        Channel::Sms => RATE_SMS_PER_SECOND,
        Channel::Push => RATE_PUSH_PER_SECOND,
        Channel::Webhook => RATE_WEBHOOK_PER_SECOND,
    }
}

/// Receives of one queue message before SQS moves it to the dead-letter
/// queue, unless configured otherwise.
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;
/// How long a worker's send claim lasts unless configured otherwise.
pub const DEFAULT_SEND_LEASE_SECONDS: u64 = 60;
/// Sends in flight per batch unless configured otherwise.
pub const DEFAULT_WORKER_CONCURRENCY: usize = 10;

/// What the delivery workers need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerOptions {
    /// The queue's `maxReceiveCount` (its redrive policy must say the same):
    /// a transient failure on this receive is recorded as `dead_lettered`.
    pub max_receive_count: u32,
    /// How long a `sending` claim holds off other deliveries of the job;
    /// longer than a provider call may take, shorter than the queue's
    /// visibility timeout.
    pub send_lease_ms: i64,
    /// Jobs of one batch handled at once.
    pub concurrency: usize,
    /// Sends per second allowed per channel, across every worker; a
    /// channel without an entry is not capped.
    pub rate_per_second: BTreeMap<Channel, u32>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            max_receive_count: DEFAULT_MAX_RECEIVE_COUNT,
            send_lease_ms: DEFAULT_SEND_LEASE_SECONDS as i64 * 1000,
            concurrency: DEFAULT_WORKER_CONCURRENCY,
            rate_per_second: BTreeMap::new(),
        }
    }
}

impl WorkerOptions {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name| lookup(name).filter(|v| !v.trim().is_empty());
        let mut options = Self::default();
        if let Some(value) = get(MAX_RECEIVE_COUNT) {
            options.max_receive_count = parse_number(MAX_RECEIVE_COUNT, &value, 1000)? as u32;
        }
        if let Some(value) = get(SEND_LEASE_SECONDS) {
            options.send_lease_ms = parse_number(SEND_LEASE_SECONDS, &value, 900)? as i64 * 1000;
        }
        if let Some(value) = get(WORKER_CONCURRENCY) {
            options.concurrency = parse_number(WORKER_CONCURRENCY, &value, 100)? as usize;
        }
        for channel in Channel::ALL {
            let variable = rate_variable(channel);
            if let Some(value) = get(variable) {
                let rate = parse_number(variable, &value, 1_000_000)? as u32;
                options.rate_per_second.insert(channel, rate);
            }
        }
        Ok(options)
    }
}

fn invalid(variable: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// A whole number from 1 to `max`.
fn parse_number(variable: &'static str, value: &str, max: u64) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(invalid(
            variable,
            value,
            format!("must be a whole number from 1 to {max}"),
        )),
    }
}

/// Comma-separated category names.
fn parse_categories(value: &str) -> Result<BTreeSet<String>, ConfigError> {
    let mut categories = BTreeSet::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        validate::category_name(name).map_err(|err| invalid(CATEGORIES, value, err.to_string()))?;
        categories.insert(name.to_owned());
    }
    if categories.is_empty() {
        return Err(invalid(CATEGORIES, value, "names no category"));
    }
    Ok(categories)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<ServiceOptions, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServiceOptions::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let options = from(&[]).unwrap();
        assert_eq!(options, ServiceOptions::default());
        assert!(options.categories.contains("marketing"));
        assert_eq!(options.max_sms_segments, 3);
        assert_eq!(options.idempotency_ttl_ms, 86_400_000);
        assert_eq!(options.url_policy, UrlPolicy::HttpsOnly);
        // Empty values are unset.
        assert_eq!(
            from(&[(CATEGORIES, " ")]).unwrap(),
            ServiceOptions::default()
        );
    }

    #[test]
    fn every_setting_is_read() {
        let options = from(&[
            (CATEGORIES, "alerts, digest ,,promo"),
            (SMS_MAX_SEGMENTS, "5"),
            (IDEMPOTENCY_TTL_SECONDS, "3600"),
            (MAX_RECIPIENTS, "20"),
            (ALLOW_HTTP_WEBHOOKS, "true"),
        ])
        .unwrap();
        assert_eq!(
            options.categories.into_iter().collect::<Vec<_>>(),
            ["alerts", "digest", "promo"]
        );
        assert_eq!(options.max_sms_segments, 5);
        assert_eq!(options.idempotency_ttl_ms, 3_600_000);
        assert_eq!(options.max_recipients, 20);
        assert_eq!(options.url_policy, UrlPolicy::AllowHttpLoopback);
    }

    #[test]
    fn worker_settings() {
        let map: HashMap<String, String> = [
            (MAX_RECEIVE_COUNT, "3"),
            (SEND_LEASE_SECONDS, "30"),
            (WORKER_CONCURRENCY, "4"),
            (RATE_SMS_PER_SECOND, "20"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let options = WorkerOptions::from_lookup(|name| map.get(name).cloned()).unwrap();
        assert_eq!(options.max_receive_count, 3);
        assert_eq!(options.send_lease_ms, 30_000);
        assert_eq!(options.concurrency, 4);
        assert_eq!(
            options.rate_per_second,
            BTreeMap::from([(Channel::Sms, 20)])
        );
        assert_eq!(
            WorkerOptions::from_lookup(|_| None).unwrap(),
            WorkerOptions::default()
        );
        let err = WorkerOptions::from_lookup(|name| {
            (name == RATE_PUSH_PER_SECOND).then(|| "0".to_string())
        })
        .unwrap_err();
        assert_eq!(err.variable, RATE_PUSH_PER_SECOND);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases = [
            (CATEGORIES, "Promo", "the category \"Promo\""),
            (CATEGORIES, ",", "names no category"),
            (SMS_MAX_SEGMENTS, "0", "from 1 to 10"),
            (SMS_MAX_SEGMENTS, "11", "from 1 to 10"),
            (IDEMPOTENCY_TTL_SECONDS, "1h", "whole number"),
            (MAX_RECIPIENTS, "5000", "from 1 to 1000"),
            (ALLOW_HTTP_WEBHOOKS, "yes", "true or false"),
        ];
        for (variable, value, reason) in cases {
            let message = from(&[(variable, value)]).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("invalid {variable} value")),
                "{message}"
            );
            assert!(message.contains(reason), "{message}");
        }
    }
}
