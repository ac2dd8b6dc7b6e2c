//! API Gateway v2 helpers: tag ARNs, tags, finding the API a sub-resource
//! belongs to, moto's unimplemented operations.

use crate::clients::Clients;
use crate::error;
use crate::inventory::STACK_TAG;
use crate::support::{partition, region};
use archform_engine::provider::{ProviderError, ProviderResult};
use archform_engine::state::ResourceState;
use indexmap::IndexMap;
use std::collections::HashMap;
use std::future::Future;

/// The ARN API Gateway's tagging calls take for a path like `/apis/<id>`.
pub(crate) fn resource_arn(c: &Clients, path: &str) -> ProviderResult<String> {
    let region = region(c)?;
    Ok(format!(
        "arn:{}:apigateway:{region}::{path}",
        partition(&region).0
    ))
}

pub(crate) fn tags(t: &IndexMap<String, String>) -> Option<HashMap<String, String>> {
    (!t.is_empty()).then(|| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// The ids of every API, those tagged with `stack` first. (GetApis has no
/// paginator in the SDK.)
async fn apis(c: &Clients, stack: Option<&str>) -> ProviderResult<Vec<String>> {
    let (mut ours, mut others) = (Vec::new(), Vec::new());
    let mut token = None;
    loop {
        let out = c
            .apigw
            .get_apis()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| error::aws("apigateway:GetApis", e))?;
        for a in out.items() {
            let id = a.api_id().unwrap_or_default().to_string();
            let tagged = a.tags().and_then(|t| t.get(STACK_TAG)).map(String::as_str);
            if stack.is_some() && tagged == stack {
                ours.push(id);
            } else {
                others.push(id);
            }
        }
        match out.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    ours.extend(others);
    Ok(ours)
}

/// A sub-resource of an API (integration, route, deployment, stage) as
/// `get(api_id)` finds it, with the id of its API. `api_id` is the API it
/// was applied with; without one (a state with no properties, as `state
/// recover` rebuilds it) each API is asked, those of the resource's stack
/// first, and the first answer `accept` takes is the resource.
pub(crate) async fn locate<T, F, Fut>(
    c: &Clients,
    cur: &ResourceState,
    api_id: Option<&str>,
    accept: impl Fn(&T) -> bool,
    get: F,
) -> ProviderResult<Option<(String, T)>>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ProviderResult<Option<T>>>,
{
    if let Some(api) = api_id {
        return Ok(get(api.to_string()).await?.map(|t| (api.to_string(), t)));
    }
    let stack = cur.tags.get(STACK_TAG).map(String::as_str);
    for api in apis(c, stack).await? {
        if let Some(t) = get(api.clone()).await?
            && accept(&t)
        {
            return Ok(Some((api, t)));
        }
    }
    Ok(None)
}

/// Like [`crate::error::aws`], and also reports as unsupported the answer
/// moto gives for an operation it routes but does not implement: a 500
/// with an HTML body and no AWS error code (its NotImplementedError page).
/// AWS's own 5xx answers are JSON with an error type, so this never
/// applies to them.
pub(crate) fn aws_or_unimplemented<E>(
    operation: &str,
    e: aws_sdk_apigatewayv2::error::SdkError<E, aws_sdk_apigatewayv2::config::http::HttpResponse>,
) -> ProviderError
where
    E: aws_sdk_apigatewayv2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_apigatewayv2::error::SdkError;
    if let SdkError::ServiceError(se) = &e {
        let html = se
            .raw()
            .headers()
            .get("content-type")
            .is_some_and(|t| t.starts_with("text/html"));
        if se.err().code().is_none() && se.raw().status().as_u16() == 500 && html {
            return ProviderError::Unsupported {
                operation: operation.to_string(),
                message: "the endpoint answered an HTML 500 without an AWS error (operation not implemented)".into(),
            };
        }
    }
    error::aws(operation, e)
}
