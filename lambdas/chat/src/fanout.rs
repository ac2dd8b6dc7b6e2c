//! The Lambda side of delivery: connections of a conversation read from
//! the connections table (the `by_conversation` index: work proportional
//! to the conversation), frames posted through the `@connections` API with
//! bounded concurrency, and connections that answer 410 Gone (or whose
//! record expired but is not deleted yet) removed on the way.

use std::sync::Arc;

use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use futures_util::StreamExt;

use crate::service::ChatService;
use crate::store::{Admission, BoxFuture, StoreResult};
use crate::transport::{AdmitKind, FanoutReport, SendError, Skip, Transport};

/// Posts one frame to one connection.
pub trait Poster: Send + Sync {
    fn post<'a>(
        &'a self,
        connection_id: &'a str,
        frame: &'a str,
    ) -> BoxFuture<'a, Result<(), SendError>>;
}

/// PostToConnection through an API's management endpoint.
pub struct ApiPoster {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ApiPoster {
    pub fn new(client: aws_sdk_apigatewaymanagement::Client) -> Self {
        Self { client }
    }
}

impl Poster for ApiPoster {
    fn post<'a>(
        &'a self,
        connection_id: &'a str,
        frame: &'a str,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let result = self
                .client
                .post_to_connection()
                .connection_id(connection_id)
                .data(Blob::new(frame.as_bytes().to_vec()))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(err) if is_gone(&err) => Err(SendError::Gone),
                Err(err) => Err(SendError::Failed(DisplayErrorContext(err).to_string())),
            }
        })
    }
}

/// A connection that no longer exists: `GoneException`, which the
/// management API sends as HTTP 410 (a stand-in may send the status alone,
/// without the error document, so the status is what counts).
fn is_gone<E>(err: &SdkError<E>) -> bool {
    err.raw_response()
        .is_some_and(|response| response.status().as_u16() == 410)
}

/// Delivers `frame` to the live connections of `conversation` with at most
/// `FANOUT_CONCURRENCY` posts in flight. Expired and gone connections are
/// deleted (the recipient's, never the sender's because of a recipient),
/// and delivery goes on.
pub async fn store_fan_out(
    service: &ChatService,
    poster: &dyn Poster,
    conversation: &str,
    frame: &str,
    skip: &Skip,
) -> FanoutReport {
    let mut report = FanoutReport::default();
    let members = match service.stores().connections.members(conversation).await {
        Ok(members) => members,
        Err(err) => {
            tracing::error!(conversation, error = %err, "cannot list the conversation's connections");
            report.failed += 1;
            return report;
        }
    };
    let now_secs = service.now_ms().div_euclid(1000);
    let mut targets = Vec::with_capacity(members.len());
    let mut stale = Vec::new();
    for member in members {
        if skip.skips(&member.connection_id, &member.user) {
            continue;
        }
        if member.expires_at <= now_secs {
            stale.push(member.connection_id);
        } else {
            targets.push(member.connection_id);
        }
    }
    let concurrency = service.limits().fanout_concurrency.max(1);
    let results: Vec<(String, Result<(), SendError>)> = futures_util::stream::iter(targets)
        .map(|connection_id| async move {
            let result = poster.post(&connection_id, frame).await;
            (connection_id, result)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for (connection_id, result) in results {
        match result {
            Ok(()) => report.deliveries += 1,
            Err(SendError::Gone) => {
                report.gone += 1;
                stale.push(connection_id);
            }
            Err(SendError::Failed(message)) => {
                report.failed += 1;
                tracing::warn!(%connection_id, error = %message, "delivery failed");
            }
        }
    }
    report.expired = stale.len() as u64 - report.gone;
    for connection_id in stale {
        if let Err(err) = service.stores().connections.delete(&connection_id).await {
            tracing::warn!(%connection_id, error = %err, "stale connection not deleted");
        } else {
            tracing::info!(%connection_id, conversation, "removed a gone or expired connection");
        }
    }
    report
}

/// The Lambda transport: stores for admission and membership, the
/// `@connections` API for delivery.
pub struct ApiTransport {
    poster: Arc<dyn Poster>,
}

impl ApiTransport {
    pub fn new(poster: Arc<dyn Poster>) -> Self {
        Self { poster }
    }
}

impl Transport for ApiTransport {
    fn admit<'a>(
        &'a self,
        service: &'a ChatService,
        connection_id: &'a str,
        kind: AdmitKind,
    ) -> BoxFuture<'a, StoreResult<Admission>> {
        Box::pin(async move {
            let connections = &service.stores().connections;
            let now_ms = service.now_ms();
            let limits = service.limits();
            match kind {
                AdmitKind::Message => {
                    connections
                        .admit_message(connection_id, now_ms, limits.message_rate_per_minute)
                        .await
                }
                AdmitKind::Typing => {
                    connections
                        .admit_typing(
                            connection_id,
                            now_ms,
                            limits.typing_min_interval.as_millis() as i64,
                        )
                        .await
                }
                AdmitKind::Other => Ok(match connections.get(connection_id, now_ms).await? {
                    Some(record) => Admission::Admitted(record),
                    None => Admission::Unknown,
                }),
            }
        })
    }

    fn send<'a>(
        &'a self,
        connection_id: &'a str,
        frame: &'a str,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        self.poster.post(connection_id, frame)
    }

    fn fan_out<'a>(
        &'a self,
        service: &'a ChatService,
        conversation: &'a str,
        frame: &'a str,
        skip: &'a Skip,
    ) -> BoxFuture<'a, FanoutReport> {
        Box::pin(store_fan_out(
            service,
            self.poster.as_ref(),
            conversation,
            frame,
            skip,
        ))
    }

    fn membership_changed<'a>(&'a self, _: &'a str, _: &'a str, _: bool) -> BoxFuture<'a, ()> {
        // The table is the membership; nothing else to update.
        Box::pin(async {})
    }
}
