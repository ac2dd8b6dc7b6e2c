//! The `archform` command line: argument parsing, dispatch and output.
//! Library crates do the work; this crate only turns their results into text
//! or JSON and exit codes.

mod args;
mod code;
mod commands;
mod emulator_cmd;
mod output;
mod plan_text;
mod progress;
mod state_store;
mod target;

use clap::Parser;

pub use args::Cli;

/// Exit codes: 0 success, 1 failure, 2 invalid input (nothing touched AWS).
pub fn main() -> i32 {
    let cli = Cli::parse();
    match commands::dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}
