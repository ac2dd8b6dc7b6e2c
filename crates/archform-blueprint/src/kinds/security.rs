//! IAM and Secrets Manager kinds.

use super::*;

const INLINE_POLICY: Ty = Ty::Obj(&[req("name", STR), req("document", Ty::Doc)]);

pub static IAM_ROLE: KindSpec = KindSpec {
    name: "iam.role",
    summary: "An IAM role with its trust policy and inline policies",
    cfn_type: "AWS::IAM::Role",
    props: &[
        req("assume_role_policy", Ty::Doc),
        opt("policies", Ty::List(&INLINE_POLICY)).unordered(),
        opt("managed_policy_arns", STRS).unordered(),
        opt("description", STR),
    ],
    attrs: &[
        attr("arn", CfnAttr::GetAtt("Arn")),
        attr("name", CfnAttr::Ref),
        attr("role_id", CfnAttr::GetAtt("RoleId")),
    ],
    naming: Some(naming(64, Charset::Iam, "RoleName")),
    tags: Tags::List,
    role: Role::Security,
};

pub static SECRET: KindSpec = KindSpec {
    name: "secretsmanager.secret",
    summary: "A Secrets Manager secret with a generated value",
    cfn_type: "AWS::SecretsManager::Secret",
    props: &[
        opt("description", STR),
        // Left out, the secret is encrypted with the account's
        // aws/secretsmanager key, which DescribeSecret does not report.
        opt("kms_key_id", STR),
        // How the value was generated: Secrets Manager keeps only the value
        // (the secret itself, never read back), not how it was made.
        opt(
            "generate",
            Ty::Obj(&[
                opt("length", int(8, 4096)),
                opt("exclude_punctuation", BOOL),
                opt("secret_template", STR),
                opt("generate_key", STR),
            ]),
        )
        .write_only(),
    ],
    // CloudFormation exposes no attribute with a secret's name (Ref and Id
    // are both the ARN), so only the ARN is exported.
    attrs: &[attr("arn", CfnAttr::Ref)],
    naming: Some(naming(512, Charset::Iam, "Name")),
    tags: Tags::List,
    role: Role::Security,
};
