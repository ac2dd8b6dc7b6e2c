//! The webhook channel's provider: one signed HTTP POST per message, with a
//! timeout, to an address checked after DNS resolution.
//!
//! The URL was checked when the preferences were stored, but a host name
//! can resolve (or be re-pointed) to a private address at any time, so the
//! addresses are resolved here, every one is checked with
//! [`crate::validate::is_forbidden_ip`], and the connection goes to the
//! checked address itself rather than to the name (no second lookup that
//! could answer differently). Redirects are not followed: a 3xx is a
//! permanent failure, as following it would bypass the check.
//!
//! `https://` URLs are spoken to over TLS (rustls) with the host's CA
//! certificates (`SSL_CERT_FILE` overrides them); the certificate must be
//! valid for the URL's host. A refused certificate is a permanent failure.
//! Plain `http://` is used only when the policy allows it to loopback
//! receivers (tests, local development).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::model::{Channel, now_ms};
use crate::preferences::Preferences;
use crate::provider::{Accepted, NotificationProvider, ProviderError};
use crate::store::{BoxFuture, DeliveryJob};
use crate::templates::Content;
use crate::validate::{self, UrlPolicy};
use crate::webhook_signature::{self, WebhookSecret};

/// How long one attempt may take, connection included.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const USER_AGENT: &str = "archform-notify/0.1";

/// Where a webhook goes, from its (already validated) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    https: bool,
    /// Without IPv6 brackets.
    host: String,
    port: u16,
    /// The `Host` header: the authority as written.
    authority: String,
    /// Path and query, at least `/`.
    path: String,
}

fn parse_target(url: &str) -> Option<Target> {
    let (scheme, rest) = url.split_once("://")?;
    let https = scheme.eq_ignore_ascii_case("https");
    let rest = rest.split('#').next().unwrap_or_default();
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    let default_port = if https { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        (host.to_owned(), port)
    } else {
        match authority.split_once(':') {
            Some((host, p)) => (host.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), default_port),
        }
    };
    Some(Target {
        https,
        host: host.trim_end_matches('.').to_ascii_lowercase(),
        port,
        authority: authority.to_owned(),
        path,
    })
}

/// The TLS client settings: the host's CA certificates, plus `extra`.
pub(crate) fn tls_config(extra: &[CertificateDer<'static>]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::warn!(%error, "a CA certificate of the host could not be loaded");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    if ignored > 0 {
        tracing::warn!(ignored, "CA certificates of the host were not usable");
    }
    if added == 0 && extra.is_empty() {
        tracing::warn!("no CA certificates: https webhooks will fail");
    }
    for cert in extra {
        if let Err(error) = roots.add(cert.clone()) {
            tracing::warn!(%error, "an extra CA certificate was refused");
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the default protocol versions are supported")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Sends webhook jobs.
#[derive(Debug, Clone)]
pub struct WebhookProvider {
    timeout: Duration,
    policy: UrlPolicy,
    tls: Arc<rustls::ClientConfig>,
}

impl WebhookProvider {
    pub fn new(timeout: Duration, policy: UrlPolicy) -> Self {
        Self::with_extra_roots(timeout, policy, &[])
    }

    /// Also trusting the CA certificates `extra` (a private CA, a test's
    /// own).
    pub fn with_extra_roots(
        timeout: Duration,
        policy: UrlPolicy,
        extra: &[CertificateDer<'static>],
    ) -> Self {
        Self {
            timeout,
            policy,
            tls: tls_config(extra),
        }
    }

    /// Whether the service may connect to `ip`.
    fn allowed(&self, ip: IpAddr) -> bool {
        !validate::is_forbidden_ip(ip)
            || (self.policy == UrlPolicy::AllowHttpLoopback && ip.to_canonical().is_loopback())
    }

    /// The address to connect to: every address the host resolves to must
    /// be allowed (a name that mixes public and private addresses is
    /// refused whole).
    async fn resolve(&self, target: &Target) -> Result<SocketAddr, ProviderError> {
        let addresses: Vec<SocketAddr> =
            tokio::net::lookup_host((target.host.as_str(), target.port))
                .await
                .map_err(|err| {
                    ProviderError::Transient(format!("could not resolve {}: {err}", target.host))
                })?
                .collect();
        if let Some(bad) = addresses.iter().find(|a| !self.allowed(a.ip())) {
            return Err(ProviderError::Permanent(format!(
                "{} resolves to {}, which is not a public address",
                target.host,
                bad.ip()
            )));
        }
        addresses.first().copied().ok_or_else(|| {
            ProviderError::Transient(format!("{} resolves to no address", target.host))
        })
    }

    async fn post(
        &self,
        target: &Target,
        address: SocketAddr,
        request: Request<Full<Bytes>>,
    ) -> Result<StatusCode, ProviderError> {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|err| {
                ProviderError::Transient(format!("could not connect to {address}: {err}"))
            })?;
        if !target.https {
            return exchange(target, stream, request).await;
        }
        let name = ServerName::try_from(target.host.clone()).map_err(|err| {
            ProviderError::Permanent(format!("{:?} is not a TLS server name: {err}", target.host))
        })?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, stream)
            .await
            .map_err(|err| {
                let refused = err
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .is_some_and(|tls| {
                        matches!(
                            tls,
                            rustls::Error::InvalidCertificate(_)
                                | rustls::Error::NoCertificatesPresented
                                | rustls::Error::UnsupportedNameType
                        )
                    });
                let message = format!("TLS with {} failed: {err}", target.authority);
                if refused {
                    ProviderError::Permanent(message)
                } else {
                    ProviderError::Transient(message)
                }
            })?;
        exchange(target, tls, request).await
    }
}

/// One HTTP/1.1 request over `io` (a TCP or TLS stream).
async fn exchange<S>(
    target: &Target,
    io: S,
    request: Request<Full<Bytes>>,
) -> Result<StatusCode, ProviderError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|err| {
            ProviderError::Transient(format!(
                "HTTP handshake with {} failed: {err}",
                target.authority
            ))
        })?;
    let driver = tokio::spawn(async move {
        // Errors surface through `send_request` below.
        let _ = connection.await;
    });
    let result = sender
        .send_request(request)
        .await
        .map(|response| response.status())
        .map_err(|err| {
            ProviderError::Transient(format!("the request to {} failed: {err}", target.authority))
        });
    driver.abort();
    result
}

impl Default for WebhookProvider {
    fn default() -> Self {
        Self::new(DEFAULT_WEBHOOK_TIMEOUT, UrlPolicy::HttpsOnly)
    }
}

/// What a receiver's status means for the message.
fn outcome(status: StatusCode) -> Result<(), ProviderError> {
    if status.is_success() {
        Ok(())
    } else if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        Err(ProviderError::Transient(format!(
            "the receiver answered {status}"
        )))
    } else if status.is_redirection() {
        Err(ProviderError::Permanent(format!(
            "the receiver answered {status}; redirects are not followed"
        )))
    } else {
        Err(ProviderError::Permanent(format!(
            "the receiver answered {status}"
        )))
    }
}

impl NotificationProvider for WebhookProvider {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    fn send<'a>(
        &'a self,
        job: &'a DeliveryJob,
        preferences: &'a Preferences,
    ) -> BoxFuture<'a, Result<Accepted, ProviderError>> {
        Box::pin(async move {
            let Content::Webhook { body } = &job.rendered.content else {
                return Err(ProviderError::Permanent(format!(
                    "a {} job reached the webhook provider",
                    job.channel
                )));
            };
            let contact = preferences
                .webhook
                .as_ref()
                .ok_or_else(|| ProviderError::Permanent("the user has no webhook URL".into()))?;
            validate::webhook_url(&contact.url, self.policy)
                .map_err(|err| ProviderError::Permanent(err.to_string()))?;
            let target = parse_target(&contact.url).ok_or_else(|| {
                ProviderError::Permanent(format!("cannot read the URL {:?}", contact.url))
            })?;
            let secret = WebhookSecret::parse(&contact.secret)
                .map_err(|err| ProviderError::Permanent(format!("the webhook secret: {err}")))?;
            let payload = serde_json::to_vec(body)
                .map_err(|err| ProviderError::Permanent(format!("the body: {err}")))?;
            let timestamp = now_ms() / 1000;
            let id = job.notification_id.as_str();
            let mut request = Request::post(target.path.as_str())
                .header(header::HOST, target.authority.as_str())
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::USER_AGENT, USER_AGENT);
            for (name, value) in webhook_signature::headers(&secret, id, timestamp, &payload) {
                request = request.header(name, value);
            }
            let request = request
                .body(Full::new(Bytes::from(payload)))
                .map_err(|err| {
                    ProviderError::Permanent(format!("cannot build the request: {err}"))
                })?;

            let attempt = async {
                let address = self.resolve(&target).await?;
                self.post(&target, address, request).await
            };
            let status = tokio::time::timeout(self.timeout, attempt)
                .await
                .map_err(|_| {
                    ProviderError::Transient(format!(
                        "no answer from {} within {} ms",
                        target.authority,
                        self.timeout.as_millis()
                    ))
                })??;
            outcome(status)?;
            Ok(Accepted {
                provider_id: Some(id.to_owned()),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes as AxumBytes;
    use axum::extract::State;
    use axum::routing::post;
    use http::HeaderMap;
    use serde_json::{Value, json};

    use crate::model::Priority;
    use crate::preferences::{OptOuts, WebhookContact};
    use crate::templates::Rendered;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>, String)>>>;

    /// A receiver on 127.0.0.1 answering `status` to `POST /hook` (after
    /// `delay`), recording what it got.
    async fn receiver(status: StatusCode, delay: Duration) -> (String, Seen) {
        let seen: Seen = Arc::default();
        async fn hook(
            State((seen, status, delay)): State<(Seen, StatusCode, Duration)>,
            uri: http::Uri,
            headers: HeaderMap,
            body: AxumBytes,
        ) -> StatusCode {
            seen.lock()
                .unwrap()
                .push((headers, body.to_vec(), uri.to_string()));
            tokio::time::sleep(delay).await;
            status
        }
        let app =
            Router::new()
                .route("/hook", post(hook))
                .with_state((seen.clone(), status, delay));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (format!("http://127.0.0.1:{port}/hook?src=notify"), seen)
    }

    fn prefs(url: &str) -> Preferences {
        Preferences {
            user_id: "u1".into(),
            email: None,
            phone: None,
            push: None,
            webhook: Some(WebhookContact {
                url: url.into(),
                secret: SECRET.into(),
            }),
            locale: None,
            timezone: None,
            quiet_hours: None,
            opt_out: OptOuts::default(),
            unsubscribed: false,
            updated_at: 0,
        }
    }

    fn job(body: Value) -> DeliveryJob {
        DeliveryJob {
            notification_id: "ntf_01ARYZ6S41TSV4RRFFQ69G5FAV".into(),
            user_id: "u1".into(),
            channel: Channel::Webhook,
            priority: Priority::Transactional,
            category: None,
            not_before: None,
            rendered: Rendered {
                locale: "en".into(),
                content: Content::Webhook { body },
            },
            attempt: 0,
            enqueued_at: 0,
        }
    }

    fn local(timeout: Duration) -> WebhookProvider {
        WebhookProvider::new(timeout, UrlPolicy::AllowHttpLoopback)
    }

    #[test]
    fn targets_are_read_from_urls() {
        let t = parse_target("https://Hooks.Example.com./a/b?x=1#frag").unwrap();
        assert_eq!(
            t,
            Target {
                https: true,
                host: "hooks.example.com".into(),
                port: 443,
                authority: "Hooks.Example.com.".into(),
                path: "/a/b?x=1".into(),
            }
        );
        let t = parse_target("http://[::1]:8080?q").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 8080, "/?q")
        );
        let t = parse_target("http://127.0.0.1").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
    }

    #[tokio::test]
    async fn a_signed_post_reaches_the_receiver_and_verifies() {
        let (url, seen) = receiver(StatusCode::NO_CONTENT, Duration::ZERO).await;
        let body = json!({"event": "order.shipped", "order": "A-17", "note": "Olá <3"});
        let accepted = local(Duration::from_secs(5))
            .send(&job(body.clone()), &prefs(&url))
            .await
            .unwrap();
        assert_eq!(
            accepted.provider_id.as_deref(),
            Some("ntf_01ARYZ6S41TSV4RRFFQ69G5FAV")
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (headers, received, uri) = &seen[0];
        assert_eq!(uri, "/hook?src=notify");
        assert_eq!(serde_json::from_slice::<Value>(received).unwrap(), body);
        let get = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(get("content-type"), "application/json");
        assert_eq!(get("webhook-id"), "ntf_01ARYZ6S41TSV4RRFFQ69G5FAV");
        // The receiver's check, as a Standard Webhooks library does it.
        webhook_signature::verify(
            &WebhookSecret::parse(SECRET).unwrap(),
            &get("webhook-id"),
            &get("webhook-timestamp"),
            &get("webhook-signature"),
            received,
            now_ms() / 1000,
            webhook_signature::DEFAULT_TOLERANCE_SECS,
        )
        .unwrap();
        // And with another secret it does not verify.
        assert!(
            webhook_signature::verify(
                &WebhookSecret::generate(),
                &get("webhook-id"),
                &get("webhook-timestamp"),
                &get("webhook-signature"),
                received,
                now_ms() / 1000,
                300,
            )
            .is_err()
        );
    }

    #[tokio::test]
    async fn receiver_statuses_decide_retry_or_failure() {
        for (status, transient) in [
            (StatusCode::INTERNAL_SERVER_ERROR, true),
            (StatusCode::SERVICE_UNAVAILABLE, true),
            (StatusCode::TOO_MANY_REQUESTS, true),
            (StatusCode::GONE, false),
            (StatusCode::BAD_REQUEST, false),
            (StatusCode::FOUND, false),
        ] {
            let (url, seen) = receiver(status, Duration::ZERO).await;
            let err = local(Duration::from_secs(5))
                .send(&job(json!({})), &prefs(&url))
                .await
                .unwrap_err();
            assert_eq!(err.is_transient(), transient, "{status}: {err}");
            assert!(err.to_string().contains(status.as_str()), "{err}");
            assert_eq!(seen.lock().unwrap().len(), 1);
        }
    }

    #[tokio::test]
    async fn a_slow_receiver_times_out() {
        let (url, _) = receiver(StatusCode::OK, Duration::from_secs(5)).await;
        let err = local(Duration::from_millis(200))
            .send(&job(json!({})), &prefs(&url))
            .await
            .unwrap_err();
        assert!(err.is_transient());
        assert!(err.to_string().contains("within 200 ms"), "{err}");
    }

    #[tokio::test]
    async fn a_closed_port_is_transient() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = local(Duration::from_secs(5))
            .send(
                &job(json!({})),
                &prefs(&format!("http://127.0.0.1:{port}/")),
            )
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(err.to_string().contains("could not connect"), "{err}");
    }

    #[tokio::test]
    async fn the_deployed_policy_refuses_what_tests_may_use() {
        let (url, seen) = receiver(StatusCode::OK, Duration::ZERO).await;
        let deployed = WebhookProvider::default();
        let err = deployed
            .send(&job(json!({})), &prefs(&url))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ProviderError::Permanent(format!(
                "{url:?} is not an acceptable webhook URL: plain http is not allowed; webhooks need https://"
            ))
        );
        // Even under the test policy, a private target is refused.
        let err = local(Duration::from_secs(1))
            .send(&job(json!({})), &prefs("http://10.1.2.3/hook"))
            .await
            .unwrap_err();
        assert!(!err.is_transient());
        assert!(err.to_string().contains("private"), "{err}");
        assert!(seen.lock().unwrap().is_empty());
    }

    /// A TLS receiver on 127.0.0.1 with the test CA's certificate for that
    /// address (src/testdata); answers 200 and records the signed bodies.
    async fn tls_receiver() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
        use http_body_util::BodyExt;
        use rustls::pki_types::PrivateKeyDer;
        use rustls::pki_types::pem::PemObject;

        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(include_bytes!("testdata/receiver.pem"))
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(include_bytes!("testdata/receiver.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let bodies = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, bodies) = (acceptor.clone(), bodies.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |request: Request<hyper::body::Incoming>| {
                            let bodies = bodies.clone();
                            async move {
                                let body = request.into_body().collect().await?.to_bytes();
                                bodies.lock().unwrap().push(body.to_vec());
                                Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::new())))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        (format!("https://127.0.0.1:{port}/hook"), seen)
    }

    #[tokio::test]
    async fn https_webhooks_go_over_tls_to_a_trusted_certificate_only() {
        use rustls::pki_types::pem::PemObject;
        let (url, seen) = tls_receiver().await;
        let ca = CertificateDer::from_pem_slice(include_bytes!("testdata/ca.pem")).unwrap();
        let trusting = WebhookProvider::with_extra_roots(
            Duration::from_secs(5),
            UrlPolicy::AllowHttpLoopback,
            &[ca],
        );
        let accepted = trusting
            .send(&job(json!({"event": "tls"})), &prefs(&url))
            .await
            .unwrap();
        assert_eq!(
            accepted.provider_id.as_deref(),
            Some("ntf_01ARYZ6S41TSV4RRFFQ69G5FAV")
        );
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            [b"{\"event\":\"tls\"}".to_vec()]
        );
        // Without the test CA the certificate is refused, for good.
        let err = local(Duration::from_secs(5))
            .send(&job(json!({"event": "tls"})), &prefs(&url))
            .await
            .unwrap_err();
        assert!(!err.is_transient(), "{err}");
        assert!(err.to_string().contains("TLS"), "{err}");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn resolved_addresses_are_checked() {
        let provider = WebhookProvider::new(Duration::from_secs(1), UrlPolicy::HttpsOnly);
        let target = parse_target("http://localhost:9/").unwrap();
        let err = provider.resolve(&target).await.unwrap_err();
        assert!(err.to_string().contains("is not a public address"), "{err}");
        let loopback_ok = local(Duration::from_secs(1));
        let address = loopback_ok.resolve(&target).await.unwrap();
        assert!(address.ip().is_loopback());
    }

    #[tokio::test]
    async fn jobs_of_other_channels_and_users_without_webhooks_fail() {
        let mut sms = job(json!({}));
        sms.channel = Channel::Sms;
        sms.rendered.content = Content::Sms {
            text: "x".into(),
            segments: 1,
        };
        let provider = local(Duration::from_secs(1));
        let err = provider
            .send(&sms, &prefs("http://127.0.0.1:9/"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ProviderError::Permanent("a sms job reached the webhook provider".into())
        );
        let mut nobody = prefs("http://127.0.0.1:9/");
        nobody.webhook = None;
        let err = provider.send(&job(json!({})), &nobody).await.unwrap_err();
        assert_eq!(
            err,
            ProviderError::Permanent("the user has no webhook URL".into())
        );
    }
}
