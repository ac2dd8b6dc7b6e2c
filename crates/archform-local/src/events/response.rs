//! Reading the HTTP-shaped responses functions return to a load balancer or
//! a function URL: status, headers, body and its base64 flag.

use super::{AdapterError, base64};
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

/// Headers the service does not pass on from a function: hop-by-hop ones,
/// and Content-Length, which it computes from the body it sends.
const NOT_FORWARDED: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "content-length",
];

pub fn parse(payload: &[u8]) -> Result<Value, AdapterError> {
    serde_json::from_slice(payload).map_err(AdapterError::NotJson)
}

/// `statusCode`: an integer from 100 to 599.
pub fn status(response: &Map<String, Value>) -> Result<http::StatusCode, AdapterError> {
    let value = response
        .get("statusCode")
        .ok_or(AdapterError::MissingStatus)?;
    value
        .as_u64()
        .filter(|code| (100..=599).contains(code))
        .and_then(|code| http::StatusCode::from_u16(code as u16).ok())
        .ok_or_else(|| AdapterError::InvalidStatus(value.to_string()))
}

/// `body` (a string, or absent/null for none), decoded when
/// `isBase64Encoded` is true.
pub fn body(response: &Map<String, Value>) -> Result<Bytes, AdapterError> {
    let encoded = match response.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(AdapterError::InvalidField {
                field: "isBase64Encoded",
                problem: "is not a boolean",
            });
        }
    };
    match response.get("body") {
        None | Some(Value::Null) => Ok(Bytes::new()),
        Some(Value::String(text)) if encoded => base64::decode(text)
            .map(Bytes::from)
            .ok_or(AdapterError::InvalidBase64),
        Some(Value::String(text)) => Ok(Bytes::from(text.clone())),
        Some(_) => Err(AdapterError::InvalidField {
            field: "body",
            problem: "is not a string",
        }),
    }
}

/// The object under `field` (absent or null: empty).
pub fn object<'a>(
    response: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a Map<String, Value>>, AdapterError> {
    match response.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(AdapterError::InvalidField {
            field,
            problem: "is not an object",
        }),
    }
}

/// Adds one response header, skipping the ones the service drops.
pub fn append_header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), AdapterError> {
    let invalid = || AdapterError::InvalidHeader {
        name: name.to_string(),
    };
    let name_ok = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
    if NOT_FORWARDED.contains(&name_ok.as_str()) {
        return Ok(());
    }
    let value = HeaderValue::from_str(value).map_err(|_| invalid())?;
    headers.append(name_ok, value);
    Ok(())
}

pub fn build(status: http::StatusCode, headers: HeaderMap, body: Bytes) -> http::Response<Bytes> {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
