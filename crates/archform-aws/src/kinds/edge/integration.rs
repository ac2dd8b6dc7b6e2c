//! apigatewayv2.integration: a Lambda proxy integration (POST to the
//! function's invoke ARN). Untaggable; a repeated create adopts the API's
//! integration with the same type and URI.

use super::apigw;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_apigatewayv2::operation::get_integration::GetIntegrationOutput;
use aws_sdk_apigatewayv2::types::IntegrationType;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub api_id: String,
    pub integration_type: String,
    pub integration_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<i64>,
}

/// What archform sends for an omitted timeout: AWS's own default for
/// WebSocket APIs (the spec's), so that emulators with another default
/// (moto: 30000) hold the same.
const TIMEOUT_MS: i32 = 29_000;

fn applied(id: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(id));
    Applied {
        physical_id: id.to_string(),
        attributes,
    }
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

async fn get(c: &Clients, api_id: &str, id: &str) -> ProviderResult<Option<GetIntegrationOutput>> {
    match c
        .apigw
        .get_integration()
        .api_id(api_id)
        .integration_id(id)
        .send()
        .await
    {
        Ok(i) => Ok(Some(i)),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("apigateway:GetIntegration", e)),
    }
}

/// The integration with its API's id and its own: by the saved id (in the
/// applied API, else in whichever API has it), or, without one, by the
/// applied URI.
async fn find(
    c: &Clients,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<(String, String, GetIntegrationOutput)>> {
    let api_id = hint.map(|h| h.api_id.as_str());
    let id = match (&cur.physical_id, hint) {
        (Some(id), _) => id.clone(),
        (None, Some(h)) => match same_uri(c, &h.api_id, &h.integration_uri).await? {
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
    Ok(found.map(|(api, i)| (api, id, i)))
}

fn timeout(p: &Props) -> i32 {
    p.timeout_ms
        .and_then(|t| i32::try_from(t).ok())
        .unwrap_or(TIMEOUT_MS)
}

pub(crate) async fn create(c: &Clients, _r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    if let Some(id) = same_uri(c, &p.api_id, &p.integration_uri).await? {
        return Ok(applied(&id));
    }
    let out = c
        .apigw
        .create_integration()
        .api_id(&p.api_id)
        .integration_type(IntegrationType::from(p.integration_type.as_str()))
        .integration_uri(&p.integration_uri)
        .integration_method("POST")
        .timeout_in_millis(timeout(p))
        .send()
        .await
        .map_err(|e| error::aws("apigateway:CreateIntegration", e))?;
    Ok(applied(out.integration_id().unwrap_or_default()))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some((api_id, id, i)) = find(c, cur, hint).await? else {
        return Ok(None);
    };
    let props = Props {
        api_id,
        integration_type: i
            .integration_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        integration_uri: i.integration_uri().unwrap_or_default().to_string(),
        timeout_ms: i.timeout_in_millis().map(i64::from),
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
        .ok_or_else(|| ProviderError::failed("the integration no longer exists"))?;
    if changed.iter().any(|p| p != "tags") {
        c.apigw
            .update_integration()
            .api_id(&api_id)
            .integration_id(&id)
            .integration_type(IntegrationType::from(p.integration_type.as_str()))
            .integration_uri(&p.integration_uri)
            .integration_method("POST")
            .timeout_in_millis(timeout(p))
            .send()
            .await
            .map_err(|e| error::aws("apigateway:UpdateIntegration", e))?;
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
