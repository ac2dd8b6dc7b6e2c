//! RDS tags as the create calls take them (later changes: `crate::retag::rds`).

use aws_sdk_rds::types::Tag;
use indexmap::IndexMap;

pub(crate) fn tags(t: &IndexMap<String, String>) -> Option<Vec<Tag>> {
    (!t.is_empty()).then(|| {
        t.iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    })
}
