//! The signing secret: read once at start from Secrets Manager
//! (`SIGNING_SECRET_ARN`) or, for `chat serve` and `chat token`, from a
//! file. Its text is the HMAC key, or a JSON object whose `key` field is.
//! The key is never logged (see [`SigningKey`]'s `Debug`).

use std::path::Path;

use crate::token::{KeyError, SigningKey};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the signing secret {arn}: {message}")]
    Read { arn: String, message: String },
    #[error("the signing secret {0} has no SecretString (binary secrets are not supported)")]
    NotText(String),
    #[error("cannot read the signing secret file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("the signing secret is a JSON object without a text \"key\" field")]
    NoKeyField,
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The key in a secret's text: the text itself (without a trailing line
/// break, which editors add to files), or the `key` field of a JSON object.
pub fn key_from_text(text: &str) -> Result<SigningKey, SecretError> {
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.trim_start().starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(trimmed).map_err(|_| SecretError::NoKeyField)?;
        let key = value
            .get("key")
            .and_then(|k| k.as_str())
            .ok_or(SecretError::NoKeyField)?;
        return Ok(SigningKey::new(key.as_bytes().to_vec())?);
    }
    Ok(SigningKey::new(trimmed.as_bytes().to_vec())?)
}

pub fn key_from_file(path: &Path) -> Result<SigningKey, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::File {
        path: path.display().to_string(),
        source,
    })?;
    key_from_text(&text)
}

/// `GetSecretValue` of `arn` (needs `secretsmanager:GetSecretValue`, and
/// `kms:Decrypt` for a customer-managed key).
pub async fn key_from_secrets_manager(
    sdk: &aws_config::SdkConfig,
    arn: &str,
) -> Result<SigningKey, SecretError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|err| SecretError::Read {
            arn: arn.to_owned(),
            message: aws_sdk_secretsmanager::error::DisplayErrorContext(err).to_string(),
        })?;
    let text = output
        .secret_string()
        .ok_or_else(|| SecretError::NotText(arn.to_owned()))?;
    key_from_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token;

    #[test]
    fn plain_and_json_secrets_give_the_same_key() {
        let plain = key_from_text("0123456789abcdef0123456789abcdef\n").unwrap();
        let json = key_from_text(r#"{"key": "0123456789abcdef0123456789abcdef"}"#).unwrap();
        let claims = token::claims_for("a", &["g".into()], None, 0, 60);
        assert_eq!(token::sign(&plain, &claims), token::sign(&json, &claims));
    }

    #[test]
    fn bad_secrets_say_what_is_wrong() {
        assert!(matches!(key_from_text("short"), Err(SecretError::Key(_))));
        assert!(matches!(
            key_from_text(r#"{"password": "x"}"#),
            Err(SecretError::NoKeyField)
        ));
        let err = key_from_file(Path::new("/nonexistent/secret")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/secret"));
    }
}
