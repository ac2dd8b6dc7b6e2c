//! ec2.vpc: CreateVpc with tags, DNS attributes set after creation (the
//! API has no create-time parameter for them).

use super::ec2_tags;
use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};
use indexmap::IndexMap;
use serde_json::{Value, json};

fn applied(vpc: &aws_sdk_ec2::types::Vpc) -> Applied {
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

async fn find(
    c: &Clients,
    tags: &IndexMap<String, String>,
) -> ProviderResult<Option<aws_sdk_ec2::types::Vpc>> {
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

async fn set_dns(
    c: &Clients,
    id: &str,
    r: &Resolved,
    changed: Option<&[String]>,
) -> ProviderResult<()> {
    // Each attribute takes its own ModifyVpcAttribute call.
    // (property, the kind's default, AWS's default for a new VPC). The kind
    // documents both on; AWS starts hostnames off.
    for (prop, default, aws_default) in [
        ("enable_dns_support", true, true),
        ("enable_dns_hostnames", true, false),
    ] {
        if changed.is_some_and(|ch| !ch.iter().any(|p| p == prop)) {
            continue;
        }
        let want = r.bool(prop).unwrap_or(default);
        if changed.is_none() && want == aws_default {
            continue;
        }
        let v = AttributeBooleanValue::builder().value(want).build();
        let req = c.ec2.modify_vpc_attribute().vpc_id(id);
        let req = if prop == "enable_dns_support" {
            req.enable_dns_support(v)
        } else {
            req.enable_dns_hostnames(v)
        };
        req.send()
            .await
            .map_err(|e| error::aws("ec2:ModifyVpcAttribute", e))?;
    }
    Ok(())
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let vpc = match find(c, &r.tags).await? {
        Some(v) => v,
        None => c
            .ec2
            .create_vpc()
            .cidr_block(r.str("cidr_block").unwrap_or_default())
            .tag_specifications(ec2_tags::spec(ResourceType::Vpc, r))
            .send()
            .await
            .map_err(|e| error::aws("ec2:CreateVpc", e))?
            .vpc()
            .cloned()
            .ok_or_else(|| ProviderError::failed("ec2:CreateVpc answered without a VPC"))?,
    };
    let a = applied(&vpc);
    set_dns(c, &a.physical_id, r, None).await?;
    with_default_sg(c, a).await
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some(vpc_id) = cur.physical_id.as_deref() else {
        return Ok(find(c, &cur.tags).await?.map(|v| Observed {
            applied: applied(&v),
            properties: json!({}),
        }));
    };
    let out = match c.ec2.describe_vpcs().vpc_ids(vpc_id).send().await {
        Ok(o) => o,
        Err(e) if error::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(error::aws("ec2:DescribeVpcs", e)),
    };
    let Some(vpc) = out.vpcs().first() else {
        return Ok(None);
    };
    let mut props = json!({ "cidr_block": vpc.cidr_block() });
    for (prop, name) in [
        ("enable_dns_support", VpcAttributeName::EnableDnsSupport),
        ("enable_dns_hostnames", VpcAttributeName::EnableDnsHostnames),
    ] {
        let attr = c
            .ec2
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(name)
            .send()
            .await
            .map_err(|e| error::aws("ec2:DescribeVpcAttribute", e))?;
        let v = if prop == "enable_dns_support" {
            attr.enable_dns_support().and_then(|b| b.value())
        } else {
            attr.enable_dns_hostnames().and_then(|b| b.value())
        };
        props[prop] = Value::from(v.unwrap_or(false));
    }
    let applied = with_default_sg(c, applied(vpc)).await?;
    Ok(Some(Observed {
        applied,
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
    set_dns(c, &id, r, Some(changed)).await?;
    if changed.iter().any(|p| p == "tags") {
        crate::retag::ec2(c, &id, &cur.tags, &r.tags).await?;
    }
    let a = Applied {
        physical_id: id,
        attributes: cur.attributes.clone(),
    };
    Ok(a)
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
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
