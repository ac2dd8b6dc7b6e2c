//! apigatewayv2.stage: a named stage of an API with default route
//! throttling, tags at CreateStage. Physical id: the stage name (unique
//! within its API, so a repeated create adopts the existing stage).

use super::apigw;
use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_apigatewayv2::types::RouteSettings;
use indexmap::IndexMap;
use serde_json::{Value, json};

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

fn settings(r: &Resolved) -> Option<RouteSettings> {
    let burst = r
        .int("throttling_burst_limit")
        .and_then(|v| i32::try_from(v).ok());
    let rate = r.int("throttling_rate_limit").map(|v| v as f64);
    (burst.is_some() || rate.is_some()).then(|| {
        RouteSettings::builder()
            .set_throttling_burst_limit(burst)
            .set_throttling_rate_limit(rate)
            .build()
    })
}

fn ids(cur: &ResourceState) -> Option<(String, String)> {
    let api_id = apigw::api_id(&cur.properties)?;
    let name = cur.physical_id.clone().or_else(|| {
        cur.properties
            .get("stage_name")
            .and_then(Value::as_str)
            .map(String::from)
    })?;
    Some((api_id, name))
}

async fn get(
    c: &Clients,
    api_id: &str,
    name: &str,
) -> ProviderResult<Option<aws_sdk_apigatewayv2::operation::get_stage::GetStageOutput>> {
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

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let api_id = r
        .str("api_id")
        .ok_or_else(|| ProviderError::Invalid("api_id is required".into()))?;
    let name = r
        .str("stage_name")
        .ok_or_else(|| ProviderError::Invalid("stage_name is required".into()))?;
    if get(c, api_id, name).await?.is_none() {
        c.apigw
            .create_stage()
            .api_id(api_id)
            .stage_name(name)
            .set_deployment_id(r.str("deployment_id").map(String::from))
            .set_default_route_settings(settings(r))
            .set_tags(apigw::tags(&r.tags))
            .send()
            .await
            .map_err(|e| error::aws("apigateway:CreateStage", e))?;
    }
    applied(c, api_id, name)
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some((api_id, name)) = ids(cur) else {
        return Ok(None);
    };
    let Some(s) = get(c, &api_id, &name).await? else {
        return Ok(None);
    };
    let mut props = json!({ "api_id": api_id, "stage_name": s.stage_name() });
    if let Some(d) = s.deployment_id() {
        props["deployment_id"] = Value::from(d);
    }
    if let Some(rs) = s.default_route_settings() {
        if let Some(b) = rs.throttling_burst_limit() {
            props["throttling_burst_limit"] = Value::from(b);
        }
        if let Some(rate) = rs.throttling_rate_limit() {
            props["throttling_rate_limit"] = Value::from(rate as i64);
        }
    }
    Ok(Some(Observed {
        applied: applied(c, &api_id, &name)?,
        properties: props,
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let (api_id, name) =
        ids(cur).ok_or_else(|| ProviderError::failed("the stage has no API id in state"))?;
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("deployment_id") || has("throttling_burst_limit") || has("throttling_rate_limit") {
        c.apigw
            .update_stage()
            .api_id(&api_id)
            .stage_name(&name)
            .set_deployment_id(r.str("deployment_id").map(String::from))
            .set_default_route_settings(settings(r))
            .send()
            .await
            .map_err(|e| apigw::aws_or_unimplemented("apigateway:UpdateStage", e))?;
    }
    if has("tags") {
        let arn = apigw::resource_arn(c, &format!("/apis/{api_id}/stages/{name}"))?;
        crate::retag::apigw(c, &arn, &cur.tags, &r.tags).await?;
    }
    applied(c, &api_id, &name)
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some((api_id, name)) = ids(cur) else {
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
