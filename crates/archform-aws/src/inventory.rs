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
//! instances and DB subnet groups; the event source mapping's UUID and the
//! API's id.

use crate::clients::Clients;
use crate::error::aws;
use archform_blueprint::kinds::Kind;
use archform_engine::provider::ProviderError;
use serde::Serialize;
use std::collections::HashMap;

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

#[derive(Debug, thiserror::Error)]
#[error("listing the stack's resources failed: {}", .0.join("; "))]
pub struct InventoryError(pub Vec<String>);

type Listed = Result<Vec<Found>, ProviderError>;

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

/// Every resource tagged `archform:stack = stack`, sorted by kind then id.
/// Services the endpoint does not implement (an emulator gap) are skipped
/// with a note on stderr; any other failure is an error, so that a leak
/// check never passes because a listing failed.
pub async fn inventory(clients: &Clients, stack: &str) -> Result<Vec<Found>, InventoryError> {
    let c = clients;
    let (ec2, iam, logs, lambda, sqs, sns, ddb, s3, elb, apigw, rds, secrets) = tokio::join!(
        ec2(c, stack),
        iam_roles(c, stack),
        log_groups(c, stack),
        lambda(c, stack),
        queues(c, stack),
        topics(c, stack),
        tables(c, stack),
        buckets(c, stack),
        elbv2(c, stack),
        apis(c, stack),
        rds(c, stack),
        secrets(c, stack),
    );
    let mut all = Vec::new();
    let mut errors = Vec::new();
    for (service, r) in [
        ("ec2", ec2),
        ("iam", iam),
        ("logs", logs),
        ("lambda", lambda),
        ("sqs", sqs),
        ("sns", sns),
        ("dynamodb", ddb),
        ("s3", s3),
        ("elbv2", elb),
        ("apigatewayv2", apigw),
        ("rds", rds),
        ("secretsmanager", secrets),
    ] {
        match r {
            Ok(f) => all.extend(f),
            Err(ProviderError::Unsupported { operation, .. }) => {
                eprintln!("inventory: skipped {service}: the endpoint does not support {operation}")
            }
            Err(e) => errors.push(format!("{service}: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(InventoryError(errors));
    }
    all.sort_by(|a, b| (&a.kind, &a.id, &a.physical_id).cmp(&(&b.kind, &b.id, &b.physical_id)));
    Ok(all)
}

/// Test helper: panics listing every resource still tagged with `stack`.
pub async fn assert_no_leftovers(clients: &Clients, stack: &str) {
    let left = inventory(clients, stack)
        .await
        .unwrap_or_else(|e| panic!("leak check for stack `{stack}`: {e}"));
    assert!(
        left.is_empty(),
        "stack `{stack}` left {} resources behind:\n{}",
        left.len(),
        left.iter()
            .map(|f| format!("  {} {} ({})", f.kind, f.id, f.physical_id))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---- EC2 ----

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn name_tag(tags: &[(String, String)]) -> Option<String> {
    tags.iter()
        .find(|(k, _)| k == "Name")
        .map(|(_, v)| v.clone())
}

fn stack_filter(stack: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(format!("tag:{STACK_TAG}"))
        .values(stack)
        .build()
}

fn ec2_found(kind: Kind, id: Option<&str>, tags: &[aws_sdk_ec2::types::Tag]) -> Found {
    let tags = ec2_tags(tags);
    found(kind, id.unwrap_or_default(), name_tag(&tags), tags)
}

async fn ec2(c: &Clients, stack: &str) -> Listed {
    let e = &c.ec2;
    let f = || stack_filter(stack);
    let mut out = Vec::new();

    let r = e.describe_vpcs().filters(f()).send().await;
    for v in r.map_err(|x| aws("DescribeVpcs", x))?.vpcs() {
        out.push(ec2_found(Kind::Vpc, v.vpc_id(), v.tags()));
    }
    let r = e.describe_subnets().filters(f()).send().await;
    for s in r.map_err(|x| aws("DescribeSubnets", x))?.subnets() {
        out.push(ec2_found(Kind::Subnet, s.subnet_id(), s.tags()));
    }
    let r = e.describe_internet_gateways().filters(f()).send().await;
    for g in r
        .map_err(|x| aws("DescribeInternetGateways", x))?
        .internet_gateways()
    {
        out.push(ec2_found(
            Kind::InternetGateway,
            g.internet_gateway_id(),
            g.tags(),
        ));
    }
    let r = e.describe_addresses().filters(f()).send().await;
    for a in r.map_err(|x| aws("DescribeAddresses", x))?.addresses() {
        out.push(ec2_found(Kind::Eip, a.allocation_id(), a.tags()));
    }
    let r = e.describe_nat_gateways().filter(f()).send().await;
    for n in r.map_err(|x| aws("DescribeNatGateways", x))?.nat_gateways() {
        if n.state() != Some(&aws_sdk_ec2::types::NatGatewayState::Deleted) {
            out.push(ec2_found(Kind::NatGateway, n.nat_gateway_id(), n.tags()));
        }
    }
    let r = e.describe_route_tables().filters(f()).send().await;
    for t in r.map_err(|x| aws("DescribeRouteTables", x))?.route_tables() {
        out.push(ec2_found(Kind::RouteTable, t.route_table_id(), t.tags()));
    }
    let r = e.describe_security_groups().filters(f()).send().await;
    for g in r
        .map_err(|x| aws("DescribeSecurityGroups", x))?
        .security_groups()
    {
        let mut x = ec2_found(Kind::SecurityGroup, g.group_id(), g.tags());
        x.physical_name = g.group_name().map(str::to_string);
        out.push(x);
    }
    let r = e.describe_vpc_endpoints().filters(f()).send().await;
    for v in r
        .map_err(|x| aws("DescribeVpcEndpoints", x))?
        .vpc_endpoints()
    {
        // AWS and emulators spell these states in either case.
        let gone = v
            .state()
            .map(|s| s.as_str().to_ascii_lowercase())
            .is_some_and(|s| s == "deleted" || s == "deleting");
        if !gone {
            out.push(ec2_found(Kind::VpcEndpoint, v.vpc_endpoint_id(), v.tags()));
        }
    }
    // The tag filter is checked again here: an endpoint that ignores it
    // (moto does for NAT gateways and VPC endpoints) would otherwise list
    // other stacks' resources.
    out.retain(|f| f.tags.iter().any(|(k, v)| k == STACK_TAG && v == stack));
    Ok(out)
}

// ---- IAM ----

async fn iam_roles(c: &Clients, stack: &str) -> Listed {
    let mut names = Vec::new();
    let mut pages = c.iam.list_roles().into_paginator().send();
    while let Some(p) = pages.next().await {
        for r in p.map_err(|x| aws("ListRoles", x))?.roles() {
            names.push(r.role_name().to_string());
        }
    }
    let mut out = Vec::new();
    for name in names {
        let tags = match c.iam.list_role_tags().role_name(&name).send().await {
            Ok(t) => t
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect::<Vec<_>>(),
            Err(e) if crate::error::is_not_found(&e) => continue,
            Err(e) => return Err(aws("ListRoleTags", e)),
        };
        if ours(&tags, stack) {
            out.push(found(Kind::IamRole, name.clone(), Some(name), tags));
        }
    }
    Ok(out)
}

// ---- CloudWatch Logs ----

async fn log_groups(c: &Clients, stack: &str) -> Listed {
    let mut groups = Vec::new();
    let mut pages = c.logs.describe_log_groups().into_paginator().send();
    while let Some(p) = pages.next().await {
        for g in p.map_err(|x| aws("DescribeLogGroups", x))?.log_groups() {
            let name = g.log_group_name().unwrap_or_default().to_string();
            let arn = g
                .log_group_arn()
                .map(str::to_string)
                .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
                .unwrap_or_default();
            groups.push((name, arn));
        }
    }
    let mut out = Vec::new();
    for (name, arn) in groups {
        let tags: Vec<(String, String)> = match c
            .logs
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
        {
            Ok(t) => t.tags().into_iter().flatten().map(kv).collect(),
            Err(e) if crate::error::is_not_found(&e) => continue,
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
                    Err(e) if crate::error::is_not_found(&e) => continue,
                    Err(e) => return Err(aws("ListTagsLogGroup", e)),
                }
            }
        };
        if ours(&tags, stack) {
            out.push(found(Kind::LogGroup, name.clone(), Some(name), tags));
        }
    }
    Ok(out)
}

fn kv((k, v): (&String, &String)) -> (String, String) {
    (k.clone(), v.clone())
}

// ---- Lambda ----

async fn lambda(c: &Clients, stack: &str) -> Listed {
    let mut fns = Vec::new();
    let mut pages = c.lambda.list_functions().into_paginator().send();
    while let Some(p) = pages.next().await {
        for f in p.map_err(|x| aws("ListFunctions", x))?.functions() {
            fns.push((
                f.function_name().unwrap_or_default().to_string(),
                f.function_arn().unwrap_or_default().to_string(),
            ));
        }
    }
    let mut out = Vec::new();
    for (name, arn) in fns {
        let tags: Vec<(String, String)> = match c.lambda.list_tags().resource(&arn).send().await {
            Ok(t) => t.tags().into_iter().flatten().map(kv).collect(),
            Err(e) if crate::error::is_not_found(&e) => continue,
            Err(e) => return Err(aws("ListTags", e)),
        };
        if ours(&tags, stack) {
            out.push(found(Kind::Function, name.clone(), Some(name), tags));
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
        for m in p
            .map_err(|x| aws("ListEventSourceMappings", x))?
            .event_source_mappings()
        {
            if let (Some(uuid), Some(arn)) = (m.uuid(), m.event_source_mapping_arn()) {
                esms.push((uuid.to_string(), arn.to_string()));
            }
        }
    }
    for (uuid, arn) in esms {
        // Endpoints that cannot tag mappings answer with an error: such a
        // mapping is not attributable to a stack.
        let Ok(t) = c.lambda.list_tags().resource(&arn).send().await else {
            continue;
        };
        let tags: Vec<(String, String)> = t.tags().into_iter().flatten().map(kv).collect();
        if ours(&tags, stack) {
            out.push(found(Kind::EventSourceMapping, uuid, None, tags));
        }
    }
    Ok(out)
}

// ---- SQS / SNS ----

async fn queues(c: &Clients, stack: &str) -> Listed {
    let mut urls = Vec::new();
    let mut pages = c.sqs.list_queues().into_paginator().send();
    while let Some(p) = pages.next().await {
        urls.extend(
            p.map_err(|x| aws("ListQueues", x))?
                .queue_urls()
                .iter()
                .cloned(),
        );
    }
    let mut out = Vec::new();
    for url in urls {
        let tags: Vec<(String, String)> = match c.sqs.list_queue_tags().queue_url(&url).send().await
        {
            Ok(t) => t.tags().into_iter().flatten().map(kv).collect(),
            Err(e) if crate::error::is_not_found(&e) => continue,
            Err(e) => return Err(aws("ListQueueTags", e)),
        };
        if ours(&tags, stack) {
            let name = url.rsplit('/').next().map(str::to_string);
            out.push(found(Kind::Queue, url, name, tags));
        }
    }
    Ok(out)
}

async fn topics(c: &Clients, stack: &str) -> Listed {
    let mut arns = Vec::new();
    let mut pages = c.sns.list_topics().into_paginator().send();
    while let Some(p) = pages.next().await {
        for t in p.map_err(|x| aws("ListTopics", x))?.topics() {
            arns.extend(t.topic_arn().map(str::to_string));
        }
    }
    let mut out = Vec::new();
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
            Err(e) if crate::error::is_not_found(&e) => continue,
            Err(e) => return Err(aws("ListTagsForResource", e)),
        };
        if ours(&tags, stack) {
            let name = arn.rsplit(':').next().map(str::to_string);
            out.push(found(Kind::Topic, arn, name, tags));
        }
    }
    Ok(out)
}

// ---- DynamoDB / S3 ----

async fn tables(c: &Clients, stack: &str) -> Listed {
    let mut names = Vec::new();
    let mut pages = c.dynamodb.list_tables().into_paginator().send();
    while let Some(p) = pages.next().await {
        names.extend(
            p.map_err(|x| aws("ListTables", x))?
                .table_names()
                .iter()
                .cloned(),
        );
    }
    let mut out = Vec::new();
    for name in names {
        let arn = match c.dynamodb.describe_table().table_name(&name).send().await {
            Ok(d) => d
                .table()
                .and_then(|t| t.table_arn())
                .unwrap_or_default()
                .to_string(),
            Err(e) if crate::error::is_not_found(&e) => continue,
            Err(e) => return Err(aws("DescribeTable", e)),
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
            Err(e) if crate::error::is_not_found(&e) => continue,
            Err(e) => return Err(aws("ListTagsOfResource", e)),
        };
        if ours(&tags, stack) {
            out.push(found(Kind::Table, name.clone(), Some(name), tags));
        }
    }
    Ok(out)
}

async fn buckets(c: &Clients, stack: &str) -> Listed {
    let r = c.s3.list_buckets().send().await;
    let names: Vec<String> = r
        .map_err(|x| aws("ListBuckets", x))?
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    let mut out = Vec::new();
    for name in names {
        // No tag set, a bucket in another region or one we may not read:
        // not a bucket archform tagged in this region.
        let Ok(t) = c.s3.get_bucket_tagging().bucket(&name).send().await else {
            continue;
        };
        let tags: Vec<(String, String)> = t
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        if ours(&tags, stack) {
            out.push(found(Kind::Bucket, name.clone(), Some(name), tags));
        }
    }
    Ok(out)
}

// ---- ELBv2 ----

async fn elb_tags(
    c: &Clients,
    arns: &[String],
) -> Result<HashMap<String, Vec<(String, String)>>, ProviderError> {
    let mut out = HashMap::new();
    for chunk in arns.chunks(20) {
        let r = c
            .elb
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|x| aws("DescribeTags", x))?;
        for d in r.tag_descriptions() {
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
            out.insert(d.resource_arn().unwrap_or_default().to_string(), tags);
        }
    }
    Ok(out)
}

async fn elbv2(c: &Clients, stack: &str) -> Listed {
    let mut lbs = Vec::new();
    let mut pages = c.elb.describe_load_balancers().into_paginator().send();
    while let Some(p) = pages.next().await {
        for l in p
            .map_err(|x| aws("DescribeLoadBalancers", x))?
            .load_balancers()
        {
            lbs.push((
                Kind::LoadBalancer,
                l.load_balancer_arn().unwrap_or_default().to_string(),
                l.load_balancer_name().map(str::to_string),
            ));
        }
    }
    let mut pages = c.elb.describe_target_groups().into_paginator().send();
    while let Some(p) = pages.next().await {
        for t in p
            .map_err(|x| aws("DescribeTargetGroups", x))?
            .target_groups()
        {
            lbs.push((
                Kind::TargetGroup,
                t.target_group_arn().unwrap_or_default().to_string(),
                t.target_group_name().map(str::to_string),
            ));
        }
    }
    let arns: Vec<String> = lbs.iter().map(|(_, a, _)| a.clone()).collect();
    let mut tags = elb_tags(c, &arns).await?;
    Ok(lbs
        .into_iter()
        .filter_map(|(kind, arn, name)| {
            let t = tags.remove(&arn).unwrap_or_default();
            ours(&t, stack).then(|| found(kind, arn, name, t))
        })
        .collect())
}

// ---- API Gateway v2 ----

async fn apis(c: &Clients, stack: &str) -> Listed {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let r = c
            .apigw
            .get_apis()
            .set_next_token(token)
            .send()
            .await
            .map_err(|x| aws("GetApis", x))?;
        for a in r.items() {
            let tags: Vec<(String, String)> = a.tags().into_iter().flatten().map(kv).collect();
            if ours(&tags, stack) {
                out.push(found(
                    Kind::Api,
                    a.api_id().unwrap_or_default(),
                    a.name().map(str::to_string),
                    tags,
                ));
            }
        }
        token = r.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

// ---- RDS ----

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

async fn rds_tags_of(c: &Clients, arn: &str) -> Result<Vec<(String, String)>, ProviderError> {
    let r = c
        .rds
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|x| aws("ListTagsForResource", x))?;
    Ok(rds_tags(r.tag_list()))
}

async fn rds(c: &Clients, stack: &str) -> Listed {
    let mut out = Vec::new();
    let mut pages = c.rds.describe_db_instances().into_paginator().send();
    let mut instances = Vec::new();
    while let Some(p) = pages.next().await {
        for d in p.map_err(|x| aws("DescribeDBInstances", x))?.db_instances() {
            instances.push((
                d.db_instance_identifier().unwrap_or_default().to_string(),
                d.db_instance_arn().unwrap_or_default().to_string(),
                rds_tags(d.tag_list()),
            ));
        }
    }
    for (name, arn, listed) in instances {
        let tags = if listed.is_empty() {
            rds_tags_of(c, &arn).await?
        } else {
            listed
        };
        if ours(&tags, stack) {
            out.push(found(Kind::DbInstance, name.clone(), Some(name), tags));
        }
    }
    let mut pages = c.rds.describe_db_subnet_groups().into_paginator().send();
    let mut groups = Vec::new();
    while let Some(p) = pages.next().await {
        for g in p
            .map_err(|x| aws("DescribeDBSubnetGroups", x))?
            .db_subnet_groups()
        {
            groups.push((
                g.db_subnet_group_name().unwrap_or_default().to_string(),
                g.db_subnet_group_arn().unwrap_or_default().to_string(),
            ));
        }
    }
    for (name, arn) in groups {
        let tags = rds_tags_of(c, &arn).await?;
        if ours(&tags, stack) {
            out.push(found(Kind::DbSubnetGroup, name.clone(), Some(name), tags));
        }
    }
    Ok(out)
}

// ---- Secrets Manager ----

async fn secrets(c: &Clients, stack: &str) -> Listed {
    let mut out = Vec::new();
    let mut pages = c.secrets.list_secrets().into_paginator().send();
    while let Some(p) = pages.next().await {
        for s in p.map_err(|x| aws("ListSecrets", x))?.secret_list() {
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
                out.push(found(
                    Kind::Secret,
                    s.arn().unwrap_or_default(),
                    s.name().map(str::to_string),
                    tags,
                ));
            }
        }
    }
    Ok(out)
}

// ---- recover ----

/// Where a kind sits in creation order: every dependency archform's kinds
/// can have points from a higher layer to a lower one (a subnet on its VPC,
/// a function on its role, subnets and groups, a mapping on its function
/// and queue), so deleting layer by layer from the top is always safe.
pub fn layer(kind: Kind) -> u8 {
    match kind {
        Kind::Vpc
        | Kind::Eip
        | Kind::IamRole
        | Kind::Secret
        | Kind::LogGroup
        | Kind::Queue
        | Kind::Topic
        | Kind::Table
        | Kind::Bucket
        | Kind::Api => 0,
        Kind::Subnet
        | Kind::InternetGateway
        | Kind::SecurityGroup
        | Kind::TargetGroup
        | Kind::QueuePolicy
        | Kind::Subscription => 1,
        Kind::NatGateway | Kind::DbSubnetGroup | Kind::LoadBalancer => 2,
        Kind::RouteTable | Kind::Function | Kind::Listener => 3,
        Kind::VpcEndpoint
        | Kind::DbInstance
        | Kind::EventSourceMapping
        | Kind::Permission
        | Kind::FunctionUrl
        | Kind::ListenerRule
        | Kind::Integration => 4,
        Kind::LambdaTarget | Kind::Route => 5,
        Kind::Deployment => 6,
        Kind::Stage => 7,
    }
}

/// A state rebuilt from the account's tags by [`recover`].
#[derive(Debug)]
pub struct Recovered {
    pub state: archform_engine::state::State,
    /// Tagged with the stack but not recordable: no `archform:id` tag, or a
    /// second resource with an id already taken (listed, never recorded).
    pub untracked: Vec<Found>,
    /// Logical ids whose provider could not read them back (no provider for
    /// the kind yet, or the endpoint lacks the call): recorded with empty
    /// properties.
    pub unread: Vec<(String, String)>,
}

/// Rebuilds the state of `stack` from the resources tagged with it.
///
/// Each resource is recorded as `created` with its kind (from the service it
/// was found in), physical id and name, and tags; its properties and
/// attributes are what the kind's provider reads back from AWS. What the
/// provider cannot read stays empty, so the next `archform plan` shows those
/// properties as changes (updates, or replacements for properties that force
/// one): review that plan before deploying. Dependencies are not in the
/// tags: each resource is recorded as depending on the recovered resources
/// of the nearest lower [`layer`] of kinds, a conservative order under which
/// a destroy deletes dependents before what they use.
pub async fn recover(
    provider: &crate::AwsProvider,
    stack: &str,
    blueprint: &str,
) -> Result<Recovered, InventoryError> {
    use archform_engine::provider::Provider;
    use archform_engine::state::{ResourceState, ResourceStatus, State};
    let found = inventory(provider.clients(), stack).await?;
    let mut state = State::new(stack, blueprint);
    let mut untracked = Vec::new();
    let mut unread = Vec::new();
    for f in found {
        if f.id.is_empty() || state.resources.contains_key(&f.id) {
            untracked.push(f);
            continue;
        }
        let named = f.kind.naming.is_some();
        let mut r = ResourceState {
            kind: f.kind,
            physical_id: Some(f.physical_id.clone()),
            physical_name: if named { f.physical_name.clone() } else { None },
            properties: serde_json::Value::Object(Default::default()),
            attributes: Default::default(),
            dependencies: Vec::new(),
            tags: f.tags.iter().cloned().collect(),
            status: ResourceStatus::Created,
        };
        match provider.read(&f.id, &r).await {
            Ok(Some(o)) => {
                if o.properties.is_object() {
                    r.properties = o.properties;
                }
                r.attributes = o.applied.attributes;
                if !o.applied.physical_id.is_empty() {
                    r.physical_id = Some(o.applied.physical_id);
                }
            }
            // Deleted between the listing and the read.
            Ok(None) => continue,
            Err(e) => unread.push((f.id.clone(), e.to_string())),
        }
        state.resources.insert(f.id, r);
    }
    let mut by_layer: std::collections::BTreeMap<u8, Vec<String>> = Default::default();
    for (id, r) in &state.resources {
        by_layer.entry(layer(r.kind)).or_default().push(id.clone());
    }
    for r in state.resources.values_mut() {
        let l = layer(r.kind);
        if let Some((_, below)) = by_layer.range(..l).next_back() {
            r.dependencies = below.clone();
        }
    }
    Ok(Recovered {
        state,
        untracked,
        unread,
    })
}
