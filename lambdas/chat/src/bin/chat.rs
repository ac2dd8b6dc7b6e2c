//! `chat serve` (the WebSocket server) and `chat token` (a development token).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    chat::cli::main().await
}
