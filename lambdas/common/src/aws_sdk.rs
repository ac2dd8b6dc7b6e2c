//! The AWS SDK configuration every service loads the same way.
//!
//! Endpoint, credentials and region come from the standard AWS environment:
//! `AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_<SERVICE>`
//! variables, which `archform dev` and `archform invoke` pass to functions)
//! point every client at an emulator; `AWS_REGION`, `AWS_PROFILE`, ...
//! as usual. A missing region is refused up front: the SDK would otherwise
//! fail on the first call with a message that names no setting.

use aws_config::{BehaviorVersion, SdkConfig};

/// The emulator endpoint for every service, when set.
pub const ENDPOINT_URL_ENV: &str = "AWS_ENDPOINT_URL";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdkConfigError {
    #[error(
        "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the AWS_PROFILE's config)"
    )]
    NoRegion,
}

/// The SDK configuration from the environment, with a region.
pub async fn load() -> Result<SdkConfig, SdkConfigError> {
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    if sdk.region().is_none() {
        return Err(SdkConfigError::NoRegion);
    }
    if let Some(endpoint) = emulator_endpoint() {
        tracing::debug!(%endpoint, "AWS calls go to the endpoint in AWS_ENDPOINT_URL");
    }
    Ok(sdk)
}

/// `AWS_ENDPOINT_URL` when set and not blank: the process talks to an
/// emulator (or a proxy) instead of AWS.
pub fn emulator_endpoint() -> Option<String> {
    std::env::var(ENDPOINT_URL_ENV)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}
