//! apigatewayv2.api: a WebSocket API named by its physical name, tags at
//! CreateApi. A repeated create adopts the API with that name.

use super::apigw;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::name_of;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_apigatewayv2::types::ProtocolType;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub protocol_type: String,
    pub route_selection_expression: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

struct Api {
    id: String,
    endpoint: String,
    props: Props,
}

async fn applied(c: &Clients, api: &Api) -> ProviderResult<Applied> {
    let region = crate::support::region(c)?;
    let account = c
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| error::aws("sts:GetCallerIdentity", e))?
        .account()
        .unwrap_or_default()
        .to_string();
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(api.id.clone()));
    attributes.insert("endpoint".into(), Value::from(api.endpoint.clone()));
    attributes.insert(
        "execution_arn".into(),
        Value::from(format!(
            "arn:{}:execute-api:{region}:{account}:{}",
            crate::support::partition(&region).0,
            api.id
        )),
    );
    Ok(Applied {
        physical_id: api.id.clone(),
        attributes,
    })
}

async fn by_name(c: &Clients, name: &str) -> ProviderResult<Option<Api>> {
    let mut token = None;
    loop {
        let out = c
            .apigw
            .get_apis()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| error::aws("apigateway:GetApis", e))?;
        if let Some(a) = out.items().iter().find(|a| a.name() == Some(name)) {
            return Ok(Some(Api {
                id: a.api_id().unwrap_or_default().into(),
                endpoint: a.api_endpoint().unwrap_or_default().into(),
                props: Props {
                    protocol_type: a
                        .protocol_type()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default(),
                    route_selection_expression: a
                        .route_selection_expression()
                        .unwrap_or_default()
                        .into(),
                    description: a.description().map(String::from),
                },
            }));
        }
        match out.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(None),
        }
    }
}

async fn by_id(c: &Clients, id: &str) -> ProviderResult<Option<Api>> {
    match c.apigw.get_api().api_id(id).send().await {
        Ok(a) => Ok(Some(Api {
            id: a.api_id().unwrap_or_default().into(),
            endpoint: a.api_endpoint().unwrap_or_default().into(),
            props: Props {
                protocol_type: a
                    .protocol_type()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
                route_selection_expression: a
                    .route_selection_expression()
                    .unwrap_or_default()
                    .into(),
                description: a.description().map(String::from),
            },
        })),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("apigateway:GetApi", e)),
    }
}

async fn find(c: &Clients, cur: &ResourceState) -> ProviderResult<Option<Api>> {
    match (&cur.physical_id, &cur.physical_name) {
        (Some(id), _) => by_id(c, id).await,
        (None, Some(name)) => by_name(c, name).await,
        (None, None) => Ok(None),
    }
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    if let Some(api) = by_name(c, &name).await? {
        return applied(c, &api).await;
    }
    let out = c
        .apigw
        .create_api()
        .name(&name)
        .protocol_type(ProtocolType::from(p.protocol_type.as_str()))
        .route_selection_expression(&p.route_selection_expression)
        .set_description(p.description.clone())
        .set_tags(apigw::tags(&r.tags))
        .send()
        .await
        .map_err(|e| error::aws("apigateway:CreateApi", e))?;
    let api = Api {
        id: out.api_id().unwrap_or_default().into(),
        endpoint: out.api_endpoint().unwrap_or_default().into(),
        props: p.clone(),
    };
    applied(c, &api).await
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(api) = find(c, cur).await? else {
        return Ok(None);
    };
    Ok(Some(Read {
        applied: applied(c, &api).await?,
        props: api.props,
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let api = find(c, cur)
        .await?
        .ok_or_else(|| ProviderError::failed("the API no longer exists"))?;
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("route_selection_expression") || has("description") {
        c.apigw
            .update_api()
            .api_id(&api.id)
            .route_selection_expression(&p.route_selection_expression)
            .description(p.description.as_deref().unwrap_or_default())
            .send()
            .await
            .map_err(|e| error::aws("apigateway:UpdateApi", e))?;
    }
    if has("tags") {
        let arn = apigw::resource_arn(c, &format!("/apis/{}", api.id))?;
        crate::retag::apigw(c, &arn, &cur.tags, &r.tags).await?;
    }
    applied(c, &api).await
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some(api) = find(c, cur).await? else {
        return Ok(());
    };
    match c.apigw.delete_api().api_id(&api.id).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("apigateway:DeleteApi", e)),
    }
}
