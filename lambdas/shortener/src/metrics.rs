//! Periodic cache and click metrics as CloudWatch Embedded Metric Format.
//!
//! An EMF line is a JSON object with an `_aws` key, printed on its own line;
//! on Lambda, CloudWatch Logs turns it into real metrics without any API
//! call (and so without any extra IAM permission). Standalone, the same line
//! is simply a structured log line.
//!
//! A report covers the interval since the previous one and is due after
//! [`REPORT_EVERY_LOOKUPS`] lookups or [`REPORT_EVERY`], whichever is first
//! (checked on lookups: an idle instance reports nothing, which is right).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
pub use service_common::MetricsSink;
use service_common::emf;

use crate::cache::CacheStats;
use crate::clicks::ClickStatsSnapshot;

pub const NAMESPACE: &str = "archform/shortener";
pub const REPORT_EVERY_LOOKUPS: u64 = 1000;
pub const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Counters at the previous report.
struct Last {
    at: Instant,
    lookups: u64,
    cache: CacheStats,
    clicks: ClickStatsSnapshot,
}

/// Decides when a report is due and builds it.
pub struct MetricsReporter {
    sink: MetricsSink,
    service: String,
    last: Mutex<Last>,
}

impl MetricsReporter {
    pub fn new(sink: MetricsSink, service: impl Into<String>, now: Instant) -> Self {
        Self {
            sink,
            service: service.into(),
            last: Mutex::new(Last {
                at: now,
                lookups: 0,
                cache: CacheStats::default(),
                clicks: ClickStatsSnapshot::default(),
            }),
        }
    }

    /// Called after each redirect lookup; writes a report when one is due
    /// and returns it.
    pub fn on_lookup(
        &self,
        cache: CacheStats,
        clicks: ClickStatsSnapshot,
        now: Instant,
        epoch_millis: i64,
    ) -> Option<String> {
        let line = {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            last.lookups += 1;
            if last.lookups < REPORT_EVERY_LOOKUPS && now.duration_since(last.at) < REPORT_EVERY {
                return None;
            }
            let line = emf_line(
                &self.service,
                epoch_millis,
                &interval_metrics(&last.cache, &cache, &last.clicks, &clicks),
                cache.entries,
            );
            *last = Last {
                at: now,
                lookups: 0,
                cache,
                clicks,
            };
            line
        };
        self.sink.write_line(&line);
        Some(line)
    }
}

/// (name, unit, value) of one interval.
fn interval_metrics(
    before: &CacheStats,
    after: &CacheStats,
    clicks_before: &ClickStatsSnapshot,
    clicks_after: &ClickStatsSnapshot,
) -> Vec<(&'static str, &'static str, f64)> {
    let hits = after.hits.saturating_sub(before.hits);
    let misses = after.misses.saturating_sub(before.misses);
    let lookups = hits + misses;
    let ratio = if lookups == 0 {
        0.0
    } else {
        (hits as f64 * 1000.0 / lookups as f64).round() / 10.0
    };
    let delta = |a: u64, b: u64| a.saturating_sub(b) as f64;
    vec![
        ("CacheHits", "Count", hits as f64),
        ("CacheMisses", "Count", misses as f64),
        ("CacheHitRatio", "Percent", ratio),
        (
            "CacheEvictions",
            "Count",
            delta(after.evictions, before.evictions),
        ),
        (
            "ClicksEnqueued",
            "Count",
            delta(clicks_after.enqueued, clicks_before.enqueued),
        ),
        (
            "ClicksDropped",
            "Count",
            delta(clicks_after.dropped, clicks_before.dropped),
        ),
        (
            "ClicksSent",
            "Count",
            delta(clicks_after.sent, clicks_before.sent),
        ),
        (
            "ClicksFailed",
            "Count",
            delta(clicks_after.failed, clicks_before.failed),
        ),
    ]
}

/// One EMF document: the metrics under dimension `Service`, plus the cache
/// size as a plain property.
pub fn emf_line(
    service: &str,
    epoch_millis: i64,
    metrics: &[(&str, &str, f64)],
    cache_entries: usize,
) -> String {
    emf::document(
        NAMESPACE,
        epoch_millis,
        &[("Service", service)],
        metrics,
        &[("CacheEntries", json!(cache_entries))],
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn stats(hits: u64, misses: u64) -> CacheStats {
        CacheStats {
            hits,
            misses,
            evictions: 0,
            entries: 7,
        }
    }

    #[test]
    fn reports_every_thousand_lookups_with_interval_deltas() {
        let t0 = Instant::now();
        let reporter = MetricsReporter::new(MetricsSink::Off, "shortener", t0);
        let clicks = ClickStatsSnapshot::default();
        for i in 1..REPORT_EVERY_LOOKUPS {
            assert!(reporter.on_lookup(stats(i, 0), clicks, t0, 0).is_none());
        }
        let line = reporter
            .on_lookup(stats(750, 250), clicks, t0, 1_700_000_000_000)
            .expect("due after 1000 lookups");
        let doc: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(doc["CacheHits"], 750.0);
        assert_eq!(doc["CacheMisses"], 250.0);
        assert_eq!(doc["CacheHitRatio"], 75.0);
        assert_eq!(doc["CacheEntries"], 7);
        assert_eq!(doc["Service"], "shortener");
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(aws["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(
            aws["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service"]])
        );
        let names: Vec<&str> = aws["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"CacheHitRatio") && names.contains(&"ClicksDropped"));

        // The next report covers only what happened since.
        let t1 = t0 + REPORT_EVERY;
        let line = reporter.on_lookup(stats(760, 250), clicks, t1, 0).unwrap();
        let doc: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (doc["CacheHits"].as_f64(), doc["CacheMisses"].as_f64()),
            (Some(10.0), Some(0.0))
        );
        assert_eq!(doc["CacheHitRatio"], 100.0);
    }

    #[test]
    fn reports_after_a_minute_even_with_few_lookups() {
        let t0 = Instant::now();
        let reporter = MetricsReporter::new(MetricsSink::Off, "s", t0);
        let clicks = ClickStatsSnapshot::default();
        assert!(
            reporter
                .on_lookup(stats(1, 0), clicks, t0 + Duration::from_secs(59), 0)
                .is_none()
        );
        assert!(
            reporter
                .on_lookup(stats(1, 1), clicks, t0 + REPORT_EVERY, 0)
                .is_some()
        );
    }
}
