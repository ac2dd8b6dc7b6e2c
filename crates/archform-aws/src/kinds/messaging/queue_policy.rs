//! sqs.queue_policy: the queue's `Policy` attribute. Its physical id is the
//! queue URL; setting it is idempotent, so a repeated create adopts by
//! construction. Delete clears the attribute.

use crate::clients::Clients;
use crate::error;
use crate::kinds::security::managed;
use crate::support::{doc_text, parse_doc};
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_sqs::types::QueueAttributeName as A;
use indexmap::IndexMap;
use serde_json::Value;

fn applied(url: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(url));
    Applied {
        physical_id: url.to_string(),
        attributes,
    }
}

async fn set(c: &Clients, url: &str, policy: String) -> ProviderResult<()> {
    c.sqs
        .set_queue_attributes()
        .queue_url(url)
        .attributes(A::Policy, policy)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error::aws("sqs:SetQueueAttributes", e))
}

fn url_of(r: &Resolved) -> ProviderResult<String> {
    r.str("queue_url")
        .map(str::to_string)
        .ok_or_else(|| ProviderError::Invalid(format!("{}: queue_url is required", r.id)))
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let url = url_of(r)?;
    let policy = r.prop("policy").map(doc_text).unwrap_or_default();
    set(c, &url, policy).await?;
    Ok(applied(&url))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some(url) = cur
        .physical_id
        .clone()
        .or_else(|| cur.properties["queue_url"].as_str().map(String::from))
    else {
        return Ok(None);
    };
    let out = match c
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(A::Policy)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) if error::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(error::aws("sqs:GetQueueAttributes", e)),
    };
    let Some(doc) = out
        .attributes()
        .and_then(|a| a.get(&A::Policy))
        .filter(|d| !d.is_empty())
    else {
        return Ok(None);
    };
    let mut props = serde_json::Map::new();
    props.insert("queue_url".into(), Value::from(url.clone()));
    props.insert("policy".into(), parse_doc(doc));
    Ok(Some(Observed {
        applied: applied(&url),
        properties: managed(cur, props),
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let url = cur.physical_id.clone().map_or_else(|| url_of(r), Ok)?;
    if changed.iter().any(|p| p == "policy") {
        set(c, &url, r.prop("policy").map(doc_text).unwrap_or_default()).await?;
    }
    Ok(applied(&url))
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some(url) = cur
        .physical_id
        .clone()
        .or_else(|| cur.properties["queue_url"].as_str().map(String::from))
    else {
        return Ok(());
    };
    match c
        .sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(A::Policy, "")
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("sqs:SetQueueAttributes", e)),
    }
}
