//! `notify serve`: the API, the delivery workers and the expander in one
//! process.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    notify::cli::main().await
}
