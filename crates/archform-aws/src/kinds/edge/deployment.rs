//! apigatewayv2.deployment: a snapshot of the API's routes. Untaggable; a
//! repeated create adopts the API's deployment with the same description
//! (the blueprint puts the route revision in it). Endpoints without
//! CreateDeployment (moto) surface as `ProviderError::Unsupported`.

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

async fn by_description(
    c: &Clients,
    api_id: &str,
    description: &str,
) -> ProviderResult<Option<String>> {
    let mut token = None;
    loop {
        let out = match c
            .apigw
            .get_deployments()
            .api_id(api_id)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if error::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(error::aws("apigateway:GetDeployments", e)),
        };
        if let Some(d) = out
            .items()
            .iter()
            .find(|d| d.description() == Some(description))
        {
            return Ok(d.deployment_id().map(String::from));
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
    let Some(d) = cur.properties.get("description").and_then(Value::as_str) else {
        return Ok(None);
    };
    Ok(by_description(c, &api_id, d).await?.map(|id| (api_id, id)))
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let api_id = r
        .str("api_id")
        .ok_or_else(|| ProviderError::Invalid("api_id is required".into()))?;
    if let Some(d) = r.str("description") {
        match by_description(c, api_id, d).await {
            Ok(Some(id)) => return Ok(applied(&id)),
            Ok(None) => {}
            // An endpoint without deployments at all: CreateDeployment
            // below reports that as the operation this kind needs.
            Err(ProviderError::Unsupported { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let out = c
        .apigw
        .create_deployment()
        .api_id(api_id)
        .set_description(r.str("description").map(String::from))
        .send()
        .await
        .map_err(|e| error::aws("apigateway:CreateDeployment", e))?;
    Ok(applied(out.deployment_id().unwrap_or_default()))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some((api_id, id)) = id_of(c, cur).await? else {
        return Ok(None);
    };
    let d = match c
        .apigw
        .get_deployment()
        .api_id(&api_id)
        .deployment_id(&id)
        .send()
        .await
    {
        Ok(d) => d,
        Err(e) if error::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(error::aws("apigateway:GetDeployment", e)),
    };
    let mut props = json!({ "api_id": api_id });
    if let Some(desc) = d.description() {
        props["description"] = Value::from(desc);
    }
    // `revision` is archform's own trigger, not stored by AWS.
    if let Some(rev) = cur.properties.get("revision") {
        props["revision"] = rev.clone();
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
        .ok_or_else(|| ProviderError::failed("the deployment no longer exists"))?;
    if changed.iter().any(|p| p == "description") {
        c.apigw
            .update_deployment()
            .api_id(&api_id)
            .deployment_id(&id)
            .description(r.str("description").unwrap_or_default())
            .send()
            .await
            .map_err(|e| error::aws("apigateway:UpdateDeployment", e))?;
    }
    Ok(applied(&id))
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some((api_id, id)) = id_of(c, cur).await? else {
        return Ok(());
    };
    match c
        .apigw
        .delete_deployment()
        .api_id(&api_id)
        .deployment_id(&id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("apigateway:DeleteDeployment", e)),
    }
}
