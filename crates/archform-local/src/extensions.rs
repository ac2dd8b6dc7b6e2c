//! The Lambda Extensions API (2020-01-01) for extensions that live inside
//! the function's process, served next to the Runtime API on the same
//! loopback port (`AWS_LAMBDA_RUNTIME_API`).
//!
//! Its main use is `lambda_runtime`'s graceful-shutdown helper: it
//! registers an internal extension subscribed to nothing, because Lambda
//! only ends a process with SIGTERM (and a grace period) instead of SIGKILL
//! when some extension is registered. [`Registry::any_registered`] is what
//! the local runtime's `stop` looks at for the same decision.
//!
//! Behaviour follows Lambda's (the runtime interface emulator's `rapi`
//! handlers): every extension here is internal, so subscribing to
//! `SHUTDOWN` is refused with `Extension.InvalidEventType`; `INVOKE`
//! subscribers get an `INVOKE` event for each invocation the runtime takes;
//! registration closes when the runtime asks for its first invocation; an
//! extension's `event/next` otherwise blocks until the API shuts down.
//! Errors are 403 with `{errorType, errorMessage}`.

use archform_ids as ids;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

pub const PREFIX: &str = "/2020-01-01/extension";
pub const NAME_HEADER: &str = "Lambda-Extension-Name";
pub const ID_HEADER: &str = "Lambda-Extension-Identifier";
pub const EVENT_ID_HEADER: &str = "Lambda-Extension-Event-Identifier";
pub const ERROR_TYPE_HEADER: &str = "Lambda-Extension-Function-Error-Type";

/// Lambda's limit on extensions per function.
const MAX_EXTENSIONS: usize = 10;

/// Why the API refused a request: answered 403 with this error.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub error_type: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(error_type: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            error_type,
            message: message.into(),
        }
    }
}

/// One registered extension.
pub struct Extension {
    pub id: String,
    name: String,
    invoke: bool,
    sender: mpsc::UnboundedSender<Bytes>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Bytes>>,
}

impl Extension {
    /// The next event for this extension (waits until there is one).
    pub async fn next_event(&self) -> Option<Bytes> {
        self.events.lock().await.recv().await
    }
}

#[derive(Default)]
pub struct Registry {
    extensions: Mutex<Vec<Arc<Extension>>>,
    closed: AtomicBool,
}

impl Registry {
    /// `POST /extension/register` with the name header and the
    /// `{"events": [...]}` body.
    pub fn register(&self, name: Option<&str>, body: &[u8]) -> Result<Arc<Extension>, Refusal> {
        let name = name.map(str::trim).unwrap_or_default();
        if name.is_empty() {
            return Err(Refusal::new(
                "Extension.InvalidExtensionName",
                "Empty extension name",
            ));
        }
        let request: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| Refusal::new("InvalidRequestFormat", e.to_string()))?;
        let events = match request.get("events") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|e| e.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Refusal::new("InvalidRequestFormat", "events must be strings"))?,
            Some(_) => {
                return Err(Refusal::new(
                    "InvalidRequestFormat",
                    "events must be a list",
                ));
            }
        };
        for event in &events {
            match event.as_str() {
                "INVOKE" => {}
                "SHUTDOWN" => {
                    return Err(Refusal::new(
                        "Extension.InvalidEventType",
                        "SHUTDOWN: ShutdownEventNotSupportedForInternalExtension",
                    ));
                }
                other => {
                    return Err(Refusal::new(
                        "Extension.InvalidEventType",
                        format!("{other}: ErrorInvalidEventType"),
                    ));
                }
            }
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(Refusal::new(
                "Extension.RegistrationClosed",
                "Extension registration closed already",
            ));
        }
        let mut extensions = self.lock();
        if extensions.iter().any(|e| e.name == name) {
            return Err(Refusal::new(
                "Extension.InvalidExtensionState",
                "Extension with this name already registered",
            ));
        }
        if extensions.len() >= MAX_EXTENSIONS {
            return Err(Refusal::new(
                "Extension.TooManyExtensions",
                format!("Extension limit ({MAX_EXTENSIONS}) reached"),
            ));
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        let extension = Arc::new(Extension {
            id: ids::uuid_v4(),
            name: name.to_string(),
            invoke: events.iter().any(|e| e == "INVOKE"),
            sender,
            events: tokio::sync::Mutex::new(receiver),
        });
        extensions.push(extension.clone());
        Ok(extension)
    }

    /// The extension a request's identifier header names.
    pub fn identify(&self, id: Option<&str>) -> Result<Arc<Extension>, Refusal> {
        let id = id.ok_or_else(|| {
            Refusal::new(
                "Extension.MissingExtensionIdentifier",
                format!("Missing {ID_HEADER} header"),
            )
        })?;
        self.lock()
            .iter()
            .find(|e| e.id == id)
            .cloned()
            .ok_or_else(|| {
                Refusal::new(
                    "Extension.UnknownExtensionIdentifier",
                    format!("Unknown extension {id}"),
                )
            })
    }

    /// Registration ends with init: when the runtime asks for its first
    /// invocation.
    pub fn close_registration(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub fn any_registered(&self) -> bool {
        !self.lock().is_empty()
    }

    /// Queues an `INVOKE` event for every extension subscribed to them.
    pub fn send_invoke(&self, event: &Bytes) {
        for extension in self.lock().iter().filter(|e| e.invoke) {
            let _ = extension.sender.send(event.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Extension>>> {
        self.extensions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `INVOKE` event body Lambda sends extensions.
pub fn invoke_event(
    request_id: &str,
    deadline_ms: u128,
    function_arn: &str,
    trace_id: &str,
) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "eventType": "INVOKE",
            "deadlineMs": deadline_ms as u64,
            "requestId": request_id,
            "invokedFunctionArn": function_arn,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": trace_id},
        })
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_rules() {
        let r = Registry::default();
        let err = |res: Result<Arc<Extension>, Refusal>| res.err().map(|e| e.error_type);
        assert_eq!(
            err(r.register(None, br#"{"events":[]}"#)),
            Some("Extension.InvalidExtensionName")
        );
        assert_eq!(
            err(r.register(Some("x"), b"not json")),
            Some("InvalidRequestFormat")
        );
        assert_eq!(
            err(r.register(Some("x"), br#"{"events":["SHUTDOWN"]}"#)),
            Some("Extension.InvalidEventType")
        );
        assert_eq!(
            err(r.register(Some("x"), br#"{"events":["LOGS"]}"#)),
            Some("Extension.InvalidEventType")
        );
        assert!(!r.any_registered());
        let a = r.register(Some("a"), br#"{"events":[]}"#).unwrap();
        assert!(r.any_registered());
        assert_eq!(a.id.len(), 36);
        assert_eq!(
            err(r.register(Some("a"), br#"{"events":[]}"#)),
            Some("Extension.InvalidExtensionState")
        );
        assert_eq!(r.identify(Some(&a.id)).unwrap().name, "a");
        assert_eq!(
            r.identify(None).err().unwrap().error_type,
            "Extension.MissingExtensionIdentifier"
        );
        assert_eq!(
            r.identify(Some("nope")).err().unwrap().error_type,
            "Extension.UnknownExtensionIdentifier"
        );
        for i in 1..MAX_EXTENSIONS {
            r.register(Some(&format!("e{i}")), b"{}").unwrap();
        }
        assert_eq!(
            err(r.register(Some("one-too-many"), b"{}")),
            Some("Extension.TooManyExtensions")
        );
        let closed = Registry::default();
        closed.close_registration();
        assert_eq!(
            err(closed.register(Some("late"), b"{}")),
            Some("Extension.RegistrationClosed")
        );
    }

    #[tokio::test]
    async fn invoke_events_reach_only_subscribers() {
        let r = Registry::default();
        let quiet = r.register(Some("quiet"), br#"{"events":[]}"#).unwrap();
        let loud = r
            .register(Some("loud"), br#"{"events":["INVOKE"]}"#)
            .unwrap();
        r.send_invoke(&invoke_event("req-1", 1, "arn", "Root=1-0-0"));
        let event: serde_json::Value =
            serde_json::from_slice(&loud.next_event().await.unwrap()).unwrap();
        assert_eq!(event["eventType"], "INVOKE");
        assert_eq!(event["requestId"], "req-1");
        let nothing =
            tokio::time::timeout(std::time::Duration::from_millis(20), quiet.next_event()).await;
        assert!(
            nothing.is_err(),
            "an extension subscribed to nothing gets nothing"
        );
    }
}
