//! elbv2.load_balancer: an Application Load Balancer named by its physical
//! name, tags at CreateLoadBalancer, waited for until active (listeners and
//! DNS need it). Idle timeout and header dropping are load balancer
//! attributes (no create-time parameter). Delete waits until it is gone, so
//! its ENIs are released before subnets and security groups are deleted.

use super::elb;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::name_of;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancer, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerStateEnum,
    LoadBalancerTypeEnum,
};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub scheme: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_invalid_header_fields: Option<bool>,
}

const IDLE: &str = "idle_timeout.timeout_seconds";
const DROP: &str = "routing.http.drop_invalid_header_fields.enabled";

fn applied(lb: &LoadBalancer) -> Applied {
    let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn.clone()));
    attributes.insert(
        "dns_name".into(),
        Value::from(lb.dns_name().unwrap_or_default()),
    );
    attributes.insert(
        "full_name".into(),
        Value::from(elb::full_name(&arn, ":loadbalancer/")),
    );
    attributes.insert(
        "canonical_hosted_zone_id".into(),
        Value::from(lb.canonical_hosted_zone_id().unwrap_or_default()),
    );
    Applied {
        physical_id: arn,
        attributes,
    }
}

async fn by_name(c: &Clients, name: &str) -> ProviderResult<Option<LoadBalancer>> {
    match c.elb.describe_load_balancers().names(name).send().await {
        Ok(o) => Ok(o.load_balancers().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("elasticloadbalancing:DescribeLoadBalancers", e)),
    }
}

async fn by_arn(c: &Clients, arn: &str) -> ProviderResult<Option<LoadBalancer>> {
    match c
        .elb
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await
    {
        Ok(o) => Ok(o.load_balancers().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("elasticloadbalancing:DescribeLoadBalancers", e)),
    }
}

async fn find(c: &Clients, cur: &ResourceState) -> ProviderResult<Option<LoadBalancer>> {
    match (&cur.physical_id, &cur.physical_name) {
        (Some(arn), _) => by_arn(c, arn).await,
        (None, Some(name)) => by_name(c, name).await,
        (None, None) => Ok(None),
    }
}

async fn wait_active(c: &Clients, arn: &str) -> ProviderResult<LoadBalancer> {
    crate::wait::until(
        &format!("load balancer {arn} to be active"),
        Duration::from_secs(1),
        Duration::from_secs(900),
        || async {
            let lb = by_arn(c, arn).await?.ok_or_else(|| {
                ProviderError::failed(format!("load balancer {arn} disappeared while waiting"))
            })?;
            match lb.state().and_then(|s| s.code()) {
                Some(LoadBalancerStateEnum::Active) | None => Ok(Some(lb)),
                Some(LoadBalancerStateEnum::Failed) => Err(ProviderError::failed(format!(
                    "load balancer {arn} failed: {}",
                    lb.state()
                        .and_then(|s| s.reason())
                        .unwrap_or("no reason given")
                ))),
                _ => Ok(None),
            }
        },
    )
    .await
}

/// Sets the attributes the blueprint gives (on create, only those given);
/// on update, a changed one the blueprint no longer sets goes back to
/// AWS's default (the spec's).
async fn set_attributes(
    c: &Clients,
    arn: &str,
    p: &Props,
    changed: Option<&[String]>,
) -> ProviderResult<()> {
    let want = |name: &str, given: bool| changed.map_or(given, |ch| ch.iter().any(|c| c == name));
    let mut attrs = Vec::new();
    if want("idle_timeout", p.idle_timeout.is_some()) {
        let v = p.idle_timeout.unwrap_or(60);
        attrs.push(
            LoadBalancerAttribute::builder()
                .key(IDLE)
                .value(v.to_string())
                .build(),
        );
    }
    if want(
        "drop_invalid_header_fields",
        p.drop_invalid_header_fields.is_some(),
    ) {
        let v = p.drop_invalid_header_fields.unwrap_or(false);
        attrs.push(
            LoadBalancerAttribute::builder()
                .key(DROP)
                .value(v.to_string())
                .build(),
        );
    }
    if attrs.is_empty() {
        return Ok(());
    }
    c.elb
        .modify_load_balancer_attributes()
        .load_balancer_arn(arn)
        .set_attributes(Some(attrs))
        .send()
        .await
        .map_err(|e| error::aws("elasticloadbalancing:ModifyLoadBalancerAttributes", e))?;
    Ok(())
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    let lb = match by_name(c, &name).await? {
        Some(lb) => lb,
        None => c
            .elb
            .create_load_balancer()
            .name(&name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::from(p.scheme.as_str()))
            .set_subnets(Some(p.subnets.clone()))
            .set_security_groups(Some(p.security_groups.clone()))
            .set_tags(elb::tags(&r.tags))
            .send()
            .await
            .map_err(|e| error::aws("elasticloadbalancing:CreateLoadBalancer", e))?
            .load_balancers()
            .first()
            .cloned()
            .ok_or_else(|| {
                ProviderError::failed("CreateLoadBalancer answered without a load balancer")
            })?,
    };
    let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
    let lb = wait_active(c, &arn).await?;
    set_attributes(c, &arn, p, None).await?;
    Ok(applied(&lb))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(lb) = find(c, cur).await? else {
        return Ok(None);
    };
    let a = applied(&lb);
    let attrs = c
        .elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(&a.physical_id)
        .send()
        .await
        .map_err(|e| error::aws("elasticloadbalancing:DescribeLoadBalancerAttributes", e))?;
    let get = |k: &str| {
        attrs
            .attributes()
            .iter()
            .find(|x| x.key() == Some(k))
            .and_then(|x| x.value())
    };
    let props = Props {
        scheme: lb
            .scheme()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        // AWS lists subnets (by zone) and groups in an order of its own.
        subnets: elb::same_strs(
            hint.map(|h| h.subnets.as_slice()),
            lb.availability_zones()
                .iter()
                .filter_map(|z| z.subnet_id())
                .collect(),
        ),
        security_groups: elb::same_strs(
            hint.map(|h| h.security_groups.as_slice()),
            lb.security_groups().iter().map(String::as_str).collect(),
        ),
        idle_timeout: get(IDLE).and_then(|v| v.parse::<i64>().ok()),
        drop_invalid_header_fields: get(DROP).map(|v| v == "true"),
    };
    Ok(Some(Read { applied: a, props }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let lb = find(c, cur)
        .await?
        .ok_or_else(|| ProviderError::failed("the load balancer no longer exists"))?;
    let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("subnets") {
        c.elb
            .set_subnets()
            .load_balancer_arn(&arn)
            .set_subnets(Some(p.subnets.clone()))
            .send()
            .await
            .map_err(|e| error::aws("elasticloadbalancing:SetSubnets", e))?;
    }
    if has("security_groups") {
        c.elb
            .set_security_groups()
            .load_balancer_arn(&arn)
            .set_security_groups(Some(p.security_groups.clone()))
            .send()
            .await
            .map_err(|e| error::aws("elasticloadbalancing:SetSecurityGroups", e))?;
    }
    set_attributes(c, &arn, p, Some(changed)).await?;
    if has("tags") {
        crate::retag::elbv2(c, &arn, &cur.tags, &r.tags).await?;
    }
    let lb = by_arn(c, &arn).await?.unwrap_or(lb);
    Ok(applied(&lb))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
    let arn = match find(c, cur).await? {
        Some(lb) => lb.load_balancer_arn().unwrap_or_default().to_string(),
        None => return Ok(()),
    };
    match c
        .elb
        .delete_load_balancer()
        .load_balancer_arn(&arn)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if error::is_not_found(&e) => return Ok(()),
        Err(e) => return Err(error::aws("elasticloadbalancing:DeleteLoadBalancer", e)),
    }
    crate::wait::until(
        &format!("load balancer {arn} to be deleted"),
        Duration::from_secs(1),
        Duration::from_secs(600),
        || async { Ok(by_arn(c, &arn).await?.is_none().then_some(())) },
    )
    .await
}
