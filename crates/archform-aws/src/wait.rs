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

/// How long [`retry_while`] keeps trying.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// The first pause; each later one doubles, up to 10 s.
    pub first: Duration,
    /// No new attempt starts after this much time.
    pub limit: Duration,
}

/// Runs `call` again while its error is a transient one that `retry`
/// recognises (a role not yet assumable, a mapping busy updating, a queue
/// name deleted moments ago), with exponential backoff, for at most
/// `backoff.limit`. Any other result, or the last attempt's error, is
/// returned as it is, so the caller still tells "not found" from failure.
pub async fn retry_while<T, E, F, Fut>(
    backoff: Backoff,
    retry: impl Fn(&E) -> bool,
    mut call: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let mut delay = backoff.first;
    loop {
        match call().await {
            Err(e) if retry(&e) && start.elapsed() + delay <= backoff.limit => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}
