//! What dev prints while it runs: one line per request or batch, then the
//! function's own log lines prefixed with its logical id (stderr, so stdout
//! carries only the readiness line).

use archform_local::{InvokeOutcome, InvokeResult};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static QUIET: AtomicBool = AtomicBool::new(false);

/// Stops the per-request lines (warnings still print): for load tests,
/// where writing a line per request would be what is measured.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `[api] GET /x -> 302 (1.9 ms)` plus the function's logs, if any.
pub fn request(
    function: &str,
    what: &str,
    answer: &str,
    took: Duration,
    outcome: Option<&InvokeOutcome>,
) {
    if QUIET.load(Ordering::Relaxed) {
        return;
    }
    let mut err = std::io::stderr().lock();
    let init = outcome
        .and_then(|o| o.init_duration)
        .map(|d| format!(", cold start {:.1} ms", ms(d)))
        .unwrap_or_default();
    let _ = writeln!(
        err,
        "[{function}] {what} -> {answer} ({:.1} ms{init})",
        ms(took)
    );
    if let Some(o) = outcome {
        for line in o.logs.lines().filter(|l| !l.trim().is_empty()) {
            let _ = writeln!(err, "[{function}]   {line}");
        }
        if let InvokeResult::Error(e) | InvokeResult::InitError(e) = &o.result {
            let _ = writeln!(err, "[{function}]   {}: {}", e.error_type, e.message);
        }
    }
}

/// A problem of dev itself or of the AWS calls it makes for a function.
pub fn warn(component: &str, message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "[{component}] warning: {message}");
}
