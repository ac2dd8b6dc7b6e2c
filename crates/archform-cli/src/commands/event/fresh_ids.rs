//! Fresh ids in the shapes AWS uses: UUIDs for message ids, long opaque
//! receipt handles, API Gateway's 15-character connection ids. They only
//! need to differ between records and runs, so they come from hashing the
//! time, the process id and a counter rather than from an RNG dependency.

use archform_local::events::base64;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn fresh_bytes() -> [u8; 32] {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut h = Sha256::new();
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.finalize().into()
}

/// A UUID v4 (`xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`), as SQS and SNS
/// message ids are.
pub fn uuid() -> String {
    let mut b = fresh_bytes();
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // variant 10
    let h: String = b[..16].iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An SQS receipt handle: opaque base64 that starts with `AQEB`, as real
/// ones do, and is about as long.
pub fn receipt_handle() -> String {
    let bytes: Vec<u8> = (0..4).flat_map(|_| fresh_bytes()).collect();
    format!("AQEB{}", base64::encode(&bytes))
}

/// An API Gateway connection id: 11 bytes of base64, 15 characters and `=`.
pub fn connection_id() -> String {
    base64::encode(&fresh_bytes()[..11])
}

/// A `Sec-WebSocket-Key`: 16 bytes of base64 (RFC 6455).
pub fn websocket_key() -> String {
    base64::encode(&fresh_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_uniqueness() {
        let (a, b) = (uuid(), uuid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!("89ab".contains(&a[19..20]), "{a}");
        assert!(receipt_handle().starts_with("AQEB"));
        let id = connection_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
        assert_eq!(websocket_key().len(), 24);
    }
}
