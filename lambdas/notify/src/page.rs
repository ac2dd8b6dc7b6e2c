//! The operator's web page at `GET /`: one self-contained HTML file
//! (`page.html`, no build step, no external assets) that loads a template
//! and sends a notification from it, watches each channel's status until
//! it is final, and loads and edits a user's preferences. It calls the
//! `/v1/*` API of the same origin with relative paths, sending the API key
//! typed into the page (kept in the tab's `sessionStorage`) as
//! `authorization: Bearer <key>`. Everything from the API is put into the
//! page with `textContent`, never as markup.
//!
//! The policy allows exactly the page's one inline script and one inline
//! style block (by their SHA-256), and connections to this origin only.
//! Element ids the browser test relies on are listed in the README.

use std::sync::OnceLock;

use axum::Router;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use sha2_digest011::{Digest, Sha256};

use crate::api_error::ApiError;

pub const HTML: &str = include_str!("page.html");

/// `GET /` (and `HEAD`); other methods are a JSON 405. Merged into
/// [`crate::api::router`].
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", get(index).fallback(method_not_allowed))
}

async fn index() -> Response {
    let mut response = Html(HTML).into_response();
    let headers = response.headers_mut();
    for (name, value) in security_headers() {
        headers.insert(name, value);
    }
    response
}

async fn method_not_allowed(method: Method) -> Response {
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on /; use GET"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// The headers the page is served with: the policy, no framing, no
/// sniffing, no referrer, not cached.
pub fn security_headers() -> Vec<(HeaderName, HeaderValue)> {
    vec![
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(content_security_policy())
                .expect("the policy is a valid header value"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

/// `default-src 'none'`, the inline script and style allowed by hash,
/// `connect-src 'self'`, no base, form actions or framing.
pub fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        format!(
            "default-src 'none'; script-src '{}'; style-src '{}'; connect-src 'self'; \
             img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            inline_hash("script"),
            inline_hash("style"),
        )
    })
}

/// `sha256-<base64>` of the text of the page's one `<tag>` element, as CSP
/// hashes it (the exact characters between the tags).
fn inline_hash(tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = HTML.find(&open).expect("the page has the element") + open.len();
    let end = start + HTML[start..].find(&close).expect("the element is closed");
    format!(
        "sha256-{}",
        STANDARD.encode(Sha256::digest(&HTML.as_bytes()[start..end]))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_the_documented_elements_and_nothing_external() {
        for id in [
            "api-key",
            "template-name",
            "load-template",
            "template-error",
            "template-locales",
            "send-users",
            "send-data",
            "send-channel-webhook",
            "send-category",
            "send-priority",
            "send-idempotency-key",
            "send",
            "send-error",
            "notifications",
            "prefs-user",
            "prefs-load",
            "pref-email",
            "pref-email-error",
            "pref-webhook-url",
            "pref-webhook-secret",
            "pref-quiet",
            "pref-optout-categories",
            "pref-unsubscribed",
            "prefs-save",
            "prefs-error",
            "prefs-result",
        ] {
            assert!(HTML.contains(&format!("id=\"{id}\"")), "missing #{id}");
        }
        for external in ["src=\"", "href=\"", "@import", "url("] {
            assert!(!HTML.contains(external), "external asset: {external}");
        }
        // Data goes in as text only.
        assert!(!HTML.contains("innerHTML"));
        assert!(!HTML.contains("insertAdjacentHTML"));
        assert!(!HTML.contains("document.write"));
        // One inline script and one style block: the hashes cover them all.
        assert_eq!(HTML.matches("<script").count(), 1);
        assert_eq!(HTML.matches("<style").count(), 1);
        assert!(
            !HTML.contains(" style=\""),
            "inline style attributes need 'unsafe-hashes'"
        );
    }

    #[test]
    fn the_policy_allows_the_inline_script_and_style_by_hash_only() {
        let policy = content_security_policy();
        assert!(policy.starts_with("default-src 'none'; script-src 'sha256-"));
        assert!(!policy.contains("unsafe-inline"));
        assert!(!policy.contains("unsafe-eval"));
        assert!(policy.contains("connect-src 'self'"));
        assert!(policy.contains("frame-ancestors 'none'"));
        // sha256 is 32 bytes: 44 characters of base64.
        let hash = inline_hash("script");
        assert_eq!(hash.len(), "sha256-".len() + 44, "{hash}");
        assert_ne!(hash, inline_hash("style"));
    }
}
