//! API Gateway v2 helpers: partition and URL suffix, tag ARNs, retagging.

use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{ProviderError, ProviderResult};
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::HashMap;

pub(crate) fn region(c: &Clients) -> ProviderResult<String> {
    c.region.clone().ok_or_else(|| {
        ProviderError::Invalid("no AWS region configured: pass --region or set AWS_REGION".into())
    })
}

/// `(partition, url suffix)` of a region.
pub(crate) fn partition(region: &str) -> (&'static str, &'static str) {
    if region.starts_with("cn-") {
        ("aws-cn", "amazonaws.com.cn")
    } else if region.starts_with("us-gov-") {
        ("aws-us-gov", "amazonaws.com")
    } else {
        ("aws", "amazonaws.com")
    }
}

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

pub(crate) async fn retag(
    c: &Clients,
    arn: &str,
    old: &IndexMap<String, String>,
    new: &IndexMap<String, String>,
) -> ProviderResult<()> {
    let gone: Vec<String> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    if !gone.is_empty() {
        c.apigw
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| error::aws("apigateway:UntagResource", e))?;
    }
    if let Some(t) = tags(new) {
        c.apigw
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(t))
            .send()
            .await
            .map_err(|e| error::aws("apigateway:TagResource", e))?;
    }
    Ok(())
}

/// The `api_id` a sub-resource was applied with.
pub(crate) fn api_id(props: &Value) -> Option<String> {
    props
        .get("api_id")
        .and_then(Value::as_str)
        .map(String::from)
}

/// Like [`crate::error::aws`], and also reports as unsupported the answer
/// moto gives for an operation it routes but does not implement: a 500
/// with an HTML body and no AWS error code (its NotImplementedError page).
/// AWS's own 5xx answers are JSON with an error type, so this never
/// applies to them.
pub(crate) fn aws_or_unimplemented<E, R>(
    operation: &str,
    e: aws_sdk_apigatewayv2::error::SdkError<E, R>,
) -> ProviderError
where
    E: aws_sdk_apigatewayv2::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_apigatewayv2::error::SdkError;
    if let SdkError::ServiceError(se) = &e {
        let raw = format!("{:?}", se.raw());
        if se.err().code().is_none() && raw.contains("StatusCode(500)") && raw.contains("text/html")
        {
            return ProviderError::Unsupported {
                operation: operation.to_string(),
                message: "the endpoint answered an HTML 500 without an AWS error (operation not implemented)".into(),
            };
        }
    }
    error::aws(operation, e)
}
