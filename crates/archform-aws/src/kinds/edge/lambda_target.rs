//! elbv2.lambda_target: RegisterTargets of a function in a lambda target
//! group (the engine orders it after the invoke permission). Registration
//! is idempotent, so a repeated create adopts. Physical id:
//! `<target group arn>|<function arn>`.

use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_elasticloadbalancingv2::types::TargetDescription;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub target_group_arn: String,
    pub function_arn: String,
}

fn parts(cur: &ResourceState, hint: Option<&Props>) -> Option<(String, String)> {
    if let Some((tg, f)) = cur.physical_id.as_deref().and_then(|id| id.split_once('|')) {
        return Some((tg.to_string(), f.to_string()));
    }
    hint.map(|h| (h.target_group_arn.clone(), h.function_arn.clone()))
}

fn target(f: &str) -> TargetDescription {
    TargetDescription::builder().id(f).build()
}

fn applied(tg: &str, f: &str) -> Applied {
    Applied {
        physical_id: format!("{tg}|{f}"),
        attributes: IndexMap::new(),
    }
}

pub(crate) async fn create(c: &Clients, _r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    c.elb
        .register_targets()
        .target_group_arn(&p.target_group_arn)
        .targets(target(&p.function_arn))
        .send()
        .await
        .map_err(|e| error::aws("elasticloadbalancing:RegisterTargets", e))?;
    Ok(applied(&p.target_group_arn, &p.function_arn))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some((tg, f)) = parts(cur, hint) else {
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
    Ok(registered.then(|| Read {
        applied: applied(&tg, &f),
        props: Props {
            target_group_arn: tg.clone(),
            function_arn: f.clone(),
        },
    }))
}

pub(crate) async fn update(
    _c: &Clients,
    _r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    _changed: &[String],
) -> ProviderResult<Applied> {
    // Both properties force a replacement; nothing changes in place.
    Ok(match &cur.physical_id {
        Some(id) => Applied {
            physical_id: id.clone(),
            attributes: IndexMap::new(),
        },
        None => applied(&p.target_group_arn, &p.function_arn),
    })
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some((tg, f)) = parts(cur, hint) else {
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
