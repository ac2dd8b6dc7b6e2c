//! The boundary between the engine and a cloud: the engine decides what to
//! do and in which order, a provider does one resource at a time.
//!
//! Futures are boxed so providers can be used as trait objects (tests use a
//! fake provider, the CLI the AWS one).

use crate::state::ResourceState;
use archform_blueprint::kinds::Kind;
use indexmap::IndexMap;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A resource to create or update, with every `${id.attr}` reference
/// resolved to a value.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub stack: String,
    pub id: String,
    pub kind: Kind,
    pub physical_name: Option<String>,
    pub properties: Value,
    pub tags: IndexMap<String, String>,
}

impl Resolved {
    pub fn prop(&self, name: &str) -> Option<&Value> {
        self.properties.get(name).filter(|v| !v.is_null())
    }
    pub fn str(&self, name: &str) -> Option<&str> {
        self.prop(name).and_then(Value::as_str)
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        self.prop(name).and_then(Value::as_i64)
    }
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.prop(name).and_then(Value::as_bool)
    }
    pub fn strs(&self, name: &str) -> Vec<String> {
        self.prop(name)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What AWS reports about a resource after create, update or read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    pub physical_id: String,
    /// Every attribute the kind exports (`KindSpec::attrs`).
    pub attributes: IndexMap<String, Value>,
}

/// A resource as read back from AWS, for refresh and drift detection:
/// the properties the provider can read, in the blueprint's shape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    pub applied: Applied,
    pub properties: Value,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum ProviderError {
    /// AWS refused or failed the call; `message` says what and why.
    #[error("{message}")]
    Failed { message: String },
    /// The endpoint does not implement an operation this kind needs (an
    /// emulator gap). Reported as such, never treated as success.
    #[error("the endpoint does not support {operation}: {message}")]
    Unsupported { operation: String, message: String },
    /// A property value AWS cannot take (found at apply time, e.g. an
    /// unresolved reference of the wrong type).
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl ProviderError {
    pub fn failed(message: impl Into<String>) -> Self {
        ProviderError::Failed {
            message: message.into(),
        }
    }
}

pub type ProviderResult<T> = Result<T, ProviderError>;

pub trait Provider: Send + Sync {
    /// Values of the `aws` pseudo-resource: region, account_id, partition,
    /// url_suffix, az0..az5.
    fn pseudo(&self) -> BoxFuture<'_, ProviderResult<IndexMap<String, Value>>>;

    /// Creates the resource. If one with this resource's deterministic name or
    /// `archform:stack`/`archform:id` tags already exists (an earlier create
    /// that was cut off before the state was saved), adopts it instead, so a
    /// rerun never duplicates anything.
    fn create<'a>(&'a self, desired: &'a Resolved) -> BoxFuture<'a, ProviderResult<Applied>>;

    /// Reads the resource; `None` when it no longer exists.
    fn read<'a>(
        &'a self,
        id: &'a str,
        current: &'a ResourceState,
    ) -> BoxFuture<'a, ProviderResult<Option<Observed>>>;

    /// Applies in-place changes of the named top-level properties.
    fn update<'a>(
        &'a self,
        desired: &'a Resolved,
        current: &'a ResourceState,
        changed: &'a [String],
    ) -> BoxFuture<'a, ProviderResult<Applied>>;

    /// Deletes the resource; one that is already gone counts as deleted.
    fn delete<'a>(
        &'a self,
        id: &'a str,
        current: &'a ResourceState,
    ) -> BoxFuture<'a, ProviderResult<()>>;
}
