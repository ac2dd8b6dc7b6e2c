//! SQS queues, SNS topics and SES identities: listed, then tags read one by
//! one. "Not found" on a tag read is one deleted meanwhile; any other
//! failure leaves it unknown.

use super::{Listing, found, kv, ours};
use crate::clients::Clients;
use crate::error::{aws, is_not_found};
use archform_blueprint::kinds::Kind;

pub(super) async fn queues(c: &Clients, stack: &str) -> Listing {
    let mut l = Listing::new("sqs");
    let mut urls = Vec::new();
    let mut pages = c.sqs.list_queues().into_paginator().send();
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => urls.extend(p.queue_urls().iter().cloned()),
            Err(e) => {
                l.could_not(&[Kind::Queue], None, aws("ListQueues", e));
                return l;
            }
        }
    }
    for url in urls {
        let tags: Vec<(String, String)> = match c.sqs.list_queue_tags().queue_url(&url).send().await
        {
            Ok(t) => t.tags().into_iter().flatten().map(kv).collect(),
            Err(e) if is_not_found(&e) => continue,
            Err(e) => {
                let what = format!("queue {url}");
                l.could_not(&[Kind::Queue], Some(&what), aws("ListQueueTags", e));
                continue;
            }
        };
        if ours(&tags, stack) {
            let name = url.rsplit('/').next().map(str::to_string);
            l.push(found(Kind::Queue, url, name, tags));
        }
    }
    l
}

pub(super) async fn topics(c: &Clients, stack: &str) -> Listing {
    let mut l = Listing::new("sns");
    let mut arns = Vec::new();
    let mut pages = c.sns.list_topics().into_paginator().send();
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => {
                for t in p.topics() {
                    arns.extend(t.topic_arn().map(str::to_string));
                }
            }
            Err(e) => {
                l.could_not(&[Kind::Topic], None, aws("ListTopics", e));
                return l;
            }
        }
    }
    for arn in arns {
        let tags: Vec<(String, String)> = match c
            .sns
            .list_tags_for_resource()
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
                let what = format!("topic {arn}");
                l.could_not(&[Kind::Topic], Some(&what), aws("ListTagsForResource", e));
                continue;
            }
        };
        if ours(&tags, stack) {
            let name = arn.rsplit(':').next().map(str::to_string);
            l.push(found(Kind::Topic, arn, name, tags));
        }
    }
    l
}

/// SES sender identities: listed, then tags read by the identity's ARN
/// (which the listing does not give: built from the caller's account, as
/// the provider does).
pub(super) async fn email_identities(c: &Clients, stack: &str) -> Listing {
    let mut l = Listing::new("ses");
    let caller = match c.sts.get_caller_identity().send().await {
        Ok(id) => id,
        Err(e) => {
            l.could_not(&[Kind::EmailIdentity], None, aws("GetCallerIdentity", e));
            return l;
        }
    };
    let prefix = format!(
        "arn:{}:ses:{}:{}:identity/",
        crate::support::arn_partition(caller.arn().unwrap_or("arn:aws:")),
        c.region.clone().unwrap_or_default(),
        caller.account().unwrap_or_default()
    );
    // SES v1's ListIdentities lists the identities SES v2 made (they are
    // one set); emulators implement it where they lack v2's listing.
    let mut names = Vec::new();
    let mut pages = c.ses_v1.list_identities().into_paginator().send();
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => names.extend(p.identities().iter().cloned()),
            Err(e) => {
                l.could_not(&[Kind::EmailIdentity], None, aws("ListIdentities", e));
                return l;
            }
        }
    }
    for name in names {
        let arn = format!("{prefix}{name}");
        let tags: Vec<(String, String)> = match c
            .ses
            .list_tags_for_resource()
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
                let what = format!("identity {name}");
                l.could_not(
                    &[Kind::EmailIdentity],
                    Some(&what),
                    aws("ListTagsForResource", e),
                );
                continue;
            }
        };
        if ours(&tags, stack) {
            l.push(found(Kind::EmailIdentity, name.clone(), Some(name), tags));
        }
    }
    l
}
