//! The router function: every WebSocket route on Lambda; outside Lambda,
//! `chat serve` with its flags.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if service_common::in_lambda() {
        return match chat::lambda::run(chat::lambda::Route::All).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(error = %err, "Lambda runtime failed");
                std::process::ExitCode::FAILURE
            }
        };
    }
    chat::cli::serve(chat::cli::RouterCli::parse().serve).await
}
