//! Structured JSON logs through `tracing`.

use tracing_subscriber::EnvFilter;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// Lambda: CloudWatch Logs collects stdout.
    Stdout,
    /// Standalone: stdout carries only the `listening on` line.
    Stderr,
}

/// Installs a JSON subscriber, one object per line with the event's fields
/// at the top level (easy to query in CloudWatch Logs Insights). The level
/// comes from `RUST_LOG`, else Lambda's `AWS_LAMBDA_LOG_LEVEL`, else `info`.
/// Does nothing if a subscriber is already installed (a library user's).
pub fn init(target: LogTarget) {
    let filter = EnvFilter::try_from_default_env()
        .ok()
        .or_else(|| {
            let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok()?;
            EnvFilter::try_new(level.to_ascii_lowercase()).ok()
        })
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter);
    let _ = match target {
        LogTarget::Stdout => builder.with_writer(std::io::stdout).try_init(),
        LogTarget::Stderr => builder.with_writer(std::io::stderr).try_init(),
    };
}
