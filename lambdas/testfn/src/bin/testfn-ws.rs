//! An API Gateway WebSocket handler: `$connect` (refused with `?reject`),
//! `$disconnect`, and `echo` / `send` / `bye` messages answered through the
//! `@connections` management API.

use archform_testfn::ws_routes::WsHandler;
use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Built once: the management clients it caches outlive each invocation.
    let handler = WsHandler::from_env().await;
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            handler.handle(event).await
        },
    ))
    .await
}
