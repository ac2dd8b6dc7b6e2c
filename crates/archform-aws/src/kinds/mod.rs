//! Per-kind providers: one module per kind under its domain, chosen by
//! [`handler`].
//!
//! A provider module declares its kind's properties as a struct, `Props`
//! (serde, the spec's names, unknown fields refused: `tests/props.rs`
//! checks it against the spec), and four async functions that take and
//! return it:
//!
//! ```text
//! create(c, r, p: &Props) -> Applied
//! read(c, id, cur, hint: Option<&Props>) -> Option<Read<Props>>   // every property AWS reports
//! update(c, r, p: &Props, cur, changed) -> Applied
//! delete(c, id, cur, hint: Option<&Props>)
//! ```
//!
//! `hint` is what was last applied, when the state has it: reads use it only
//! to give a value in the blueprint's own form where AWS answers in another
//! (a function's name where AWS gives its ARN, a list in the applied order).

// Declared before the domain modules: macro_rules are visible textually.
/// Builds the [`Handler`] of a provider module (see the module docs).
macro_rules! provider {
    ($m:path) => {{
        use $m as m;
        $crate::kinds::Handler {
            create: |c, r| {
                Box::pin(async move {
                    let p = $crate::kinds::typed::<m::Props>(r)?;
                    m::create(c, r, &p).await
                })
            },
            read: |c, id, cur| {
                Box::pin(async move {
                    let hint = $crate::kinds::hint::<m::Props>(cur);
                    Ok(m::read(c, id, cur, hint.as_ref())
                        .await?
                        .map($crate::kinds::Read::observed))
                })
            },
            update: |c, r, cur, changed| {
                Box::pin(async move {
                    let p = $crate::kinds::typed::<m::Props>(r)?;
                    m::update(c, r, &p, cur, changed).await
                })
            },
            delete: |c, id, cur| {
                Box::pin(async move {
                    let hint = $crate::kinds::hint::<m::Props>(cur);
                    m::delete(c, id, cur, hint.as_ref()).await
                })
            },
            round_trip: $crate::kinds::round_trip::<m::Props>,
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
use archform_engine::provider::{
    Applied, BoxFuture, Observed, ProviderError, ProviderResult, Resolved,
};
use archform_engine::state::ResourceState;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

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
    /// Properties in the blueprint's JSON through the typed `Props` and
    /// back: how the spec test sees that both have the same names.
    pub round_trip: fn(Value) -> Result<Value, String>,
}

/// What a provider's read reports: the exported attributes, and every
/// property AWS returns, in the blueprint's shape.
pub(crate) struct Read<P> {
    pub applied: Applied,
    pub props: P,
}

impl<P: Serialize> Read<P> {
    pub(crate) fn observed(self) -> Observed {
        Observed {
            applied: self.applied,
            // Plain structs of text, numbers and maps with text keys:
            // serialising them cannot fail.
            properties: serde_json::to_value(self.props).unwrap_or(Value::Null),
        }
    }
}

/// A resource's resolved properties as its kind's typed struct. A value
/// that does not fit is refused before any AWS call.
pub(crate) fn typed<P: DeserializeOwned>(r: &Resolved) -> ProviderResult<P> {
    let props = match &r.properties {
        Value::Null => Value::Object(Default::default()),
        other => other.clone(),
    };
    serde_json::from_value(props)
        .map_err(|e| ProviderError::Invalid(format!("{} ({}): properties: {e}", r.id, r.kind)))
}

/// What was last applied, typed; `None` when the state holds no complete
/// properties (a create cut off before them, a state rebuilt from tags).
pub(crate) fn hint<P: DeserializeOwned>(cur: &ResourceState) -> Option<P> {
    serde_json::from_value(cur.properties.clone()).ok()
}

pub(crate) fn round_trip<P: DeserializeOwned + Serialize>(v: Value) -> Result<Value, String> {
    let p: P = serde_json::from_value(v).map_err(|e| e.to_string())?;
    serde_json::to_value(p).map_err(|e| e.to_string())
}

/// The round trip of `kind`'s properties through its provider's typed
/// struct (for the test that checks the structs against the specs).
#[doc(hidden)]
pub fn props_round_trip(kind: Kind, v: Value) -> Result<Value, String> {
    (handler(kind).round_trip)(v)
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
        Kind::EmailIdentity => &messaging::EMAIL_IDENTITY,
        Kind::Subscription => &messaging::SUBSCRIPTION,
        Kind::Table => &data::TABLE,
        Kind::Bucket => &data::BUCKET,
        Kind::DbSubnetGroup => &data::DB_SUBNET_GROUP,
        Kind::DbParameterGroup => &data::DB_PARAMETER_GROUP,
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
