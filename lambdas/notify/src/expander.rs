//! The expander: a request addressed to more users than the API plans
//! inline (`NOTIFY_MAX_RECIPIENTS`) is accepted at once and queued in
//! chunks of [`crate::api::EXPANSION_CHUNK_USERS`] users; the expander
//! plans each chunk's users as the API would (preferences, locale,
//! rendering, rules), stores their notifications and queues their jobs.
//!
//! A chunk may be delivered more than once (SQS is at least once). Each
//! user's notification id is derived from the batch id and the user
//! ([`crate::ids::batch_notification_id`]) and created only if absent, so a
//! second delivery stores nothing new and cannot reset a channel a worker
//! already sent; its jobs are queued again, and the workers' send claims
//! drop the duplicates.

use std::collections::BTreeMap;

use crate::ids::batch_notification_id;
use crate::model::{ChannelDelivery, ChannelStatus, Notification};
use crate::planning::{Request, plan};
use crate::preferences::Preferences;
use futures_util::StreamExt as _;

use crate::store::{DeliveryJob, ExpansionJob, StoreError, Stores};
use crate::templates::{Renderer, Template};

/// Users of a chunk planned and stored at once.
const USERS_AT_ONCE: usize = 16;

/// Why a chunk was not expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// A storage call failed: the chunk is to be tried again.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chunk can never be expanded (its template is gone, or it is not
    /// a chunk at all).
    #[error("{0}")]
    Unusable(String),
}

/// What a chunk came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expanded {
    /// Notifications stored by this delivery of the chunk.
    pub created: usize,
    /// Notifications an earlier delivery had stored.
    pub existing: usize,
    /// Jobs queued.
    pub jobs: usize,
}

/// Expands chunks against `stores`.
pub struct Expander {
    stores: Stores,
    renderer: Renderer,
}

impl Expander {
    pub fn new(stores: Stores, renderer: Renderer) -> Self {
        Self { stores, renderer }
    }

    /// A chunk as a queue message body.
    pub fn parse(body: &str) -> Result<ExpansionJob, ExpandError> {
        serde_json::from_str(body)
            .map_err(|err| ExpandError::Unusable(format!("not an expansion chunk: {err}")))
    }

    pub async fn expand(&self, chunk: &ExpansionJob) -> Result<Expanded, ExpandError> {
        let template = self
            .stores
            .templates
            .get_template(&chunk.template)
            .await?
            .ok_or_else(|| {
                ExpandError::Unusable(format!("the template {:?} is gone", chunk.template))
            })?;
        let request = Request {
            template: &template,
            data: &chunk.data,
            channels: &chunk.channels,
            category: chunk.category.as_deref(),
            priority: chunk.priority,
            idempotency_key: chunk.idempotency_key.as_deref(),
            now: chunk.accepted_at,
        };
        let template = &template;
        let request = &request;
        // Users one after another would make a chunk 200 sequential
        // round trips; a few at once keep DynamoDB busy without
        // throttling an on-demand table.
        // The futures are made first: a closure inside the stream would
        // make the future of `expand` not `Send` for every lifetime
        // (rust-lang/rust#102211).
        // Everyone's preferences in one read (BatchGetItem on DynamoDB).
        let preferences = self
            .stores
            .preferences
            .get_many_preferences(&chunk.users)
            .await?;
        let preferences = &preferences;
        let users: Vec<_> = chunk
            .users
            .iter()
            .map(|user| self.expand_user(chunk, template, request, user, preferences.get(user)))
            .collect();
        let planned: Vec<Result<(bool, Vec<DeliveryJob>), StoreError>> =
            futures_util::stream::iter(users)
                .buffered(USERS_AT_ONCE)
                .collect()
                .await;
        let mut expanded = Expanded::default();
        let mut jobs = Vec::new();
        for result in planned {
            let (created, user_jobs) = result?;
            if created {
                expanded.created += 1;
            } else {
                expanded.existing += 1;
            }
            jobs.extend(user_jobs);
        }
        if !jobs.is_empty() {
            self.stores.queue.enqueue(&jobs).await?;
        }
        expanded.jobs = jobs.len();
        tracing::info!(
            batch_id = chunk.batch_id,
            users = chunk.users.len(),
            created = expanded.created,
            existing = expanded.existing,
            jobs = expanded.jobs,
            "chunk expanded"
        );
        Ok(expanded)
    }

    /// One user of a chunk: planned, stored if absent; whether it was
    /// created, and its jobs.
    async fn expand_user(
        &self,
        chunk: &ExpansionJob,
        template: &Template,
        request: &Request<'_>,
        user: &String,
        preferences: Option<&Preferences>,
    ) -> Result<(bool, Vec<DeliveryJob>), StoreError> {
        let id = batch_notification_id(&chunk.batch_id, user);
        let mut jobs = Vec::new();
        let notification = match plan(&self.renderer, request, user, &id, preferences) {
            Ok(planned) => {
                jobs = planned.jobs;
                planned.notification
            }
            // The API rendered every locale before accepting the
            // request, so this is rare (a message too large once a
            // user's locale is chosen); the user's channels fail with
            // the reason rather than the whole chunk.
            Err(err) => {
                tracing::warn!(batch_id = chunk.batch_id, user, error = %err, "cannot plan a user's notification");
                let failed = ChannelDelivery {
                    status: ChannelStatus::Failed {
                        reason: err.to_string(),
                    },
                    locale: None,
                    updated_at: chunk.accepted_at,
                };
                Notification {
                    id: id.clone(),
                    user_id: user.clone(),
                    template: template.name.clone(),
                    data: chunk.data.clone(),
                    category: chunk.category.clone(),
                    priority: chunk.priority,
                    locale: template.default_locale.clone(),
                    idempotency_key: chunk.idempotency_key.clone(),
                    created_at: chunk.accepted_at,
                    channels: chunk
                        .channels
                        .iter()
                        .map(|c| (*c, failed.clone()))
                        .collect::<BTreeMap<_, _>>(),
                }
            }
        };
        let created = self
            .stores
            .notifications
            .create_notification(&notification)
            .await?;
        Ok((created, jobs))
    }
}
