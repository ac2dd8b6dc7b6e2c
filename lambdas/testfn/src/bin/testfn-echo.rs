//! Returns the event with the invocation's request id, deadline and ARN.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(archform_testfn::echo)).await
}
