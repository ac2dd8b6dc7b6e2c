//! The JSON frames of the protocol: what clients send (with an `action`
//! field) parsed and checked into a [`Request`], and what the server sends
//! (with a `type` field) built as text.
//!
//! Parsing never stores or sends anything: a refused frame becomes a
//! [`FrameError`] whose [`ErrorCode`] goes back to the sender alone.

use serde_json::{Map, Value, json};

use crate::ids;
use crate::model::Message;

/// API Gateway's frame limit; larger frames are refused with `too_large`.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
/// API Gateway's message limit, the most one PostToConnection carries;
/// history pages are cut to stay under it (with room for the envelope).
pub const MAX_OUTGOING_BYTES: usize = 128 * 1024;
/// Most messages one history request may ask for.
pub const MAX_HISTORY_LIMIT: u32 = 500;

/// The actions clients send (API Gateway routes by this field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    SendMessage,
    Typing,
    History,
    Join,
    Leave,
    Read,
    Presence,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::SendMessage,
        Action::Typing,
        Action::History,
        Action::Join,
        Action::Leave,
        Action::Read,
        Action::Presence,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::SendMessage => "sendmessage",
            Self::Typing => "typing",
            Self::History => "history",
            Self::Join => "join",
            Self::Leave => "leave",
            Self::Read => "read",
            Self::Presence => "presence",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

/// A checked client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    SendMessage {
        conversation: String,
        text: String,
        client_id: Option<String>,
    },
    Typing {
        conversation: String,
    },
    History {
        conversation: String,
        query: HistoryQuery,
    },
    Join {
        conversation: String,
    },
    Leave {
        conversation: String,
    },
    Read {
        conversation: String,
        message_id: String,
    },
    Presence {
        conversation: String,
    },
}

impl Request {
    pub fn action(&self) -> Action {
        match self {
            Self::SendMessage { .. } => Action::SendMessage,
            Self::Typing { .. } => Action::Typing,
            Self::History { .. } => Action::History,
            Self::Join { .. } => Action::Join,
            Self::Leave { .. } => Action::Leave,
            Self::Read { .. } => Action::Read,
            Self::Presence { .. } => Action::Presence,
        }
    }

    pub fn conversation(&self) -> &str {
        match self {
            Self::SendMessage { conversation, .. }
            | Self::Typing { conversation }
            | Self::History { conversation, .. }
            | Self::Join { conversation }
            | Self::Leave { conversation }
            | Self::Read { conversation, .. }
            | Self::Presence { conversation } => conversation,
        }
    }
}

/// Which page of a conversation's history: messages older than `before`
/// (exclusive) and newer than `after` (exclusive) or at/after `since`
/// (Unix milliseconds), newest first, at most `limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    pub before: Option<String>,
    pub after: Option<String>,
    pub since: Option<i64>,
    pub limit: Option<u32>,
}

/// The `code` of an error frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadJson,
    UnknownAction,
    Invalid,
    TooLarge,
    Forbidden,
    RateLimited,
    /// The service could not do it now (a table unreachable); retry later.
    Unavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadJson => "bad_json",
            Self::UnknownAction => "unknown_action",
            Self::Invalid => "invalid",
            Self::TooLarge => "too_large",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
        }
    }
}

/// A refused frame: the code and a message saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct FrameError {
    pub code: ErrorCode,
    pub message: String,
}

impl FrameError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

fn invalid(message: impl Into<String>) -> FrameError {
    FrameError::new(ErrorCode::Invalid, message)
}

/// The action a frame names, for routing, if it is a JSON object with a
/// text `action`.
pub fn action_of(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    value.get("action")?.as_str().map(str::to_owned)
}

/// Parses and checks one client frame; texts longer than `max_chars`
/// characters are `too_large`.
pub fn parse(body: &str, max_chars: usize) -> Result<Request, FrameError> {
    if body.len() > MAX_FRAME_BYTES {
        return Err(FrameError::new(
            ErrorCode::TooLarge,
            format!(
                "the frame is {} bytes; at most {MAX_FRAME_BYTES} are allowed",
                body.len()
            ),
        ));
    }
    let value: Value = serde_json::from_str(body).map_err(|err| {
        FrameError::new(
            ErrorCode::BadJson,
            format!("the frame is not JSON ({err}); send a JSON object with an \"action\" field"),
        )
    })?;
    let Value::Object(fields) = value else {
        return Err(FrameError::new(
            ErrorCode::BadJson,
            "the frame must be a JSON object with an \"action\" field",
        ));
    };
    let action = match fields.get("action") {
        Some(Value::String(name)) => Action::from_name(name).ok_or_else(|| {
            FrameError::new(
                ErrorCode::UnknownAction,
                format!("unknown action {name:?}; use one of {}", Action::names()),
            )
        })?,
        _ => {
            return Err(FrameError::new(
                ErrorCode::UnknownAction,
                format!(
                    "the frame has no \"action\" text field; use one of {}",
                    Action::names()
                ),
            ));
        }
    };
    let conversation = required_text(&fields, "conversation")?;
    ids::check_conversation(&conversation).map_err(|e| invalid(e.to_string()))?;
    Ok(match action {
        Action::SendMessage => {
            let text = required_text(&fields, "text")?;
            if text.trim().is_empty() {
                return Err(invalid("\"text\" is empty; send some text"));
            }
            let chars = text.chars().count();
            if chars > max_chars {
                return Err(FrameError::new(
                    ErrorCode::TooLarge,
                    format!("\"text\" is {chars} characters; at most {max_chars} are allowed"),
                ));
            }
            let client_id = optional_text(&fields, "client_id")?;
            if let Some(id) = &client_id {
                ids::check_client_id(id).map_err(|e| invalid(e.to_string()))?;
            }
            Request::SendMessage {
                conversation,
                text,
                client_id,
            }
        }
        Action::Typing => Request::Typing { conversation },
        Action::Join => Request::Join { conversation },
        Action::Leave => Request::Leave { conversation },
        Action::Presence => Request::Presence { conversation },
        Action::Read => {
            let message_id = required_text(&fields, "message_id")?;
            message_id_field("message_id", &message_id)?;
            Request::Read {
                conversation,
                message_id,
            }
        }
        Action::History => {
            let before = optional_text(&fields, "before")?;
            if let Some(id) = &before {
                message_id_field("before", id)?;
            }
            // `after` and `since` both mean "newer than"; `since` may also
            // be a message id, as clients catching up tend to send.
            let mut after = optional_text(&fields, "after")?;
            if let Some(id) = &after {
                message_id_field("after", id)?;
            }
            let since = match fields.get("since") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => {
                    Some(n.as_i64().filter(|ms| *ms >= 0).ok_or_else(|| {
                        invalid(
                            "\"since\" must be Unix milliseconds (a whole number) or a message id",
                        )
                    })?)
                }
                Some(Value::String(id)) => {
                    message_id_field("since", id)?;
                    if after.is_some() {
                        return Err(invalid("give \"after\" or \"since\", not both"));
                    }
                    after = Some(id.clone());
                    None
                }
                Some(_) => {
                    return Err(invalid(
                        "\"since\" must be Unix milliseconds (a whole number) or a message id",
                    ));
                }
            };
            if since.is_some() && after.is_some() {
                return Err(invalid("give \"after\" or \"since\", not both"));
            }
            let limit = match fields.get("limit") {
                None | Some(Value::Null) => None,
                Some(value) => Some(
                    value
                        .as_u64()
                        .filter(|n| (1..=MAX_HISTORY_LIMIT as u64).contains(n))
                        .ok_or_else(|| {
                            invalid(format!(
                                "\"limit\" must be a whole number from 1 to {MAX_HISTORY_LIMIT}"
                            ))
                        })? as u32,
                ),
            };
            Request::History {
                conversation,
                query: HistoryQuery {
                    before,
                    after,
                    since,
                    limit,
                },
            }
        }
    })
}

fn required_text(fields: &Map<String, Value>, name: &str) -> Result<String, FrameError> {
    match fields.get(name) {
        Some(Value::String(text)) => Ok(text.clone()),
        None | Some(Value::Null) => Err(invalid(format!("\"{name}\" is required (text)"))),
        Some(_) => Err(invalid(format!("\"{name}\" must be text"))),
    }
}

fn optional_text(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, FrameError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(invalid(format!("\"{name}\" must be text"))),
    }
}

fn message_id_field(name: &str, id: &str) -> Result<(), FrameError> {
    match ids::message_id_millis(id) {
        Some(_) => Ok(()),
        None => Err(invalid(format!(
            "\"{name}\" is not a message id (26 characters, as in a message's \"id\")"
        ))),
    }
}

// ---- Server frames ----

pub fn ack(client_id: Option<&str>, message: &Message) -> String {
    json!({"type": "ack", "client_id": client_id, "message": message}).to_string()
}

pub fn message(message: &Message) -> String {
    json!({"type": "message", "message": message}).to_string()
}

pub fn history(conversation: &str, messages: &[Message], next_cursor: Option<&str>) -> String {
    let mut frame = json!({"type": "history", "conversation": conversation, "messages": messages});
    if let Some(cursor) = next_cursor {
        frame["next_cursor"] = json!(cursor);
    }
    frame.to_string()
}

pub fn typing(conversation: &str, user: &str) -> String {
    json!({"type": "typing", "conversation": conversation, "user": user}).to_string()
}

pub fn online(conversation: &str, users: &[String]) -> String {
    json!({"type": "presence", "conversation": conversation, "online": users}).to_string()
}

pub fn presence_change(conversation: &str, user: &str, online: bool) -> String {
    let status = if online { "online" } else { "offline" };
    json!({"type": "presence", "conversation": conversation, "user": user, "status": status})
        .to_string()
}

pub fn read(conversation: &str, user: &str, message_id: &str) -> String {
    json!({"type": "read", "conversation": conversation, "user": user, "message_id": message_id})
        .to_string()
}

pub fn joined(conversation: &str) -> String {
    json!({"type": "joined", "conversation": conversation}).to_string()
}

pub fn left(conversation: &str) -> String {
    json!({"type": "left", "conversation": conversation}).to_string()
}

pub fn error(code: ErrorCode, message: &str, request_id: &str) -> String {
    json!({"type": "error", "code": code.as_str(), "message": message, "request_id": request_id})
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "01HZY3K6Q7W8X9Y0Z1A2B3C4D5";

    fn code(body: &str) -> ErrorCode {
        parse(body, 10).unwrap_err().code
    }

    #[test]
    fn parses_every_action() {
        assert_eq!(
            parse(
                r#"{"action":"sendmessage","conversation":"g","text":"hi","client_id":"c1"}"#,
                10
            )
            .unwrap(),
            Request::SendMessage {
                conversation: "g".into(),
                text: "hi".into(),
                client_id: Some("c1".into())
            }
        );
        for (action, expected) in [
            ("typing", Action::Typing),
            ("join", Action::Join),
            ("leave", Action::Leave),
            ("presence", Action::Presence),
            ("history", Action::History),
        ] {
            let body = format!(r#"{{"action":"{action}","conversation":"g","extra":1}}"#);
            assert_eq!(parse(&body, 10).unwrap().action(), expected);
        }
        let read = parse(
            &format!(r#"{{"action":"read","conversation":"g","message_id":"{ID}"}}"#),
            10,
        )
        .unwrap();
        assert_eq!(read.conversation(), "g");
    }

    #[test]
    fn history_cursors() {
        let page = |body: &str| match parse(body, 10).unwrap() {
            Request::History { query, .. } => query,
            other => panic!("{other:?}"),
        };
        let q = page(&format!(
            r#"{{"action":"history","conversation":"g","before":"{ID}","after":"{ID}","limit":5}}"#
        ));
        assert_eq!(q.before.as_deref(), Some(ID));
        assert_eq!(q.after.as_deref(), Some(ID));
        assert_eq!(q.limit, Some(5));
        assert_eq!(
            page(r#"{"action":"history","conversation":"g","since":1700000000000}"#).since,
            Some(1_700_000_000_000)
        );
        // `since` with a message id is `after`.
        assert_eq!(
            page(&format!(
                r#"{{"action":"history","conversation":"g","since":"{ID}"}}"#
            ))
            .after
            .as_deref(),
            Some(ID)
        );
        for bad in [
            r#"{"action":"history","conversation":"g","limit":0}"#,
            r#"{"action":"history","conversation":"g","limit":501}"#,
            r#"{"action":"history","conversation":"g","limit":"5"}"#,
            r#"{"action":"history","conversation":"g","before":"nope"}"#,
            r#"{"action":"history","conversation":"g","since":-1}"#,
            r#"{"action":"history","conversation":"g","since":true}"#,
        ] {
            assert_eq!(code(bad), ErrorCode::Invalid, "{bad}");
        }
        assert_eq!(
            code(&format!(
                r#"{{"action":"history","conversation":"g","after":"{ID}","since":5}}"#
            )),
            ErrorCode::Invalid
        );
    }

    #[test]
    fn refusals_have_their_codes() {
        assert_eq!(code("not json"), ErrorCode::BadJson);
        assert_eq!(code("[1,2]"), ErrorCode::BadJson);
        assert_eq!(code(r#""text""#), ErrorCode::BadJson);
        assert_eq!(code(r#"{"conversation":"g"}"#), ErrorCode::UnknownAction);
        assert_eq!(code(r#"{"action":5}"#), ErrorCode::UnknownAction);
        assert_eq!(
            code(r#"{"action":"dance","conversation":"g"}"#),
            ErrorCode::UnknownAction
        );
        assert_eq!(code(r#"{"action":"typing"}"#), ErrorCode::Invalid);
        assert_eq!(
            code(r#"{"action":"typing","conversation":7}"#),
            ErrorCode::Invalid
        );
        assert_eq!(
            code(r#"{"action":"typing","conversation":"a b"}"#),
            ErrorCode::Invalid
        );
        assert_eq!(
            code(r#"{"action":"sendmessage","conversation":"g"}"#),
            ErrorCode::Invalid
        );
        assert_eq!(
            code(r#"{"action":"sendmessage","conversation":"g","text":"  "}"#),
            ErrorCode::Invalid
        );
        assert_eq!(
            code(r#"{"action":"sendmessage","conversation":"g","text":"hi","client_id":3}"#),
            ErrorCode::Invalid
        );
        assert_eq!(
            code(r#"{"action":"read","conversation":"g","message_id":"x"}"#),
            ErrorCode::Invalid
        );
        // 11 characters against a limit of 10; multi-byte characters count once.
        assert_eq!(
            code(r#"{"action":"sendmessage","conversation":"g","text":"ééééééééééé"}"#),
            ErrorCode::TooLarge
        );
        assert!(
            parse(
                r#"{"action":"sendmessage","conversation":"g","text":"éééééééééé"}"#,
                10
            )
            .is_ok()
        );
        let big = format!(
            r#"{{"action":"sendmessage","conversation":"g","text":"{}"}}"#,
            "x".repeat(MAX_FRAME_BYTES)
        );
        let err = parse(&big, usize::MAX).unwrap_err();
        assert_eq!(err.code, ErrorCode::TooLarge);
        assert!(err.message.contains("32768"), "{}", err.message);
    }

    #[test]
    fn unknown_actions_list_the_known_ones() {
        let err = parse(r#"{"action":"dance","conversation":"g"}"#, 10).unwrap_err();
        assert!(
            err.message
                .contains("sendmessage, typing, history, join, leave, read, presence")
        );
    }

    #[test]
    fn server_frames_have_their_type_and_fields() {
        let m = Message {
            id: ID.into(),
            conversation: "g".into(),
            sender: "alice".into(),
            text: "hi".into(),
            ts: 5,
        };
        let v = |s: String| serde_json::from_str::<Value>(&s).unwrap();
        assert_eq!(
            v(ack(Some("c1"), &m)),
            json!({"type":"ack","client_id":"c1","message":{"id":ID,"conversation":"g","sender":"alice","text":"hi","ts":5}})
        );
        assert_eq!(v(message(&m))["type"], "message");
        assert_eq!(
            v(history("g", std::slice::from_ref(&m), Some(ID)))["next_cursor"],
            ID
        );
        assert!(v(history("g", &[], None)).get("next_cursor").is_none());
        assert_eq!(
            v(typing("g", "bob")),
            json!({"type":"typing","conversation":"g","user":"bob"})
        );
        assert_eq!(v(online("g", &["a".into()]))["online"], json!(["a"]));
        assert_eq!(v(presence_change("g", "a", false))["status"], "offline");
        assert_eq!(v(read("g", "a", ID))["message_id"], ID);
        assert_eq!(
            v(error(ErrorCode::RateLimited, "slow down", "r1")),
            json!({"type":"error","code":"rate_limited","message":"slow down","request_id":"r1"})
        );
        assert_eq!(
            action_of(r#"{"action":"typing"}"#).as_deref(),
            Some("typing")
        );
        assert_eq!(action_of("nope"), None);
    }
}
