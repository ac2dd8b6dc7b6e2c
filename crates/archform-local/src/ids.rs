//! Request and trace ids shaped like Lambda's (a random UUID v4, an X-Ray id).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 128 pseudo-random bits (time, pid, a counter, mixed with splitmix64):
/// unique per process and run, which is all a request id needs.
fn random128() -> u128 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed =
        nanos ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let hi = splitmix(seed);
    let lo = splitmix(hi ^ n);
    (u128::from(hi) << 64) | u128::from(lo)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A UUID v4 string, like Lambda's `Lambda-Runtime-Aws-Request-Id`.
pub fn request_id() -> String {
    let mut v = random128();
    v = (v & !(0xF << 76)) | (0x4 << 76); // version 4
    v = (v & !(0x3 << 62)) | (0x2 << 62); // variant 10
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An X-Ray trace header like Lambda's `Lambda-Runtime-Trace-Id`.
pub fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let v = random128();
    format!(
        "Root=1-{secs:08x}-{:024x};Parent={:016x};Sampled=0",
        v >> 32 & ((1u128 << 96) - 1),
        v as u64
    )
}

/// The `1-<epoch seconds, 8 hex>-<96 random bits, 24 hex>` part of an X-Ray
/// trace id, as load balancers and API Gateway put in `X-Amzn-Trace-Id`.
pub fn xray_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("1-{secs:08x}-{:024x}", random128() & ((1u128 << 96) - 1))
}

/// An API Gateway style id (`connectionId`, `requestId` of WebSocket
/// events): 11 random bytes in base64, so 15 characters and one `=`.
pub fn api_gateway_id() -> String {
    let bytes = random128().to_be_bytes();
    crate::events::base64::encode(&bytes[..11])
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_uuid_v4_and_unique() {
        let a = super::request_id();
        let b = super::request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(super::trace_id().starts_with("Root=1-"));
        let x = super::xray_id();
        assert_eq!(x.len(), 35, "{x}");
        let g = super::api_gateway_id();
        assert!(g.len() == 16 && g.ends_with('='), "{g}");
        assert_ne!(g, super::api_gateway_id());
    }
}
