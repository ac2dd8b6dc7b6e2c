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
