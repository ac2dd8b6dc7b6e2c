//! CloudFormation export: a template equivalent to a stack's rendered
//! resources, for users who deploy with CloudFormation instead of archform.
//!
//! - Logical ids are the PascalCase of archform ids (`public_a` -> `PublicA`),
//!   made unique with a number when two ids collide.
//! - `${id.attr}` references become `Ref`, `Fn::GetAtt` or `Fn::Sub` per the
//!   attribute's [`CfnAttr`](crate::kinds::CfnAttr); see [`intrinsics`].
//! - Each kind maps to the real CloudFormation properties; some kinds become
//!   several resources (internet gateway + attachment, route table + routes +
//!   associations) and `elbv2.lambda_target` folds into its target group; see
//!   [`resources`].
//! - Lambda code comes from the `ArtifactBucket` parameter's bucket, at
//!   `<package>/<bin>.zip` (what `archform build` produces) or the zip's name.
//!
//! Deploying needs `CAPABILITY_NAMED_IAM`: roles have fixed names.

mod intrinsics;
mod resources;

use crate::model::{Graph, Resource};
use crate::validate::whole_ref;
use intrinsics::{Sub, referenced_ids};
use resources::Obj;
use serde_json::{Map, Value as J, json};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// The template parameter naming the bucket that holds the Lambda zips.
pub const ARTIFACT_BUCKET: &str = "ArtifactBucket";

/// CloudFormation's limit on a template description, in bytes.
const DESCRIPTION_MAX: usize = 1024;

pub fn template(graph: &Graph) -> serde_json::Value {
    let ctx = Ctx::new(graph);
    let mut resources = Map::new();
    let mut untranslated = Map::new();
    for res in graph.resources.values() {
        let (emitted, missing) = resources::translate(&ctx, res);
        if emitted.is_empty() && !missing.is_empty() {
            untranslated.insert(
                res.id.clone(),
                json!({ "kind": res.kind.name, "properties": missing }),
            );
        } else if emitted.is_empty() && !res.kind.cfn_type.is_empty() {
            untranslated.insert(res.id.clone(), json!({ "kind": res.kind.name }));
        }
        for (i, e) in emitted.into_iter().enumerate() {
            let missing = if i == 0 { missing.as_slice() } else { &[] };
            resources.insert(e.logical.clone(), e.into_json(missing));
        }
    }

    let mut out = Map::new();
    out.insert("AWSTemplateFormatVersion".into(), json!("2010-09-09"));
    out.insert("Description".into(), json!(description(graph)));
    let mut metadata = Map::new();
    metadata.insert("stack".into(), json!(graph.stack.name));
    metadata.insert("blueprint".into(), json!(graph.stack.blueprint));
    metadata.insert("parameters".into(), json!(graph.stack.parameters));
    if !untranslated.is_empty() {
        metadata.insert("untranslated".into(), J::Object(untranslated));
    }
    out.insert("Metadata".into(), json!({ "archform": metadata }));

    let mut used = BTreeSet::new();
    referenced_ids(&J::Object(resources.clone()), &mut used);
    if used.contains(ARTIFACT_BUCKET) {
        out.insert(
            "Parameters".into(),
            json!({
                ARTIFACT_BUCKET: {
                    "Type": "String",
                    "Description": "S3 bucket holding the Lambda zips built by `archform build` (keys <package>/<bin>.zip), in the stack's region",
                }
            }),
        );
    }
    out.insert("Resources".into(), J::Object(resources));

    let mut outputs = Map::new();
    let mut names = BTreeSet::new();
    for (name, output) in &graph.outputs {
        let mut o = Map::new();
        if !output.description.is_empty() {
            o.insert("Description".into(), json!(output.description));
        }
        o.insert("Value".into(), ctx.string(&output.value));
        outputs.insert(unique(&mut names, &pascal_case(name)), J::Object(o));
    }
    if !outputs.is_empty() {
        out.insert("Outputs".into(), J::Object(outputs));
    }
    J::Object(out)
}

/// The blueprint's description: from the blueprint file the resources were
/// read from, else from the embedded blueprint of that name, else generic.
fn description(graph: &Graph) -> String {
    let files: BTreeSet<&str> = graph
        .resources
        .values()
        .map(|r| r.location.file.as_str())
        .chain(graph.outputs.values().map(|o| o.location.file.as_str()))
        .filter(|f| f.ends_with(".yaml") || f.ends_with(".yml"))
        .collect();
    let text = files
        .into_iter()
        .chain([graph.stack.blueprint.as_str()])
        .filter_map(|f| crate::load::blueprint_info(f).ok())
        .find(|info| info.name == graph.stack.blueprint)
        .map(|info| info.description)
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| format!("archform blueprint {}", graph.stack.blueprint));
    let mut end = text.len().min(DESCRIPTION_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// `public_a` -> `PublicA`: each `_`-separated part capitalized.
pub fn pascal_case(id: &str) -> String {
    id.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            let first = c.next().map(|f| f.to_ascii_uppercase());
            first.into_iter().chain(c).collect::<String>()
        })
        .collect()
}

/// `base`, or `base2`, `base3`... whichever is free; reserves it.
fn unique(used: &mut BTreeSet<String>, base: &str) -> String {
    let mut name = base.to_string();
    let mut n = 1;
    while used.contains(&name) {
        n += 1;
        name = format!("{base}{n}");
    }
    used.insert(name.clone());
    name
}

/// What the translation knows about the whole graph.
struct Ctx<'g> {
    graph: &'g Graph,
    /// archform id -> logical id; a lambda target maps to its target group.
    logical: BTreeMap<String, String>,
    /// Internet gateway id -> logical id of its VPCGatewayAttachment.
    attachments: BTreeMap<String, String>,
    /// Target group id -> the lambda targets folded into it.
    lambda_targets: BTreeMap<String, Vec<&'g Resource>>,
    used: RefCell<BTreeSet<String>>,
}

impl<'g> Ctx<'g> {
    fn new(graph: &'g Graph) -> Self {
        let mut used = BTreeSet::from([ARTIFACT_BUCKET.to_string()]);
        let mut logical = BTreeMap::new();
        for res in graph.resources.values() {
            if res.kind.name == "elbv2.lambda_target" {
                continue;
            }
            let mut base = pascal_case(&res.id);
            // CloudFormation deploys an API only when a Deployment is
            // created, so a new revision is a new logical id (a replacement,
            // as in archform).
            if res.kind.name == "apigatewayv2.deployment"
                && let Some(rev) = res.prop("revision").and_then(J::as_str)
            {
                let digest = Sha256::digest(rev.as_bytes());
                let hex: String = digest.iter().take(4).map(|b| format!("{b:02X}")).collect();
                base.push_str(&hex);
            }
            logical.insert(res.id.clone(), unique(&mut used, &base));
        }
        let mut lambda_targets: BTreeMap<String, Vec<&Resource>> = BTreeMap::new();
        for res in graph.resources.values() {
            if res.kind.name != "elbv2.lambda_target" {
                continue;
            }
            let tg = res
                .prop("target_group_arn")
                .and_then(whole_ref)
                .filter(|(id, attr)| {
                    attr == "arn"
                        && graph
                            .resources
                            .get(id)
                            .is_some_and(|r| r.kind.name == "elbv2.target_group")
                })
                .map(|(id, _)| id);
            if let Some(tg) = tg {
                let tg_logical = logical[&tg].clone();
                logical.insert(res.id.clone(), tg_logical);
                lambda_targets.entry(tg).or_default().push(res);
            }
        }
        let mut attachments = BTreeMap::new();
        for res in graph.resources.values() {
            if res.kind.name == "ec2.internet_gateway" {
                let name = unique(&mut used, &format!("{}Attachment", logical[&res.id]));
                attachments.insert(res.id.clone(), name);
            }
        }
        Ctx {
            graph,
            logical,
            attachments,
            lambda_targets,
            used: RefCell::new(used),
        }
    }

    /// A fresh logical id for a resource that no reference names.
    fn alloc(&self, base: &str) -> String {
        unique(&mut self.used.borrow_mut(), base)
    }

    /// The resource's own CloudFormation resource: type, physical name and
    /// explicit `depends_on`.
    fn primary(&self, res: &Resource) -> Emitted {
        let mut e = Emitted::new(self.logical[&res.id].clone(), res.kind.cfn_type);
        if let (Some(rule), Some(name)) = (res.kind.naming, &res.name) {
            let value = if rule.global {
                let mut sub = Sub::default();
                sub.text(name);
                sub.raw("-${AWS::AccountId}-${AWS::Region}");
                sub.finish()
            } else {
                json!(name)
            };
            e.properties.set(rule.cfn_prop, value);
        }
        e.depends_on = self.depends_on(res);
        e
    }

    /// Logical ids of a resource's explicit `depends_on`.
    fn depends_on(&self, res: &Resource) -> Vec<String> {
        res.depends_on
            .iter()
            .filter_map(|id| self.logical.get(id).cloned())
            .collect()
    }

    /// The VPC id of the subnet a value refers to (`${public_a.id}`).
    fn vpc_of_subnet(&self, v: &J) -> Option<String> {
        let (id, _) = whole_ref(v)?;
        let subnet = self.graph.resources.get(&id)?;
        if subnet.kind.name != "ec2.subnet" {
            return None;
        }
        whole_ref(subnet.prop("vpc_id")?).map(|(vpc, _)| vpc)
    }

    /// The attachment of the internet gateway of a VPC, if it has one.
    fn attachment_of_vpc(&self, vpc: &str) -> Option<&String> {
        self.graph.resources.values().find_map(|r| {
            let attached = r.kind.name == "ec2.internet_gateway"
                && r.prop("vpc_id")
                    .and_then(whole_ref)
                    .is_some_and(|(id, _)| id == vpc);
            if attached {
                self.attachments.get(&r.id)
            } else {
                None
            }
        })
    }
}

/// One CloudFormation resource being built.
struct Emitted {
    logical: String,
    cfn_type: &'static str,
    properties: Obj,
    /// Logical ids; those already implied by a reference are dropped.
    depends_on: Vec<String>,
    /// DeletionPolicy and UpdateReplacePolicy.
    deletion_policy: Option<&'static str>,
}

impl Emitted {
    fn new(logical: String, cfn_type: &'static str) -> Self {
        Emitted {
            logical,
            cfn_type,
            properties: Obj::default(),
            depends_on: Vec::new(),
            deletion_policy: None,
        }
    }

    fn depends_on_attachment(&mut self, ctx: &Ctx, vpc: Option<String>) {
        if let Some(a) = vpc.and_then(|v| ctx.attachment_of_vpc(&v)) {
            self.depends_on.push(a.clone());
        }
    }

    fn into_json(self, untranslated: &[String]) -> J {
        let properties = J::Object(self.properties.0);
        let mut refs = BTreeSet::new();
        referenced_ids(&properties, &mut refs);
        let mut depends: Vec<String> = Vec::new();
        for d in self.depends_on {
            if d != self.logical && !refs.contains(&d) && !depends.contains(&d) {
                depends.push(d);
            }
        }
        let mut out = Map::new();
        out.insert("Type".into(), json!(self.cfn_type));
        if !depends.is_empty() {
            out.insert("DependsOn".into(), json!(depends));
        }
        if let Some(policy) = self.deletion_policy {
            out.insert("DeletionPolicy".into(), json!(policy));
            out.insert("UpdateReplacePolicy".into(), json!(policy));
        }
        if !untranslated.is_empty() {
            out.insert(
                "Metadata".into(),
                json!({ "archform": { "untranslated": untranslated } }),
            );
        }
        if properties.as_object().is_some_and(|p| !p.is_empty()) {
            out.insert("Properties".into(), properties);
        }
        J::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Location;
    use crate::kinds::{self, Ty};
    use crate::model::{Output, StackInfo};
    use indexmap::IndexMap;

    /// A graph built by hand (no validation), with derived names and tags.
    fn graph(resources: Vec<(&str, &str, J)>) -> Graph {
        graph_with(resources, Vec::new())
    }

    fn graph_with(resources: Vec<(&str, &str, J)>, depends: Vec<(&str, Vec<&str>)>) -> Graph {
        let mut map = IndexMap::new();
        for (id, kind, properties) in resources {
            let kind = kinds::lookup(kind).unwrap_or_else(|| panic!("no kind {kind}"));
            let mut tags = IndexMap::new();
            tags.insert("archform:stack".to_string(), "demo".to_string());
            tags.insert("archform:id".to_string(), id.to_string());
            let depends_on = depends
                .iter()
                .find(|(d, _)| *d == id)
                .map(|(_, on)| on.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            map.insert(
                id.to_string(),
                Resource {
                    id: id.into(),
                    kind,
                    name: kind.naming.map(|n| crate::naming::derive("demo", id, &n)),
                    properties,
                    tags,
                    depends_on,
                    location: Location::new("test.yaml", 1, 1),
                    property_locations: BTreeMap::new(),
                },
            );
        }
        Graph {
            stack: StackInfo {
                name: "demo".into(),
                blueprint: "not-embedded".into(),
                region: None,
                parameters: IndexMap::new(),
                tags: IndexMap::new(),
            },
            resources: map,
            outputs: IndexMap::new(),
        }
    }

    fn res<'a>(t: &'a J, logical: &str) -> &'a J {
        t.pointer(&format!("/Resources/{logical}"))
            .unwrap_or_else(|| panic!("no resource {logical} in {t:#}"))
    }

    fn props<'a>(t: &'a J, logical: &str) -> &'a J {
        &res(t, logical)["Properties"]
    }

    #[test]
    fn pascal_case_of_ids() {
        assert_eq!(pascal_case("public_a"), "PublicA");
        assert_eq!(pascal_case("nat_eip_a"), "NatEipA");
        assert_eq!(pascal_case("vpc"), "Vpc");
        assert_eq!(pascal_case("app_rt_b"), "AppRtB");
        assert_eq!(pascal_case("az0"), "Az0");
        assert_eq!(pascal_case("a__b_"), "AB");
        assert_eq!(pascal_case("alreadyCamel"), "AlreadyCamel");
    }

    #[test]
    fn colliding_logical_ids_are_made_unique() {
        let queue = || json!({"sqs_managed_sse": true});
        let g = graph(vec![
            ("ab_c", "sqs.queue", queue()),
            ("abC", "sqs.queue", queue()),
            ("artifact_bucket", "sqs.queue", queue()),
            (
                "user",
                "lambda.permission",
                json!({"function_name": "f", "principal": "x", "source_arn": "${abC.arn}"}),
            ),
        ]);
        let t = template(&g);
        let r = t["Resources"].as_object().unwrap();
        assert!(r.contains_key("AbC") && r.contains_key("AbC2"), "{t:#}");
        // The parameter name is reserved.
        assert!(r.contains_key("ArtifactBucket2"), "{t:#}");
        assert_eq!(
            props(&t, "User")["SourceArn"],
            json!({"Fn::GetAtt": ["AbC2", "Arn"]})
        );
    }

    #[test]
    fn references_become_ref_getatt_and_sub() {
        let g = graph(vec![
            (
                "fn_role",
                "iam.role",
                json!({"assume_role_policy": {"Version": "2012-10-17"}}),
            ),
            (
                "fn",
                "lambda.function",
                json!({"role": "${fn_role.arn}", "code": {"zip": "dist/fn.zip"}}),
            ),
            (
                "chat_api",
                "apigatewayv2.api",
                json!({"protocol_type": "WEBSOCKET", "route_selection_expression": "$request.body.action"}),
            ),
            (
                "prod",
                "apigatewayv2.stage",
                json!({"api_id": "${chat_api.id}", "stage_name": "prod"}),
            ),
            (
                "integ",
                "apigatewayv2.integration",
                json!({
                    "api_id": "${chat_api.id}",
                    "integration_type": "AWS_PROXY",
                    "integration_uri": "${fn.invoke_arn}",
                }),
            ),
            ("q", "sqs.queue", json!({"sqs_managed_sse": true})),
            (
                "subnet",
                "ec2.subnet",
                json!({"vpc_id": "vpc-1", "cidr_block": "10.0.0.0/24", "availability_zone": "${aws.az2}"}),
            ),
        ]);
        let mut g = g;
        let mut output = |name: &str, value: &str| {
            g.outputs.insert(
                name.into(),
                Output {
                    value: value.into(),
                    description: String::new(),
                    location: Location::new("t", 1, 1),
                },
            );
        };
        output("url", "${prod.invoke_url}");
        output(
            "mixed",
            "https://${q.name}.${aws.region}/${aws.account_id}:${aws.partition}.${aws.url_suffix}",
        );
        output("zone", "zone ${aws.az1} of ${aws.region} then ${aws.az1}");
        output("invoke", "${fn.invoke_arn}");
        output("plain", "no references here");
        output("pseudo", "${aws.account_id}");
        let t = template(&g);
        // Whole-value references.
        assert_eq!(
            props(&t, "Fn")["Role"],
            json!({"Fn::GetAtt": ["FnRole", "Arn"]})
        );
        assert_eq!(props(&t, "Prod")["ApiId"], json!({"Ref": "ChatApi"}));
        assert_eq!(
            props(&t, "Subnet")["AvailabilityZone"],
            json!({"Fn::Select": [2, {"Fn::GetAZs": ""}]})
        );
        // A CfnAttr::Sub attribute: `${Self.Arn}` -> the function's GetAtt.
        let invoke = json!({"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations"});
        assert_eq!(props(&t, "Integ")["IntegrationUri"], invoke);
        assert_eq!(t["Outputs"]["Invoke"]["Value"], invoke);
        // `${ApiId}` in a Sub attribute is the stage's ApiId property.
        assert_eq!(
            t["Outputs"]["Url"]["Value"],
            json!({"Fn::Sub": "wss://${ChatApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Prod}"})
        );
        // Interpolation: one Fn::Sub with pseudo parameters.
        assert_eq!(
            t["Outputs"]["Mixed"]["Value"],
            json!({"Fn::Sub": "https://${Q.QueueName}.${AWS::Region}/${AWS::AccountId}:${AWS::Partition}.${AWS::URLSuffix}"})
        );
        // Availability zones cannot be named inside Fn::Sub: a variable.
        assert_eq!(
            t["Outputs"]["Zone"]["Value"],
            json!({"Fn::Sub": ["zone ${Az1} of ${AWS::Region} then ${Az1}", {"Az1": {"Fn::Select": [1, {"Fn::GetAZs": ""}]}}]})
        );
        assert_eq!(t["Outputs"]["Plain"]["Value"], json!("no references here"));
        assert_eq!(
            t["Outputs"]["Pseudo"]["Value"],
            json!({"Ref": "AWS::AccountId"})
        );
        // The zip's file name is the key.
        assert_eq!(
            props(&t, "Fn")["Code"],
            json!({"S3Bucket": {"Ref": "ArtifactBucket"}, "S3Key": "fn.zip"})
        );
        assert_eq!(t["Parameters"]["ArtifactBucket"]["Type"], "String");
    }

    #[test]
    fn sub_merges_nested_subs_and_renames_clashing_variables() {
        let mut sub = Sub::default();
        sub.text("a ${literal} ");
        sub.value(json!({"Fn::Sub": ["${X}-${AWS::Region}", {"X": {"Ref": "One"}}]}));
        sub.value(json!({"Fn::Sub": ["${X}", {"X": {"Ref": "Two"}}]}));
        sub.value(json!({"Fn::Join": ["", ["a", "b"]]}));
        assert_eq!(
            sub.finish(),
            json!({"Fn::Sub": [
                "a ${!literal} ${X}-${AWS::Region}${X2}${Value}",
                {"X": {"Ref": "One"}, "X2": {"Ref": "Two"}, "Value": {"Fn::Join": ["", ["a", "b"]]}}
            ]})
        );
    }

    #[test]
    fn policy_documents_are_translated() {
        let g = graph(vec![
            (
                "t",
                "dynamodb.table",
                json!({"partition_key": {"name": "pk", "type": "S"}, "sse_enabled": true}),
            ),
            (
                "r",
                "iam.role",
                json!({
                    "assume_role_policy": {"Version": "2012-10-17", "Statement": []},
                    "policies": [{"name": "p", "document": {"Statement": [
                        {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": ["${t.arn}", "${t.arn}/index/*"]}
                    ]}}],
                    "managed_policy_arns": ["arn:${aws.partition}:iam::aws:policy/X"],
                }),
            ),
        ]);
        let t = template(&g);
        let p = props(&t, "R");
        assert_eq!(p["RoleName"], "demo-r");
        assert_eq!(p["Policies"][0]["PolicyName"], "p");
        assert_eq!(
            p["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"],
            json!([{"Fn::GetAtt": ["T", "Arn"]}, {"Fn::Sub": "${T.Arn}/index/*"}])
        );
        assert_eq!(
            p["ManagedPolicyArns"],
            json!([{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/X"}])
        );
    }

    fn network() -> Vec<(&'static str, &'static str, J)> {
        vec![
            ("vpc", "ec2.vpc", json!({"cidr_block": "10.0.0.0/16"})),
            (
                "igw",
                "ec2.internet_gateway",
                json!({"vpc_id": "${vpc.id}"}),
            ),
            (
                "public_a",
                "ec2.subnet",
                json!({"vpc_id": "${vpc.id}", "cidr_block": "10.0.0.0/24", "availability_zone": "${aws.az0}", "tier": "public"}),
            ),
            (
                "app_a",
                "ec2.subnet",
                json!({"vpc_id": "${vpc.id}", "cidr_block": "10.0.16.0/24", "availability_zone": "${aws.az0}", "tier": "private"}),
            ),
            (
                "public_rt",
                "ec2.route_table",
                json!({
                    "vpc_id": "${vpc.id}",
                    "routes": [
                        {"destination_cidr_block": "0.0.0.0/0", "gateway_id": "${igw.id}"},
                        {"destination_cidr_block": "192.168.0.0/16", "gateway_id": "${igw.id}"},
                    ],
                    "subnet_ids": ["${public_a.id}"],
                }),
            ),
            ("nat_eip_a", "ec2.eip", json!({})),
            (
                "nat_a",
                "ec2.nat_gateway",
                json!({"subnet_id": "${public_a.id}", "allocation_id": "${nat_eip_a.allocation_id}"}),
            ),
            (
                "app_rt_a",
                "ec2.route_table",
                json!({
                    "vpc_id": "${vpc.id}",
                    "routes": [{"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "${nat_a.id}"}],
                    "subnet_ids": ["${app_a.id}"],
                }),
            ),
            (
                "ddb",
                "ec2.vpc_endpoint",
                json!({"vpc_id": "${vpc.id}", "service": "dynamodb", "route_table_ids": ["${app_rt_a.id}"]}),
            ),
        ]
    }

    #[test]
    fn internet_gateway_and_route_tables_become_several_resources() {
        let t = template(&graph(network()));
        assert_eq!(res(&t, "Igw")["Type"], "AWS::EC2::InternetGateway");
        assert_eq!(
            res(&t, "IgwAttachment"),
            &json!({"Type": "AWS::EC2::VPCGatewayAttachment", "Properties": {
                "VpcId": {"Ref": "Vpc"}, "InternetGatewayId": {"Ref": "Igw"}}})
        );
        assert!(props(&t, "PublicRt").get("Routes").is_none());
        assert_eq!(
            res(&t, "PublicRtDefaultRoute"),
            &json!({"Type": "AWS::EC2::Route", "DependsOn": ["IgwAttachment"], "Properties": {
                "RouteTableId": {"Ref": "PublicRt"},
                "DestinationCidrBlock": "0.0.0.0/0",
                "GatewayId": {"Ref": "Igw"}}})
        );
        assert_eq!(
            res(&t, "PublicRtRoute1")["DependsOn"],
            json!(["IgwAttachment"])
        );
        assert_eq!(
            res(&t, "PublicRtPublicAAssociation"),
            &json!({"Type": "AWS::EC2::SubnetRouteTableAssociation", "Properties": {
                "RouteTableId": {"Ref": "PublicRt"}, "SubnetId": {"Ref": "PublicA"}}})
        );
        // A NAT route does not wait for the attachment; the NAT gateway and
        // its EIP do.
        assert!(res(&t, "AppRtADefaultRoute").get("DependsOn").is_none());
        assert_eq!(
            props(&t, "AppRtADefaultRoute")["NatGatewayId"],
            json!({"Ref": "NatA"})
        );
        assert_eq!(res(&t, "NatA")["DependsOn"], json!(["IgwAttachment"]));
        assert_eq!(res(&t, "NatEipA")["DependsOn"], json!(["IgwAttachment"]));
        assert_eq!(props(&t, "NatEipA")["Domain"], "vpc");
        assert_eq!(
            props(&t, "NatA")["AllocationId"],
            json!({"Fn::GetAtt": ["NatEipA", "AllocationId"]})
        );
        // The subnet tier is archform's own; it is not a CloudFormation property.
        assert!(props(&t, "PublicA").get("Tier").is_none());
        assert!(res(&t, "PublicA").get("Metadata").is_none());
        let ep = props(&t, "Ddb");
        assert_eq!(
            ep["ServiceName"],
            json!({"Fn::Sub": "com.amazonaws.${AWS::Region}.dynamodb"})
        );
        assert_eq!(ep["VpcEndpointType"], "Gateway");
        assert_eq!(ep["RouteTableIds"], json!([{"Ref": "AppRtA"}]));
        assert!(t.get("Parameters").is_none());
    }

    fn alb_to_lambda() -> Graph {
        let mut r = network();
        r.extend([
            (
                "alb_sg",
                "ec2.security_group",
                json!({"vpc_id": "${vpc.id}", "description": "alb", "egress": []}),
            ),
            (
                "alb",
                "elbv2.load_balancer",
                json!({"scheme": "internet-facing", "subnets": ["${public_a.id}"], "security_groups": ["${alb_sg.id}"], "idle_timeout": 30}),
            ),
            ("api_role", "iam.role", json!({"assume_role_policy": {}})),
            (
                "api",
                "lambda.function",
                json!({"role": "${api_role.arn}", "code": {"package": "shortener", "bin": "shortener-api"}}),
            ),
            ("tg", "elbv2.target_group", json!({"target_type": "lambda", "multi_value_headers": true})),
            (
                "invoke",
                "lambda.permission",
                json!({"function_name": "${api.name}", "principal": "elasticloadbalancing.amazonaws.com", "source_arn": "${tg.arn}"}),
            ),
            (
                "target",
                "elbv2.lambda_target",
                json!({"target_group_arn": "${tg.arn}", "function_arn": "${api.arn}"}),
            ),
            (
                "http",
                "elbv2.listener",
                json!({"load_balancer_arn": "${alb.arn}", "port": 80, "protocol": "HTTP",
                       "default_action": {"type": "forward", "target_group_arn": "${tg.arn}"}}),
            ),
            ("after", "sqs.queue", json!({"sqs_managed_sse": true})),
        ]);
        graph_with(
            r,
            vec![("target", vec!["invoke"]), ("after", vec!["target", "alb"])],
        )
    }

    #[test]
    fn lambda_targets_fold_into_the_target_group_without_a_cycle() {
        let g = alb_to_lambda();
        let t = template(&g);
        let tg = res(&t, "Tg");
        assert_eq!(tg["DependsOn"], json!(["Invoke"]));
        assert_eq!(
            tg["Properties"]["Targets"],
            json!([{"Id": {"Fn::GetAtt": ["Api", "Arn"]}}])
        );
        assert_eq!(
            tg["Properties"]["TargetGroupAttributes"],
            json!([{"Key": "lambda.multi_value_headers.enabled", "Value": "true"}])
        );
        assert!(
            t.pointer("/Resources/Target").is_none(),
            "lambda targets have no resource"
        );
        // The permission names the group by ARN pattern instead of Ref (a cycle).
        assert_eq!(
            props(&t, "Invoke")["SourceArn"],
            json!({"Fn::Sub": "arn:${AWS::Partition}:elasticloadbalancing:${AWS::Region}:${AWS::AccountId}:targetgroup/demo-tg/*"})
        );
        assert_eq!(props(&t, "Invoke")["Action"], "lambda:InvokeFunction");
        // depends_on on a lambda target is depends_on on its group.
        assert_eq!(res(&t, "After")["DependsOn"], json!(["Tg", "Alb"]));
        let alb = res(&t, "Alb");
        assert_eq!(alb["DependsOn"], json!(["IgwAttachment"]));
        assert_eq!(
            alb["Properties"]["LoadBalancerAttributes"],
            json!([{"Key": "idle_timeout.timeout_seconds", "Value": "30"}])
        );
        assert_eq!(
            props(&t, "AlbSg")["SecurityGroupEgress"],
            json!([{"IpProtocol": "icmp", "FromPort": 252, "ToPort": 86, "CidrIp": "255.255.255.255/32", "Description": "Disallow all traffic"}])
        );
        assert_eq!(
            props(&t, "Api")["Code"]["S3Key"],
            "shortener/shortener-api.zip"
        );
        assert_cfn_invariants(&t);
    }

    #[test]
    fn a_permission_on_a_group_without_targets_keeps_its_ref() {
        let g = graph(vec![
            ("tg", "elbv2.target_group", json!({"target_type": "lambda"})),
            (
                "invoke",
                "lambda.permission",
                json!({"function_name": "f", "principal": "elasticloadbalancing.amazonaws.com", "source_arn": "${tg.arn}"}),
            ),
        ]);
        let t = template(&g);
        assert_eq!(props(&t, "Invoke")["SourceArn"], json!({"Ref": "Tg"}));
    }

    #[test]
    fn dynamodb_keys_indexes_and_encryption() {
        let g = graph(vec![(
            "t",
            "dynamodb.table",
            json!({
                "partition_key": {"name": "pk", "type": "S"},
                "sort_key": {"name": "sk", "type": "N"},
                "global_secondary_indexes": [
                    {"name": "by_sk", "partition_key": {"name": "sk", "type": "N"}, "sort_key": {"name": "pk", "type": "S"}, "projection": "KEYS_ONLY"},
                    {"name": "by_owner", "partition_key": {"name": "owner", "type": "S"}},
                ],
                "ttl_attribute": "exp",
                "sse_enabled": true,
                "kms_key_id": "alias/mine",
                "point_in_time_recovery": false,
                "deletion_protection": true,
            }),
        )]);
        let t = template(&g);
        let p = props(&t, "T");
        assert_eq!(p["TableName"], "demo-t");
        assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
        assert_eq!(
            p["AttributeDefinitions"],
            json!([
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
                {"AttributeName": "owner", "AttributeType": "S"},
            ])
        );
        assert_eq!(
            p["KeySchema"],
            json!([{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
        );
        assert_eq!(
            p["GlobalSecondaryIndexes"],
            json!([
                {"IndexName": "by_sk", "KeySchema": [{"AttributeName": "sk", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}], "Projection": {"ProjectionType": "KEYS_ONLY"}},
                {"IndexName": "by_owner", "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}},
            ])
        );
        assert_eq!(
            p["TimeToLiveSpecification"],
            json!({"AttributeName": "exp", "Enabled": true})
        );
        assert_eq!(
            p["SSESpecification"],
            json!({"SSEEnabled": true, "SSEType": "KMS", "KMSMasterKeyId": "alias/mine"})
        );
        assert_eq!(
            p["PointInTimeRecoverySpecification"],
            json!({"PointInTimeRecoveryEnabled": false})
        );
        assert_eq!(p["DeletionProtectionEnabled"], true);
    }

    #[test]
    fn data_stores_physical_names_and_policies() {
        let g = graph(vec![
            (
                "assets",
                "s3.bucket",
                json!({"encryption": "AES256", "versioning": true}),
            ),
            (
                "db_subnets",
                "rds.db_subnet_group",
                json!({"subnet_ids": ["s-1"], "description": "d"}),
            ),
            (
                "db_params",
                "rds.db_parameter_group",
                json!({"family": "postgres14", "description": "TLS", "parameters": {"rds.force_ssl": "1"}}),
            ),
            (
                "db",
                "rds.db_instance",
                json!({"engine": "postgres", "instance_class": "db.t4g.micro", "allocated_storage": 20,
                       "db_subnet_group_name": "${db_subnets.name}", "db_parameter_group_name": "${db_params.name}",
                       "vpc_security_group_ids": ["sg-1"],
                       "master_username": "app", "storage_encrypted": true, "port": 5432}),
            ),
            ("logs", "logs.log_group", json!({"retention_in_days": 14})),
        ]);
        let t = template(&g);
        let b = props(&t, "Assets");
        assert_eq!(
            b["BucketName"],
            json!({"Fn::Sub": "demo-assets-${AWS::AccountId}-${AWS::Region}"})
        );
        assert_eq!(
            b["BucketEncryption"],
            json!({"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        );
        assert_eq!(b["VersioningConfiguration"], json!({"Status": "Enabled"}));
        assert_eq!(b["PublicAccessBlockConfiguration"]["BlockPublicAcls"], true);
        let db = res(&t, "Db");
        assert_eq!(db["DeletionPolicy"], "Snapshot");
        assert_eq!(db["UpdateReplacePolicy"], "Snapshot");
        assert_eq!(db["Properties"]["AllocatedStorage"], "20");
        assert_eq!(db["Properties"]["Port"], "5432");
        assert_eq!(db["Properties"]["ManageMasterUserPassword"], true);
        assert_eq!(
            db["Properties"]["DBSubnetGroupName"],
            json!({"Ref": "DbSubnets"})
        );
        assert_eq!(db["Properties"]["VPCSecurityGroups"], json!(["sg-1"]));
        assert_eq!(db["Properties"]["DBInstanceIdentifier"], "demo-db");
        assert_eq!(props(&t, "DbSubnets")["DBSubnetGroupDescription"], "d");
        assert_eq!(
            db["Properties"]["DBParameterGroupName"],
            json!({"Ref": "DbParams"})
        );
        let pg = props(&t, "DbParams");
        assert_eq!(pg["Family"], "postgres14");
        assert_eq!(pg["Description"], "TLS");
        assert_eq!(pg["Parameters"], json!({"rds.force_ssl": "1"}));
        assert_eq!(pg["DBParameterGroupName"], "demo-db-params");
        assert_eq!(
            pg["Tags"],
            json!([{"Key": "archform:stack", "Value": "demo"}, {"Key": "archform:id", "Value": "db_params"}])
        );
        assert_eq!(props(&t, "Logs")["LogGroupName"], "/archform/demo-logs");
    }

    #[test]
    fn websocket_api_routes_deployments_and_map_tags() {
        let g = graph_with(
            vec![
                (
                    "api",
                    "apigatewayv2.api",
                    json!({"protocol_type": "WEBSOCKET", "route_selection_expression": "$request.body.action"}),
                ),
                (
                    "integ",
                    "apigatewayv2.integration",
                    json!({"api_id": "${api.id}", "integration_type": "AWS_PROXY", "integration_uri": "arn:x"}),
                ),
                (
                    "connect",
                    "apigatewayv2.route",
                    json!({"api_id": "${api.id}", "route_key": "$connect", "integration_id": "${integ.id}"}),
                ),
                (
                    "deploy",
                    "apigatewayv2.deployment",
                    json!({"api_id": "${api.id}", "revision": "r1"}),
                ),
                (
                    "prod",
                    "apigatewayv2.stage",
                    json!({"api_id": "${api.id}", "stage_name": "prod", "deployment_id": "${deploy.id}", "throttling_burst_limit": 10}),
                ),
            ],
            vec![("deploy", vec!["connect"])],
        );
        let t = template(&g);
        assert_eq!(
            props(&t, "Connect")["Target"],
            json!({"Fn::Sub": "integrations/${Integ}"})
        );
        assert_eq!(props(&t, "Integ")["IntegrationMethod"], "POST");
        assert_eq!(
            props(&t, "Api")["Tags"],
            json!({"archform:stack": "demo", "archform:id": "api"})
        );
        assert_eq!(props(&t, "Api")["Name"], "demo-api");
        let deployment = props(&t, "Prod")["DeploymentId"]["Ref"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            deployment.starts_with("Deploy") && deployment.len() == 14,
            "{deployment}"
        );
        assert_eq!(res(&t, &deployment)["DependsOn"], json!(["Connect"]));
        assert_eq!(
            props(&t, "Prod")["DefaultRouteSettings"],
            json!({"ThrottlingBurstLimit": 10})
        );
        // Another revision, another deployment.
        let mut g2 = g.clone();
        g2.resources["deploy"].properties["revision"] = json!("r2");
        let t2 = template(&g2);
        assert_ne!(props(&t2, "Prod")["DeploymentId"]["Ref"], json!(deployment));
        // Untaggable kinds carry no tags.
        assert!(props(&t, "Connect").get("Tags").is_none());
    }

    /// A sample value of a type, with every optional field present.
    use crate::kinds::sample;

    /// Every property of every kind in the registry is translated: a kind or
    /// property added to `kinds` without a rule here fails this test.
    #[test]
    fn every_property_of_every_kind_is_translated() {
        let ids: Vec<(String, kinds::Kind)> = kinds::Kind::ALL
            .iter()
            .map(|k| (k.name.replace('.', "_"), *k))
            .collect();
        let resources = ids
            .iter()
            .map(|(id, k)| {
                let mut props = sample(&Ty::Obj(k.props));
                if k.name == "elbv2.lambda_target" {
                    props["target_group_arn"] = json!("${elbv2_target_group.arn}");
                }
                (id.as_str(), k.name, props)
            })
            .collect();
        let g = graph(resources);
        let ctx = Ctx::new(&g);
        for res in g.resources.values() {
            let (emitted, missing) = resources::translate(&ctx, res);
            assert!(
                missing.is_empty(),
                "{}: no CloudFormation for {missing:?}",
                res.kind.name
            );
            if res.kind.name != "elbv2.lambda_target" {
                assert!(!emitted.is_empty(), "{}: not translated", res.kind.name);
                assert_eq!(emitted[0].cfn_type, res.kind.cfn_type);
            }
        }
        let t = template(&g);
        assert!(
            t["Metadata"]["archform"].get("untranslated").is_none(),
            "{t:#}"
        );
    }

    /// Every name a template uses exists, and dependencies form no cycle.
    fn assert_cfn_invariants(t: &J) {
        let resources = t["Resources"].as_object().expect("Resources");
        let params: BTreeSet<&str> = t
            .get("Parameters")
            .and_then(J::as_object)
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut edges: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (id, r) in resources {
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric()),
                "logical id {id}"
            );
            let mut deps = BTreeSet::new();
            referenced_ids(r.get("Properties").unwrap_or(&J::Null), &mut deps);
            for d in r
                .get("DependsOn")
                .and_then(J::as_array)
                .into_iter()
                .flatten()
            {
                deps.insert(d.as_str().unwrap().to_string());
            }
            for d in &deps {
                assert!(
                    resources.contains_key(d) || params.contains(d.as_str()),
                    "{id} refers to unknown {d}"
                );
            }
            let used = r
                .get("Properties")
                .map(|p| p.to_string())
                .unwrap_or_default();
            assert!(
                !used.contains("${aws."),
                "{id}: untranslated reference in {used}"
            );
            edges.insert(
                id,
                deps.into_iter()
                    .filter(|d| resources.contains_key(d))
                    .collect(),
            );
        }
        if let Some(outputs) = t.get("Outputs").and_then(J::as_object) {
            for (name, o) in outputs {
                let mut deps = BTreeSet::new();
                referenced_ids(&o["Value"], &mut deps);
                for d in deps {
                    assert!(
                        resources.contains_key(&d),
                        "output {name} refers to unknown {d}"
                    );
                }
            }
        }
        // Kahn's algorithm: everything must get scheduled.
        let mut done: BTreeSet<&str> = BTreeSet::new();
        loop {
            let ready: Vec<&str> = edges
                .iter()
                .filter(|(id, deps)| {
                    !done.contains(*id) && deps.iter().all(|d| done.contains(d.as_str()))
                })
                .map(|(id, _)| *id)
                .collect();
            if ready.is_empty() {
                break;
            }
            done.extend(ready);
        }
        let stuck: Vec<&&str> = edges.keys().filter(|id| !done.contains(**id)).collect();
        assert!(stuck.is_empty(), "dependency cycle among {stuck:?}");
    }

    #[test]
    fn embedded_blueprints_export_consistent_templates() {
        for name in crate::catalog::embedded_names() {
            let req = crate::load::StackRequest {
                blueprint: Some(name.to_string()),
                ..Default::default()
            };
            let g = crate::load::compile(&req)
                .unwrap_or_else(|e| panic!("{name} does not compile: {e}"));
            let t = template(&g);
            assert_cfn_invariants(&t);
            assert!(
                t["Metadata"]["archform"].get("untranslated").is_none(),
                "{name}: {:#}",
                t["Metadata"]
            );
            let description = t["Description"].as_str().unwrap();
            assert!(
                !description.starts_with("archform blueprint"),
                "{description}"
            );
            let tagged = t["Resources"]
                .as_object()
                .unwrap()
                .values()
                .filter(|r| r["Properties"].get("Tags").is_some())
                .count();
            assert!(tagged > 0, "{name}: no tags at all");
        }
    }
}
