//! The email channel's provider: Amazon SES v2 `SendEmail`.
//!
//! The workspace has no `aws-sdk-sesv2`, so this speaks SES v2's REST API
//! itself: `POST /v2/email/outbound-emails` with a JSON body, signed with
//! SigV4 (`aws-sigv4`, service `ses`) with the SDK configuration's
//! credentials and region, over HTTP/1.1 with TLS (or plain HTTP to an
//! emulator's `http://` endpoint). The endpoint is
//! `AWS_ENDPOINT_URL_SESV2`, else `AWS_ENDPOINT_URL` (through the SDK
//! configuration), else `https://email.<region>.amazonaws.com`.
//!
//! The message is SES's "simple" content: the rendered subject and the
//! HTML and/or text parts (UTF-8), from `NOTIFY_EMAIL_FROM` (an identity
//! verified in SES) to the user's address, with the configuration set
//! `NOTIFY_SES_CONFIGURATION_SET` when given and an `EmailTags` entry
//! `notification_id`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};

use crate::model::Channel;
use crate::preferences::Preferences;
use crate::provider::{Accepted, NotificationProvider, ProviderError};
use crate::store::{BoxFuture, DeliveryJob};
use crate::templates::Content;
use crate::validate;

/// How long one SES call may take, connection included.
pub const DEFAULT_SES_TIMEOUT: Duration = Duration::from_secs(10);
const SEND_PATH: &str = "/v2/email/outbound-emails";

/// SES v2 error types that trying again will not fix.
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
/// Error types of a 4xx that may pass (credentials about to be refreshed,
/// a skewed clock).
const TRANSIENT_ERRORS: [&str; 4] = [
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidSignatureException",
    "LimitExceededException",
];

/// An answer of the SES API.
#[derive(Debug, Clone)]
pub struct SesAnswer {
    pub status: StatusCode,
    /// `x-amzn-ErrorType` (or the body's `__type`/`code`), without the
    /// `:namespace` suffix.
    pub error_type: Option<String>,
    pub body: Value,
}

/// A signed JSON client of the SES v2 API.
#[derive(Clone)]
pub struct SesClient {
    endpoint: String,
    region: String,
    credentials: SharedCredentialsProvider,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
}

impl std::fmt::Debug for SesClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SesClient")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// What went wrong before SES answered.
fn transient(message: impl Into<String>) -> ProviderError {
    ProviderError::Transient(message.into())
}

impl SesClient {
    /// From the SDK configuration (credentials, region, endpoint).
    pub fn from_sdk(sdk: &SdkConfig) -> Result<Self, String> {
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .ok_or("no AWS region configured")?;
        let credentials = sdk
            .credentials_provider()
            .ok_or("no AWS credentials provider configured")?;
        let endpoint = std::env::var("AWS_ENDPOINT_URL_SESV2")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| sdk.endpoint_url().map(str::to_owned))
            .unwrap_or_else(|| format!("https://email.{region}.amazonaws.com"));
        Ok(Self {
            endpoint: endpoint.trim().trim_end_matches('/').to_owned(),
            region,
            credentials,
            tls: crate::webhook_provider::tls_config(&[]),
            timeout: DEFAULT_SES_TIMEOUT,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `POST {endpoint}{path}` with `body`, signed; the answer whatever its
    /// status. `Err` only when no answer came.
    pub async fn post(&self, path: &str, body: &Value) -> Result<SesAnswer, ProviderError> {
        tokio::time::timeout(self.timeout, self.post_now(path, body))
            .await
            .map_err(|_| {
                transient(format!(
                    "SES did not answer within {} ms",
                    self.timeout.as_millis()
                ))
            })?
    }

    async fn post_now(&self, path: &str, body: &Value) -> Result<SesAnswer, ProviderError> {
        let (https, rest) = if let Some(rest) = self.endpoint.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = self.endpoint.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(ProviderError::Permanent(format!(
                "the SES endpoint {:?} is not an http(s) URL",
                self.endpoint
            )));
        };
        let authority = rest.split('/').next().unwrap_or(rest).to_owned();
        let default_port = if https { 443 } else { 80 };
        let bad_port = || ProviderError::Permanent(format!("bad port in {authority}"));
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad_port)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad_port())?,
                None => default_port,
            };
            (host.to_owned(), port)
        } else {
            match authority.split_once(':') {
                Some((host, p)) => (host.to_owned(), p.parse().map_err(|_| bad_port())?),
                None => (authority.clone(), default_port),
            }
        };
        let url = format!("{}{path}", self.endpoint);
        let payload = body.to_string();

        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|err| transient(format!("no AWS credentials: {err}")))?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ses")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|err| ProviderError::Permanent(format!("cannot sign: {err}")))?
            .into();
        let headers = [
            ("host", authority.as_str()),
            ("content-type", "application/json"),
        ];
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(payload.as_bytes()),
        )
        .map_err(|err| ProviderError::Permanent(format!("cannot sign: {err}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|err| ProviderError::Permanent(format!("cannot sign: {err}")))?
            .into_parts();
        let mut request = Request::post(path)
            .header(header::HOST, authority.as_str())
            .header(header::CONTENT_TYPE, "application/json");
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(payload)))
            .map_err(|err| ProviderError::Permanent(format!("cannot build the request: {err}")))?;

        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|err| transient(format!("could not connect to {authority}: {err}")))?;
        let response = if https {
            let name = ServerName::try_from(host.clone())
                .map_err(|err| ProviderError::Permanent(format!("bad SES host {host:?}: {err}")))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, stream)
                .await
                .map_err(|err| transient(format!("TLS with {authority} failed: {err}")))?;
            exchange(&authority, tls, request).await?
        } else {
            exchange(&authority, stream, request).await?
        };
        Ok(response)
    }
}

async fn exchange<S>(
    authority: &str,
    io: S,
    request: Request<Full<Bytes>>,
) -> Result<SesAnswer, ProviderError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|err| transient(format!("HTTP handshake with {authority} failed: {err}")))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|err| transient(format!("the request to {authority} failed: {err}")))?;
        let status = response.status();
        let header_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|err| transient(format!("reading the answer of {authority} failed: {err}")))?
            .to_bytes();
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        let error_type = header_type
            .or_else(|| {
                body.get("__type")
                    .or_else(|| body.get("code"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .map(|t| {
                let t = t.split(':').next().unwrap_or(&t);
                t.rsplit('#').next().unwrap_or(t).to_owned()
            })
            .filter(|t| !t.is_empty());
        Ok(SesAnswer {
            status,
            error_type,
            body,
        })
    }
    .await;
    driver.abort();
    result
}

/// What an SES answer that is not a success means for the message.
pub fn classify(answer: &SesAnswer) -> ProviderError {
    let kind = answer.error_type.as_deref().unwrap_or("");
    let message = answer
        .body
        .get("message")
        .or_else(|| answer.body.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| answer.body.to_string());
    let text = format!(
        "SES SendEmail answered {}{}: {message}",
        answer.status,
        if kind.is_empty() {
            String::new()
        } else {
            format!(" {kind}")
        }
    );
    let status = answer.status;
    if TRANSIENT_ERRORS.contains(&kind)
        || status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        ProviderError::Transient(text)
    } else if PERMANENT_ERRORS.contains(&kind) || status.is_client_error() {
        ProviderError::Permanent(text)
    } else {
        ProviderError::Transient(text)
    }
}

/// The `SendEmail` request body.
pub fn send_email_body(
    from: &str,
    to: &str,
    subject: &str,
    html: Option<&str>,
    text: Option<&str>,
    configuration_set: Option<&str>,
    notification_id: &str,
) -> Value {
    let part = |data: &str| json!({"Data": data, "Charset": "UTF-8"});
    let mut body = serde_json::Map::new();
    if let Some(text) = text {
        body.insert("Text".into(), part(text));
    }
    if let Some(html) = html {
        body.insert("Html".into(), part(html));
    }
    let mut request = json!({
        "FromEmailAddress": from,
        "Destination": {"ToAddresses": [to]},
        "Content": {"Simple": {"Subject": part(subject), "Body": body}},
        "EmailTags": [{"Name": "notification_id", "Value": notification_id}],
    });
    if let Some(set) = configuration_set {
        request["ConfigurationSetName"] = json!(set);
    }
    request
}

/// Sends email jobs with SES v2 `SendEmail`.
#[derive(Debug, Clone)]
pub struct SesEmailProvider {
    client: SesClient,
    from: String,
    configuration_set: Option<String>,
}

impl SesEmailProvider {
    pub fn new(client: SesClient, from: String, configuration_set: Option<String>) -> Self {
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
            let Content::Email {
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
            let body = send_email_body(
                &self.from,
                to,
                subject,
                html.as_deref(),
                text.as_deref(),
                self.configuration_set.as_deref(),
                &job.notification_id,
            );
            let answer = self.client.post(SEND_PATH, &body).await?;
            if !answer.status.is_success() {
                return Err(classify(&answer));
            }
            Ok(Accepted {
                provider_id: answer
                    .body
                    .get("MessageId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_has_both_parts_and_the_tags() {
        let body = send_email_body(
            "orders@example.com",
            "ana@example.com",
            "Order A-17",
            Some("<p>Hi</p>"),
            Some("Hi"),
            Some("tracked"),
            "ntf_1",
        );
        assert_eq!(
            body["Destination"]["ToAddresses"],
            json!(["ana@example.com"])
        );
        assert_eq!(body["Content"]["Simple"]["Subject"]["Data"], "Order A-17");
        assert_eq!(
            body["Content"]["Simple"]["Body"]["Html"]["Charset"],
            "UTF-8"
        );
        assert_eq!(body["Content"]["Simple"]["Body"]["Text"]["Data"], "Hi");
        assert_eq!(body["ConfigurationSetName"], "tracked");
        assert_eq!(body["EmailTags"][0]["Value"], "ntf_1");
        let plain = send_email_body(
            "a@example.com",
            "b@example.com",
            "s",
            None,
            Some("t"),
            None,
            "n",
        );
        assert!(plain.get("ConfigurationSetName").is_none());
        assert!(plain["Content"]["Simple"]["Body"].get("Html").is_none());
    }

    #[test]
    fn answers_are_classified() {
        let answer = |status: u16, kind: Option<&str>| SesAnswer {
            status: StatusCode::from_u16(status).unwrap(),
            error_type: kind.map(str::to_owned),
            body: json!({"message": "why"}),
        };
        assert!(!classify(&answer(400, Some("MessageRejected"))).is_transient());
        assert!(!classify(&answer(403, Some("AccessDeniedException"))).is_transient());
        assert!(!classify(&answer(404, None)).is_transient());
        assert!(classify(&answer(429, Some("TooManyRequestsException"))).is_transient());
        assert!(classify(&answer(400, Some("LimitExceededException"))).is_transient());
        assert!(classify(&answer(403, Some("ExpiredTokenException"))).is_transient());
        assert!(classify(&answer(503, None)).is_transient());
        assert_eq!(
            classify(&answer(400, Some("MessageRejected"))).to_string(),
            "SES SendEmail answered 400 Bad Request MessageRejected: why"
        );
    }
}
