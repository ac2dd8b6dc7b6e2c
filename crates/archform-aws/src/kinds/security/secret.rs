//! secretsmanager.secret: a named secret whose value is generated with
//! GetRandomPassword and stored by CreateSecret (tags at creation). Delete
//! skips the recovery window: names are deterministic and a redeploy must be
//! able to create the same name again at once.

use super::{managed, removed_tags};
use crate::clients::Clients;
use crate::error;
use crate::support::{name_of, saved_name};
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::Tag;
use indexmap::IndexMap;
use serde_json::Value;

fn applied(arn: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn));
    Applied {
        physical_id: arn.to_string(),
        attributes,
    }
}

/// The secret, unless it does not exist or is scheduled for deletion.
async fn describe(c: &Clients, id: &str) -> ProviderResult<Option<DescribeSecretOutput>> {
    match c.secrets.describe_secret().secret_id(id).send().await {
        Ok(o) if o.deleted_date().is_some() => Ok(None),
        Ok(o) => Ok(Some(o)),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("secretsmanager:DescribeSecret", e)),
    }
}

/// The secret's value per `generate`: a random password, or a JSON object
/// (`secret_template`) with the password under `generate_key`.
async fn generated(c: &Clients, r: &Resolved) -> ProviderResult<Option<String>> {
    let Some(g) = r.prop("generate") else {
        return Ok(None);
    };
    let out = c
        .secrets
        .get_random_password()
        .set_password_length(g.get("length").and_then(Value::as_i64))
        .set_exclude_punctuation(g.get("exclude_punctuation").and_then(Value::as_bool))
        .send()
        .await
        .map_err(|e| error::aws("secretsmanager:GetRandomPassword", e))?;
    let password = out.random_password().unwrap_or_default().to_string();
    let template = g.get("secret_template").and_then(Value::as_str);
    let key = g.get("generate_key").and_then(Value::as_str);
    match (template, key) {
        (Some(t), Some(k)) => {
            let mut doc: serde_json::Map<String, Value> = serde_json::from_str(t).map_err(|e| {
                ProviderError::Invalid(format!(
                    "{}: generate.secret_template is not a JSON object: {e}",
                    r.id
                ))
            })?;
            doc.insert(k.to_string(), Value::from(password));
            Ok(Some(Value::Object(doc).to_string()))
        }
        _ => Ok(Some(password)),
    }
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    if let Some(found) = describe(c, &name).await? {
        return Ok(applied(found.arn().unwrap_or_default()));
    }
    let value = generated(c, r).await?;
    let tags: Vec<Tag> = r
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let out = c
        .secrets
        .create_secret()
        .name(&name)
        .set_description(r.str("description").map(str::to_string))
        .set_kms_key_id(r.str("kms_key_id").map(str::to_string))
        .set_secret_string(value)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| error::aws("secretsmanager:CreateSecret", e))?;
    Ok(applied(out.arn().unwrap_or_default()))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some(id) = cur.physical_id.clone().or_else(|| saved_name(cur)) else {
        return Ok(None);
    };
    let Some(s) = describe(c, &id).await? else {
        return Ok(None);
    };
    let mut props = serde_json::Map::new();
    if let Some(d) = s.description() {
        props.insert("description".into(), Value::from(d));
    }
    if let Some(k) = s.kms_key_id() {
        props.insert("kms_key_id".into(), Value::from(k));
    }
    // The generated value is not read back: it is the secret itself.
    if let Some(g) = cur.properties.get("generate") {
        props.insert("generate".into(), g.clone());
    }
    Ok(Some(Observed {
        applied: applied(s.arn().unwrap_or_default()),
        properties: managed(cur, props),
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let id = match cur.physical_id.clone() {
        Some(id) => id,
        None => name_of(r)?,
    };
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("description") || has("kms_key_id") {
        c.secrets
            .update_secret()
            .secret_id(&id)
            .description(r.str("description").unwrap_or_default())
            .set_kms_key_id(r.str("kms_key_id").map(str::to_string))
            .send()
            .await
            .map_err(|e| error::aws("secretsmanager:UpdateSecret", e))?;
    }
    if has("generate")
        && let Some(value) = generated(c, r).await?
    {
        c.secrets
            .put_secret_value()
            .secret_id(&id)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| error::aws("secretsmanager:PutSecretValue", e))?;
    }
    if has("tags") {
        let gone = removed_tags(&cur.tags, &r.tags);
        if !gone.is_empty() {
            c.secrets
                .untag_resource()
                .secret_id(&id)
                .set_tag_keys(Some(gone))
                .send()
                .await
                .map_err(|e| error::aws("secretsmanager:UntagResource", e))?;
        }
        let tags: Vec<Tag> = r
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        if !tags.is_empty() {
            c.secrets
                .tag_resource()
                .secret_id(&id)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| error::aws("secretsmanager:TagResource", e))?;
        }
    }
    Ok(applied(&id))
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some(id) = cur.physical_id.clone().or_else(|| saved_name(cur)) else {
        return Ok(());
    };
    match c
        .secrets
        .delete_secret()
        .secret_id(&id)
        .force_delete_without_recovery(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("secretsmanager:DeleteSecret", e)),
    }
}
