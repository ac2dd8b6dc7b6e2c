//! apigatewayv2.route: a route key with target `integrations/<id>`.
//! Untaggable; a route key is unique within an API, so a repeated create
//! adopts the API's route with that key.

use super::apigw;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_apigatewayv2::operation::get_route::GetRouteOutput;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub api_id: String,
    pub route_key: String,
    pub integration_id: String,
}

fn applied(id: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(id));
    Applied {
        physical_id: id.to_string(),
        attributes,
    }
}

fn target(p: &Props) -> String {
    format!("integrations/{}", p.integration_id)
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

async fn get(c: &Clients, api_id: &str, id: &str) -> ProviderResult<Option<GetRouteOutput>> {
    match c.apigw.get_route().api_id(api_id).route_id(id).send().await {
        Ok(r) => Ok(Some(r)),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("apigateway:GetRoute", e)),
    }
}

/// The route with its API's id and its own: by the saved id (in the
/// applied API, else in whichever API has it), or, without one, by the
/// applied route key.
async fn find(
    c: &Clients,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<(String, String, GetRouteOutput)>> {
    let api_id = hint.map(|h| h.api_id.as_str());
    let id = match (&cur.physical_id, hint) {
        (Some(id), _) => id.clone(),
        (None, Some(h)) => match by_key(c, &h.api_id, &h.route_key).await? {
            Some(id) => id,
            None => return Ok(None),
        },
        (None, None) => return Ok(None),
    };
    let found = apigw::locate(
        c,
        cur,
        api_id,
        |_| true,
        |api| {
            let id = id.clone();
            async move { get(c, &api, &id).await }
        },
    )
    .await?;
    Ok(found.map(|(api, r)| (api, id, r)))
}

pub(crate) async fn create(c: &Clients, _r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    if let Some(id) = by_key(c, &p.api_id, &p.route_key).await? {
        return Ok(applied(&id));
    }
    let out = c
        .apigw
        .create_route()
        .api_id(&p.api_id)
        .route_key(&p.route_key)
        .target(target(p))
        .send()
        .await
        .map_err(|e| error::aws("apigateway:CreateRoute", e))?;
    Ok(applied(out.route_id().unwrap_or_default()))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some((api_id, id, route)) = find(c, cur, hint).await? else {
        return Ok(None);
    };
    let props = Props {
        api_id,
        route_key: route.route_key().unwrap_or_default().to_string(),
        // A target other than an integration reads as none.
        integration_id: route
            .target()
            .and_then(|t| t.strip_prefix("integrations/"))
            .unwrap_or_default()
            .to_string(),
    };
    Ok(Some(Read {
        applied: applied(&id),
        props,
    }))
}

pub(crate) async fn update(
    c: &Clients,
    _r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let old = crate::kinds::hint::<Props>(cur);
    let (api_id, id, _) = find(c, cur, old.as_ref())
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
            .route_key(&p.route_key)
            .target(target(p))
            .send()
            .await
            .map_err(|e| error::aws("apigateway:UpdateRoute", e))?;
    }
    Ok(applied(&id))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some((api_id, id, _)) = find(c, cur, hint).await? else {
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
