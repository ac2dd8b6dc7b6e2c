//! Per-kind providers. Each domain module exposes `handler(kind)`; a kind's
//! handler is four plain async functions behind boxed-future pointers, so
//! the provider can dispatch on the kind name at run time.

// Declared before the domain modules: macro_rules are visible textually.
/// Builds a [`Handler`] from a module with `create`, `read`, `update` and
/// `delete` async functions of the usual signatures.
macro_rules! handler {
    ($m:path) => {{
        use $m as m;
        $crate::kinds::Handler {
            create: |c, r| Box::pin(m::create(c, r)),
            read: |c, id, cur| Box::pin(m::read(c, id, cur)),
            update: |c, r, cur, ch| Box::pin(m::update(c, r, cur, ch)),
            delete: |c, id, cur| Box::pin(m::delete(c, id, cur)),
        }
    }};
}

mod compute;
mod data;
mod edge;
mod messaging;
mod network;
mod security;

use crate::clients::Clients;
use archform_engine::provider::{Applied, BoxFuture, Observed, ProviderResult, Resolved};
use archform_engine::state::ResourceState;

pub(crate) type CreateFn =
    for<'a> fn(&'a Clients, &'a Resolved) -> BoxFuture<'a, ProviderResult<Applied>>;
pub(crate) type ReadFn = for<'a> fn(
    &'a Clients,
    &'a str,
    &'a ResourceState,
) -> BoxFuture<'a, ProviderResult<Option<Observed>>>;
pub(crate) type UpdateFn = for<'a> fn(
    &'a Clients,
    &'a Resolved,
    &'a ResourceState,
    &'a [String],
) -> BoxFuture<'a, ProviderResult<Applied>>;
pub(crate) type DeleteFn =
    for<'a> fn(&'a Clients, &'a str, &'a ResourceState) -> BoxFuture<'a, ProviderResult<()>>;

pub(crate) struct Handler {
    pub create: CreateFn,
    pub read: ReadFn,
    pub update: UpdateFn,
    pub delete: DeleteFn,
}

pub(crate) fn handler(kind: &str) -> Option<&'static Handler> {
    network::handler(kind)
        .or_else(|| security::handler(kind))
        .or_else(|| compute::handler(kind))
        .or_else(|| messaging::handler(kind))
        .or_else(|| data::handler(kind))
        .or_else(|| edge::handler(kind))
}
