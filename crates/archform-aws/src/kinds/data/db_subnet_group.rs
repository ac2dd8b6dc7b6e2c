//! rds.db_subnet_group: named by its (lowercase) physical name, tags at
//! CreateDBSubnetGroup; a repeated create adopts the group with that name.

use super::rds_tags;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::{same_set_of, saved_name};
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_rds::types::DbSubnetGroup;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub subnet_ids: Vec<String>,
    pub description: String,
}

fn applied(name: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("name".into(), Value::from(name));
    Applied {
        physical_id: name.to_string(),
        attributes,
    }
}

async fn get(c: &Clients, name: &str) -> ProviderResult<Option<DbSubnetGroup>> {
    match c
        .rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(name)
        .send()
        .await
    {
        Ok(o) => Ok(o.db_subnet_groups().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("rds:DescribeDBSubnetGroups", e)),
    }
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let name = r.physical_name.clone().ok_or_else(|| {
        ProviderError::Invalid("rds.db_subnet_group needs a physical name".into())
    })?;
    if get(c, &name).await?.is_none() {
        c.rds
            .create_db_subnet_group()
            .db_subnet_group_name(&name)
            .db_subnet_group_description(&p.description)
            .set_subnet_ids(Some(p.subnet_ids.clone()))
            .set_tags(rds_tags::tags(&r.tags))
            .send()
            .await
            .map_err(|e| error::aws("rds:CreateDBSubnetGroup", e))?;
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
    let subnets: Vec<String> = g
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .map(str::to_string)
        .collect();
    // AWS does not keep the given order; report it in the applied order.
    let subnet_ids = same_set_of(hint.map(|h| h.subnet_ids.as_slice()), subnets, Value::clone);
    Ok(Some(Read {
        applied: applied(&name),
        props: Props {
            subnet_ids,
            description: g
                .db_subnet_group_description()
                .unwrap_or_default()
                .to_string(),
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
        .ok_or_else(|| ProviderError::failed("the DB subnet group has no name in state"))?;
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("subnet_ids") || has("description") {
        c.rds
            .modify_db_subnet_group()
            .db_subnet_group_name(&name)
            .db_subnet_group_description(&p.description)
            .set_subnet_ids(Some(p.subnet_ids.clone()))
            .send()
            .await
            .map_err(|e| error::aws("rds:ModifyDBSubnetGroup", e))?;
        // moto 5.2.5 drops the group from its store on modify (it pops it
        // and never puts it back). AWS never answers success and loses the
        // group, so this only reports that endpoint gap, visibly.
        if get(c, &name).await?.is_none() {
            return Err(ProviderError::Unsupported {
                operation: "rds:ModifyDBSubnetGroup".into(),
                message: "the endpoint lost the DB subnet group after modifying it".into(),
            });
        }
    }
    if has("tags") {
        let g = get(c, &name)
            .await?
            .ok_or_else(|| ProviderError::failed("the DB subnet group no longer exists"))?;
        crate::retag::rds(
            c,
            g.db_subnet_group_arn().unwrap_or_default(),
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
        .delete_db_subnet_group()
        .db_subnet_group_name(&name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("rds:DeleteDBSubnetGroup", e)),
    }
}
