//! The app-tier function: `lambda_http` on Lambda (internal ALB events),
//! otherwise the same server as `webapp serve-app`, with its flags.

use std::process::ExitCode;

use clap::Parser;
use webapp::cli::{ServeAppArgs, serve_app};

#[derive(Debug, Parser)]
#[command(
    name = "app",
    version,
    about = "Orders-and-inventory app tier, the JSON API (Lambda or standalone)"
)]
struct Cli {
    #[command(flatten)]
    serve: ServeAppArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    if webapp::lambda::in_lambda() {
        return match webapp::lambda::run_app().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(error = %err, "Lambda runtime failed");
                ExitCode::FAILURE
            }
        };
    }
    serve_app(Cli::parse().serve).await
}
