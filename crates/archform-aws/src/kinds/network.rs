//! Providers of the VPC networking kinds.

mod ec2_tags;
mod eip;
pub(crate) mod enis;
mod internet_gateway;
mod nat_gateway;
mod route_table;
mod security_group;
mod subnet;
mod vpc;
mod vpc_endpoint;

use super::Handler;

pub(super) static VPC: Handler = handler!(vpc);
pub(super) static VPC_ENDPOINT: Handler = handler!(vpc_endpoint);
pub(super) static SUBNET: Handler = handler!(subnet);
pub(super) static INTERNET_GATEWAY: Handler = handler!(internet_gateway);
pub(super) static EIP: Handler = handler!(eip);
pub(super) static NAT_GATEWAY: Handler = handler!(nat_gateway);
pub(super) static ROUTE_TABLE: Handler = handler!(route_table);
pub(super) static SECURITY_GROUP: Handler = handler!(security_group);
