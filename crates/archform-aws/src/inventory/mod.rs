//! Every resource in the account tagged `archform:stack = <stack>`, found by
//! listing each service archform uses, independently of any state file.
//!
//! Two uses: `archform state recover` rebuilds a lost state from it, and
//! tests assert that nothing of a destroyed stack is left
//! ([`assert_no_leftovers`]).
//!
//! The kind of each resource comes from where it was found (a VPC from
//! DescribeVpcs is an `ec2.vpc`); its logical id from its `archform:id` tag.
//! The physical id is what the kind's provider records: EC2 ids, ARNs for
//! load balancers, target groups, topics and secrets, the URL for queues,
//! and the name for roles, log groups, functions, tables, buckets, DB
//! instances and DB subnet groups; the event source mapping's UUID, the
//! API's id and the stage's name.
//!
//! A listing that fails, an endpoint that lacks a service (a bare 404) and
//! tags that cannot be read are never taken as "nothing there": each is
//! recorded in [`Inventory::unknown`], and the leak check fails on it.
//!
//! Kinds AWS cannot tag (`Tags::Untaggable`: permissions, function URLs,
//! queue policies, subscriptions, target registrations, listeners and
//! rules, integrations, routes, deployments) are not listed: each lives
//! inside a tagged parent and goes when its parent goes.

mod compute;
mod data;
mod edge;
mod leftovers;
mod messaging;
mod network;
mod recover;

use archform_blueprint::kinds::Kind;
use archform_engine::provider::ProviderError;
pub use leftovers::{
    Leftovers, assert_no_leftovers, check_no_leftovers, check_no_leftovers_beyond,
};
pub use recover::{Recovered, layer, recover};
use serde::Serialize;

use crate::clients::Clients;

pub const STACK_TAG: &str = "archform:stack";
pub const ID_TAG: &str = "archform:id";

/// One resource tagged with the stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    /// The archform kind (`ec2.vpc`, `sqs.queue`, ...).
    pub kind: Kind,
    /// Its `archform:id` tag: the logical id in the blueprint (empty if the
    /// resource carries the stack tag but no id tag).
    pub id: String,
    pub physical_id: String,
    pub physical_name: Option<String>,
    /// All its tags.
    pub tags: Vec<(String, String)>,
}

/// A place the inventory could not look at: resources of `kinds` tagged with
/// the stack may be there, unseen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unlisted {
    /// The service (`s3`, `lambda`, ...).
    pub service: &'static str,
    pub kinds: Vec<Kind>,
    /// What failed: the call (and the resource it was about), the error
    /// code and AWS's message.
    pub reason: String,
}

impl std::fmt::Display for Unlisted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.name()).collect();
        write!(
            f,
            "{} ({}): {}",
            self.service,
            kinds.join(", "),
            self.reason
        )
    }
}

/// What the inventory saw: the stack's resources, and where it could not
/// look. Only an inventory with nothing unknown says what is *not* there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// Sorted by kind, then logical id, then physical id.
    pub found: Vec<Found>,
    pub unknown: Vec<Unlisted>,
}

impl Inventory {
    /// True when every service was listed and every tag read.
    pub fn is_complete(&self) -> bool {
        self.unknown.is_empty()
    }
}

/// What one service's lister saw.
struct Listing {
    service: &'static str,
    found: Vec<Found>,
    unknown: Vec<Unlisted>,
}

impl Listing {
    fn new(service: &'static str) -> Listing {
        Listing {
            service,
            found: Vec::new(),
            unknown: Vec::new(),
        }
    }

    /// Records that resources of `kinds` could not be looked at because of
    /// `e` (about `what`, when it concerns one resource).
    fn could_not(&mut self, kinds: &[Kind], what: Option<&str>, e: ProviderError) {
        let cause = match e {
            ProviderError::Unsupported { operation, message } => {
                format!("{operation}: the endpoint does not implement it ({message})")
            }
            e => e.to_string(),
        };
        self.unknown.push(Unlisted {
            service: self.service,
            kinds: kinds.to_vec(),
            reason: match what {
                Some(w) => format!("{w}: {cause}"),
                None => cause,
            },
        });
    }

    fn push(&mut self, f: Found) {
        self.found.push(f);
    }
}

fn found(
    kind: Kind,
    physical_id: impl Into<String>,
    physical_name: Option<String>,
    tags: Vec<(String, String)>,
) -> Found {
    let id = tags
        .iter()
        .find(|(k, _)| k == ID_TAG)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    Found {
        kind,
        id,
        physical_id: physical_id.into(),
        physical_name,
        tags,
    }
}

fn ours(tags: &[(String, String)], stack: &str) -> bool {
    tags.iter().any(|(k, v)| k == STACK_TAG && v == stack)
}

fn kv((k, v): (&String, &String)) -> (String, String) {
    (k.clone(), v.clone())
}

/// Every resource tagged `archform:stack = stack`, and every place that
/// could not be looked at (a failed listing, a service the endpoint lacks,
/// tags that could not be read).
pub async fn inventory(clients: &Clients, stack: &str) -> Inventory {
    let c = clients;
    // Each lister's future holds many SDK calls' state: boxed, so that a
    // caller's future (a test's, on a 2 MiB thread stack) stays small.
    let listings = tokio::join!(
        Box::pin(network::ec2(c, stack)),
        Box::pin(compute::iam_roles(c, stack)),
        Box::pin(compute::log_groups(c, stack)),
        Box::pin(compute::lambda(c, stack)),
        Box::pin(messaging::queues(c, stack)),
        Box::pin(messaging::topics(c, stack)),
        Box::pin(data::tables(c, stack)),
        Box::pin(data::buckets(c, stack)),
        Box::pin(edge::elbv2(c, stack)),
        Box::pin(edge::apis(c, stack)),
        Box::pin(data::rds(c, stack)),
        Box::pin(compute::secrets(c, stack)),
        Box::pin(messaging::email_identities(c, stack)),
    );
    let (ec2, iam, logs, lambda, sqs, sns, ddb, s3, elb, apigw, rds, secrets, ses) = listings;
    let mut inv = Inventory::default();
    for l in [
        ec2, iam, logs, lambda, sqs, sns, ddb, s3, elb, apigw, rds, secrets, ses,
    ] {
        inv.found.extend(l.found);
        inv.unknown.extend(l.unknown);
    }
    inv.found
        .sort_by(|a, b| (&a.kind, &a.id, &a.physical_id).cmp(&(&b.kind, &b.id, &b.physical_id)));
    inv
}
