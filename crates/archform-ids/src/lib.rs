//! Fresh ids for every archform crate, in one place and from one source of
//! randomness: `rand`'s thread-local generator (a CSPRNG seeded from the
//! OS), never the time or the process id. State lineages and lock ids are
//! compared across machines (an S3 state backend), so two hosts, or two
//! processes started in the same instant, must not draw the same one.
//!
//! The shapes are the ones AWS uses, so events built locally look like the
//! real ones: UUID v4 for Lambda request ids and SQS/SNS message ids, X-Ray
//! trace ids, API Gateway's base64 connection ids, SQS receipt handles.
//!
//! [`utc`] turns Unix time into calendar dates for the timestamps archform
//! writes (it sits here because ids and times are what every layer shares).
//! This crate depends on no other archform crate, so any of them can use it.

pub mod utc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use rand::RngCore as _;
use std::time::{SystemTime, UNIX_EPOCH};

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A random UUID v4 (`xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`): state
/// lineages, lock ids, Lambda request ids, SQS and SNS message ids.
pub fn uuid_v4() -> String {
    let mut b: [u8; 16] = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // variant 10
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The `1-<epoch seconds, 8 hex>-<96 random bits, 24 hex>` part of an X-Ray
/// trace id, as load balancers and API Gateway put in `X-Amzn-Trace-Id`.
pub fn xray_id() -> String {
    format!("1-{:08x}-{}", epoch_secs(), hex(&random_bytes::<12>()))
}

/// An X-Ray trace header like Lambda's `Lambda-Runtime-Trace-Id`.
pub fn trace_id() -> String {
    format!(
        "Root={};Parent={};Sampled=0",
        xray_id(),
        hex(&random_bytes::<8>())
    )
}

/// An API Gateway style id (WebSocket `connectionId`s and `requestId`s):
/// 11 random bytes in base64, so 15 characters and one `=`. The URL-safe
/// alphabet (`-_`, not `+/`), since clients put connection ids in the
/// management API's URL paths.
pub fn api_gateway_id() -> String {
    URL_SAFE.encode(random_bytes::<11>())
}

/// An SQS receipt handle: opaque base64 that starts with `AQEB`, as real
/// ones do, and is about as long.
pub fn receipt_handle() -> String {
    format!("AQEB{}", STANDARD.encode(random_bytes::<128>()))
}

/// A `Sec-WebSocket-Key`: 16 random bytes in base64 (RFC 6455).
pub fn websocket_key() -> String {
    STANDARD.encode(random_bytes::<16>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_differ() {
        let (a, b) = (uuid_v4(), uuid_v4());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert_eq!(&a[14..15], "4");
        assert!("89ab".contains(&a[19..20]), "{a}");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{a}");
    }

    #[test]
    fn aws_shapes() {
        let x = xray_id();
        assert_eq!(x.len(), 35, "{x}");
        assert!(x.starts_with("1-"), "{x}");
        let t = trace_id();
        assert!(t.starts_with("Root=1-") && t.ends_with(";Sampled=0"), "{t}");
        let g = api_gateway_id();
        assert!(g.len() == 16 && g.ends_with('='), "{g}");
        let many: String = (0..64).map(|_| api_gateway_id()).collect();
        assert!(!many.contains(['+', '/']), "{many}");
        assert_ne!(g, api_gateway_id());
        assert!(receipt_handle().starts_with("AQEB"));
        assert_eq!(websocket_key().len(), 24);
    }
}
