//! iam.role: CreateRole with its trust policy and tags, inline policies
//! through PutRolePolicy, managed policies through AttachRolePolicy.

use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::{doc_text, name_of, parse_doc, same_set_of, saved_name};
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_iam::types::{Role, Tag};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub assume_role_policy: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<InlinePolicy>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_policy_arns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InlinePolicy {
    pub name: String,
    pub document: Value,
}

fn applied(role: &Role) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(role.arn()));
    attributes.insert("name".into(), Value::from(role.role_name()));
    attributes.insert("role_id".into(), Value::from(role.role_id()));
    Applied {
        physical_id: role.role_name().to_string(),
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

async fn get(c: &Clients, name: &str) -> ProviderResult<Option<Role>> {
    match c.iam.get_role().role_name(name).send().await {
        Ok(o) => Ok(o.role().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("iam:GetRole", e)),
    }
}

/// A policy document in the form it is compared in: parsed JSON, also
/// when the blueprint gave it as text.
fn canon_doc(doc: &Value) -> Value {
    parse_doc(&doc_text(doc))
}

/// A document read from IAM, in the applied form when it is the same.
fn doc_form(read: Value, applied: Option<&Value>) -> Value {
    match applied {
        Some(a) if canon_doc(a) == read => a.clone(),
        _ => read,
    }
}

/// An inline policy in the form it is compared in.
fn canon_policy(p: &Value) -> Value {
    let mut p = p.clone();
    if let Some(d) = p.get_mut("document") {
        *d = canon_doc(d);
    }
    p
}

async fn inline_names(c: &Clients, name: &str) -> ProviderResult<Vec<String>> {
    c.iam
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| error::aws("iam:ListRolePolicies", e))
}

async fn attached_arns(c: &Clients, name: &str) -> ProviderResult<Vec<String>> {
    let attached = c
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| error::aws("iam:ListAttachedRolePolicies", e))?;
    Ok(attached
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect())
}

/// The role's inline policies, each with its document.
async fn inline_policies(c: &Clients, name: &str) -> ProviderResult<Vec<InlinePolicy>> {
    let mut policies = Vec::new();
    for pname in inline_names(c, name).await? {
        let out = match c
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(&pname)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if error::is_not_found(&e) => continue,
            Err(e) => return Err(error::aws("iam:GetRolePolicy", e)),
        };
        policies.push(InlinePolicy {
            name: pname,
            document: parse_doc(out.policy_document()),
        });
    }
    Ok(policies)
}

/// Puts every desired inline policy and deletes the others.
async fn sync_policies(c: &Clients, name: &str, p: &Props, fresh: bool) -> ProviderResult<()> {
    let want: IndexMap<&str, String> = p
        .policies
        .iter()
        .flatten()
        .map(|p| (p.name.as_str(), doc_text(&p.document)))
        .collect();
    if !fresh {
        for old in inline_names(c, name).await? {
            if !want.contains_key(old.as_str()) {
                match c
                    .iam
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(&old)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if error::is_not_found(&e) => {}
                    Err(e) => return Err(error::aws("iam:DeleteRolePolicy", e)),
                }
            }
        }
    }
    for (pname, doc) in &want {
        c.iam
            .put_role_policy()
            .role_name(name)
            .policy_name(*pname)
            .policy_document(doc)
            .send()
            .await
            .map_err(|e| error::aws("iam:PutRolePolicy", e))?;
    }
    Ok(())
}

/// Attaches every desired managed policy and detaches the others.
async fn sync_managed(c: &Clients, name: &str, p: &Props, fresh: bool) -> ProviderResult<()> {
    let want = p.managed_policy_arns.clone().unwrap_or_default();
    let have = if fresh {
        Vec::new()
    } else {
        attached_arns(c, name).await?
    };
    for old in have.iter().filter(|a| !want.contains(a)) {
        match c
            .iam
            .detach_role_policy()
            .role_name(name)
            .policy_arn(old)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if error::is_not_found(&e) => {}
            Err(e) => return Err(error::aws("iam:DetachRolePolicy", e)),
        }
    }
    for arn in want.iter().filter(|a| !have.contains(a)) {
        c.iam
            .attach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| error::aws("iam:AttachRolePolicy", e))?;
    }
    Ok(())
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    let trust = doc_text(&p.assume_role_policy);
    if let Some(role) = get(c, &name).await? {
        // An earlier create got this far: bring the rest in line.
        c.iam
            .update_assume_role_policy()
            .role_name(&name)
            .policy_document(&trust)
            .send()
            .await
            .map_err(|e| error::aws("iam:UpdateAssumeRolePolicy", e))?;
        sync_policies(c, &name, p, false).await?;
        sync_managed(c, &name, p, false).await?;
        return Ok(applied(&role));
    }
    let role = c
        .iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(&trust)
        .set_description(p.description.clone())
        .set_tags(Some(tags(&r.tags)?))
        .send()
        .await
        .map_err(|e| error::aws("iam:CreateRole", e))?
        .role()
        .cloned()
        .ok_or_else(|| ProviderError::failed("iam:CreateRole answered without a role"))?;
    sync_policies(c, &name, p, true).await?;
    sync_managed(c, &name, p, true).await?;
    Ok(applied(&role))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(name) = saved_name(cur) else {
        return Ok(None);
    };
    let Some(role) = get(c, &name).await? else {
        return Ok(None);
    };
    // IAM keeps inline and attached policies in an order of its own.
    let policies = same_set_of(
        hint.and_then(|h| h.policies.as_deref()),
        inline_policies(c, &name).await?,
        canon_policy,
    );
    let managed_policy_arns = same_set_of(
        hint.and_then(|h| h.managed_policy_arns.as_deref()),
        attached_arns(c, &name).await?,
        Value::clone,
    );
    let props = Props {
        assume_role_policy: doc_form(
            role.assume_role_policy_document()
                .map_or(Value::Null, parse_doc),
            hint.map(|h| &h.assume_role_policy),
        ),
        policies: Some(policies).filter(|p| !p.is_empty()),
        managed_policy_arns: Some(managed_policy_arns).filter(|a| !a.is_empty()),
        description: role
            .description()
            .filter(|d| !d.is_empty())
            .map(String::from),
    };
    Ok(Some(Read {
        applied: applied(&role),
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
    let name = saved_name(cur).map_or_else(|| name_of(r), Ok)?;
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("assume_role_policy") {
        c.iam
            .update_assume_role_policy()
            .role_name(&name)
            .policy_document(doc_text(&p.assume_role_policy))
            .send()
            .await
            .map_err(|e| error::aws("iam:UpdateAssumeRolePolicy", e))?;
    }
    if has("policies") {
        sync_policies(c, &name, p, false).await?;
    }
    if has("managed_policy_arns") {
        sync_managed(c, &name, p, false).await?;
    }
    if has("description") {
        c.iam
            .update_role()
            .role_name(&name)
            .description(p.description.as_deref().unwrap_or_default())
            .send()
            .await
            .map_err(|e| error::aws("iam:UpdateRole", e))?;
    }
    if has("tags") {
        crate::retag::iam_role(c, &name, &cur.tags, &r.tags).await?;
    }
    match get(c, &name).await? {
        Some(role) => Ok(applied(&role)),
        None => Err(ProviderError::failed(format!(
            "iam role {name} disappeared during update"
        ))),
    }
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
    // DeleteRole refuses a role that still has inline or attached policies.
    let inline = match inline_names(c, &name).await {
        Ok(n) => n,
        Err(_) if get(c, &name).await?.is_none() => return Ok(()),
        Err(e) => return Err(e),
    };
    for pname in inline {
        match c
            .iam
            .delete_role_policy()
            .role_name(&name)
            .policy_name(&pname)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if error::is_not_found(&e) => {}
            Err(e) => return Err(error::aws("iam:DeleteRolePolicy", e)),
        }
    }
    for arn in attached_arns(c, &name).await? {
        match c
            .iam
            .detach_role_policy()
            .role_name(&name)
            .policy_arn(&arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if error::is_not_found(&e) => {}
            Err(e) => return Err(error::aws("iam:DetachRolePolicy", e)),
        }
    }
    match c.iam.delete_role().role_name(&name).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("iam:DeleteRole", e)),
    }
}
