//! Where a rotated database password is read again: the Secrets Manager
//! secret the settings came from (on RDS, the managed master-user secret,
//! which RDS rotates every 7 days by default).
//!
//! Reads are rate-limited: a server that refuses every login (a wrong user
//! in the secret, a password being changed by hand) must not turn each
//! request into a Secrets Manager call, which costs money and has a quota.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::config::credentials_from_secret;

/// At most one re-read of the secret per this long.
pub const REREAD_AT_MOST_EVERY: Duration = Duration::from_secs(10);

/// The secret a store's login comes from.
pub struct SecretCredentials {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    last_read: Mutex<Option<Instant>>,
}

impl SecretCredentials {
    /// Reads with `client` (the region and credentials of the function).
    pub fn new(client: aws_sdk_secretsmanager::Client, arn: impl Into<String>) -> Self {
        Self {
            client,
            arn: arn.into(),
            last_read: Mutex::new(None),
        }
    }

    /// The client of the environment's AWS configuration.
    pub async fn from_env(arn: impl Into<String>) -> Self {
        let config = aws_config::load_from_env().await;
        Self::new(aws_sdk_secretsmanager::Client::new(&config), arn)
    }

    /// The secret's user and password now; `None` when it was read less
    /// than [`REREAD_AT_MOST_EVERY`] ago.
    pub async fn reread(&self) -> Result<Option<(String, String)>, String> {
        {
            let mut last = self.last_read.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|at| at.elapsed() < REREAD_AT_MOST_EVERY) {
                return Ok(None);
            }
            *last = Some(Instant::now());
        }
        let secret = secret_string(&self.client, "database", &self.arn).await?;
        credentials_from_secret(&secret).map(Some)
    }
}

/// A secret's string, read with `client`; `what` names it in errors
/// ("database", "CSRF key").
pub(crate) async fn secret_string(
    client: &aws_sdk_secretsmanager::Client,
    what: &str,
    arn: &str,
) -> Result<String, String> {
    let answer = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|err| {
            format!(
                "cannot read the {what} secret {arn}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&err)
            )
        })?;
    answer
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| format!("the {what} secret {arn} has no SecretString"))
}
