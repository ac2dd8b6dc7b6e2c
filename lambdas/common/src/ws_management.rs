//! Reaching a WebSocket API's `@connections` management endpoint from a
//! handler: where it is (on AWS and under `archform dev`), and one SDK client
//! per endpoint for the life of the process. Every WebSocket function in
//! lambdas/ (the chat service, `testfn-ws`) uses this rule.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;
use aws_sdk_apigatewaymanagement::Client;

/// Set by `archform dev` to its local `@connections` endpoint, stage
/// included (`http://127.0.0.1:PORT/STAGE`); the SDK's own name for the
/// management API's endpoint override.
pub const ENDPOINT_OVERRIDE_ENV: &str = "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI";

/// The management endpoint for a WebSocket event from `domain` (the event's
/// `requestContext.domainName`) and `stage` (`requestContext.stage`).
///
/// On AWS that is `https://{domain}/{stage}`. When
/// `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI` is set (non-empty) it wins:
/// `archform dev` points it at its local stand-in, whose domain name in the
/// event is not a host the function could reach. Service functions in
/// lambdas/ should use this same rule, or they cannot run under `archform dev`.
pub fn management_endpoint(domain: &str, stage: &str) -> String {
    endpoint_from(
        std::env::var(ENDPOINT_OVERRIDE_ENV).ok().as_deref(),
        domain,
        stage,
    )
}

/// [`management_endpoint`] with the override passed in (testable without
/// touching the process environment).
fn endpoint_from(override_url: Option<&str>, domain: &str, stage: &str) -> String {
    match override_url.map(str::trim).filter(|url| !url.is_empty()) {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("https://{domain}/{stage}"),
    }
}

/// Management API clients by endpoint. A WebSocket function usually talks
/// to one endpoint, so building the client (and its connection pool) once
/// per endpoint instead of per event keeps warm invocations cheap.
pub struct ManagementClients {
    sdk: SdkConfig,
    by_endpoint: Mutex<HashMap<String, Client>>,
}

impl ManagementClients {
    /// Clients sharing `sdk` (region, credentials, retries).
    pub fn new(sdk: SdkConfig) -> Self {
        ManagementClients {
            sdk,
            by_endpoint: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `endpoint`, built on first use.
    pub fn for_endpoint(&self, endpoint: &str) -> Client {
        let mut clients = self
            .by_endpoint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(endpoint.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_apigatewaymanagement::config::Builder::from(&self.sdk)
                    .endpoint_url(endpoint)
                    .build();
                Client::from_conf(config)
            })
            .clone()
    }

    /// How many distinct endpoints have a client (for tests of the cache).
    pub fn len(&self) -> usize {
        self.by_endpoint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_endpoint_is_domain_and_stage() {
        assert_eq!(
            endpoint_from(None, "abc123.execute-api.us-east-1.amazonaws.com", "prod"),
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
        );
    }

    #[test]
    fn override_wins_and_empty_override_is_ignored() {
        assert_eq!(
            endpoint_from(Some("http://127.0.0.1:4510/dev/"), "d", "prod"),
            "http://127.0.0.1:4510/dev"
        );
        assert_eq!(endpoint_from(Some(" "), "d", "prod"), "https://d/prod");
    }

    #[test]
    fn one_client_per_endpoint() {
        let sdk = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let clients = ManagementClients::new(sdk);
        clients.for_endpoint("http://127.0.0.1:1/a");
        clients.for_endpoint("http://127.0.0.1:1/a");
        clients.for_endpoint("http://127.0.0.1:1/b");
        assert_eq!(clients.len(), 2);
    }
}
