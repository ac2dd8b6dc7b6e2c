//! Lambda and CloudWatch Logs kinds.

use super::*;

pub static LOG_GROUP: KindSpec = KindSpec {
    name: "logs.log_group",
    summary: "A CloudWatch log group with a retention period",
    cfn_type: "AWS::Logs::LogGroup",
    props: &[
        opt(
            "retention_in_days",
            Ty::IntSet(&[
                1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                2557, 2922, 3288, 3653,
            ]),
        ),
        opt("kms_key_id", STR),
    ],
    attrs: &[
        attr("arn", CfnAttr::GetAtt("Arn")),
        attr("name", CfnAttr::Ref),
    ],
    naming: Some(Naming {
        min_len: 1,
        max_len: 512,
        charset: Charset::LogGroup,
        cfn_prop: "LogGroupName",
        prefix: "/archform/",
        global: false,
        lowercase: false,
    }),
    tags: Tags::List,
    role: Role::Compute,
};

const CODE: Ty = Ty::Obj(&[
    // A zip file with a `bootstrap` executable, relative to the blueprint.
    // Where the code came from is on this machine: Lambda cannot return it.
    opt("zip", STR).write_only(),
    // A package and binary in lambdas/, built by `archform build`.
    opt("package", STR).write_only(),
    opt("bin", STR).write_only(),
    // The zip's SHA-256 (hex), added by the CLI: Lambda reports the same
    // digest as CodeSha256. Left out (code given without its hash), the code
    // Lambda holds is accepted as it is.
    opt("sha256", STR).chosen(),
    // The S3 bucket a zip over the direct-upload limit goes through, added
    // by the CLI: Lambda keeps only the code, not how it arrived.
    opt("artifact_bucket", STR).write_only(),
]);

pub static FUNCTION: KindSpec = KindSpec {
    name: "lambda.function",
    summary: "A Lambda function (Rust, custom runtime) with its code, role and logging",
    cfn_type: "AWS::Lambda::Function",
    props: &[
        req("role", STR),
        req("code", CODE),
        // Left out, archform sends these (a Rust function on a custom runtime).
        opt("runtime", Ty::Enum(&["provided.al2023", "provided.al2"]))
            .default_str("provided.al2023"),
        opt("handler", STR).default_str("bootstrap"),
        opt("architecture", Ty::Enum(&["x86_64", "arm64"])).default_str("x86_64"),
        // Lambda's defaults.
        opt("memory_size", int(128, 10240)).default_int(128),
        opt("timeout", int(1, 900)).default_int(3),
        opt("environment", Ty::Map(&Ty::Str)),
        opt(
            "vpc_config",
            Ty::Obj(&[
                req("subnet_ids", STRS).unordered(),
                req("security_group_ids", STRS).unordered(),
            ]),
        ),
        // Left out, the function logs to Lambda's own `/aws/lambda/<name>`,
        // which reads back as no log group.
        opt("log_group", STR),
        opt("reserved_concurrency", int(0, 10000)),
        opt("description", STR),
    ],
    attrs: &[
        attr("arn", CfnAttr::GetAtt("Arn")),
        attr("name", CfnAttr::Ref),
        attr(
            "invoke_arn",
            CfnAttr::Sub(
                "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Self.Arn}/invocations",
            ),
        ),
    ],
    naming: Some(naming(64, Charset::AlnumHyphenUnderscore, "FunctionName")),
    tags: Tags::List,
    role: Role::Compute,
};

pub static PERMISSION: KindSpec = KindSpec {
    name: "lambda.permission",
    summary: "A resource-based permission letting a service invoke a function",
    cfn_type: "AWS::Lambda::Permission",
    props: &[
        req("function_name", STR).replace(),
        req("principal", STR).replace(),
        opt("action", STR)
            .replace()
            .default_str("lambda:InvokeFunction"),
        opt("source_arn", STR).replace(),
        opt("source_account", STR).replace(),
        // Required by AWS for function URL permissions (`lambda:InvokeFunctionUrl`).
        opt("function_url_auth_type", Ty::Enum(&["NONE", "AWS_IAM"])).replace(),
        // Since October 2025 a function URL also needs `lambda:InvokeFunction`
        // granted with this condition, besides `lambda:InvokeFunctionUrl`.
        opt("invoked_via_function_url", BOOL).replace(),
    ],
    attrs: &[attr("id", CfnAttr::Ref)],
    naming: None,
    tags: Tags::Untaggable,
    role: Role::Wiring,
};

pub static EVENT_SOURCE_MAPPING: KindSpec = KindSpec {
    name: "lambda.event_source_mapping",
    summary: "An SQS event source mapping that feeds a function batches",
    cfn_type: "AWS::Lambda::EventSourceMapping",
    props: &[
        req("function_name", STR),
        req("event_source_arn", STR).replace(),
        // Lambda's defaults for an SQS source.
        opt("batch_size", int(1, 10000)).default_int(10),
        opt("maximum_batching_window_seconds", int(0, 300)).default_int(0),
        opt("report_batch_item_failures", BOOL).default_bool(false),
        opt("maximum_concurrency", int(2, 1000)),
        opt("enabled", BOOL).default_bool(true),
    ],
    attrs: &[attr("id", CfnAttr::Ref)],
    naming: None,
    tags: Tags::List,
    role: Role::Wiring,
};

pub static FUNCTION_URL: KindSpec = KindSpec {
    name: "lambda.function_url",
    summary: "An HTTPS URL that invokes a function directly",
    cfn_type: "AWS::Lambda::Url",
    props: &[
        req("function_name", STR).replace(),
        // Left out, archform asks for AWS_IAM.
        opt("auth_type", Ty::Enum(&["NONE", "AWS_IAM"])).default_str("AWS_IAM"),
    ],
    attrs: &[
        attr("url", CfnAttr::GetAtt("FunctionUrl")),
        attr("arn", CfnAttr::GetAtt("FunctionArn")),
    ],
    naming: None,
    tags: Tags::Untaggable,
    role: Role::Edge,
};
