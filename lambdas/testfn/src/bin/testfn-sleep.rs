//! Sleeps `event.ms` milliseconds, then returns `{"slept_ms": ms}`; with
//! `event.exit` set, exits the process with that code instead of answering
//! (a crash mid-invocation, as `panic = "abort"` builds do).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let ms = event.payload.get("ms").and_then(Value::as_u64).unwrap_or(0);
    println!("testfn-sleep: sleeping {ms} ms");
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    if let Some(code) = event.payload.get("exit").and_then(Value::as_i64) {
        eprintln!("testfn-sleep: exiting with {code}");
        std::process::exit(code as i32);
    }
    Ok(json!({ "slept_ms": ms }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
