//! IAM roles, CloudWatch log groups, Lambda functions and event source
//! mappings, and Secrets Manager secrets: listed, then tags read one by
//! one (secrets carry theirs in the listing).
//!
//! A resource whose tags answer "not found" was deleted between the
//! listing and the tag read: gone, not unknown. Any other failure to read
//! its tags leaves it unknown.

use super::{Listing, found, kv, ours};
use crate::clients::Clients;
use crate::error::{aws, is_not_found};
use archform_blueprint::kinds::Kind;

pub(super) async fn iam_roles(c: &Clients, stack: &str) -> Listing {
    let mut l = Listing::new("iam");
    let mut names = Vec::new();
    let mut pages = c.iam.list_roles().into_paginator().send();
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => names.extend(p.roles().iter().map(|r| r.role_name().to_string())),
            Err(e) => {
                l.could_not(&[Kind::IamRole], None, aws("ListRoles", e));
                return l;
            }
        }
    }
    for name in names {
        let tags: Vec<(String, String)> = match c.iam.list_role_tags().role_name(&name).send().await
        {
            Ok(t) => t
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            Err(e) if is_not_found(&e) => continue,
            Err(e) => {
                let what = format!("role {name}");
                l.could_not(&[Kind::IamRole], Some(&what), aws("ListRoleTags", e));
                continue;
            }
        };
        if ours(&tags, stack) {
            l.push(found(Kind::IamRole, name.clone(), Some(name), tags));
        }
    }
    l
}

pub(super) async fn log_groups(c: &Clients, stack: &str) -> Listing {
    let mut l = Listing::new("logs");
    let mut groups = Vec::new();
    let mut pages = c.logs.describe_log_groups().into_paginator().send();
    while let Some(p) = pages.next().await {
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                l.could_not(&[Kind::LogGroup], None, aws("DescribeLogGroups", e));
                return l;
            }
        };
        for g in p.log_groups() {
            let name = g.log_group_name().unwrap_or_default().to_string();
            let arn = g
                .log_group_arn()
                .map(str::to_string)
                .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
                .unwrap_or_default();
            groups.push((name, arn));
        }
    }
    for (name, arn) in groups {
        let tags: Vec<(String, String)> = match c
            .logs
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
        {
            Ok(t) => t.tags().into_iter().flatten().map(kv).collect(),
            Err(e) if is_not_found(&e) => continue,
            Err(_) => {
                // Older endpoints only have the log-group-specific call.
                #[allow(deprecated)]
                let r = c
                    .logs
                    .list_tags_log_group()
                    .log_group_name(&name)
                    .send()
                    .await;
                match r {
                    Ok(t) => t.tags().into_iter().flatten().map(kv).collect(),
                    Err(e) if is_not_found(&e) => continue,
                    Err(e) => {
                        let what = format!("log group {name}");
                        l.could_not(&[Kind::LogGroup], Some(&what), aws("ListTagsLogGroup", e));
                        continue;
                    }
                }
            }
        };
        if ours(&tags, stack) {
            l.push(found(Kind::LogGroup, name.clone(), Some(name), tags));
        }
    }
    l
}

/// Tags of a function or an event source mapping (both ARN-addressed);
/// `None` when it is gone, after recording any other failure as unknown.
async fn lambda_tags(
    c: &Clients,
    l: &mut Listing,
    kind: Kind,
    what: &str,
    arn: &str,
) -> Option<Vec<(String, String)>> {
    match c.lambda.list_tags().resource(arn).send().await {
        Ok(t) => Some(t.tags().into_iter().flatten().map(kv).collect()),
        Err(e) if is_not_found(&e) => None,
        Err(e) => {
            l.could_not(&[kind], Some(what), aws("ListTags", e));
            None
        }
    }
}

pub(super) async fn lambda(c: &Clients, stack: &str) -> Listing {
    let mut l = Listing::new("lambda");
    let mut fns = Vec::new();
    let mut pages = c.lambda.list_functions().into_paginator().send();
    let mut listed = true;
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => {
                for f in p.functions() {
                    fns.push((
                        f.function_name().unwrap_or_default().to_string(),
                        f.function_arn().unwrap_or_default().to_string(),
                    ));
                }
            }
            Err(e) => {
                l.could_not(&[Kind::Function], None, aws("ListFunctions", e));
                listed = false;
                break;
            }
        }
    }
    if listed {
        for (name, arn) in fns {
            let what = format!("function {name}");
            let Some(tags) = lambda_tags(c, &mut l, Kind::Function, &what, &arn).await else {
                continue;
            };
            if ours(&tags, stack) {
                l.push(found(Kind::Function, name.clone(), Some(name), tags));
            }
        }
    }
    // Event source mappings carry their own tags (ARN-addressed).
    let mut esms = Vec::new();
    let mut pages = c
        .lambda
        .list_event_source_mappings()
        .into_paginator()
        .send();
    while let Some(p) = pages.next().await {
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                l.could_not(
                    &[Kind::EventSourceMapping],
                    None,
                    aws("ListEventSourceMappings", e),
                );
                return l;
            }
        };
        for m in p.event_source_mappings() {
            let uuid = m.uuid().unwrap_or_default().to_string();
            esms.push((uuid, m.event_source_mapping_arn().map(str::to_string)));
        }
    }
    for (uuid, arn) in esms {
        let what = format!("event source mapping {uuid}");
        let Some(arn) = arn else {
            // Without its ARN its tags cannot be asked for: it may be ours.
            l.could_not(
                &[Kind::EventSourceMapping],
                Some(&what),
                archform_engine::provider::ProviderError::failed(
                    "ListEventSourceMappings gave no EventSourceMappingArn to read its tags by",
                ),
            );
            continue;
        };
        let kind = Kind::EventSourceMapping;
        let Some(tags) = lambda_tags(c, &mut l, kind, &what, &arn).await else {
            continue;
        };
        if ours(&tags, stack) {
            l.push(found(kind, uuid, None, tags));
        }
    }
    l
}

pub(super) async fn secrets(c: &Clients, stack: &str) -> Listing {
    let mut l = Listing::new("secretsmanager");
    let mut pages = c.secrets.list_secrets().into_paginator().send();
    while let Some(p) = pages.next().await {
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                l.could_not(&[Kind::Secret], None, aws("ListSecrets", e));
                return l;
            }
        };
        for s in p.secret_list() {
            let tags: Vec<(String, String)> = s
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            // A secret scheduled for deletion is still listed by some
            // endpoints; it is gone for archform's purposes.
            if ours(&tags, stack) && s.deleted_date().is_none() {
                l.push(found(
                    Kind::Secret,
                    s.arn().unwrap_or_default(),
                    s.name().map(str::to_string),
                    tags,
                ));
            }
        }
    }
    l
}
