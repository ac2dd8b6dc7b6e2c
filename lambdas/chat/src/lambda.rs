//! The Lambda functions: API Gateway WebSocket events in, the shared
//! handlers, frames out through the API's `@connections` endpoint.
//!
//! `router` serves every route; `connect`, `disconnect`, `sendmessage`,
//! `typing`, `history`, `join`, `leave`, `read` and `presence` serve one
//! each and answer any other with an error (a `$connect` with 500, a
//! message with an `unknown_action` frame).

use std::sync::Arc;

use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use base64::Engine;
use lambda_runtime::{LambdaEvent, service_fn};
use service_common::logging::{self, LogTarget};
use service_common::ws_management::{ManagementClients, management_endpoint};
use service_common::{MetricsSink, RequestId};

use crate::config::{self, Config, ConfigError};
use crate::dynamo::{DynamoConnections, DynamoMessages, DynamoPresence};
use crate::fanout::{ApiPoster, ApiTransport};
use crate::frames::Action;
use crate::service::{ChatService, token_from};
use crate::store::{MessageStore, PresenceStore, Stores, Unconfigured};

/// What one function serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Every route (the router layout).
    All,
    Connect,
    Disconnect,
    /// One message route.
    Message(Action),
}

impl Route {
    pub fn serves_connect(self) -> bool {
        matches!(self, Self::All | Self::Connect)
    }

    fn needs_messages(self) -> bool {
        matches!(
            self,
            Self::All | Self::Message(Action::SendMessage | Action::History | Action::Read)
        )
    }

    /// Every function needs the presence table: any frame a user sends
    /// is a heartbeat that keeps them online, whichever route it takes.
    fn needs_presence(self) -> bool {
        true
    }

    fn name(self) -> &'static str {
        match self {
            Self::All => "router",
            Self::Connect => "connect",
            Self::Disconnect => "disconnect",
            Self::Message(action) => action.name(),
        }
    }
}

/// Builds the service from the environment: the tables this route needs
/// must be set (exit status 2 otherwise), the others are optional.
/// The stores a `route`'s function has: the tables `config` names, each on
/// the client `client_for` gives for it (one client for all on Lambda; the
/// IAM test gives each table its own, to see which calls reach which).
/// A table the route needs but `config` lacks is an error naming its
/// variable; one it does not need is [`Unconfigured`].
pub fn stores_for(
    route: Route,
    config: &Config,
    client_for: impl Fn(&str) -> aws_sdk_dynamodb::Client,
) -> Result<Stores, String> {
    let require = |value: &Option<String>, setting| {
        Config::require(value, setting).map_err(|e: ConfigError| e.to_string())
    };
    let connections_table = require(&config.connections_table, config::CONNECTIONS_TABLE)?;
    if route.needs_messages() {
        require(&config.messages_table, config::MESSAGES_TABLE)?;
    }
    if route.needs_presence() {
        require(&config.presence_table, config::PRESENCE_TABLE)?;
    }
    let messages: Arc<dyn MessageStore> = match &config.messages_table {
        Some(table) => Arc::new(DynamoMessages::new(client_for(table), table)),
        None => Arc::new(Unconfigured("MESSAGES_TABLE")),
    };
    let presence: Arc<dyn PresenceStore> = match &config.presence_table {
        Some(table) => Arc::new(DynamoPresence::new(client_for(table), table)),
        None => Arc::new(Unconfigured("PRESENCE_TABLE")),
    };
    Ok(Stores {
        connections: Arc::new(DynamoConnections::new(
            client_for(&connections_table),
            connections_table,
        )),
        messages,
        presence,
    })
}

async fn service_for(route: Route) -> Result<ChatService, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let stores = stores_for(route, &config, |_| client.clone())?;
    let key = if route.serves_connect() {
        let arn = Config::require(&config.signing_secret_arn, config::SIGNING_SECRET_ARN)
            .map_err(|e| e.to_string())?;
        Some(
            crate::secret::key_from_secrets_manager(&sdk, &arn)
                .await
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    Ok(ChatService::new(
        config.limits,
        stores,
        key,
        MetricsSink::Stdout,
    ))
}

pub async fn run(route: Route) -> Result<(), lambda_runtime::Error> {
    logging::init(LogTarget::Stdout);
    let service = match service_for(route).await {
        Ok(service) => service,
        Err(message) => {
            tracing::error!(error = %message, function = route.name(), "bad configuration");
            std::process::exit(service_common::runtime::CONFIG_ERROR_EXIT as i32);
        }
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // Built once: the management clients outlive each invocation.
    let clients = ManagementClients::new(sdk);
    let (service, clients) = (&service, &clients);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            Ok::<_, lambda_runtime::Error>(handle(service, clients, route, event).await)
        },
    ))
    .await
}

fn response(status: i64, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response.body = body.map(aws_lambda_events::encodings::Body::Text);
    response
}

/// One WebSocket event.
pub async fn handle(
    service: &ChatService,
    clients: &ManagementClients,
    route: Route,
    event: LambdaEvent<ApiGatewayWebsocketProxyRequest>,
) -> ApiGatewayProxyResponse {
    let request_id = RequestId::from_context(&event.context);
    let request = event.payload;
    let ctx = &request.request_context;
    let route_key = ctx.route_key.as_deref().unwrap_or("$default");
    let connection_id = ctx.connection_id.as_deref().unwrap_or_default();
    let endpoint = management_endpoint(
        ctx.domain_name.as_deref().unwrap_or_default(),
        ctx.stage.as_deref().unwrap_or_default(),
    );
    let transport = ApiTransport::new(Arc::new(ApiPoster::new(clients.for_endpoint(&endpoint))));
    match route_key {
        "$connect" => {
            if !route.serves_connect() {
                tracing::error!(
                    function = route.name(),
                    "this function got a $connect; route $connect to `connect` or `router`"
                );
                return response(500, None);
            }
            let authorization = request
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let token = token_from(
                request.query_string_parameters.first("token"),
                authorization,
            );
            let claims = match service.verify_token(token.as_deref()) {
                Ok(claims) => claims,
                Err(err) => {
                    tracing::info!(request_id = %request_id, connection_id, status = err.status(), reason = %err, "connection refused");
                    let body = serde_json::json!({"error": err.to_string(), "request_id": request_id.as_str()});
                    return response(err.status() as i64, Some(body.to_string()));
                }
            };
            match service.connect(&transport, connection_id, &claims).await {
                Ok(record) => {
                    tracing::info!(request_id = %request_id, connection_id, user = %record.user, conversations = record.joined.len(), "connected");
                    response(200, None)
                }
                Err(err) => {
                    tracing::error!(request_id = %request_id, connection_id, error = %err, "connection not recorded");
                    response(500, None)
                }
            }
        }
        "$disconnect" => {
            if !matches!(route, Route::All | Route::Disconnect) {
                tracing::error!(
                    function = route.name(),
                    "this function got a $disconnect; route $disconnect to `disconnect` or `router`"
                );
                return response(500, None);
            }
            match service.disconnect(&transport, connection_id).await {
                Ok(_) => tracing::info!(request_id = %request_id, connection_id, "disconnected"),
                Err(err) => {
                    tracing::error!(request_id = %request_id, connection_id, error = %err, "disconnect not recorded")
                }
            }
            response(200, None)
        }
        _ => {
            let raw = request.body.unwrap_or_default();
            let body = if request.is_base64_encoded {
                base64::engine::general_purpose::STANDARD
                    .decode(raw.as_bytes())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .unwrap_or_default()
            } else {
                raw
            };
            let only = match route {
                Route::Message(action) => Some(action),
                _ => None,
            };
            if matches!(route, Route::Connect | Route::Disconnect) {
                tracing::error!(
                    function = route.name(),
                    route_key,
                    "this function serves only {}",
                    route.name()
                );
                return response(500, None);
            }
            let handled = service
                .handle_frame(&transport, connection_id, &body, request_id.as_str(), only)
                .await;
            tracing::info!(request_id = %request_id, connection_id, route_key, outcome = ?handled, "message");
            response(200, None)
        }
    }
}

/// A per-route binary started outside Lambda: there is nothing to serve.
pub fn not_in_lambda(binary: &str) -> std::process::ExitCode {
    eprintln!(
        "error: `{binary}` is a Lambda function (it needs AWS_LAMBDA_RUNTIME_API); \
         to run the chat service standalone use `chat serve` (or `router`)"
    );
    std::process::ExitCode::from(service_common::runtime::CONFIG_ERROR_EXIT)
}
