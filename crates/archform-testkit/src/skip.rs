//! Tests that cannot run somewhere say so through [`skipped`]: the reason
//! goes to stderr and, under `tests/run`, into the file named by
//! `ARCHFORM_TEST_SKIPS`, which tests/run lists at the end and fails on
//! (every skip but the real-AWS smoke test is a dependency the run promised
//! and did not provide). A test that returns early without calling this is
//! passing by not running: don't.

use std::io::Write;

/// The environment variable naming the skip log.
pub const SKIPS_ENV: &str = "ARCHFORM_TEST_SKIPS";

/// Records that the current test skipped (part of) its checks, and why.
/// `what` names the test or the part skipped.
pub fn skipped(what: &str, reason: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let binary = std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    eprintln!("SKIPPED {what}: {reason}");
    if let Some(path) = std::env::var_os(SKIPS_ENV) {
        let line = serde_json::json!({
            "binary": binary,
            "test": test,
            "what": what,
            "reason": reason,
        });
        // One short line per append: concurrent test processes do not
        // interleave within it.
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
