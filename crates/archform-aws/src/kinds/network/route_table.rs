//! ec2.route_table: CreateRouteTable with tags; its IPv4 routes and subnet
//! associations are managed as part of the table (CreateRoute /
//! ReplaceRoute / DeleteRoute, AssociateRouteTable /
//! ReplaceRouteTableAssociation / DisassociateRouteTable). The `local`
//! route and routes AWS adds for VPC endpoints (prefix lists) are left alone.
//! Delete disassociates the subnets first.

use super::ec2_tags;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_ec2::types::{Filter, ResourceType, RouteOrigin, RouteTable};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub vpc_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<Route>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_ids: Option<Vec<String>>,
}

/// A route in the blueprint's shape: destination and exactly one target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Route {
    pub destination_cidr_block: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_gateway_id: Option<String>,
}

fn applied(id: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(id));
    Applied {
        physical_id: id.to_string(),
        attributes,
    }
}

/// The routes archform manages: IPv4 destinations other than the VPC's
/// local route. A route to another kind of target (a peering connection, a
/// transit gateway) reads without a target, so it shows as a change.
fn managed(rt: &RouteTable) -> Vec<Route> {
    rt.routes()
        .iter()
        .filter(|r| r.destination_cidr_block().is_some())
        .filter(|r| {
            r.gateway_id() != Some("local") && r.origin() != Some(&RouteOrigin::CreateRouteTable)
        })
        .map(|r| Route {
            destination_cidr_block: r.destination_cidr_block().unwrap_or_default().to_string(),
            gateway_id: r.gateway_id().map(str::to_string),
            nat_gateway_id: r.nat_gateway_id().map(str::to_string),
        })
        .collect()
}

fn subnet_associations(rt: &RouteTable) -> Vec<(String, String)> {
    rt.associations()
        .iter()
        .filter(|a| !a.main().unwrap_or(false))
        .filter_map(|a| {
            Some((
                a.subnet_id()?.to_string(),
                a.route_table_association_id()?.to_string(),
            ))
        })
        .collect()
}

async fn find(c: &Clients, tags: &IndexMap<String, String>) -> ProviderResult<Option<RouteTable>> {
    let out = c
        .ec2
        .describe_route_tables()
        .set_filters(Some(ec2_tags::identity_filters(tags)))
        .send()
        .await
        .map_err(|e| error::aws("ec2:DescribeRouteTables", e))?;
    Ok(out
        .route_tables()
        .iter()
        .find(|t| ec2_tags::is_ours(t.tags(), tags))
        .cloned())
}

async fn describe(c: &Clients, id: &str) -> ProviderResult<Option<RouteTable>> {
    match c
        .ec2
        .describe_route_tables()
        .filters(Filter::builder().name("route-table-id").values(id).build())
        .send()
        .await
    {
        Ok(o) => Ok(o.route_tables().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("ec2:DescribeRouteTables", e)),
    }
}

async fn sync_routes(c: &Clients, rt: &RouteTable, want: &[Route]) -> ProviderResult<()> {
    let id = rt.route_table_id().unwrap_or_default();
    let have = managed(rt);
    for h in &have {
        let dest = &h.destination_cidr_block;
        if !want.iter().any(|w| w.destination_cidr_block == *dest) {
            match c
                .ec2
                .delete_route()
                .route_table_id(id)
                .destination_cidr_block(dest)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if error::is_not_found(&e) => {}
                Err(e) => return Err(error::aws("ec2:DeleteRoute", e)),
            }
        }
    }
    for w in want {
        match have
            .iter()
            .find(|h| h.destination_cidr_block == w.destination_cidr_block)
        {
            Some(h) if h == w => {}
            Some(_) => {
                c.ec2
                    .replace_route()
                    .route_table_id(id)
                    .destination_cidr_block(&w.destination_cidr_block)
                    .set_gateway_id(w.gateway_id.clone())
                    .set_nat_gateway_id(w.nat_gateway_id.clone())
                    .send()
                    .await
                    .map_err(|e| error::aws("ec2:ReplaceRoute", e))?;
            }
            None => {
                c.ec2
                    .create_route()
                    .route_table_id(id)
                    .destination_cidr_block(&w.destination_cidr_block)
                    .set_gateway_id(w.gateway_id.clone())
                    .set_nat_gateway_id(w.nat_gateway_id.clone())
                    .send()
                    .await
                    .map_err(|e| error::aws("ec2:CreateRoute", e))?;
            }
        }
    }
    Ok(())
}

async fn disassociate(c: &Clients, association: &str) -> ProviderResult<()> {
    match c
        .ec2
        .disassociate_route_table()
        .association_id(association)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("ec2:DisassociateRouteTable", e)),
    }
}

async fn sync_associations(c: &Clients, rt: &RouteTable, want: &[String]) -> ProviderResult<()> {
    let id = rt.route_table_id().unwrap_or_default();
    let have = subnet_associations(rt);
    for (subnet, assoc) in &have {
        if !want.contains(subnet) {
            disassociate(c, assoc).await?;
        }
    }
    for subnet in want {
        if have.iter().any(|(s, _)| s == subnet) {
            continue;
        }
        // A subnet has one route table: one it is explicitly associated
        // with elsewhere is moved over, not associated twice.
        let elsewhere = c
            .ec2
            .describe_route_tables()
            .filters(
                Filter::builder()
                    .name("association.subnet-id")
                    .values(subnet)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| error::aws("ec2:DescribeRouteTables", e))?
            .route_tables()
            .iter()
            .flat_map(|t| t.associations())
            .find(|a| a.subnet_id() == Some(subnet.as_str()) && !a.main().unwrap_or(false))
            .and_then(|a| a.route_table_association_id().map(str::to_string));
        match elsewhere {
            Some(assoc) => {
                c.ec2
                    .replace_route_table_association()
                    .association_id(assoc)
                    .route_table_id(id)
                    .send()
                    .await
                    .map_err(|e| error::aws("ec2:ReplaceRouteTableAssociation", e))?;
            }
            None => {
                c.ec2
                    .associate_route_table()
                    .route_table_id(id)
                    .subnet_id(subnet)
                    .send()
                    .await
                    .map_err(|e| error::aws("ec2:AssociateRouteTable", e))?;
            }
        }
    }
    Ok(())
}

fn routes(p: &Props) -> &[Route] {
    p.routes.as_deref().unwrap_or_default()
}

fn subnet_ids(p: &Props) -> &[String] {
    p.subnet_ids.as_deref().unwrap_or_default()
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let rt = match find(c, &r.tags).await? {
        Some(t) => t,
        None => c
            .ec2
            .create_route_table()
            .vpc_id(&p.vpc_id)
            .tag_specifications(ec2_tags::spec(ResourceType::RouteTable, r))
            .send()
            .await
            .map_err(|e| error::aws("ec2:CreateRouteTable", e))?
            .route_table()
            .cloned()
            .ok_or_else(|| {
                ProviderError::failed("ec2:CreateRouteTable answered without a route table")
            })?,
    };
    sync_routes(c, &rt, routes(p)).await?;
    sync_associations(c, &rt, subnet_ids(p)).await?;
    Ok(applied(rt.route_table_id().unwrap_or_default()))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let rt = match cur.physical_id.as_deref() {
        Some(id) => describe(c, id).await?,
        None => find(c, &cur.tags).await?,
    };
    let Some(rt) = rt else { return Ok(None) };
    let subnets = subnet_associations(&rt)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    // Both lists in the applied order when they hold the same elements.
    // Absent in the blueprint and empty in AWS are the same thing.
    let props = Props {
        vpc_id: rt.vpc_id().unwrap_or_default().to_string(),
        routes: Some(super::same_elements(
            hint.and_then(|h| h.routes.as_ref()),
            managed(&rt),
        )),
        subnet_ids: Some(super::same_elements(
            hint.and_then(|h| h.subnet_ids.as_ref()),
            subnets,
        )),
    };
    Ok(Some(Read {
        applied: applied(rt.route_table_id().unwrap_or_default()),
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
    let id = cur.physical_id.clone().unwrap_or_default();
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("routes") || has("subnet_ids") {
        let rt = describe(c, &id)
            .await?
            .ok_or_else(|| ProviderError::failed(format!("route table {id} no longer exists")))?;
        if has("routes") {
            sync_routes(c, &rt, routes(p)).await?;
        }
        if has("subnet_ids") {
            sync_associations(c, &rt, subnet_ids(p)).await?;
        }
    }
    if has("tags") {
        crate::retag::ec2(c, &id, &cur.tags, &r.tags).await?;
    }
    Ok(applied(&id))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
    let rt = match cur.physical_id.as_deref() {
        Some(id) => describe(c, id).await?,
        None => find(c, &cur.tags).await?,
    };
    let Some(rt) = rt else { return Ok(()) };
    for (_, assoc) in subnet_associations(&rt) {
        disassociate(c, &assoc).await?;
    }
    let id = rt.route_table_id().unwrap_or_default();
    match c.ec2.delete_route_table().route_table_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("ec2:DeleteRouteTable", e)),
    }
}
