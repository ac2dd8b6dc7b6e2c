//! The closed-loop HTTP load the benchmarks share: `clients` tasks, each on
//! its own keep-alive connection, sending GET requests (or requests a
//! benchmark makes) back to back for a while; latencies of the answers with
//! the expected status, and the summary line with requests/s, p50 and p99.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The connection count: `ARCHFORM_BENCH_CLIENTS`, else `default`.
pub fn clients(default: usize) -> usize {
    std::env::var("ARCHFORM_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One round of load.
pub struct Sample {
    /// Answers with the expected status.
    pub requests: usize,
    /// Other answers and failed requests.
    pub errors: usize,
    pub latencies_us: Vec<u64>,
    pub elapsed: Duration,
}

/// `clients` tasks for `duration`; task `i` goes round `uris` starting at
/// `i`. An answer with `expect` counts (redirects are not followed);
/// anything else is an error.
pub async fn closed_loop(
    uris: Vec<hyper::Uri>,
    clients: usize,
    duration: Duration,
    expect: StatusCode,
) -> Sample {
    closed_loop_requests(clients, duration, expect, move |task, i| {
        hyper::Request::get(uris[(task + i) % uris.len()].clone())
            .body(Full::new(Bytes::new()))
            .expect("GET request")
    })
    .await
}

/// Like [`closed_loop`], with the requests `make(task, i)` builds (the
/// `i`th request of client `task`), e.g. form POSTs carrying the client's
/// own cookie.
pub async fn closed_loop_requests<F>(
    clients: usize,
    duration: Duration,
    expect: StatusCode,
    make: F,
) -> Sample
where
    F: Fn(usize, usize) -> hyper::Request<Full<Bytes>> + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..clients {
        let (make, stop) = (make.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1)
                .build_http();
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let request = make(task, i);
                i += 1;
                let t = Instant::now();
                match client.request(request).await {
                    Ok(resp) => {
                        let ok = resp.status() == expect;
                        let _ = resp.into_body().collect().await;
                        if ok {
                            lat.push(t.elapsed().as_micros() as u64);
                        } else {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut sample = Sample {
        requests: 0,
        errors: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (lat, errors) = t.await.expect("load task");
        sample.requests += lat.len();
        sample.errors += errors;
        sample.latencies_us.extend(lat);
    }
    sample.elapsed = started.elapsed();
    sample
}

/// The `p` quantile of sorted microseconds, in milliseconds.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Prints one side's line over its rounds; returns (requests/s, requests).
pub fn summarize<'a>(name: &str, samples: impl IntoIterator<Item = &'a Sample>) -> (f64, usize) {
    let samples: Vec<&Sample> = samples.into_iter().collect();
    let requests: usize = samples.iter().map(|s| s.requests).sum();
    let errors: usize = samples.iter().map(|s| s.errors).sum();
    let secs: f64 = samples.iter().map(|s| s.elapsed.as_secs_f64()).sum();
    let mut lat: Vec<u64> = samples
        .iter()
        .flat_map(|s| s.latencies_us.iter().copied())
        .collect();
    lat.sort_unstable();
    let rps = requests as f64 / secs;
    println!(
        "  {name:<11} {rps:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   errors {errors}",
        percentile(&lat, 0.50),
        percentile(&lat, 0.99)
    );
    (rps, requests)
}
