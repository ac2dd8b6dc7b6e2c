//! Settings, from the environment (Lambda) or from `chat serve` flags that
//! have the same names (lower-cased, with dashes) and default to the same
//! environment variables. Both paths read through a lookup function, so a
//! bad value gets the same message naming the flag and the variable.

use std::time::Duration;

/// A setting's flag and environment variable, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub flag: &'static str,
    pub env: &'static str,
}

macro_rules! settings {
    ($($name:ident = $flag:literal, $env:literal;)*) => {
        $(pub const $name: Setting = Setting { flag: $flag, env: $env };)*
        /// Every setting, in the order the README lists them.
        pub const ALL: &[Setting] = &[$($name),*];
    };
}

settings! {
    CONNECTIONS_TABLE = "--connections-table", "CONNECTIONS_TABLE";
    MESSAGES_TABLE = "--messages-table", "MESSAGES_TABLE";
    PRESENCE_TABLE = "--presence-table", "PRESENCE_TABLE";
    SIGNING_SECRET_ARN = "--signing-secret-arn", "SIGNING_SECRET_ARN";
    CONNECTION_TTL_SECONDS = "--connection-ttl-seconds", "CONNECTION_TTL_SECONDS";
    PRESENCE_TTL_SECONDS = "--presence-ttl-seconds", "PRESENCE_TTL_SECONDS";
    HISTORY_PAGE_SIZE = "--history-page-size", "HISTORY_PAGE_SIZE";
    MESSAGE_RETENTION_DAYS = "--message-retention-days", "MESSAGE_RETENTION_DAYS";
    MAX_MESSAGE_CHARS = "--max-message-chars", "MAX_MESSAGE_CHARS";
    MESSAGE_RATE_PER_MINUTE = "--message-rate-per-minute", "MESSAGE_RATE_PER_MINUTE";
    TYPING_MIN_INTERVAL_MS = "--typing-min-interval-ms", "TYPING_MIN_INTERVAL_MS";
    FANOUT_CONCURRENCY = "--fanout-concurrency", "FANOUT_CONCURRENCY";
}

/// Largest text the 32 KB frame limit leaves room for (4-byte characters
/// plus the frame's JSON).
pub const MAX_MAX_MESSAGE_CHARS: u64 = 7_000;

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

/// The limits and lifetimes the handlers apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Lifetime of a connection record (TTL), from `$connect`.
    pub connection_ttl: Duration,
    /// A user is online this long after their last heartbeat.
    pub presence_ttl: Duration,
    /// Messages per history page unless the request asks for fewer.
    pub history_page_size: u32,
    /// Days before a message expires; `None` keeps messages forever.
    pub message_retention_days: Option<u32>,
    /// Longest message text, in characters (Unicode scalar values).
    pub max_message_chars: usize,
    /// Messages per connection per minute; 0 turns the limit off.
    pub message_rate_per_minute: u32,
    /// Shortest interval between two typing events of one connection.
    pub typing_min_interval: Duration,
    /// PostToConnection calls in flight at once per fan-out.
    pub fanout_concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connection_ttl: Duration::from_secs(7200),
            presence_ttl: Duration::from_secs(90),
            history_page_size: 50,
            message_retention_days: None,
            max_message_chars: 4000,
            message_rate_per_minute: 120,
            typing_min_interval: Duration::from_millis(2000),
            fanout_concurrency: 32,
        }
    }
}

/// Everything a chat process reads from its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub connections_table: Option<String>,
    pub messages_table: Option<String>,
    pub presence_table: Option<String>,
    pub signing_secret_arn: Option<String>,
    pub limits: Limits,
}

impl Config {
    /// The configuration from the process environment, as on Lambda.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Every setting read through `lookup` (an environment variable name
    /// in, its text out).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |setting: Setting| present(lookup(setting.env));
        let number = |setting: Setting, default: u64, min: u64, max: u64| {
            parse_number(setting, get(setting), default, min, max)
        };
        let retention = number(MESSAGE_RETENTION_DAYS, 0, 0, 3650)? as u32;
        Ok(Self {
            connections_table: get(CONNECTIONS_TABLE),
            messages_table: get(MESSAGES_TABLE),
            presence_table: get(PRESENCE_TABLE),
            signing_secret_arn: get(SIGNING_SECRET_ARN),
            limits: Limits {
                connection_ttl: Duration::from_secs(number(
                    CONNECTION_TTL_SECONDS,
                    7200,
                    60,
                    86_400,
                )?),
                presence_ttl: Duration::from_secs(number(PRESENCE_TTL_SECONDS, 90, 1, 86_400)?),
                history_page_size: number(HISTORY_PAGE_SIZE, 50, 1, 500)? as u32,
                message_retention_days: (retention > 0).then_some(retention),
                max_message_chars: number(MAX_MESSAGE_CHARS, 4000, 1, MAX_MAX_MESSAGE_CHARS)?
                    as usize,
                message_rate_per_minute: number(MESSAGE_RATE_PER_MINUTE, 120, 0, 1_000_000)? as u32,
                typing_min_interval: Duration::from_millis(number(
                    TYPING_MIN_INTERVAL_MS,
                    2000,
                    0,
                    600_000,
                )?),
                fanout_concurrency: number(FANOUT_CONCURRENCY, 32, 1, 1024)? as usize,
            },
        })
    }

    /// A table setting that the caller needs.
    pub fn require(value: &Option<String>, setting: Setting) -> Result<String, ConfigError> {
        value.clone().ok_or(ConfigError::Missing(setting))
    }
}

fn present(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn parse_number(
    setting: Setting,
    value: Option<String>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(text) = value else {
        return Ok(default);
    };
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            setting,
            value: text,
            reason: format!("must be a whole number from {min} to {max}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = with(&[]).unwrap();
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.connections_table, None);
        assert_eq!(config.limits.max_message_chars, 4000);
        assert_eq!(config.limits.message_rate_per_minute, 120);
        assert_eq!(config.limits.fanout_concurrency, 32);
    }

    #[test]
    fn reads_every_setting() {
        let config = with(&[
            ("CONNECTIONS_TABLE", "c"),
            ("MESSAGES_TABLE", " m "),
            ("PRESENCE_TABLE", "p"),
            (
                "SIGNING_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:1:secret:s",
            ),
            ("CONNECTION_TTL_SECONDS", "600"),
            ("PRESENCE_TTL_SECONDS", "5"),
            ("HISTORY_PAGE_SIZE", "10"),
            ("MESSAGE_RETENTION_DAYS", "30"),
            ("MAX_MESSAGE_CHARS", "100"),
            ("MESSAGE_RATE_PER_MINUTE", "0"),
            ("TYPING_MIN_INTERVAL_MS", "0"),
            ("FANOUT_CONCURRENCY", "4"),
        ])
        .unwrap();
        assert_eq!(config.messages_table.as_deref(), Some("m"));
        let l = config.limits;
        assert_eq!(l.connection_ttl, Duration::from_secs(600));
        assert_eq!(l.presence_ttl, Duration::from_secs(5));
        assert_eq!(l.history_page_size, 10);
        assert_eq!(l.message_retention_days, Some(30));
        assert_eq!(l.max_message_chars, 100);
        assert_eq!(l.message_rate_per_minute, 0);
        assert_eq!(l.typing_min_interval, Duration::ZERO);
        assert_eq!(l.fanout_concurrency, 4);
    }

    #[test]
    fn bad_values_name_flag_and_variable() {
        let err = with(&[("HISTORY_PAGE_SIZE", "0")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid --history-page-size / HISTORY_PAGE_SIZE value \"0\": must be a whole number from 1 to 500"
        );
        for (name, value) in [
            ("CONNECTION_TTL_SECONDS", "10"),
            ("PRESENCE_TTL_SECONDS", "1.5"),
            ("MAX_MESSAGE_CHARS", "100000"),
            ("MESSAGE_RATE_PER_MINUTE", "-1"),
            ("FANOUT_CONCURRENCY", "0"),
            ("MESSAGE_RETENTION_DAYS", "ten"),
        ] {
            match with(&[(name, value)]) {
                Err(ConfigError::Invalid { setting, .. }) => assert_eq!(setting.env, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
        assert_eq!(
            Config::require(&None, MESSAGES_TABLE)
                .unwrap_err()
                .to_string(),
            "MESSAGES_TABLE is not set: pass --messages-table or set the environment variable MESSAGES_TABLE"
        );
    }

    #[test]
    fn flags_are_the_variables_lower_cased_with_dashes() {
        for setting in ALL {
            let expected = format!("--{}", setting.env.to_ascii_lowercase().replace('_', "-"));
            assert_eq!(setting.flag, expected);
        }
    }
}
