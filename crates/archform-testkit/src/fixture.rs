//! What integration tests use: an endpoint to talk to, an SDK config for it,
//! and which emulator is behind it (to skip what that backend lacks).

use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

use archform_emulator::{EmulatorKind, OwnedEmulator};

/// Set to use an already running emulator instead of starting one.
pub const TEST_ENDPOINT_ENV: &str = "ARCHFORM_TEST_ENDPOINT";
/// `moto` (default) or `localstack`: which emulator a test process starts
/// when no endpoint is given.
pub const TEST_EMULATOR_ENV: &str = "ARCHFORM_TEST_EMULATOR";

/// The endpoint tests should send AWS calls to.
///
/// `$ARCHFORM_TEST_ENDPOINT` if set (no process is started: `tests/run` starts
/// one shared moto for the whole suite). Otherwise the first call starts one
/// emulator for this test process, owned by a static so it lives as long as
/// the process and is killed when the process ends.
///
/// # Panics
/// If the emulator cannot be started; the message includes its log tail.
/// Tests want a loud failure here, not a skip.
pub fn test_endpoint() -> String {
    try_test_endpoint().unwrap_or_else(|err| panic!("no AWS emulator for tests: {err}"))
}

/// [`test_endpoint`] that returns the error instead of panicking.
pub fn try_test_endpoint() -> Result<String, String> {
    if let Some(endpoint) = std::env::var(TEST_ENDPOINT_ENV)
        .ok()
        .filter(|value| !value.trim().is_empty())
    {
        return Ok(endpoint.trim().trim_end_matches('/').to_owned());
    }
    // The error is kept too, so that every test in a process fails fast with
    // the same message instead of each retrying a slow start.
    static EMULATOR: OnceLock<Result<OwnedEmulator, String>> = OnceLock::new();
    EMULATOR
        .get_or_init(|| {
            let kind = match std::env::var(TEST_EMULATOR_ENV) {
                Ok(name) if !name.trim().is_empty() => name.trim().parse()?,
                _ => EmulatorKind::Moto,
            };
            OwnedEmulator::start(kind).map_err(|err| err.chain_text())
        })
        .as_ref()
        .map(|emulator| emulator.endpoint().to_owned())
        .map_err(Clone::clone)
}

/// An SDK config for `endpoint`: region us-east-1, static test credentials
/// (access key `testing`), retries as the SDK defaults them.
///
/// It deliberately ignores the host's `AWS_*` variables and `~/.aws` files: a
/// developer's profile (or an `AWS_ENDPOINT_URL_EC2`) must never redirect a
/// test's calls to a real account.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .empty_test_environment()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "archform-testkit",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}
