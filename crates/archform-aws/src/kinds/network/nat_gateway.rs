//! ec2.nat_gateway: CreateNatGateway with tags, then a bounded wait until it
//! is available (routes to it are only useful then). Delete waits until it
//! is deleted, so its EIP and subnet can go next.

use super::ec2_tags;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_ec2::types::{Filter, NatGateway, NatGatewayState, ResourceType};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub subnet_id: String,
    pub allocation_id: String,
}

/// NAT gateways usually take one to three minutes either way.
const LIMIT: Duration = Duration::from_secs(15 * 60);

fn applied(id: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(id));
    Applied {
        physical_id: id.to_string(),
        attributes,
    }
}

/// Deleting, deleted and failed gateways are gone for archform's purposes.
fn live(g: &NatGateway) -> bool {
    !matches!(
        g.state(),
        Some(NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed)
    )
}

async fn find(c: &Clients, tags: &IndexMap<String, String>) -> ProviderResult<Option<NatGateway>> {
    let out = c
        .ec2
        .describe_nat_gateways()
        .set_filter(Some(ec2_tags::identity_filters(tags)))
        .send()
        .await
        .map_err(|e| error::aws("ec2:DescribeNatGateways", e))?;
    Ok(out
        .nat_gateways()
        .iter()
        .find(|g| live(g) && ec2_tags::is_ours(g.tags(), tags))
        .cloned())
}

/// The gateway in whatever state it is, `None` when AWS no longer knows it.
async fn describe(c: &Clients, id: &str) -> ProviderResult<Option<NatGateway>> {
    match c
        .ec2
        .describe_nat_gateways()
        .filter(Filter::builder().name("nat-gateway-id").values(id).build())
        .send()
        .await
    {
        Ok(o) => Ok(o.nat_gateways().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("ec2:DescribeNatGateways", e)),
    }
}

async fn wait_available(c: &Clients, id: &str) -> ProviderResult<()> {
    crate::wait::until(
        &format!("NAT gateway {id} to be available"),
        Duration::from_secs(2),
        LIMIT,
        || async move {
            let g = describe(c, id).await?;
            match g.as_ref().and_then(|g| g.state()) {
                Some(NatGatewayState::Available) => Ok(Some(())),
                Some(NatGatewayState::Pending) => Ok(None),
                // Just created, not yet visible.
                None => Ok(None),
                Some(s) => {
                    let g = g.as_ref().unwrap();
                    Err(ProviderError::failed(format!(
                        "NAT gateway {id} is {}: {} {}",
                        s.as_str(),
                        g.failure_code().unwrap_or_default(),
                        g.failure_message().unwrap_or_default()
                    )))
                }
            }
        },
    )
    .await
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let id = match find(c, &r.tags).await? {
        Some(g) => g.nat_gateway_id().unwrap_or_default().to_string(),
        None => c
            .ec2
            .create_nat_gateway()
            .subnet_id(&p.subnet_id)
            .allocation_id(&p.allocation_id)
            .tag_specifications(ec2_tags::spec(ResourceType::Natgateway, r))
            .send()
            .await
            .map_err(|e| error::aws("ec2:CreateNatGateway", e))?
            .nat_gateway()
            .and_then(|g| g.nat_gateway_id())
            .map(str::to_string)
            .ok_or_else(|| {
                ProviderError::failed("ec2:CreateNatGateway answered without a gateway id")
            })?,
    };
    wait_available(c, &id).await?;
    Ok(applied(&id))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let g = match cur.physical_id.as_deref() {
        Some(id) => describe(c, id).await?.filter(live),
        None => find(c, &cur.tags).await?,
    };
    Ok(g.map(|g| {
        // The address the gateway was created with is its primary one;
        // secondary addresses come later (AssociateNatGatewayAddress).
        let addresses = g.nat_gateway_addresses();
        let allocation = addresses
            .iter()
            .find(|a| a.is_primary() == Some(true))
            .or_else(|| addresses.first())
            .and_then(|a| a.allocation_id());
        Read {
            applied: applied(g.nat_gateway_id().unwrap_or_default()),
            props: Props {
                subnet_id: g.subnet_id().unwrap_or_default().to_string(),
                allocation_id: allocation.unwrap_or_default().to_string(),
            },
        }
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
    Ok(applied(&id))
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
            Some(g) => g.nat_gateway_id().unwrap_or_default().to_string(),
            None => return Ok(()),
        },
    };
    match describe(c, &id).await? {
        None => return Ok(()),
        Some(g) if g.state() == Some(&NatGatewayState::Deleted) => return Ok(()),
        Some(g) if g.state() == Some(&NatGatewayState::Deleting) => {}
        Some(_) => match c.ec2.delete_nat_gateway().nat_gateway_id(&id).send().await {
            Ok(_) => {}
            Err(e) if error::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(error::aws("ec2:DeleteNatGateway", e)),
        },
    }
    let id = id.as_str();
    crate::wait::until(
        &format!("NAT gateway {id} to be deleted"),
        Duration::from_secs(2),
        LIMIT,
        || async move {
            Ok(match describe(c, id).await? {
                None => Some(()),
                Some(g) if matches!(g.state(), Some(NatGatewayState::Deleted)) => Some(()),
                Some(_) => None,
            })
        },
    )
    .await
}
