//! Per-kind translation: one archform resource -> CloudFormation resources
//! with the real property names and shapes of each type.

use super::{Ctx, Emitted};
use crate::kinds::{Kind, Prop, Tags, Ty};
use crate::model::Resource;
use crate::validate::whole_ref;
use serde_json::{Map, Value as J, json};
use std::cell::RefCell;
use std::collections::BTreeSet;

/// Translates a resource. Returns what it becomes (nothing for a lambda
/// target, which its target group absorbs) and the JSON pointers of the
/// properties no rule translated (empty for every registered kind).
pub(super) fn translate(ctx: &Ctx, res: &Resource) -> (Vec<Emitted>, Vec<String>) {
    let s = Src::new(res);
    let mut out = match res.kind {
        Kind::Vpc => vpc(ctx, &s),
        Kind::Subnet => subnet(ctx, &s),
        Kind::InternetGateway => internet_gateway(ctx, &s),
        Kind::Eip => eip(ctx, &s),
        Kind::NatGateway => nat_gateway(ctx, &s),
        Kind::RouteTable => route_table(ctx, &s),
        Kind::SecurityGroup => security_group(ctx, &s),
        Kind::VpcEndpoint => vpc_endpoint(ctx, &s),
        Kind::IamRole => role(ctx, &s),
        Kind::Secret => secret(ctx, &s),
        Kind::LogGroup => log_group(ctx, &s),
        Kind::Function => function(ctx, &s),
        Kind::Permission => permission(ctx, &s),
        Kind::EventSourceMapping => event_source_mapping(ctx, &s),
        Kind::FunctionUrl => function_url(ctx, &s),
        Kind::Queue => queue(ctx, &s),
        Kind::QueuePolicy => queue_policy(ctx, &s),
        Kind::Topic => topic(ctx, &s),
        Kind::EmailIdentity => email_identity(ctx, &s),
        Kind::Subscription => subscription(ctx, &s),
        Kind::Table => table(ctx, &s),
        Kind::Bucket => bucket(ctx, &s),
        Kind::DbSubnetGroup => db_subnet_group(ctx, &s),
        Kind::DbParameterGroup => db_parameter_group(ctx, &s),
        Kind::DbInstance => db_instance(ctx, &s),
        Kind::LoadBalancer => load_balancer(ctx, &s),
        Kind::TargetGroup => target_group(ctx, &s),
        Kind::LambdaTarget => lambda_target(ctx, &s),
        Kind::Listener => listener(ctx, &s),
        Kind::ListenerRule => listener_rule(ctx, &s),
        Kind::Api => api(ctx, &s),
        Kind::Integration => integration(ctx, &s),
        Kind::Route => route(ctx, &s),
        Kind::Deployment => deployment(ctx, &s),
        Kind::Stage => stage(ctx, &s),
    };
    if let Some(primary) = out.first_mut() {
        match res.kind.tags {
            // AWS::SES::EmailIdentity has no Tags property (the SES API
            // tags identities; CloudFormation cannot).
            Tags::List if res.kind == Kind::EmailIdentity => {}
            Tags::List => {
                let tags: Vec<J> = res
                    .tags
                    .iter()
                    .map(|(k, v)| json!({ "Key": k, "Value": v }))
                    .collect();
                if !tags.is_empty() {
                    primary.set("Tags", J::Array(tags));
                }
            }
            Tags::Map => {
                if !res.tags.is_empty() {
                    primary.set("Tags", json!(res.tags));
                }
            }
            Tags::Untaggable => {}
        }
    }
    (out, s.untranslated())
}

/// A resource's properties, read by JSON pointer; remembers what was read so
/// that untranslated properties are reported instead of silently dropped.
pub(super) struct Src<'a> {
    pub res: &'a Resource,
    used: RefCell<BTreeSet<String>>,
}

impl<'a> Src<'a> {
    fn new(res: &'a Resource) -> Self {
        Src {
            res,
            used: RefCell::new(BTreeSet::new()),
        }
    }

    /// The value at `ptr` (absent and null are the same), marked as translated.
    fn get(&self, ptr: &str) -> Option<&'a J> {
        self.used.borrow_mut().insert(ptr.to_string());
        self.res.properties.pointer(ptr).filter(|v| !v.is_null())
    }

    fn str(&self, ptr: &str) -> Option<&'a str> {
        self.get(ptr).and_then(J::as_str)
    }

    fn bool(&self, ptr: &str) -> Option<bool> {
        self.get(ptr).and_then(J::as_bool)
    }

    /// The length of the list at `ptr` (not a translation of it).
    fn count(&self, ptr: &str) -> Option<usize> {
        self.res.properties.pointer(ptr)?.as_array().map(Vec::len)
    }

    fn untranslated(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(self.res.kind.props, &self.res.properties, "", &mut out);
        out
    }

    fn walk(&self, props: &[Prop], value: &J, base: &str, out: &mut Vec<String>) {
        let used = self.used.borrow();
        let covered = |ptr: &str| {
            used.iter()
                .any(|u| ptr == u || ptr.starts_with(&format!("{u}/")))
        };
        for p in props {
            let Some(v) = value.get(p.name).filter(|v| !v.is_null()) else {
                continue;
            };
            let ptr = format!("{base}/{}", p.name);
            if covered(&ptr) {
                continue;
            }
            match (p.ty, v) {
                (Ty::Obj(sub), J::Object(_)) => self.walk(sub, v, &ptr, out),
                (Ty::List(Ty::Obj(sub)), J::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        self.walk(sub, item, &format!("{ptr}/{i}"), out);
                    }
                }
                _ => out.push(ptr),
            }
        }
    }
}

/// A CloudFormation property object being built.
#[derive(Default)]
pub(super) struct Obj(pub Map<String, J>);

impl Obj {
    /// `key` = the translated value at `ptr`, when present.
    pub(super) fn put(&mut self, ctx: &Ctx, key: &str, s: &Src, ptr: &str) {
        if let Some(v) = s.get(ptr) {
            self.0.insert(key.into(), ctx.value(v));
        }
    }

    pub(super) fn set(&mut self, key: &str, value: J) {
        self.0.insert(key.into(), value);
    }

    fn json(self) -> J {
        J::Object(self.0)
    }
}

impl Emitted {
    fn put(&mut self, ctx: &Ctx, key: &str, s: &Src, ptr: &str) {
        self.properties.put(ctx, key, s, ptr);
    }

    fn set(&mut self, key: &str, value: J) {
        self.properties.set(key, value);
    }
}

fn vpc(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "CidrBlock", s, "/cidr_block");
    e.put(ctx, "EnableDnsSupport", s, "/enable_dns_support");
    e.put(ctx, "EnableDnsHostnames", s, "/enable_dns_hostnames");
    vec![e]
}

fn subnet(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "VpcId", s, "/vpc_id");
    e.put(ctx, "CidrBlock", s, "/cidr_block");
    e.put(ctx, "AvailabilityZone", s, "/availability_zone");
    e.put(ctx, "MapPublicIpOnLaunch", s, "/map_public_ip_on_launch");
    // The tier is archform's own metadata (diagrams, lints): no AWS property.
    s.get("/tier");
    vec![e]
}

/// InternetGateway + the VPCGatewayAttachment that attaches it.
fn internet_gateway(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let igw = ctx.primary(s.res);
    let mut attachment = Emitted::new(
        ctx.attachments[&s.res.id].clone(),
        "AWS::EC2::VPCGatewayAttachment",
    );
    attachment.put(ctx, "VpcId", s, "/vpc_id");
    attachment.set("InternetGatewayId", json!({ "Ref": igw.logical }));
    vec![igw, attachment]
}

fn eip(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.set("Domain", json!("vpc"));
    // AWS: an EIP for a VPC defined in the same template waits for the
    // gateway attachment. Its VPC is that of the NAT gateway using it.
    let vpc = ctx.graph.resources.values().find_map(|r| {
        let uses_me = r.kind == Kind::NatGateway
            && r.prop("allocation_id")
                .and_then(whole_ref)
                .is_some_and(|(id, _)| id == s.res.id);
        if uses_me {
            ctx.vpc_of_subnet(r.prop("subnet_id")?)
        } else {
            None
        }
    });
    e.depends_on_attachment(ctx, vpc);
    vec![e]
}

fn nat_gateway(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "SubnetId", s, "/subnet_id");
    e.put(ctx, "AllocationId", s, "/allocation_id");
    // A public NAT gateway needs the internet gateway attached first.
    let vpc = s.get("/subnet_id").and_then(|v| ctx.vpc_of_subnet(v));
    e.depends_on_attachment(ctx, vpc);
    vec![e]
}

/// RouteTable + one Route per route + one SubnetRouteTableAssociation per subnet.
fn route_table(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut rt = ctx.primary(s.res);
    rt.put(ctx, "VpcId", s, "/vpc_id");
    let table = rt.logical.clone();
    let mut out = vec![rt];
    for i in 0..s.count("/routes").unwrap_or(0) {
        let dest = s.get(&format!("/routes/{i}/destination_cidr_block"));
        let name = if dest.and_then(J::as_str) == Some("0.0.0.0/0") {
            format!("{table}DefaultRoute")
        } else {
            format!("{table}Route{i}")
        };
        let mut route = Emitted::new(ctx.alloc(&name), "AWS::EC2::Route");
        route.set("RouteTableId", json!({ "Ref": table }));
        if let Some(d) = dest {
            route.set("DestinationCidrBlock", ctx.value(d));
        }
        route.put(ctx, "GatewayId", s, &format!("/routes/{i}/gateway_id"));
        route.put(
            ctx,
            "NatGatewayId",
            s,
            &format!("/routes/{i}/nat_gateway_id"),
        );
        // A route to an internet gateway fails until the gateway is attached.
        if let Some((igw, _)) = s
            .get(&format!("/routes/{i}/gateway_id"))
            .and_then(whole_ref)
            && let Some(attachment) = ctx.attachments.get(&igw)
        {
            route.depends_on.push(attachment.clone());
        }
        out.push(route);
    }
    for i in 0..s.count("/subnet_ids").unwrap_or(0) {
        let Some(subnet) = s.get(&format!("/subnet_ids/{i}")) else {
            continue;
        };
        let name = match whole_ref(subnet).and_then(|(id, _)| ctx.logical.get(&id)) {
            Some(l) => format!("{table}{l}Association"),
            None => format!("{table}Association{i}"),
        };
        let mut assoc = Emitted::new(ctx.alloc(&name), "AWS::EC2::SubnetRouteTableAssociation");
        assoc.set("RouteTableId", json!({ "Ref": table }));
        assoc.set("SubnetId", ctx.value(subnet));
        out.push(assoc);
    }
    s.get("/subnet_ids");
    out
}

/// No-egress marker: the rule CDK uses to replace the default allow-all
/// egress rule with one that matches nothing.
fn no_egress() -> J {
    json!({
        "IpProtocol": "icmp",
        "FromPort": 252,
        "ToPort": 86,
        "CidrIp": "255.255.255.255/32",
        "Description": "Disallow all traffic"
    })
}

fn sg_rules(ctx: &Ctx, s: &Src, list: &str, egress: bool) -> Option<J> {
    let n = s.count(list)?;
    if n == 0 {
        // `egress: []` means no egress at all; an empty CloudFormation list
        // would keep AWS's default allow-all rule instead.
        return egress.then(|| json!([no_egress()]));
    }
    let peer = if egress {
        "DestinationSecurityGroupId"
    } else {
        "SourceSecurityGroupId"
    };
    let rules = (0..n)
        .map(|i| {
            let mut r = Obj::default();
            let p = |f: &str| format!("{list}/{i}/{f}");
            r.put(ctx, "IpProtocol", s, &p("protocol"));
            r.put(ctx, "FromPort", s, &p("from_port"));
            r.put(ctx, "ToPort", s, &p("to_port"));
            r.put(ctx, "CidrIp", s, &p("cidr"));
            r.put(ctx, peer, s, &p("source_security_group_id"));
            r.put(ctx, "Description", s, &p("description"));
            r.json()
        })
        .collect();
    Some(J::Array(rules))
}

fn security_group(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "GroupDescription", s, "/description");
    e.put(ctx, "VpcId", s, "/vpc_id");
    if let Some(rules) = sg_rules(ctx, s, "/ingress", false) {
        e.set("SecurityGroupIngress", rules);
    }
    if let Some(rules) = sg_rules(ctx, s, "/egress", true) {
        e.set("SecurityGroupEgress", rules);
    }
    vec![e]
}

fn vpc_endpoint(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "VpcId", s, "/vpc_id");
    if let Some(service) = s.str("/service") {
        let mut name = super::intrinsics::Sub::default();
        name.raw("com.amazonaws.${AWS::Region}.");
        name.text(service);
        e.set("ServiceName", name.finish());
    }
    let ty = s
        .get("/endpoint_type")
        .map_or(json!("Gateway"), |t| ctx.value(t));
    e.set("VpcEndpointType", ty);
    e.put(ctx, "RouteTableIds", s, "/route_table_ids");
    e.put(ctx, "SubnetIds", s, "/subnet_ids");
    e.put(ctx, "SecurityGroupIds", s, "/security_group_ids");
    e.put(ctx, "PrivateDnsEnabled", s, "/private_dns_enabled");
    vec![e]
}

fn role(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "Description", s, "/description");
    e.put(ctx, "AssumeRolePolicyDocument", s, "/assume_role_policy");
    if let Some(n) = s.count("/policies") {
        let policies: Vec<J> = (0..n)
            .map(|i| {
                let mut p = Obj::default();
                p.put(ctx, "PolicyName", s, &format!("/policies/{i}/name"));
                p.put(ctx, "PolicyDocument", s, &format!("/policies/{i}/document"));
                p.json()
            })
            .collect();
        e.set("Policies", J::Array(policies));
    }
    e.put(ctx, "ManagedPolicyArns", s, "/managed_policy_arns");
    vec![e]
}

fn secret(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "Description", s, "/description");
    e.put(ctx, "KmsKeyId", s, "/kms_key_id");
    // Without `generate`, archform still generates the value (AWS defaults:
    // 32 characters of every class); without GenerateSecretString,
    // CloudFormation would create a secret with no value.
    let mut g = Obj::default();
    g.put(ctx, "PasswordLength", s, "/generate/length");
    g.put(
        ctx,
        "ExcludePunctuation",
        s,
        "/generate/exclude_punctuation",
    );
    g.put(ctx, "SecretStringTemplate", s, "/generate/secret_template");
    g.put(ctx, "GenerateStringKey", s, "/generate/generate_key");
    e.set("GenerateSecretString", g.json());
    vec![e]
}

fn log_group(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "RetentionInDays", s, "/retention_in_days");
    e.put(ctx, "KmsKeyId", s, "/kms_key_id");
    vec![e]
}

/// The S3 key of a function's zip in the `ArtifactBucket` parameter's bucket.
fn artifact_key(s: &Src) -> Option<String> {
    let zip = s.str("/code/zip");
    let package = s.str("/code/package");
    let bin = s.str("/code/bin");
    if let Some(zip) = zip {
        let name = zip.rsplit(['/', '\\']).next().unwrap_or(zip);
        return Some(name.to_string());
    }
    match (package, bin) {
        (Some(p), Some(b)) => Some(format!("{p}/{b}.zip")),
        (Some(p), None) => Some(format!("{p}/{p}.zip")),
        (None, Some(b)) => Some(format!("{b}.zip")),
        (None, None) => None,
    }
}

fn function(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "Description", s, "/description");
    e.put(ctx, "Role", s, "/role");
    let mut code = Map::new();
    code.insert("S3Bucket".into(), json!({ "Ref": super::ARTIFACT_BUCKET }));
    if let Some(key) = artifact_key(s) {
        code.insert("S3Key".into(), ctx.string(&key));
    }
    e.set("Code", J::Object(code));
    // The zip's hash and the bucket a deploy uploads it through are the
    // CLI's, for its own deploys: the template takes the code from the
    // ArtifactBucket parameter's bucket instead.
    s.get("/code/sha256");
    s.get("/code/artifact_bucket");
    // A Rust function on a custom runtime: these are archform's defaults too.
    let runtime = s
        .get("/runtime")
        .map_or(json!("provided.al2023"), |v| ctx.value(v));
    e.set("Runtime", runtime);
    let handler = s
        .get("/handler")
        .map_or(json!("bootstrap"), |v| ctx.value(v));
    e.set("Handler", handler);
    if let Some(a) = s.get("/architecture") {
        e.set("Architectures", json!([ctx.value(a)]));
    }
    e.put(ctx, "MemorySize", s, "/memory_size");
    e.put(ctx, "Timeout", s, "/timeout");
    e.put(
        ctx,
        "ReservedConcurrentExecutions",
        s,
        "/reserved_concurrency",
    );
    if let Some(env) = s.get("/environment") {
        e.set("Environment", json!({ "Variables": ctx.value(env) }));
    }
    if s.res.prop("vpc_config").is_some() {
        let mut vpc = Obj::default();
        vpc.put(ctx, "SubnetIds", s, "/vpc_config/subnet_ids");
        vpc.put(ctx, "SecurityGroupIds", s, "/vpc_config/security_group_ids");
        e.set("VpcConfig", vpc.json());
    }
    if let Some(lg) = s.get("/log_group") {
        e.set("LoggingConfig", json!({ "LogGroup": ctx.value(lg) }));
    }
    vec![e]
}

fn permission(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "FunctionName", s, "/function_name");
    let action = s
        .get("/action")
        .map_or(json!("lambda:InvokeFunction"), |v| ctx.value(v));
    e.set("Action", action);
    e.put(ctx, "Principal", s, "/principal");
    if let Some(arn) = s.get("/source_arn") {
        let value = match whole_ref(arn) {
            // The target group registers the function only after this
            // permission exists (DependsOn), so the permission cannot Ref the
            // group: scope it to the group's ARN pattern instead.
            Some((tg, attr)) if attr == "arn" && ctx.lambda_targets.contains_key(&tg) => {
                let name = ctx.graph.resources[&tg].name.as_deref().unwrap_or("*");
                let mut sub = super::intrinsics::Sub::default();
                sub.raw(
                    "arn:${AWS::Partition}:elasticloadbalancing:${AWS::Region}:${AWS::AccountId}:targetgroup/",
                );
                sub.text(name);
                sub.raw("/*");
                sub.finish()
            }
            _ => ctx.value(arn),
        };
        e.set("SourceArn", value);
    }
    e.put(ctx, "SourceAccount", s, "/source_account");
    e.put(ctx, "FunctionUrlAuthType", s, "/function_url_auth_type");
    e.put(ctx, "InvokedViaFunctionUrl", s, "/invoked_via_function_url");
    vec![e]
}

fn event_source_mapping(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "FunctionName", s, "/function_name");
    e.put(ctx, "EventSourceArn", s, "/event_source_arn");
    e.put(ctx, "BatchSize", s, "/batch_size");
    e.put(
        ctx,
        "MaximumBatchingWindowInSeconds",
        s,
        "/maximum_batching_window_seconds",
    );
    if s.bool("/report_batch_item_failures") == Some(true) {
        e.set("FunctionResponseTypes", json!(["ReportBatchItemFailures"]));
    }
    if let Some(max) = s.get("/maximum_concurrency") {
        e.set(
            "ScalingConfig",
            json!({ "MaximumConcurrency": ctx.value(max) }),
        );
    }
    e.put(ctx, "Enabled", s, "/enabled");
    vec![e]
}

fn function_url(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "TargetFunctionArn", s, "/function_name");
    // AWS requires an auth type; without one, archform keeps URLs private.
    let auth = s
        .get("/auth_type")
        .map_or(json!("AWS_IAM"), |v| ctx.value(v));
    e.set("AuthType", auth);
    vec![e]
}

fn queue(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "VisibilityTimeout", s, "/visibility_timeout");
    e.put(
        ctx,
        "MessageRetentionPeriod",
        s,
        "/message_retention_seconds",
    );
    e.put(ctx, "DelaySeconds", s, "/delay_seconds");
    e.put(
        ctx,
        "ReceiveMessageWaitTimeSeconds",
        s,
        "/receive_wait_time_seconds",
    );
    e.put(ctx, "SqsManagedSseEnabled", s, "/sqs_managed_sse");
    e.put(ctx, "KmsMasterKeyId", s, "/kms_master_key_id");
    if s.res.prop("redrive_policy").is_some() {
        let mut r = Obj::default();
        r.put(
            ctx,
            "deadLetterTargetArn",
            s,
            "/redrive_policy/dead_letter_target_arn",
        );
        r.put(
            ctx,
            "maxReceiveCount",
            s,
            "/redrive_policy/max_receive_count",
        );
        e.set("RedrivePolicy", r.json());
    }
    vec![e]
}

fn queue_policy(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    if let Some(url) = s.get("/queue_url") {
        e.set("Queues", json!([ctx.value(url)]));
    }
    e.put(ctx, "PolicyDocument", s, "/policy");
    vec![e]
}

fn topic(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "DisplayName", s, "/display_name");
    e.put(ctx, "KmsMasterKeyId", s, "/kms_master_key_id");
    vec![e]
}

fn email_identity(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "EmailIdentity", s, "/email_identity");
    vec![e]
}

fn subscription(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "TopicArn", s, "/topic_arn");
    e.put(ctx, "Protocol", s, "/protocol");
    e.put(ctx, "Endpoint", s, "/endpoint");
    e.put(ctx, "FilterPolicy", s, "/filter_policy");
    e.put(ctx, "FilterPolicyScope", s, "/filter_policy_scope");
    e.put(ctx, "RawMessageDelivery", s, "/raw_message_delivery");
    vec![e]
}

/// DynamoDB key schema of a key pair, adding the attributes to `defs`.
fn key_schema(
    ctx: &Ctx,
    s: &Src,
    partition: &str,
    sort: &str,
    defs: &mut Vec<(String, J)>,
) -> Vec<J> {
    let mut schema = Vec::new();
    for (ptr, key_type) in [(partition, "HASH"), (sort, "RANGE")] {
        let Some(name) = s.get(&format!("{ptr}/name")) else {
            continue;
        };
        let ty = s.get(&format!("{ptr}/type"));
        let text = name.as_str().unwrap_or_default().to_string();
        if !defs.iter().any(|(n, _)| *n == text) {
            defs.push((
                text,
                json!({
                    "AttributeName": ctx.value(name),
                    "AttributeType": ty.map_or(json!("S"), |t| ctx.value(t)),
                }),
            ));
        }
        schema.push(json!({ "AttributeName": ctx.value(name), "KeyType": key_type }));
    }
    schema
}

fn table(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.set("BillingMode", json!("PAY_PER_REQUEST"));
    let mut defs = Vec::new();
    let keys = key_schema(ctx, s, "/partition_key", "/sort_key", &mut defs);
    let mut gsis = Vec::new();
    for i in 0..s.count("/global_secondary_indexes").unwrap_or(0) {
        let base = format!("/global_secondary_indexes/{i}");
        let schema = key_schema(
            ctx,
            s,
            &format!("{base}/partition_key"),
            &format!("{base}/sort_key"),
            &mut defs,
        );
        let mut gsi = Obj::default();
        gsi.put(ctx, "IndexName", s, &format!("{base}/name"));
        gsi.set("KeySchema", J::Array(schema));
        let projection = s
            .get(&format!("{base}/projection"))
            .map_or(json!("ALL"), |p| ctx.value(p));
        gsi.set("Projection", json!({ "ProjectionType": projection }));
        gsis.push(gsi.json());
    }
    e.set(
        "AttributeDefinitions",
        J::Array(defs.into_iter().map(|(_, d)| d).collect()),
    );
    e.set("KeySchema", J::Array(keys));
    if !gsis.is_empty() {
        e.set("GlobalSecondaryIndexes", J::Array(gsis));
    }
    if let Some(attr) = s.get("/ttl_attribute") {
        e.set(
            "TimeToLiveSpecification",
            json!({ "AttributeName": ctx.value(attr), "Enabled": true }),
        );
    }
    // true: the AWS managed KMS key; a key id: that customer managed key;
    // false or absent: the AWS owned key.
    let sse = s.bool("/sse_enabled");
    match s.get("/kms_key_id") {
        Some(key) if sse != Some(false) => e.set(
            "SSESpecification",
            json!({ "SSEEnabled": true, "SSEType": "KMS", "KMSMasterKeyId": ctx.value(key) }),
        ),
        _ => {
            if let Some(enabled) = sse {
                e.set("SSESpecification", json!({ "SSEEnabled": enabled }));
            }
        }
    }
    if let Some(pitr) = s.get("/point_in_time_recovery") {
        e.set(
            "PointInTimeRecoverySpecification",
            json!({ "PointInTimeRecoveryEnabled": ctx.value(pitr) }),
        );
    }
    e.put(ctx, "DeletionProtectionEnabled", s, "/deletion_protection");
    vec![e]
}

fn bucket(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    let algorithm = s.get("/encryption").map(|a| ctx.value(a));
    let key = s.get("/kms_key_id").map(|k| ctx.value(k));
    if algorithm.is_some() || key.is_some() {
        let mut default = Map::new();
        default.insert(
            "SSEAlgorithm".into(),
            algorithm.unwrap_or_else(|| json!("aws:kms")),
        );
        if let Some(key) = key {
            default.insert("KMSMasterKeyID".into(), key);
        }
        e.set(
            "BucketEncryption",
            json!({ "ServerSideEncryptionConfiguration": [{ "ServerSideEncryptionByDefault": default }] }),
        );
    }
    if let Some(v) = s.bool("/versioning") {
        let status = if v { "Enabled" } else { "Suspended" };
        e.set("VersioningConfiguration", json!({ "Status": status }));
    }
    // Public access is blocked unless the blueprint says otherwise.
    let block = s.bool("/block_public_access").unwrap_or(true);
    e.set(
        "PublicAccessBlockConfiguration",
        json!({
            "BlockPublicAcls": block,
            "BlockPublicPolicy": block,
            "IgnorePublicAcls": block,
            "RestrictPublicBuckets": block,
        }),
    );
    vec![e]
}

fn db_subnet_group(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "DBSubnetGroupDescription", s, "/description");
    e.put(ctx, "SubnetIds", s, "/subnet_ids");
    vec![e]
}

fn db_parameter_group(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "Family", s, "/family");
    e.put(ctx, "Description", s, "/description");
    e.put(ctx, "Parameters", s, "/parameters");
    vec![e]
}

/// CloudFormation types some RDS numbers as strings.
fn as_text(v: J) -> J {
    match v {
        J::Number(n) => J::String(n.to_string()),
        other => other,
    }
}

fn db_instance(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.deletion_policy = Some("Snapshot");
    e.put(ctx, "Engine", s, "/engine");
    e.put(ctx, "EngineVersion", s, "/engine_version");
    e.put(ctx, "DBInstanceClass", s, "/instance_class");
    if let Some(v) = s.get("/allocated_storage") {
        e.set("AllocatedStorage", as_text(ctx.value(v)));
    }
    e.put(ctx, "StorageType", s, "/storage_type");
    e.put(ctx, "StorageEncrypted", s, "/storage_encrypted");
    e.put(ctx, "KmsKeyId", s, "/kms_key_id");
    e.put(ctx, "DBSubnetGroupName", s, "/db_subnet_group_name");
    e.put(ctx, "DBParameterGroupName", s, "/db_parameter_group_name");
    e.put(ctx, "VPCSecurityGroups", s, "/vpc_security_group_ids");
    e.put(ctx, "PubliclyAccessible", s, "/publicly_accessible");
    e.put(ctx, "MasterUsername", s, "/master_username");
    // The master password lives in Secrets Manager (the kind's contract).
    let managed = s
        .get("/manage_master_user_password")
        .map_or(json!(true), |v| ctx.value(v));
    e.set("ManageMasterUserPassword", managed);
    e.put(ctx, "DBName", s, "/db_name");
    if let Some(v) = s.get("/port") {
        e.set("Port", as_text(ctx.value(v)));
    }
    e.put(ctx, "MultiAZ", s, "/multi_az");
    e.put(ctx, "BackupRetentionPeriod", s, "/backup_retention_period");
    e.put(ctx, "DeletionProtection", s, "/deletion_protection");
    vec![e]
}

fn load_balancer(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.set("Type", json!("application"));
    e.put(ctx, "Scheme", s, "/scheme");
    e.put(ctx, "Subnets", s, "/subnets");
    e.put(ctx, "SecurityGroups", s, "/security_groups");
    let mut attributes = Vec::new();
    if let Some(t) = s.get("/idle_timeout") {
        attributes
            .push(json!({ "Key": "idle_timeout.timeout_seconds", "Value": as_text(ctx.value(t)) }));
    }
    if let Some(d) = s.bool("/drop_invalid_header_fields") {
        attributes.push(json!({
            "Key": "routing.http.drop_invalid_header_fields.enabled",
            "Value": d.to_string(),
        }));
    }
    if !attributes.is_empty() {
        e.set("LoadBalancerAttributes", J::Array(attributes));
    }
    // An internet-facing load balancer needs its VPC's internet gateway attached.
    if s.str("/scheme") == Some("internet-facing") {
        let vpc = s
            .res
            .properties
            .pointer("/subnets/0")
            .and_then(|v| ctx.vpc_of_subnet(v));
        e.depends_on_attachment(ctx, vpc);
    }
    vec![e]
}

/// A lambda target group, with the functions of its `elbv2.lambda_target`s
/// as `Targets` and their `depends_on` (the invoke permissions) as its own.
fn target_group(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "TargetType", s, "/target_type");
    e.put(ctx, "HealthCheckEnabled", s, "/health_check_enabled");
    e.put(ctx, "HealthCheckPath", s, "/health_check_path");
    if let Some(m) = s.bool("/multi_value_headers") {
        e.set(
            "TargetGroupAttributes",
            json!([{ "Key": "lambda.multi_value_headers.enabled", "Value": m.to_string() }]),
        );
    }
    let targets = ctx
        .lambda_targets
        .get(&s.res.id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !targets.is_empty() {
        let ids: Vec<J> = targets
            .iter()
            .filter_map(|t| t.prop("function_arn"))
            .map(|f| json!({ "Id": ctx.value(f) }))
            .collect();
        e.set("Targets", J::Array(ids));
        for t in targets {
            e.depends_on.extend(ctx.depends_on(t));
        }
    }
    vec![e]
}

/// Absorbed by its target group (see [`target_group`]).
fn lambda_target(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let merged = ctx
        .lambda_targets
        .values()
        .any(|ts| ts.iter().any(|t| t.id == s.res.id));
    if merged {
        s.get("/target_group_arn");
        s.get("/function_arn");
    }
    Vec::new()
}

/// An ELBv2 action (`forward`, `fixed-response` or `redirect`).
fn action(ctx: &Ctx, s: &Src, base: &str) -> J {
    let ty = s.get(&format!("{base}/type"));
    let mut a = Obj::default();
    if let Some(t) = ty {
        a.set("Type", ctx.value(t));
    }
    // Read whatever the type, so every property counts as translated; used
    // by redirects only.
    let redirect_protocol = s.get(&format!("{base}/redirect_protocol"));
    let redirect_port = s.get(&format!("{base}/redirect_port"));
    if ty.and_then(|t| t.as_str()) == Some("redirect") {
        let code = s
            .get(&format!("{base}/status_code"))
            .and_then(|c| c.as_i64())
            .unwrap_or(301);
        let mut redirect = Obj::default();
        if let Some(protocol) = redirect_protocol {
            redirect.set("Protocol", ctx.value(protocol));
        }
        if let Some(port) = redirect_port {
            redirect.set("Port", as_text(ctx.value(port)));
        }
        redirect.set("StatusCode", json!(format!("HTTP_{code}")));
        redirect.set("Host", json!("#{host}"));
        redirect.set("Path", json!("/#{path}"));
        redirect.set("Query", json!("#{query}"));
        a.set("RedirectConfig", redirect.json());
        return a.json();
    }
    a.put(
        ctx,
        "TargetGroupArn",
        s,
        &format!("{base}/target_group_arn"),
    );
    let mut fixed = Obj::default();
    if let Some(code) = s.get(&format!("{base}/status_code")) {
        fixed.set("StatusCode", as_text(ctx.value(code)));
    }
    fixed.put(ctx, "ContentType", s, &format!("{base}/content_type"));
    fixed.put(ctx, "MessageBody", s, &format!("{base}/message_body"));
    if !fixed.0.is_empty() {
        a.set("FixedResponseConfig", fixed.json());
    }
    a.json()
}

fn listener(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "LoadBalancerArn", s, "/load_balancer_arn");
    e.put(ctx, "Port", s, "/port");
    e.put(ctx, "Protocol", s, "/protocol");
    if let Some(cert) = s.get("/certificate_arn") {
        e.set(
            "Certificates",
            json!([{ "CertificateArn": ctx.value(cert) }]),
        );
    }
    e.put(ctx, "SslPolicy", s, "/ssl_policy");
    e.set("DefaultActions", json!([action(ctx, s, "/default_action")]));
    vec![e]
}

fn listener_rule(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "ListenerArn", s, "/listener_arn");
    e.put(ctx, "Priority", s, "/priority");
    let mut conditions = Vec::new();
    if let Some(paths) = s.get("/path_patterns") {
        conditions.push(json!({
            "Field": "path-pattern",
            "PathPatternConfig": { "Values": ctx.value(paths) },
        }));
    }
    if let Some(methods) = s.get("/http_methods") {
        conditions.push(json!({
            "Field": "http-request-method",
            "HttpRequestMethodConfig": { "Values": ctx.value(methods) },
        }));
    }
    e.set("Conditions", J::Array(conditions));
    e.set("Actions", json!([action(ctx, s, "/action")]));
    vec![e]
}

fn api(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "ProtocolType", s, "/protocol_type");
    e.put(
        ctx,
        "RouteSelectionExpression",
        s,
        "/route_selection_expression",
    );
    e.put(ctx, "Description", s, "/description");
    vec![e]
}

fn integration(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "ApiId", s, "/api_id");
    e.put(ctx, "IntegrationType", s, "/integration_type");
    // Lambda proxy integrations invoke the function with POST.
    if s.str("/integration_type") == Some("AWS_PROXY") {
        e.set("IntegrationMethod", json!("POST"));
    }
    e.put(ctx, "IntegrationUri", s, "/integration_uri");
    e.put(ctx, "TimeoutInMillis", s, "/timeout_ms");
    vec![e]
}

fn route(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "ApiId", s, "/api_id");
    e.put(ctx, "RouteKey", s, "/route_key");
    if let Some(id) = s.str("/integration_id") {
        e.set("Target", ctx.string(&format!("integrations/{id}")));
    }
    vec![e]
}

/// The revision is in the logical id (see `Ctx::new`), so a new revision
/// makes CloudFormation create a new deployment, as archform does.
fn deployment(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "ApiId", s, "/api_id");
    e.put(ctx, "Description", s, "/description");
    s.get("/revision");
    vec![e]
}

fn stage(ctx: &Ctx, s: &Src) -> Vec<Emitted> {
    let mut e = ctx.primary(s.res);
    e.put(ctx, "ApiId", s, "/api_id");
    e.put(ctx, "StageName", s, "/stage_name");
    e.put(ctx, "DeploymentId", s, "/deployment_id");
    let mut settings = Obj::default();
    settings.put(ctx, "ThrottlingBurstLimit", s, "/throttling_burst_limit");
    settings.put(ctx, "ThrottlingRateLimit", s, "/throttling_rate_limit");
    if !settings.0.is_empty() {
        e.set("DefaultRouteSettings", settings.json());
    }
    vec![e]
}
