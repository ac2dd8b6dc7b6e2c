//! ec2.vpc: CreateVpc with tags, DNS attributes set after creation (the
//! API has no create-time parameter for them).

use super::ec2_tags;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Vpc, VpcAttributeName};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub cidr_block: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_dns_support: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_dns_hostnames: Option<bool>,
}

/// A DNS attribute of the VPC: each takes its own ModifyVpcAttribute and
/// DescribeVpcAttribute call.
#[derive(Clone, Copy, PartialEq)]
enum Dns {
    Support,
    Hostnames,
}

impl Dns {
    const ALL: [Dns; 2] = [Dns::Support, Dns::Hostnames];

    fn prop(self) -> &'static str {
        match self {
            Dns::Support => "enable_dns_support",
            Dns::Hostnames => "enable_dns_hostnames",
        }
    }

    /// The blueprint's value; absent, the kind's default (both on, as the
    /// spec declares).
    fn wanted(self, p: &Props) -> bool {
        match self {
            Dns::Support => p.enable_dns_support,
            Dns::Hostnames => p.enable_dns_hostnames,
        }
        .unwrap_or(true)
    }

    /// What AWS gives a new VPC: hostnames start off.
    fn aws_default(self) -> bool {
        self == Dns::Support
    }
}

fn applied(vpc: &Vpc) -> Applied {
    let id = vpc.vpc_id().unwrap_or_default().to_string();
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(id.clone()));
    attributes.insert(
        "cidr_block".into(),
        Value::from(vpc.cidr_block().unwrap_or_default()),
    );
    Applied {
        physical_id: id,
        attributes,
    }
}

async fn find(c: &Clients, tags: &IndexMap<String, String>) -> ProviderResult<Option<Vpc>> {
    let out = c
        .ec2
        .describe_vpcs()
        .set_filters(Some(ec2_tags::identity_filters(tags)))
        .send()
        .await
        .map_err(|e| error::aws("ec2:DescribeVpcs", e))?;
    Ok(out
        .vpcs()
        .iter()
        .find(|v| ec2_tags::is_ours(v.tags(), tags))
        .cloned())
}

async fn describe(c: &Clients, id: &str) -> ProviderResult<Option<Vpc>> {
    match c.ec2.describe_vpcs().vpc_ids(id).send().await {
        Ok(o) => Ok(o.vpcs().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("ec2:DescribeVpcs", e)),
    }
}

async fn with_default_sg(c: &Clients, mut a: Applied) -> ProviderResult<Applied> {
    let out = c
        .ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&a.physical_id)
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values("default")
                .build(),
        )
        .send()
        .await
        .map_err(|e| error::aws("ec2:DescribeSecurityGroups", e))?;
    if let Some(id) = out.security_groups().first().and_then(|g| g.group_id()) {
        a.attributes
            .insert("default_security_group".into(), Value::from(id));
    }
    Ok(a)
}

/// Sets the DNS attributes: on create (`changed` is `None`) those that
/// differ from what AWS gives a new VPC, on update the changed ones.
async fn set_dns(
    c: &Clients,
    id: &str,
    p: &Props,
    changed: Option<&[String]>,
) -> ProviderResult<()> {
    for dns in Dns::ALL {
        if changed.is_some_and(|ch| !ch.iter().any(|p| p == dns.prop())) {
            continue;
        }
        let want = dns.wanted(p);
        if changed.is_none() && want == dns.aws_default() {
            continue;
        }
        let v = AttributeBooleanValue::builder().value(want).build();
        let req = c.ec2.modify_vpc_attribute().vpc_id(id);
        let req = match dns {
            Dns::Support => req.enable_dns_support(v),
            Dns::Hostnames => req.enable_dns_hostnames(v),
        };
        req.send()
            .await
            .map_err(|e| error::aws("ec2:ModifyVpcAttribute", e))?;
    }
    Ok(())
}

async fn get_dns(c: &Clients, id: &str, dns: Dns) -> ProviderResult<Option<bool>> {
    let name = match dns {
        Dns::Support => VpcAttributeName::EnableDnsSupport,
        Dns::Hostnames => VpcAttributeName::EnableDnsHostnames,
    };
    let attr = c
        .ec2
        .describe_vpc_attribute()
        .vpc_id(id)
        .attribute(name)
        .send()
        .await
        .map_err(|e| error::aws("ec2:DescribeVpcAttribute", e))?;
    let v = match dns {
        Dns::Support => attr.enable_dns_support(),
        Dns::Hostnames => attr.enable_dns_hostnames(),
    };
    Ok(v.and_then(|b| b.value()))
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let vpc = match find(c, &r.tags).await? {
        Some(v) => v,
        None => c
            .ec2
            .create_vpc()
            .cidr_block(&p.cidr_block)
            .tag_specifications(ec2_tags::spec(ResourceType::Vpc, r))
            .send()
            .await
            .map_err(|e| error::aws("ec2:CreateVpc", e))?
            .vpc()
            .cloned()
            .ok_or_else(|| ProviderError::failed("ec2:CreateVpc answered without a VPC"))?,
    };
    let a = applied(&vpc);
    set_dns(c, &a.physical_id, p, None).await?;
    with_default_sg(c, a).await
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let vpc = match cur.physical_id.as_deref() {
        Some(id) => describe(c, id).await?,
        None => find(c, &cur.tags).await?,
    };
    let Some(vpc) = vpc else { return Ok(None) };
    let id = vpc.vpc_id().unwrap_or_default();
    let props = Props {
        cidr_block: vpc.cidr_block().unwrap_or_default().to_string(),
        enable_dns_support: get_dns(c, id, Dns::Support).await?,
        enable_dns_hostnames: get_dns(c, id, Dns::Hostnames).await?,
    };
    Ok(Some(Read {
        applied: with_default_sg(c, applied(&vpc)).await?,
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
    set_dns(c, &id, p, Some(changed)).await?;
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
            Some(v) => v.vpc_id().unwrap_or_default().to_string(),
            None => return Ok(()),
        },
    };
    match c.ec2.delete_vpc().vpc_id(&id).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("ec2:DeleteVpc", e)),
    }
}
