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
use crate::store::{ExpansionJob, StoreError, Stores};
use crate::templates::Renderer;

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
        let mut expanded = Expanded::default();
        let mut jobs = Vec::new();
        for user in &chunk.users {
            let id = batch_notification_id(&chunk.batch_id, user);
            let preferences = self.stores.preferences.get_preferences(user).await?;
            let notification = match plan(&self.renderer, &request, user, &id, preferences.as_ref())
            {
                Ok(planned) => {
                    jobs.extend(planned.jobs);
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
            if self
                .stores
                .notifications
                .create_notification(&notification)
                .await?
            {
                expanded.created += 1;
            } else {
                expanded.existing += 1;
            }
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
}
