//! sns.subscription: Subscribe with FilterPolicy, FilterPolicyScope and
//! RawMessageDelivery as attributes and ReturnSubscriptionArn, so the real
//! ARN comes back even before confirmation. Changes go through
//! SetSubscriptionAttributes.

use crate::clients::Clients;
use crate::error;
use crate::kinds::security::managed;
use crate::support::{doc_text, parse_doc};
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn applied(arn: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn));
    Applied {
        physical_id: arn.to_string(),
        attributes,
    }
}

/// SNS attribute values for the named properties (all when `only` is None);
/// a property no longer set goes back to SNS's default.
fn attributes(r: &Resolved, only: Option<&[String]>) -> Vec<(&'static str, String)> {
    let wanted = |p: &str| only.is_none_or(|o| o.iter().any(|c| c == p));
    let mut out = Vec::new();
    if wanted("filter_policy") {
        match r.prop("filter_policy") {
            Some(v) => out.push(("FilterPolicy", doc_text(v))),
            None if only.is_some() => out.push(("FilterPolicy", "{}".into())),
            None => {}
        }
    }
    if wanted("filter_policy_scope") {
        match r.str("filter_policy_scope") {
            Some(v) => out.push(("FilterPolicyScope", v.to_string())),
            None if only.is_some() => out.push(("FilterPolicyScope", "MessageAttributes".into())),
            None => {}
        }
    }
    if wanted("raw_message_delivery") {
        match r.bool("raw_message_delivery") {
            Some(v) => out.push(("RawMessageDelivery", v.to_string())),
            None if only.is_some() => out.push(("RawMessageDelivery", "false".into())),
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
    let mut token = None;
    loop {
        let out = match c
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .set_next_token(token)
            .send()
            .await
        {
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
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(None);
        }
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

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let field = |p: &str| {
        r.str(p)
            .map(str::to_string)
            .ok_or_else(|| ProviderError::Invalid(format!("{}: {p} is required", r.id)))
    };
    let (topic, protocol, endpoint) = (field("topic_arn")?, field("protocol")?, field("endpoint")?);
    if let Some(arn) = find(c, &topic, &protocol, &endpoint).await? {
        set(c, &arn, attributes(r, None)).await?;
        return Ok(applied(&arn));
    }
    let attrs: HashMap<String, String> = attributes(r, None)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    // A topic or queue policy created a moment ago may not be visible to
    // SNS yet: retry those answers briefly.
    let start = Instant::now();
    let mut delay = Duration::from_millis(500);
    loop {
        let out = c
            .sns
            .subscribe()
            .topic_arn(&topic)
            .protocol(&protocol)
            .endpoint(&endpoint)
            .set_attributes(Some(attrs.clone()))
            .return_subscription_arn(true)
            .send()
            .await;
        match out {
            Ok(o) => {
                let arn = o.subscription_arn().ok_or_else(|| {
                    ProviderError::failed("sns:Subscribe answered without a subscription ARN")
                })?;
                return Ok(applied(arn));
            }
            Err(e)
                if matches!(error::code(&e), Some("AuthorizationError" | "NotFound"))
                    && start.elapsed() + delay < Duration::from_secs(30) =>
            {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(error::aws("sns:Subscribe", e)),
        }
    }
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let arn = match cur.physical_id.clone() {
        Some(a) => a,
        None => {
            let p = |k: &str| cur.properties[k].as_str().unwrap_or_default().to_string();
            match find(c, &p("topic_arn"), &p("protocol"), &p("endpoint")).await? {
                Some(a) => a,
                None => return Ok(None),
            }
        }
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
    let mut props = serde_json::Map::new();
    for (p, a) in [
        ("topic_arn", "TopicArn"),
        ("protocol", "Protocol"),
        ("endpoint", "Endpoint"),
    ] {
        if let Some(v) = attrs.get(a) {
            props.insert(p.into(), Value::from(v.clone()));
        }
    }
    if let Some(v) = attrs
        .get("FilterPolicy")
        .filter(|v| !v.is_empty() && v.as_str() != "{}")
    {
        props.insert("filter_policy".into(), parse_doc(v));
    }
    if let Some(v) = attrs.get("FilterPolicyScope") {
        props.insert("filter_policy_scope".into(), Value::from(v.clone()));
    }
    if let Some(v) = attrs.get("RawMessageDelivery") {
        props.insert("raw_message_delivery".into(), Value::from(v == "true"));
    }
    Ok(Some(Observed {
        applied: applied(&arn),
        properties: managed(cur, props),
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let arn = cur.physical_id.clone().ok_or_else(|| {
        ProviderError::failed(format!("{}: subscription has no ARN in state", r.id))
    })?;
    set(c, &arn, attributes(r, Some(changed))).await?;
    Ok(applied(&arn))
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let arn = match cur.physical_id.clone() {
        Some(a) => a,
        None => {
            let p = |k: &str| cur.properties[k].as_str().unwrap_or_default().to_string();
            match find(c, &p("topic_arn"), &p("protocol"), &p("endpoint")).await? {
                Some(a) => a,
                None => return Ok(()),
            }
        }
    };
    match c.sns.unsubscribe().subscription_arn(&arn).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("sns:Unsubscribe", e)),
    }
}
