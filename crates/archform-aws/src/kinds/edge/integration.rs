//! apigatewayv2.integration: a Lambda proxy integration (POST to the
//! function's invoke ARN). Untaggable; a repeated create adopts the API's
//! integration with the same type and URI.

use super::apigw;
use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_apigatewayv2::types::IntegrationType;
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

fn api(r: &Resolved) -> ProviderResult<&str> {
    r.str("api_id")
        .ok_or_else(|| ProviderError::Invalid("api_id is required".into()))
}

async fn same_uri(c: &Clients, api_id: &str, uri: &str) -> ProviderResult<Option<String>> {
    let mut token = None;
    loop {
        let out = match c
            .apigw
            .get_integrations()
            .api_id(api_id)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if error::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(error::aws("apigateway:GetIntegrations", e)),
        };
        if let Some(i) = out
            .items()
            .iter()
            .find(|i| i.integration_uri() == Some(uri))
        {
            return Ok(i.integration_id().map(String::from));
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
    let Some(uri) = cur
        .properties
        .get("integration_uri")
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    Ok(same_uri(c, &api_id, uri).await?.map(|id| (api_id, id)))
}

fn timeout(r: &Resolved) -> Option<i32> {
    r.int("timeout_ms").and_then(|t| i32::try_from(t).ok())
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let api_id = api(r)?;
    let uri = r
        .str("integration_uri")
        .ok_or_else(|| ProviderError::Invalid("integration_uri is required".into()))?;
    if let Some(id) = same_uri(c, api_id, uri).await? {
        return Ok(applied(&id));
    }
    let out = c
        .apigw
        .create_integration()
        .api_id(api_id)
        .integration_type(IntegrationType::from(
            r.str("integration_type").unwrap_or("AWS_PROXY"),
        ))
        .integration_uri(uri)
        .integration_method("POST")
        .set_timeout_in_millis(timeout(r))
        .send()
        .await
        .map_err(|e| error::aws("apigateway:CreateIntegration", e))?;
    Ok(applied(out.integration_id().unwrap_or_default()))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some((api_id, id)) = id_of(c, cur).await? else {
        return Ok(None);
    };
    let i = match c
        .apigw
        .get_integration()
        .api_id(&api_id)
        .integration_id(&id)
        .send()
        .await
    {
        Ok(i) => i,
        Err(e) if error::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(error::aws("apigateway:GetIntegration", e)),
    };
    let mut props = json!({
        "api_id": api_id,
        "integration_type": i.integration_type().map(|t| t.as_str()),
        "integration_uri": i.integration_uri(),
    });
    if let Some(t) = i.timeout_in_millis() {
        props["timeout_ms"] = Value::from(t);
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
        .ok_or_else(|| ProviderError::failed("the integration no longer exists"))?;
    if changed.iter().any(|p| p != "tags") {
        c.apigw
            .update_integration()
            .api_id(&api_id)
            .integration_id(&id)
            .set_integration_type(r.str("integration_type").map(IntegrationType::from))
            .set_integration_uri(r.str("integration_uri").map(String::from))
            .integration_method("POST")
            .set_timeout_in_millis(timeout(r))
            .send()
            .await
            .map_err(|e| error::aws("apigateway:UpdateIntegration", e))?;
    }
    Ok(applied(&id))
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some((api_id, id)) = id_of(c, cur).await? else {
        return Ok(());
    };
    match c
        .apigw
        .delete_integration()
        .api_id(&api_id)
        .integration_id(&id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("apigateway:DeleteIntegration", e)),
    }
}
