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
pub use kinds::props_round_trip;
mod pseudo;
mod retag;
pub mod state_s3;
mod support;
pub mod wait;

use archform_engine::provider::{Applied, BoxFuture, Observed, Provider, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
pub use clients::Clients;
use indexmap::IndexMap;
pub use inventory::{
    Found, Inventory, Leftovers, Unlisted, assert_no_leftovers, check_no_leftovers,
    check_no_leftovers_beyond, inventory,
};
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

impl Provider for AwsProvider {
    fn pseudo(&self) -> BoxFuture<'_, ProviderResult<IndexMap<String, Value>>> {
        Box::pin(pseudo::read(&self.clients))
    }

    fn create<'a>(&'a self, desired: &'a Resolved) -> BoxFuture<'a, ProviderResult<Applied>> {
        (kinds::handler(desired.kind).create)(&self.clients, desired)
    }

    fn read<'a>(
        &'a self,
        id: &'a str,
        current: &'a ResourceState,
    ) -> BoxFuture<'a, ProviderResult<Option<Observed>>> {
        (kinds::handler(current.kind).read)(&self.clients, id, current)
    }

    fn update<'a>(
        &'a self,
        desired: &'a Resolved,
        current: &'a ResourceState,
        changed: &'a [String],
    ) -> BoxFuture<'a, ProviderResult<Applied>> {
        (kinds::handler(desired.kind).update)(&self.clients, desired, current, changed)
    }

    fn delete<'a>(
        &'a self,
        id: &'a str,
        current: &'a ResourceState,
    ) -> BoxFuture<'a, ProviderResult<()>> {
        (kinds::handler(current.kind).delete)(&self.clients, id, current)
    }
}
