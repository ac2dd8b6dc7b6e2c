//! Printing results as human text or JSON.

use crate::args::OutputFormat;
use archform_blueprint::{Diagnostics, LoadError};
use serde::Serialize;

/// Prints a result: JSON for machines, or the given human text.
pub fn emit<T: Serialize>(format: OutputFormat, value: &T, text: impl FnOnce() -> String) {
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(value)
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        ),
        OutputFormat::Text => print!("{}", text()),
    }
}

/// Reports a load failure and returns the exit code: 2 for invalid input.
pub fn load_error(format: OutputFormat, err: &LoadError) -> i32 {
    match err.diagnostics() {
        Some(d) => {
            diagnostics(format, d);
            2
        }
        None => {
            match format {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::json!({"valid": false, "errors": [{"message": err.to_string()}]})
                ),
                OutputFormat::Text => eprintln!("error: {err}"),
            }
            2
        }
    }
}

pub fn diagnostics(format: OutputFormat, d: &Diagnostics) {
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"valid": false, "errors": d}))
                .unwrap_or_default()
        ),
        OutputFormat::Text => eprintln!("{d}"),
    }
}

/// The `--output` format of this run, for the few lines written outside a
/// command's result (notes on stderr); set once by dispatch.
static FORMAT: std::sync::OnceLock<OutputFormat> = std::sync::OnceLock::new();

pub fn set_format(format: OutputFormat) {
    let _ = FORMAT.set(format);
}

/// A note on stderr: the text, or with `--output json` the JSON value on one
/// line, like the progress events there.
pub fn note(text: &str, json: &serde_json::Value) {
    match FORMAT.get() {
        Some(OutputFormat::Json) => eprintln!("{json}"),
        _ => eprintln!("archform: {text}"),
    }
}
