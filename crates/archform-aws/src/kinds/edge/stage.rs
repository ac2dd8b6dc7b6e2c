//! apigatewayv2.stage: a named stage of an API with default route
//! throttling, tags at CreateStage. Physical id: the stage name (unique
//! within its API, so a repeated create adopts the existing stage).

use super::apigw;
use crate::clients::Clients;
use crate::error;
use crate::inventory::ID_TAG;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_apigatewayv2::operation::get_stage::GetStageOutput;
use aws_sdk_apigatewayv2::types::RouteSettings;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub api_id: String,
    pub stage_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling_burst_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling_rate_limit: Option<i64>,
}

fn applied(c: &Clients, api_id: &str, name: &str) -> ProviderResult<Applied> {
    let region = crate::support::region(c)?;
    let suffix = crate::support::partition(&region).1;
    let mut attributes = IndexMap::new();
    attributes.insert("name".into(), Value::from(name));
    attributes.insert(
        "invoke_url".into(),
        Value::from(format!(
            "wss://{api_id}.execute-api.{region}.{suffix}/{name}"
        )),
    );
    Ok(Applied {
        physical_id: name.to_string(),
        attributes,
    })
}

fn settings(p: &Props) -> Option<RouteSettings> {
    let burst = p.throttling_burst_limit.and_then(|v| i32::try_from(v).ok());
    let rate = p.throttling_rate_limit.map(|v| v as f64);
    (burst.is_some() || rate.is_some()).then(|| {
        RouteSettings::builder()
            .set_throttling_burst_limit(burst)
            .set_throttling_rate_limit(rate)
            .build()
    })
}

async fn get(c: &Clients, api_id: &str, name: &str) -> ProviderResult<Option<GetStageOutput>> {
    match c
        .apigw
        .get_stage()
        .api_id(api_id)
        .stage_name(name)
        .send()
        .await
    {
        Ok(s) => Ok(Some(s)),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("apigateway:GetStage", e)),
    }
}

/// The stage with its API's id and name: in the applied API, else (a state
/// without properties) in the API whose stage of that name carries this
/// resource's `archform:id` tag, since several APIs can have a `prod`.
async fn find(
    c: &Clients,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<(String, String, GetStageOutput)>> {
    let Some(name) = cur
        .physical_id
        .clone()
        .or_else(|| hint.map(|h| h.stage_name.clone()))
    else {
        return Ok(None);
    };
    let logical = cur.tags.get(ID_TAG);
    let ours = |s: &GetStageOutput| {
        logical.is_none_or(|id| s.tags().and_then(|t| t.get(ID_TAG)) == Some(id))
    };
    let api_id = hint.map(|h| h.api_id.as_str());
    let found = apigw::locate(c, cur, api_id, ours, |api| {
        let name = name.clone();
        async move { get(c, &api, &name).await }
    })
    .await?;
    Ok(found.map(|(api, s)| (api, name, s)))
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    if get(c, &p.api_id, &p.stage_name).await?.is_none() {
        c.apigw
            .create_stage()
            .api_id(&p.api_id)
            .stage_name(&p.stage_name)
            .set_deployment_id(p.deployment_id.clone())
            .set_default_route_settings(settings(p))
            .set_tags(apigw::tags(&r.tags))
            .send()
            .await
            .map_err(|e| error::aws("apigateway:CreateStage", e))?;
    }
    applied(c, &p.api_id, &p.stage_name)
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some((api_id, name, s)) = find(c, cur, hint).await? else {
        return Ok(None);
    };
    let rs = s.default_route_settings();
    let props = Props {
        api_id: api_id.clone(),
        stage_name: s.stage_name().unwrap_or(&name).to_string(),
        deployment_id: s.deployment_id().map(String::from),
        throttling_burst_limit: rs.and_then(|r| r.throttling_burst_limit()).map(i64::from),
        throttling_rate_limit: rs
            .and_then(|r| r.throttling_rate_limit())
            .map(|rate| rate as i64),
    };
    Ok(Some(Read {
        applied: applied(c, &api_id, &name)?,
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
    // The stage is where it was applied: its API id and name force a
    // replacement.
    let api_id = &p.api_id;
    let name = cur.physical_id.as_deref().unwrap_or(&p.stage_name);
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("deployment_id") || has("throttling_burst_limit") || has("throttling_rate_limit") {
        c.apigw
            .update_stage()
            .api_id(api_id)
            .stage_name(name)
            .set_deployment_id(p.deployment_id.clone())
            .set_default_route_settings(settings(p))
            .send()
            .await
            .map_err(|e| apigw::aws_or_unimplemented("apigateway:UpdateStage", e))?;
    }
    if has("tags") {
        let arn = apigw::resource_arn(c, &format!("/apis/{api_id}/stages/{name}"))?;
        crate::retag::apigw(c, &arn, &cur.tags, &r.tags).await?;
    }
    applied(c, api_id, name)
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some((api_id, name, _)) = find(c, cur, hint).await? else {
        return Ok(());
    };
    match c
        .apigw
        .delete_stage()
        .api_id(&api_id)
        .stage_name(&name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("apigateway:DeleteStage", e)),
    }
}
