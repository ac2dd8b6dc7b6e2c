//! The handler panics.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

async fn handler(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    panic!("testfn-panic: panicking on purpose");
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
