//! The shortener API function: `lambda_http` on Lambda (ALB or function URL
//! events), otherwise the same server as `shortener serve`, with its flags.

use std::process::ExitCode;

use clap::Parser;
use shortener::cli::{ServeArgs, serve};

#[derive(Debug, Parser)]
#[command(
    name = "shortener-api",
    version,
    about = "URL shortener API (Lambda or standalone)"
)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    if shortener::lambda::in_lambda() {
        return match shortener::lambda::run_api().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(error = %err, "Lambda runtime failed");
                ExitCode::FAILURE
            }
        };
    }
    serve(Cli::parse().serve).await
}
