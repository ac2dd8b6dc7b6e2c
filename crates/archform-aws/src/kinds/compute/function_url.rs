//! lambda.function_url: CreateFunctionUrlConfig; a function has at most one
//! URL (unqualified), so an existing one is found by the function's name.

use crate::clients::Clients;
use crate::error;
use crate::kinds::security::managed;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_lambda::types::FunctionUrlAuthType;
use indexmap::IndexMap;
use serde_json::Value;

fn applied(function: &str, url: &str, arn: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("url".into(), Value::from(url));
    attributes.insert("arn".into(), Value::from(arn));
    Applied {
        physical_id: function.to_string(),
        attributes,
    }
}

async fn get(c: &Clients, function: &str) -> ProviderResult<Option<(String, String, String)>> {
    match c
        .lambda
        .get_function_url_config()
        .function_name(function)
        .send()
        .await
    {
        Ok(o) => Ok(Some((
            o.function_url().to_string(),
            o.function_arn().to_string(),
            o.auth_type().as_str().to_string(),
        ))),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("lambda:GetFunctionUrlConfig", e)),
    }
}

fn auth(r: &Resolved) -> FunctionUrlAuthType {
    FunctionUrlAuthType::from(r.str("auth_type").unwrap_or("AWS_IAM"))
}

fn function_of(cur: &ResourceState) -> Option<String> {
    cur.physical_id
        .clone()
        .or_else(|| cur.properties["function_name"].as_str().map(String::from))
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let function = r
        .str("function_name")
        .ok_or_else(|| ProviderError::Invalid(format!("{}: function_name is required", r.id)))?;
    if let Some((url, arn, have)) = get(c, function).await? {
        if have != auth(r).as_str() {
            c.lambda
                .update_function_url_config()
                .function_name(function)
                .auth_type(auth(r))
                .send()
                .await
                .map_err(|e| error::aws("lambda:UpdateFunctionUrlConfig", e))?;
        }
        return Ok(applied(function, &url, &arn));
    }
    let out = c
        .lambda
        .create_function_url_config()
        .function_name(function)
        .auth_type(auth(r))
        .send()
        .await
        .map_err(|e| error::aws("lambda:CreateFunctionUrlConfig", e))?;
    Ok(applied(function, out.function_url(), out.function_arn()))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some(function) = function_of(cur) else {
        return Ok(None);
    };
    let Some((url, arn, auth_type)) = get(c, &function).await? else {
        return Ok(None);
    };
    let mut props = serde_json::Map::new();
    props.insert(
        "function_name".into(),
        cur.properties["function_name"].clone(),
    );
    props.insert("auth_type".into(), Value::from(auth_type));
    Ok(Some(Observed {
        applied: applied(&function, &url, &arn),
        properties: managed(cur, props),
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let function =
        function_of(cur).unwrap_or_else(|| r.str("function_name").unwrap_or_default().to_string());
    if changed.iter().any(|p| p == "auth_type") {
        let out = c
            .lambda
            .update_function_url_config()
            .function_name(&function)
            .auth_type(auth(r))
            .send()
            .await
            .map_err(|e| error::aws("lambda:UpdateFunctionUrlConfig", e))?;
        return Ok(applied(&function, out.function_url(), out.function_arn()));
    }
    let (url, arn, _) = get(c, &function).await?.ok_or_else(|| {
        ProviderError::failed(format!("{}: function URL of {function} not found", r.id))
    })?;
    Ok(applied(&function, &url, &arn))
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some(function) = function_of(cur) else {
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
