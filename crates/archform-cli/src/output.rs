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
