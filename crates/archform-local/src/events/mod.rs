//! Lambda events shaped exactly like the AWS services send them, and the
//! services' reading of function responses, for running functions locally
//! behind an Application Load Balancer, a function URL, an API Gateway
//! WebSocket API, an SQS queue or an SNS topic.
//!
//! Everything here is a pure function of its inputs (plus the clock and
//! fresh ids where AWS puts them), so it can be checked against the event
//! types the functions themselves deserialize into.

pub mod alb;
pub mod function_url;
pub mod sns;
pub mod sqs;
pub mod websocket;

pub mod base64;
pub mod clock;
mod query;
mod response;

/// Why a function response cannot become an HTTP response: the cases the
/// service itself answers with an error (502 Bad Gateway for a load
/// balancer or a function URL) instead of passing something on.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("the function response is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("the function response is not a JSON object")]
    NotAnObject,
    #[error("the function response has no statusCode")]
    MissingStatus,
    #[error("statusCode {0} is not an HTTP status between 100 and 599")]
    InvalidStatus(String),
    #[error("`{field}` in the function response {problem}")]
    InvalidField {
        field: &'static str,
        problem: &'static str,
    },
    #[error("the body is marked isBase64Encoded but is not valid base64")]
    InvalidBase64,
    #[error("header {name:?} cannot be sent in an HTTP response")]
    InvalidHeader { name: String },
}

/// Whether a request body goes to the function as text: the media type
/// (before any `;` parameters) is `text/*` or one of `also_text`, and the
/// bytes are UTF-8 (a JSON string cannot carry anything else, so a body
/// that claims to be text but is not is base64-encoded as well).
fn is_text_body(content_type: Option<&str>, also_text: &[&str], body: &[u8]) -> bool {
    let Some(media) = content_type.map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }) else {
        return false;
    };
    (media.starts_with("text/") || also_text.contains(&media.as_str()))
        && std::str::from_utf8(body).is_ok()
}

/// The event's `body` and `isBase64Encoded` for request bytes.
fn request_body(body: &[u8], as_text: bool) -> (String, bool) {
    if as_text {
        (String::from_utf8_lossy(body).into_owned(), false)
    } else {
        (base64::encode(body), true)
    }
}

/// A header value as event text (non-UTF-8 bytes replaced).
fn header_text(value: &http::HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}
