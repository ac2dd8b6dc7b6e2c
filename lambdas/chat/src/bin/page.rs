//! The web page behind a Lambda function URL: the same page `chat serve`
//! serves, pointing at the deployed WebSocket API (`WEBSOCKET_URL`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if !service_common::in_lambda() {
        return chat::lambda::not_in_lambda("page");
    }
    match chat::page_lambda::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "Lambda runtime failed");
            std::process::ExitCode::FAILURE
        }
    }
}
