//! ELBv2 helpers shared by the load balancer kinds: tags, actions, names.

use archform_engine::provider::{ProviderError, ProviderResult};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, Tag,
};
use indexmap::IndexMap;
use serde_json::{Value, json};

pub(crate) fn tags(t: &IndexMap<String, String>) -> Option<Vec<Tag>> {
    (!t.is_empty()).then(|| {
        t.iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    })
}

/// The part of an ELBv2 ARN after `<marker>`: `app/name/id` for load
/// balancers (marker `:loadbalancer/`), `targetgroup/name/id` for target
/// groups (marker `:`), as CloudFormation's `*FullName` attributes give them.
pub(crate) fn full_name(arn: &str, marker: &str) -> String {
    arn.rfind(marker)
        .map(|i| arn[i + marker.len()..].to_string())
        .unwrap_or_default()
}

/// The blueprint's `{type, target_group_arn | status_code, content_type, message_body}`.
pub(crate) fn action(v: Option<&Value>) -> ProviderResult<Action> {
    let v = v.ok_or_else(|| ProviderError::Invalid("an action is required".into()))?;
    match v.get("type").and_then(Value::as_str) {
        Some("forward") => {
            let tg = v
                .get("target_group_arn")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ProviderError::Invalid("a forward action needs target_group_arn".into())
                })?;
            Ok(Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(tg)
                .build())
        }
        Some("fixed-response") => {
            let cfg = FixedResponseActionConfig::builder()
                .status_code(
                    v.get("status_code")
                        .and_then(Value::as_i64)
                        .unwrap_or(200)
                        .to_string(),
                )
                .set_content_type(
                    v.get("content_type")
                        .and_then(Value::as_str)
                        .map(String::from),
                )
                .set_message_body(
                    v.get("message_body")
                        .and_then(Value::as_str)
                        .map(String::from),
                )
                .build();
            Ok(Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(cfg)
                .build())
        }
        other => Err(ProviderError::Invalid(format!(
            "unknown action type {other:?}"
        ))),
    }
}

/// An action read back, in the blueprint's shape.
pub(crate) fn action_json(a: &Action) -> Value {
    match a.r#type() {
        Some(ActionTypeEnum::Forward) => {
            json!({"type": "forward", "target_group_arn": a.target_group_arn()})
        }
        Some(ActionTypeEnum::FixedResponse) => {
            let f = a.fixed_response_config();
            let mut v = json!({"type": "fixed-response"});
            if let Some(code) = f
                .and_then(|f| f.status_code())
                .and_then(|s| s.parse::<i64>().ok())
            {
                v["status_code"] = Value::from(code);
            }
            if let Some(ct) = f.and_then(|f| f.content_type()) {
                v["content_type"] = Value::from(ct);
            }
            if let Some(b) = f.and_then(|f| f.message_body()) {
                v["message_body"] = Value::from(b);
            }
            v
        }
        other => json!({"type": other.map(|t| t.as_str())}),
    }
}
