//! logs.log_group: CreateLogGroup with tags and KMS key, retention through
//! PutRetentionPolicy. The name is the physical name; the exported `arn`
//! ends in `:*`, as CloudFormation's `Arn` attribute does.

use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::{name_of, saved_name};
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_cloudwatchlogs::types::LogGroup;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

fn arn(g: &LogGroup) -> String {
    let a = g
        .arn()
        .map(str::to_string)
        .or_else(|| g.log_group_arn().map(|a| format!("{a}:*")))
        .unwrap_or_default();
    if a.ends_with(":*") {
        a
    } else {
        format!("{a}:*")
    }
}

fn applied(g: &LogGroup) -> Applied {
    let name = g.log_group_name().unwrap_or_default().to_string();
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn(g)));
    attributes.insert("name".into(), Value::from(name.clone()));
    Applied {
        physical_id: name,
        attributes,
    }
}

/// The properties CloudWatch Logs reports for the group: no retention
/// means its events never expire.
fn props_of(g: &LogGroup) -> Props {
    Props {
        retention_in_days: g.retention_in_days().map(i64::from),
        kms_key_id: g.kms_key_id().filter(|k| !k.is_empty()).map(String::from),
    }
}

async fn find(c: &Clients, name: &str) -> ProviderResult<Option<LogGroup>> {
    let mut groups = c
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .into_paginator()
        .items()
        .send();
    while let Some(g) = groups.next().await {
        match g {
            Ok(g) if g.log_group_name() == Some(name) => return Ok(Some(g)),
            Ok(_) => {}
            Err(e) if error::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(error::aws("logs:DescribeLogGroups", e)),
        }
    }
    Ok(None)
}

async fn set_retention(c: &Clients, name: &str, days: Option<i64>) -> ProviderResult<()> {
    match days {
        Some(d) => c
            .logs
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(d as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error::aws("logs:PutRetentionPolicy", e)),
        None => c
            .logs
            .delete_retention_policy()
            .log_group_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error::aws("logs:DeleteRetentionPolicy", e)),
    }
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    if find(c, &name).await?.is_none() {
        let made = c
            .logs
            .create_log_group()
            .log_group_name(&name)
            .set_kms_key_id(p.kms_key_id.clone())
            .set_tags(Some(r.tags.clone().into_iter().collect()))
            .send()
            .await;
        match made {
            Ok(_) => {}
            // Created meanwhile by an earlier, cut-off attempt: adopt it.
            Err(e) if error::code(&e) == Some("ResourceAlreadyExistsException") => {}
            Err(e) => return Err(error::aws("logs:CreateLogGroup", e)),
        }
    }
    if let Some(days) = p.retention_in_days {
        set_retention(c, &name, Some(days)).await?;
    }
    let g = find(c, &name).await?.ok_or_else(|| {
        ProviderError::failed(format!("log group {name} not found after CreateLogGroup"))
    })?;
    Ok(applied(&g))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(name) = saved_name(cur) else {
        return Ok(None);
    };
    let Some(g) = find(c, &name).await? else {
        return Ok(None);
    };
    Ok(Some(Read {
        applied: applied(&g),
        props: props_of(&g),
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let name = saved_name(cur).map_or_else(|| name_of(r), Ok)?;
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("retention_in_days") {
        set_retention(c, &name, p.retention_in_days).await?;
    }
    if has("kms_key_id") {
        match &p.kms_key_id {
            Some(k) => c
                .logs
                .associate_kms_key()
                .log_group_name(&name)
                .kms_key_id(k)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::aws("logs:AssociateKmsKey", e))?,
            None => c
                .logs
                .disassociate_kms_key()
                .log_group_name(&name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::aws("logs:DisassociateKmsKey", e))?,
        }
    }
    let g = find(c, &name).await?.ok_or_else(|| {
        ProviderError::failed(format!("log group {name} disappeared during update"))
    })?;
    if has("tags") {
        // TagResource takes the ARN without the trailing `:*`.
        let full = arn(&g);
        crate::retag::logs(c, full.trim_end_matches(":*"), &cur.tags, &r.tags).await?;
    }
    Ok(applied(&g))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some(name) = saved_name(cur) else {
        return Ok(());
    };
    match c.logs.delete_log_group().log_group_name(&name).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("logs:DeleteLogGroup", e)),
    }
}
