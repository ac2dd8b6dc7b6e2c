//! sqs.queue: CreateQueue with its attributes and tags in one call. SQS
//! refuses to re-create a queue name for 60 s after it was deleted
//! (QueueDeletedRecently): the create retries for a bounded time.

use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::{name_of, saved_name};
use crate::wait::{Backoff, retry_while};
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_sqs::types::QueueAttributeName as A;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_retention_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_wait_time_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqs_managed_sse: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive_policy: Option<RedrivePolicy>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedrivePolicy {
    pub dead_letter_target_arn: String,
    pub max_receive_count: i64,
}

/// Which property changed, and the SQS attribute that holds it.
#[derive(Clone, Copy, PartialEq)]
enum Field {
    VisibilityTimeout,
    MessageRetention,
    DelaySeconds,
    ReceiveWait,
    ManagedSse,
    KmsKey,
    Redrive,
}

const FIELDS: &[(Field, &str)] = &[
    (Field::VisibilityTimeout, "visibility_timeout"),
    (Field::MessageRetention, "message_retention_seconds"),
    (Field::DelaySeconds, "delay_seconds"),
    (Field::ReceiveWait, "receive_wait_time_seconds"),
    (Field::ManagedSse, "sqs_managed_sse"),
    (Field::KmsKey, "kms_master_key_id"),
    (Field::Redrive, "redrive_policy"),
];

/// The SQS attributes for `p`: all that are set, or with `only`, the named
/// fields, where one the blueprint no longer sets goes back to SQS's default
/// (the same defaults the spec declares).
fn attributes(p: &Props, only: Option<&[Field]>) -> HashMap<A, String> {
    let wanted = |f: Field| only.is_none_or(|o| o.contains(&f));
    let reset = only.is_some();
    let mut out = HashMap::new();
    let mut put = |f: Field, name: A, v: Option<String>, default: &str| {
        if !wanted(f) {
            return;
        }
        match v {
            Some(v) => {
                out.insert(name, v);
            }
            None if reset => {
                out.insert(name, default.to_string());
            }
            None => {}
        }
    };
    let num = |v: Option<i64>| v.map(|n| n.to_string());
    put(
        Field::VisibilityTimeout,
        A::VisibilityTimeout,
        num(p.visibility_timeout),
        "30",
    );
    put(
        Field::MessageRetention,
        A::MessageRetentionPeriod,
        num(p.message_retention_seconds),
        "345600",
    );
    put(
        Field::DelaySeconds,
        A::DelaySeconds,
        num(p.delay_seconds),
        "0",
    );
    put(
        Field::ReceiveWait,
        A::ReceiveMessageWaitTimeSeconds,
        num(p.receive_wait_time_seconds),
        "0",
    );
    // A KMS key and SQS-managed SSE exclude each other: with a key, the
    // managed-SSE default is left alone.
    if p.sqs_managed_sse.is_some() || p.kms_master_key_id.is_none() {
        put(
            Field::ManagedSse,
            A::SqsManagedSseEnabled,
            p.sqs_managed_sse.map(|b| b.to_string()),
            "true",
        );
    }
    put(
        Field::KmsKey,
        A::KmsMasterKeyId,
        p.kms_master_key_id.clone(),
        "",
    );
    put(
        Field::Redrive,
        A::RedrivePolicy,
        p.redrive_policy.as_ref().map(|r| {
            json!({
                "deadLetterTargetArn": r.dead_letter_target_arn,
                "maxReceiveCount": r.max_receive_count,
            })
            .to_string()
        }),
        "",
    );
    out
}

/// The properties SQS reports in its attributes.
fn props_of(attrs: &HashMap<A, String>) -> Props {
    let int = |a: A| attrs.get(&a).and_then(|v| v.parse::<i64>().ok());
    let redrive_policy = attrs
        .get(&A::RedrivePolicy)
        .filter(|d| !d.is_empty())
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .map(|d| RedrivePolicy {
            dead_letter_target_arn: d["deadLetterTargetArn"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            // SQS gives the count as text or as a number.
            max_receive_count: match &d["maxReceiveCount"] {
                Value::String(s) => s.parse().unwrap_or_default(),
                v => v.as_i64().unwrap_or_default(),
            },
        });
    Props {
        visibility_timeout: int(A::VisibilityTimeout),
        message_retention_seconds: int(A::MessageRetentionPeriod),
        delay_seconds: int(A::DelaySeconds),
        receive_wait_time_seconds: int(A::ReceiveMessageWaitTimeSeconds),
        sqs_managed_sse: attrs.get(&A::SqsManagedSseEnabled).map(|v| v == "true"),
        kms_master_key_id: attrs
            .get(&A::KmsMasterKeyId)
            .filter(|k| !k.is_empty())
            .cloned(),
        redrive_policy,
    }
}

fn applied(url: &str, attrs: &HashMap<A, String>) -> Applied {
    let arn = attrs.get(&A::QueueArn).cloned().unwrap_or_default();
    let name = match arn.rsplit(':').next() {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => url.rsplit('/').next().unwrap_or_default().to_string(),
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

/// The queue's URL: the saved one, else found by its name.
async fn url(c: &Clients, cur: &ResourceState) -> ProviderResult<Option<String>> {
    match (&cur.physical_id, saved_name(cur)) {
        (Some(u), _) => Ok(Some(u.clone())),
        (None, Some(n)) => url_of(c, &n).await,
        (None, None) => Ok(None),
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

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    if let Some(url) = url_of(c, &name).await? {
        // An earlier create got this far: bring its attributes in line.
        set_attrs(c, &url, attributes(p, None)).await?;
        return finish(c, &url).await;
    }
    // A queue of this name deleted less than 60 s ago cannot be created yet.
    let backoff = Backoff {
        first: Duration::from_secs(5),
        limit: Duration::from_secs(75),
    };
    let recently_deleted =
        |e: &_| error::code(e).is_some_and(|c: &str| c.ends_with("QueueDeletedRecently"));
    let out = retry_while(backoff, recently_deleted, || {
        c.sqs
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(attributes(p, None)))
            .set_tags(Some(r.tags.clone().into_iter().collect()))
            .send()
    })
    .await
    .map_err(|e| error::aws("sqs:CreateQueue", e))?;
    finish(c, out.queue_url().unwrap_or_default()).await
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(url) = url(c, cur).await? else {
        return Ok(None);
    };
    let Some(attrs) = get_attrs(c, &url).await? else {
        return Ok(None);
    };
    Ok(Some(Read {
        applied: applied(&url, &attrs),
        props: props_of(&attrs),
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let url = url(c, cur)
        .await?
        .ok_or_else(|| ProviderError::failed(format!("{}: queue not found", r.id)))?;
    let fields: Vec<Field> = FIELDS
        .iter()
        .filter(|(_, name)| changed.iter().any(|c| c == name))
        .map(|(f, _)| *f)
        .collect();
    set_attrs(c, &url, attributes(p, Some(&fields))).await?;
    if changed.iter().any(|p| p == "tags") {
        crate::retag::sqs(c, &url, &cur.tags, &r.tags).await?;
    }
    finish(c, &url).await
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some(url) = url(c, cur).await? else {
        return Ok(());
    };
    match c.sqs.delete_queue().queue_url(&url).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("sqs:DeleteQueue", e)),
    }
}
