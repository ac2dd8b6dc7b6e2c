//! ELBv2 helpers shared by the load balancer kinds: tags, actions, names.

use archform_engine::provider::{ProviderError, ProviderResult};
use aws_sdk_elasticloadbalancingv2::types::{
    Action as ElbAction, ActionTypeEnum, FixedResponseActionConfig, RedirectActionConfig,
    RedirectActionStatusCodeEnum, Tag,
};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The blueprint's action (a listener's default action, a rule's action):
/// `forward` to a target group, or a `fixed-response`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Action {
    pub r#type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_port: Option<i64>,
}

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

/// The action AWS takes for the blueprint's.
pub(crate) fn action(a: &Action) -> ProviderResult<ElbAction> {
    match a.r#type.as_str() {
        "forward" => {
            let tg = a.target_group_arn.as_deref().ok_or_else(|| {
                ProviderError::Invalid("a forward action needs target_group_arn".into())
            })?;
            Ok(ElbAction::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(tg)
                .build())
        }
        "fixed-response" => {
            let cfg = FixedResponseActionConfig::builder()
                .status_code(a.status_code.unwrap_or(200).to_string())
                .set_content_type(a.content_type.clone())
                .set_message_body(a.message_body.clone())
                .build();
            Ok(ElbAction::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(cfg)
                .build())
        }
        "redirect" => {
            let code = match a.status_code {
                Some(301) => RedirectActionStatusCodeEnum::Http301,
                Some(302) => RedirectActionStatusCodeEnum::Http302,
                other => {
                    return Err(ProviderError::Invalid(format!(
                        "a redirect answers 301 or 302, not {other:?}: set status_code"
                    )));
                }
            };
            // Host, path and query stay as they were (#{...} are ELB's
            // placeholders for the request's own).
            let cfg = RedirectActionConfig::builder()
                .set_protocol(a.redirect_protocol.clone())
                .set_port(a.redirect_port.map(|p| p.to_string()))
                .host("#{host}")
                .path("/#{path}")
                .query("#{query}")
                .status_code(code)
                .build();
            Ok(ElbAction::builder()
                .r#type(ActionTypeEnum::Redirect)
                .redirect_config(cfg)
                .build())
        }
        other => Err(ProviderError::Invalid(format!(
            "unknown action type {other:?}"
        ))),
    }
}

/// An action read back, in the blueprint's shape.
pub(crate) fn action_of(a: &ElbAction) -> Action {
    match a.r#type() {
        Some(ActionTypeEnum::Forward) => {
            // AWS gives the target group both directly and, for a forward
            // to one group, as the only one of its forward config.
            let in_config = a
                .forward_config()
                .map(|f| f.target_groups())
                .filter(|g| g.len() == 1)
                .and_then(|g| g[0].target_group_arn());
            Action {
                r#type: "forward".into(),
                target_group_arn: a.target_group_arn().or(in_config).map(String::from),
                ..Action::default()
            }
        }
        Some(ActionTypeEnum::FixedResponse) => {
            let f = a.fixed_response_config();
            Action {
                r#type: "fixed-response".into(),
                status_code: f
                    .and_then(|f| f.status_code())
                    .and_then(|s| s.parse::<i64>().ok()),
                content_type: f.and_then(|f| f.content_type()).map(String::from),
                message_body: f.and_then(|f| f.message_body()).map(String::from),
                ..Action::default()
            }
        }
        Some(ActionTypeEnum::Redirect) => {
            let r = a.redirect_config();
            Action {
                r#type: "redirect".into(),
                status_code: r.map(|r| match r.status_code() {
                    Some(RedirectActionStatusCodeEnum::Http302) => 302,
                    _ => 301,
                }),
                redirect_protocol: r.and_then(|r| r.protocol()).map(String::from),
                redirect_port: r.and_then(|r| r.port()).and_then(|p| p.parse::<i64>().ok()),
                ..Action::default()
            }
        }
        other => Action {
            r#type: other.map(|t| t.as_str().to_string()).unwrap_or_default(),
            ..Action::default()
        },
    }
}

/// The first action of a list AWS reports (listeners and rules here have
/// one); an empty action when AWS reports none, which no blueprint matches.
pub(crate) fn first_action(actions: &[ElbAction]) -> Action {
    actions.first().map(action_of).unwrap_or_default()
}

/// [`crate::support::same_set`] for a list of text: the applied order when
/// AWS holds the same elements in an order of its own.
pub(crate) fn same_strs(applied: Option<&[String]>, seen: Vec<&str>) -> Vec<String> {
    let applied = applied.map(|a| Value::from(a.to_vec()));
    let seen = seen.into_iter().map(Value::from).collect();
    match crate::support::same_set(applied.as_ref(), seen) {
        Value::Array(a) => a
            .into_iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}
