//! Turning SDK errors into provider errors, and recognising "not found".

use archform_engine::provider::ProviderError;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

/// The service's error code (`InvalidVpcID.NotFound`, `NoSuchEntity`, ...).
pub(crate) fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.code()
}

/// True when the error says the resource does not exist. Matched on the
/// service's error code, never on message text.
pub(crate) fn is_not_found<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    match code(e) {
        Some(c) => {
            c.contains("NotFound")
                || matches!(
                    c,
                    "NoSuchEntity"
                        | "NoSuchBucket"
                        | "ResourceNotFoundException"
                        | "AWS.SimpleQueueService.NonExistentQueue"
                        | "QueueDoesNotExist"
                        | "NotFoundException"
                        | "DBInstanceNotFound"
                        | "DBSubnetGroupNotFoundFault"
                )
        }
        None => false,
    }
}

/// True when the error's code is one of `codes`.
pub(crate) fn has_code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>, codes: &[&str]) -> bool {
    code(e).is_some_and(|c| codes.contains(&c))
}

/// The HTTP status of a service's answer, when there was one.
pub(crate) fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    match e {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        SdkError::ResponseError(re) => Some(re.raw().status().as_u16()),
        _ => None,
    }
}

/// A provider error naming the operation, the code and AWS's message.
/// A bare 404 without an AWS error code is how emulators answer operations
/// they do not implement: that is reported as unsupported, not as failure.
pub(crate) fn aws<E>(operation: &str, e: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if e.code().is_none() && status(&e) == Some(404) {
        return ProviderError::Unsupported {
            operation: operation.to_string(),
            message: "the endpoint answered 404 without an AWS error".into(),
        };
    }
    let code = e.code().unwrap_or("error").to_string();
    let message = e
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| aws_sdk_ec2::error::DisplayErrorContext(&e).to_string());
    ProviderError::failed(format!("{operation}: {code}: {message}"))
}
