//! The service on AWS: table, queue and SNS settings from the environment,
//! and the stores, worker and expander built from them.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;

use crate::config::{ServiceOptions, WorkerOptions};
use crate::dynamo::{
    DynamoIdempotency, DynamoNotifications, DynamoPreferences, DynamoRateLimiter, DynamoTemplates,
};
use crate::expander::Expander;
use crate::memory::MemoryRateLimiter;
use crate::model::Channel;
use crate::ses_provider::SesEmailProvider;
use crate::smtp_provider::SmtpEmailProvider;
use crate::sns_provider::{PushPlatformKey, PushProvider, SmsProvider};
use crate::sqs::{SqsDeliveryQueue, SqsExpansionQueue};
use crate::store::{ExpansionQueue, RateLimiter, Stores};
use crate::templates::{RenderLimits, Renderer};
use crate::webhook_provider::{DEFAULT_WEBHOOK_TIMEOUT, WebhookProvider};
use crate::worker::{Providers, Worker};

pub const NOTIFICATIONS_TABLE: &str = "NOTIFY_NOTIFICATIONS_TABLE";
pub const TEMPLATES_TABLE: &str = "NOTIFY_TEMPLATES_TABLE";
pub const PREFERENCES_TABLE: &str = "NOTIFY_PREFERENCES_TABLE";
pub const IDEMPOTENCY_TABLE: &str = "NOTIFY_IDEMPOTENCY_TABLE";
pub const RATE_LIMIT_TABLE: &str = "NOTIFY_RATE_LIMIT_TABLE";
pub const EXPANSION_QUEUE_URL: &str = "NOTIFY_EXPANSION_QUEUE_URL";
pub const SMS_SENDER_ID: &str = "NOTIFY_SMS_SENDER_ID";
pub const EMAIL_FROM: &str = "NOTIFY_EMAIL_FROM";
pub const SES_CONFIGURATION_SET: &str = "NOTIFY_SES_CONFIGURATION_SET";
pub const SMTP_URL: &str = "NOTIFY_SMTP_URL";

/// The setting that holds a channel's delivery queue URL.
pub fn queue_variable(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "NOTIFY_EMAIL_QUEUE_URL",
        Channel::Sms => "NOTIFY_SMS_QUEUE_URL",
        Channel::Push => "NOTIFY_PUSH_QUEUE_URL",
        Channel::Webhook => "NOTIFY_WEBHOOK_QUEUE_URL",
    }
}

/// The setting that holds a channel's bulk queue URL: bulk jobs go there
/// when it is set, so a bulk backlog never sits in front of transactional
/// and critical messages (each queue has its own event source mapping and
/// concurrency).
pub fn bulk_queue_variable(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "NOTIFY_EMAIL_BULK_QUEUE_URL",
        Channel::Sms => "NOTIFY_SMS_BULK_QUEUE_URL",
        Channel::Push => "NOTIFY_PUSH_BULK_QUEUE_URL",
        Channel::Webhook => "NOTIFY_WEBHOOK_BULK_QUEUE_URL",
    }
}

/// Names of AWS resources, each optional until a binary needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub notifications_table: Option<String>,
    pub templates_table: Option<String>,
    pub preferences_table: Option<String>,
    pub idempotency_table: Option<String>,
    pub rate_limit_table: Option<String>,
    pub queue_urls: BTreeMap<Channel, String>,
    /// Queues of bulk jobs, per channel; a channel without one queues its
    /// bulk jobs with the rest.
    pub bulk_queue_urls: BTreeMap<Channel, String>,
    pub expansion_queue_url: Option<String>,
    pub sms_sender_id: Option<String>,
    /// The SES identity email is sent from; without it there is no email
    /// provider.
    pub email_from: Option<String>,
    pub ses_configuration_set: Option<String>,
    /// An SMTP relay for email instead of SES.
    pub smtp_url: Option<String>,
    pub push_applications: BTreeMap<PushPlatformKey, String>,
}

fn require(value: &Option<String>, variable: &str, what: &str) -> Result<String, String> {
    value
        .clone()
        .ok_or_else(|| format!("{variable} is not set (the name of the {what})"))
}

impl AwsSettings {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Self {
            notifications_table: get(NOTIFICATIONS_TABLE),
            templates_table: get(TEMPLATES_TABLE),
            preferences_table: get(PREFERENCES_TABLE),
            idempotency_table: get(IDEMPOTENCY_TABLE),
            rate_limit_table: get(RATE_LIMIT_TABLE),
            queue_urls: Channel::ALL
                .into_iter()
                .filter_map(|c| get(queue_variable(c)).map(|url| (c, url)))
                .collect(),
            bulk_queue_urls: Channel::ALL
                .into_iter()
                .filter_map(|c| get(bulk_queue_variable(c)).map(|url| (c, url)))
                .collect(),
            expansion_queue_url: get(EXPANSION_QUEUE_URL),
            sms_sender_id: get(SMS_SENDER_ID),
            email_from: get(EMAIL_FROM),
            ses_configuration_set: get(SES_CONFIGURATION_SET),
            smtp_url: get(SMTP_URL),
            push_applications: PushPlatformKey::ALL
                .into_iter()
                .filter_map(|p| get(p.variable()).map(|arn| (p, arn)))
                .collect(),
        }
    }

    /// The channels' queues, bulk jobs to the bulk queues where set.
    pub fn delivery_queue(&self, sqs: aws_sdk_sqs::Client) -> SqsDeliveryQueue {
        SqsDeliveryQueue::new(sqs, self.queue_urls.clone())
            .with_bulk_queues(self.bulk_queue_urls.clone())
    }

    fn dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(sdk)
    }

    /// The API's stores: the four tables, the channels' queues (a channel
    /// without one cannot be queued to: its requests answer 503) and, when
    /// set, the expander's queue.
    pub fn api_stores(&self, sdk: &SdkConfig) -> Result<Stores, String> {
        let dynamodb = Self::dynamodb(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let expansions: Option<Arc<dyn ExpansionQueue>> =
            self.expansion_queue_url.as_ref().map(|url| {
                Arc::new(SqsExpansionQueue::new(sqs.clone(), url)) as Arc<dyn ExpansionQueue>
            });
        Ok(Stores {
            notifications: Arc::new(DynamoNotifications::new(
                dynamodb.clone(),
                require(
                    &self.notifications_table,
                    NOTIFICATIONS_TABLE,
                    "notifications table",
                )?,
            )),
            templates: Arc::new(DynamoTemplates::new(
                dynamodb.clone(),
                require(&self.templates_table, TEMPLATES_TABLE, "templates table")?,
            )),
            preferences: Arc::new(DynamoPreferences::new(
                dynamodb.clone(),
                require(
                    &self.preferences_table,
                    PREFERENCES_TABLE,
                    "preferences table",
                )?,
            )),
            idempotency: Arc::new(DynamoIdempotency::new(
                dynamodb,
                require(
                    &self.idempotency_table,
                    IDEMPOTENCY_TABLE,
                    "idempotency table",
                )?,
            )),
            queue: Arc::new(self.delivery_queue(sqs)),
            expansions,
        })
    }

    /// The providers: webhook always; with an SDK configuration, SMS and
    /// push through SNS, and email through SES v2 when `NOTIFY_EMAIL_FROM`
    /// is set.
    /// Each channel's provider: webhooks always; SMS, push and SES email
    /// with an SDK configuration; email through `NOTIFY_SMTP_URL` instead
    /// of SES when it is set (with `NOTIFY_EMAIL_FROM`).
    pub fn providers(
        &self,
        sdk: Option<&SdkConfig>,
        options: &ServiceOptions,
    ) -> Result<Providers, String> {
        let mut providers = Providers::new().with(Arc::new(WebhookProvider::new(
            DEFAULT_WEBHOOK_TIMEOUT,
            options.url_policy,
        )));
        if let Some(sdk) = sdk {
            let sns = aws_sdk_sns::Client::new(sdk);
            providers = providers
                .with(Arc::new(SmsProvider::new(
                    sns.clone(),
                    self.sms_sender_id.clone(),
                )))
                .with(Arc::new(PushProvider::new(
                    sns,
                    self.push_applications.clone(),
                )));
            if let (Some(from), None) = (&self.email_from, &self.smtp_url) {
                providers = providers.with(Arc::new(SesEmailProvider::new(
                    aws_sdk_sesv2::Client::new(sdk),
                    from.clone(),
                    self.ses_configuration_set.clone(),
                )));
            }
        }
        if let Some(url) = &self.smtp_url {
            let from = self.email_from.as_deref().ok_or_else(|| {
                format!("{SMTP_URL} is set but {EMAIL_FROM} is not (the sender address)")
            })?;
            let smtp = SmtpEmailProvider::new(url, from).map_err(|err| err.to_string())?;
            providers = providers.with(Arc::new(smtp));
        }
        Ok(providers)
    }

    /// A worker on the notifications and preferences tables (and the rate
    /// table when a channel is capped), putting delayed jobs back on the
    /// channels' queues.
    pub fn worker(
        &self,
        sdk: &SdkConfig,
        service: &ServiceOptions,
        options: WorkerOptions,
    ) -> Result<Worker, String> {
        let dynamodb = Self::dynamodb(sdk);
        let limiter: Arc<dyn RateLimiter> = if options.rate_per_second.is_empty() {
            Arc::new(MemoryRateLimiter::new())
        } else {
            Arc::new(DynamoRateLimiter::new(
                dynamodb.clone(),
                require(
                    &self.rate_limit_table,
                    RATE_LIMIT_TABLE,
                    "rate-limit table (a NOTIFY_RATE_*_PER_SECOND is set)",
                )?,
            ))
        };
        Ok(Worker::new(
            Arc::new(DynamoNotifications::new(
                dynamodb.clone(),
                require(
                    &self.notifications_table,
                    NOTIFICATIONS_TABLE,
                    "notifications table",
                )?,
            )),
            Arc::new(DynamoPreferences::new(
                dynamodb,
                require(
                    &self.preferences_table,
                    PREFERENCES_TABLE,
                    "preferences table",
                )?,
            )),
            Arc::new(self.delivery_queue(aws_sdk_sqs::Client::new(sdk))),
            limiter,
            self.providers(Some(sdk), service)?,
            options,
        ))
    }

    /// The expander on the notifications, templates and preferences
    /// tables, queuing to the channels' queues.
    pub fn expander(&self, sdk: &SdkConfig, service: &ServiceOptions) -> Result<Expander, String> {
        let dynamodb = Self::dynamodb(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let stores = Stores {
            notifications: Arc::new(DynamoNotifications::new(
                dynamodb.clone(),
                require(
                    &self.notifications_table,
                    NOTIFICATIONS_TABLE,
                    "notifications table",
                )?,
            )),
            templates: Arc::new(DynamoTemplates::new(
                dynamodb.clone(),
                require(&self.templates_table, TEMPLATES_TABLE, "templates table")?,
            )),
            preferences: Arc::new(DynamoPreferences::new(
                dynamodb,
                require(
                    &self.preferences_table,
                    PREFERENCES_TABLE,
                    "preferences table",
                )?,
            )),
            // The expander never claims keys.
            idempotency: Arc::new(crate::memory::MemoryIdempotency::new()),
            queue: Arc::new(self.delivery_queue(sqs)),
            expansions: None,
        };
        Ok(Expander::new(
            stores,
            Renderer::new(RenderLimits {
                max_sms_segments: service.max_sms_segments,
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_their_variables() {
        let settings = AwsSettings::from_lookup(|name| match name {
            NOTIFICATIONS_TABLE => Some("n".into()),
            "NOTIFY_SMS_QUEUE_URL" => Some(" http://q/sms ".into()),
            "NOTIFY_WEBHOOK_QUEUE_URL" => Some("".into()),
            "NOTIFY_SMS_BULK_QUEUE_URL" => Some("http://q/sms-bulk".into()),
            "NOTIFY_FCM_PLATFORM_APPLICATION_ARN" => Some("arn:fcm".into()),
            _ => None,
        });
        assert_eq!(settings.notifications_table.as_deref(), Some("n"));
        assert_eq!(
            settings.queue_urls,
            BTreeMap::from([(Channel::Sms, "http://q/sms".to_string())])
        );
        assert_eq!(
            settings.bulk_queue_urls,
            BTreeMap::from([(Channel::Sms, "http://q/sms-bulk".to_string())])
        );
        assert_eq!(
            settings.push_applications,
            BTreeMap::from([(PushPlatformKey::Fcm, "arn:fcm".to_string())])
        );
        assert_eq!(
            require(
                &settings.templates_table,
                TEMPLATES_TABLE,
                "templates table"
            )
            .unwrap_err(),
            "NOTIFY_TEMPLATES_TABLE is not set (the name of the templates table)"
        );
    }
}
