//! apigatewayv2.deployment: a snapshot of the API's routes. Untaggable; a
//! repeated create adopts the API's deployment with the same description
//! (the blueprint puts the route revision in it). Endpoints without
//! CreateDeployment (moto) surface as `ProviderError::Unsupported`.

use super::apigw;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_apigatewayv2::operation::get_deployment::GetDeploymentOutput;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub api_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// archform's own trigger of a new deployment: AWS never holds it, so
    /// a read leaves it out (the spec declares it write-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

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

async fn get(c: &Clients, api_id: &str, id: &str) -> ProviderResult<Option<GetDeploymentOutput>> {
    match c
        .apigw
        .get_deployment()
        .api_id(api_id)
        .deployment_id(id)
        .send()
        .await
    {
        Ok(d) => Ok(Some(d)),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("apigateway:GetDeployment", e)),
    }
}

/// The deployment with its API's id and its own: by the saved id (in the
/// applied API, else in whichever API has it), or, without one, by the
/// applied description.
async fn find(
    c: &Clients,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<(String, String, GetDeploymentOutput)>> {
    let api_id = hint.map(|h| h.api_id.as_str());
    let id = match (&cur.physical_id, hint) {
        (Some(id), _) => id.clone(),
        (
            None,
            Some(Props {
                api_id,
                description: Some(d),
                ..
            }),
        ) => match by_description(c, api_id, d).await? {
            Some(id) => id,
            None => return Ok(None),
        },
        (None, _) => return Ok(None),
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
    Ok(found.map(|(api, d)| (api, id, d)))
}

pub(crate) async fn create(c: &Clients, _r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    if let Some(d) = &p.description {
        match by_description(c, &p.api_id, d).await {
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
        .api_id(&p.api_id)
        .set_description(p.description.clone())
        .send()
        .await
        .map_err(|e| error::aws("apigateway:CreateDeployment", e))?;
    Ok(applied(out.deployment_id().unwrap_or_default()))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some((api_id, id, d)) = find(c, cur, hint).await? else {
        return Ok(None);
    };
    let props = Props {
        api_id,
        description: d.description().map(String::from),
        revision: None,
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
        .ok_or_else(|| ProviderError::failed("the deployment no longer exists"))?;
    if changed.iter().any(|p| p == "description") {
        c.apigw
            .update_deployment()
            .api_id(&api_id)
            .deployment_id(&id)
            .description(p.description.as_deref().unwrap_or_default())
            .send()
            .await
            .map_err(|e| error::aws("apigateway:UpdateDeployment", e))?;
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
