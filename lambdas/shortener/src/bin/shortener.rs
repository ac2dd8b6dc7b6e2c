//! `shortener serve`: the URL shortener API as a standalone HTTP server.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shortener::cli::{ServeArgs, serve};

#[derive(Debug, Parser)]
#[command(name = "shortener", version, about = "URL shortener service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API over HTTP against DynamoDB and SQS (AWS or an emulator
    /// through AWS_ENDPOINT_URL); prints `listening on http://ADDR` once bound
    Serve(ServeArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
    }
}
