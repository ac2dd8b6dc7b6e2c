//! Identifiers: which user, conversation and client ids are accepted, and
//! the sortable, time-based message ids.
//!
//! Message ids are ULIDs (26 Crockford base32 characters: 48 bits of Unix
//! milliseconds, then 80 bits that order ids of the same millisecond), so
//! they sort by time as text. One generator per process hands them out
//! strictly increasing, also within a millisecond and if the clock steps
//! back; the message's `ts` is the id's own millisecond, so ordering by
//! `<ts>#<id>` (the messages table's sort key) and by id is the same.

use std::sync::Mutex;

use rand::Rng;

/// Longest user, conversation or client id.
pub const MAX_ID_CHARS: usize = 64;

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is {len} characters long; at most {MAX_ID_CHARS} are allowed")]
    TooLong { what: &'static str, len: usize },
    #[error("{what} {value:?} has the character {bad:?}; use letters, digits and . _ - : @ only")]
    BadCharacter {
        what: &'static str,
        value: String,
        bad: char,
    },
}

/// Characters of user and conversation ids. `#` is left out because the
/// tables' sort keys join ids with it; spaces and controls because ids
/// appear in URLs, logs and Redis channel names.
fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@')
}

fn check(what: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { what });
    }
    let len = value.chars().count();
    if len > MAX_ID_CHARS {
        return Err(IdError::TooLong { what, len });
    }
    if let Some(bad) = value.chars().find(|c| !id_char(*c)) {
        return Err(IdError::BadCharacter {
            what,
            value: value.to_owned(),
            bad,
        });
    }
    Ok(())
}

pub fn check_user(value: &str) -> Result<(), IdError> {
    check("the user id", value)
}

pub fn check_conversation(value: &str) -> Result<(), IdError> {
    check("the conversation id", value)
}

/// A client-chosen message id (`client_id`): any printable text up to 64
/// characters (clients use UUIDs, counters, ...).
pub fn check_client_id(value: &str) -> Result<(), IdError> {
    let what = "client_id";
    if value.is_empty() {
        return Err(IdError::Empty { what });
    }
    let len = value.chars().count();
    if len > MAX_ID_CHARS {
        return Err(IdError::TooLong { what, len });
    }
    if let Some(bad) = value.chars().find(|c| c.is_control() || *c == '#') {
        return Err(IdError::BadCharacter {
            what,
            value: value.to_owned(),
            bad,
        });
    }
    Ok(())
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const MESSAGE_ID_LEN: usize = 26;
/// Largest millisecond a ULID holds (48 bits).
const MAX_MS: u64 = (1 << 48) - 1;
/// Random bits drawn for a new millisecond: 79 of the 80, so that
/// incrementing within a millisecond never overflows into the time.
const RANDOM_MASK: u128 = (1 << 79) - 1;

fn encode(value: u128) -> String {
    (0..MESSAGE_ID_LEN)
        .map(|i| CROCKFORD[((value >> (5 * (MESSAGE_ID_LEN - 1 - i))) & 31) as usize] as char)
        .collect()
}

fn decode(text: &str) -> Option<u128> {
    if text.len() != MESSAGE_ID_LEN {
        return None;
    }
    let mut value: u128 = 0;
    for (i, byte) in text.bytes().enumerate() {
        let digit = CROCKFORD.iter().position(|c| *c == byte)? as u128;
        // The first character carries only the top 3 of 130 bits.
        if i == 0 && digit > 7 {
            return None;
        }
        value = (value << 5) | digit;
    }
    Some(value)
}

/// The millisecond a message id was made in; `None` if `id` is not a
/// message id (26 upper-case Crockford base32 characters).
pub fn message_id_millis(id: &str) -> Option<i64> {
    decode(id).map(|value| (value >> 80) as i64)
}

/// The messages table's sort key of a message: `<13-digit ts>#<id>`.
pub fn message_sort_key(ts: i64, id: &str) -> String {
    format!("{ts:013}#{id}")
}

/// The sort key of the message with this id (its ts is in the id).
pub fn sort_key_of(id: &str) -> Option<String> {
    message_id_millis(id).map(|ts| message_sort_key(ts, id))
}

/// Hands out message ids, strictly increasing within the process.
#[derive(Debug, Default)]
pub struct MessageIds {
    last: Mutex<u128>,
}

impl MessageIds {
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh id for a message made at `now_ms`, and the millisecond it
    /// carries (`now_ms`, or the previous id's if the clock stepped back).
    pub fn next(&self, now_ms: i64) -> (String, i64) {
        let now = (now_ms.max(0) as u64).min(MAX_MS) as u128;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let last_ms = *last >> 80;
        let value = if now > last_ms {
            (now << 80) | (rand::rng().random::<u128>() & RANDOM_MASK)
        } else {
            *last + 1
        };
        *last = value;
        (encode(value), (value >> 80) as i64)
    }
}

/// A connection id for `chat serve`: 96 random bits, URL-safe base64 (16
/// characters), as opaque as API Gateway's own.
pub fn connection_id() -> String {
    use base64::Engine;
    let bytes: [u8; 12] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_the_documented_characters_only() {
        assert!(check_user("alice").is_ok());
        assert!(check_user("alice@example.com").is_ok());
        assert!(check_conversation("team:general-2_b.x").is_ok());
        assert_eq!(
            check_user(""),
            Err(IdError::Empty {
                what: "the user id"
            })
        );
        assert!(matches!(
            check_conversation(&"x".repeat(65)),
            Err(IdError::TooLong { len: 65, .. })
        ));
        assert!(check_conversation(&"x".repeat(64)).is_ok());
        for bad in ["a#b", "a b", "a/b", "é", "a\nb"] {
            let err = check_conversation(bad).unwrap_err();
            assert!(matches!(err, IdError::BadCharacter { .. }), "{bad}");
        }
        assert!(
            check_conversation("a b")
                .unwrap_err()
                .to_string()
                .contains("letters, digits")
        );
        assert!(check_client_id("c1 with spaces/ok").is_ok());
        assert!(check_client_id("a#b").is_err());
        assert!(check_client_id(&"c".repeat(65)).is_err());
    }

    #[test]
    fn message_ids_round_trip_their_time_and_sort_by_it() {
        let ids = MessageIds::new();
        let (a, ts_a) = ids.next(1_700_000_000_000);
        let (b, ts_b) = ids.next(1_700_000_000_001);
        assert_eq!(a.len(), 26);
        assert_eq!(ts_a, 1_700_000_000_000);
        assert_eq!(message_id_millis(&a), Some(ts_a));
        assert_eq!(message_id_millis(&b), Some(ts_b));
        assert!(a < b);
        assert_eq!(sort_key_of(&a).unwrap(), format!("1700000000000#{a}"));
    }

    #[test]
    fn message_ids_increase_within_a_millisecond_and_when_the_clock_steps_back() {
        let ids = MessageIds::new();
        let mut previous = String::new();
        for now in [5_000, 5_000, 5_000, 4_000, 4_999, 5_000, 5_001] {
            let (id, ts) = ids.next(now);
            assert!(id > previous, "{id} after {previous}");
            assert!(ts >= 5_000);
            previous = id;
        }
    }

    #[test]
    fn ids_from_concurrent_threads_are_unique_and_ordered_per_thread() {
        let ids = std::sync::Arc::new(MessageIds::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let ids = ids.clone();
                std::thread::spawn(move || {
                    let made: Vec<String> = (0..500).map(|_| ids.next(42).0).collect();
                    assert!(made.windows(2).all(|w| w[0] < w[1]));
                    made
                })
            })
            .collect();
        let mut all: Vec<String> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 2000);
    }

    #[test]
    fn only_message_ids_decode() {
        assert_eq!(message_id_millis("not-an-id"), None);
        assert_eq!(message_id_millis(&"Z".repeat(26)), None); // overflows 128 bits
        assert_eq!(message_id_millis(&"0".repeat(25)), None);
        assert_eq!(message_id_millis("0000000000000000000000000I"), None); // I is not Crockford
        assert_eq!(message_id_millis(&"0".repeat(26)), Some(0));
    }

    #[test]
    fn connection_ids_are_distinct_and_url_safe() {
        let (a, b) = (connection_id(), connection_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
