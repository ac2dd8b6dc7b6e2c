//! lambda.event_source_mapping: an SQS queue feeding a function. An existing
//! mapping of the same function and queue is found with
//! ListEventSourceMappings; the physical id is the mapping's UUID.

use super::function_ref;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::{arn_account, arn_partition};
use crate::wait::{Backoff, retry_while};
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_lambda::types::{EventSourceMappingConfiguration, FunctionResponseType, ScalingConfig};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub function_name: String,
    pub event_source_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_batching_window_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_batch_item_failures: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_concurrency: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

fn applied(uuid: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(uuid));
    Applied {
        physical_id: uuid.to_string(),
        attributes,
    }
}

fn response_types(p: &Props) -> Vec<FunctionResponseType> {
    if p.report_batch_item_failures == Some(true) {
        vec![FunctionResponseType::ReportBatchItemFailures]
    } else {
        vec![]
    }
}

fn scaling(p: &Props) -> Option<ScalingConfig> {
    p.maximum_concurrency.map(|n| {
        ScalingConfig::builder()
            .maximum_concurrency(n as i32)
            .build()
    })
}

/// The properties the mapping holds, its function in the blueprint's form
/// (see [`function_ref`]).
fn props_of(m: &EventSourceMappingConfiguration, hint: Option<&Props>) -> Props {
    Props {
        function_name: function_ref(
            m.function_arn().unwrap_or_default(),
            hint.map(|h| h.function_name.as_str()),
        ),
        event_source_arn: m.event_source_arn().unwrap_or_default().to_string(),
        batch_size: m.batch_size().map(i64::from),
        maximum_batching_window_seconds: m.maximum_batching_window_in_seconds().map(i64::from),
        report_batch_item_failures: Some(
            m.function_response_types()
                .contains(&FunctionResponseType::ReportBatchItemFailures),
        ),
        maximum_concurrency: m
            .scaling_config()
            .and_then(|s| s.maximum_concurrency())
            .map(i64::from),
        enabled: m
            .state()
            .map(|s| matches!(s, "Enabled" | "Enabling" | "Creating" | "Updating")),
    }
}

/// Runs `call` again while the mapping is busy changing state (Creating,
/// Updating): AWS answers ResourceInUseException then. `None` when the
/// mapping does not exist.
async fn when_idle<T, E, F, Fut>(op: &str, call: F) -> ProviderResult<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<
        Output = Result<
            T,
            aws_sdk_lambda::error::SdkError<E, aws_sdk_lambda::config::http::HttpResponse>,
        >,
    >,
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let backoff = Backoff {
        first: Duration::from_millis(500),
        limit: Duration::from_secs(120),
    };
    let busy = |e: &aws_sdk_lambda::error::SdkError<E, _>| {
        error::code(e) == Some("ResourceInUseException")
    };
    match retry_while(backoff, busy, call).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws(op, e)),
    }
}

async fn find(
    c: &Clients,
    function: &str,
    source: &str,
) -> ProviderResult<Option<EventSourceMappingConfiguration>> {
    let mut mappings = c
        .lambda
        .list_event_source_mappings()
        .function_name(function)
        .event_source_arn(source)
        .into_paginator()
        .items()
        .send();
    while let Some(m) = mappings.next().await {
        match m {
            Ok(m) if m.event_source_arn() == Some(source) => return Ok(Some(m)),
            Ok(_) => {}
            Err(e) if error::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(error::aws("lambda:ListEventSourceMappings", e)),
        }
    }
    Ok(None)
}

async fn get(c: &Clients, uuid: &str) -> ProviderResult<Option<EventSourceMappingConfiguration>> {
    match c.lambda.get_event_source_mapping().uuid(uuid).send().await {
        Ok(o) => Ok(Some(
            EventSourceMappingConfiguration::builder()
                .set_uuid(o.uuid().map(String::from))
                .set_function_arn(o.function_arn().map(String::from))
                .set_event_source_arn(o.event_source_arn().map(String::from))
                .set_batch_size(o.batch_size())
                .set_maximum_batching_window_in_seconds(o.maximum_batching_window_in_seconds())
                .set_function_response_types(Some(o.function_response_types().to_vec()))
                .set_scaling_config(o.scaling_config().cloned())
                .set_state(o.state().map(String::from))
                .set_event_source_mapping_arn(o.event_source_mapping_arn().map(String::from))
                .build(),
        )),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("lambda:GetEventSourceMapping", e)),
    }
}

/// Brings an existing mapping to the desired settings (all of them, or the
/// named properties). A property the blueprint no longer sets goes back to
/// Lambda's default (the spec's).
async fn apply(
    c: &Clients,
    uuid: &str,
    r: &Resolved,
    p: &Props,
    only: Option<&[String]>,
) -> ProviderResult<()> {
    let wanted = |name: &str| only.is_none_or(|o| o.iter().any(|c| c == name));
    let props = [
        "function_name",
        "batch_size",
        "maximum_batching_window_seconds",
        "report_batch_item_failures",
        "maximum_concurrency",
        "enabled",
    ];
    if !props.iter().any(|name| wanted(name)) {
        return Ok(());
    }
    when_idle("lambda:UpdateEventSourceMapping", || {
        let mut req = c.lambda.update_event_source_mapping().uuid(uuid);
        if wanted("function_name") {
            req = req.function_name(&p.function_name);
        }
        if wanted("batch_size") {
            req = req.batch_size(p.batch_size.unwrap_or(10) as i32);
        }
        if wanted("maximum_batching_window_seconds") {
            req = req.maximum_batching_window_in_seconds(
                p.maximum_batching_window_seconds.unwrap_or(0) as i32,
            );
        }
        if wanted("report_batch_item_failures") {
            req = req.set_function_response_types(Some(response_types(p)));
        }
        if wanted("maximum_concurrency") {
            // An empty ScalingConfig removes the limit.
            req =
                req.scaling_config(scaling(p).unwrap_or_else(|| ScalingConfig::builder().build()));
        }
        if wanted("enabled") {
            req = req.enabled(p.enabled.unwrap_or(true));
        }
        req.send()
    })
    .await?
    .ok_or_else(|| {
        ProviderError::failed(format!("{}: event source mapping {uuid} not found", r.id))
    })?;
    Ok(())
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let (function, source) = (&p.function_name, &p.event_source_arn);
    if let Some(m) = find(c, function, source).await? {
        let a = applied(m.uuid().unwrap_or_default());
        apply(c, &a.physical_id, r, p, None).await?;
        return Ok(a);
    }
    let out = c
        .lambda
        .create_event_source_mapping()
        .function_name(function)
        .event_source_arn(source)
        .set_batch_size(p.batch_size.map(|v| v as i32))
        .set_maximum_batching_window_in_seconds(p.maximum_batching_window_seconds.map(|v| v as i32))
        .set_function_response_types(Some(response_types(p)).filter(|v| !v.is_empty()))
        .set_scaling_config(scaling(p))
        .set_enabled(p.enabled)
        .set_tags(Some(r.tags.clone().into_iter().collect()))
        .send()
        .await
        .map_err(|e| error::aws("lambda:CreateEventSourceMapping", e))?;
    Ok(applied(out.uuid().unwrap_or_default()))
}

/// The mapping: by its UUID, else (a create cut off before its answer was
/// saved) by the function and queue that were applied.
async fn mapping(
    c: &Clients,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<EventSourceMappingConfiguration>> {
    match (cur.physical_id.as_deref(), hint) {
        (Some(uuid), _) => get(c, uuid).await,
        (None, Some(h)) => find(c, &h.function_name, &h.event_source_arn).await,
        (None, None) => Ok(None),
    }
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(m) = mapping(c, cur, hint).await? else {
        return Ok(None);
    };
    Ok(Some(Read {
        applied: applied(m.uuid().unwrap_or_default()),
        props: props_of(&m, hint),
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let uuid = cur.physical_id.clone().ok_or_else(|| {
        ProviderError::failed(format!(
            "{}: event source mapping has no UUID in state",
            r.id
        ))
    })?;
    apply(c, &uuid, r, p, Some(changed)).await?;
    if changed.iter().any(|p| p == "tags") {
        let m = get(c, &uuid).await?.ok_or_else(|| {
            ProviderError::failed(format!("{}: event source mapping {uuid} not found", r.id))
        })?;
        let fn_arn = m.function_arn().unwrap_or_default();
        let arn = m
            .event_source_mapping_arn()
            .map(String::from)
            .unwrap_or_else(|| {
                let region = c.region.clone().unwrap_or_default();
                format!(
                    "arn:{}:lambda:{region}:{}:event-source-mapping:{uuid}",
                    arn_partition(fn_arn),
                    arn_account(fn_arn)
                )
            });
        crate::retag::lambda(c, &arn, &cur.tags, &r.tags).await?;
    }
    Ok(applied(&uuid))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<()> {
    let uuid = match &cur.physical_id {
        Some(u) => u.clone(),
        None => match mapping(c, cur, hint).await? {
            Some(m) => m.uuid().unwrap_or_default().to_string(),
            None => return Ok(()),
        },
    };
    when_idle("lambda:DeleteEventSourceMapping", || {
        c.lambda.delete_event_source_mapping().uuid(&uuid).send()
    })
    .await?;
    Ok(())
}
