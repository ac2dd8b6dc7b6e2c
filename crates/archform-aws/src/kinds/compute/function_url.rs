//! lambda.function_url: CreateFunctionUrlConfig; a function has at most one
//! URL (unqualified), so an existing one is found by the function's name.

use super::function_ref;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_lambda::types::FunctionUrlAuthType;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub function_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
}

/// What GetFunctionUrlConfig reports.
struct UrlConfig {
    url: String,
    function_arn: String,
    auth_type: String,
}

fn applied(function: &str, url: &str, arn: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("url".into(), Value::from(url));
    attributes.insert("arn".into(), Value::from(arn));
    Applied {
        physical_id: function.to_string(),
        attributes,
    }
}

async fn get(c: &Clients, function: &str) -> ProviderResult<Option<UrlConfig>> {
    match c
        .lambda
        .get_function_url_config()
        .function_name(function)
        .send()
        .await
    {
        Ok(o) => Ok(Some(UrlConfig {
            url: o.function_url().to_string(),
            function_arn: o.function_arn().to_string(),
            auth_type: o.auth_type().as_str().to_string(),
        })),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("lambda:GetFunctionUrlConfig", e)),
    }
}

fn auth(p: &Props) -> FunctionUrlAuthType {
    FunctionUrlAuthType::from(p.auth_type.as_deref().unwrap_or("AWS_IAM"))
}

/// The function as it was applied: the physical id, else the last applied
/// properties (a create cut off before its answer was saved).
fn function_of(cur: &ResourceState, hint: Option<&Props>) -> Option<String> {
    cur.physical_id
        .clone()
        .or_else(|| hint.map(|h| h.function_name.clone()))
}

pub(crate) async fn create(c: &Clients, _r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let function = &p.function_name;
    if let Some(have) = get(c, function).await? {
        if have.auth_type != auth(p).as_str() {
            c.lambda
                .update_function_url_config()
                .function_name(function)
                .auth_type(auth(p))
                .send()
                .await
                .map_err(|e| error::aws("lambda:UpdateFunctionUrlConfig", e))?;
        }
        return Ok(applied(function, &have.url, &have.function_arn));
    }
    let out = c
        .lambda
        .create_function_url_config()
        .function_name(function)
        .auth_type(auth(p))
        .send()
        .await
        .map_err(|e| error::aws("lambda:CreateFunctionUrlConfig", e))?;
    Ok(applied(function, out.function_url(), out.function_arn()))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(function) = function_of(cur, hint) else {
        return Ok(None);
    };
    let Some(have) = get(c, &function).await? else {
        return Ok(None);
    };
    Ok(Some(Read {
        applied: applied(&function, &have.url, &have.function_arn),
        props: Props {
            // AWS names the function by its ARN; the blueprint named it as
            // it was applied (also the physical id).
            function_name: function_ref(
                &have.function_arn,
                Some(hint.map_or(function.as_str(), |h| h.function_name.as_str())),
            ),
            auth_type: Some(have.auth_type),
        },
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let function = cur
        .physical_id
        .clone()
        .unwrap_or_else(|| p.function_name.clone());
    if changed.iter().any(|p| p == "auth_type") {
        let out = c
            .lambda
            .update_function_url_config()
            .function_name(&function)
            .auth_type(auth(p))
            .send()
            .await
            .map_err(|e| error::aws("lambda:UpdateFunctionUrlConfig", e))?;
        return Ok(applied(&function, out.function_url(), out.function_arn()));
    }
    let have = get(c, &function).await?.ok_or_else(|| {
        ProviderError::failed(format!("{}: function URL of {function} not found", r.id))
    })?;
    Ok(applied(&function, &have.url, &have.function_arn))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some(function) = function_of(cur, hint) else {
        return Ok(());
    };
    match c
        .lambda
        .delete_function_url_config()
        .function_name(&function)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("lambda:DeleteFunctionUrlConfig", e)),
    }
}
