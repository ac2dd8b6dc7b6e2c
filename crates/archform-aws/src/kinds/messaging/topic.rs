//! sns.topic: CreateTopic with DisplayName, KmsMasterKeyId and tags in one
//! call. The ARN follows from the name and account, so an existing topic is
//! looked up by GetTopicAttributes on that ARN first.

use crate::clients::Clients;
use crate::error;
use crate::kinds::security::{managed, removed_tags};
use crate::support::{arn_partition, name_of, saved_name};
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_sns::types::Tag;
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::HashMap;

const ATTRS: &[(&str, &str)] = &[
    ("display_name", "DisplayName"),
    ("kms_master_key_id", "KmsMasterKeyId"),
];

fn applied(arn: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn));
    attributes.insert(
        "name".into(),
        Value::from(arn.rsplit(':').next().unwrap_or_default()),
    );
    Applied {
        physical_id: arn.to_string(),
        attributes,
    }
}

pub(super) fn tags(t: &IndexMap<String, String>) -> ProviderResult<Vec<Tag>> {
    t.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::Invalid(format!("tag {k}: {e}")))
        })
        .collect()
}

async fn attributes(c: &Clients, arn: &str) -> ProviderResult<Option<HashMap<String, String>>> {
    match c.sns.get_topic_attributes().topic_arn(arn).send().await {
        Ok(o) => Ok(Some(o.attributes().cloned().unwrap_or_default())),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("sns:GetTopicAttributes", e)),
    }
}

/// The ARN a topic of this name has in the caller's account and region.
async fn arn_for(c: &Clients, name: &str) -> ProviderResult<String> {
    let id = c
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| error::aws("sts:GetCallerIdentity", e))?;
    let caller = id.arn().unwrap_or("arn:aws:");
    let region = c.region.clone().unwrap_or_default();
    Ok(format!(
        "arn:{}:sns:{region}:{}:{name}",
        arn_partition(caller),
        id.account().unwrap_or_default()
    ))
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    let arn = arn_for(c, &name).await?;
    if attributes(c, &arn).await?.is_some() {
        return Ok(applied(&arn));
    }
    let attrs: HashMap<String, String> = ATTRS
        .iter()
        .filter_map(|(p, a)| Some((a.to_string(), r.str(p)?.to_string())))
        .collect();
    let out = c
        .sns
        .create_topic()
        .name(&name)
        .set_attributes(Some(attrs))
        .set_tags(Some(tags(&r.tags)?))
        .send()
        .await
        .map_err(|e| error::aws("sns:CreateTopic", e))?;
    Ok(applied(out.topic_arn().unwrap_or(&arn)))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let arn = match cur.physical_id.clone() {
        Some(a) => a,
        None => match saved_name(cur) {
            Some(n) => arn_for(c, &n).await?,
            None => return Ok(None),
        },
    };
    let Some(attrs) = attributes(c, &arn).await? else {
        return Ok(None);
    };
    let mut props = serde_json::Map::new();
    for (p, a) in ATTRS {
        if let Some(v) = attrs.get(*a).filter(|v| !v.is_empty()) {
            props.insert(p.to_string(), Value::from(v.clone()));
        }
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
    let arn = match cur.physical_id.clone() {
        Some(a) => a,
        None => arn_for(c, &name_of(r)?).await?,
    };
    for (p, a) in ATTRS {
        if changed.iter().any(|c| c == p) {
            c.sns
                .set_topic_attributes()
                .topic_arn(&arn)
                .attribute_name(*a)
                .attribute_value(r.str(p).unwrap_or_default())
                .send()
                .await
                .map_err(|e| error::aws("sns:SetTopicAttributes", e))?;
        }
    }
    if changed.iter().any(|p| p == "tags") {
        let gone = removed_tags(&cur.tags, &r.tags);
        if !gone.is_empty() {
            c.sns
                .untag_resource()
                .resource_arn(&arn)
                .set_tag_keys(Some(gone))
                .send()
                .await
                .map_err(|e| error::aws("sns:UntagResource", e))?;
        }
        if !r.tags.is_empty() {
            c.sns
                .tag_resource()
                .resource_arn(&arn)
                .set_tags(Some(tags(&r.tags)?))
                .send()
                .await
                .map_err(|e| error::aws("sns:TagResource", e))?;
        }
    }
    Ok(applied(&arn))
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let arn = match cur.physical_id.clone() {
        Some(a) => a,
        None => match saved_name(cur) {
            Some(n) => arn_for(c, &n).await?,
            None => return Ok(()),
        },
    };
    match c.sns.delete_topic().topic_arn(&arn).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("sns:DeleteTopic", e)),
    }
}
