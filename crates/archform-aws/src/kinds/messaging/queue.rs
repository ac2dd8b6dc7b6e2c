//! sqs.queue: CreateQueue with its attributes and tags in one call. SQS
//! refuses to re-create a queue name for 60 s after it was deleted
//! (QueueDeletedRecently): the create retries for a bounded time.

use crate::clients::Clients;
use crate::error;
use crate::kinds::security::{managed, removed_tags};
use crate::support::{name_of, saved_name};
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_sqs::types::QueueAttributeName as A;
use indexmap::IndexMap;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Blueprint property, SQS attribute, value when the property is removed.
const SCALARS: &[(&str, &str, &str)] = &[
    ("visibility_timeout", "VisibilityTimeout", "30"),
    (
        "message_retention_seconds",
        "MessageRetentionPeriod",
        "345600",
    ),
    ("delay_seconds", "DelaySeconds", "0"),
    (
        "receive_wait_time_seconds",
        "ReceiveMessageWaitTimeSeconds",
        "0",
    ),
    ("sqs_managed_sse", "SqsManagedSseEnabled", "true"),
    ("kms_master_key_id", "KmsMasterKeyId", ""),
];

fn attr_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn redrive(v: &Value) -> String {
    json!({
        "deadLetterTargetArn": v.get("dead_letter_target_arn").and_then(Value::as_str).unwrap_or_default(),
        "maxReceiveCount": v.get("max_receive_count").and_then(Value::as_i64).unwrap_or(1),
    })
    .to_string()
}

/// The SQS attributes for `props` (only the named properties when given;
/// a named property the blueprint no longer sets goes back to its default).
fn attributes(r: &Resolved, only: Option<&[String]>) -> HashMap<A, String> {
    let wanted = |p: &str| only.is_none_or(|o| o.iter().any(|c| c == p));
    let mut out = HashMap::new();
    for (prop, name, default) in SCALARS {
        if !wanted(prop) {
            continue;
        }
        match r.prop(prop) {
            Some(v) => {
                out.insert(A::from(*name), attr_value(v));
            }
            // A KMS key and SQS-managed SSE exclude each other: leave the
            // default alone when a key is set.
            None if *prop == "sqs_managed_sse" && r.prop("kms_master_key_id").is_some() => {}
            None if only.is_some() => {
                out.insert(A::from(*name), default.to_string());
            }
            None => {}
        }
    }
    if wanted("redrive_policy") {
        match r.prop("redrive_policy") {
            Some(v) => {
                out.insert(A::RedrivePolicy, redrive(v));
            }
            None if only.is_some() => {
                out.insert(A::RedrivePolicy, String::new());
            }
            None => {}
        }
    }
    out
}

fn applied(url: &str, attrs: &HashMap<A, String>) -> Applied {
    let arn = attrs.get(&A::QueueArn).cloned().unwrap_or_default();
    let name = arn.rsplit(':').next().unwrap_or_default().to_string();
    let name = if name.is_empty() {
        url.rsplit('/').next().unwrap_or_default().to_string()
    } else {
        name
    };
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn));
    attributes.insert("url".into(), Value::from(url));
    attributes.insert("name".into(), Value::from(name));
    Applied {
        physical_id: url.to_string(),
        attributes,
    }
}

async fn url_of(c: &Clients, name: &str) -> ProviderResult<Option<String>> {
    match c.sqs.get_queue_url().queue_name(name).send().await {
        Ok(o) => Ok(o.queue_url().map(str::to_string)),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("sqs:GetQueueUrl", e)),
    }
}

async fn get_attrs(c: &Clients, url: &str) -> ProviderResult<Option<HashMap<A, String>>> {
    match c
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::All)
        .send()
        .await
    {
        Ok(o) => Ok(Some(o.attributes().cloned().unwrap_or_default())),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("sqs:GetQueueAttributes", e)),
    }
}

async fn set_attrs(c: &Clients, url: &str, attrs: HashMap<A, String>) -> ProviderResult<()> {
    if attrs.is_empty() {
        return Ok(());
    }
    c.sqs
        .set_queue_attributes()
        .queue_url(url)
        .set_attributes(Some(attrs))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error::aws("sqs:SetQueueAttributes", e))
}

async fn finish(c: &Clients, url: &str) -> ProviderResult<Applied> {
    let attrs = get_attrs(c, url)
        .await?
        .ok_or_else(|| ProviderError::failed(format!("queue {url} not found after create")))?;
    Ok(applied(url, &attrs))
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    if let Some(url) = url_of(c, &name).await? {
        // An earlier create got this far: bring its attributes in line.
        set_attrs(c, &url, attributes(r, None)).await?;
        return finish(c, &url).await;
    }
    let start = Instant::now();
    loop {
        let out = c
            .sqs
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(attributes(r, None)))
            .set_tags(Some(r.tags.clone().into_iter().collect()))
            .send()
            .await;
        match out {
            Ok(o) => return finish(c, o.queue_url().unwrap_or_default()).await,
            // A queue of this name was deleted less than 60 s ago.
            Err(e)
                if error::code(&e).is_some_and(|c| c.ends_with("QueueDeletedRecently"))
                    && start.elapsed() < Duration::from_secs(75) =>
            {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => return Err(error::aws("sqs:CreateQueue", e)),
        }
    }
}

fn props_of(attrs: &HashMap<A, String>) -> serde_json::Map<String, Value> {
    let mut props = serde_json::Map::new();
    for (prop, name, _) in SCALARS {
        let Some(v) = attrs.get(&A::from(*name)) else {
            continue;
        };
        let value = match *prop {
            "kms_master_key_id" if v.is_empty() => continue,
            "kms_master_key_id" => Value::from(v.clone()),
            "sqs_managed_sse" => Value::from(v == "true"),
            _ => v
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::from(v.clone())),
        };
        props.insert(prop.to_string(), value);
    }
    if let Some(doc) = attrs.get(&A::RedrivePolicy).filter(|d| !d.is_empty()) {
        let d: Value = serde_json::from_str(doc).unwrap_or(Value::Null);
        let count = match &d["maxReceiveCount"] {
            Value::String(s) => s.parse::<i64>().ok(),
            v => v.as_i64(),
        };
        props.insert(
            "redrive_policy".into(),
            json!({"dead_letter_target_arn": d["deadLetterTargetArn"], "max_receive_count": count}),
        );
    }
    props
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let url = match cur.physical_id.clone() {
        Some(u) => u,
        None => match saved_name(cur) {
            Some(n) => match url_of(c, &n).await? {
                Some(u) => u,
                None => return Ok(None),
            },
            None => return Ok(None),
        },
    };
    let Some(attrs) = get_attrs(c, &url).await? else {
        return Ok(None);
    };
    Ok(Some(Observed {
        applied: applied(&url, &attrs),
        properties: managed(cur, props_of(&attrs)),
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let url = match cur.physical_id.clone() {
        Some(u) => u,
        None => url_of(c, &name_of(r)?)
            .await?
            .ok_or_else(|| ProviderError::failed(format!("{}: queue not found", r.id)))?,
    };
    set_attrs(c, &url, attributes(r, Some(changed))).await?;
    if changed.iter().any(|p| p == "tags") {
        let gone = removed_tags(&cur.tags, &r.tags);
        if !gone.is_empty() {
            c.sqs
                .untag_queue()
                .queue_url(&url)
                .set_tag_keys(Some(gone))
                .send()
                .await
                .map_err(|e| error::aws("sqs:UntagQueue", e))?;
        }
        if !r.tags.is_empty() {
            c.sqs
                .tag_queue()
                .queue_url(&url)
                .set_tags(Some(r.tags.clone().into_iter().collect()))
                .send()
                .await
                .map_err(|e| error::aws("sqs:TagQueue", e))?;
        }
    }
    finish(c, &url).await
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let url = match cur.physical_id.clone() {
        Some(u) => u,
        None => match saved_name(cur) {
            Some(n) => match url_of(c, &n).await? {
                Some(u) => u,
                None => return Ok(()),
            },
            None => return Ok(()),
        },
    };
    match c.sqs.delete_queue().queue_url(&url).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("sqs:DeleteQueue", e)),
    }
}
