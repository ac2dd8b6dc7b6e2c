//! rds.db_parameter_group: named by its (lowercase) physical name, tags at
//! CreateDBParameterGroup; a repeated create adopts the group with that name.
//!
//! Only the parameters the blueprint names are managed: they are set with
//! ModifyDBParameterGroup, read back as the group's user-set parameters
//! (DescribeDBParameters with Source=user), and those taken out of the
//! blueprint go back to the family's defaults (ResetDBParameterGroup).
//! Dynamic parameters apply at once; RDS refuses `immediate` for static ones,
//! which are sent `pending-reboot` and apply at the instances' next reboot.

use super::rds_tags;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::saved_name;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_rds::types::{ApplyMethod, DbParameterGroup, Parameter};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub family: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<IndexMap<String, String>>,
}

/// ModifyDBParameterGroup and ResetDBParameterGroup take at most 20
/// parameters a call.
const PER_CALL: usize = 20;

fn applied(name: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("name".into(), Value::from(name));
    Applied {
        physical_id: name.to_string(),
        attributes,
    }
}

async fn get(c: &Clients, name: &str) -> ProviderResult<Option<DbParameterGroup>> {
    match c
        .rds
        .describe_db_parameter_groups()
        .db_parameter_group_name(name)
        .send()
        .await
    {
        // AWS answers DBParameterGroupNotFound for a missing group; moto
        // (5.2.5) an empty list.
        Ok(o) => Ok(o
            .db_parameter_groups()
            .iter()
            .find(|g| g.db_parameter_group_name() == Some(name))
            .cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("rds:DescribeDBParameterGroups", e)),
    }
}

/// The group's parameters, name -> (value, apply type); only those set on
/// the group (`source` "user") or all of them.
async fn parameters(
    c: &Clients,
    name: &str,
    source: Option<&str>,
) -> ProviderResult<Vec<(String, Option<String>, Option<String>)>> {
    let mut out = Vec::new();
    let mut pages = c
        .rds
        .describe_db_parameters()
        .db_parameter_group_name(name)
        .set_source(source.map(str::to_string))
        .into_paginator()
        .send();
    while let Some(p) = pages.next().await {
        let p = p.map_err(|e| error::aws("rds:DescribeDBParameters", e))?;
        for x in p.parameters() {
            // moto ignores the Source filter and reports no source; it keeps
            // only the parameters that were set, which is what "user" means.
            if source.is_some_and(|s| x.source().is_some_and(|have| have != s)) {
                continue;
            }
            if let Some(n) = x.parameter_name() {
                out.push((
                    n.to_string(),
                    x.parameter_value().map(str::to_string),
                    x.apply_type().map(str::to_string),
                ));
            }
        }
    }
    Ok(out)
}

/// How each parameter of `names` can be applied: `immediate` unless the
/// family declares it static.
async fn apply_methods(
    c: &Clients,
    name: &str,
    names: &[&str],
) -> ProviderResult<HashMap<String, ApplyMethod>> {
    let types: HashMap<String, String> = parameters(c, name, None)
        .await?
        .into_iter()
        .filter_map(|(n, _, t)| Some((n, t?)))
        .collect();
    Ok(names
        .iter()
        .map(|n| {
            let m = match types.get(*n).map(String::as_str) {
                Some("static") => ApplyMethod::PendingReboot,
                _ => ApplyMethod::Immediate,
            };
            (n.to_string(), m)
        })
        .collect())
}

/// Sets `set` (name -> value) on the group.
async fn modify(c: &Clients, name: &str, set: &[(&str, &str)]) -> ProviderResult<()> {
    if set.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = set.iter().map(|(n, _)| *n).collect();
    let methods = apply_methods(c, name, &names).await?;
    for chunk in set.chunks(PER_CALL) {
        let params = chunk
            .iter()
            .map(|(n, v)| {
                Parameter::builder()
                    .parameter_name(*n)
                    .parameter_value(*v)
                    .apply_method(methods[*n].clone())
                    .build()
            })
            .collect();
        c.rds
            .modify_db_parameter_group()
            .db_parameter_group_name(name)
            .set_parameters(Some(params))
            .send()
            .await
            .map_err(|e| error::aws("rds:ModifyDBParameterGroup", e))?;
    }
    Ok(())
}

/// Puts `names` back to the family's defaults.
async fn reset(c: &Clients, name: &str, names: &[&str]) -> ProviderResult<()> {
    if names.is_empty() {
        return Ok(());
    }
    let methods = apply_methods(c, name, names).await?;
    for chunk in names.chunks(PER_CALL) {
        let params = chunk
            .iter()
            .map(|n| {
                Parameter::builder()
                    .parameter_name(*n)
                    .apply_method(methods[*n].clone())
                    .build()
            })
            .collect();
        match c
            .rds
            .reset_db_parameter_group()
            .db_parameter_group_name(name)
            .set_parameters(Some(params))
            .send()
            .await
        {
            Ok(_) => {}
            // moto 5.2.5 has no ResetDBParameterGroup: it answers an HTML
            // 500 page, never an AWS error document. AWS always sends one,
            // so this reports that endpoint gap, not a failure of AWS.
            Err(e) if error::code(&e).is_none() && error::status(&e).is_some_and(|s| s >= 500) => {
                return Err(ProviderError::Unsupported {
                    operation: "rds:ResetDBParameterGroup".into(),
                    message: format!(
                        "the endpoint answered HTTP {} without an AWS error",
                        error::status(&e).unwrap_or_default()
                    ),
                });
            }
            Err(e) => return Err(error::aws("rds:ResetDBParameterGroup", e)),
        }
    }
    Ok(())
}

/// Makes the group's user-set parameters `want`: changed or new ones set,
/// the others reset.
async fn converge(
    c: &Clients,
    name: &str,
    want: Option<&IndexMap<String, String>>,
) -> ProviderResult<()> {
    let empty = IndexMap::new();
    let want = want.unwrap_or(&empty);
    let have: HashMap<String, Option<String>> = parameters(c, name, Some("user"))
        .await?
        .into_iter()
        .map(|(n, v, _)| (n, v))
        .collect();
    let set: Vec<(&str, &str)> = want
        .iter()
        .filter(|(n, v)| have.get(*n).and_then(Option::as_deref) != Some(v.as_str()))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut gone: Vec<&str> = have
        .keys()
        .filter(|n| !want.contains_key(*n))
        .map(String::as_str)
        .collect();
    gone.sort_unstable();
    modify(c, name, &set).await?;
    reset(c, name, &gone).await
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let name = r.physical_name.clone().ok_or_else(|| {
        ProviderError::Invalid("rds.db_parameter_group needs a physical name".into())
    })?;
    if get(c, &name).await?.is_none() {
        let res = c
            .rds
            .create_db_parameter_group()
            .db_parameter_group_name(&name)
            .db_parameter_group_family(&p.family)
            .description(&p.description)
            .set_tags(rds_tags::tags(&r.tags))
            .send()
            .await;
        match res {
            Ok(_) => {}
            Err(e) if error::code(&e) == Some("DBParameterGroupAlreadyExists") => {}
            Err(e) => return Err(error::aws("rds:CreateDBParameterGroup", e)),
        }
    }
    // Also on adoption: a run cut off between the create and the modify
    // left a group without its parameters.
    if let Some(want) = p.parameters.as_ref().filter(|w| !w.is_empty()) {
        let set: Vec<(&str, &str)> = want.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        modify(c, &name, &set).await?;
    }
    Ok(applied(&name))
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
    let Some(g) = get(c, &name).await? else {
        return Ok(None);
    };
    let mut set: Vec<(String, String)> = parameters(c, &name, Some("user"))
        .await?
        .into_iter()
        .map(|(n, v, _)| (n, v.unwrap_or_default()))
        .collect();
    // In the applied order, then by name.
    let order = |n: &str| {
        hint.and_then(|h| h.parameters.as_ref())
            .and_then(|m| m.get_index_of(n))
            .unwrap_or(usize::MAX)
    };
    set.sort_by(|a, b| order(&a.0).cmp(&order(&b.0)).then_with(|| a.0.cmp(&b.0)));
    Ok(Some(Read {
        applied: applied(&name),
        props: Props {
            family: g
                .db_parameter_group_family()
                .unwrap_or_default()
                .to_string(),
            description: g.description().unwrap_or_default().to_string(),
            parameters: (!set.is_empty()).then(|| set.into_iter().collect()),
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
    let name = saved_name(cur)
        .ok_or_else(|| ProviderError::failed("the DB parameter group has no name in state"))?;
    let has = |p: &str| changed.iter().any(|c| c == p);
    let g = get(c, &name)
        .await?
        .ok_or_else(|| ProviderError::failed("the DB parameter group no longer exists"))?;
    if has("parameters") {
        converge(c, &name, p.parameters.as_ref()).await?;
    }
    if has("tags") {
        crate::retag::rds(
            c,
            g.db_parameter_group_arn().unwrap_or_default(),
            &cur.tags,
            &r.tags,
        )
        .await?;
    }
    Ok(applied(&name))
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
    match c
        .rds
        .delete_db_parameter_group()
        .db_parameter_group_name(&name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("rds:DeleteDBParameterGroup", e)),
    }
}
