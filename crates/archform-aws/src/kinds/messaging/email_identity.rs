//! ses.email_identity: CreateEmailIdentity (SES v2) with its tags in one
//! call. The identity (an address or a domain) is its own name and physical
//! id, so an existing one is looked up by GetEmailIdentity first and adopted:
//! an identity is the account's, verified once, and one that is already
//! there is the one to send from. An adopted identity gets the stack's tags
//! (TagResource), so the inventory finds it as the stack's.

use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::arn_partition;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_sesv2::types::Tag;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub email_identity: String,
}

fn applied(identity: &str, arn: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("name".into(), Value::from(identity));
    attributes.insert("arn".into(), Value::from(arn));
    Applied {
        physical_id: identity.to_string(),
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

/// The ARN the identity has in the caller's account and region (what
/// `ses:SendEmail` is granted on; GetEmailIdentity does not report it).
async fn arn_for(c: &Clients, identity: &str) -> ProviderResult<String> {
    let id = c
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| error::aws("sts:GetCallerIdentity", e))?;
    let caller = id.arn().unwrap_or("arn:aws:");
    let region = c.region.clone().unwrap_or_default();
    Ok(format!(
        "arn:{}:ses:{region}:{}:identity/{identity}",
        arn_partition(caller),
        id.account().unwrap_or_default()
    ))
}

async fn exists(c: &Clients, identity: &str) -> ProviderResult<bool> {
    match c
        .ses
        .get_email_identity()
        .email_identity(identity)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if error::is_not_found(&e) => Ok(false),
        Err(e) => Err(error::aws("ses:GetEmailIdentity", e)),
    }
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let identity = p.email_identity.as_str();
    let arn = arn_for(c, identity).await?;
    if exists(c, identity).await? {
        crate::retag::ses(c, &arn, &IndexMap::new(), &r.tags).await?;
        return Ok(applied(identity, &arn));
    }
    match c
        .ses
        .create_email_identity()
        .email_identity(identity)
        .set_tags(Some(tags(&r.tags)?))
        .send()
        .await
    {
        Ok(_) => {
            // moto keeps no tags given to CreateEmailIdentity (AWS does):
            // set them again, or the inventory would not know it as ours.
            if c.emulator {
                crate::retag::ses(c, &arn, &IndexMap::new(), &r.tags).await?;
            }
            Ok(applied(identity, &arn))
        }
        // Created meanwhile (an earlier attempt whose answer was lost).
        Err(e) if error::has_code(&e, &["AlreadyExistsException"]) => {
            crate::retag::ses(c, &arn, &IndexMap::new(), &r.tags).await?;
            Ok(applied(identity, &arn))
        }
        Err(e) => Err(error::aws("ses:CreateEmailIdentity", e)),
    }
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(identity) = cur
        .physical_id
        .clone()
        .or_else(|| hint.map(|p| p.email_identity.clone()))
    else {
        return Ok(None);
    };
    if !exists(c, &identity).await? {
        return Ok(None);
    }
    let arn = arn_for(c, &identity).await?;
    Ok(Some(Read {
        applied: applied(&identity, &arn),
        props: Props {
            email_identity: identity,
        },
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let identity = cur
        .physical_id
        .clone()
        .unwrap_or_else(|| p.email_identity.clone());
    let arn = arn_for(c, &identity).await?;
    if changed.iter().any(|p| p == "tags") {
        crate::retag::ses(c, &arn, &cur.tags, &r.tags).await?;
    }
    Ok(applied(&identity, &arn))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some(identity) = cur
        .physical_id
        .clone()
        .or_else(|| hint.map(|p| p.email_identity.clone()))
    else {
        return Ok(());
    };
    match c
        .ses
        .delete_email_identity()
        .email_identity(&identity)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("ses:DeleteEmailIdentity", e)),
    }
}
