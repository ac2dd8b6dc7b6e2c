//! elbv2.lambda_target: RegisterTargets of a function in a lambda target
//! group (the engine orders it after the invoke permission). Registration
//! is idempotent, so a repeated create adopts. Physical id:
//! `<target group arn>|<function arn>`.

use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_elasticloadbalancingv2::types::TargetDescription;
use indexmap::IndexMap;
use serde_json::json;

fn parts(cur: &ResourceState) -> Option<(String, String)> {
    if let Some((tg, f)) = cur.physical_id.as_deref().and_then(|id| id.split_once('|')) {
        return Some((tg.to_string(), f.to_string()));
    }
    let p = &cur.properties;
    Some((
        p.get("target_group_arn")?.as_str()?.to_string(),
        p.get("function_arn")?.as_str()?.to_string(),
    ))
}

fn target(f: &str) -> TargetDescription {
    TargetDescription::builder().id(f).build()
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let tg = r
        .str("target_group_arn")
        .ok_or_else(|| ProviderError::Invalid("target_group_arn is required".into()))?;
    let f = r
        .str("function_arn")
        .ok_or_else(|| ProviderError::Invalid("function_arn is required".into()))?;
    c.elb
        .register_targets()
        .target_group_arn(tg)
        .targets(target(f))
        .send()
        .await
        .map_err(|e| error::aws("elasticloadbalancing:RegisterTargets", e))?;
    Ok(Applied {
        physical_id: format!("{tg}|{f}"),
        attributes: IndexMap::new(),
    })
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some((tg, f)) = parts(cur) else {
        return Ok(None);
    };
    // Without a target filter the answer lists only registered targets.
    let out = match c
        .elb
        .describe_target_health()
        .target_group_arn(&tg)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) if error::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(error::aws("elasticloadbalancing:DescribeTargetHealth", e)),
    };
    let registered = out
        .target_health_descriptions()
        .iter()
        .any(|d| d.target().and_then(|t| t.id()) == Some(f.as_str()));
    Ok(registered.then(|| Observed {
        applied: Applied {
            physical_id: format!("{tg}|{f}"),
            attributes: IndexMap::new(),
        },
        properties: json!({ "target_group_arn": tg, "function_arn": f }),
    }))
}

pub(crate) async fn update(
    _c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    _changed: &[String],
) -> ProviderResult<Applied> {
    // Both properties force a replacement; nothing changes in place.
    let id = cur.physical_id.clone().unwrap_or_else(|| {
        format!(
            "{}|{}",
            r.str("target_group_arn").unwrap_or_default(),
            r.str("function_arn").unwrap_or_default()
        )
    });
    Ok(Applied {
        physical_id: id,
        attributes: IndexMap::new(),
    })
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some((tg, f)) = parts(cur) else {
        return Ok(());
    };
    match c
        .elb
        .deregister_targets()
        .target_group_arn(&tg)
        .targets(target(&f))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) || error::code(&e) == Some("InvalidTarget") => Ok(()),
        Err(e) => Err(error::aws("elasticloadbalancing:DeregisterTargets", e)),
    }
}
