//! DynamoDB, S3 and RDS kinds.

use super::*;

const KEY: Ty = Ty::Obj(&[req("name", STR), req("type", Ty::Enum(&["S", "N", "B"]))]);

const GSI: Ty = Ty::Obj(&[
    req("name", STR),
    req("partition_key", KEY),
    opt("sort_key", KEY),
    opt("projection", Ty::Enum(&["ALL", "KEYS_ONLY"])),
]);

pub static TABLE: KindSpec = KindSpec {
    name: "dynamodb.table",
    summary: "A DynamoDB table (on-demand), with keys, GSIs, TTL, KMS encryption and PITR",
    cfn_type: "AWS::DynamoDB::Table",
    props: &[
        req("partition_key", KEY).replace(),
        opt("sort_key", KEY).replace(),
        opt("global_secondary_indexes", Ty::List(&GSI)),
        opt("ttl_attribute", STR),
        // true: the AWS managed KMS key; false/absent: the AWS owned key.
        opt("sse_enabled", BOOL),
        opt("kms_key_id", STR),
        opt("point_in_time_recovery", BOOL),
        opt("deletion_protection", BOOL),
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
        opt("encryption", Ty::Enum(&["AES256", "aws:kms"])),
        opt("kms_key_id", STR),
        opt("versioning", BOOL),
        opt("block_public_access", BOOL),
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
    props: &[req("subnet_ids", STRS), req("description", STR)],
    attrs: &[attr("name", CfnAttr::Ref)],
    naming: Some(Naming {
        lowercase: true,
        ..naming(255, Charset::Rds, "DBSubnetGroupName")
    }),
    tags: Tags::List,
    role: Role::Network,
};

pub static DB_INSTANCE: KindSpec = KindSpec {
    name: "rds.db_instance",
    summary: "An RDS PostgreSQL instance; its master password lives in Secrets Manager",
    cfn_type: "AWS::RDS::DBInstance",
    props: &[
        req("engine", Ty::Enum(&["postgres"])).replace(),
        opt("engine_version", STR),
        req("instance_class", STR),
        req("allocated_storage", int(20, 65536)),
        req("db_subnet_group_name", STR).replace(),
        req("vpc_security_group_ids", STRS),
        opt("publicly_accessible", BOOL),
        opt("storage_encrypted", BOOL).replace(),
        opt("kms_key_id", STR).replace(),
        opt("manage_master_user_password", BOOL),
        req("master_username", STR).replace(),
        opt("db_name", STR).replace(),
        opt("port", int(1150, 65535)),
        opt("multi_az", BOOL),
        opt("backup_retention_period", int(0, 35)),
        opt("deletion_protection", BOOL),
        opt("storage_type", Ty::Enum(&["gp2", "gp3", "io1", "io2"])),
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
