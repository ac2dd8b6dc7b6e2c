//! Turning SDK errors into provider errors, and recognising "not found".

use archform_engine::provider::ProviderError;
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

/// A provider error naming the operation, the code and AWS's message.
/// A raw 404 without an AWS error code is how emulators answer operations
/// they do not implement: that is reported as unsupported, not as failure.
pub(crate) fn aws<E, R>(operation: &str, e: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(se) = &e
        && se.err().code().is_none()
        && format!("{:?}", se.raw()).contains("404")
    {
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
