//! Providers of the VPC networking kinds.

mod ec2_tags;
mod vpc;

use super::Handler;

static VPC: Handler = handler!(vpc);

pub(super) fn handler(kind: &str) -> Option<&'static Handler> {
    match kind {
        "ec2.vpc" => Some(&VPC),
        _ => None,
    }
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
