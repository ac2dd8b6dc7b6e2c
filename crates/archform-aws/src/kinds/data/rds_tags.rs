//! RDS tags: given at create, replaced by ARN afterwards.

use crate::clients::Clients;
use crate::error;
use archform_engine::provider::ProviderResult;
use aws_sdk_rds::types::Tag;
use indexmap::IndexMap;

pub(crate) fn tags(t: &IndexMap<String, String>) -> Option<Vec<Tag>> {
    (!t.is_empty()).then(|| {
        t.iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    })
}

pub(crate) async fn retag(
    c: &Clients,
    arn: &str,
    old: &IndexMap<String, String>,
    new: &IndexMap<String, String>,
) -> ProviderResult<()> {
    let gone: Vec<String> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    if !gone.is_empty() {
        c.rds
            .remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| error::aws("rds:RemoveTagsFromResource", e))?;
    }
    if let Some(t) = tags(new) {
        c.rds
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(t))
            .send()
            .await
            .map_err(|e| error::aws("rds:AddTagsToResource", e))?;
    }
    Ok(())
}
