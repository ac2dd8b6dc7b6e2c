//! The email channel's provider: Amazon SES v2 `SendEmail`, through the AWS
//! SDK (`aws-sdk-sesv2`).
//!
//! The message is SES's "simple" content: the rendered subject and the
//! HTML and/or text parts (UTF-8), from `NOTIFY_EMAIL_FROM` (an identity
//! verified in SES: the blueprint's `ses.email_identity`) to the user's
//! address, with the configuration set `NOTIFY_SES_CONFIGURATION_SET` when
//! given and an `EmailTags` entry `notification_id`.

use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};

use crate::model::Channel;
use crate::preferences::Preferences;
use crate::provider::{Accepted, NotificationProvider, ProviderError};
use crate::store::{BoxFuture, DeliveryJob};
use crate::templates::Content as Rendered;
use crate::validate;

/// SES v2 error codes that trying again will not fix.
const PERMANENT_ERRORS: [&str; 8] = [
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "AccountSuspendedException",
    "SendingPausedException",
    "BadRequestException",
    "NotFoundException",
    "AccessDeniedException",
    "UnrecognizedClientException",
];
/// Error codes of a 4xx that may pass (credentials about to be refreshed,
/// a skewed clock, a sending quota).
const TRANSIENT_ERRORS: [&str; 5] = [
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidSignatureException",
    "LimitExceededException",
    "TooManyRequestsException",
];

/// What an SES answer that is not a success means for the message: the
/// error `code` (if SES gave one) with the HTTP `status` (if one came).
pub fn classify(code: Option<&str>, status: Option<u16>, message: &str) -> ProviderError {
    let kind = code.unwrap_or("");
    let text = format!(
        "SES SendEmail answered {}{}: {message}",
        status.map_or("nothing".to_string(), |s| s.to_string()),
        if kind.is_empty() {
            String::new()
        } else {
            format!(" {kind}")
        }
    );
    match status {
        _ if TRANSIENT_ERRORS.contains(&kind) => ProviderError::Transient(text),
        Some(s) if s >= 500 || s == 429 || s == 408 => ProviderError::Transient(text),
        _ if PERMANENT_ERRORS.contains(&kind) => ProviderError::Permanent(text),
        Some(s) if (400..500).contains(&s) => ProviderError::Permanent(text),
        // No answer (a connection that failed, a timeout): try again.
        _ => ProviderError::Transient(text),
    }
}

fn from_sdk(err: SdkError<SendEmailError, HttpResponse>) -> ProviderError {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (code, message) = match &err {
        SdkError::ServiceError(e) => (
            e.err().code().map(str::to_owned),
            e.err().message().unwrap_or("no message").to_owned(),
        ),
        other => (
            None,
            aws_sdk_sesv2::error::DisplayErrorContext(other).to_string(),
        ),
    };
    classify(code.as_deref(), status, &message)
}

fn utf8(data: &str) -> Result<Content, ProviderError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| ProviderError::Permanent(format!("cannot build the message: {e}")))
}

/// The `SendEmail` content: subject and the HTML and/or text parts.
pub fn email_content(
    subject: &str,
    html: Option<&str>,
    text: Option<&str>,
) -> Result<EmailContent, ProviderError> {
    let mut body = Body::builder();
    if let Some(text) = text {
        body = body.text(utf8(text)?);
    }
    if let Some(html) = html {
        body = body.html(utf8(html)?);
    }
    let message = Message::builder()
        .subject(utf8(subject)?)
        .body(body.build())
        .build();
    Ok(EmailContent::builder().simple(message).build())
}

#[derive(Debug, Clone)]
pub struct SesEmailProvider {
    client: aws_sdk_sesv2::Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesEmailProvider {
    pub fn new(
        client: aws_sdk_sesv2::Client,
        from: String,
        configuration_set: Option<String>,
    ) -> Self {
        Self {
            client,
            from,
            configuration_set,
        }
    }
}

impl NotificationProvider for SesEmailProvider {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn send<'a>(
        &'a self,
        job: &'a DeliveryJob,
        preferences: &'a Preferences,
    ) -> BoxFuture<'a, Result<Accepted, ProviderError>> {
        Box::pin(async move {
            let Rendered::Email {
                subject,
                html,
                text,
            } = &job.rendered.content
            else {
                return Err(ProviderError::Permanent(format!(
                    "a {} job reached the email provider",
                    job.channel
                )));
            };
            let to = preferences
                .email
                .as_deref()
                .ok_or_else(|| ProviderError::Permanent("the user has no email address".into()))?;
            validate::email(to).map_err(|err| ProviderError::Permanent(err.to_string()))?;
            let tag = MessageTag::builder()
                .name("notification_id")
                .value(&job.notification_id)
                .build()
                .map_err(|e| ProviderError::Permanent(format!("cannot tag the message: {e}")))?;
            let out = self
                .client
                .send_email()
                .from_email_address(&self.from)
                .destination(Destination::builder().to_addresses(to).build())
                .content(email_content(subject, html.as_deref(), text.as_deref())?)
                .email_tags(tag)
                .set_configuration_set_name(self.configuration_set.clone())
                .send()
                .await
                .map_err(from_sdk)?;
            Ok(Accepted {
                provider_id: out.message_id().map(str::to_owned),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_has_both_parts_in_utf8() {
        let content = email_content("Order A-17", Some("<p>Hi</p>"), Some("Hi")).unwrap();
        let simple = content.simple().unwrap();
        assert_eq!(simple.subject().unwrap().data(), "Order A-17");
        let body = simple.body().unwrap();
        assert_eq!(body.html().unwrap().charset(), Some("UTF-8"));
        assert_eq!(body.text().unwrap().data(), "Hi");
        let plain = email_content("s", None, Some("t")).unwrap();
        assert!(plain.simple().unwrap().body().unwrap().html().is_none());
    }

    #[test]
    fn answers_are_classified() {
        let c = |code: Option<&str>, status: Option<u16>| classify(code, status, "why");
        assert!(!c(Some("MessageRejected"), Some(400)).is_transient());
        assert!(!c(Some("AccessDeniedException"), Some(403)).is_transient());
        assert!(!c(None, Some(404)).is_transient());
        assert!(c(Some("TooManyRequestsException"), Some(429)).is_transient());
        assert!(c(Some("LimitExceededException"), Some(400)).is_transient());
        assert!(c(Some("ExpiredTokenException"), Some(403)).is_transient());
        assert!(c(None, Some(503)).is_transient());
        assert!(c(None, None).is_transient(), "no answer at all");
        assert_eq!(
            c(Some("MessageRejected"), Some(400)).to_string(),
            "SES SendEmail answered 400 MessageRejected: why"
        );
    }
}
