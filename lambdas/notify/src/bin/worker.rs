//! The delivery worker function: SQS batches of jobs in, partial batch
//! failures out.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    notify::lambda::main_for("worker", notify::lambda::run_worker).await
}
