//! Providers of the VPC networking kinds.

mod ec2_tags;
mod eip;
pub(crate) mod enis;
mod internet_gateway;
mod nat_gateway;
mod route_table;
mod security_group;
mod subnet;
mod vpc;
mod vpc_endpoint;

use super::Handler;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub(super) static VPC: Handler = provider!(vpc);
pub(super) static VPC_ENDPOINT: Handler = provider!(vpc_endpoint);
pub(super) static SUBNET: Handler = provider!(subnet);
pub(super) static INTERNET_GATEWAY: Handler = provider!(internet_gateway);
pub(super) static EIP: Handler = provider!(eip);
pub(super) static NAT_GATEWAY: Handler = provider!(nat_gateway);
pub(super) static ROUTE_TABLE: Handler = provider!(route_table);
pub(super) static SECURITY_GROUP: Handler = provider!(security_group);

/// A list AWS keeps in an order of its own, typed: `compare` (one of
/// [`crate::support`]'s `same_set` helpers) chooses between the applied
/// list (the hint's) and AWS's on their JSON values.
fn typed_set<T: Serialize + DeserializeOwned>(
    applied: Option<&Vec<T>>,
    observed: Vec<T>,
    compare: impl FnOnce(Option<&Value>, Vec<Value>) -> Value,
) -> Vec<T> {
    // Plain structs of text and numbers: serialising them cannot fail.
    let applied = applied.and_then(|a| serde_json::to_value(a).ok());
    let seen = observed
        .iter()
        .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
        .collect();
    serde_json::from_value(compare(applied.as_ref(), seen)).unwrap_or(observed)
}

/// The applied list when AWS holds the same elements, compared in
/// `canon`ical form (so order alone, or a form AWS rewrites, is no
/// change); else AWS's.
fn same_set<T: Serialize + DeserializeOwned>(
    applied: Option<&Vec<T>>,
    observed: Vec<T>,
    canon: impl Fn(&T) -> T,
) -> Vec<T> {
    let canon = |v: &Value| match serde_json::from_value::<T>(v.clone()) {
        Ok(t) => serde_json::to_value(canon(&t)).unwrap_or(Value::Null),
        Err(_) => v.clone(),
    };
    typed_set(applied, observed, |a, seen| {
        crate::support::same_set_by(a, seen, canon)
    })
}

/// The applied list when AWS holds the same elements as they are (ids of
/// subnets, route tables, groups; routes); else AWS's.
fn same_elements<T: Serialize + DeserializeOwned>(
    applied: Option<&Vec<T>>,
    observed: Vec<T>,
) -> Vec<T> {
    typed_set(applied, observed, crate::support::same_set)
}
