//! Rebuilding a lost state from the resources tagged with the stack.

use super::{Found, Unlisted, inventory};
use archform_blueprint::kinds::Kind;

/// Where a kind sits in creation order: every dependency archform's kinds
/// can have points from a higher layer to a lower one (a subnet on its VPC,
/// a function on its role, subnets and groups, a mapping on its function
/// and queue), so deleting layer by layer from the top is always safe.
pub fn layer(kind: Kind) -> u8 {
    match kind {
        Kind::Vpc
        | Kind::Eip
        | Kind::IamRole
        | Kind::Secret
        | Kind::LogGroup
        | Kind::Queue
        | Kind::Topic
        | Kind::EmailIdentity
        | Kind::Table
        | Kind::Bucket
        | Kind::DbParameterGroup
        | Kind::Api => 0,
        Kind::Subnet
        | Kind::InternetGateway
        | Kind::SecurityGroup
        | Kind::TargetGroup
        | Kind::QueuePolicy
        | Kind::Subscription => 1,
        Kind::NatGateway | Kind::DbSubnetGroup | Kind::LoadBalancer => 2,
        Kind::RouteTable | Kind::Function | Kind::Listener => 3,
        Kind::VpcEndpoint
        | Kind::DbInstance
        | Kind::EventSourceMapping
        | Kind::Permission
        | Kind::FunctionUrl
        | Kind::ListenerRule
        | Kind::Integration => 4,
        Kind::LambdaTarget | Kind::Route => 5,
        Kind::Deployment => 6,
        Kind::Stage => 7,
    }
}

/// A state rebuilt from the account's tags by [`recover`].
#[derive(Debug)]
pub struct Recovered {
    pub state: archform_engine::state::State,
    /// Tagged with the stack but not recordable: no `archform:id` tag, or a
    /// second resource with an id already taken (listed, never recorded).
    pub untracked: Vec<Found>,
    /// Logical ids whose provider could not read them back (no provider for
    /// the kind yet, or the endpoint lacks the call): recorded with empty
    /// properties.
    pub unread: Vec<(String, String)>,
    /// Places the inventory could not look at: resources of these kinds
    /// may exist, tagged with the stack, and are not in the state.
    pub unknown: Vec<Unlisted>,
}

/// Rebuilds the state of `stack` from the resources tagged with it.
///
/// Each resource is recorded as `created` with its kind (from the service it
/// was found in), physical id and name, and tags; its properties and
/// attributes are what the kind's provider reads back from AWS. What the
/// provider cannot read stays empty, so the next `archform plan` shows those
/// properties as changes (updates, or replacements for properties that force
/// one): review that plan before deploying. Dependencies are not in the
/// tags: each resource is recorded as depending on the recovered resources
/// of the nearest lower [`layer`] of kinds, a conservative order under which
/// a destroy deletes dependents before what they use. What could not be
/// looked at is in [`Recovered::unknown`]: the state may lack those.
pub async fn recover(provider: &crate::AwsProvider, stack: &str, blueprint: &str) -> Recovered {
    use archform_engine::provider::Provider;
    use archform_engine::state::{ResourceState, ResourceStatus, State};
    let inv = inventory(provider.clients(), stack).await;
    let found = inv.found;
    let mut state = State::new(stack, blueprint);
    let mut untracked = Vec::new();
    let mut unread = Vec::new();
    for f in found {
        if f.id.is_empty() || state.resources.contains_key(&f.id) {
            untracked.push(f);
            continue;
        }
        let named = f.kind.naming.is_some();
        let mut r = ResourceState {
            kind: f.kind,
            physical_id: Some(f.physical_id.clone()),
            physical_name: if named { f.physical_name.clone() } else { None },
            properties: serde_json::Value::Object(Default::default()),
            attributes: Default::default(),
            dependencies: Vec::new(),
            tags: f.tags.iter().cloned().collect(),
            status: ResourceStatus::Created,
        };
        match provider.read(&f.id, &r).await {
            Ok(Some(o)) => {
                if o.properties.is_object() {
                    r.properties = o.properties;
                }
                r.attributes = o.applied.attributes;
                if !o.applied.physical_id.is_empty() {
                    r.physical_id = Some(o.applied.physical_id);
                }
            }
            // Deleted between the listing and the read.
            Ok(None) => continue,
            Err(e) => unread.push((f.id.clone(), e.to_string())),
        }
        state.resources.insert(f.id, r);
    }
    let mut by_layer: std::collections::BTreeMap<u8, Vec<String>> = Default::default();
    for (id, r) in &state.resources {
        by_layer.entry(layer(r.kind)).or_default().push(id.clone());
    }
    for r in state.resources.values_mut() {
        let l = layer(r.kind);
        if let Some((_, below)) = by_layer.range(..l).next_back() {
            r.dependencies = below.clone();
        }
    }
    Recovered {
        state,
        untracked,
        unread,
        unknown: inv.unknown,
    }
}
