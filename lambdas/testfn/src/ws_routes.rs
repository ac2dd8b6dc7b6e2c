//! `testfn-ws`: an API Gateway WebSocket handler exercising what a chat
//! service does: accept or refuse connections, answer the sender, message
//! another connection (and notice when it is gone), hang up.

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

use service_common::ws_management::{ManagementClients, management_endpoint};

/// The WebSocket handler with its management API clients.
pub struct WsHandler {
    clients: ManagementClients,
}

impl WsHandler {
    pub fn new(clients: ManagementClients) -> Self {
        WsHandler { clients }
    }

    /// Clients configured from the environment (region, credentials).
    pub async fn from_env() -> Self {
        WsHandler::new(ManagementClients::new(aws_config::load_from_env().await))
    }

    /// Routes by `requestContext.routeKey`:
    /// - `$connect`: 403 when the query string has `reject`, else 200;
    /// - `$disconnect`: 200;
    /// - anything else: the JSON body's `action` decides (`echo`, `send`,
    ///   `bye`); a `$default` message without a known action is echoed.
    ///
    /// Failing to answer the sender is an invocation error.
    pub async fn handle(
        &self,
        event: LambdaEvent<ApiGatewayWebsocketProxyRequest>,
    ) -> Result<ApiGatewayProxyResponse, Error> {
        let request = event.payload;
        let ctx = &request.request_context;
        let route = ctx.route_key.as_deref().unwrap_or("$default");
        let connection_id = ctx.connection_id.as_deref().unwrap_or_default();
        match route {
            "$connect" => {
                let rejected = request.query_string_parameters.first("reject").is_some()
                    || request
                        .multi_value_query_string_parameters
                        .first("reject")
                        .is_some();
                let status = if rejected { 403 } else { 200 };
                println!("testfn-ws: connect {connection_id}: {status}");
                Ok(status_response(status))
            }
            "$disconnect" => {
                println!("testfn-ws: disconnect {connection_id}");
                Ok(status_response(200))
            }
            _ => {
                let endpoint = management_endpoint(
                    ctx.domain_name.as_deref().unwrap_or_default(),
                    ctx.stage.as_deref().unwrap_or_default(),
                );
                let message = Message {
                    client: self.clients.for_endpoint(&endpoint),
                    route,
                    sender: connection_id,
                    body: parse_body(request.body.as_deref().unwrap_or_default()),
                };
                message.dispatch().await?;
                Ok(status_response(200))
            }
        }
    }
}

/// A message-route event being handled.
struct Message<'a> {
    client: Client,
    route: &'a str,
    sender: &'a str,
    body: Value,
}

impl Message<'_> {
    async fn dispatch(&self) -> Result<(), Error> {
        let action = self.body.get("action").and_then(Value::as_str);
        match action {
            Some("bye") => {
                println!("testfn-ws: bye from {}", self.sender);
                self.client
                    .delete_connection()
                    .connection_id(self.sender)
                    .send()
                    .await
                    .map_err(|err| failure("DeleteConnection", self.sender, &err))?;
                Ok(())
            }
            Some("send") => self.send_to_other().await,
            Some("echo") => self.echo().await,
            _ if self.route == "$default" => self.echo().await,
            other => {
                let name = other.unwrap_or_default();
                println!("testfn-ws: unknown action {name:?} from {}", self.sender);
                self.reply(&json!({"error": format!("unknown action: {name}")}))
                    .await
            }
        }
    }

    /// `{"echo": data, "route", "connection_id"}` back to the sender.
    async fn echo(&self) -> Result<(), Error> {
        println!("testfn-ws: echo to {} on {}", self.sender, self.route);
        self.reply(&json!({
            "echo": self.body.get("data").cloned().unwrap_or(Value::Null),
            "route": self.route,
            "connection_id": self.sender,
        }))
        .await
    }

    /// `data` to the connection `to`; the sender hears `{"gone": to}` when
    /// that connection no longer exists (410), `{"error": ..}` on any other
    /// failure.
    async fn send_to_other(&self) -> Result<(), Error> {
        let Some(to) = self.body.get("to").and_then(Value::as_str) else {
            return self
                .reply(&json!({"error": "send needs a \"to\" connection id"}))
                .await;
        };
        let data = self.body.get("data").cloned().unwrap_or(Value::Null);
        let result = self
            .client
            .post_to_connection()
            .connection_id(to)
            .data(Blob::new(message_bytes(&data)))
            .send()
            .await;
        match result {
            Ok(_) => {
                println!("testfn-ws: {} sent a message to {to}", self.sender);
                Ok(())
            }
            Err(err) if is_gone(&err) => {
                println!("testfn-ws: {to} is gone");
                self.reply(&json!({"gone": to})).await
            }
            Err(err) => {
                let message = error_message(&err);
                println!("testfn-ws: sending to {to} failed: {message}");
                self.reply(&json!({"error": message})).await
            }
        }
    }

    /// Posts `value` (as JSON text) to the sender.
    async fn reply(&self, value: &Value) -> Result<(), Error> {
        self.client
            .post_to_connection()
            .connection_id(self.sender)
            .data(Blob::new(value.to_string()))
            .send()
            .await
            .map_err(|err| failure("PostToConnection", self.sender, &err))?;
        Ok(())
    }
}

/// The message body as JSON; a body that is not a JSON object (plain text
/// on `$default`) becomes `{"data": text}` so it can still be echoed.
fn parse_body(body: &str) -> Value {
    match serde_json::from_str::<Value>(body) {
        Ok(value @ Value::Object(_)) => value,
        _ => json!({ "data": body }),
    }
}

/// What `send` delivers: a string as its text (what a chat client expects
/// to receive), any other JSON value as JSON text.
fn message_bytes(data: &Value) -> Vec<u8> {
    match data {
        Value::String(text) => text.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

/// A connection that no longer exists: `GoneException`, which the
/// management API sends as HTTP 410 (a stand-in may send the status alone,
/// without the error document, so the status is what counts).
fn is_gone<E>(err: &SdkError<E>) -> bool {
    err.raw_response()
        .is_some_and(|response| response.status().as_u16() == 410)
}

/// The service's own message when it sent one, else the whole error chain.
fn error_message<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    err.as_service_error()
        .and_then(|e| e.message())
        .map(str::to_owned)
        .unwrap_or_else(|| DisplayErrorContext(err).to_string())
}

fn failure<E, R>(operation: &str, connection_id: &str, err: &SdkError<E, R>) -> Error
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    format!("{operation} {connection_id}: {}", DisplayErrorContext(err)).into()
}

fn status_response(status: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_that_are_not_json_objects_become_data() {
        assert_eq!(
            parse_body(r#"{"action":"echo","data":1}"#),
            json!({"action": "echo", "data": 1})
        );
        assert_eq!(parse_body("hi there"), json!({"data": "hi there"}));
        assert_eq!(parse_body("42"), json!({"data": "42"}));
    }

    #[test]
    fn strings_are_sent_as_text_other_values_as_json() {
        assert_eq!(message_bytes(&json!("hi")), b"hi");
        assert_eq!(message_bytes(&json!({"a": 1})), br#"{"a":1}"#);
        assert_eq!(message_bytes(&Value::Null), b"null");
    }
}
