//! ec2.internet_gateway: CreateInternetGateway with tags, then
//! AttachInternetGateway to `vpc_id`. A new `vpc_id` moves the gateway
//! (detach, attach); delete detaches from every VPC first.

use super::ec2_tags;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_ec2::types::{Filter, InternetGateway, ResourceType};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub vpc_id: String,
}

fn applied(id: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(id));
    Applied {
        physical_id: id.to_string(),
        attributes,
    }
}

fn attached_vpcs(g: &InternetGateway) -> Vec<String> {
    g.attachments()
        .iter()
        .filter_map(|a| a.vpc_id().map(str::to_string))
        .collect()
}

async fn find(
    c: &Clients,
    tags: &IndexMap<String, String>,
) -> ProviderResult<Option<InternetGateway>> {
    let out = c
        .ec2
        .describe_internet_gateways()
        .set_filters(Some(ec2_tags::identity_filters(tags)))
        .send()
        .await
        .map_err(|e| error::aws("ec2:DescribeInternetGateways", e))?;
    Ok(out
        .internet_gateways()
        .iter()
        .find(|g| ec2_tags::is_ours(g.tags(), tags))
        .cloned())
}

async fn describe(c: &Clients, id: &str) -> ProviderResult<Option<InternetGateway>> {
    match c
        .ec2
        .describe_internet_gateways()
        .filters(
            Filter::builder()
                .name("internet-gateway-id")
                .values(id)
                .build(),
        )
        .send()
        .await
    {
        Ok(o) => Ok(o.internet_gateways().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("ec2:DescribeInternetGateways", e)),
    }
}

async fn attach(c: &Clients, id: &str, vpc: &str) -> ProviderResult<()> {
    c.ec2
        .attach_internet_gateway()
        .internet_gateway_id(id)
        .vpc_id(vpc)
        .send()
        .await
        .map_err(|e| error::aws("ec2:AttachInternetGateway", e))?;
    Ok(())
}

async fn detach(c: &Clients, id: &str, vpc: &str) -> ProviderResult<()> {
    match c
        .ec2
        .detach_internet_gateway()
        .internet_gateway_id(id)
        .vpc_id(vpc)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // Already detached or gone.
        Err(e) if error::is_not_found(&e) || error::code(&e) == Some("Gateway.NotAttached") => {
            Ok(())
        }
        Err(e) => Err(error::aws("ec2:DetachInternetGateway", e)),
    }
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let gw = match find(c, &r.tags).await? {
        Some(g) => g,
        None => c
            .ec2
            .create_internet_gateway()
            .tag_specifications(ec2_tags::spec(ResourceType::InternetGateway, r))
            .send()
            .await
            .map_err(|e| error::aws("ec2:CreateInternetGateway", e))?
            .internet_gateway()
            .cloned()
            .ok_or_else(|| {
                ProviderError::failed("ec2:CreateInternetGateway answered without a gateway")
            })?,
    };
    let id = gw.internet_gateway_id().unwrap_or_default().to_string();
    if !attached_vpcs(&gw).contains(&p.vpc_id) {
        attach(c, &id, &p.vpc_id).await?;
    }
    Ok(applied(&id))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let gw = match cur.physical_id.as_deref() {
        Some(id) => describe(c, id).await?,
        None => find(c, &cur.tags).await?,
    };
    Ok(gw.map(|g| Read {
        applied: applied(g.internet_gateway_id().unwrap_or_default()),
        // A gateway attaches to one VPC at most; a detached one reads as
        // an empty VPC id, which differs from any applied one.
        props: Props {
            vpc_id: attached_vpcs(&g).into_iter().next().unwrap_or_default(),
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
    if changed.iter().any(|p| p == "vpc_id") {
        let want = p.vpc_id.as_str();
        let gw = describe(c, &id).await?.ok_or_else(|| {
            ProviderError::failed(format!("internet gateway {id} no longer exists"))
        })?;
        let now = attached_vpcs(&gw);
        for v in now.iter().filter(|v| *v != want) {
            detach(c, &id, v).await?;
        }
        if !now.iter().any(|v| v == want) {
            attach(c, &id, want).await?;
        }
    }
    if changed.iter().any(|p| p == "tags") {
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
    let gw = match cur.physical_id.as_deref() {
        Some(id) => describe(c, id).await?,
        None => find(c, &cur.tags).await?,
    };
    let Some(gw) = gw else { return Ok(()) };
    let id = gw.internet_gateway_id().unwrap_or_default().to_string();
    for vpc in attached_vpcs(&gw) {
        detach(c, &id, &vpc).await?;
    }
    match c
        .ec2
        .delete_internet_gateway()
        .internet_gateway_id(&id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("ec2:DeleteInternetGateway", e)),
    }
}
