//! Settings of the API function, from the environment (Lambda) or from
//! flags that default to the same environment variables (`shortener serve`).
//!
//! Both paths go through [`RawConfig`] → [`Config::from_raw`], so a bad
//! value gets the same message naming the flag and the variable either way.

use std::time::Duration;

use crate::target_url::{UrlError, validate_target_url};

/// A setting's flag and environment variable, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub flag: &'static str,
    pub env: &'static str,
}

pub const LINKS_TABLE: Setting = Setting {
    flag: "--links-table",
    env: "LINKS_TABLE",
};
pub const CLICKS_TABLE: Setting = Setting {
    flag: "--clicks-table",
    env: "CLICKS_TABLE",
};
pub const CLICKS_QUEUE_URL: Setting = Setting {
    flag: "--clicks-queue-url",
    env: "CLICKS_QUEUE_URL",
};
pub const REDIRECT_STATUS: Setting = Setting {
    flag: "--redirect-status",
    env: "REDIRECT_STATUS",
};
pub const CACHE_TTL_SECONDS: Setting = Setting {
    flag: "--cache-ttl-seconds",
    env: "CACHE_TTL_SECONDS",
};
pub const CACHE_MAX_ENTRIES: Setting = Setting {
    flag: "--cache-max-entries",
    env: "CACHE_MAX_ENTRIES",
};
pub const CREATE_RATE_PER_MINUTE: Setting = Setting {
    flag: "--create-rate-per-minute",
    env: "CREATE_RATE_PER_MINUTE",
};
pub const PUBLIC_BASE_URL: Setting = Setting {
    flag: "--public-base-url",
    env: "PUBLIC_BASE_URL",
};
pub const CLICK_BATCH_MAX_AGE_MS: Setting = Setting {
    flag: "--click-batch-max-age-ms",
    env: "CLICK_BATCH_MAX_AGE_MS",
};
pub const TRUST_FORWARDED_FOR: Setting = Setting {
    flag: "--trust-forwarded-for",
    env: "TRUST_FORWARDED_FOR",
};

pub const DEFAULT_CACHE_TTL_SECONDS: u64 = 60;
pub const DEFAULT_CACHE_MAX_ENTRIES: usize = 10_000;
pub const DEFAULT_CREATE_RATE_PER_MINUTE: u32 = 60;
pub const DEFAULT_CLICK_BATCH_MAX_AGE_MS: u64 = 200;
/// A click waits at most this long for company (15 minutes, Lambda's
/// longest timeout); longer would only delay analytics.
const MAX_CLICK_BATCH_MAX_AGE_MS: u64 = 900_000;
/// Upper bounds that catch typos (a TTL in milliseconds, say).
const MAX_CACHE_TTL_SECONDS: u64 = 86_400;
const MAX_CACHE_MAX_ENTRIES: usize = 10_000_000;

/// A setting that is missing or cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{} is not set: pass {} or set the environment variable {}", .0.env, .0.flag, .0.env)]
    Missing(Setting),
    #[error("invalid {} / {} value {value:?}: {reason}", .setting.flag, .setting.env)]
    Invalid {
        setting: Setting,
        value: String,
        reason: String,
    },
}

/// Redirect status of `GET /{code}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectStatus {
    /// 302: every click reaches the service (and is counted).
    Found,
    /// 301: browsers may cache it and skip the service next time.
    MovedPermanently,
}

impl RedirectStatus {
    pub fn code(self) -> u16 {
        match self {
            Self::Found => 302,
            Self::MovedPermanently => 301,
        }
    }
}

/// What the HTTP handlers need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOptions {
    pub redirect_status: RedirectStatus,
    /// 0 disables the cache.
    pub cache_ttl: Duration,
    /// 0 disables the cache.
    pub cache_max_entries: usize,
    /// Link creations per client per minute; 0 disables the limit.
    pub create_rate_per_minute: u32,
    /// `scheme://host[:port][/prefix]` without a trailing slash; short URLs
    /// start with it. `None`: taken from each request.
    pub public_base_url: Option<String>,
    /// Standalone behind a proxy: take the client address from the last
    /// `X-Forwarded-For` entry and the scheme from `X-Forwarded-Proto`.
    pub trust_forwarded_for: bool,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            redirect_status: RedirectStatus::Found,
            cache_ttl: Duration::from_secs(DEFAULT_CACHE_TTL_SECONDS),
            cache_max_entries: DEFAULT_CACHE_MAX_ENTRIES,
            create_rate_per_minute: DEFAULT_CREATE_RATE_PER_MINUTE,
            public_base_url: None,
            trust_forwarded_for: false,
        }
    }
}

/// Everything the API function is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub links_table: String,
    pub clicks_table: String,
    pub clicks_queue_url: String,
    /// How long the first click of a batch waits for more before it is sent.
    pub click_batch_max_age: Duration,
    pub service: ServiceOptions,
}

/// Settings as text, before validation; `None` means not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawConfig {
    pub links_table: Option<String>,
    pub clicks_table: Option<String>,
    pub clicks_queue_url: Option<String>,
    pub redirect_status: Option<String>,
    pub cache_ttl_seconds: Option<String>,
    pub cache_max_entries: Option<String>,
    pub create_rate_per_minute: Option<String>,
    pub public_base_url: Option<String>,
    pub trust_forwarded_for: Option<String>,
    pub click_batch_max_age_ms: Option<String>,
}

impl RawConfig {
    /// Reads every setting from the environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every setting through `lookup` (an environment stand-in).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            links_table: lookup(LINKS_TABLE.env),
            clicks_table: lookup(CLICKS_TABLE.env),
            clicks_queue_url: lookup(CLICKS_QUEUE_URL.env),
            redirect_status: lookup(REDIRECT_STATUS.env),
            cache_ttl_seconds: lookup(CACHE_TTL_SECONDS.env),
            cache_max_entries: lookup(CACHE_MAX_ENTRIES.env),
            create_rate_per_minute: lookup(CREATE_RATE_PER_MINUTE.env),
            public_base_url: lookup(PUBLIC_BASE_URL.env),
            trust_forwarded_for: lookup(TRUST_FORWARDED_FOR.env),
            click_batch_max_age_ms: lookup(CLICK_BATCH_MAX_AGE_MS.env),
        }
    }
}

impl Config {
    /// The configuration from the environment, as on Lambda.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_raw(RawConfig::from_env())
    }

    pub fn from_raw(raw: RawConfig) -> Result<Self, ConfigError> {
        let service = ServiceOptions {
            redirect_status: match present(raw.redirect_status).as_deref() {
                None | Some("302") => RedirectStatus::Found,
                Some("301") => RedirectStatus::MovedPermanently,
                Some(other) => return Err(invalid(REDIRECT_STATUS, other, "must be 301 or 302")),
            },
            cache_ttl: Duration::from_secs(parse_number(
                CACHE_TTL_SECONDS,
                raw.cache_ttl_seconds,
                DEFAULT_CACHE_TTL_SECONDS,
                MAX_CACHE_TTL_SECONDS,
            )?),
            cache_max_entries: parse_number(
                CACHE_MAX_ENTRIES,
                raw.cache_max_entries,
                DEFAULT_CACHE_MAX_ENTRIES as u64,
                MAX_CACHE_MAX_ENTRIES as u64,
            )? as usize,
            create_rate_per_minute: parse_number(
                CREATE_RATE_PER_MINUTE,
                raw.create_rate_per_minute,
                DEFAULT_CREATE_RATE_PER_MINUTE as u64,
                u32::MAX as u64,
            )? as u32,
            public_base_url: present(raw.public_base_url)
                .map(|url| parse_public_base_url(&url))
                .transpose()?,
            trust_forwarded_for: match present(raw.trust_forwarded_for).as_deref() {
                None | Some("0" | "false" | "no") => false,
                Some("1" | "true" | "yes") => true,
                Some(other) => {
                    return Err(invalid(TRUST_FORWARDED_FOR, other, "must be true or false"));
                }
            },
        };
        Ok(Self {
            links_table: required(LINKS_TABLE, raw.links_table)?,
            clicks_table: required(CLICKS_TABLE, raw.clicks_table)?,
            clicks_queue_url: parse_queue_url(required(CLICKS_QUEUE_URL, raw.clicks_queue_url)?)?,
            click_batch_max_age: Duration::from_millis(parse_number(
                CLICK_BATCH_MAX_AGE_MS,
                raw.click_batch_max_age_ms,
                DEFAULT_CLICK_BATCH_MAX_AGE_MS,
                MAX_CLICK_BATCH_MAX_AGE_MS,
            )?),
            service,
        })
    }
}

/// The click aggregator's only setting: `CLICKS_TABLE`.
pub fn clicks_table_from_env() -> Result<String, ConfigError> {
    required(CLICKS_TABLE, std::env::var(CLICKS_TABLE.env).ok())
}

fn present(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn invalid(setting: Setting, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        setting,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

fn required(setting: Setting, value: Option<String>) -> Result<String, ConfigError> {
    present(value).ok_or(ConfigError::Missing(setting))
}

fn parse_number(
    setting: Setting,
    value: Option<String>,
    default: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(text) = present(value) else {
        return Ok(default);
    };
    match text.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(invalid(
            setting,
            &text,
            &format!("must be a whole number from 0 to {max}"),
        )),
    }
}

fn parse_queue_url(url: String) -> Result<String, ConfigError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(url)
    } else {
        Err(invalid(
            CLICKS_QUEUE_URL,
            &url,
            "must be the queue's URL (https://sqs.<region>.amazonaws.com/<account>/<name>), not its name or ARN",
        ))
    }
}

/// `scheme://host[:port][/prefix]`, stored without a trailing slash.
fn parse_public_base_url(url: &str) -> Result<String, ConfigError> {
    let trimmed = url.trim_end_matches('/');
    let reason = match validate_target_url(trimmed, &[]) {
        Ok(_) if trimmed.contains(['?', '#']) => "must not have a query or fragment".to_owned(),
        Ok(_) => return Ok(trimmed.to_owned()),
        Err(UrlError::NoScheme) => "must start with http:// or https://".to_owned(),
        Err(err) => err.to_string().replacen("url", "the base URL", 1),
    };
    Err(invalid(PUBLIC_BASE_URL, url, &reason))
}

/// The host of a validated base URL (`https://sho.rt:8443/x` → `sho.rt:8443`).
pub fn base_url_host(base_url: &str) -> &str {
    let rest = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawConfig {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RawConfig::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    const BASE: &[(&str, &str)] = &[
        ("LINKS_TABLE", "links"),
        ("CLICKS_TABLE", "clicks"),
        (
            "CLICKS_QUEUE_URL",
            "http://localhost:5000/123456789012/clicks",
        ),
    ];

    fn with(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        // `from_lookup` takes the first match, so `extra` overrides `BASE`.
        let all: Vec<(&str, &str)> = extra.iter().chain(BASE).copied().collect();
        Config::from_raw(raw(&all))
    }

    #[test]
    fn defaults_match_the_blueprint_defaults() {
        let config = with(&[]).unwrap();
        assert_eq!(config.links_table, "links");
        assert_eq!(config.service, ServiceOptions::default());
        assert_eq!(config.service.redirect_status.code(), 302);
        assert_eq!(config.service.cache_ttl, Duration::from_secs(60));
        assert_eq!(config.click_batch_max_age, Duration::from_millis(200));
    }

    #[test]
    fn reads_every_setting() {
        let config = with(&[
            ("REDIRECT_STATUS", "301"),
            ("CACHE_TTL_SECONDS", "0"),
            ("CACHE_MAX_ENTRIES", "5"),
            ("CREATE_RATE_PER_MINUTE", "7"),
            ("PUBLIC_BASE_URL", "https://sho.rt/"),
            ("TRUST_FORWARDED_FOR", "true"),
            ("CLICK_BATCH_MAX_AGE_MS", "5000"),
        ])
        .unwrap();
        assert_eq!(config.click_batch_max_age, Duration::from_secs(5));
        let s = config.service;
        assert_eq!(s.redirect_status, RedirectStatus::MovedPermanently);
        assert_eq!(s.cache_ttl, Duration::ZERO);
        assert_eq!(s.cache_max_entries, 5);
        assert_eq!(s.create_rate_per_minute, 7);
        assert_eq!(s.public_base_url.as_deref(), Some("https://sho.rt"));
        assert!(s.trust_forwarded_for);
    }

    #[test]
    fn missing_settings_name_flag_and_variable() {
        let err = Config::from_raw(RawConfig::default()).unwrap_err();
        assert_eq!(err, ConfigError::Missing(LINKS_TABLE));
        assert_eq!(
            err.to_string(),
            "LINKS_TABLE is not set: pass --links-table or set the environment variable LINKS_TABLE"
        );
        let err =
            Config::from_raw(raw(&[("LINKS_TABLE", "l"), ("CLICKS_TABLE", " ")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing(CLICKS_TABLE));
    }

    #[test]
    fn bad_values_name_flag_and_variable() {
        let err = with(&[("REDIRECT_STATUS", "303")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid --redirect-status / REDIRECT_STATUS value \"303\": must be 301 or 302"
        );
        for (name, value) in [
            ("CACHE_TTL_SECONDS", "-1"),
            ("CACHE_TTL_SECONDS", "1m"),
            ("CACHE_TTL_SECONDS", "999999999"),
            ("CACHE_MAX_ENTRIES", "lots"),
            ("CREATE_RATE_PER_MINUTE", "1.5"),
            ("TRUST_FORWARDED_FOR", "maybe"),
            ("CLICK_BATCH_MAX_AGE_MS", "1000000"),
            ("PUBLIC_BASE_URL", "sho.rt"),
            ("PUBLIC_BASE_URL", "ftp://sho.rt"),
            ("PUBLIC_BASE_URL", "https://sho.rt/?x=1"),
            (
                "CLICKS_QUEUE_URL",
                "arn:aws:sqs:us-east-1:123456789012:clicks",
            ),
        ] {
            match with(&[(name, value)]) {
                Err(ConfigError::Invalid { setting, .. }) => assert_eq!(setting.env, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn base_url_host_of_validated_urls() {
        assert_eq!(base_url_host("https://sho.rt"), "sho.rt");
        assert_eq!(base_url_host("http://sho.rt:8080/s"), "sho.rt:8080");
    }
}
