//! Load balancer (ELBv2) and API Gateway v2 kinds.

use super::*;

const ACTION: Ty = Ty::Obj(&[
    req("type", Ty::Enum(&["forward", "fixed-response", "redirect"])),
    opt("target_group_arn", STR),
    // A fixed response without a status code is sent as 200; a redirect
    // takes 301 or 302.
    opt("status_code", int(200, 599)).default_int(200),
    opt("content_type", STR),
    opt("message_body", STR),
    // A redirect keeps the host, path and query and changes these.
    opt("redirect_protocol", Ty::Enum(&["HTTP", "HTTPS"])),
    opt("redirect_port", int(1, 65535)),
]);

pub static LOAD_BALANCER: KindSpec = KindSpec {
    name: "elbv2.load_balancer",
    summary: "An Application Load Balancer",
    cfn_type: "AWS::ElasticLoadBalancingV2::LoadBalancer",
    props: &[
        req("scheme", Ty::Enum(&["internet-facing", "internal"])).replace(),
        req("subnets", STRS).unordered(),
        req("security_groups", STRS).unordered(),
        opt("idle_timeout", int(1, 4000)).default_int(60),
        opt("drop_invalid_header_fields", BOOL).default_bool(false),
    ],
    attrs: &[
        attr("arn", CfnAttr::Ref),
        attr("dns_name", CfnAttr::GetAtt("DNSName")),
        attr("full_name", CfnAttr::GetAtt("LoadBalancerFullName")),
        attr(
            "canonical_hosted_zone_id",
            CfnAttr::GetAtt("CanonicalHostedZoneID"),
        ),
    ],
    naming: Some(naming(32, Charset::AlnumHyphen, "Name")),
    tags: Tags::List,
    role: Role::Edge,
};

pub static TARGET_GROUP: KindSpec = KindSpec {
    name: "elbv2.target_group",
    summary: "A target group whose target is a Lambda function",
    cfn_type: "AWS::ElasticLoadBalancingV2::TargetGroup",
    props: &[
        req("target_type", Ty::Enum(&["lambda"])).replace(),
        opt("multi_value_headers", BOOL).default_bool(false),
        // Lambda target groups: health checks off, path `/`.
        opt("health_check_enabled", BOOL).default_bool(false),
        opt("health_check_path", STR).default_str("/"),
    ],
    attrs: &[
        attr("arn", CfnAttr::Ref),
        attr("full_name", CfnAttr::GetAtt("TargetGroupFullName")),
    ],
    naming: Some(naming(32, Charset::AlnumHyphen, "Name")),
    tags: Tags::List,
    role: Role::Wiring,
};

pub static LAMBDA_TARGET: KindSpec = KindSpec {
    name: "elbv2.lambda_target",
    summary: "Registration of a function in a lambda target group (after its invoke permission)",
    cfn_type: "",
    props: &[
        req("target_group_arn", STR).replace(),
        req("function_arn", STR).replace(),
    ],
    attrs: &[],
    naming: None,
    tags: Tags::Untaggable,
    role: Role::Wiring,
};

pub static LISTENER: KindSpec = KindSpec {
    name: "elbv2.listener",
    summary: "A load balancer listener with its default action",
    cfn_type: "AWS::ElasticLoadBalancingV2::Listener",
    props: &[
        req("load_balancer_arn", STR).replace(),
        req("port", int(1, 65535)),
        req("protocol", Ty::Enum(&["HTTP", "HTTPS"])),
        opt("certificate_arn", STR),
        // The TLS versions and ciphers of an HTTPS listener, by the name
        // of an ELB security policy (ELBSecurityPolicy-TLS13-1-2-2021-06).
        opt("ssl_policy", STR),
        req("default_action", ACTION),
    ],
    attrs: &[attr("arn", CfnAttr::Ref)],
    naming: None,
    tags: Tags::Untaggable,
    role: Role::Wiring,
};

pub static LISTENER_RULE: KindSpec = KindSpec {
    name: "elbv2.listener_rule",
    summary: "A listener rule routing paths or methods to an action",
    cfn_type: "AWS::ElasticLoadBalancingV2::ListenerRule",
    props: &[
        req("listener_arn", STR).replace(),
        req("priority", int(1, 50000)),
        opt("path_patterns", STRS).unordered(),
        opt("http_methods", STRS).unordered(),
        req("action", ACTION),
    ],
    attrs: &[attr("arn", CfnAttr::Ref)],
    naming: None,
    tags: Tags::Untaggable,
    role: Role::Wiring,
};

pub static API: KindSpec = KindSpec {
    name: "apigatewayv2.api",
    summary: "An API Gateway v2 WebSocket API",
    cfn_type: "AWS::ApiGatewayV2::Api",
    props: &[
        req("protocol_type", Ty::Enum(&["WEBSOCKET"])).replace(),
        req("route_selection_expression", STR),
        opt("description", STR),
    ],
    attrs: &[
        attr("id", CfnAttr::Ref),
        attr("endpoint", CfnAttr::GetAtt("ApiEndpoint")),
        attr(
            "execution_arn",
            CfnAttr::Sub(
                "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Self}",
            ),
        ),
    ],
    naming: Some(naming(128, Charset::Printable, "Name")),
    tags: Tags::Map,
    role: Role::Edge,
};

pub static INTEGRATION: KindSpec = KindSpec {
    name: "apigatewayv2.integration",
    summary: "A Lambda proxy integration of an API",
    cfn_type: "AWS::ApiGatewayV2::Integration",
    props: &[
        req("api_id", STR).replace(),
        req("integration_type", Ty::Enum(&["AWS_PROXY"])),
        req("integration_uri", STR),
        // AWS's WebSocket default, which archform also sends when omitted.
        opt("timeout_ms", int(50, 29000)).default_int(29000),
    ],
    attrs: &[attr("id", CfnAttr::Ref)],
    naming: None,
    tags: Tags::Untaggable,
    role: Role::Wiring,
};

pub static ROUTE: KindSpec = KindSpec {
    name: "apigatewayv2.route",
    summary: "A route of a WebSocket API ($connect, $disconnect, $default or an action)",
    cfn_type: "AWS::ApiGatewayV2::Route",
    props: &[
        req("api_id", STR).replace(),
        req("route_key", STR),
        req("integration_id", STR),
    ],
    attrs: &[attr("id", CfnAttr::Ref)],
    naming: None,
    tags: Tags::Untaggable,
    role: Role::Wiring,
};

pub static DEPLOYMENT: KindSpec = KindSpec {
    name: "apigatewayv2.deployment",
    summary: "A deployment of an API's routes (replaced when `revision` changes)",
    cfn_type: "AWS::ApiGatewayV2::Deployment",
    props: &[
        req("api_id", STR).replace(),
        opt("description", STR),
        // Any text that changes whenever routes change, forcing a new
        // deployment: archform's own, AWS never holds it.
        opt("revision", STR).replace().write_only(),
    ],
    attrs: &[attr("id", CfnAttr::Ref)],
    naming: None,
    tags: Tags::Untaggable,
    role: Role::Wiring,
};

pub static STAGE: KindSpec = KindSpec {
    name: "apigatewayv2.stage",
    summary: "A stage of an API pointing at a deployment",
    cfn_type: "AWS::ApiGatewayV2::Stage",
    props: &[
        req("api_id", STR).replace(),
        req("stage_name", STR).replace(),
        opt("deployment_id", STR),
        opt("throttling_burst_limit", int(0, 100_000)),
        opt("throttling_rate_limit", int(0, 100_000)),
    ],
    attrs: &[
        attr("name", CfnAttr::Ref),
        attr(
            "invoke_url",
            CfnAttr::Sub("wss://${ApiId}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Self}"),
        ),
    ],
    naming: None,
    tags: Tags::Map,
    role: Role::Edge,
};
