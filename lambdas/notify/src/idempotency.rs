//! Idempotent requests: the same `idempotency_key` with the same body
//! answers with the same notification ids and sends nothing again; the
//! same key with a different body is a conflict (409), since the caller
//! has mixed up two requests.
//!
//! "The same body" means the same JSON, whatever the order of object keys
//! or the whitespace: the body is hashed in a canonical form (keys sorted
//! at every depth, no whitespace). A record lasts
//! [`DEFAULT_IDEMPOTENCY_TTL_MS`]; after that the key is free again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2_digest011::{Digest, Sha256};

/// How long a key is remembered: a day, like the retry windows of the
/// payment APIs that made the header common.
pub const DEFAULT_IDEMPOTENCY_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// `value` as compact JSON with object keys sorted at every depth.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let ordered: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// SHA-256 of the canonical JSON, in hex.
pub fn body_hash(value: &Value) -> String {
    let digest = Sha256::digest(canonical_json(value).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What is remembered of a request made with a key: the hash of its body
/// and the answer it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub key: String,
    pub body_hash: String,
    /// The 202 body of the first request, replayed for retries.
    pub response: Value,
    pub created_at: i64,
    /// Unix ms after which the record no longer counts (and a table's TTL
    /// may delete it).
    pub expires_at: i64,
}

impl IdempotencyRecord {
    pub fn is_live(&self, now_ms: i64) -> bool {
        now_ms < self.expires_at
    }
}

/// What a stored record means for a new request with the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Same body: answer with the recorded response, do nothing else.
    Same(Value),
    /// Different body: 409.
    Conflict,
}

/// Compares a new request's body hash with the record of its key.
pub fn replay(existing: &IdempotencyRecord, body_hash: &str) -> Replay {
    if existing.body_hash == body_hash {
        Replay::Same(existing.response.clone())
    } else {
        Replay::Conflict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_whitespace_do_not_change_the_hash() {
        let a: Value =
            serde_json::from_str(r#"{"user_id":"u1","data":{"b":1,"a":[{"y":2,"x":1}]}}"#).unwrap();
        let b: Value = serde_json::from_str(
            r#"{ "data": { "a": [ { "x": 1, "y": 2 } ], "b": 1 }, "user_id": "u1" }"#,
        )
        .unwrap();
        assert_eq!(
            canonical_json(&a),
            r#"{"data":{"a":[{"x":1,"y":2}],"b":1},"user_id":"u1"}"#
        );
        assert_eq!(body_hash(&a), body_hash(&b));
        assert_eq!(body_hash(&a).len(), 64);
    }

    #[test]
    fn any_change_of_content_changes_the_hash() {
        let base = json!({"user_id": "u1", "data": {"n": 1}, "template": "t"});
        for changed in [
            json!({"user_id": "u2", "data": {"n": 1}, "template": "t"}),
            json!({"user_id": "u1", "data": {"n": 2}, "template": "t"}),
            json!({"user_id": "u1", "data": {"n": "1"}, "template": "t"}),
            json!({"user_id": "u1", "data": {"n": 1}, "template": "t", "priority": "bulk"}),
            // Array order is content.
            json!({"user_id": "u1", "data": {"n": [1, 2]}, "template": "t"}),
        ] {
            assert_ne!(body_hash(&base), body_hash(&changed), "{changed}");
        }
        assert_ne!(
            body_hash(&json!({"l": [1, 2]})),
            body_hash(&json!({"l": [2, 1]}))
        );
    }

    #[test]
    fn the_sha256_is_of_the_canonical_text() {
        // sha256 of the 2 bytes "{}", as `printf '{}' | sha256sum` gives it.
        assert_eq!(
            body_hash(&json!({})),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn replays_and_conflicts() {
        let record = IdempotencyRecord {
            key: "k".into(),
            body_hash: "abc".into(),
            response: json!({"id": "ntf_1"}),
            created_at: 0,
            expires_at: 10,
        };
        assert_eq!(replay(&record, "abc"), Replay::Same(json!({"id": "ntf_1"})));
        assert_eq!(replay(&record, "abd"), Replay::Conflict);
        assert!(record.is_live(9));
        assert!(!record.is_live(10));
    }
}
