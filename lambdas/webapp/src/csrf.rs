//! CSRF protection of the web tier's forms: a signed double-submit token.
//!
//! Each browser gets a random nonce in a cookie (`HttpOnly`,
//! `SameSite=Strict`; over HTTPS also `Secure` with the `__Host-` prefix,
//! which a sibling subdomain cannot set). Every form carries
//! `HMAC-SHA256(key, nonce)` in a hidden field. A POST is accepted only if
//! its cookie's nonce and its field's token belong together:
//!
//! - another site cannot read the token out of our pages (same-origin
//!   policy, and `frame-ancestors 'none'`), and cannot compute it without
//!   the key, so a forged form has no valid token;
//! - `SameSite=Strict` means a cross-site POST does not even carry the
//!   cookie in current browsers; the token covers older ones;
//! - the signature (unlike a plain double submit, where any equal
//!   cookie/field pair passes) means a cookie planted by someone else
//!   is useless without the matching token from this server.
//!
//! The key must be the same on every instance of the web tier (a token
//! made by one is checked by another): on Lambda it is the secret the
//! blueprint generates (`CSRF_KEY_SECRET_ARN`, read once per cold start);
//! standalone a key file, or without one a random key per process.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use rand::Rng as _;
use sha2_digest011::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The hidden form field holding the token.
pub const TOKEN_FIELD: &str = "csrf_token";
/// The cookie over plain HTTP (development, or behind a proxy that says so).
pub const COOKIE: &str = "csrf";
/// The cookie over HTTPS: browsers accept `__Host-` cookies only with
/// `Secure`, `Path=/` and no `Domain`, so no subdomain can plant one.
pub const HOST_COOKIE: &str = "__Host-csrf";
/// Shortest key accepted from a file.
pub const MIN_KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 32;
/// Domain separation: the key signs nothing else, but if it ever did, a
/// CSRF token could not be mistaken for another signature.
const CONTEXT: &[u8] = b"webapp-csrf-v1\0";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrfKeyError {
    #[error("cannot read the CSRF key file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(
        "the CSRF key in {path} is {len} bytes; it must be at least {MIN_KEY_BYTES} (e.g. `head -c 32 /dev/urandom | base64 > {path}`)"
    )]
    TooShort { path: String, len: usize },
    #[error(
        "the CSRF key in the secret {arn} is {len} bytes; it must be at least {MIN_KEY_BYTES} (the blueprint generates 64)"
    )]
    SecretTooShort { arn: String, len: usize },
}

/// The HMAC key of the tokens.
#[derive(Clone)]
pub struct CsrfKey(Vec<u8>);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(..)")
    }
}

impl CsrfKey {
    /// A random key for this process only.
    pub fn random() -> Self {
        let bytes: [u8; 32] = rand::rng().random();
        Self(bytes.to_vec())
    }

    /// The key in a file: its bytes, surrounding whitespace removed (a
    /// base64 or hex line works as it is).
    pub fn from_file(path: &Path) -> Result<Self, CsrfKeyError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|err| CsrfKeyError::Unreadable {
            path: shown.clone(),
            reason: err.to_string(),
        })?;
        let trimmed = bytes.trim_ascii();
        if trimmed.len() < MIN_KEY_BYTES {
            return Err(CsrfKeyError::TooShort {
                path: shown,
                len: trimmed.len(),
            });
        }
        Ok(Self(trimmed.to_vec()))
    }

    /// The key kept in a Secrets Manager secret (`arn` names it in the
    /// error): its value, surrounding whitespace removed.
    pub fn from_secret_value(arn: &str, value: &str) -> Result<Self, CsrfKeyError> {
        let trimmed = value.trim();
        if trimmed.len() < MIN_KEY_BYTES {
            return Err(CsrfKeyError::SecretTooShort {
                arn: arn.to_owned(),
                len: trimmed.len(),
            });
        }
        Ok(Self(trimmed.as_bytes().to_vec()))
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    fn mac(&self, nonce: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(CONTEXT);
        mac.update(nonce.as_bytes());
        mac
    }

    /// The form token of a browser's nonce.
    pub fn token_for(&self, nonce: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(nonce).finalize().into_bytes())
    }

    /// Whether `token` is the token of `nonce`, compared in constant time.
    pub fn verify(&self, nonce: &str, token: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(token.trim()) {
            Ok(tag) => self.mac(nonce).verify_slice(&tag).is_ok(),
            Err(_) => false,
        }
    }
}

/// A fresh nonce: 256 random bits, base64url.
pub fn new_nonce() -> String {
    let bytes: [u8; NONCE_BYTES] = rand::rng().random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether a cookie value has the shape of a nonce this server makes
/// (anything else is replaced, not echoed into a MAC or a page).
pub fn is_nonce(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The name of the cookie on a connection (HTTPS or not).
pub fn cookie_name(https: bool) -> &'static str {
    if https { HOST_COOKIE } else { COOKIE }
}

/// The nonce in the request's cookie, if there is a well-formed one.
pub fn nonce_from_cookies(headers: &HeaderMap, https: bool) -> Option<String> {
    let name = cookie_name(https);
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && is_nonce(v))
        .map(|(_, v)| v.to_owned())
}

/// The `Set-Cookie` value that gives a browser its nonce. A session cookie
/// (no `Max-Age`): tokens in pages left open outlive nothing but the
/// browser session.
pub fn set_cookie(nonce: &str, https: bool) -> String {
    let name = cookie_name(https);
    if https {
        format!("{name}={nonce}; Path=/; HttpOnly; SameSite=Strict; Secure")
    } else {
        format!("{name}={nonce}; Path=/; HttpOnly; SameSite=Strict")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_belong_to_their_nonce_and_key() {
        let key = CsrfKey::from_bytes(&[7; 32]);
        let (a, b) = (new_nonce(), new_nonce());
        assert!(is_nonce(&a) && a != b);
        let token = key.token_for(&a);
        assert!(key.verify(&a, &token));
        assert!(!key.verify(&b, &token));
        assert!(!CsrfKey::from_bytes(&[8; 32]).verify(&a, &token));
        assert!(!key.verify(&a, ""));
        assert!(!key.verify(&a, "not base64 !"));
        assert!(!key.verify(&a, &token[..20]));
        // The token is not the nonce (a plain double submit would be).
        assert_ne!(token, a);
    }

    #[test]
    fn cookies() {
        let nonce = new_nonce();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            format!("other=1; csrf={nonce}; x=y").parse().unwrap(),
        );
        assert_eq!(nonce_from_cookies(&headers, false), Some(nonce.clone()));
        assert_eq!(nonce_from_cookies(&headers, true), None);
        headers.insert(http::header::COOKIE, "csrf=short".parse().unwrap());
        assert_eq!(nonce_from_cookies(&headers, false), None);
        assert_eq!(
            set_cookie(&nonce, true),
            format!("__Host-csrf={nonce}; Path=/; HttpOnly; SameSite=Strict; Secure")
        );
        assert!(set_cookie(&nonce, false).starts_with("csrf="));
    }

    #[test]
    fn key_files() {
        let dir = std::env::temp_dir().join(format!("webapp-csrf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good");
        std::fs::write(&good, format!("{}\n", "k".repeat(40))).unwrap();
        let key = CsrfKey::from_file(&good).unwrap();
        assert!(key.verify(
            "n",
            &CsrfKey::from_bytes("k".repeat(40).as_bytes()).token_for("n")
        ));
        let short = dir.join("short");
        std::fs::write(&short, "too short").unwrap();
        assert!(matches!(
            CsrfKey::from_file(&short),
            Err(CsrfKeyError::TooShort { len: 9, .. })
        ));
        assert!(matches!(
            CsrfKey::from_file(&dir.join("missing")),
            Err(CsrfKeyError::Unreadable { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
