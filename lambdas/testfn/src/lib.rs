//! Shared pieces of the test functions: each binary in `src/bin` is one
//! behaviour the local Lambda runtime must handle like AWS does, or one kind
//! of event source `archform dev` drives (HTTP, SQS, WebSocket).

pub mod http_routes;
pub mod http_serving;
pub mod sqs_forwarder;
pub mod ws_routes;

use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

/// The echo handler: the event back with what the runtime told us about the
/// invocation (request id, deadline, function ARN, trace id).
pub async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let ctx = &event.context;
    println!("testfn-echo: handling request {}", ctx.request_id);
    Ok(json!({
        "echo": event.payload,
        "request_id": ctx.request_id,
        "deadline_ms": ctx.deadline,
        "function_arn": ctx.invoked_function_arn,
        "trace_id": ctx.xray_trace_id,
        "function_name": std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
        "env_greeting": std::env::var("GREETING").ok(),
        "aws_endpoint_url": std::env::var("AWS_ENDPOINT_URL").ok(),
        "aws_region": std::env::var("AWS_REGION").ok(),
    }))
}

/// Reports an initialisation error the way the Runtime API expects
/// (`POST /2018-06-01/runtime/init/error`), with a plain blocking HTTP/1.1
/// request; failures to report are ignored (the process exits non-zero anyway).
pub fn report_init_error(error_type: &str, message: &str) {
    use std::io::{Read, Write};
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = json!({"errorType": error_type, "errorMessage": message}).to_string();
    let Ok(mut stream) = std::net::TcpStream::connect(&api) else {
        return;
    };
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Content-Type: application/json\r\nLambda-Runtime-Function-Error-Type: {error_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
}
