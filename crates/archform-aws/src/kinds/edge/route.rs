//! apigatewayv2.route: a route key with target `integrations/<id>`.
//! Untaggable; a route key is unique within an API, so a repeated create
//! adopts the API's route with that key.

use super::apigw;
use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use indexmap::IndexMap;
use serde_json::{Value, json};

fn applied(id: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(id));
    Applied {
        physical_id: id.to_string(),
        attributes,
    }
}

fn target(r: &Resolved) -> Option<String> {
    r.str("integration_id").map(|i| format!("integrations/{i}"))
}

async fn by_key(c: &Clients, api_id: &str, key: &str) -> ProviderResult<Option<String>> {
    let mut token = None;
    loop {
        let out = match c
            .apigw
            .get_routes()
            .api_id(api_id)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if error::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(error::aws("apigateway:GetRoutes", e)),
        };
        if let Some(r) = out.items().iter().find(|r| r.route_key() == Some(key)) {
            return Ok(r.route_id().map(String::from));
        }
        match out.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(None),
        }
    }
}

async fn id_of(c: &Clients, cur: &ResourceState) -> ProviderResult<Option<(String, String)>> {
    let Some(api_id) = apigw::api_id(&cur.properties) else {
        return Ok(None);
    };
    if let Some(id) = &cur.physical_id {
        return Ok(Some((api_id, id.clone())));
    }
    let Some(key) = cur.properties.get("route_key").and_then(Value::as_str) else {
        return Ok(None);
    };
    Ok(by_key(c, &api_id, key).await?.map(|id| (api_id, id)))
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let api_id = r
        .str("api_id")
        .ok_or_else(|| ProviderError::Invalid("api_id is required".into()))?;
    let key = r
        .str("route_key")
        .ok_or_else(|| ProviderError::Invalid("route_key is required".into()))?;
    if let Some(id) = by_key(c, api_id, key).await? {
        return Ok(applied(&id));
    }
    let out = c
        .apigw
        .create_route()
        .api_id(api_id)
        .route_key(key)
        .set_target(target(r))
        .send()
        .await
        .map_err(|e| error::aws("apigateway:CreateRoute", e))?;
    Ok(applied(out.route_id().unwrap_or_default()))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some((api_id, id)) = id_of(c, cur).await? else {
        return Ok(None);
    };
    let route = match c
        .apigw
        .get_route()
        .api_id(&api_id)
        .route_id(&id)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) if error::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(error::aws("apigateway:GetRoute", e)),
    };
    let mut props = json!({ "api_id": api_id, "route_key": route.route_key() });
    if let Some(i) = route.target().and_then(|t| t.strip_prefix("integrations/")) {
        props["integration_id"] = Value::from(i);
    }
    Ok(Some(Observed {
        applied: applied(&id),
        properties: props,
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let (api_id, id) = id_of(c, cur)
        .await?
        .ok_or_else(|| ProviderError::failed("the route no longer exists"))?;
    if changed
        .iter()
        .any(|p| p == "route_key" || p == "integration_id")
    {
        c.apigw
            .update_route()
            .api_id(&api_id)
            .route_id(&id)
            .set_route_key(r.str("route_key").map(String::from))
            .set_target(target(r))
            .send()
            .await
            .map_err(|e| error::aws("apigateway:UpdateRoute", e))?;
    }
    Ok(applied(&id))
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some((api_id, id)) = id_of(c, cur).await? else {
        return Ok(());
    };
    match c
        .apigw
        .delete_route()
        .api_id(&api_id)
        .route_id(&id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("apigateway:DeleteRoute", e)),
    }
}
