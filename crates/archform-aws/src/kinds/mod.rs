//! Per-kind providers: one module per kind under its domain, its four
//! async functions behind boxed-future pointers, chosen by [`handler`].

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
use archform_blueprint::kinds::Kind;
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

/// The provider of each kind. Exhaustive: a kind added to the blueprint
/// crate's registry does not compile until it has a provider here.
pub(crate) fn handler(kind: Kind) -> &'static Handler {
    match kind {
        Kind::Vpc => &network::VPC,
        Kind::Subnet => &network::SUBNET,
        Kind::InternetGateway => &network::INTERNET_GATEWAY,
        Kind::Eip => &network::EIP,
        Kind::NatGateway => &network::NAT_GATEWAY,
        Kind::RouteTable => &network::ROUTE_TABLE,
        Kind::SecurityGroup => &network::SECURITY_GROUP,
        Kind::VpcEndpoint => &network::VPC_ENDPOINT,
        Kind::IamRole => &security::IAM_ROLE,
        Kind::Secret => &security::SECRET,
        Kind::LogGroup => &compute::LOG_GROUP,
        Kind::Function => &compute::FUNCTION,
        Kind::Permission => &compute::PERMISSION,
        Kind::EventSourceMapping => &compute::EVENT_SOURCE_MAPPING,
        Kind::FunctionUrl => &compute::FUNCTION_URL,
        Kind::Queue => &messaging::QUEUE,
        Kind::QueuePolicy => &messaging::QUEUE_POLICY,
        Kind::Topic => &messaging::TOPIC,
        Kind::Subscription => &messaging::SUBSCRIPTION,
        Kind::Table => &data::TABLE,
        Kind::Bucket => &data::BUCKET,
        Kind::DbSubnetGroup => &data::DB_SUBNET_GROUP,
        Kind::DbInstance => &data::DB_INSTANCE,
        Kind::LoadBalancer => &edge::LOAD_BALANCER,
        Kind::TargetGroup => &edge::TARGET_GROUP,
        Kind::LambdaTarget => &edge::LAMBDA_TARGET,
        Kind::Listener => &edge::LISTENER,
        Kind::ListenerRule => &edge::LISTENER_RULE,
        Kind::Api => &edge::API,
        Kind::Integration => &edge::INTEGRATION,
        Kind::Route => &edge::ROUTE,
        Kind::Stage => &edge::STAGE,
        Kind::Deployment => &edge::DEPLOYMENT,
    }
}
