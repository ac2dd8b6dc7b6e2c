//! elbv2.target_group: a Lambda target group, named by its physical name,
//! tags at CreateTargetGroup; the multi-value-headers switch is a target
//! group attribute, set after creation (no create-time parameter).

use super::elb;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::name_of;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_elasticloadbalancingv2::types::{TargetGroup, TargetGroupAttribute, TargetTypeEnum};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub target_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_value_headers: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_path: Option<String>,
}

const MVH: &str = "lambda.multi_value_headers.enabled";

fn applied(tg: &TargetGroup) -> Applied {
    let arn = tg.target_group_arn().unwrap_or_default().to_string();
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn.clone()));
    attributes.insert("full_name".into(), Value::from(elb::full_name(&arn, ":")));
    Applied {
        physical_id: arn,
        attributes,
    }
}

async fn by_name(c: &Clients, name: &str) -> ProviderResult<Option<TargetGroup>> {
    match c.elb.describe_target_groups().names(name).send().await {
        Ok(o) => Ok(o.target_groups().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("elasticloadbalancing:DescribeTargetGroups", e)),
    }
}

async fn by_arn(c: &Clients, arn: &str) -> ProviderResult<Option<TargetGroup>> {
    match c
        .elb
        .describe_target_groups()
        .target_group_arns(arn)
        .send()
        .await
    {
        Ok(o) => Ok(o.target_groups().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("elasticloadbalancing:DescribeTargetGroups", e)),
    }
}

async fn find(c: &Clients, cur: &ResourceState) -> ProviderResult<Option<TargetGroup>> {
    match (&cur.physical_id, &cur.physical_name) {
        (Some(arn), _) => by_arn(c, arn).await,
        (None, Some(name)) => by_name(c, name).await,
        (None, None) => Ok(None),
    }
}

async fn set_mvh(c: &Clients, arn: &str, on: bool) -> ProviderResult<()> {
    c.elb
        .modify_target_group_attributes()
        .target_group_arn(arn)
        .attributes(
            TargetGroupAttribute::builder()
                .key(MVH)
                .value(on.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| error::aws("elasticloadbalancing:ModifyTargetGroupAttributes", e))?;
    Ok(())
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    let tg = match by_name(c, &name).await? {
        Some(tg) => tg,
        None => c
            .elb
            .create_target_group()
            .name(&name)
            .target_type(TargetTypeEnum::from(p.target_type.as_str()))
            .set_health_check_enabled(p.health_check_enabled)
            .set_health_check_path(p.health_check_path.clone())
            .set_tags(elb::tags(&r.tags))
            .send()
            .await
            .map_err(|e| error::aws("elasticloadbalancing:CreateTargetGroup", e))?
            .target_groups()
            .first()
            .cloned()
            .ok_or_else(|| {
                ProviderError::failed("CreateTargetGroup answered without a target group")
            })?,
    };
    let a = applied(&tg);
    if p.multi_value_headers == Some(true) {
        set_mvh(c, &a.physical_id, true).await?;
    }
    Ok(a)
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(tg) = find(c, cur).await? else {
        return Ok(None);
    };
    let a = applied(&tg);
    let attrs = c
        .elb
        .describe_target_group_attributes()
        .target_group_arn(&a.physical_id)
        .send()
        .await
        .map_err(|e| error::aws("elasticloadbalancing:DescribeTargetGroupAttributes", e))?;
    let mvh = attrs
        .attributes()
        .iter()
        .find(|x| x.key() == Some(MVH))
        .and_then(|x| x.value())
        .map(|v| v == "true");
    let props = Props {
        target_type: tg
            .target_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        multi_value_headers: mvh,
        health_check_enabled: tg.health_check_enabled(),
        health_check_path: tg.health_check_path().map(String::from),
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
    let tg = find(c, cur)
        .await?
        .ok_or_else(|| ProviderError::failed("the target group no longer exists"))?;
    let a = applied(&tg);
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("health_check_enabled") || has("health_check_path") {
        // One the blueprint no longer sets goes back to the lambda target
        // group's default (the spec's).
        c.elb
            .modify_target_group()
            .target_group_arn(&a.physical_id)
            .health_check_enabled(p.health_check_enabled.unwrap_or(false))
            .health_check_path(p.health_check_path.as_deref().unwrap_or("/"))
            .send()
            .await
            .map_err(|e| error::aws("elasticloadbalancing:ModifyTargetGroup", e))?;
    }
    if has("multi_value_headers") {
        set_mvh(c, &a.physical_id, p.multi_value_headers.unwrap_or(false)).await?;
    }
    if has("tags") {
        crate::retag::elbv2(c, &a.physical_id, &cur.tags, &r.tags).await?;
    }
    Ok(a)
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
    let arn = match &cur.physical_id {
        Some(a) => a.clone(),
        None => match find(c, cur).await? {
            Some(tg) => applied(&tg).physical_id,
            None => return Ok(()),
        },
    };
    match c
        .elb
        .delete_target_group()
        .target_group_arn(&arn)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("elasticloadbalancing:DeleteTargetGroup", e)),
    }
}
