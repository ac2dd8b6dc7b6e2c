//! elbv2.target_group: a Lambda target group, named by its physical name,
//! tags at CreateTargetGroup; the multi-value-headers switch is a target
//! group attribute, set after creation (no create-time parameter).

use super::elb;
use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_elasticloadbalancingv2::types::{TargetGroup, TargetGroupAttribute, TargetTypeEnum};
use indexmap::IndexMap;
use serde_json::{Value, json};

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

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let name = r
        .physical_name
        .clone()
        .ok_or_else(|| ProviderError::Invalid("elbv2.target_group needs a physical name".into()))?;
    let tg = match by_name(c, &name).await? {
        Some(tg) => tg,
        None => c
            .elb
            .create_target_group()
            .name(&name)
            .target_type(TargetTypeEnum::from(
                r.str("target_type").unwrap_or("lambda"),
            ))
            .set_health_check_enabled(r.bool("health_check_enabled"))
            .set_health_check_path(r.str("health_check_path").map(String::from))
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
    if r.bool("multi_value_headers") == Some(true) {
        set_mvh(c, &a.physical_id, true).await?;
    }
    Ok(a)
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
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
        == Some("true");
    let mut props = json!({
        "target_type": tg.target_type().map(|t| t.as_str()),
        "multi_value_headers": mvh,
    });
    if let Some(h) = tg.health_check_enabled() {
        props["health_check_enabled"] = Value::from(h);
    }
    if let Some(p) = tg.health_check_path() {
        props["health_check_path"] = Value::from(p);
    }
    Ok(Some(Observed {
        applied: a,
        properties: props,
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let tg = find(c, cur)
        .await?
        .ok_or_else(|| ProviderError::failed("the target group no longer exists"))?;
    let a = applied(&tg);
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("health_check_enabled") || has("health_check_path") {
        c.elb
            .modify_target_group()
            .target_group_arn(&a.physical_id)
            .set_health_check_enabled(r.bool("health_check_enabled"))
            .set_health_check_path(r.str("health_check_path").map(String::from))
            .send()
            .await
            .map_err(|e| error::aws("elasticloadbalancing:ModifyTargetGroup", e))?;
    }
    if has("multi_value_headers") {
        set_mvh(
            c,
            &a.physical_id,
            r.bool("multi_value_headers").unwrap_or(false),
        )
        .await?;
    }
    if has("tags") {
        crate::retag::elbv2(c, &a.physical_id, &cur.tags, &r.tags).await?;
    }
    Ok(a)
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
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
