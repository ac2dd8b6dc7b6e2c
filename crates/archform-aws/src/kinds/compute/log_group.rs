//! logs.log_group: CreateLogGroup with tags and KMS key, retention through
//! PutRetentionPolicy. The name is the physical name; the exported `arn`
//! ends in `:*`, as CloudFormation's `Arn` attribute does.

use crate::clients::Clients;
use crate::error;
use crate::kinds::security::{managed, removed_tags};
use crate::support::{name_of, saved_name};
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_cloudwatchlogs::types::LogGroup;
use indexmap::IndexMap;
use serde_json::Value;

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

async fn find(c: &Clients, name: &str) -> ProviderResult<Option<LogGroup>> {
    let mut token = None;
    loop {
        let out = match c
            .logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if error::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(error::aws("logs:DescribeLogGroups", e)),
        };
        if let Some(g) = out
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
        {
            return Ok(Some(g.clone()));
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(None);
        }
    }
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

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    if find(c, &name).await?.is_none() {
        let made = c
            .logs
            .create_log_group()
            .log_group_name(&name)
            .set_kms_key_id(r.str("kms_key_id").map(str::to_string))
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
    if let Some(days) = r.int("retention_in_days") {
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
) -> ProviderResult<Option<Observed>> {
    let Some(name) = saved_name(cur) else {
        return Ok(None);
    };
    let Some(g) = find(c, &name).await? else {
        return Ok(None);
    };
    let mut props = serde_json::Map::new();
    if let Some(d) = g.retention_in_days() {
        props.insert("retention_in_days".into(), Value::from(d));
    }
    if let Some(k) = g.kms_key_id() {
        props.insert("kms_key_id".into(), Value::from(k));
    }
    Ok(Some(Observed {
        applied: applied(&g),
        properties: managed(cur, props),
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let name = saved_name(cur).map_or_else(|| name_of(r), Ok)?;
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("retention_in_days") {
        set_retention(c, &name, r.int("retention_in_days")).await?;
    }
    if has("kms_key_id") {
        match r.str("kms_key_id") {
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
        let resource = full.trim_end_matches(":*").to_string();
        let gone = removed_tags(&cur.tags, &r.tags);
        if !gone.is_empty() {
            c.logs
                .untag_resource()
                .resource_arn(&resource)
                .set_tag_keys(Some(gone))
                .send()
                .await
                .map_err(|e| error::aws("logs:UntagResource", e))?;
        }
        if !r.tags.is_empty() {
            c.logs
                .tag_resource()
                .resource_arn(&resource)
                .set_tags(Some(r.tags.clone().into_iter().collect()))
                .send()
                .await
                .map_err(|e| error::aws("logs:TagResource", e))?;
        }
    }
    Ok(applied(&g))
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some(name) = saved_name(cur) else {
        return Ok(());
    };
    match c.logs.delete_log_group().log_group_name(&name).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("logs:DeleteLogGroup", e)),
    }
}
