//! Connection tokens: HS256 JSON Web Tokens signed by the integrating
//! application with the service's signing secret.
//!
//! Header `{"alg":"HS256","typ":"JWT"}`; claims:
//! - `sub`: the user id (letters, digits, `. _ - : @`, at most 64);
//! - `convs`: the conversation ids the user may join (an explicit list, at
//!   most [`MAX_CONVERSATIONS`]; no wildcard);
//! - `exp`, `iat`: Unix seconds; a token is refused from `exp` on;
//! - `name` (optional): a display name, at most 64 characters.
//!
//! Only HS256 is accepted (never `none`, never another algorithm named by
//! the token), and the signature is compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2_digest011::Sha256;

use crate::ids;

/// Most conversations one token may grant (each becomes an item of the
/// connections table at `$connect`).
pub const MAX_CONVERSATIONS: usize = 100;
/// Shortest signing key: HS256 wants at least as many key bits as the hash
/// has (RFC 7518, 3.2).
pub const MIN_KEY_BYTES: usize = 32;
/// Longest display name.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest token accepted (a query string parameter).
pub const MAX_TOKEN_BYTES: usize = 8192;

type HmacSha256 = Hmac<Sha256>;

/// The HMAC key. Its `Debug` never shows the bytes, so it cannot leak
/// through a log line.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({} bytes, redacted)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the signing secret is {0} bytes long; HS256 needs at least {MIN_KEY_BYTES} (generate one with e.g. `openssl rand -base64 48`)"
    )]
    TooShort(usize),
}

impl SigningKey {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// A random key, for a development server that mints its own tokens.
    pub fn random() -> Self {
        use rand::Rng;
        let bytes: [u8; 48] = rand::rng().random();
        Self(bytes.to_vec())
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; this cannot fail.
        HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length")
    }
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub convs: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Why a token was refused. [`TokenError::status`] is the HTTP status of
/// the refused WebSocket upgrade.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "no token: pass it as the `token` query parameter (or an `Authorization: Bearer` header)"
    )]
    Missing,
    #[error("the token is not a JWT: {0}")]
    Malformed(&'static str),
    #[error("the token's algorithm is {0:?}; only HS256 is accepted")]
    Algorithm(String),
    #[error("the token's signature does not match (signed with another secret?)")]
    Signature,
    #[error("the token expired at {exp} (Unix seconds; now is {now})")]
    Expired { exp: i64, now: i64 },
    #[error("the token's claims are invalid: {0}")]
    Claims(String),
    #[error("the token grants no conversation (its `convs` list is empty)")]
    NoConversation,
}

impl TokenError {
    /// 401 for a token that proves nothing; 403 for a valid one that grants
    /// nothing.
    pub fn status(&self) -> u16 {
        match self {
            Self::NoConversation => 403,
            _ => 401,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
}

/// The signed token for `claims`.
pub fn sign(key: &SigningKey, claims: &Claims) -> String {
    let header = Header {
        alg: "HS256".into(),
        typ: Some("JWT".into()),
    };
    let signing_input = format!("{}.{}", encode_json(&header), encode_json(claims));
    let mut mac = key.mac();
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Claims for `user` in `conversations`, valid `ttl_seconds` from `now`.
pub fn claims_for(
    user: &str,
    conversations: &[String],
    name: Option<&str>,
    now: i64,
    ttl_seconds: i64,
) -> Claims {
    Claims {
        sub: user.to_owned(),
        convs: conversations.to_vec(),
        exp: now + ttl_seconds,
        iat: now,
        name: name.map(str::to_owned),
    }
}

/// The claims of a valid, unexpired token that grants at least one
/// conversation; `now` in Unix seconds.
pub fn verify(key: &SigningKey, token: &str, now: i64) -> Result<Claims, TokenError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed("it is longer than 8192 bytes"));
    }
    let mut parts = token.split('.');
    let (Some(header_part), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "it must be three base64url parts joined by dots",
        ));
    };
    let header: Header = decode_json(header_part)
        .ok_or(TokenError::Malformed("its header is not base64url JSON"))?;
    if header.alg != "HS256" {
        return Err(TokenError::Algorithm(header.alg));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed("the signature is not base64url"))?;
    let mut mac = key.mac();
    mac.update(&token.as_bytes()[..header_part.len() + 1 + payload.len()]);
    mac.verify_slice(&signature)
        .map_err(|_| TokenError::Signature)?;
    // Only a signed payload is parsed with full rules.
    let claims: Claims = decode_json(payload).ok_or_else(|| {
        TokenError::Claims(
            "`sub` (text), `convs` (list of text), `exp` and `iat` (Unix seconds) are required"
                .into(),
        )
    })?;
    if claims.exp <= now {
        return Err(TokenError::Expired {
            exp: claims.exp,
            now,
        });
    }
    ids::check_user(&claims.sub).map_err(|e| TokenError::Claims(e.to_string()))?;
    if claims.convs.len() > MAX_CONVERSATIONS {
        return Err(TokenError::Claims(format!(
            "`convs` names {} conversations; at most {MAX_CONVERSATIONS} are allowed",
            claims.convs.len()
        )));
    }
    for conversation in &claims.convs {
        ids::check_conversation(conversation).map_err(|e| TokenError::Claims(e.to_string()))?;
    }
    if let Some(name) = &claims.name
        && (name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control))
    {
        return Err(TokenError::Claims(format!(
            "`name` must be at most {MAX_NAME_CHARS} characters without control characters"
        )));
    }
    if claims.convs.is_empty() {
        return Err(TokenError::NoConversation);
    }
    let mut claims = claims;
    let mut seen = std::collections::HashSet::new();
    claims.convs.retain(|c| seen.insert(c.clone()));
    Ok(claims)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn encode_json<T: Serialize>(value: &T) -> String {
    // Plain structs of strings and numbers always serialise.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
    }

    fn claims(convs: &[&str]) -> Claims {
        let convs: Vec<String> = convs.iter().map(|c| c.to_string()).collect();
        claims_for("alice", &convs, Some("Alice"), 1_000, 3_600)
    }

    #[test]
    fn signed_tokens_verify_until_they_expire() {
        let token = sign(&key(), &claims(&["general", "random"]));
        assert_eq!(token.split('.').count(), 3);
        let verified = verify(&key(), &token, 1_000).unwrap();
        assert_eq!(verified.sub, "alice");
        assert_eq!(verified.convs, ["general", "random"]);
        assert_eq!(verified.name.as_deref(), Some("Alice"));
        assert_eq!(verified.exp, 4_600);
        assert_eq!(
            verify(&key(), &token, 4_600),
            Err(TokenError::Expired {
                exp: 4_600,
                now: 4_600
            })
        );
    }

    #[test]
    fn matches_a_reference_jwt() {
        // Made independently with Python's hmac and hashlib over the compact
        // JSON of {"alg":"HS256","typ":"JWT"} and
        // {"sub":"bob","convs":["c1"],"exp":2000000000,"iat":1}.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJjb252cyI6WyJjMSJdLCJleHAiOjIwMDAwMDAwMDAsImlhdCI6MX0.O1ziE4mG1tWyMo4krqA6SNl741UJ9M5LREt9XzBCDxY";
        match verify(&key(), token, 10) {
            Ok(claims) => assert_eq!((claims.sub.as_str(), claims.convs.len()), ("bob", 1)),
            Err(err) => panic!("reference token refused: {err}"),
        }
        let ours = sign(
            &key(),
            &Claims {
                sub: "bob".into(),
                convs: vec!["c1".into()],
                exp: 2_000_000_000,
                iat: 1,
                name: None,
            },
        );
        assert_eq!(ours, token);
    }

    #[test]
    fn refuses_tampering_other_keys_and_other_algorithms() {
        let token = sign(&key(), &claims(&["general"]));
        let other = SigningKey::new(vec![7u8; 32]).unwrap();
        assert_eq!(verify(&other, &token, 1_000), Err(TokenError::Signature));

        // Another user's payload under the original signature.
        let parts: Vec<&str> = token.split('.').collect();
        let forged_payload = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&claims_for(
                "mallory",
                &["general".into()],
                None,
                1_000,
                3_600,
            ))
            .unwrap(),
        );
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(verify(&key(), &forged, 1_000), Err(TokenError::Signature));

        // alg=none, with or without a signature.
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert_eq!(
            verify(&key(), &unsigned, 1_000),
            Err(TokenError::Algorithm("none".into()))
        );
        let hs512 = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512"}"#);
        assert!(matches!(
            verify(&key(), &format!("{hs512}.{}.{}", parts[1], parts[2]), 1_000),
            Err(TokenError::Algorithm(_))
        ));
    }

    #[test]
    fn refuses_malformed_tokens_with_401() {
        for bad in ["", "abc", "a.b", "a.b.c.d", "!!.??.**"] {
            let err = verify(&key(), bad, 0).unwrap_err();
            assert_eq!(err.status(), 401, "{bad}: {err}");
        }
        assert_eq!(verify(&key(), "  ", 0), Err(TokenError::Missing));
        assert!(verify(&key(), &"a".repeat(9000), 0).is_err());
    }

    #[test]
    fn refuses_bad_claims_and_empty_grants() {
        let signed = |c: &Claims| sign(&key(), c);
        let mut bad_user = claims(&["general"]);
        bad_user.sub = "al ice".into();
        assert!(matches!(
            verify(&key(), &signed(&bad_user), 1_000),
            Err(TokenError::Claims(_))
        ));
        let bad_conv = claims(&["gen#eral"]);
        assert!(matches!(
            verify(&key(), &signed(&bad_conv), 1_000),
            Err(TokenError::Claims(_))
        ));
        let too_many: Vec<String> = (0..=MAX_CONVERSATIONS).map(|i| format!("c{i}")).collect();
        let many = claims_for("alice", &too_many, None, 1_000, 60);
        assert!(matches!(
            verify(&key(), &signed(&many), 1_000),
            Err(TokenError::Claims(_))
        ));
        let none = claims(&[]);
        let err = verify(&key(), &signed(&none), 1_000).unwrap_err();
        assert_eq!(err, TokenError::NoConversation);
        assert_eq!(err.status(), 403);
        // A payload without `convs` is a claims error, not a crash.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"a","exp":99999}"#);
        let input = format!("{header}.{payload}");
        let mut mac = key().mac();
        mac.update(input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert!(matches!(
            verify(&key(), &format!("{input}.{sig}"), 0),
            Err(TokenError::Claims(_))
        ));
    }

    #[test]
    fn duplicate_conversations_collapse() {
        let token = sign(&key(), &claims(&["a", "b", "a"]));
        assert_eq!(verify(&key(), &token, 1_000).unwrap().convs, ["a", "b"]);
    }

    #[test]
    fn short_keys_are_refused_and_keys_never_print() {
        assert_eq!(
            SigningKey::new(vec![1; 31]).unwrap_err(),
            KeyError::TooShort(31)
        );
        let shown = format!("{:?}", key());
        assert!(!shown.contains("0123456789"), "{shown}");
    }
}
