//! `webapp serve-app`, `webapp serve-web` and `webapp serve` (both tiers).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    webapp::cli::main().await
}
