//! The API function (`lambda_http`, behind an ALB or a function URL);
//! outside Lambda it says to use `notify serve`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    notify::lambda::main_for("ingest", notify::lambda::run_ingest).await
}
