//! Page cursors: what the API hands out as `next_cursor` and takes back as
//! `cursor`.
//!
//! A cursor is the id of the last item of the previous page, base64url
//! encoded. It is opaque on purpose (clients must not build or edit
//! cursors, so the encoding can change), but not secret: it only says where
//! a listing stopped. A cursor that does not decode to an id of the listed
//! kind is refused with 400 rather than read as "from the start".

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::ids::IdKind;
use crate::validate::FieldError;

pub fn encode(last_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_id)
}

/// The id in `cursor`, which must be one of `kind`.
pub fn decode(cursor: &str, kind: IdKind) -> Result<String, FieldError> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|id| kind.is_id(id))
        .ok_or_else(|| {
            FieldError::new(
                "cursor",
                "cursor is not one this API gave out; pass next_cursor from the previous page unchanged",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{new_order_id, new_product_id};

    #[test]
    fn cursors_round_trip_and_stay_in_their_kind() {
        let id = new_product_id(1_700_000_000_000);
        let cursor = encode(&id);
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(decode(&cursor, IdKind::Product), Ok(id));
        assert!(decode(&encode(&new_order_id(1)), IdKind::Product).is_err());
        for bad in ["", "!!", "cHJkXw", "prd_01ARYZ6S41TSV4RRFFQ69G5FAV"] {
            assert_eq!(decode(bad, IdKind::Product).unwrap_err().field, "cursor");
        }
    }
}
