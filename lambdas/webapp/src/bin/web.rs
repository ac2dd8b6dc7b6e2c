//! The web-tier function: `lambda_http` on Lambda (public ALB events),
//! otherwise the same server as `webapp serve-web`, with its flags.

use std::process::ExitCode;

use clap::Parser;
use webapp::cli::{ServeWebArgs, serve_web};

#[derive(Debug, Parser)]
#[command(
    name = "web",
    version,
    about = "Orders-and-inventory web tier, the HTML pages (Lambda or standalone)"
)]
struct Cli {
    #[command(flatten)]
    serve: ServeWebArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    if webapp::lambda::in_lambda() {
        return match webapp::lambda::run_web().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(error = %err, "Lambda runtime failed");
                ExitCode::FAILURE
            }
        };
    }
    serve_web(Cli::parse().serve).await
}
