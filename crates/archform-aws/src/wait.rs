//! Bounded polling for AWS's eventual states (NAT gateway available, load
//! balancer active, function active, ENIs released).

use archform_engine::provider::{ProviderError, ProviderResult};
use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it answers `Some`, with exponential backoff from
/// `first` up to 10 s between polls, for at most `limit`.
pub async fn until<T, F, Fut>(
    what: &str,
    first: Duration,
    limit: Duration,
    mut check: F,
) -> ProviderResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ProviderResult<Option<T>>>,
{
    let start = Instant::now();
    let mut delay = first;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if start.elapsed() + delay > limit {
            return Err(ProviderError::failed(format!(
                "timed out after {}s waiting for {what}",
                start.elapsed().as_secs()
            )));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}
