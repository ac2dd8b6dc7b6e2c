//! lambda.event_source_mapping: an SQS queue feeding a function. An existing
//! mapping of the same function and queue is found with
//! ListEventSourceMappings; the physical id is the mapping's UUID.

use crate::clients::Clients;
use crate::error;
use crate::kinds::security::{managed, removed_tags};
use crate::support::{arn_account, arn_partition};
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_lambda::types::{EventSourceMappingConfiguration, FunctionResponseType, ScalingConfig};
use indexmap::IndexMap;
use serde_json::Value;
use std::future::Future;
use std::time::{Duration, Instant};

fn applied(m: &EventSourceMappingConfiguration) -> Applied {
    let uuid = m.uuid().unwrap_or_default().to_string();
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(uuid.clone()));
    Applied {
        physical_id: uuid,
        attributes,
    }
}

fn response_types(r: &Resolved) -> Vec<FunctionResponseType> {
    if r.bool("report_batch_item_failures") == Some(true) {
        vec![FunctionResponseType::ReportBatchItemFailures]
    } else {
        vec![]
    }
}

fn scaling(r: &Resolved) -> Option<ScalingConfig> {
    r.int("maximum_concurrency").map(|n| {
        ScalingConfig::builder()
            .maximum_concurrency(n as i32)
            .build()
    })
}

/// Runs `call` again while the mapping is busy changing state (Creating,
/// Updating): AWS answers ResourceInUseException then.
async fn when_idle<T, E, F, Fut>(op: &str, mut call: F) -> ProviderResult<Option<T>>
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
    let start = Instant::now();
    let mut delay = Duration::from_millis(500);
    loop {
        match call().await {
            Ok(v) => return Ok(Some(v)),
            Err(e) if error::is_not_found(&e) => return Ok(None),
            Err(e)
                if error::code(&e) == Some("ResourceInUseException")
                    && start.elapsed() + delay < Duration::from_secs(120) =>
            {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(error::aws(op, e)),
        }
    }
}

async fn find(
    c: &Clients,
    function: &str,
    source: &str,
) -> ProviderResult<Option<EventSourceMappingConfiguration>> {
    let mut marker = None;
    loop {
        let out = match c
            .lambda
            .list_event_source_mappings()
            .function_name(function)
            .event_source_arn(source)
            .set_marker(marker)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if error::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(error::aws("lambda:ListEventSourceMappings", e)),
        };
        if let Some(m) = out
            .event_source_mappings()
            .iter()
            .find(|m| m.event_source_arn() == Some(source))
        {
            return Ok(Some(m.clone()));
        }
        marker = out.next_marker().map(String::from);
        if marker.is_none() {
            return Ok(None);
        }
    }
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
/// named properties).
async fn apply(
    c: &Clients,
    uuid: &str,
    r: &Resolved,
    only: Option<&[String]>,
) -> ProviderResult<()> {
    let wanted = |p: &str| only.is_none_or(|o| o.iter().any(|c| c == p));
    let props = [
        "function_name",
        "batch_size",
        "maximum_batching_window_seconds",
        "report_batch_item_failures",
        "maximum_concurrency",
        "enabled",
    ];
    if !props.iter().any(|p| wanted(p)) {
        return Ok(());
    }
    when_idle("lambda:UpdateEventSourceMapping", || {
        let mut req = c.lambda.update_event_source_mapping().uuid(uuid);
        if wanted("function_name") {
            req = req.set_function_name(r.str("function_name").map(String::from));
        }
        if wanted("batch_size") {
            req = req.batch_size(r.int("batch_size").unwrap_or(10) as i32);
        }
        if wanted("maximum_batching_window_seconds") {
            req = req.maximum_batching_window_in_seconds(
                r.int("maximum_batching_window_seconds").unwrap_or(0) as i32,
            );
        }
        if wanted("report_batch_item_failures") {
            req = req.set_function_response_types(Some(response_types(r)));
        }
        if wanted("maximum_concurrency") {
            // An empty ScalingConfig removes the limit.
            req =
                req.scaling_config(scaling(r).unwrap_or_else(|| ScalingConfig::builder().build()));
        }
        if wanted("enabled") {
            req = req.enabled(r.bool("enabled").unwrap_or(true));
        }
        req.send()
    })
    .await?
    .ok_or_else(|| {
        ProviderError::failed(format!("{}: event source mapping {uuid} not found", r.id))
    })?;
    Ok(())
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let field = |p: &str| {
        r.str(p)
            .ok_or_else(|| ProviderError::Invalid(format!("{}: {p} is required", r.id)))
    };
    let (function, source) = (field("function_name")?, field("event_source_arn")?);
    if let Some(m) = find(c, function, source).await? {
        let a = applied(&m);
        apply(c, &a.physical_id, r, None).await?;
        return Ok(a);
    }
    let out = c
        .lambda
        .create_event_source_mapping()
        .function_name(function)
        .event_source_arn(source)
        .set_batch_size(r.int("batch_size").map(|v| v as i32))
        .set_maximum_batching_window_in_seconds(
            r.int("maximum_batching_window_seconds").map(|v| v as i32),
        )
        .set_function_response_types(Some(response_types(r)).filter(|v| !v.is_empty()))
        .set_scaling_config(scaling(r))
        .set_enabled(r.bool("enabled"))
        .set_tags(Some(r.tags.clone().into_iter().collect()))
        .send()
        .await
        .map_err(|e| error::aws("lambda:CreateEventSourceMapping", e))?;
    let uuid = out.uuid().unwrap_or_default().to_string();
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(uuid.clone()));
    Ok(Applied {
        physical_id: uuid,
        attributes,
    })
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let found = match cur.physical_id.as_deref() {
        Some(uuid) => get(c, uuid).await?,
        None => {
            let p = |k: &str| cur.properties[k].as_str().unwrap_or_default().to_string();
            find(c, &p("function_name"), &p("event_source_arn")).await?
        }
    };
    let Some(m) = found else { return Ok(None) };
    let mut props = serde_json::Map::new();
    // AWS answers with the function's ARN; keep the blueprint's name when
    // it names the same function.
    let fn_arn = m.function_arn().unwrap_or_default();
    let fn_prop = match cur.properties["function_name"].as_str() {
        Some(n) if fn_arn == n || fn_arn.ends_with(&format!(":function:{n}")) => Value::from(n),
        _ => Value::from(fn_arn),
    };
    props.insert("function_name".into(), fn_prop);
    if let Some(v) = m.event_source_arn() {
        props.insert("event_source_arn".into(), Value::from(v));
    }
    if let Some(v) = m.batch_size() {
        props.insert("batch_size".into(), Value::from(v));
    }
    if let Some(v) = m.maximum_batching_window_in_seconds() {
        props.insert("maximum_batching_window_seconds".into(), Value::from(v));
    }
    props.insert(
        "report_batch_item_failures".into(),
        Value::from(
            m.function_response_types()
                .contains(&FunctionResponseType::ReportBatchItemFailures),
        ),
    );
    if let Some(n) = m.scaling_config().and_then(|s| s.maximum_concurrency()) {
        props.insert("maximum_concurrency".into(), Value::from(n));
    }
    if let Some(s) = m.state() {
        props.insert(
            "enabled".into(),
            Value::from(matches!(
                s,
                "Enabled" | "Enabling" | "Creating" | "Updating"
            )),
        );
    }
    Ok(Some(Observed {
        applied: applied(&m),
        properties: managed(cur, props),
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let uuid = cur.physical_id.clone().ok_or_else(|| {
        ProviderError::failed(format!(
            "{}: event source mapping has no UUID in state",
            r.id
        ))
    })?;
    apply(c, &uuid, r, Some(changed)).await?;
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
        let gone = removed_tags(&cur.tags, &r.tags);
        if !gone.is_empty() {
            c.lambda
                .untag_resource()
                .resource(&arn)
                .set_tag_keys(Some(gone))
                .send()
                .await
                .map_err(|e| error::aws("lambda:UntagResource", e))?;
        }
        if !r.tags.is_empty() {
            c.lambda
                .tag_resource()
                .resource(&arn)
                .set_tags(Some(r.tags.clone().into_iter().collect()))
                .send()
                .await
                .map_err(|e| error::aws("lambda:TagResource", e))?;
        }
    }
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(uuid.clone()));
    Ok(Applied {
        physical_id: uuid,
        attributes,
    })
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let uuid = match cur.physical_id.clone() {
        Some(u) => u,
        None => {
            let p = |k: &str| cur.properties[k].as_str().unwrap_or_default().to_string();
            match find(c, &p("function_name"), &p("event_source_arn")).await? {
                Some(m) => m.uuid().unwrap_or_default().to_string(),
                None => return Ok(()),
            }
        }
    };
    when_idle("lambda:DeleteEventSourceMapping", || {
        c.lambda.delete_event_source_mapping().uuid(&uuid).send()
    })
    .await?;
    Ok(())
}
