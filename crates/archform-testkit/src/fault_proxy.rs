//! An HTTP proxy in front of an emulator that injects the faults real AWS
//! produces (throttling, 5xx) on a share of calls and adds latency, per
//! operation if asked (NAT gateways and load balancers take far longer to
//! create than queues). Chosen calls can be answered with an error of the
//! service's own shape or a bare 404 ([`Rule`]), as real AWS or an emulator
//! lacking a service would. It also counts calls, and mutating calls, per
//! operation: a no-op redeploy must make none. A test can have it hold one
//! mutating call ([`hold`]) to kill the client while that call is in flight.

mod hold;

pub use hold::{Call, Held, HeldCall, Hold, HoldPoint};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Clone, Debug, Default)]
pub struct FaultConfig {
    /// Share of calls (0.0..=1.0) answered with a throttling error or a 503
    /// instead of being forwarded.
    pub fault_rate: f64,
    /// Added to every forwarded call.
    pub latency: Duration,
    /// Extra latency for operations whose name contains the key
    /// (e.g. `CreateNatGateway` -> 3 s).
    pub operation_latency: Vec<(String, Duration)>,
    /// Seed of the fault sequence, so a failing run can be repeated.
    pub seed: u64,
    /// Behave as an S3 endpoint that predates create-time bucket tags:
    /// CreateBucket's `<Tags>` are removed before forwarding, so a client
    /// has to tag the new bucket with a second call (PutBucketTagging),
    /// as archform's s3.bucket provider does on such endpoints.
    pub drop_create_bucket_tags: bool,
    /// Calls answered by the first rule that matches them, never forwarded.
    pub rules: Vec<Rule>,
}

/// The answer a [`Rule`] gives instead of forwarding.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A 404 with no body and no AWS error code: how an emulator answers an
    /// operation or service it lacks.
    Bare404,
    /// An error in the service's own protocol: `code` where each protocol's
    /// SDK reads the error code, with this HTTP status.
    Error {
        status: u16,
        code: String,
        message: String,
    },
}

impl Answer {
    pub fn error(status: u16, code: &str, message: &str) -> Answer {
        Answer::Error {
            status,
            code: code.to_string(),
            message: message.to_string(),
        }
    }
}

type Matcher = Arc<dyn Fn(&Call) -> bool + Send + Sync>;

/// Answers the calls `matches` picks with `answer`.
#[derive(Clone)]
pub struct Rule {
    matches: Matcher,
    answer: Answer,
}

impl Rule {
    pub fn new(matches: impl Fn(&Call) -> bool + Send + Sync + 'static, answer: Answer) -> Rule {
        Rule {
            matches: Arc::new(matches),
            answer,
        }
    }
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("answer", &self.answer)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Counters {
    calls: BTreeMap<String, u64>,
    answered: BTreeMap<String, u64>,
    answered_mutations: Vec<Call>,
    faults: u64,
    ruled: u64,
}

/// A running proxy; stops when dropped (letting any held call go).
pub struct FaultProxy {
    pub endpoint: String,
    counters: Arc<Mutex<Counters>>,
    holds: Arc<hold::Holds>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.holds.release();
    }
}

/// What the proxy saw.
#[derive(Clone, Debug, Default)]
pub struct ProxyStats {
    /// Calls per operation (`ec2:CreateVpc`, `lambda:POST /2015-03-31/functions`).
    pub calls: BTreeMap<String, u64>,
    /// Calls the emulator answered and whose answer went back to the
    /// client, per operation (not faulted, not held).
    pub answered: BTreeMap<String, u64>,
    /// The mutating calls among them, in the order they were answered.
    pub answered_mutations: Vec<Call>,
    pub faults: u64,
    /// Calls answered by a [`Rule`].
    pub ruled: u64,
}

impl ProxyStats {
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }
    /// Calls whose operation changes something.
    pub fn mutations(&self) -> BTreeMap<String, u64> {
        self.calls
            .iter()
            .filter(|(op, _)| is_mutation(op))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

impl FaultProxy {
    pub async fn start(upstream: &str, config: FaultConfig) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let counters = Arc::new(Mutex::new(Counters::default()));
        let holds = Arc::new(hold::Holds::default());
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            config,
            counters: counters.clone(),
            holds: holds.clone(),
            client,
            sequence: AtomicU64::new(0),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, std::convert::Infallible>(shared.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FaultProxy {
            endpoint: format!("http://{addr}"),
            counters,
            holds,
            task,
        })
    }

    /// Arms `hold` (replacing any armed one): the matching call will be
    /// held until [`FaultProxy::release_held`] or the proxy stops. Held
    /// calls are never faulted.
    pub fn hold(&self, hold: Hold) -> HeldCall {
        self.holds.arm(hold)
    }

    /// Lets every held call go (its answer, or a 502 for one never
    /// forwarded, goes to the client if it is still there).
    pub fn release_held(&self) {
        self.holds.release();
    }

    pub fn stats(&self) -> ProxyStats {
        let c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        ProxyStats {
            calls: c.calls.clone(),
            answered: c.answered.clone(),
            answered_mutations: c.answered_mutations.clone(),
            faults: c.faults,
            ruled: c.ruled,
        }
    }

    pub fn reset(&self) {
        *self.counters.lock().unwrap_or_else(|e| e.into_inner()) = Counters::default();
    }
}

struct Shared {
    upstream: String,
    config: FaultConfig,
    counters: Arc<Mutex<Counters>>,
    holds: Arc<hold::Holds>,
    client: Client<HttpConnector, Full<Bytes>>,
    sequence: AtomicU64,
}

/// The protocol family of a call decides what a throttling answer looks like.
enum Protocol {
    /// `X-Amz-Target` JSON (DynamoDB, SQS, CloudWatch Logs, ...).
    Json,
    /// Form-encoded `Action=` (EC2, IAM, SNS, ELBv2, RDS, STS).
    Query { ec2: bool },
    /// REST-JSON (Lambda, API Gateway v2) or REST-XML (S3).
    Rest { xml: bool },
}

impl Shared {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let (operation, service, protocol) = classify(&parts, &body);
        let (parts, body) = if self.config.drop_create_bucket_tags {
            without_create_bucket_tags(parts, body)
        } else {
            (parts, body)
        };
        {
            let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            *c.calls.entry(operation.clone()).or_default() += 1;
        }
        let call = Call {
            service,
            operation: operation.clone(),
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
        };
        if let Some(rule) = self.config.rules.iter().find(|r| (r.matches)(&call)) {
            self.counters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .ruled += 1;
            return answer(&protocol, &rule.answer);
        }
        let ticket = is_mutation(&operation)
            .then(|| self.holds.pick(&call))
            .flatten();
        let ticket = match ticket {
            Some(t) if t.point == HoldPoint::BeforeForwarding => {
                self.holds.keep(t, call, None).await;
                return plain(StatusCode::BAD_GATEWAY, "held by the test, never forwarded");
            }
            other => other,
        };
        let n = self.sequence.fetch_add(1, Ordering::SeqCst);
        if ticket.is_none()
            && self.config.fault_rate > 0.0
            && unit(self.config.seed, n) < self.config.fault_rate
        {
            self.counters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .faults += 1;
            return fault(&protocol, n);
        }
        let mut delay = self.config.latency;
        for (key, extra) in &self.config.operation_latency {
            if operation.contains(key.as_str()) {
                delay += *extra;
            }
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let uri = format!(
            "{}{}",
            self.upstream,
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        );
        let mut forward = Request::builder().method(parts.method.clone()).uri(uri);
        for (k, v) in parts.headers.iter() {
            forward = forward.header(k, v);
        }
        let Ok(forward) = forward.body(Full::new(body)) else {
            return plain(StatusCode::BAD_GATEWAY, "bad request to forward");
        };
        let answer = match self.client.request(forward).await {
            Ok(resp) => {
                let (p, b) = resp.into_parts();
                let bytes = b.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                Response::from_parts(p, Full::new(bytes))
            }
            Err(e) => return plain(StatusCode::BAD_GATEWAY, &format!("upstream: {e}")),
        };
        match ticket {
            // The emulator has acted on it; the client never hears so.
            Some(t) => {
                let status = answer.status().as_u16();
                self.holds.keep(t, call, Some(status)).await;
            }
            None => {
                let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
                if is_mutation(&operation) {
                    c.answered_mutations.push(call);
                }
                *c.answered.entry(operation).or_default() += 1;
            }
        }
        answer
    }
}

/// CreateBucket (`PUT /<bucket>`, path-style, no query) without the
/// `<Tags>` of its configuration; any other request as it is. The length
/// and checksum headers of the original body go (the emulator does not
/// check the signature's payload hash).
fn without_create_bucket_tags(
    mut parts: hyper::http::request::Parts,
    body: Bytes,
) -> (hyper::http::request::Parts, Bytes) {
    let create_bucket = parts.method == hyper::Method::PUT
        && parts.uri.query().is_none()
        && parts.uri.path().trim_matches('/').split('/').count() == 1;
    let text = String::from_utf8_lossy(&body);
    let (Some(start), Some(end)) = (text.find("<Tags>"), text.find("</Tags>")) else {
        return (parts, body);
    };
    if !create_bucket || end < start {
        return (parts, body);
    }
    let stripped = format!("{}{}", &text[..start], &text[end + "</Tags>".len()..]);
    for h in ["content-length", "content-md5", "x-amz-checksum-crc32"] {
        parts.headers.remove(h);
    }
    (parts, Bytes::from(stripped))
}

/// A deterministic pseudo-random number in [0, 1) for call `n` (splitmix64).
fn unit(seed: u64, n: u64) -> f64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn classify(parts: &hyper::http::request::Parts, body: &Bytes) -> (String, String, Protocol) {
    let service = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    if let Some(target) = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        let op = target.rsplit('.').next().unwrap_or(target);
        return (format!("{service}:{op}"), service, Protocol::Json);
    }
    let text = String::from_utf8_lossy(body);
    if let Some(action) = text
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .or_else(|| {
            parts
                .uri
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("Action=")))
        })
    {
        let ec2 = service == "ec2";
        return (
            format!("{service}:{action}"),
            service,
            Protocol::Query { ec2 },
        );
    }
    // REST: the method and the path without ids is a fair operation name.
    let path: String = parts
        .uri
        .path()
        .split('/')
        .take(3)
        .collect::<Vec<_>>()
        .join("/");
    let xml = service == "s3";
    (
        format!("{service}:{} {path}", parts.method),
        service,
        Protocol::Rest { xml },
    )
}

/// Operations that change something.
pub fn is_mutation(op: &str) -> bool {
    let name = op.split(':').nth(1).unwrap_or(op);
    if let Some(method) = name.split(' ').next().filter(|_| name.contains(' ')) {
        return matches!(method, "POST" | "PUT" | "DELETE" | "PATCH");
    }
    const VERBS: &[&str] = &[
        "Create",
        "Put",
        "Delete",
        "Update",
        "Modify",
        "Add",
        "Remove",
        "Attach",
        "Detach",
        "Associate",
        "Disassociate",
        "Authorize",
        "Revoke",
        "Register",
        "Deregister",
        "Set",
        "Tag",
        "Untag",
        "Subscribe",
        "Unsubscribe",
        "Allocate",
        "Release",
        "Replace",
        "Enable",
        "Disable",
        "Publish",
        "Send",
        "Purge",
        "Change",
    ];
    VERBS.iter().any(|v| name.starts_with(v))
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
    *r.status_mut() = status;
    r
}

/// Alternates a 503 (every protocol treats it as transient) with the
/// protocol's own throttling error.
fn fault(protocol: &Protocol, n: u64) -> Response<Full<Bytes>> {
    if n.is_multiple_of(2) {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable (injected)",
        );
    }
    let (status, content_type, body) = match protocol {
        Protocol::Json => (
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.0",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded (injected)"}"#.to_string(),
        ),
        Protocol::Query { ec2: true } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/xml",
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded (injected)</Message></Error></Errors><RequestID>injected</RequestID></Response>".to_string(),
        ),
        Protocol::Query { ec2: false } => (
            StatusCode::BAD_REQUEST,
            "text/xml",
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded (injected)</Message></Error><RequestId>injected</RequestId></ErrorResponse>".to_string(),
        ),
        Protocol::Rest { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "application/json",
            r#"{"message":"Rate exceeded (injected)"}"#.to_string(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(content_type),
    );
    if matches!(protocol, Protocol::Rest { .. }) {
        r.headers_mut().insert(
            "x-amzn-errortype",
            hyper::header::HeaderValue::from_static("TooManyRequestsException"),
        );
    }
    r
}

/// A rule's answer in the call's protocol.
fn answer(protocol: &Protocol, answer: &Answer) -> Response<Full<Bytes>> {
    let (status, code, message) = match answer {
        Answer::Bare404 => return plain(StatusCode::NOT_FOUND, ""),
        Answer::Error {
            status,
            code,
            message,
        } => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            code.as_str(),
            message.as_str(),
        ),
    };
    let (content_type, body) = match protocol {
        Protocol::Json => (
            "application/x-amz-json-1.0",
            serde_json::json!({"__type": code, "message": message}).to_string(),
        ),
        Protocol::Query { ec2: true } => (
            "text/xml",
            format!(
                "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>injected</RequestID></Response>"
            ),
        ),
        Protocol::Query { ec2: false } => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
            ),
        ),
        Protocol::Rest { xml: true } => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>injected</RequestId></Error>"
            ),
        ),
        Protocol::Rest { xml: false } => (
            "application/json",
            serde_json::json!({"message": message}).to_string(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(content_type),
    );
    if matches!(protocol, Protocol::Rest { xml: false } | Protocol::Json)
        && let Ok(v) = hyper::header::HeaderValue::from_str(code)
    {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_sequence_is_deterministic_and_near_the_rate() {
        let hits = (0..10_000).filter(|n| unit(7, *n) < 0.2).count();
        assert!((1_700..2_300).contains(&hits), "{hits}");
        assert_eq!(unit(7, 42), unit(7, 42));
    }

    /// An upstream that answers 200 to everything and counts what it got.
    async fn upstream() -> (String, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(AtomicU64::new(0));
        let seen = got.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        seen.fetch_add(1, Ordering::SeqCst);
                        async { Ok::<_, std::convert::Infallible>(plain(StatusCode::OK, "ok")) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (format!("http://{addr}"), got)
    }

    async fn post(endpoint: &str, action: &str) -> u16 {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let req = Request::post(format!("{endpoint}/"))
            .body(Full::new(Bytes::from(format!("Action={action}"))))
            .unwrap();
        client.request(req).await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn holds_the_nth_matching_mutation_after_or_before_forwarding() {
        let (up, got) = upstream().await;
        let proxy = FaultProxy::start(&up, FaultConfig::default())
            .await
            .unwrap();
        let ep = proxy.endpoint.clone();
        let held = proxy.hold(Hold::nth_matching(2, HoldPoint::AfterForwarding, |c| {
            c.operation.ends_with(":CreateQueue")
        }));
        // Reads and other mutations are not counted towards the hold.
        assert_eq!(post(&ep, "DescribeThings").await, 200);
        assert_eq!(post(&ep, "DeleteQueue").await, 200);
        assert_eq!(post(&ep, "CreateQueue").await, 200);
        let second = tokio::spawn({
            let ep = ep.clone();
            async move { post(&ep, "CreateQueue").await }
        });
        let h = held.held().await.expect("the second create is held");
        assert_eq!(h.call.operation, "unknown:CreateQueue");
        assert_eq!(h.upstream_status, Some(200));
        assert_eq!(h.mutations_seen, 3, "DeleteQueue and both creates");
        assert_eq!(got.load(Ordering::SeqCst), 4, "the emulator got it");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!second.is_finished(), "its answer is kept from the client");
        let stats = proxy.stats();
        assert_eq!(stats.answered.get("unknown:CreateQueue"), Some(&1));
        let answered: Vec<&str> = stats
            .answered_mutations
            .iter()
            .map(|c| c.operation.as_str())
            .collect();
        assert_eq!(answered, ["unknown:DeleteQueue", "unknown:CreateQueue"]);
        proxy.release_held();
        assert_eq!(second.await.unwrap(), 200);

        let held = proxy.hold(Hold::nth_mutation(1, HoldPoint::BeforeForwarding));
        let call = tokio::spawn(async move { post(&ep, "PutThing").await });
        let h = held.held().await.unwrap();
        assert_eq!(h.upstream_status, None);
        assert_eq!(got.load(Ordering::SeqCst), 4, "never forwarded");
        proxy.release_held();
        assert_eq!(call.await.unwrap(), 502);
    }

    #[test]
    fn classifies_service_and_operation() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/rds/aws4_request, SignedHeaders=host, Signature=x";
        let (parts, _) = Request::builder()
            .uri("/?Action=DescribeDBInstances")
            .header("authorization", auth)
            .body(())
            .unwrap()
            .into_parts();
        let (operation, service, _) = classify(&parts, &Bytes::new());
        assert_eq!(operation, "rds:DescribeDBInstances");
        assert_eq!(service, "rds");
    }

    #[test]
    fn classifies_mutations() {
        assert!(is_mutation("ec2:CreateVpc"));
        assert!(!is_mutation("ec2:DescribeVpcs"));
        assert!(is_mutation("lambda:POST /2015-03-31/functions"));
        assert!(!is_mutation("lambda:GET /2015-03-31/functions"));
        assert!(!is_mutation("dynamodb:DescribeTable"));
    }
}
