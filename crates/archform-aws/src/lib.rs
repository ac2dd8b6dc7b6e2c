//! AWS providers: one module per resource kind on the AWS SDK for Rust,
//! behind the engine's [`Provider`] trait.
//!
//! Every create tags at creation time (TagSpecifications or the create call's
//! own tags) and first looks for an existing resource with the same
//! deterministic name or `archform:stack`/`archform:id` tags, so an
//! interrupted deploy that runs again adopts instead of duplicating.

mod clients;
mod error;
pub mod inventory;
mod kinds;
mod pseudo;
pub mod state_s3;
pub mod wait;

use archform_engine::provider::{
    Applied, BoxFuture, Observed, Provider, ProviderError, ProviderResult, Resolved,
};
use archform_engine::state::ResourceState;
pub use clients::Clients;
use indexmap::IndexMap;
pub use inventory::{Found, InventoryError, assert_no_leftovers, inventory};
use serde_json::Value;
pub use state_s3::S3Backend;

/// The AWS implementation of the engine's provider.
pub struct AwsProvider {
    clients: Clients,
}

impl AwsProvider {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        AwsProvider {
            clients: Clients::new(config),
        }
    }

    pub fn clients(&self) -> &Clients {
        &self.clients
    }
}

fn no_provider(kind: &str) -> ProviderError {
    ProviderError::Unsupported {
        operation: format!("resources of kind {kind}"),
        message: "archform has no AWS provider for this kind yet".into(),
    }
}

impl Provider for AwsProvider {
    fn pseudo(&self) -> BoxFuture<'_, ProviderResult<IndexMap<String, Value>>> {
        Box::pin(pseudo::read(&self.clients))
    }

    fn create<'a>(&'a self, desired: &'a Resolved) -> BoxFuture<'a, ProviderResult<Applied>> {
        match kinds::handler(desired.kind.name) {
            Some(h) => (h.create)(&self.clients, desired),
            None => Box::pin(async move { Err(no_provider(desired.kind.name)) }),
        }
    }

    fn read<'a>(
        &'a self,
        id: &'a str,
        current: &'a ResourceState,
    ) -> BoxFuture<'a, ProviderResult<Option<Observed>>> {
        match kinds::handler(&current.kind) {
            Some(h) => (h.read)(&self.clients, id, current),
            None => Box::pin(async move { Err(no_provider(&current.kind)) }),
        }
    }

    fn update<'a>(
        &'a self,
        desired: &'a Resolved,
        current: &'a ResourceState,
        changed: &'a [String],
    ) -> BoxFuture<'a, ProviderResult<Applied>> {
        match kinds::handler(desired.kind.name) {
            Some(h) => (h.update)(&self.clients, desired, current, changed),
            None => Box::pin(async move { Err(no_provider(desired.kind.name)) }),
        }
    }

    fn delete<'a>(
        &'a self,
        id: &'a str,
        current: &'a ResourceState,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        match kinds::handler(&current.kind) {
            Some(h) => (h.delete)(&self.clients, id, current),
            None => Box::pin(async move { Err(no_provider(&current.kind)) }),
        }
    }
}
