//! CloudWatch Embedded Metric Format (EMF).
//!
//! An EMF line is a JSON object with an `_aws` key, printed on its own line;
//! on Lambda, CloudWatch Logs turns it into real metrics without any API
//! call (and so without any extra IAM permission). Standalone, the same line
//! is simply a structured log line.

use std::io::Write;

use serde_json::{Map, Value, json};

/// Where metric lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsSink {
    /// Lambda: CloudWatch reads EMF from the function's stdout.
    Stdout,
    /// Standalone: stdout is kept for the `listening on` line.
    Stderr,
    /// Not written (tests, or library users who do not want them).
    Off,
}

impl MetricsSink {
    /// The sink for this process: stdout on Lambda, stderr otherwise.
    pub fn for_process() -> Self {
        if crate::runtime::in_lambda() {
            Self::Stdout
        } else {
            Self::Stderr
        }
    }

    pub fn write_line(self, line: &str) {
        // Written whole under the stream's lock so it never interleaves
        // with a log line.
        let _ = match self {
            Self::Stdout => writeln!(std::io::stdout().lock(), "{line}"),
            Self::Stderr => writeln!(std::io::stderr().lock(), "{line}"),
            Self::Off => Ok(()),
        };
    }
}

/// One metric of a document: name, CloudWatch unit, value.
pub type Metric<'a> = (&'a str, &'a str, f64);

/// One EMF document in `namespace`: `metrics` under the single dimension
/// set of `dimensions` (name, value), plus `properties` as plain fields
/// (searchable in Logs Insights, not metrics).
pub fn document(
    namespace: &str,
    epoch_millis: i64,
    dimensions: &[(&str, &str)],
    metrics: &[Metric<'_>],
    properties: &[(&str, Value)],
) -> String {
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let dimension_names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": epoch_millis,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimension_names],
                "Metrics": definitions,
            }],
        }),
    );
    for (name, value) in dimensions {
        root.insert((*name).into(), json!(value));
    }
    for (name, _, value) in metrics {
        root.insert((*name).into(), json!(value));
    }
    for (name, value) in properties {
        root.insert((*name).into(), value.clone());
    }
    Value::Object(root).to_string()
}

/// Milliseconds since the Unix epoch, as EMF timestamps are.
pub fn epoch_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_has_metrics_dimensions_and_properties() {
        let line = document(
            "archform/test",
            1_700_000_000_000,
            &[("Service", "svc")],
            &[("Hits", "Count", 3.0), ("Ratio", "Percent", 75.0)],
            &[("Entries", json!(7))],
        );
        let doc: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(doc["Hits"], 3.0);
        assert_eq!(doc["Ratio"], 75.0);
        assert_eq!(doc["Entries"], 7);
        assert_eq!(doc["Service"], "svc");
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], 1_700_000_000_000i64);
        let cw = &aws["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "archform/test");
        assert_eq!(cw["Dimensions"], json!([["Service"]]));
        assert_eq!(
            cw["Metrics"][1],
            json!({"Name": "Ratio", "Unit": "Percent"})
        );
        assert!(!line.contains('\n'));
    }
}
