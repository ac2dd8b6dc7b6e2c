//! Product and order ids: a kind prefix (`prd_`, `ord_`) and a ULID (26
//! Crockford base32 characters: 48 bits of Unix milliseconds, then 80
//! random bits).
//!
//! The time prefix makes ids sort by creation as text, so "the next page
//! after id X" is a plain range condition in every store (a primary key
//! range in PostgreSQL, a sort key range in DynamoDB). The 80 random bits
//! (OS-seeded CSPRNG) make a collision within one millisecond negligible
//! without coordination between instances. Within one process ids are
//! also strictly increasing (a ULID "monotonic" generator: an id of the same
//! millisecond as the previous one is the previous one plus one), so pages
//! list records in the order this instance created them.

use std::sync::Mutex;

use rand::Rng as _;

/// The bits of the last id made in this process.
static LAST: Mutex<u128> = Mutex::new(0);

const ULID_CHARS: usize = 26;
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The two kinds of record that have ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Product,
    Order,
}

impl IdKind {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Product => "prd_",
            Self::Order => "ord_",
        }
    }

    /// A fresh id of this kind for the instant `now_ms`.
    pub fn new_id(self, now_ms: i64) -> String {
        let millis = u128::from(u64::try_from(now_ms).unwrap_or(0) & ((1 << 48) - 1));
        let random: u128 = rand::rng().random::<u128>() & ((1 << 80) - 1);
        let candidate = (millis << 80) | random;
        let bits = {
            let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // 2^80 ids in one millisecond would be needed to overflow into
            // the time bits; the clock going back keeps the last time.
            *last = if candidate > *last {
                candidate
            } else {
                *last + 1
            };
            *last
        };
        let out = encode(bits);
        let mut id = String::with_capacity(4 + ULID_CHARS);
        id.push_str(self.prefix());
        id.push_str(std::str::from_utf8(&out).expect("Crockford characters are ASCII"));
        id
    }

    /// Whether `id` could be an id of this kind. Anything else is answered
    /// without a store read, and never reaches a URL path or a query.
    pub fn is_id(self, id: &str) -> bool {
        id.strip_prefix(self.prefix()).is_some_and(|ulid| {
            ulid.len() == ULID_CHARS
                && ulid.bytes().all(|b| CROCKFORD.contains(&b))
                // 26 characters hold 130 bits; a ULID's first is at most 7.
                && ulid.as_bytes()[0] <= b'7'
        })
    }
}

/// 128 bits as 26 Crockford base32 characters, most significant first.
fn encode(mut bits: u128) -> [u8; ULID_CHARS] {
    let mut out = [0u8; ULID_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = CROCKFORD[(bits & 31) as usize];
        bits >>= 5;
    }
    out
}

pub fn new_product_id(now_ms: i64) -> String {
    IdKind::Product.new_id(now_ms)
}

pub fn new_order_id(now_ms: i64) -> String {
    IdKind::Order.new_id(now_ms)
}

pub fn is_product_id(id: &str) -> bool {
    IdKind::Product.is_id(id)
}

pub fn is_order_id(id: &str) -> bool {
    IdKind::Order.is_id(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_shape_and_sort_by_time() {
        let a = new_product_id(1_700_000_000_000);
        let b = new_product_id(1_700_000_000_001);
        assert!(is_product_id(&a), "{a}");
        assert!(!is_order_id(&a));
        assert_eq!(a.len(), 30);
        assert!(a < b);
        assert_ne!(new_order_id(5), new_order_id(5));
        assert!(is_order_id(&new_order_id(5)));
        // Strictly increasing within a millisecond, and if the clock steps back.
        let same: Vec<String> = (0..100)
            .map(|_| new_product_id(1_700_000_000_000))
            .collect();
        assert!(same.windows(2).all(|w| w[0] < w[1]));
        // The time part of a known instant (the ULID spec's example time).
        assert!(encode(1_469_918_176_385 << 80).starts_with(b"01ARYZ6S41"));
    }

    #[test]
    fn other_strings_are_not_ids() {
        for bad in [
            "",
            "prd_",
            "ord_01ARYZ6S41TSV4RRFFQ69G5FAV",
            "prd_01ARYZ6S41TSV4RRFFQ69G5FA",
            "prd_01ARYZ6S41TSV4RRFFQ69G5FAVX",
            "prd_01ARYZ6S41TSV4RRFFQ69G5FAU",
            "prd_81ARYZ6S41TSV4RRFFQ69G5FAV",
            "prd_01aryz6s41tsv4rrffq69g5fav",
            "prd_../../admin",
        ] {
            assert!(!is_product_id(bad), "{bad}");
        }
        assert!(is_product_id("prd_01ARYZ6S41TSV4RRFFQ69G5FAV"));
    }
}
