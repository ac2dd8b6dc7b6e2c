//! The expander function: SQS batches of fan-out chunks in, notifications
//! stored and jobs queued, partial batch failures out.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    notify::lambda::main_for("expander", notify::lambda::run_expander).await
}
