//! Signing webhook requests the Standard Webhooks way
//! (<https://www.standardwebhooks.com/>), so receivers can use any of its
//! libraries to check them.
//!
//! Each request carries three headers:
//!
//! - `webhook-id`: the message id, the same on every retry of one message
//!   (receivers deduplicate on it);
//! - `webhook-timestamp`: Unix seconds when this attempt was signed;
//! - `webhook-signature`: `v1,` + base64(HMAC-SHA256(secret,
//!   `"{id}.{timestamp}.{body}"`)); several space-separated signatures
//!   may be given while a secret is rotated.
//!
//! The secret is written `whsec_` + base64 of its bytes. The timestamp is
//! signed so that a captured request cannot be replayed later: verifiers
//! refuse timestamps further than a tolerance from their clock.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng as _;
use sha2_digest011::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const SECRET_PREFIX: &str = "whsec_";
pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// How far a timestamp may be from the verifier's clock, either way (the
/// spec's recommended five minutes).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;
/// Secret sizes the spec allows: 24 to 64 bytes.
pub const MIN_SECRET_BYTES: usize = 24;
pub const MAX_SECRET_BYTES: usize = 64;
/// Bytes of a generated secret.
const GENERATED_SECRET_BYTES: usize = 32;

/// Why a secret or a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the webhook secret must be whsec_ followed by base64: {0}")]
    SecretFormat(&'static str),
    #[error(
        "the webhook secret is {0} bytes long; it must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}"
    )]
    SecretLength(usize),
    #[error("the {HEADER_TIMESTAMP} header is not Unix seconds")]
    BadTimestamp,
    #[error("the {HEADER_TIMESTAMP} {timestamp} is more than {tolerance} seconds from now ({now})")]
    TimestampOutOfTolerance {
        timestamp: i64,
        now: i64,
        tolerance: i64,
    },
    #[error("no v1 signature in the {HEADER_SIGNATURE} header matches")]
    NoMatch,
}

/// A webhook signing secret. Its `Debug` output hides the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecret({} bytes)", self.0.len())
    }
}

impl WebhookSecret {
    /// Reads `whsec_<base64>`. The prefix is optional, as in the spec's
    /// reference libraries.
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        if encoded.is_empty() {
            return Err(SignatureError::SecretFormat("nothing follows the prefix"));
        }
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SignatureError::SecretFormat("the rest is not standard base64"))?;
        Self::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, SignatureError> {
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            return Err(SignatureError::SecretLength(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// A fresh random secret (from the OS-seeded CSPRNG).
    pub fn generate() -> Self {
        let bytes: [u8; GENERATED_SECRET_BYTES] = rand::rng().random();
        Self(bytes.to_vec())
    }

    /// `whsec_` + base64, the form receivers configure.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The MAC over `{id}.{timestamp}.{body}`, with the timestamp as the
    /// header's text (what the sender signed).
    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The `webhook-signature` value for one message: `v1,<base64>`.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret
        .mac(id, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

/// The three headers of a signed request, names and values.
pub fn headers(
    secret: &WebhookSecret,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    [
        (HEADER_ID, id.to_owned()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_SIGNATURE, sign(secret, id, timestamp, body)),
    ]
}

/// Checks a received request as a Standard Webhooks receiver does: the
/// timestamp within `tolerance` seconds of `now`, and one of the
/// space-separated `v1,` signatures matching (compared in constant time by
/// the HMAC's own verification). Signatures of other versions are skipped.
pub fn verify(
    secret: &WebhookSecret,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), SignatureError> {
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if now.abs_diff(seconds) > tolerance.unsigned_abs() {
        return Err(SignatureError::TimestampOutOfTolerance {
            timestamp: seconds,
            now,
            tolerance,
        });
    }
    let mac = secret.mac(id, timestamp, body);
    let matched = signatures
        .split(' ')
        .filter_map(|part| part.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .any(|tag| mac.clone().verify_slice(&tag).is_ok());
    if matched {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector of the Standard Webhooks reference libraries.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn spec_secret() -> WebhookSecret {
        WebhookSecret::parse(SPEC_SECRET).unwrap()
    }

    #[test]
    fn the_spec_test_vector() {
        assert_eq!(
            sign(
                &spec_secret(),
                SPEC_ID,
                SPEC_TIMESTAMP,
                SPEC_BODY.as_bytes()
            ),
            SPEC_SIGNATURE
        );
        verify(
            &spec_secret(),
            SPEC_ID,
            "1614265330",
            SPEC_SIGNATURE,
            SPEC_BODY.as_bytes(),
            SPEC_TIMESTAMP + 10,
            DEFAULT_TOLERANCE_SECS,
        )
        .unwrap();
    }

    #[test]
    fn headers_carry_id_timestamp_and_signature() {
        let h = headers(
            &spec_secret(),
            SPEC_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY.as_bytes(),
        );
        assert_eq!(
            h,
            [
                ("webhook-id", SPEC_ID.to_owned()),
                ("webhook-timestamp", "1614265330".to_owned()),
                ("webhook-signature", SPEC_SIGNATURE.to_owned()),
            ]
        );
    }

    #[test]
    fn anything_changed_breaks_the_signature() {
        let v = |id: &str, ts: &str, sig: &str, body: &str| {
            verify(
                &spec_secret(),
                id,
                ts,
                sig,
                body.as_bytes(),
                SPEC_TIMESTAMP,
                DEFAULT_TOLERANCE_SECS,
            )
        };
        let ts = "1614265330";
        assert_eq!(
            v("msg_other", ts, SPEC_SIGNATURE, SPEC_BODY),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            v(SPEC_ID, ts, SPEC_SIGNATURE, r#"{"test": 2432232315}"#),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            v(SPEC_ID, "1614265331", SPEC_SIGNATURE, SPEC_BODY),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            v(
                SPEC_ID,
                ts,
                "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                SPEC_BODY
            ),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            v(SPEC_ID, ts, "v1,not base64!", SPEC_BODY),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(v(SPEC_ID, ts, "", SPEC_BODY), Err(SignatureError::NoMatch));
        // A truncated tag is not a match either.
        assert_eq!(
            v(
                SPEC_ID,
                ts,
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJE",
                SPEC_BODY
            ),
            Err(SignatureError::NoMatch)
        );
        let other = WebhookSecret::from_bytes(vec![7; 32]).unwrap();
        assert_eq!(
            verify(
                &other,
                SPEC_ID,
                ts,
                SPEC_SIGNATURE,
                SPEC_BODY.as_bytes(),
                SPEC_TIMESTAMP,
                300
            ),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn one_matching_signature_among_several_is_enough() {
        let list = format!("v1,Zm9v v2,abc {SPEC_SIGNATURE}");
        verify(
            &spec_secret(),
            SPEC_ID,
            "1614265330",
            &list,
            SPEC_BODY.as_bytes(),
            SPEC_TIMESTAMP,
            300,
        )
        .unwrap();
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_refused_both_ways() {
        let at = |now: i64| {
            verify(
                &spec_secret(),
                SPEC_ID,
                "1614265330",
                SPEC_SIGNATURE,
                SPEC_BODY.as_bytes(),
                now,
                300,
            )
        };
        at(SPEC_TIMESTAMP + 300).unwrap();
        at(SPEC_TIMESTAMP - 300).unwrap();
        assert!(matches!(
            at(SPEC_TIMESTAMP + 301),
            Err(SignatureError::TimestampOutOfTolerance { .. })
        ));
        assert!(matches!(
            at(SPEC_TIMESTAMP - 301),
            Err(SignatureError::TimestampOutOfTolerance { .. })
        ));
        assert_eq!(
            verify(&spec_secret(), SPEC_ID, "soon", SPEC_SIGNATURE, b"", 0, 300),
            Err(SignatureError::BadTimestamp)
        );
    }

    #[test]
    fn secrets_round_trip_and_are_checked() {
        let secret = WebhookSecret::generate();
        let written = secret.expose();
        assert!(written.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&written).unwrap(), secret);
        assert_ne!(WebhookSecret::generate(), secret);
        // The prefix is optional when reading.
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
            spec_secret()
        );
        assert_eq!(format!("{secret:?}"), "WebhookSecret(32 bytes)");
        assert!(matches!(
            WebhookSecret::parse("whsec_"),
            Err(SignatureError::SecretFormat(_))
        ));
        assert!(matches!(
            WebhookSecret::parse("whsec_***"),
            Err(SignatureError::SecretFormat(_))
        ));
        // 16 bytes: too short.
        assert_eq!(
            WebhookSecret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAA==").unwrap_err(),
            SignatureError::SecretLength(16)
        );
        // A round trip with a generated secret and a signed body.
        let body = br#"{"event":"order.shipped"}"#;
        let sig = sign(&secret, "ntf_1", 1_700_000_000, body);
        verify(
            &secret,
            "ntf_1",
            "1700000000",
            &sig,
            body,
            1_700_000_100,
            300,
        )
        .unwrap();
    }
}
