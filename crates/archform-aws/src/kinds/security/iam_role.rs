//! iam.role: CreateRole with its trust policy and tags, inline policies
//! through PutRolePolicy, managed policies through AttachRolePolicy.

use super::{managed, removed_tags};
use crate::clients::Clients;
use crate::error;
use crate::support::{doc_text, name_of, parse_doc, saved_name};
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_iam::types::{Role, Tag};
use indexmap::IndexMap;
use serde_json::{Value, json};

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

/// Desired inline policies: name -> document text.
fn desired_policies(r: &Resolved) -> IndexMap<String, String> {
    r.prop("policies")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    Some((
                        p.get("name")?.as_str()?.to_string(),
                        doc_text(p.get("document")?),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn inline_names(c: &Clients, name: &str) -> ProviderResult<Vec<String>> {
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let out = c
            .iam
            .list_role_policies()
            .role_name(name)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| error::aws("iam:ListRolePolicies", e))?;
        names.extend(out.policy_names().iter().cloned());
        marker = out.marker().map(str::to_string);
        if !out.is_truncated() || marker.is_none() {
            return Ok(names);
        }
    }
}

async fn attached_arns(c: &Clients, name: &str) -> ProviderResult<Vec<String>> {
    let mut arns = Vec::new();
    let mut marker = None;
    loop {
        let out = c
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| error::aws("iam:ListAttachedRolePolicies", e))?;
        arns.extend(
            out.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string)),
        );
        marker = out.marker().map(str::to_string);
        if !out.is_truncated() || marker.is_none() {
            return Ok(arns);
        }
    }
}

/// Puts every desired inline policy and deletes the others.
async fn sync_policies(c: &Clients, name: &str, r: &Resolved, fresh: bool) -> ProviderResult<()> {
    let want = desired_policies(r);
    if !fresh {
        for old in inline_names(c, name).await? {
            if !want.contains_key(&old) {
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
            .policy_name(pname)
            .policy_document(doc)
            .send()
            .await
            .map_err(|e| error::aws("iam:PutRolePolicy", e))?;
    }
    Ok(())
}

/// Attaches every desired managed policy and detaches the others.
async fn sync_managed(c: &Clients, name: &str, r: &Resolved, fresh: bool) -> ProviderResult<()> {
    let want = r.strs("managed_policy_arns");
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

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    let trust = r.prop("assume_role_policy").map(doc_text).ok_or_else(|| {
        ProviderError::Invalid(format!("{}: assume_role_policy is required", r.id))
    })?;
    if let Some(role) = get(c, &name).await? {
        // An earlier create got this far: bring the rest in line.
        c.iam
            .update_assume_role_policy()
            .role_name(&name)
            .policy_document(&trust)
            .send()
            .await
            .map_err(|e| error::aws("iam:UpdateAssumeRolePolicy", e))?;
        sync_policies(c, &name, r, false).await?;
        sync_managed(c, &name, r, false).await?;
        return Ok(applied(&role));
    }
    let role = c
        .iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(&trust)
        .set_description(r.str("description").map(str::to_string))
        .set_tags(Some(tags(&r.tags)?))
        .send()
        .await
        .map_err(|e| error::aws("iam:CreateRole", e))?
        .role()
        .cloned()
        .ok_or_else(|| ProviderError::failed("iam:CreateRole answered without a role"))?;
    sync_policies(c, &name, r, true).await?;
    sync_managed(c, &name, r, true).await?;
    Ok(applied(&role))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some(name) = saved_name(cur) else {
        return Ok(None);
    };
    let Some(role) = get(c, &name).await? else {
        return Ok(None);
    };
    let mut props = serde_json::Map::new();
    if let Some(doc) = role.assume_role_policy_document() {
        props.insert("assume_role_policy".into(), parse_doc(doc));
    }
    let mut policies = Vec::new();
    for pname in inline_names(c, &name).await? {
        let out = match c
            .iam
            .get_role_policy()
            .role_name(&name)
            .policy_name(&pname)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if error::is_not_found(&e) => continue,
            Err(e) => return Err(error::aws("iam:GetRolePolicy", e)),
        };
        policies.push(json!({ "name": pname, "document": parse_doc(out.policy_document()) }));
    }
    props.insert("policies".into(), Value::Array(policies));
    props.insert(
        "managed_policy_arns".into(),
        Value::from(attached_arns(c, &name).await?),
    );
    if let Some(d) = role.description() {
        props.insert("description".into(), Value::from(d));
    }
    Ok(Some(Observed {
        applied: applied(&role),
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
    if has("assume_role_policy") {
        let trust = r
            .prop("assume_role_policy")
            .map(doc_text)
            .unwrap_or_default();
        c.iam
            .update_assume_role_policy()
            .role_name(&name)
            .policy_document(trust)
            .send()
            .await
            .map_err(|e| error::aws("iam:UpdateAssumeRolePolicy", e))?;
    }
    if has("policies") {
        sync_policies(c, &name, r, false).await?;
    }
    if has("managed_policy_arns") {
        sync_managed(c, &name, r, false).await?;
    }
    if has("description") {
        c.iam
            .update_role()
            .role_name(&name)
            .description(r.str("description").unwrap_or_default())
            .send()
            .await
            .map_err(|e| error::aws("iam:UpdateRole", e))?;
    }
    if has("tags") {
        let gone = removed_tags(&cur.tags, &r.tags);
        if !gone.is_empty() {
            c.iam
                .untag_role()
                .role_name(&name)
                .set_tag_keys(Some(gone))
                .send()
                .await
                .map_err(|e| error::aws("iam:UntagRole", e))?;
        }
        if !r.tags.is_empty() {
            c.iam
                .tag_role()
                .role_name(&name)
                .set_tags(Some(tags(&r.tags)?))
                .send()
                .await
                .map_err(|e| error::aws("iam:TagRole", e))?;
        }
    }
    match get(c, &name).await? {
        Some(role) => Ok(applied(&role)),
        None => Err(ProviderError::failed(format!(
            "iam role {name} disappeared during update"
        ))),
    }
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
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
