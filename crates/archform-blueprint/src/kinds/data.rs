//! DynamoDB, S3 and RDS kinds.

use super::*;

const KEY: Ty = Ty::Obj(&[req("name", STR), req("type", Ty::Enum(&["S", "N", "B"]))]);

const GSI: Ty = Ty::Obj(&[
    req("name", STR),
    req("partition_key", KEY),
    opt("sort_key", KEY),
    opt("projection", Ty::Enum(&["ALL", "KEYS_ONLY"])).default_str("ALL"),
]);

pub static TABLE: KindSpec = KindSpec {
    name: "dynamodb.table",
    summary: "A DynamoDB table (on-demand), with keys, GSIs, TTL, KMS encryption and PITR",
    cfn_type: "AWS::DynamoDB::Table",
    props: &[
        req("partition_key", KEY).replace(),
        opt("sort_key", KEY).replace(),
        opt("global_secondary_indexes", Ty::List(&GSI)).unordered(),
        opt("ttl_attribute", STR),
        // true: the AWS managed KMS key; false/absent: the AWS owned key.
        opt("sse_enabled", BOOL).default_bool(false),
        // With SSE and no key, DynamoDB uses the AWS managed key.
        opt("kms_key_id", STR).chosen(),
        opt("point_in_time_recovery", BOOL).default_bool(false),
        opt("deletion_protection", BOOL).default_bool(false),
    ],
    attrs: &[
        attr("arn", CfnAttr::GetAtt("Arn")),
        attr("name", CfnAttr::Ref),
    ],
    naming: Some(Naming {
        min_len: 3,
        ..naming(255, Charset::Dynamo, "TableName")
    }),
    tags: Tags::List,
    role: Role::Data,
};

pub static BUCKET: KindSpec = KindSpec {
    name: "s3.bucket",
    summary: "An S3 bucket with encryption, versioning and public access blocked",
    cfn_type: "AWS::S3::Bucket",
    props: &[
        // S3 encrypts every new bucket with S3-managed keys (SSE-S3).
        opt("encryption", Ty::Enum(&["AES256", "aws:kms"])).default_str("AES256"),
        opt("kms_key_id", STR),
        opt("versioning", BOOL).default_bool(false),
        // S3 blocks public access on every new bucket.
        opt("block_public_access", BOOL).default_bool(true),
    ],
    attrs: &[
        attr("arn", CfnAttr::GetAtt("Arn")),
        attr("name", CfnAttr::Ref),
        attr("domain_name", CfnAttr::GetAtt("RegionalDomainName")),
    ],
    naming: Some(Naming {
        min_len: 3,
        max_len: 63,
        charset: Charset::S3,
        cfn_prop: "BucketName",
        prefix: "",
        global: true,
        lowercase: true,
    }),
    tags: Tags::List,
    role: Role::Data,
};

pub static DB_SUBNET_GROUP: KindSpec = KindSpec {
    name: "rds.db_subnet_group",
    summary: "An RDS DB subnet group over isolated subnets",
    cfn_type: "AWS::RDS::DBSubnetGroup",
    props: &[req("subnet_ids", STRS).unordered(), req("description", STR)],
    attrs: &[attr("name", CfnAttr::Ref)],
    naming: Some(Naming {
        lowercase: true,
        ..naming(255, Charset::Rds, "DBSubnetGroupName")
    }),
    tags: Tags::List,
    role: Role::Network,
};

pub static DB_PARAMETER_GROUP: KindSpec = KindSpec {
    name: "rds.db_parameter_group",
    summary: "An RDS DB parameter group: engine settings (rds.force_ssl, ...) for the instances that name it",
    cfn_type: "AWS::RDS::DBParameterGroup",
    props: &[
        // The engine and major version, `postgres16`: RDS cannot change it.
        req("family", STR).replace(),
        req("description", STR).replace(),
        // Only the parameters set here; the rest keep the family's defaults.
        // Changed with ModifyDBParameterGroup, removed ones reset.
        opt("parameters", Ty::Map(&Ty::Str)),
    ],
    attrs: &[attr("name", CfnAttr::Ref)],
    naming: Some(Naming {
        lowercase: true,
        ..naming(255, Charset::Rds, "DBParameterGroupName")
    }),
    tags: Tags::List,
    role: Role::Data,
};

pub static DB_INSTANCE: KindSpec = KindSpec {
    name: "rds.db_instance",
    summary: "An RDS PostgreSQL instance; its master password lives in Secrets Manager",
    cfn_type: "AWS::RDS::DBInstance",
    props: &[
        req("engine", Ty::Enum(&["postgres"])).replace(),
        // RDS picks the engine's default version.
        opt("engine_version", STR).chosen(),
        req("instance_class", STR),
        req("allocated_storage", int(20, 65536)),
        req("db_subnet_group_name", STR).replace(),
        // Left out, RDS attaches the default group of the engine's family.
        opt("db_parameter_group_name", STR).chosen(),
        req("vpc_security_group_ids", STRS).unordered(),
        // archform sends false, true and true when these are left out.
        opt("publicly_accessible", BOOL).default_bool(false),
        opt("storage_encrypted", BOOL).replace().default_bool(true),
        // Encrypted without a key: the AWS managed key of RDS.
        opt("kms_key_id", STR).replace().chosen(),
        opt("manage_master_user_password", BOOL).default_bool(true),
        req("master_username", STR).replace(),
        opt("db_name", STR).replace(),
        // PostgreSQL's port; RDS's defaults for the rest.
        opt("port", int(1150, 65535)).default_int(5432),
        opt("multi_az", BOOL).default_bool(false),
        opt("backup_retention_period", int(0, 35)).default_int(1),
        opt("deletion_protection", BOOL).default_bool(false),
        // RDS's default storage type has changed over time (gp2, then gp3).
        opt("storage_type", Ty::Enum(&["gp2", "gp3", "io1", "io2"])).chosen(),
    ],
    attrs: &[
        attr("endpoint_address", CfnAttr::GetAtt("Endpoint.Address")),
        attr("endpoint_port", CfnAttr::GetAtt("Endpoint.Port")),
        attr("arn", CfnAttr::GetAtt("DBInstanceArn")),
        attr("identifier", CfnAttr::Ref),
        attr(
            "master_user_secret_arn",
            CfnAttr::GetAtt("MasterUserSecret.SecretArn"),
        ),
    ],
    naming: Some(Naming {
        lowercase: true,
        ..naming(63, Charset::Rds, "DBInstanceIdentifier")
    }),
    tags: Tags::List,
    role: Role::Data,
};
