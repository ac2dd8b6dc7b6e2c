//! DynamoDB tables, S3 buckets, RDS DB instances, DB parameter groups and
//! DB subnet groups: listed, then tags read one by one.

use super::{Listing, found, ours};
use crate::clients::Clients;
use crate::error::{aws, is_not_found};
use archform_blueprint::kinds::Kind;
use archform_engine::provider::ProviderError;

pub(super) async fn tables(c: &Clients, stack: &str) -> Listing {
    let mut l = Listing::new("dynamodb");
    let mut names = Vec::new();
    let mut pages = c.dynamodb.list_tables().into_paginator().send();
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => names.extend(p.table_names().iter().cloned()),
            Err(e) => {
                l.could_not(&[Kind::Table], None, aws("ListTables", e));
                return l;
            }
        }
    }
    for name in names {
        let what = format!("table {name}");
        let arn = match c.dynamodb.describe_table().table_name(&name).send().await {
            Ok(d) => d
                .table()
                .and_then(|t| t.table_arn())
                .unwrap_or_default()
                .to_string(),
            Err(e) if is_not_found(&e) => continue,
            Err(e) => {
                l.could_not(&[Kind::Table], Some(&what), aws("DescribeTable", e));
                continue;
            }
        };
        let tags: Vec<(String, String)> = match c
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(&arn)
            .send()
            .await
        {
            Ok(t) => t
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            Err(e) if is_not_found(&e) => continue,
            Err(e) => {
                l.could_not(&[Kind::Table], Some(&what), aws("ListTagsOfResource", e));
                continue;
            }
        };
        if ours(&tags, stack) {
            l.push(found(Kind::Table, name.clone(), Some(name), tags));
        }
    }
    l
}

/// What a failed GetBucketTagging says about the bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TaggingAnswer {
    /// `NoSuchTagSet`: the bucket has no tags, so it is not archform's.
    NoTags,
    /// `NoSuchBucket`: deleted since ListBuckets.
    Gone,
    /// A 301 `PermanentRedirect`: the bucket lives in another region, where
    /// this region's stack did not create it.
    OtherRegion,
    /// Anything else (AccessDenied, throttling, a bare 404 from an endpoint
    /// that lacks the call, ...): its tags are unknown, so it may be ours.
    Unknown,
}

fn tagging_answer(code: Option<&str>, status: Option<u16>) -> TaggingAnswer {
    match code {
        Some("NoSuchTagSet") => TaggingAnswer::NoTags,
        Some("NoSuchBucket") => TaggingAnswer::Gone,
        Some("PermanentRedirect") => TaggingAnswer::OtherRegion,
        _ if status == Some(301) => TaggingAnswer::OtherRegion,
        _ => TaggingAnswer::Unknown,
    }
}

pub(super) async fn buckets(c: &Clients, stack: &str) -> Listing {
    let mut l = Listing::new("s3");
    let names: Vec<String> = match c.s3.list_buckets().send().await {
        Ok(r) => r
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_string))
            .collect(),
        Err(e) => {
            l.could_not(&[Kind::Bucket], None, aws("ListBuckets", e));
            return l;
        }
    };
    for name in names {
        let t = match c.s3.get_bucket_tagging().bucket(&name).send().await {
            Ok(t) => t,
            Err(e) => {
                match tagging_answer(crate::error::code(&e), crate::error::status(&e)) {
                    TaggingAnswer::NoTags | TaggingAnswer::Gone | TaggingAnswer::OtherRegion => {}
                    TaggingAnswer::Unknown => {
                        let what = format!("bucket {name}");
                        l.could_not(&[Kind::Bucket], Some(&what), aws("GetBucketTagging", e));
                    }
                }
                continue;
            }
        };
        let tags: Vec<(String, String)> = t
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        if ours(&tags, stack) {
            l.push(found(Kind::Bucket, name.clone(), Some(name), tags));
        }
    }
    l
}

fn rds_tags(tags: &[aws_sdk_rds::types::Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The tags of an RDS resource; `Ok(None)` when it is gone.
async fn rds_tags_of(
    c: &Clients,
    arn: &str,
) -> Result<Option<Vec<(String, String)>>, ProviderError> {
    match c
        .rds
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
    {
        Ok(r) => Ok(Some(rds_tags(r.tag_list()))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(aws("ListTagsForResource", e)),
    }
}

pub(super) async fn rds(c: &Clients, stack: &str) -> Listing {
    let mut l = Listing::new("rds");
    let mut pages = c.rds.describe_db_instances().into_paginator().send();
    let mut instances = Vec::new();
    let mut listed = true;
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => {
                for d in p.db_instances() {
                    instances.push((
                        d.db_instance_identifier().unwrap_or_default().to_string(),
                        d.db_instance_arn().unwrap_or_default().to_string(),
                        rds_tags(d.tag_list()),
                    ));
                }
            }
            Err(e) => {
                l.could_not(&[Kind::DbInstance], None, aws("DescribeDBInstances", e));
                listed = false;
                break;
            }
        }
    }
    for (name, arn, listed_tags) in instances.into_iter().filter(|_| listed) {
        let tags = if listed_tags.is_empty() {
            match rds_tags_of(c, &arn).await {
                Ok(Some(t)) => t,
                Ok(None) => continue,
                Err(e) => {
                    let what = format!("DB instance {name}");
                    l.could_not(&[Kind::DbInstance], Some(&what), e);
                    continue;
                }
            }
        } else {
            listed_tags
        };
        if ours(&tags, stack) {
            l.push(found(Kind::DbInstance, name.clone(), Some(name), tags));
        }
    }
    parameter_groups(c, stack, &mut l).await;
    let mut pages = c.rds.describe_db_subnet_groups().into_paginator().send();
    let mut groups = Vec::new();
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => {
                for g in p.db_subnet_groups() {
                    groups.push((
                        g.db_subnet_group_name().unwrap_or_default().to_string(),
                        g.db_subnet_group_arn().unwrap_or_default().to_string(),
                    ));
                }
            }
            Err(e) => {
                l.could_not(
                    &[Kind::DbSubnetGroup],
                    None,
                    aws("DescribeDBSubnetGroups", e),
                );
                return l;
            }
        }
    }
    for (name, arn) in groups {
        let tags = match rds_tags_of(c, &arn).await {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => {
                let what = format!("DB subnet group {name}");
                l.could_not(&[Kind::DbSubnetGroup], Some(&what), e);
                continue;
            }
        };
        if ours(&tags, stack) {
            l.push(found(Kind::DbSubnetGroup, name.clone(), Some(name), tags));
        }
    }
    l
}

/// DB parameter groups, the defaults of RDS (untagged) among them.
async fn parameter_groups(c: &Clients, stack: &str, l: &mut Listing) {
    let mut pages = c.rds.describe_db_parameter_groups().into_paginator().send();
    let mut groups = Vec::new();
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => {
                for g in p.db_parameter_groups() {
                    groups.push((
                        g.db_parameter_group_name().unwrap_or_default().to_string(),
                        g.db_parameter_group_arn().unwrap_or_default().to_string(),
                    ));
                }
            }
            Err(e) => {
                l.could_not(
                    &[Kind::DbParameterGroup],
                    None,
                    aws("DescribeDBParameterGroups", e),
                );
                return;
            }
        }
    }
    for (name, arn) in groups {
        let tags = match rds_tags_of(c, &arn).await {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => {
                let what = format!("DB parameter group {name}");
                l.could_not(&[Kind::DbParameterGroup], Some(&what), e);
                continue;
            }
        };
        if ours(&tags, stack) {
            l.push(found(
                Kind::DbParameterGroup,
                name.clone(),
                Some(name),
                tags,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_tagging_errors_are_read_by_code_and_status() {
        use TaggingAnswer::*;
        assert_eq!(tagging_answer(Some("NoSuchTagSet"), Some(404)), NoTags);
        assert_eq!(tagging_answer(Some("NoSuchBucket"), Some(404)), Gone);
        assert_eq!(
            tagging_answer(Some("PermanentRedirect"), Some(301)),
            OtherRegion
        );
        // A 301 without a parsed body is still a redirect to another region.
        assert_eq!(tagging_answer(None, Some(301)), OtherRegion);
        assert_eq!(tagging_answer(Some("AccessDenied"), Some(403)), Unknown);
        // A bare 404: the endpoint lacks the call, not "no tags".
        assert_eq!(tagging_answer(None, Some(404)), Unknown);
        assert_eq!(tagging_answer(Some("InternalError"), Some(500)), Unknown);
    }
}
