//! The SMS and push channels' providers, both through Amazon SNS.
//!
//! - SMS: `Publish` to the user's E.164 number, with the
//!   `AWS.SNS.SMS.SMSType` attribute `Transactional` for critical and
//!   transactional notifications (SNS routes them for reliability) and
//!   `Promotional` for bulk ones (routed for cost), and
//!   `AWS.SNS.SMS.SenderID` when one is configured.
//! - Push: the user's device token becomes an SNS platform endpoint of the
//!   platform application configured for its platform (APNs, APNs sandbox
//!   or FCM) with `CreatePlatformEndpoint`, which returns the existing
//!   endpoint for a token it knows; then `Publish` to the endpoint ARN with
//!   a per-platform JSON message (`aps.alert` for APNs, `notification` for
//!   FCM). Endpoint ARNs are remembered per token for the life of the
//!   process.
//!
//! SNS errors that retrying cannot fix (invalid parameters, a disabled
//! endpoint, a missing platform application, authorization) are permanent;
//! throttling, internal errors, timeouts and connection failures are
//! transient.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use aws_sdk_sns::Client;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::json;

use crate::model::{Channel, Priority};
use crate::preferences::{Preferences, PushPlatform};
use crate::provider::{Accepted, NotificationProvider, ProviderError};
use crate::store::{BoxFuture, DeliveryJob};
use crate::templates::Content;
use crate::validate;

/// SNS error codes that trying again will not fix.
const PERMANENT_CODES: [&str; 9] = [
    "InvalidParameter",
    "InvalidParameterValue",
    "EndpointDisabled",
    "NotFound",
    "AuthorizationError",
    "PlatformApplicationDisabled",
    "ValidationException",
    "InvalidSecurity",
    "OptedOut",
];

/// What an SNS call's failure means for the message.
fn classify<E, R>(operation: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or("Unknown");
            let message = inner.message().unwrap_or_default();
            let text = format!("SNS {operation} refused it: {code}: {message}");
            if PERMANENT_CODES.contains(&code) {
                ProviderError::Permanent(text)
            } else {
                ProviderError::Transient(text)
            }
        }
        SdkError::ConstructionFailure(_) => {
            ProviderError::Permanent(format!("SNS {operation}: {}", DisplayErrorContext(err)))
        }
        _ => ProviderError::Transient(format!("SNS {operation}: {}", DisplayErrorContext(err))),
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, ProviderError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|err| ProviderError::Permanent(err.to_string()))
}

/// The SMS type SNS is asked for, by priority.
pub fn sms_type(priority: Priority) -> &'static str {
    match priority {
        Priority::Critical | Priority::Transactional => "Transactional",
        Priority::Bulk => "Promotional",
    }
}

/// Sends SMS jobs with SNS `Publish`.
#[derive(Debug, Clone)]
pub struct SmsProvider {
    client: Client,
    sender_id: Option<String>,
}

impl SmsProvider {
    pub fn new(client: Client, sender_id: Option<String>) -> Self {
        Self { client, sender_id }
    }
}

impl NotificationProvider for SmsProvider {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn send<'a>(
        &'a self,
        job: &'a DeliveryJob,
        preferences: &'a Preferences,
    ) -> BoxFuture<'a, Result<Accepted, ProviderError>> {
        Box::pin(async move {
            let Content::Sms { text, .. } = &job.rendered.content else {
                return Err(ProviderError::Permanent(format!(
                    "a {} job reached the SMS provider",
                    job.channel
                )));
            };
            let phone = preferences
                .phone
                .as_deref()
                .ok_or_else(|| ProviderError::Permanent("the user has no phone number".into()))?;
            validate::e164(phone).map_err(|err| ProviderError::Permanent(err.to_string()))?;
            let mut request = self
                .client
                .publish()
                .phone_number(phone)
                .message(text)
                .message_attributes(
                    "AWS.SNS.SMS.SMSType",
                    string_attribute(sms_type(job.priority))?,
                );
            if let Some(sender) = &self.sender_id {
                request =
                    request.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(sender)?);
            }
            let output = request
                .send()
                .await
                .map_err(|err| classify("Publish", err))?;
            Ok(Accepted {
                provider_id: output.message_id,
            })
        })
    }
}

/// The SNS message of a push: one body per platform.
pub fn push_message(title: &str, body: &str) -> String {
    let apns = json!({"aps": {"alert": {"title": title, "body": body}}}).to_string();
    let fcm = json!({"notification": {"title": title, "body": body}}).to_string();
    json!({
        "default": body,
        "APNS": apns,
        "APNS_SANDBOX": apns,
        "GCM": fcm,
    })
    .to_string()
}

/// Sends push jobs with SNS mobile push.
#[derive(Debug)]
pub struct PushProvider {
    client: Client,
    applications: BTreeMap<PushPlatformKey, String>,
    endpoints: Mutex<HashMap<(PushPlatformKey, String), String>>,
}

/// [`PushPlatform`] as a map key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PushPlatformKey {
    Apns,
    ApnsSandbox,
    Fcm,
}

impl From<PushPlatform> for PushPlatformKey {
    fn from(platform: PushPlatform) -> Self {
        match platform {
            PushPlatform::Apns => Self::Apns,
            PushPlatform::ApnsSandbox => Self::ApnsSandbox,
            PushPlatform::Fcm => Self::Fcm,
        }
    }
}

impl PushPlatformKey {
    /// The setting that names this platform's application ARN.
    pub fn variable(self) -> &'static str {
        match self {
            Self::Apns => "NOTIFY_APNS_PLATFORM_APPLICATION_ARN",
            Self::ApnsSandbox => "NOTIFY_APNS_SANDBOX_PLATFORM_APPLICATION_ARN",
            Self::Fcm => "NOTIFY_FCM_PLATFORM_APPLICATION_ARN",
        }
    }

    pub const ALL: [PushPlatformKey; 3] = [Self::Apns, Self::ApnsSandbox, Self::Fcm];
}

impl PushProvider {
    /// `applications`: the SNS platform application ARN of each platform
    /// this deployment can reach.
    pub fn new(client: Client, applications: BTreeMap<PushPlatformKey, String>) -> Self {
        Self {
            client,
            applications,
            endpoints: Mutex::default(),
        }
    }

    async fn endpoint(
        &self,
        platform: PushPlatformKey,
        token: &str,
    ) -> Result<String, ProviderError> {
        let key = (platform, token.to_owned());
        if let Some(arn) = self
            .endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(arn.clone());
        }
        let application = self.applications.get(&platform).ok_or_else(|| {
            ProviderError::Permanent(format!(
                "no SNS platform application is configured for {platform:?} devices ({})",
                platform.variable()
            ))
        })?;
        let output = self
            .client
            .create_platform_endpoint()
            .platform_application_arn(application)
            .token(token)
            .send()
            .await
            .map_err(|err| classify("CreatePlatformEndpoint", err))?;
        let arn = output.endpoint_arn.ok_or_else(|| {
            ProviderError::Transient("SNS CreatePlatformEndpoint returned no endpoint ARN".into())
        })?;
        self.endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, arn.clone());
        Ok(arn)
    }
}

impl NotificationProvider for PushProvider {
    fn channel(&self) -> Channel {
        Channel::Push
    }

    fn send<'a>(
        &'a self,
        job: &'a DeliveryJob,
        preferences: &'a Preferences,
    ) -> BoxFuture<'a, Result<Accepted, ProviderError>> {
        Box::pin(async move {
            let Content::Push { title, body } = &job.rendered.content else {
                return Err(ProviderError::Permanent(format!(
                    "a {} job reached the push provider",
                    job.channel
                )));
            };
            let device = preferences
                .push
                .as_ref()
                .ok_or_else(|| ProviderError::Permanent("the user has no push token".into()))?;
            let platform = PushPlatformKey::from(device.platform);
            let endpoint = self.endpoint(platform, &device.token).await?;
            let result = self
                .client
                .publish()
                .target_arn(&endpoint)
                .message_structure("json")
                .message(push_message(title, body))
                .send()
                .await;
            match result {
                Ok(output) => Ok(Accepted {
                    provider_id: output.message_id,
                }),
                Err(err) => {
                    let error = classify("Publish", err);
                    if !error.is_transient() {
                        // A disabled or deleted endpoint may come back
                        // under a new ARN; do not keep this one.
                        self.endpoints
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&(platform, device.token.clone()));
                    }
                    Err(error)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn sms_types_follow_priority() {
        assert_eq!(sms_type(Priority::Critical), "Transactional");
        assert_eq!(sms_type(Priority::Transactional), "Transactional");
        assert_eq!(sms_type(Priority::Bulk), "Promotional");
    }

    #[test]
    fn a_push_message_has_a_body_per_platform() {
        let message: Value =
            serde_json::from_str(&push_message("Shipped", "A-17 \"soon\"")).unwrap();
        assert_eq!(message["default"], "A-17 \"soon\"");
        let apns: Value = serde_json::from_str(message["APNS"].as_str().unwrap()).unwrap();
        assert_eq!(apns["aps"]["alert"]["title"], "Shipped");
        assert_eq!(message["APNS_SANDBOX"], message["APNS"]);
        let fcm: Value = serde_json::from_str(message["GCM"].as_str().unwrap()).unwrap();
        assert_eq!(fcm["notification"]["body"], "A-17 \"soon\"");
    }
}
