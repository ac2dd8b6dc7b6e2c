//! ELBv2 load balancers and target groups (tags by DescribeTags, twenty
//! ARNs a call), API Gateway v2 APIs (tags in GetApis) and their stages
//! (tags in GetStages, asked of every API: a stage can be tagged with a
//! stack whose blueprint does not own its API).

use super::{Listing, found, kv, ours};
use crate::clients::Clients;
use crate::error::{aws, is_not_found};
use archform_blueprint::kinds::Kind;
use std::collections::HashMap;

pub(super) async fn elbv2(c: &Clients, stack: &str) -> Listing {
    let mut l = Listing::new("elbv2");
    let mut lbs = Vec::new();
    let mut pages = c.elb.describe_load_balancers().into_paginator().send();
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => {
                for b in p.load_balancers() {
                    lbs.push((
                        Kind::LoadBalancer,
                        b.load_balancer_arn().unwrap_or_default().to_string(),
                        b.load_balancer_name().map(str::to_string),
                    ));
                }
            }
            Err(e) => {
                l.could_not(&[Kind::LoadBalancer], None, aws("DescribeLoadBalancers", e));
                lbs.clear();
                break;
            }
        }
    }
    let mut tgs = Vec::new();
    let mut pages = c.elb.describe_target_groups().into_paginator().send();
    while let Some(p) = pages.next().await {
        match p {
            Ok(p) => {
                for t in p.target_groups() {
                    tgs.push((
                        Kind::TargetGroup,
                        t.target_group_arn().unwrap_or_default().to_string(),
                        t.target_group_name().map(str::to_string),
                    ));
                }
            }
            Err(e) => {
                l.could_not(&[Kind::TargetGroup], None, aws("DescribeTargetGroups", e));
                tgs.clear();
                break;
            }
        }
    }
    lbs.extend(tgs);
    for chunk in lbs.chunks(20) {
        let arns: Vec<String> = chunk.iter().map(|(_, a, _)| a.clone()).collect();
        let r = c
            .elb
            .describe_tags()
            .set_resource_arns(Some(arns))
            .send()
            .await;
        let mut tags: HashMap<String, Vec<(String, String)>> = match r {
            Ok(r) => r
                .tag_descriptions()
                .iter()
                .map(|d| {
                    let tags = d
                        .tags()
                        .iter()
                        .map(|t| {
                            (
                                t.key().unwrap_or_default().to_string(),
                                t.value().unwrap_or_default().to_string(),
                            )
                        })
                        .collect();
                    (d.resource_arn().unwrap_or_default().to_string(), tags)
                })
                .collect(),
            Err(e) => {
                let mut kinds: Vec<Kind> = chunk.iter().map(|(k, _, _)| *k).collect();
                kinds.dedup();
                let what = format!("{} load balancers and target groups", chunk.len());
                l.could_not(&kinds, Some(&what), aws("DescribeTags", e));
                continue;
            }
        };
        for (kind, arn, name) in chunk {
            // An ARN DescribeTags does not answer for was deleted meanwhile.
            let t = tags.remove(arn).unwrap_or_default();
            if ours(&t, stack) {
                l.push(found(*kind, arn.clone(), name.clone(), t));
            }
        }
    }
    l
}

pub(super) async fn apis(c: &Clients, stack: &str) -> Listing {
    let mut l = Listing::new("apigatewayv2");
    let mut ids = Vec::new();
    let mut token = None;
    loop {
        let r = match c.apigw.get_apis().set_next_token(token).send().await {
            Ok(r) => r,
            Err(e) => {
                // Without the APIs, their stages cannot be listed either.
                l.could_not(&[Kind::Api, Kind::Stage], None, aws("GetApis", e));
                return l;
            }
        };
        for a in r.items() {
            let id = a.api_id().unwrap_or_default().to_string();
            let tags: Vec<(String, String)> = a.tags().into_iter().flatten().map(kv).collect();
            if ours(&tags, stack) {
                l.push(found(
                    Kind::Api,
                    id.clone(),
                    a.name().map(str::to_string),
                    tags,
                ));
            }
            ids.push(id);
        }
        token = r.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for api in ids {
        stages(c, &mut l, &api, stack).await;
    }
    l
}

async fn stages(c: &Clients, l: &mut Listing, api: &str, stack: &str) {
    let mut token = None;
    loop {
        let r = match c
            .apigw
            .get_stages()
            .api_id(api)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(r) => r,
            // The API was deleted since GetApis.
            Err(e) if is_not_found(&e) => return,
            Err(e) => {
                let what = format!("stages of API {api}");
                l.could_not(&[Kind::Stage], Some(&what), aws("GetStages", e));
                return;
            }
        };
        for s in r.items() {
            let tags: Vec<(String, String)> = s.tags().into_iter().flatten().map(kv).collect();
            if ours(&tags, stack) {
                let name = s.stage_name().unwrap_or_default().to_string();
                l.push(found(Kind::Stage, name.clone(), Some(name), tags));
            }
        }
        token = r.next_token().map(str::to_string);
        if token.is_none() {
            return;
        }
    }
}
