//! ec2.eip: AllocateAddress (domain vpc) with tags. Nothing to update but
//! tags; delete releases the address.

use super::ec2_tags;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_ec2::types::{Address, DomainType, Filter, ResourceType};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kind has no properties: the address, its allocation id and the VPC
/// domain are AWS's (the first two are exported attributes).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {}

fn applied(allocation_id: &str, public_ip: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("allocation_id".into(), Value::from(allocation_id));
    attributes.insert("public_ip".into(), Value::from(public_ip));
    Applied {
        physical_id: allocation_id.to_string(),
        attributes,
    }
}

fn of(a: &Address) -> Applied {
    applied(
        a.allocation_id().unwrap_or_default(),
        a.public_ip().unwrap_or_default(),
    )
}

async fn find(c: &Clients, tags: &IndexMap<String, String>) -> ProviderResult<Option<Address>> {
    let out = c
        .ec2
        .describe_addresses()
        .set_filters(Some(ec2_tags::identity_filters(tags)))
        .send()
        .await
        .map_err(|e| error::aws("ec2:DescribeAddresses", e))?;
    Ok(out
        .addresses()
        .iter()
        .find(|a| ec2_tags::is_ours(a.tags(), tags))
        .cloned())
}

async fn describe(c: &Clients, id: &str) -> ProviderResult<Option<Address>> {
    match c
        .ec2
        .describe_addresses()
        .filters(Filter::builder().name("allocation-id").values(id).build())
        .send()
        .await
    {
        Ok(o) => Ok(o.addresses().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("ec2:DescribeAddresses", e)),
    }
}

pub(crate) async fn create(c: &Clients, r: &Resolved, _p: &Props) -> ProviderResult<Applied> {
    if let Some(a) = find(c, &r.tags).await? {
        return Ok(of(&a));
    }
    let out = c
        .ec2
        .allocate_address()
        .domain(DomainType::Vpc)
        .tag_specifications(ec2_tags::spec(ResourceType::ElasticIp, r))
        .send()
        .await
        .map_err(|e| error::aws("ec2:AllocateAddress", e))?;
    match (out.allocation_id(), out.public_ip()) {
        (Some(id), Some(ip)) => Ok(applied(id, ip)),
        _ => Err(ProviderError::failed(
            "ec2:AllocateAddress answered without an allocation id or address",
        )),
    }
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let a = match cur.physical_id.as_deref() {
        Some(id) => describe(c, id).await?,
        None => find(c, &cur.tags).await?,
    };
    Ok(a.map(|a| Read {
        applied: of(&a),
        props: Props {},
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    _p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let id = cur.physical_id.clone().unwrap_or_default();
    if changed.iter().any(|p| p == "tags") {
        crate::retag::ec2(c, &id, &cur.tags, &r.tags).await?;
    }
    Ok(Applied {
        physical_id: id,
        attributes: cur.attributes.clone(),
    })
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
    let id = match &cur.physical_id {
        Some(id) => id.clone(),
        None => match find(c, &cur.tags).await? {
            Some(a) => a.allocation_id().unwrap_or_default().to_string(),
            None => return Ok(()),
        },
    };
    match c.ec2.release_address().allocation_id(&id).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("ec2:ReleaseAddress", e)),
    }
}
