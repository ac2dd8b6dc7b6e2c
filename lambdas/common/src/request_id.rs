//! The id of one request, in logs, error bodies and response headers.

use rand::Rng;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(pub String);

impl RequestId {
    /// Lambda's request id when the request came through a Lambda runtime
    /// (`lambda_http` puts the invocation context in the request
    /// extensions), else a fresh random one.
    pub fn for_request(extensions: &http::Extensions) -> Self {
        match extensions.get::<lambda_runtime::Context>() {
            Some(context) => Self::from_context(context),
            None => Self::random(),
        }
    }

    /// The invocation's request id, or a random one if the runtime gave none.
    pub fn from_context(context: &lambda_runtime::Context) -> Self {
        if context.request_id.is_empty() {
            Self::random()
        } else {
            Self(context.request_id.clone())
        }
    }

    /// 128 random bits as 32 hex digits.
    pub fn random() -> Self {
        let bits: u128 = rand::rng().random();
        Self(format!("{bits:032x}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_request_ids_are_distinct_hex() {
        let (a, b) = (RequestId::random(), RequestId::random());
        assert_ne!(a, b);
        assert_eq!(a.0.len(), 32);
        assert!(a.0.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn lambda_context_wins() {
        let mut context = lambda_runtime::Context::default();
        context.request_id = "abc-123".into();
        let mut extensions = http::Extensions::new();
        extensions.insert(context);
        assert_eq!(RequestId::for_request(&extensions).0, "abc-123");
        assert_eq!(RequestId::for_request(&http::Extensions::new()).0.len(), 32);
    }
}
