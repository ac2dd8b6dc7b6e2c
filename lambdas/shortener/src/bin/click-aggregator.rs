//! The click aggregator function: SQS batches of click events in, per-link
//! counter updates and partial batch failures out.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shortener::lambda::run_aggregator().await
}
