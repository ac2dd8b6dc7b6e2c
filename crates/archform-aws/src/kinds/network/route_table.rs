//! ec2.route_table: CreateRouteTable with tags; its IPv4 routes and subnet
//! associations are managed as part of the table (CreateRoute /
//! ReplaceRoute / DeleteRoute, AssociateRouteTable /
//! ReplaceRouteTableAssociation / DisassociateRouteTable). The `local`
//! route and routes AWS adds for VPC endpoints (prefix lists) are left alone.
//! Delete disassociates the subnets first.

use super::ec2_tags;
use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_ec2::types::{Filter, ResourceType, Route, RouteOrigin, RouteTable};
use indexmap::IndexMap;
use serde_json::{Value, json};

fn applied(id: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(id));
    Applied {
        physical_id: id.to_string(),
        attributes,
    }
}

/// A route in the blueprint's shape: destination and exactly one target.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Want {
    dest: String,
    gateway_id: Option<String>,
    nat_gateway_id: Option<String>,
}

impl Want {
    fn json(&self) -> Value {
        let mut v = json!({ "destination_cidr_block": self.dest });
        if let Some(g) = &self.gateway_id {
            v["gateway_id"] = Value::from(g.as_str());
        }
        if let Some(n) = &self.nat_gateway_id {
            v["nat_gateway_id"] = Value::from(n.as_str());
        }
        v
    }
}

fn wanted_routes(r: &Resolved) -> Vec<Want> {
    r.prop("routes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| Want {
                    dest: v["destination_cidr_block"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    gateway_id: v["gateway_id"].as_str().map(str::to_string),
                    nat_gateway_id: v["nat_gateway_id"].as_str().map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The routes archform manages: IPv4 destinations other than the VPC's
/// local route.
fn managed(rt: &RouteTable) -> Vec<(&Route, Want)> {
    rt.routes()
        .iter()
        .filter(|r| r.destination_cidr_block().is_some())
        .filter(|r| {
            r.gateway_id() != Some("local") && r.origin() != Some(&RouteOrigin::CreateRouteTable)
        })
        .map(|r| {
            let w = Want {
                dest: r.destination_cidr_block().unwrap_or_default().to_string(),
                gateway_id: r.gateway_id().map(str::to_string),
                nat_gateway_id: r.nat_gateway_id().map(str::to_string),
            };
            (r, w)
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

async fn sync_routes(c: &Clients, rt: &RouteTable, want: &[Want]) -> ProviderResult<()> {
    let id = rt.route_table_id().unwrap_or_default();
    let have = managed(rt);
    for (_, h) in &have {
        if !want.iter().any(|w| w.dest == h.dest) {
            match c
                .ec2
                .delete_route()
                .route_table_id(id)
                .destination_cidr_block(&h.dest)
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
        match have.iter().find(|(_, h)| h.dest == w.dest) {
            Some((_, h)) if h == w => {}
            Some(_) => {
                c.ec2
                    .replace_route()
                    .route_table_id(id)
                    .destination_cidr_block(&w.dest)
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
                    .destination_cidr_block(&w.dest)
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

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let rt = match find(c, &r.tags).await? {
        Some(t) => t,
        None => c
            .ec2
            .create_route_table()
            .vpc_id(r.str("vpc_id").unwrap_or_default())
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
    sync_routes(c, &rt, &wanted_routes(r)).await?;
    sync_associations(c, &rt, &r.strs("subnet_ids")).await?;
    Ok(applied(rt.route_table_id().unwrap_or_default()))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let rt = match cur.physical_id.as_deref() {
        Some(id) => describe(c, id).await?,
        None => find(c, &cur.tags).await?,
    };
    let Some(rt) = rt else { return Ok(None) };
    let routes: Vec<Value> = managed(&rt).iter().map(|(_, w)| w.json()).collect();
    let subnets: Vec<Value> = subnet_associations(&rt)
        .into_iter()
        .map(|(s, _)| Value::from(s))
        .collect();
    let mut props = json!({ "vpc_id": rt.vpc_id() });
    // Absent in the blueprint and empty in AWS are the same thing.
    props["routes"] = crate::support::same_set(cur.properties.get("routes"), routes);
    props["subnet_ids"] = crate::support::same_set(cur.properties.get("subnet_ids"), subnets);
    Ok(Some(Observed {
        applied: applied(rt.route_table_id().unwrap_or_default()),
        properties: props,
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
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
            sync_routes(c, &rt, &wanted_routes(r)).await?;
        }
        if has("subnet_ids") {
            sync_associations(c, &rt, &r.strs("subnet_ids")).await?;
        }
    }
    if has("tags") {
        crate::retag::ec2(c, &id, &cur.tags, &r.tags).await?;
    }
    Ok(applied(&id))
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
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
