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
use serde_json::Value;

static VPC: Handler = handler!(vpc);
static VPC_ENDPOINT: Handler = handler!(vpc_endpoint);
static SUBNET: Handler = handler!(subnet);
static INTERNET_GATEWAY: Handler = handler!(internet_gateway);
static EIP: Handler = handler!(eip);
static NAT_GATEWAY: Handler = handler!(nat_gateway);
static ROUTE_TABLE: Handler = handler!(route_table);
static SECURITY_GROUP: Handler = handler!(security_group);

pub(super) fn handler(kind: &str) -> Option<&'static Handler> {
    match kind {
        "ec2.vpc" => Some(&VPC),
        "ec2.vpc_endpoint" => Some(&VPC_ENDPOINT),
        "ec2.subnet" => Some(&SUBNET),
        "ec2.internet_gateway" => Some(&INTERNET_GATEWAY),
        "ec2.eip" => Some(&EIP),
        "ec2.nat_gateway" => Some(&NAT_GATEWAY),
        "ec2.route_table" => Some(&ROUTE_TABLE),
        "ec2.security_group" => Some(&SECURITY_GROUP),
        _ => None,
    }
}

/// A list read back from AWS, in the order last applied when it holds the
/// same elements (AWS's order is not the blueprint's, and order alone is
/// not drift).
pub(crate) fn same_set(applied: Option<&Value>, observed: Vec<Value>) -> Value {
    same_set_by(applied, observed, Value::clone)
}

/// [`same_set`] with elements compared in a canonical form.
pub(crate) fn same_set_by(
    applied: Option<&Value>,
    observed: Vec<Value>,
    canon: impl Fn(&Value) -> Value,
) -> Value {
    if let Some(a) = applied.and_then(Value::as_array) {
        let mut left: Vec<Value> = observed.iter().map(&canon).collect();
        let all = a.len() == left.len()
            && a.iter().all(|v| {
                let k = canon(v);
                match left.iter().position(|o| *o == k) {
                    Some(i) => {
                        left.swap_remove(i);
                        true
                    }
                    None => false,
                }
            });
        if all {
            return Value::Array(a.clone());
        }
    }
    Value::Array(observed)
}

/// Replaces an EC2 resource's tags: removes keys no longer wanted, then sets
/// the wanted ones (CreateTags overwrites values).
pub(crate) async fn retag(
    c: &crate::clients::Clients,
    id: &str,
    old: &indexmap::IndexMap<String, String>,
    new: &indexmap::IndexMap<String, String>,
) -> archform_engine::provider::ProviderResult<()> {
    let gone: Vec<aws_sdk_ec2::types::Tag> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| aws_sdk_ec2::types::Tag::builder().key(k).build())
        .collect();
    if !gone.is_empty() {
        c.ec2
            .delete_tags()
            .resources(id)
            .set_tags(Some(gone))
            .send()
            .await
            .map_err(|e| crate::error::aws("ec2:DeleteTags", e))?;
    }
    c.ec2
        .create_tags()
        .resources(id)
        .set_tags(Some(ec2_tags::tags(new)))
        .send()
        .await
        .map_err(|e| crate::error::aws("ec2:CreateTags", e))?;
    Ok(())
}
