//! Notification ids: `ntf_` and a ULID (26 Crockford base32 characters:
//! 48 bits of Unix milliseconds, then 80 random bits).
//!
//! The time prefix makes ids sort by creation as text, which keeps a
//! user's notifications in order in a table keyed by id; the 80 random
//! bits (from the OS-seeded CSPRNG) make a collision between two ids of
//! the same millisecond negligible without any coordination between
//! instances. Unlike chat's message ids they need no strict order within
//! a millisecond.

use rand::Rng as _;

pub const NOTIFICATION_PREFIX: &str = "ntf_";
const ULID_CHARS: usize = 26;
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Batch ids: `bat_` and a ULID, for requests fanned out by the expander.
pub const BATCH_PREFIX: &str = "bat_";

fn ulid(prefix: &str, now_ms: i64, random: u128) -> String {
    let millis = u128::from(u64::try_from(now_ms).unwrap_or(0) & ((1 << 48) - 1));
    let mut bits = (millis << 80) | (random & ((1 << 80) - 1));
    let mut out = [0u8; ULID_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = CROCKFORD[(bits & 31) as usize];
        bits >>= 5;
    }
    let mut id = String::with_capacity(prefix.len() + ULID_CHARS);
    id.push_str(prefix);
    id.push_str(std::str::from_utf8(&out).expect("Crockford characters are ASCII"));
    id
}

/// A fresh notification id for the instant `now_ms`.
pub fn new_notification_id(now_ms: i64) -> String {
    ulid(NOTIFICATION_PREFIX, now_ms, rand::rng().random::<u128>())
}

/// A fresh batch id for the instant `now_ms`.
pub fn new_batch_id(now_ms: i64) -> String {
    ulid(BATCH_PREFIX, now_ms, rand::rng().random::<u128>())
}

pub fn is_batch_id(id: &str) -> bool {
    id.strip_prefix(BATCH_PREFIX)
        .is_some_and(|rest| is_notification_id(&format!("{NOTIFICATION_PREFIX}{rest}")))
}

/// The Unix ms a ULID-based id was drawn at.
fn id_millis(ulid_part: &str) -> i64 {
    let mut bits: u64 = 0;
    for b in ulid_part.bytes().take(10) {
        let value = CROCKFORD.iter().position(|c| *c == b).unwrap_or(0) as u64;
        bits = (bits << 5) | value;
    }
    i64::try_from(bits & ((1 << 48) - 1)).unwrap_or(0)
}

/// The notification id of `user_id` in the fanned-out batch `batch_id`:
/// the batch's time and 80 bits of SHA-256 of the two, so the expander
/// names a user's notification the same way however often a chunk is
/// delivered, and `GET /v1/batches/{batch}/users/{user}` finds it.
pub fn batch_notification_id(batch_id: &str, user_id: &str) -> String {
    use sha2_digest011::{Digest, Sha256};
    let ulid_part = batch_id.strip_prefix(BATCH_PREFIX).unwrap_or(batch_id);
    let digest = Sha256::digest(format!("{batch_id}\n{user_id}").as_bytes());
    let mut random = 0u128;
    for byte in &digest[..16] {
        random = (random << 8) | u128::from(*byte);
    }
    ulid(NOTIFICATION_PREFIX, id_millis(ulid_part), random)
}

/// Whether `id` could be a notification id (so that a lookup of anything
/// else is answered without touching the store).
pub fn is_notification_id(id: &str) -> bool {
    id.strip_prefix(NOTIFICATION_PREFIX).is_some_and(|ulid| {
        ulid.len() == ULID_CHARS
            && ulid.bytes().all(|b| CROCKFORD.contains(&b))
            // 26 characters hold 130 bits; a ULID's first is at most 7.
            && ulid.as_bytes()[0] <= b'7'
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_shape_and_sort_by_time() {
        let a = new_notification_id(1_700_000_000_000);
        let b = new_notification_id(1_700_000_000_001);
        assert!(is_notification_id(&a), "{a}");
        assert_eq!(a.len(), 30);
        assert!(a < b);
        assert_ne!(new_notification_id(5), new_notification_id(5));
        // The time part of a known instant (the ULID spec's example time).
        assert!(new_notification_id(1_469_918_176_385).starts_with("ntf_01ARYZ6S41"));
    }

    #[test]
    fn batch_notification_ids_are_stable_and_distinct() {
        let batch = new_batch_id(1_469_918_176_385);
        assert!(is_batch_id(&batch), "{batch}");
        assert!(!is_batch_id("ntf_01ARYZ6S41TSV4RRFFQ69G5FAV"));
        let ana = batch_notification_id(&batch, "ana");
        assert!(is_notification_id(&ana), "{ana}");
        assert!(ana.starts_with("ntf_01ARYZ6S41"), "{ana}");
        assert_eq!(batch_notification_id(&batch, "ana"), ana);
        assert_ne!(batch_notification_id(&batch, "bob"), ana);
        assert_ne!(
            batch_notification_id(&new_batch_id(1_469_918_176_385), "ana"),
            ana
        );
    }

    #[test]
    fn other_strings_are_not_ids() {
        for bad in [
            "",
            "ntf_",
            "msg_01ARYZ6S41TSV4RRFFQ69G5FAV",
            "ntf_01ARYZ6S41TSV4RRFFQ69G5FA",
            "ntf_01ARYZ6S41TSV4RRFFQ69G5FAVX",
            "ntf_01ARYZ6S41TSV4RRFFQ69G5FAU", // U is not Crockford
            "ntf_81ARYZ6S41TSV4RRFFQ69G5FAV", // overflows 128 bits
            "ntf_01aryz6s41tsv4rrffq69g5fav",
        ] {
            assert!(!is_notification_id(bad), "{bad}");
        }
        assert!(is_notification_id("ntf_01ARYZ6S41TSV4RRFFQ69G5FAV"));
    }
}
