//! An axum router served as a Lambda function (ALB and function URL events)
//! when a Lambda runtime started it, as a plain HTTP server otherwise.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    archform_testfn::http_serving::run(archform_testfn::http_routes::router()).await
}
