//! sns.topic: CreateTopic with DisplayName, KmsMasterKeyId and tags in one
//! call. The ARN follows from the name and account, so an existing topic is
//! looked up by GetTopicAttributes on that ARN first.

use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::{arn_partition, name_of, saved_name};
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_sns::types::Tag;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// The property names and the SNS attributes that hold them.
const ATTRS: &[(&str, &str)] = &[
    ("display_name", "DisplayName"),
    ("kms_master_key_id", "KmsMasterKeyId"),
];

/// The value of the property named `name` (one of [`ATTRS`]).
fn field<'a>(p: &'a Props, name: &str) -> Option<&'a str> {
    match name {
        "display_name" => p.display_name.as_deref(),
        "kms_master_key_id" => p.kms_master_key_id.as_deref(),
        _ => None,
    }
}

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

fn tags(t: &IndexMap<String, String>) -> ProviderResult<Vec<Tag>> {
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

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    let arn = arn_for(c, &name).await?;
    if attributes(c, &arn).await?.is_some() {
        return Ok(applied(&arn));
    }
    let attrs: HashMap<String, String> = ATTRS
        .iter()
        .filter_map(|(n, a)| Some((a.to_string(), field(p, n)?.to_string())))
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
    _hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(arn) = arn_of(c, cur).await? else {
        return Ok(None);
    };
    let Some(attrs) = attributes(c, &arn).await? else {
        return Ok(None);
    };
    let get = |a: &str| attrs.get(a).filter(|v| !v.is_empty()).cloned();
    Ok(Some(Read {
        applied: applied(&arn),
        props: Props {
            kms_master_key_id: get("KmsMasterKeyId"),
            display_name: get("DisplayName"),
        },
    }))
}

/// The topic's ARN: the saved one, else the one its name has.
async fn arn_of(c: &Clients, cur: &ResourceState) -> ProviderResult<Option<String>> {
    match (&cur.physical_id, saved_name(cur)) {
        (Some(a), _) => Ok(Some(a.clone())),
        (None, Some(n)) => Ok(Some(arn_for(c, &n).await?)),
        (None, None) => Ok(None),
    }
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let arn = match cur.physical_id.clone() {
        Some(a) => a,
        None => arn_for(c, &name_of(r)?).await?,
    };
    for (n, a) in ATTRS {
        if changed.iter().any(|c| c == n) {
            c.sns
                .set_topic_attributes()
                .topic_arn(&arn)
                .attribute_name(*a)
                .attribute_value(field(p, n).unwrap_or_default())
                .send()
                .await
                .map_err(|e| error::aws("sns:SetTopicAttributes", e))?;
        }
    }
    if changed.iter().any(|p| p == "tags") {
        crate::retag::sns(c, &arn, &cur.tags, &r.tags).await?;
    }
    Ok(applied(&arn))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some(arn) = arn_of(c, cur).await? else {
        return Ok(());
    };
    match c.sns.delete_topic().topic_arn(&arn).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("sns:DeleteTopic", e)),
    }
}
