//! Email over SMTP (lettre), for `notify serve` and deployments that send
//! through their own relay instead of SES: `NOTIFY_SMTP_URL` names the
//! relay, `NOTIFY_EMAIL_FROM` the sender.
//!
//! URLs as lettre reads them: `smtps://user:pass@host:465` (TLS from the
//! first byte), `smtp://user:pass@host:587?tls=required` (STARTTLS,
//! refused if the server does not offer it), with the certificate checked
//! against the host's CA roots for the URL's host. A plain `smtp://` URL
//! (no TLS) is refused unless the host is this machine's loopback (a test
//! server, a local relay), so credentials and mail never cross a network
//! in clear.
//!
//! SMTP 5xx replies are permanent (`failed`); 4xx replies, timeouts and
//! connection failures transient (retried).

use std::net::IpAddr;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::model::Channel;
use crate::preferences::Preferences;
use crate::provider::{Accepted, NotificationProvider, ProviderError};
use crate::store::{BoxFuture, DeliveryJob};
use crate::templates::Content as Rendered;
use crate::validate;

/// A relay that does not answer within this is a transient failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpConfigError {
    #[error(
        "NOTIFY_SMTP_URL is not a usable SMTP URL ({0}); use smtps://USER:PASS@HOST:465 or smtp://USER:PASS@HOST:587?tls=required"
    )]
    Url(String),
    #[error(
        "NOTIFY_SMTP_URL sends in clear to {0}; use smtps:// or ?tls=required (plain smtp:// only to 127.0.0.1, ::1 or localhost)"
    )]
    Plain(String),
    #[error("NOTIFY_EMAIL_FROM {0:?} is not an email address")]
    From(String),
}

/// The host of an SMTP URL and whether it asks for TLS.
fn host_and_tls(url: &str) -> Result<(String, bool), SmtpConfigError> {
    let bad = || SmtpConfigError::Url("expected smtp:// or smtps://".into());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let tls = match scheme {
        "smtps" => true,
        "smtp" => rest.contains("tls=required") || rest.contains("tls=wrapper"),
        _ => return Err(bad()),
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err(SmtpConfigError::Url("no host".into()));
    }
    Ok((host.to_ascii_lowercase(), tls))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The email provider over an SMTP relay.
#[derive(Clone)]
pub struct SmtpEmailProvider {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpEmailProvider {
    // The transport holds the relay's credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpEmailProvider")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpEmailProvider {
    pub fn new(url: &str, from: &str) -> Result<Self, SmtpConfigError> {
        let (host, tls) = host_and_tls(url)?;
        if !tls && !is_loopback(&host) {
            return Err(SmtpConfigError::Plain(host));
        }
        validate::email(from).map_err(|_| SmtpConfigError::From(from.to_owned()))?;
        let from = from
            .parse::<Mailbox>()
            .map_err(|_| SmtpConfigError::From(from.to_owned()))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            // lettre's message repeats the URL, credentials included.
            .map_err(|_| SmtpConfigError::Url("lettre could not read it".into()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self { transport, from })
    }
}

fn classify(err: &lettre::transport::smtp::Error) -> ProviderError {
    let text = format!("the SMTP relay refused the message: {err}");
    if err.is_permanent() {
        ProviderError::Permanent(text)
    } else {
        ProviderError::Transient(text)
    }
}

/// The message: text and HTML as alternatives when both are there.
pub fn message(
    from: &Mailbox,
    to: &str,
    message_id: &str,
    subject: &str,
    html: Option<&str>,
    text: Option<&str>,
) -> Result<Message, ProviderError> {
    let permanent = |e: &dyn std::fmt::Display| {
        ProviderError::Permanent(format!("cannot build the message: {e}"))
    };
    let to: Mailbox = to.parse().map_err(|e| permanent(&e))?;
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id.to_owned()));
    let text_part = |t: &str| {
        SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(t.to_owned())
    };
    let html_part = |h: &str| {
        SinglePart::builder()
            .header(ContentType::TEXT_HTML)
            .body(h.to_owned())
    };
    let built = match (text, html) {
        (Some(t), Some(h)) => builder.multipart(
            MultiPart::alternative()
                .singlepart(text_part(t))
                .singlepart(html_part(h)),
        ),
        (None, Some(h)) => builder.singlepart(html_part(h)),
        (Some(t), None) => builder.singlepart(text_part(t)),
        (None, None) => builder.singlepart(text_part("")),
    };
    built.map_err(|e| permanent(&e))
}

impl NotificationProvider for SmtpEmailProvider {
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
            // The same id on every attempt, so a repeat can be recognised.
            let message_id = format!("<{}@notify.archform>", job.notification_id);
            let email = message(
                &self.from,
                to,
                &message_id,
                subject,
                html.as_deref(),
                text.as_deref(),
            )?;
            self.transport
                .send(email)
                .await
                .map_err(|err| classify(&err))?;
            Ok(Accepted {
                provider_id: Some(message_id),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_smtp_only_to_loopback() {
        let from = "orders@example.com";
        assert!(SmtpEmailProvider::new("smtp://127.0.0.1:2525", from).is_ok());
        assert!(SmtpEmailProvider::new("smtp://localhost:2525", from).is_ok());
        assert!(SmtpEmailProvider::new("smtp://[::1]:2525", from).is_ok());
        assert!(SmtpEmailProvider::new("smtps://u:p@smtp.example.com:465", from).is_ok());
        assert!(
            SmtpEmailProvider::new("smtp://u:p@smtp.example.com:587?tls=required", from).is_ok()
        );
        assert_eq!(
            SmtpEmailProvider::new("smtp://u:secret@smtp.example.com:587", from).unwrap_err(),
            SmtpConfigError::Plain("smtp.example.com".into())
        );
        assert!(matches!(
            SmtpEmailProvider::new("http://smtp.example.com", from),
            Err(SmtpConfigError::Url(_))
        ));
        assert_eq!(
            SmtpEmailProvider::new("smtp://127.0.0.1:2525", "not an address").unwrap_err(),
            SmtpConfigError::From("not an address".into())
        );
        // The credentials are not shown.
        let provider = SmtpEmailProvider::new("smtps://u:secret@smtp.example.com", from).unwrap();
        assert!(!format!("{provider:?}").contains("secret"));
    }

    #[test]
    fn text_and_html_are_alternatives() {
        let from: Mailbox = "orders@example.com".parse().unwrap();
        let m = message(
            &from,
            "ana@example.com",
            "<ntf_1@notify.archform>",
            "Order A-17 shipped",
            Some("<p>Hi</p>"),
            Some("Hi"),
        )
        .unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.contains("Subject: Order A-17 shipped"), "{raw}");
        assert!(raw.contains("Message-ID: <ntf_1@notify.archform>"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/html"), "{raw}");
    }
}
