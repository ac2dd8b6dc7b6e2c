//! VPC networking kinds.

use super::*;

pub static VPC: KindSpec = KindSpec {
    name: "ec2.vpc",
    summary: "A VPC (DNS support and hostnames on by default)",
    cfn_type: "AWS::EC2::VPC",
    props: &[
        req("cidr_block", Ty::Cidr).replace(),
        // AWS's default for a new VPC.
        opt("enable_dns_support", BOOL).default_bool(true),
        // AWS starts a new VPC with hostnames off; archform turns them on
        // unless the blueprint says otherwise.
        opt("enable_dns_hostnames", BOOL).default_bool(true),
    ],
    attrs: &[
        attr("id", CfnAttr::Ref),
        attr("cidr_block", CfnAttr::GetAtt("CidrBlock")),
        attr(
            "default_security_group",
            CfnAttr::GetAtt("DefaultSecurityGroup"),
        ),
    ],
    naming: None,
    tags: Tags::List,
    role: Role::Network,
};

pub static SUBNET: KindSpec = KindSpec {
    name: "ec2.subnet",
    summary: "A subnet in one availability zone",
    cfn_type: "AWS::EC2::Subnet",
    props: &[
        req("vpc_id", STR).replace(),
        req("cidr_block", Ty::Cidr).replace(),
        req("availability_zone", STR).replace(),
        // AWS's default for a new subnet.
        opt("map_public_ip_on_launch", BOOL).default_bool(false),
        // Which tier the subnet serves; drawn in diagrams, checked by lints.
        // archform's own annotation: never sent to AWS.
        opt("tier", Ty::Enum(&["public", "private", "isolated"])).write_only(),
    ],
    attrs: &[
        attr("id", CfnAttr::Ref),
        attr("availability_zone", CfnAttr::GetAtt("AvailabilityZone")),
        attr("cidr_block", CfnAttr::GetAtt("CidrBlock")),
    ],
    naming: None,
    tags: Tags::List,
    role: Role::Network,
};

pub static INTERNET_GATEWAY: KindSpec = KindSpec {
    name: "ec2.internet_gateway",
    summary: "An internet gateway attached to a VPC",
    cfn_type: "AWS::EC2::InternetGateway",
    props: &[req("vpc_id", STR)],
    attrs: &[attr("id", CfnAttr::Ref)],
    naming: None,
    tags: Tags::List,
    role: Role::Network,
};

pub static EIP: KindSpec = KindSpec {
    name: "ec2.eip",
    summary: "An Elastic IP address (for a NAT gateway)",
    cfn_type: "AWS::EC2::EIP",
    props: &[],
    attrs: &[
        attr("allocation_id", CfnAttr::GetAtt("AllocationId")),
        attr("public_ip", CfnAttr::Ref),
    ],
    naming: None,
    tags: Tags::List,
    role: Role::Network,
};

pub static NAT_GATEWAY: KindSpec = KindSpec {
    name: "ec2.nat_gateway",
    summary: "A public NAT gateway in a public subnet",
    cfn_type: "AWS::EC2::NatGateway",
    props: &[
        req("subnet_id", STR).replace(),
        req("allocation_id", STR).replace(),
    ],
    attrs: &[attr("id", CfnAttr::Ref)],
    naming: None,
    tags: Tags::List,
    role: Role::Network,
};

const ROUTE: Ty = Ty::Obj(&[
    req("destination_cidr_block", Ty::Cidr),
    opt("gateway_id", STR),
    opt("nat_gateway_id", STR),
]);

pub static ROUTE_TABLE: KindSpec = KindSpec {
    name: "ec2.route_table",
    summary: "A route table with its routes and subnet associations",
    cfn_type: "AWS::EC2::RouteTable",
    props: &[
        req("vpc_id", STR).replace(),
        opt("routes", Ty::List(&ROUTE)).unordered(),
        opt("subnet_ids", STRS).unordered(),
    ],
    attrs: &[attr("id", CfnAttr::Ref)],
    naming: None,
    tags: Tags::List,
    role: Role::Network,
};

pub const SG_RULE: Ty = Ty::Obj(&[
    req("protocol", Ty::Enum(&["tcp", "udp", "icmp", "-1"])),
    req("from_port", int(-1, 65535)),
    req("to_port", int(-1, 65535)),
    opt("cidr", Ty::Cidr),
    opt("source_security_group_id", STR),
    opt("description", STR),
]);

pub static SECURITY_GROUP: KindSpec = KindSpec {
    name: "ec2.security_group",
    summary: "A security group with its ingress and egress rules",
    cfn_type: "AWS::EC2::SecurityGroup",
    props: &[
        req("vpc_id", STR).replace(),
        req("description", STR).replace(),
        opt("ingress", Ty::List(&SG_RULE)).unordered(),
        // Absent: AWS's default allow-all egress is kept (and put back when
        // the property is removed).
        opt("egress", Ty::List(&SG_RULE)).unordered().default_json(
            r#"[{"protocol": "-1", "from_port": -1, "to_port": -1, "cidr": "0.0.0.0/0"}]"#,
        ),
    ],
    attrs: &[
        attr("id", CfnAttr::GetAtt("GroupId")),
        attr("name", CfnAttr::Ref),
    ],
    naming: Some(naming(255, Charset::Printable, "GroupName")),
    tags: Tags::List,
    role: Role::Security,
};

pub static VPC_ENDPOINT: KindSpec = KindSpec {
    name: "ec2.vpc_endpoint",
    summary: "A VPC endpoint: a gateway (DynamoDB, S3) on route tables, or an interface in subnets",
    cfn_type: "AWS::EC2::VPCEndpoint",
    props: &[
        req("vpc_id", STR).replace(),
        // The AWS service, `com.amazonaws.<region>.<service>`.
        req("service", Ty::Enum(&["dynamodb", "s3", "secretsmanager"])).replace(),
        // Absent: Gateway. Gateway endpoints take `route_table_ids`; interface
        // endpoints take `subnet_ids` and `security_group_ids` (checked by wiring rules).
        opt("endpoint_type", Ty::Enum(&["Gateway", "Interface"]))
            .replace()
            .default_str("Gateway"),
        opt("route_table_ids", STRS).unordered(),
        opt("subnet_ids", STRS).unordered(),
        // Absent on an interface endpoint: AWS uses the VPC's default group.
        opt("security_group_ids", STRS).unordered().chosen(),
        // Interface endpoints: resolve the service's public DNS name to the
        // endpoint. Absent: on (CreateVpcEndpoint's default).
        opt("private_dns_enabled", BOOL).default_bool(true),
    ],
    attrs: &[attr("id", CfnAttr::Ref)],
    naming: None,
    tags: Tags::List,
    role: Role::Network,
};
