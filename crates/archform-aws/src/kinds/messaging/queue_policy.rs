//! sqs.queue_policy: the queue's `Policy` attribute. Its physical id is the
//! queue URL; setting it is idempotent, so a repeated create adopts by
//! construction. Delete clears the attribute.

use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::{doc_as_applied, doc_text, parse_doc};
use archform_engine::provider::{Applied, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_sqs::types::QueueAttributeName as A;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub queue_url: String,
    pub policy: Value,
}

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

/// The queue's URL: the saved physical id, else the applied `queue_url`.
fn url_of(cur: &ResourceState, hint: Option<&Props>) -> Option<String> {
    cur.physical_id
        .clone()
        .or_else(|| hint.map(|h| h.queue_url.clone()))
}

pub(crate) async fn create(c: &Clients, _r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    set(c, &p.queue_url, doc_text(&p.policy)).await?;
    Ok(applied(&p.queue_url))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(url) = url_of(cur, hint) else {
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
    let policy = doc_as_applied(hint.map(|h| &h.policy), parse_doc(doc));
    Ok(Some(Read {
        applied: applied(&url),
        props: Props {
            queue_url: url,
            policy,
        },
    }))
}

pub(crate) async fn update(
    c: &Clients,
    _r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let url = cur
        .physical_id
        .clone()
        .unwrap_or_else(|| p.queue_url.clone());
    if changed.iter().any(|c| c == "policy") {
        set(c, &url, doc_text(&p.policy)).await?;
    }
    Ok(applied(&url))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some(url) = url_of(cur, hint) else {
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
