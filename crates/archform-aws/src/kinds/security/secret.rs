//! secretsmanager.secret: a named secret whose value is generated with
//! GetRandomPassword and stored by CreateSecret (tags at creation). Delete
//! skips the recovery window: names are deterministic and a redeploy must be
//! able to create the same name again at once.

use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::{name_of, saved_name};
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::Tag;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// How the value is generated: write-only, Secrets Manager keeps only
    /// the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<Generate>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Generate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_punctuation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_key: Option<String>,
}

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
async fn generated(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Option<String>> {
    let Some(g) = &p.generate else {
        return Ok(None);
    };
    let out = c
        .secrets
        .get_random_password()
        .set_password_length(g.length)
        .set_exclude_punctuation(g.exclude_punctuation)
        .send()
        .await
        .map_err(|e| error::aws("secretsmanager:GetRandomPassword", e))?;
    let password = out.random_password().unwrap_or_default().to_string();
    match (&g.secret_template, &g.generate_key) {
        (Some(t), Some(k)) => {
            let mut doc: serde_json::Map<String, Value> = serde_json::from_str(t).map_err(|e| {
                ProviderError::Invalid(format!(
                    "{}: generate.secret_template is not a JSON object: {e}",
                    r.id
                ))
            })?;
            doc.insert(k.clone(), Value::from(password));
            Ok(Some(Value::Object(doc).to_string()))
        }
        _ => Ok(Some(password)),
    }
}

/// The key as the blueprint named it, when AWS reports the same key by
/// another name (the alias's or the key's ARN for an alias or a key id).
fn key_form(read: &str, applied: Option<&str>) -> String {
    match applied {
        Some(a)
            if read == a
                || read.ends_with(&format!(":{a}"))
                || read.ends_with(&format!("/{a}")) =>
        {
            a.to_string()
        }
        _ => read.to_string(),
    }
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    if let Some(found) = describe(c, &name).await? {
        return Ok(applied(found.arn().unwrap_or_default()));
    }
    let value = generated(c, r, p).await?;
    let tags: Vec<Tag> = r
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let out = c
        .secrets
        .create_secret()
        .name(&name)
        .set_description(p.description.clone())
        .set_kms_key_id(p.kms_key_id.clone())
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
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(id) = cur.physical_id.clone().or_else(|| saved_name(cur)) else {
        return Ok(None);
    };
    let Some(s) = describe(c, &id).await? else {
        return Ok(None);
    };
    let props = Props {
        description: s.description().filter(|d| !d.is_empty()).map(String::from),
        // Left out for the account's aws/secretsmanager key.
        kms_key_id: s
            .kms_key_id()
            .filter(|k| !k.is_empty())
            .map(|k| key_form(k, hint.and_then(|h| h.kms_key_id.as_deref()))),
        // The generated value is not read back: it is the secret itself.
        generate: None,
    };
    Ok(Some(Read {
        applied: applied(s.arn().unwrap_or_default()),
        props,
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
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
            .description(p.description.as_deref().unwrap_or_default())
            .set_kms_key_id(p.kms_key_id.clone())
            .send()
            .await
            .map_err(|e| error::aws("secretsmanager:UpdateSecret", e))?;
    }
    if has("generate")
        && let Some(value) = generated(c, r, p).await?
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
        crate::retag::secret(c, &id, &cur.tags, &r.tags).await?;
    }
    Ok(applied(&id))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
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
