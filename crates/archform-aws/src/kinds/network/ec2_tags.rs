//! EC2 tags: set at creation through TagSpecifications, and used to find a
//! resource whose create was cut off before its id was saved.

use archform_engine::provider::Resolved;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use indexmap::IndexMap;

pub(crate) fn spec(resource_type: ResourceType, r: &Resolved) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(tags(&r.tags)))
        .build()
}

pub(crate) fn tags(t: &IndexMap<String, String>) -> Vec<Tag> {
    t.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Filters matching this resource's `archform:stack` and `archform:id` tags.
pub(crate) fn identity_filters(tags: &IndexMap<String, String>) -> Vec<Filter> {
    ["archform:stack", "archform:id"]
        .iter()
        .filter_map(|k| {
            tags.get(*k)
                .map(|v| Filter::builder().name(format!("tag:{k}")).values(v).build())
        })
        .collect()
}

/// True when `have` carries this resource's `archform:stack` and
/// `archform:id` tags. Checked after every tag-filtered lookup: an endpoint
/// that ignores the filters (moto does for some EC2 calls) must never make a
/// stack adopt another stack's resource.
pub(crate) fn is_ours(have: &[Tag], want: &IndexMap<String, String>) -> bool {
    ["archform:stack", "archform:id"].iter().all(|k| {
        want.get(*k).is_some_and(|v| {
            have.iter()
                .any(|t| t.key() == Some(*k) && t.value() == Some(v.as_str()))
        })
    })
}
