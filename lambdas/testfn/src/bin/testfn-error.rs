//! The handler always returns an error.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    eprintln!("testfn-error: failing request {}", event.context.request_id);
    Err("the handler failed on purpose".into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
