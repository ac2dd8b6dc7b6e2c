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

/// A fresh notification id for the instant `now_ms`.
pub fn new_notification_id(now_ms: i64) -> String {
    let millis = u128::from(u64::try_from(now_ms).unwrap_or(0) & ((1 << 48) - 1));
    let random: u128 = rand::rng().random::<u128>() & ((1 << 80) - 1);
    let mut bits = (millis << 80) | random;
    let mut out = [0u8; ULID_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = CROCKFORD[(bits & 31) as usize];
        bits >>= 5;
    }
    let mut id = String::with_capacity(NOTIFICATION_PREFIX.len() + ULID_CHARS);
    id.push_str(NOTIFICATION_PREFIX);
    id.push_str(std::str::from_utf8(&out).expect("Crockford characters are ASCII"));
    id
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
