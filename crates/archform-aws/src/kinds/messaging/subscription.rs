//! sns.subscription: Subscribe with FilterPolicy, FilterPolicyScope and
//! RawMessageDelivery as attributes and ReturnSubscriptionArn, so the real
//! ARN comes back even before confirmation. Changes go through
//! SetSubscriptionAttributes.

use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::{doc_as_applied, doc_text, parse_doc};
use crate::wait::{Backoff, retry_while};
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_policy: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_policy_scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_message_delivery: Option<bool>,
}

fn applied(arn: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn));
    Applied {
        physical_id: arn.to_string(),
        attributes,
    }
}

/// SNS attribute values for the named properties (all when `only` is None);
/// a property no longer set goes back to SNS's default (the spec's).
fn attributes(p: &Props, only: Option<&[String]>) -> Vec<(&'static str, String)> {
    let wanted = |n: &str| only.is_none_or(|o| o.iter().any(|c| c == n));
    let reset = only.is_some();
    let mut out = Vec::new();
    if wanted("filter_policy") {
        match &p.filter_policy {
            Some(v) => out.push(("FilterPolicy", doc_text(v))),
            None if reset => out.push(("FilterPolicy", "{}".into())),
            None => {}
        }
    }
    if wanted("filter_policy_scope") {
        let scope = match &p.filter_policy_scope {
            Some(v) => Some(v.clone()),
            None if reset => Some("MessageAttributes".into()),
            None => None,
        };
        if let Some(scope) = scope {
            // SNS checks a policy against the scope it holds: a policy on
            // the message body (which may nest) needs that scope first; a
            // policy on attributes is valid on the body too, so it goes
            // first when the scope goes back to attributes.
            let at = if scope == "MessageBody" { 0 } else { out.len() };
            out.insert(at, ("FilterPolicyScope", scope));
        }
    }
    if wanted("raw_message_delivery") {
        match p.raw_message_delivery {
            Some(v) => out.push(("RawMessageDelivery", v.to_string())),
            None if reset => out.push(("RawMessageDelivery", "false".into())),
            None => {}
        }
    }
    out
}

/// The existing subscription of this endpoint to this topic, if any.
async fn find(
    c: &Clients,
    topic: &str,
    protocol: &str,
    endpoint: &str,
) -> ProviderResult<Option<String>> {
    let mut pages = c
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(topic)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let out = match page {
            Ok(o) => o,
            Err(e) if error::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(error::aws("sns:ListSubscriptionsByTopic", e)),
        };
        let hit = out.subscriptions().iter().find(|s| {
            s.protocol() == Some(protocol)
                && s.endpoint() == Some(endpoint)
                && s.subscription_arn().is_some_and(|a| a.starts_with("arn:"))
        });
        if let Some(s) = hit {
            return Ok(s.subscription_arn().map(str::to_string));
        }
    }
    Ok(None)
}

/// The subscription's ARN: the saved one, else found from what was applied.
async fn arn_of(
    c: &Clients,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<String>> {
    match (&cur.physical_id, hint) {
        (Some(a), _) => Ok(Some(a.clone())),
        (None, Some(h)) => find(c, &h.topic_arn, &h.protocol, &h.endpoint).await,
        (None, None) => Ok(None),
    }
}

async fn set(c: &Clients, arn: &str, attrs: Vec<(&'static str, String)>) -> ProviderResult<()> {
    for (name, value) in attrs {
        c.sns
            .set_subscription_attributes()
            .subscription_arn(arn)
            .attribute_name(name)
            .attribute_value(value)
            .send()
            .await
            .map_err(|e| error::aws("sns:SetSubscriptionAttributes", e))?;
    }
    Ok(())
}

pub(crate) async fn create(c: &Clients, _r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    if let Some(arn) = find(c, &p.topic_arn, &p.protocol, &p.endpoint).await? {
        set(c, &arn, attributes(p, None)).await?;
        return Ok(applied(&arn));
    }
    let attrs: HashMap<String, String> = attributes(p, None)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    // A topic or queue policy created a moment ago may not be visible to
    // SNS yet: retry those answers briefly.
    let backoff = Backoff {
        first: Duration::from_millis(500),
        limit: Duration::from_secs(30),
    };
    let not_visible_yet = |e: &_| error::has_code(e, &["AuthorizationError", "NotFound"]);
    let out = retry_while(backoff, not_visible_yet, || {
        c.sns
            .subscribe()
            .topic_arn(&p.topic_arn)
            .protocol(&p.protocol)
            .endpoint(&p.endpoint)
            .set_attributes(Some(attrs.clone()))
            .return_subscription_arn(true)
            .send()
    })
    .await
    .map_err(|e| error::aws("sns:Subscribe", e))?;
    let arn = out.subscription_arn().ok_or_else(|| {
        ProviderError::failed("sns:Subscribe answered without a subscription ARN")
    })?;
    Ok(applied(arn))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(arn) = arn_of(c, cur, hint).await? else {
        return Ok(None);
    };
    let out = match c
        .sns
        .get_subscription_attributes()
        .subscription_arn(&arn)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) if error::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(error::aws("sns:GetSubscriptionAttributes", e)),
    };
    let attrs = out.attributes().cloned().unwrap_or_default();
    let text = |a: &str| attrs.get(a).cloned().unwrap_or_default();
    // "{}" is how a removed filter policy reads.
    let filter_policy = attrs
        .get("FilterPolicy")
        .filter(|v| !v.is_empty() && v.as_str() != "{}")
        .map(|v| doc_as_applied(hint.and_then(|h| h.filter_policy.as_ref()), parse_doc(v)));
    Ok(Some(Read {
        applied: applied(&arn),
        props: Props {
            topic_arn: text("TopicArn"),
            protocol: text("Protocol"),
            endpoint: text("Endpoint"),
            filter_policy,
            filter_policy_scope: attrs.get("FilterPolicyScope").cloned(),
            raw_message_delivery: attrs
                .get("RawMessageDelivery")
                .map(|v| v.eq_ignore_ascii_case("true")),
        },
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let arn = cur.physical_id.clone().ok_or_else(|| {
        ProviderError::failed(format!("{}: subscription has no ARN in state", r.id))
    })?;
    set(c, &arn, attributes(p, Some(changed))).await?;
    Ok(applied(&arn))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some(arn) = arn_of(c, cur, hint).await? else {
        return Ok(());
    };
    match c.sns.unsubscribe().subscription_arn(&arn).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("sns:Unsubscribe", e)),
    }
}
