//! EC2: VPCs, subnets, internet gateways, Elastic IPs, NAT gateways, route
//! tables, security groups and VPC endpoints, each found by a tag filter.
//! Each Describe call is its own listing: one that fails leaves its kind
//! unknown and the others still listed.

use super::{Found, Listing, STACK_TAG, found};
use crate::clients::Clients;
use crate::error::aws;
use archform_blueprint::kinds::Kind;

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

pub(super) async fn ec2(c: &Clients, stack: &str) -> Listing {
    let e = &c.ec2;
    let f = || stack_filter(stack);
    let mut l = Listing::new("ec2");
    let mut out = Vec::new();

    match e.describe_vpcs().filters(f()).send().await {
        Ok(r) => {
            for v in r.vpcs() {
                out.push(ec2_found(Kind::Vpc, v.vpc_id(), v.tags()));
            }
        }
        Err(x) => l.could_not(&[Kind::Vpc], None, aws("DescribeVpcs", x)),
    }
    match e.describe_subnets().filters(f()).send().await {
        Ok(r) => {
            for s in r.subnets() {
                out.push(ec2_found(Kind::Subnet, s.subnet_id(), s.tags()));
            }
        }
        Err(x) => l.could_not(&[Kind::Subnet], None, aws("DescribeSubnets", x)),
    }
    match e.describe_internet_gateways().filters(f()).send().await {
        Ok(r) => {
            for g in r.internet_gateways() {
                out.push(ec2_found(
                    Kind::InternetGateway,
                    g.internet_gateway_id(),
                    g.tags(),
                ));
            }
        }
        Err(x) => l.could_not(
            &[Kind::InternetGateway],
            None,
            aws("DescribeInternetGateways", x),
        ),
    }
    match e.describe_addresses().filters(f()).send().await {
        Ok(r) => {
            for a in r.addresses() {
                out.push(ec2_found(Kind::Eip, a.allocation_id(), a.tags()));
            }
        }
        Err(x) => l.could_not(&[Kind::Eip], None, aws("DescribeAddresses", x)),
    }
    match e.describe_nat_gateways().filter(f()).send().await {
        Ok(r) => {
            for n in r.nat_gateways() {
                if n.state() != Some(&aws_sdk_ec2::types::NatGatewayState::Deleted) {
                    out.push(ec2_found(Kind::NatGateway, n.nat_gateway_id(), n.tags()));
                }
            }
        }
        Err(x) => l.could_not(&[Kind::NatGateway], None, aws("DescribeNatGateways", x)),
    }
    match e.describe_route_tables().filters(f()).send().await {
        Ok(r) => {
            for t in r.route_tables() {
                out.push(ec2_found(Kind::RouteTable, t.route_table_id(), t.tags()));
            }
        }
        Err(x) => l.could_not(&[Kind::RouteTable], None, aws("DescribeRouteTables", x)),
    }
    match e.describe_security_groups().filters(f()).send().await {
        Ok(r) => {
            for g in r.security_groups() {
                let mut x = ec2_found(Kind::SecurityGroup, g.group_id(), g.tags());
                x.physical_name = g.group_name().map(str::to_string);
                out.push(x);
            }
        }
        Err(x) => l.could_not(
            &[Kind::SecurityGroup],
            None,
            aws("DescribeSecurityGroups", x),
        ),
    }
    match e.describe_vpc_endpoints().filters(f()).send().await {
        Ok(r) => {
            for v in r.vpc_endpoints() {
                // AWS and emulators spell these states in either case.
                let gone = v
                    .state()
                    .map(|s| s.as_str().to_ascii_lowercase())
                    .is_some_and(|s| s == "deleted" || s == "deleting");
                if !gone {
                    out.push(ec2_found(Kind::VpcEndpoint, v.vpc_endpoint_id(), v.tags()));
                }
            }
        }
        Err(x) => l.could_not(&[Kind::VpcEndpoint], None, aws("DescribeVpcEndpoints", x)),
    }
    // The tag filter is checked again here: an endpoint that ignores it
    // (moto does for NAT gateways and VPC endpoints) would otherwise list
    // other stacks' resources.
    out.retain(|f| super::ours(&f.tags, stack));
    for f in out {
        l.push(f);
    }
    l
}
