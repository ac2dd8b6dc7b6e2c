//! Security lint: the mistakes that turn into incidents. These are errors,
//! not warnings: a blueprint that fails them is not deployed.

use crate::diagnostic::Diagnostics;
use crate::kinds::Kind;
use crate::model::{Graph, Resource};
use crate::validate::whole_ref;
use serde_json::Value as J;
use std::collections::HashSet;

/// Actions that AWS does not scope to resources, so `Resource: "*"` is the
/// only correct value for them (VPC Lambda networking, X-Ray, metrics).
const RESOURCELESS_ACTIONS: &[&str] = &[
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData",
];

pub fn check(graph: &Graph, diags: &mut Diagnostics) {
    let db_groups = database_groups(graph);
    for res in graph.resources.values() {
        match res.kind {
            Kind::SecurityGroup => security_group(res, db_groups.contains(res.id.as_str()), diags),
            Kind::IamRole => role(res, diags),
            Kind::QueuePolicy => resource_policy(res, "/policy", diags),
            _ => {}
        }
        encryption(res, diags);
    }
}

/// The security groups that databases name in `vpc_security_group_ids`,
/// gathered once: looking for them among all resources per security group
/// cost groups x resources.
fn database_groups(graph: &Graph) -> HashSet<String> {
    graph
        .resources
        .values()
        .filter(|r| r.kind == Kind::DbInstance)
        .filter_map(|r| r.prop("vpc_security_group_ids").and_then(J::as_array))
        .flatten()
        .filter_map(|v| whole_ref(v).map(|(id, _)| id))
        .collect()
}

/// `guards_db`: a database names this group among its security groups.
fn security_group(res: &Resource, guards_db: bool, diags: &mut Diagnostics) {
    let Some(rules) = res.prop("ingress").and_then(J::as_array) else {
        return;
    };
    for (i, rule) in rules.iter().enumerate() {
        let Some(cidr) = rule.get("cidr").and_then(J::as_str) else {
            continue;
        };
        let loc = res.locate(&format!("/ingress/{i}"));
        if guards_db {
            diags.error(
                "lint/db-cidr-source",
                loc.clone(),
                format!("security group `{}` protects a database but admits the address range {cidr}", res.id),
                "admit only the application tier's security group (`source_security_group_id: ${app_sg.id}`)",
            );
        }
        if cidr != "0.0.0.0/0" {
            continue;
        }
        let proto = rule.get("protocol").and_then(J::as_str).unwrap_or("tcp");
        let from = rule.get("from_port").and_then(J::as_i64).unwrap_or(-1);
        let to = rule.get("to_port").and_then(J::as_i64).unwrap_or(-1);
        let web_only = proto == "tcp" && from == to && (from == 80 || from == 443);
        if web_only {
            continue;
        }
        let what = if proto == "-1" || from == -1 {
            "all traffic".to_string()
        } else if (from..=to).contains(&22) {
            "SSH (port 22)".to_string()
        } else if from == to {
            format!("port {from}")
        } else {
            format!("ports {from}-{to}")
        };
        diags.error(
            "lint/sg-open-port",
            loc,
            format!("security group `{}` opens {what} to the whole internet (0.0.0.0/0)", res.id),
            "only ports 80 and 443 may be open to the world; admit other traffic from a security group or a private range (use SSM Session Manager instead of SSH)",
        );
    }
}

fn role(res: &Resource, diags: &mut Diagnostics) {
    let Some(policies) = res.prop("policies").and_then(J::as_array) else {
        return;
    };
    for (i, p) in policies.iter().enumerate() {
        let Some(doc) = p.get("document") else {
            continue;
        };
        statements(res, doc, &format!("/policies/{i}/document"), diags);
    }
}

fn as_list(v: Option<&J>) -> Vec<&str> {
    match v {
        Some(J::String(s)) => vec![s.as_str()],
        Some(J::Array(a)) => a.iter().filter_map(J::as_str).collect(),
        _ => Vec::new(),
    }
}

fn statement_list(doc: &J) -> Vec<(usize, &J)> {
    match doc.get("Statement") {
        Some(J::Array(a)) => a.iter().enumerate().collect(),
        Some(s @ J::Object(_)) => vec![(0, s)],
        _ => Vec::new(),
    }
}

fn statements(res: &Resource, doc: &J, base: &str, diags: &mut Diagnostics) {
    for (i, st) in statement_list(doc) {
        if st.get("Effect").and_then(J::as_str) == Some("Deny") {
            continue;
        }
        let loc = res.locate(&format!("{base}/Statement/{i}"));
        let actions = as_list(st.get("Action"));
        if let Some(a) = actions.iter().find(|a| **a == "*" || a.ends_with(":*")) {
            diags.error(
                "lint/iam-wildcard-action",
                loc.clone(),
                format!("role `{}` allows the wildcard action `{a}`", res.id),
                "list only the actions the function calls (e.g. dynamodb:GetItem, dynamodb:PutItem)",
            );
        }
        let resources = as_list(st.get("Resource"));
        if resources.contains(&"*") && !actions.iter().all(|a| RESOURCELESS_ACTIONS.contains(a)) {
            diags.error(
                "lint/iam-wildcard-resource",
                loc,
                format!(
                    "role `{}` grants {} on every resource (`*`)",
                    res.id,
                    actions.join(", ")
                ),
                "scope `Resource` to the ARNs it needs, e.g. `${links.arn}`",
            );
        }
    }
}

fn resource_policy(res: &Resource, pointer: &str, diags: &mut Diagnostics) {
    let Some(doc) = res.properties.pointer(pointer) else {
        return;
    };
    for (i, st) in statement_list(doc) {
        let public = match st.get("Principal") {
            Some(J::String(s)) => s == "*",
            Some(J::Object(m)) => m.get("AWS").is_some_and(|a| a == "*"),
            _ => false,
        };
        if public
            && st.get("Condition").is_none()
            && st.get("Effect").and_then(J::as_str) != Some("Deny")
        {
            diags.error(
                "lint/policy-public",
                res.locate(&format!("{pointer}/Statement/{i}")),
                format!("`{}` lets anyone (`Principal: \"*\"`) in without a condition", res.id),
                "name the service principal and add a `Condition` such as `ArnEquals: {aws:SourceArn: ${topic.arn}}`",
            );
        }
    }
}

fn encryption(res: &Resource, diags: &mut Diagnostics) {
    let truthy = |k: &str| res.prop(k).and_then(J::as_bool) == Some(true);
    let present = |k: &str| {
        res.prop(k)
            .is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
    };
    let (problem, fix) = match res.kind {
        Kind::Queue if !truthy("sqs_managed_sse") && !present("kms_master_key_id") => (
            "queue is not encrypted at rest",
            "set `sqs_managed_sse: true` or `kms_master_key_id: alias/aws/sqs`",
        ),
        Kind::Topic if !present("kms_master_key_id") => (
            "topic is not encrypted at rest",
            "set `kms_master_key_id: alias/aws/sns`",
        ),
        Kind::Table if !truthy("sse_enabled") => (
            "table uses the AWS owned key, which you cannot audit or control",
            "set `sse_enabled: true` (the AWS managed KMS key) or give `kms_key_id`",
        ),
        Kind::Bucket if !present("encryption") => (
            "bucket has no default encryption configured",
            "set `encryption: aws:kms` or `encryption: AES256`",
        ),
        Kind::DbInstance if !truthy("storage_encrypted") => (
            "database storage is not encrypted",
            "set `storage_encrypted: true`",
        ),
        _ => {
            if res.kind == Kind::DbInstance && truthy("publicly_accessible") {
                diags.error(
                    "lint/db-public",
                    res.locate("/publicly_accessible"),
                    format!("database `{}` is publicly accessible", res.id),
                    "set `publicly_accessible: false`; reach it from the app tier",
                );
            }
            if res.kind == Kind::Bucket
                && res.prop("block_public_access").and_then(J::as_bool) == Some(false)
            {
                diags.error(
                    "lint/bucket-public",
                    res.locate("/block_public_access"),
                    format!("bucket `{}` does not block public access", res.id),
                    "remove `block_public_access: false`; serve public content through a CDN",
                );
            }
            return;
        }
    };
    diags.error(
        "lint/unencrypted",
        res.location.clone(),
        format!("`{}`: {problem}", res.id),
        fix,
    );
}
