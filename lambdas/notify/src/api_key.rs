//! The API key callers present as `Authorization: Bearer <key>`.
//!
//! The API can send email, SMS and pushes to any address a caller stores,
//! so a deployment open to the internet must not answer strangers: with a
//! key configured every `/v1/*` route wants it (401 otherwise), as Novu's
//! and Courier's APIs do. The page and `/health` stay open (they hold no
//! data). On Lambda the key is read once at start from the Secrets Manager
//! secret the blueprint generates (`NOTIFY_API_KEY_SECRET_ARN`); `notify
//! serve` takes it from `NOTIFY_API_KEY`, or runs open and says so.

use hmac::{KeyInit as _, Mac as _};

/// Keys shorter than this are refused: the blueprint generates 48
/// characters, and a short key could be guessed over the network.
pub const MIN_KEY_CHARS: usize = 24;

/// HMAC of the key under itself is what is kept: comparing the presented
/// key's HMAC with `verify_slice` takes the same time wherever the first
/// differing byte is, and whatever the presented length.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    tag: Vec<u8>,
}

type HmacSha256 = hmac::Hmac<sha2_digest011::Sha256>;

const DOMAIN: &[u8] = b"archform notify api key";

fn mac_of(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(DOMAIN);
    mac
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    #[error(
        "the API key must be at least {MIN_KEY_CHARS} characters of visible ASCII (letters, digits, punctuation) without spaces"
    )]
    Weak,
    #[error("cannot read the API key secret {arn}: {message}")]
    Read { arn: String, message: String },
    #[error("the API key secret {0} has no SecretString (binary secrets are not supported)")]
    NotText(String),
}

impl ApiKey {
    /// A key from its text (a trailing line break, which editors and
    /// `echo` add, is dropped).
    pub fn new(text: &str) -> Result<Self, ApiKeyError> {
        let key = text.trim_end_matches(['\n', '\r']);
        if key.len() < MIN_KEY_CHARS || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiKeyError::Weak);
        }
        Ok(Self {
            tag: mac_of(key.as_bytes()).finalize().into_bytes().to_vec(),
        })
    }

    /// Whether an `Authorization` header value carries this key.
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some((scheme, presented)) = value.trim().split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return false;
        }
        mac_of(presented.trim().as_bytes())
            .verify_slice(&self.tag)
            .is_ok()
    }

    /// `GetSecretValue` of `arn` (needs `secretsmanager:GetSecretValue`).
    pub async fn from_secrets_manager(
        sdk: &aws_config::SdkConfig,
        arn: &str,
    ) -> Result<Self, ApiKeyError> {
        let output = aws_sdk_secretsmanager::Client::new(sdk)
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|err| ApiKeyError::Read {
                arn: arn.to_string(),
                message: aws_sdk_secretsmanager::error::DisplayErrorContext(&err).to_string(),
            })?;
        let text = output
            .secret_string()
            .ok_or_else(|| ApiKeyError::NotText(arn.to_string()))?;
        Self::new(text)
    }
}

/// Never prints the key (nor its HMAC).
impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "k3y-0123456789abcdefghijklmnop";

    #[test]
    fn the_bearer_key_is_accepted_and_nothing_else() {
        let key = ApiKey::new(KEY).unwrap();
        assert!(key.accepts(Some(&format!("Bearer {KEY}"))));
        assert!(key.accepts(Some(&format!("bearer {KEY}"))));
        assert!(!key.accepts(None));
        assert!(!key.accepts(Some(KEY)));
        assert!(!key.accepts(Some(&format!("Basic {KEY}"))));
        assert!(!key.accepts(Some(&format!("Bearer {KEY}x"))));
        assert!(!key.accepts(Some(&format!("Bearer {}", &KEY[1..]))));
        assert!(!key.accepts(Some("Bearer ")));
    }

    #[test]
    fn weak_keys_are_refused_and_a_trailing_line_break_dropped() {
        assert_eq!(ApiKey::new("short"), Err(ApiKeyError::Weak));
        assert_eq!(
            ApiKey::new("with a space 0123456789abcdef"),
            Err(ApiKeyError::Weak)
        );
        let key = ApiKey::new(&format!("{KEY}\n")).unwrap();
        assert!(key.accepts(Some(&format!("Bearer {KEY}"))));
        assert_eq!(format!("{key:?}"), "ApiKey(..)");
    }
}
