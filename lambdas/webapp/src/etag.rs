//! Versions as HTTP entity tags: version 3 is the strong ETag `"3"`.
//!
//! Updates are optimistic: a client reads a product (and its ETag), edits,
//! and sends the change with `If-Match: "3"`; the store applies it only if
//! the product is still at version 3. An update without `If-Match` is
//! refused with 428 rather than applied blindly, since the lost update it
//! would allow is exactly what versions are for.

use http::HeaderMap;
use http::header::{IF_MATCH, IF_NONE_MATCH};

/// The ETag of a version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// What an `If-Match` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// No `If-Match` header.
    Missing,
    /// One strong ETag naming a version.
    Version(u64),
    /// `*`: "whatever version there is", which gives no protection against
    /// a lost update; refused like a missing header.
    Any,
    /// A weak ETag (`W/"3"`): RFC 9110 compares `If-Match` strongly, so a
    /// weak tag never matches.
    Weak,
    /// Anything else (several tags, or not an ETag of this API).
    Invalid(String),
}

impl IfMatch {
    pub fn of(headers: &HeaderMap) -> Self {
        let mut values = headers.get_all(IF_MATCH).iter();
        let Some(first) = values.next() else {
            return Self::Missing;
        };
        if values.next().is_some() {
            return Self::Invalid("more than one If-Match header".into());
        }
        let Ok(text) = first.to_str() else {
            return Self::Invalid("If-Match is not text".into());
        };
        let text = text.trim();
        if text == "*" {
            return Self::Any;
        }
        if text.starts_with("W/") {
            return Self::Weak;
        }
        match parse_version_tag(text) {
            Some(version) => Self::Version(version),
            None if text.contains(',') => Self::Invalid(format!(
                "If-Match {text:?} names several versions; send one"
            )),
            None => Self::Invalid(format!(
                "If-Match {text:?} is not an ETag of this API (like \"3\")"
            )),
        }
    }
}

/// `"3"` → 3.
fn parse_version_tag(text: &str) -> Option<u64> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.is_empty() || inner.len() > 19 || !inner.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    inner.parse().ok()
}

/// Whether `If-None-Match` names `version` (or `*`): the client's copy is
/// current, and a GET can answer 304. Weak comparison, as RFC 9110 wants
/// for `If-None-Match`.
pub fn none_match_hits(headers: &HeaderMap, version: u64) -> bool {
    headers.get_all(IF_NONE_MATCH).iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',').map(str::trim).any(|tag| {
                tag == "*"
                    || parse_version_tag(tag.strip_prefix("W/").unwrap_or(tag)) == Some(version)
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: http::HeaderName, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name.clone(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn if_match_forms() {
        let of = |values: &[&str]| IfMatch::of(&headers(IF_MATCH, values));
        assert_eq!(of(&[]), IfMatch::Missing);
        assert_eq!(of(&["\"3\""]), IfMatch::Version(3));
        assert_eq!(of(&[" \"12\" "]), IfMatch::Version(12));
        assert_eq!(of(&["*"]), IfMatch::Any);
        assert_eq!(of(&["W/\"3\""]), IfMatch::Weak);
        for bad in [
            &["3"][..],
            &["\"3\", \"4\""],
            &["\"x\""],
            &["\"\""],
            &["\"3\"", "\"3\""],
            &["\"99999999999999999999\""],
        ] {
            assert!(matches!(of(bad), IfMatch::Invalid(_)), "{bad:?}");
        }
        assert_eq!(etag(7), "\"7\"");
    }

    #[test]
    fn if_none_match_is_weak_and_takes_lists() {
        let hits = |values: &[&str], v| none_match_hits(&headers(IF_NONE_MATCH, values), v);
        assert!(hits(&["\"3\""], 3));
        assert!(hits(&["W/\"3\""], 3));
        assert!(hits(&["\"1\", \"3\""], 3));
        assert!(hits(&["*"], 3));
        assert!(!hits(&["\"2\""], 3));
        assert!(!hits(&[], 3));
    }
}
