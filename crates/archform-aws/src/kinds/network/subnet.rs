//! ec2.subnet: CreateSubnet with tags; `map_public_ip_on_launch` set after
//! creation (the API has no create-time parameter for it). Delete cleans up
//! Lambda's leftover ENIs when AWS answers DependencyViolation.

use super::{ec2_tags, enis};
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, ResourceType, Subnet};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub vpc_id: String,
    pub cidr_block: String,
    pub availability_zone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_public_ip_on_launch: Option<bool>,
    /// archform's own annotation, never sent to AWS (write-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

fn applied(s: &Subnet) -> Applied {
    let id = s.subnet_id().unwrap_or_default().to_string();
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(id.clone()));
    attributes.insert(
        "availability_zone".into(),
        Value::from(s.availability_zone().unwrap_or_default()),
    );
    attributes.insert(
        "cidr_block".into(),
        Value::from(s.cidr_block().unwrap_or_default()),
    );
    Applied {
        physical_id: id,
        attributes,
    }
}

async fn find(c: &Clients, tags: &IndexMap<String, String>) -> ProviderResult<Option<Subnet>> {
    let out = c
        .ec2
        .describe_subnets()
        .set_filters(Some(ec2_tags::identity_filters(tags)))
        .send()
        .await
        .map_err(|e| error::aws("ec2:DescribeSubnets", e))?;
    Ok(out
        .subnets()
        .iter()
        .find(|s| ec2_tags::is_ours(s.tags(), tags))
        .cloned())
}

async fn describe(c: &Clients, id: &str) -> ProviderResult<Option<Subnet>> {
    match c
        .ec2
        .describe_subnets()
        .filters(Filter::builder().name("subnet-id").values(id).build())
        .send()
        .await
    {
        Ok(o) => Ok(o.subnets().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("ec2:DescribeSubnets", e)),
    }
}

async fn set_public_ip(c: &Clients, id: &str, want: bool) -> ProviderResult<()> {
    c.ec2
        .modify_subnet_attribute()
        .subnet_id(id)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(want).build())
        .send()
        .await
        .map_err(|e| error::aws("ec2:ModifySubnetAttribute", e))?;
    Ok(())
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let subnet = match find(c, &r.tags).await? {
        Some(s) => s,
        None => c
            .ec2
            .create_subnet()
            .vpc_id(&p.vpc_id)
            .cidr_block(&p.cidr_block)
            .availability_zone(&p.availability_zone)
            .tag_specifications(ec2_tags::spec(ResourceType::Subnet, r))
            .send()
            .await
            .map_err(|e| error::aws("ec2:CreateSubnet", e))?
            .subnet()
            .cloned()
            .ok_or_else(|| ProviderError::failed("ec2:CreateSubnet answered without a subnet"))?,
    };
    let want = p.map_public_ip_on_launch.unwrap_or(false);
    if subnet.map_public_ip_on_launch().unwrap_or(false) != want {
        set_public_ip(c, subnet.subnet_id().unwrap_or_default(), want).await?;
    }
    Ok(applied(&subnet))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let subnet = match cur.physical_id.as_deref() {
        Some(id) => describe(c, id).await?,
        None => find(c, &cur.tags).await?,
    };
    Ok(subnet.map(|s| Read {
        applied: applied(&s),
        props: Props {
            vpc_id: s.vpc_id().unwrap_or_default().to_string(),
            cidr_block: s.cidr_block().unwrap_or_default().to_string(),
            availability_zone: s.availability_zone().unwrap_or_default().to_string(),
            map_public_ip_on_launch: s.map_public_ip_on_launch(),
            // Write-only: AWS has no record of it.
            tier: None,
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
    let id = cur.physical_id.clone().unwrap_or_default();
    if changed.iter().any(|p| p == "map_public_ip_on_launch") {
        set_public_ip(c, &id, p.map_public_ip_on_launch.unwrap_or(false)).await?;
    }
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
            Some(s) => s.subnet_id().unwrap_or_default().to_string(),
            None => return Ok(()),
        },
    };
    let mut attempt = 0;
    loop {
        match c.ec2.delete_subnet().subnet_id(&id).send().await {
            Ok(_) => return Ok(()),
            Err(e) if error::is_not_found(&e) => return Ok(()),
            Err(e) if error::code(&e) == Some("DependencyViolation") && attempt < enis::RETRIES => {
                attempt += 1;
                enis::release(c, enis::Scope::Subnet(&id)).await?;
            }
            Err(e) => return Err(error::aws("ec2:DeleteSubnet", e)),
        }
    }
}
