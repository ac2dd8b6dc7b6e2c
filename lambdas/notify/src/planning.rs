//! One notification for one user, planned: every asked-for channel
//! rendered in the user's locale, the rules applied, and the jobs to queue.
//! The API plans each user of a request this way, and so does the
//! expander for each user of a fanned-out request.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{Channel, ChannelDelivery, ChannelStatus, Notification, Priority};
use crate::preferences::Preferences;
use crate::rules::{Decision, decide};
use crate::store::DeliveryJob;
use crate::templates::{RenderError, Renderer, Template};

/// Largest delivery job (one rendered message and its envelope): the
/// largest SQS message.
pub const MAX_JOB_BYTES: usize = 256 * 1024;

/// What a notification is asked to be, whoever it goes to.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub template: &'a Template,
    pub data: &'a Value,
    pub channels: &'a [Channel],
    pub category: Option<&'a str>,
    pub priority: Priority,
    pub idempotency_key: Option<&'a str>,
    pub now: i64,
}

/// A planned notification and the jobs of its channels that are to be
/// sent.
#[derive(Debug, Clone)]
pub struct Planned {
    pub notification: Notification,
    pub jobs: Vec<DeliveryJob>,
}

/// Why a user's notification cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(
        "the {channel} message for {user:?} is {size} bytes once rendered; a queue message holds at most {MAX_JOB_BYTES}"
    )]
    TooLarge {
        channel: Channel,
        user: String,
        size: usize,
    },
}

/// Plans the notification `id` of `request` for `user_id`, whose
/// preferences are `preferences` (`None`: none stored). Every channel is
/// rendered, even one that will be suppressed, so a bad request is refused
/// whoever it is addressed to.
pub fn plan(
    renderer: &Renderer,
    request: &Request<'_>,
    user_id: &str,
    id: &str,
    preferences: Option<&Preferences>,
) -> Result<Planned, PlanError> {
    let template = request.template;
    let now = request.now;
    let locale = preferences
        .and_then(|p| p.locale.clone())
        .unwrap_or_else(|| template.default_locale.clone());
    let mut deliveries = BTreeMap::new();
    let mut jobs = Vec::new();
    for &channel in request.channels {
        let rendered = renderer.render(template, channel, Some(&locale), request.data)?;
        let decision = decide(
            preferences,
            channel,
            request.category,
            request.priority,
            now,
        );
        let not_before = match decision {
            Decision::Send => None,
            Decision::Delay { until_ms } => Some(until_ms),
            Decision::Suppress(reason) => {
                deliveries.insert(
                    channel,
                    ChannelDelivery {
                        status: ChannelStatus::Suppressed { reason },
                        locale: Some(rendered.locale),
                        updated_at: now,
                    },
                );
                continue;
            }
        };
        let rendered_locale = rendered.locale.clone();
        let job = DeliveryJob {
            notification_id: id.to_owned(),
            user_id: user_id.to_owned(),
            channel,
            priority: request.priority,
            category: request.category.map(str::to_owned),
            not_before,
            rendered,
            attempt: 0,
            enqueued_at: now,
        };
        let size = serde_json::to_vec(&job).map_or(usize::MAX, |b| b.len());
        if size > MAX_JOB_BYTES {
            return Err(PlanError::TooLarge {
                channel,
                user: user_id.to_owned(),
                size,
            });
        }
        jobs.push(job);
        deliveries.insert(
            channel,
            ChannelDelivery {
                status: ChannelStatus::Queued { not_before },
                locale: Some(rendered_locale),
                updated_at: now,
            },
        );
    }
    Ok(Planned {
        notification: Notification {
            id: id.to_owned(),
            user_id: user_id.to_owned(),
            template: template.name.clone(),
            data: request.data.clone(),
            category: request.category.map(str::to_owned),
            priority: request.priority,
            locale,
            idempotency_key: request.idempotency_key.map(str::to_owned),
            created_at: now,
            channels: deliveries,
        },
        jobs,
    })
}

/// Renders every locale of `template` that has each of `channels`: a
/// request fanned out to users not yet looked up is checked this way
/// (every locale a user can fall back to is one of them).
pub fn check_every_locale(
    renderer: &Renderer,
    template: &Template,
    channels: &[Channel],
    data: &Value,
) -> Result<(), RenderError> {
    for &channel in channels {
        for (locale, bodies) in &template.locales {
            if bodies.has(channel) {
                renderer.render(template, channel, Some(locale), data)?;
            }
        }
    }
    Ok(())
}
